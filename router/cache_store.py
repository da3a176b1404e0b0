"""The semantic cache on disk: entries and the prompts still waiting for their answer. SQLite.

SQLite is the cache's one durable copy: an entry is written in one transaction, so a crash leaves
it either whole or absent, and the FAISS indexes are rebuilt from it at start. A file that cannot
be read is moved aside and the cache starts empty: the service never fails to start because of
its cache.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    precise BLOB
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
    precise BLOB
);
CREATE INDEX IF NOT EXISTS pending_by_time ON pending (created_at);
CREATE TABLE IF NOT EXISTS ratings (
    tenant_id TEXT NOT NULL,
    similarity REAL NOT NULL,
    good INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Prompt:
    """A prompt as the cache knows it: whose, in which scope, its key, text and vectors."""

    tenant_id: str
    scope: str  # hash of tenant and system prompt: an entry is only visible within it
    key: str  # hash of the normalised conversation: the exact-match path
    text: str  # the conversation, for the false-hit guard
    vector: np.ndarray  # the routing embedding, which the index searches
    precise: np.ndarray | None = None  # MiniLM's vector, which the guard compares


@dataclass
class Entry:
    entry_id: int
    prompt: Prompt
    answer: str
    category: str
    model: str
    created_at: float
    expires_at: float
    last_used: float


class CacheStore:
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

    def _open(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.executescript(SCHEMA)
            # quick_check reads every page: a truncated or overwritten file fails here, not mid-request.
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(verdict)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def live_entries(self, now: float) -> list[Entry]:
        """Every unexpired entry, oldest use first; expired ones are deleted on the way."""
        with self._lock:
            self._db.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
            rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY last_used").fetchall()
        return [_entry_from_row(row) for row in rows]

    def add_entry(self, prompt: Prompt, answer: str, category: str, model: str, now: float, ttl: float) -> Entry:
        row = {**_prompt_row(prompt), "answer": answer, "category": category, "model": model,
               "created_at": now, "expires_at": now + ttl, "last_used": now}
        with self._lock:
            cursor = self._db.execute(
                f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return Entry(int(cursor.lastrowid), prompt, answer, category, model, now, now + ttl, now)

    def delete_entries(self, entry_ids: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM entries WHERE entry_id = ?", [(i,) for i in entry_ids])

    def delete_tenant(self, tenant_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entries WHERE tenant_id = ?", (tenant_id,))

    def touch(self, entry_id: int, now: float) -> None:
        with self._lock:
            self._db.execute("UPDATE entries SET last_used = ? WHERE entry_id = ?", (now, entry_id))

    def add_pending(self, decision_id: str, prompt: Prompt, now: float) -> None:
        row = {"decision_id": decision_id, **_prompt_row(prompt), "created_at": now}
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO pending ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()))

    def take_pending(self, decision_id: str) -> Prompt | None:
        """The prompt a decision was made for, removed from the waiting list; None if unknown."""
        with self._lock:
            row = self._db.execute(f"SELECT {_PROMPT_COLUMNS} FROM pending WHERE decision_id = ?",
                                   (decision_id,)).fetchone()
            self._db.execute("DELETE FROM pending WHERE decision_id = ?", (decision_id,))
        return None if row is None else _prompt_from_row(row)

    def forget_pending_before(self, cutoff: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM pending WHERE created_at < ?", (cutoff,)).rowcount

    def add_rating(self, tenant_id: str, similarity: float, good: bool, now: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO ratings VALUES (?, ?, ?, ?)", (tenant_id, similarity, int(good), now))

    def ratings(self) -> dict[str, list[tuple[float, bool]]]:
        """Every tenant's rated semantic hits, oldest first."""
        by_tenant: dict[str, list[tuple[float, bool]]] = {}
        with self._lock:
            rows = self._db.execute("SELECT tenant_id, similarity, good FROM ratings ORDER BY rowid").fetchall()
        for tenant_id, similarity, good in rows:
            by_tenant.setdefault(tenant_id, []).append((similarity, bool(good)))
        return by_tenant

    def close(self) -> None:
        with self._lock:
            self._db.close()


_PROMPT_FIELDS = ["tenant_id", "scope", "key", "text", "vector", "precise"]
_PROMPT_COLUMNS = ", ".join(_PROMPT_FIELDS)
_ENTRY_COLUMNS = ", ".join(["entry_id", *_PROMPT_FIELDS, "answer", "category", "model", "created_at",
                            "expires_at", "last_used"])


def _prompt_row(prompt: Prompt) -> dict:
    return {
        "tenant_id": prompt.tenant_id,
        "scope": prompt.scope,
        "key": prompt.key,
        "text": prompt.text,
        "vector": _blob(prompt.vector),
        "precise": None if prompt.precise is None else _blob(prompt.precise),
    }


def _prompt_from_row(row: tuple) -> Prompt:
    tenant_id, scope, key, text, vector, precise = row
    return Prompt(tenant_id, scope, key, text, _vector(vector), None if precise is None else _vector(precise))


def _entry_from_row(row: tuple) -> Entry:
    n = len(_PROMPT_FIELDS)
    return Entry(row[0], _prompt_from_row(row[1 : 1 + n]), *row[1 + n :])


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
