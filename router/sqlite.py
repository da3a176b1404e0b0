"""Opening the SQLite files the service keeps its state in, and extending an older file's tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit and WAL mode, shared by threads (its owner serialises them), with
    `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db


def add_missing_columns(db: sqlite3.Connection, later_columns: dict[str, dict[str, str]]) -> None:
    """Columns added after a file was first written ({table: {column: type}}), added to an older file."""
    for table, columns in later_columns.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, kind in columns.items():
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
