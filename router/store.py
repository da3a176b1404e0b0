"""The decision log: every decision before its answer leaves, every feedback once. SQLite in WAL.

The service talks to `DecisionLog`; only this module knows SQL, so PostgreSQL can take its place
when one machine is outgrown.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import numpy as np

from router.errors import AlreadyExists, NotFound
from router.types import CacheAnswer, Context, Decision, FeedbackRecord, Metadata

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    probability REAL NOT NULL,
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    security INTEGER NOT NULL,
    complexity REAL NOT NULL,
    cost_weight REAL NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    estimated_cost_usd REAL NOT NULL,
    candidates TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    fallbacks TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL,
    cache_entry_id INTEGER,
    cache_similarity REAL,
    cost_saved_usd REAL
);
CREATE INDEX IF NOT EXISTS decisions_by_tenant_time ON decisions (tenant_id, created_at);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL UNIQUE REFERENCES decisions (decision_id),
    created_at REAL NOT NULL,
    quality REAL NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    error INTEGER NOT NULL,
    reward REAL NOT NULL,
    actual_cost_usd REAL NOT NULL
);
"""


class DecisionLog(Protocol):
    def record_decision(self, decision: Decision, context: Context) -> None: ...

    def decision(self, decision_id: str) -> tuple[Decision, Context]: ...

    def record_feedback(self, record: FeedbackRecord) -> int: ...

    def feedback_after(self, seq: int) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]: ...

    def close(self) -> None: ...


class SQLiteDecisionLog:
    """One connection behind a lock: SQLite serialises writers anyway, and this keeps it simple."""

    def __init__(self, path: Path, synchronous: str = "FULL"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        _add_missing_columns(self._db)
        self._lock = threading.Lock()

    def record_decision(self, decision: Decision, context: Context) -> None:
        row = _decision_row(decision, context)
        with self._lock:
            self._db.execute(
                f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )

    def decision(self, decision_id: str) -> tuple[Decision, Context]:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_DECISION_COLUMNS} FROM decisions d WHERE decision_id = ?", (decision_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"decision {decision_id!r} is not in the log")
        return _decision_from_row(row)

    def record_feedback(self, record: FeedbackRecord) -> int:
        """Log a feedback once; its sequence number orders learning for replay after a restart."""
        row = asdict(record)
        with self._lock:
            try:
                cursor = self._db.execute(
                    f"INSERT INTO feedback ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise AlreadyExists(f"decision {record.decision_id!r} already has feedback") from exc
                raise NotFound(f"decision {record.decision_id!r} is not in the log") from exc
            return int(cursor.lastrowid)

    def feedback_after(self, seq: int) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT f.seq, {_FEEDBACK_COLUMNS}, {_DECISION_COLUMNS} FROM feedback f "
                "JOIN decisions d USING (decision_id) WHERE f.seq > ? ORDER BY f.seq",
                (seq,),
            ).fetchall()
        n_feedback = len(_FEEDBACK_FIELDS)
        for row in rows:
            record = FeedbackRecord(*row[1 : 1 + n_feedback])
            decision, context = _decision_from_row(row[1 + n_feedback :])
            yield row[0], decision, context, record

    def close(self) -> None:
        with self._lock:
            self._db.close()


_FEEDBACK_FIELDS = list(FeedbackRecord.__dataclass_fields__)
_FEEDBACK_COLUMNS = ", ".join(f"f.{c}" for c in _FEEDBACK_FIELDS)
_DECISION_FIELDS = [
    "decision_id", "tenant_id", "created_at", "model", "provider", "probability", "reason",
    "category", "security", "complexity", "cost_weight", "input_tokens", "output_tokens",
    "estimated_cost_usd", "candidates", "probabilities", "fallbacks", "metadata", "embedding",
    "cache_entry_id", "cache_similarity", "cost_saved_usd",
]
# Columns added after the first release, with their types: a log written before them is extended.
_LATER_COLUMNS = {"cache_entry_id": "INTEGER", "cache_similarity": "REAL", "cost_saved_usd": "REAL"}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    present = {row[1] for row in db.execute("PRAGMA table_info(decisions)")}
    for column, kind in _LATER_COLUMNS.items():
        if column not in present:
            db.execute(f"ALTER TABLE decisions ADD COLUMN {column} {kind}")
_DECISION_COLUMNS = ", ".join(f"d.{c}" for c in _DECISION_FIELDS)


def _decision_row(decision: Decision, context: Context) -> dict:
    return {
        "decision_id": decision.decision_id,
        "tenant_id": decision.tenant_id,
        "created_at": decision.created_at,
        "model": decision.model,
        "provider": decision.provider,
        "probability": decision.probability,
        "reason": decision.reason,
        "category": decision.category,
        "security": int(decision.security),
        "complexity": decision.complexity,
        "cost_weight": decision.cost_weight,
        "input_tokens": decision.estimated_input_tokens,
        "output_tokens": decision.estimated_output_tokens,
        "estimated_cost_usd": decision.estimated_cost_usd,
        "candidates": json.dumps(decision.candidates),
        "probabilities": json.dumps(decision.probabilities),
        "fallbacks": json.dumps(decision.fallbacks),
        "metadata": json.dumps(asdict(decision.metadata)),
        "embedding": np.asarray(context.embedding, dtype=np.float32).tobytes(),
        # The answer itself stays in the cache: the log keeps which entry was served.
        "cache_entry_id": decision.cache.entry_id if decision.cache else None,
        "cache_similarity": decision.cache.similarity if decision.cache else None,
        "cost_saved_usd": decision.cache.cost_saved_usd if decision.cache else None,
    }


def _decision_from_row(row: tuple) -> tuple[Decision, Context]:
    values = dict(zip(_DECISION_FIELDS, row))
    decision = Decision(
        decision_id=values["decision_id"],
        tenant_id=values["tenant_id"],
        created_at=values["created_at"],
        model=values["model"],
        provider=values["provider"],
        probability=values["probability"],
        reason=values["reason"],
        category=values["category"],
        security=bool(values["security"]),
        complexity=values["complexity"],
        cost_weight=values["cost_weight"],
        estimated_input_tokens=values["input_tokens"],
        estimated_output_tokens=values["output_tokens"],
        estimated_cost_usd=values["estimated_cost_usd"],
        candidates=tuple(json.loads(values["candidates"])),
        probabilities=tuple(json.loads(values["probabilities"])),
        fallbacks=tuple(json.loads(values["fallbacks"])),
        metadata=Metadata(**json.loads(values["metadata"])),
        cache=None if values["cache_entry_id"] is None else CacheAnswer(
            values["cache_entry_id"], "", values["cache_similarity"], values["cost_saved_usd"]),
    )
    context = Context(
        embedding=np.frombuffer(values["embedding"], dtype=np.float32),
        category=decision.category,
        complexity=decision.complexity,
        input_tokens=decision.estimated_input_tokens,
        output_tokens=decision.estimated_output_tokens,
    )
    return decision, context
