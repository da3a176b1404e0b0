"""Opening the SQLite files the service keeps its state in, and extending an older file's tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from router.domain.errors import CannotStart, StorageUnavailable


class DamagedFile(CannotStart):
    """A state file SQLite cannot read as a database. Starting on it would fail later with a
    traceback that names neither the file nor a way out, or would serve without what it held."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path} {problem}: restore it from a backup or move it away to start empty")
        self.path = path


def connect(path: Path) -> sqlite3.Connection:
    """A connection to `path` (a new file when absent) in autocommit, shared by threads (its owner
    serialises them), once SQLite has read every page of it: a truncated or overwritten file is
    refused here (DamagedFile), at start, instead of failing whichever call first reads the bad page.
    One that cannot be opened or read at all (a directory, no permission, locked) is CannotStart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # quick_check reads every page (about 0.3 s for 400 MB once cached), which start-up reads anyway.
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError as exc:  # busy, locked, cannot open, I/O: the file may well be sound
        _close(db)
        raise CannotStart(f"{path} cannot be read as a SQLite database ({exc})") from exc
    except sqlite3.DatabaseError as exc:  # SQLITE_NOTADB, SQLITE_CORRUPT: the bytes themselves are wrong
        _close(db)
        raise DamagedFile(path, _damage(exc)) from exc
    if verdict != "ok":
        _close(db)
        raise DamagedFile(path, f"is damaged ({_one_line(verdict)})")
    return db


def _damage(exc: sqlite3.DatabaseError) -> str:
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return f"is not a SQLite database ({exc})"
    return f"is damaged ({exc})"


def _one_line(text: str, limit: int = 200) -> str:
    """quick_check's report spans lines and can list every bad page: the start of it, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _close(db: sqlite3.Connection | None) -> None:
    if db is not None:
        db.close()


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit and WAL mode, shared by threads (its owner serialises them), with
    `schema` applied; a damaged file is refused (see `connect`)."""
    db = connect(path)
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


# SQLite's refusals to write that say the storage, not the call, is at fault.
_CANNOT_WRITE = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


@contextmanager
def storage_writes(path: Path) -> Iterator[None]:
    """Writes to the file at `path`, whose refusal by the storage (a full disk, an I/O error) is
    StorageUnavailable naming the file and the cause, where the caller can act on it."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if not getattr(exc, "sqlite_errorname", "").startswith(_CANNOT_WRITE):
            raise
        raise StorageUnavailable(f"storage: {path} cannot be written ({exc}); nothing of this call was kept, "
                                 "retry once there is room") from exc


@contextmanager
def transaction(db: sqlite3.Connection, path: Path) -> Iterator[None]:
    """One transaction on `db` (the file at `path`), committed when the block ends, rolled back when
    it raises; storage's refusals are StorageUnavailable (see `storage_writes`)."""
    with storage_writes(path):
        db.execute("BEGIN")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            # A COMMIT refused for a full disk may leave the transaction open, and every later BEGIN
            # would then fail even once there is room again.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
