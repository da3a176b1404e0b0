"""The semantic cache on disk: entries and the prompts still waiting for their answer. SQLite.

SQLite is the cache's one durable copy: an entry is written in one transaction, so a crash leaves
it either whole or absent, and the FAISS indexes are rebuilt from it at start. A file that cannot
be read is moved aside and the cache starts empty: the service never fails to start because of
its cache.

A tenant that keeps no prompt text (`Prompt.private`) has its prompts stored sealed: text "", and
in its place the false-hit guard's profile with every token a keyed hash (cache_guard.redact). The
key is made once and kept in this file's `meta` table, so it lives and dies with the hashes it made
(a key lost while its hashes remain would make the guard compare unrelated hashes). It therefore
keeps the text from anyone reading or searching the file, not from one who holds the whole file
and hashes a dictionary with its key. Deleted and rewritten rows are overwritten with zeros
(secure_delete), so no text lingers in free space; a file an earlier version wrote may still hold
some, so the first sealing of older rows also rebuilds it (VACUUM).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from router.cache.entries import Entry, Prompt, Slot
from router.storage.cache_rows import (ENTRY_COLUMNS, PROMPT_COLUMNS, SLOT_COLUMNS, entry_from_row, entry_row,
                                       prompt_from_row, prompt_row, slot_from_row)
from router.storage.sqlite.connection import add_missing_columns, storage_writes, transaction

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    answer TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_used REAL NOT NULL,
    vector BLOB NOT NULL,
    precise BLOB,
    profile TEXT,
    guard_profile TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_tenant ON entries (tenant_id);
CREATE TABLE IF NOT EXISTS pending (
    decision_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    vector BLOB NOT NULL,
    precise BLOB,
    profile TEXT
);
CREATE INDEX IF NOT EXISTS pending_by_time ON pending (created_at);
CREATE TABLE IF NOT EXISTS ratings (
    tenant_id TEXT NOT NULL,
    similarity REAL NOT NULL,
    good INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""
# Columns added after the first release: a cache file written before them is extended. A sealed
# prompt's redacted profile, as JSON; NULL for a prompt stored with its text.
_LATER_COLUMNS = {"entries": {"profile": "TEXT", "guard_profile": "TEXT"}, "pending": {"profile": "TEXT"}}
# meta: the key of the redacted profiles' hashes, and whether the file has been scrubbed of deleted
# content since secure_delete (a file this version created never held any).
_KEY, _SCRUBBED = "redaction_key", "scrubbed"


class CacheStore:
    """The SQLite implementation of `CacheEntries` (router/storage)."""

    def __init__(self, path: Path, synchronous: str = "NORMAL"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        if not path.exists():
            log.info("no semantic cache at %s yet: starting with an empty cache", path)
        try:
            self._db = self._open(synchronous)
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.error("semantic cache %s is unreadable (%s): moved to %s, starting with an empty cache",
                      path, exc, aside)
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self._db = self._open(synchronous)
        self.redaction_key = _redaction_key(self._db)

    def _open(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.execute("PRAGMA secure_delete=ON")  # a deleted or rewritten prompt's text is zeroed, not left behind
            new_file = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            db.executescript(SCHEMA)
            add_missing_columns(db, _LATER_COLUMNS)
            if new_file:
                _set_meta(db, _SCRUBBED, b"1")
            # quick_check reads every page: a truncated or overwritten file fails here, not mid-request.
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(verdict)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def live_slots(self, now: float) -> Iterator[tuple[Slot, np.ndarray]]:
        """What the in-memory index needs of every unexpired entry, oldest use first; expired
        entries are deleted on the way."""
        with self._lock, storage_writes(self.path):
            self._db.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
            rows = self._db.execute(f"SELECT {SLOT_COLUMNS} FROM entries ORDER BY last_used").fetchall()
        for row in rows:
            yield slot_from_row(row)

    def live_ids(self, now: float) -> list[int]:
        """The ids of every unexpired entry."""
        with self._lock, storage_writes(self.path):
            return [row[0] for row in self._db.execute("SELECT entry_id FROM entries WHERE expires_at > ?", (now,))]

    def entries(self, entry_ids: list[int]) -> dict[int, Entry]:
        """These entries in full (text or sealed profile, vectors, answer), by id; missing ones left out."""
        with self._lock, storage_writes(self.path):
            rows = self._db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_id IN "
                                    f"({', '.join('?' * len(entry_ids))})", entry_ids).fetchall()
        return {row[0]: entry_from_row(row) for row in rows}

    def add_entry(self, prompt: Prompt, answer: str, category: str, model: str, now: float, ttl: float) -> Entry:
        row, guard_profile = entry_row(prompt, answer, category, model, now, ttl)
        with self._lock, storage_writes(self.path):
            cursor = self._db.execute(
                f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return Entry(int(cursor.lastrowid), prompt, answer, category, model, now, now + ttl, now, guard_profile)

    def delete_entries(self, entry_ids: list[int]) -> None:
        with self._lock, storage_writes(self.path):
            self._db.executemany("DELETE FROM entries WHERE entry_id = ?", [(i,) for i in entry_ids])

    def delete_tenant(self, tenant_id: str, now: float) -> int:
        with self._lock, storage_writes(self.path):
            live = self._db.execute("SELECT count(*) FROM entries WHERE tenant_id = ? AND expires_at > ?",
                                    (tenant_id, now)).fetchone()[0]
            self._db.execute("DELETE FROM entries WHERE tenant_id = ?", (tenant_id,))
        return live

    def touch(self, entry_id: int, now: float) -> None:
        with self._lock, storage_writes(self.path):
            self._db.execute("UPDATE entries SET last_used = ? WHERE entry_id = ?", (now, entry_id))

    def add_pending(self, decision_id: str, prompt: Prompt, now: float) -> None:
        row = {"decision_id": decision_id, **prompt_row(prompt), "created_at": now}
        with self._lock, storage_writes(self.path):
            self._db.execute(
                f"INSERT OR REPLACE INTO pending ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()))

    def take_pending(self, decision_id: str) -> Prompt | None:
        """The prompt a decision was made for, removed from the waiting list; None if unknown."""
        with self._lock, storage_writes(self.path):
            row = self._db.execute(f"SELECT {PROMPT_COLUMNS} FROM pending WHERE decision_id = ?",
                                   (decision_id,)).fetchone()
            self._db.execute("DELETE FROM pending WHERE decision_id = ?", (decision_id,))
        return None if row is None else prompt_from_row(row)

    def forget_pending_before(self, cutoff: float) -> int:
        with self._lock, storage_writes(self.path):
            return self._db.execute("DELETE FROM pending WHERE created_at < ?", (cutoff,)).rowcount

    def tenants_with_text(self) -> list[str]:
        """The tenants with a stored prompt that still holds its text (entry or pending)."""
        with self._lock:
            rows = self._db.execute("SELECT tenant_id FROM entries WHERE profile IS NULL UNION "
                                    "SELECT tenant_id FROM pending WHERE profile IS NULL").fetchall()
        return sorted(row[0] for row in rows)

    def prompts_with_text(self, tenant_id: str) -> tuple[dict[int, Prompt], dict[str, Prompt]]:
        """A tenant's stored prompts that still hold their text, expired entries too: entries by
        id, pending prompts by decision id."""
        with self._lock, storage_writes(self.path):
            entries = self._db.execute(f"SELECT entry_id, {PROMPT_COLUMNS} FROM entries "
                                       "WHERE tenant_id = ? AND profile IS NULL", (tenant_id,)).fetchall()
            pending = self._db.execute(f"SELECT decision_id, {PROMPT_COLUMNS} FROM pending "
                                       "WHERE tenant_id = ? AND profile IS NULL", (tenant_id,)).fetchall()
        return ({row[0]: prompt_from_row(row[1:]) for row in entries},
                {row[0]: prompt_from_row(row[1:]) for row in pending})

    def seal(self, entries: dict[int, Prompt], pending: dict[str, Prompt]) -> None:
        """Store these sealed prompts in place of the rows they came from, then make sure no copy
        of the old text is left in the file: one VACUUM for a file that may still hold content
        deleted before secure_delete, and the write-ahead log emptied of the old pages."""
        updates = {("entries", "entry_id"): [({**prompt_row(p), "guard_profile": None}, i) for i, p in entries.items()],
                   ("pending", "decision_id"): [(prompt_row(p), i) for i, p in pending.items()]}
        with self._lock, storage_writes(self.path):
            with transaction(self._db, self.path):
                for (table, id_column), rows in updates.items():
                    for row, row_id in rows:
                        self._db.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in row)} "
                                         f"WHERE {id_column} = ?", (*row.values(), row_id))
            if _meta(self._db, _SCRUBBED) is None:
                self._db.execute("VACUUM")
                _set_meta(self._db, _SCRUBBED, b"1")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add_rating(self, tenant_id: str, similarity: float, good: bool, now: float) -> None:
        with self._lock, storage_writes(self.path):
            self._db.execute("INSERT INTO ratings VALUES (?, ?, ?, ?)", (tenant_id, similarity, int(good), now))

    def ratings(self) -> dict[str, list[tuple[float, bool]]]:
        """Every tenant's rated semantic hits, oldest first."""
        by_tenant: dict[str, list[tuple[float, bool]]] = {}
        with self._lock, storage_writes(self.path):
            rows = self._db.execute("SELECT tenant_id, similarity, good FROM ratings ORDER BY rowid").fetchall()
        for tenant_id, similarity, good in rows:
            by_tenant.setdefault(tenant_id, []).append((similarity, bool(good)))
        return by_tenant

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _redaction_key(db: sqlite3.Connection) -> bytes:
    """The file's key for redacted profiles, made on first use."""
    db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (_KEY, secrets.token_bytes(32)))
    return bytes(_meta(db, _KEY))


def _meta(db: sqlite3.Connection, name: str) -> bytes | None:
    row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def _set_meta(db: sqlite3.Connection, name: str, value: bytes) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
