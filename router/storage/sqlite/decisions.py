"""The decision log: every decision before its answer leaves, every feedback once. SQLite in WAL.

The service talks to `DecisionLog` (router/storage); only this module knows the log's SQL, so
PostgreSQL can take its place when one machine is outgrown.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from router.domain.errors import RouterError
from router.domain.types import Alert, CacheAnswer, Context, Decision, FeedbackRecord, LedgerEntry, Metadata, RuleMatch
from router.storage import RuleCount, already_answered, not_in_log
from router.storage.sqlite.connection import add_missing_columns, connect, storage_writes, transaction

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
    cost_saved_usd REAL,
    baseline_cost_usd REAL,
    rule_id TEXT,
    budget_mode TEXT,
    awaiting_feedback INTEGER,  -- 1 until feedback arrives or the decision expires
    expired_at REAL,
    escalated_from TEXT,  -- the decision this one escalates
    security_source TEXT,  -- why it is a security task: hint, rule, detector
    security_probability REAL
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
    actual_cost_usd REAL NOT NULL,
    baseline_cost_usd REAL,
    expired INTEGER,  -- 1: no feedback came; the tenant's expired_quality was learned in its place
    not_called INTEGER,  -- 1: the model was never called; nothing learned, nothing spent
    time_to_first_token_ms REAL,  -- a streamed answer's first chunk
    overrun_usd REAL  -- reported cost beyond the tenant's max_cost_overrun × estimate: not in actual_cost_usd
);
CREATE TABLE IF NOT EXISTS rule_matches (
    decision_id TEXT NOT NULL,  -- no decision when a rule blocked the request
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    applied INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_matches_by_rule ON rule_matches (tenant_id, rule_id);
CREATE TABLE IF NOT EXISTS anomalies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    team TEXT NOT NULL,
    hour_start REAL NOT NULL,
    spend_usd REAL NOT NULL,
    expected_usd REAL NOT NULL,
    z REAL NOT NULL,
    detected_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS anomalies_by_tenant_time ON anomalies (tenant_id, detected_at);
CREATE TABLE IF NOT EXISTS storage_probe (
    id INTEGER PRIMARY KEY,  -- one row, rewritten by check_writable
    checked_at REAL NOT NULL,
    room BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_identity (
    log_id TEXT NOT NULL  -- one row, made with the log: learner snapshots name the log they learned from
);
"""


class SQLiteDecisionLog:
    """One connection behind a lock for writes and reports: SQLite serialises writers anyway.

    Feedback's look-up of its decision has a connection of its own: in WAL mode a reader need not
    wait for a writer, and on the shared connection each look-up queued behind another call's
    commit and its fsync."""

    def __init__(self, path: Path, synchronous: str = "FULL"):
        self._path = path
        self._db = connect(path)  # a damaged file is refused here (DamagedFile), before anything reads it
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        add_missing_columns(self._db, _LATER_COLUMNS)
        # Only decisions still awaiting feedback are indexed, so finding the overdue ones stays cheap
        # however long the log grows. (A log written before the column has no expiry for its old rows.)
        self._db.execute("CREATE INDEX IF NOT EXISTS decisions_awaiting ON decisions (created_at) "
                         "WHERE awaiting_feedback = 1")
        self._log_id = _log_id(self._db)
        self._lock = threading.Lock()
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._reader_lock = threading.Lock()

    def record_decision(self, decision: Decision, context: Context) -> None:
        """The decision and the rules that matched it, in one transaction."""
        row = _decision_row(decision, context)
        with self._lock, transaction(self._db, self._path):
            self._db.execute(
                f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            self._insert_matches(decision.decision_id, decision.tenant_id, decision.rule_matches, decision.created_at)

    def record_rule_matches(self, decision_id: str, tenant_id: str, matches: tuple[RuleMatch, ...],
                            at: float) -> None:
        """Rules that matched a request no decision came of (a rule blocked it)."""
        with self._lock, storage_writes(self._path):
            self._insert_matches(decision_id, tenant_id, matches, at)

    def _insert_matches(self, decision_id: str, tenant_id: str, matches: tuple[RuleMatch, ...], at: float) -> None:
        self._db.executemany("INSERT INTO rule_matches VALUES (?, ?, ?, ?, ?)",
                             [(decision_id, tenant_id, m.rule_id, int(m.applied), at) for m in matches])

    def decision(self, decision_id: str) -> tuple[Decision, Context]:
        found = self.decisions([decision_id])
        if decision_id not in found:
            raise not_in_log(decision_id)
        return found[decision_id]

    def decisions(self, decision_ids: list[str]) -> dict[str, tuple[Decision, Context]]:
        """The logged ones among `decision_ids`, by id."""
        found = {}
        for start in range(0, len(decision_ids), _MAX_PARAMETERS):
            chunk = decision_ids[start : start + _MAX_PARAMETERS]
            with self._reader_lock:
                rows = self._reader.execute(
                    f"SELECT {_DECISION_COLUMNS} FROM decisions d WHERE decision_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            found.update((row[0], _decision_from_row(row)) for row in rows)
        return found

    def record_feedback(self, records: list[FeedbackRecord]) -> list[int | RouterError]:
        """Log each feedback once, all in one transaction (one fsync however many). Each gets its
        sequence number, which orders learning for replay after a restart, or the error that
        refused it alone: AlreadyExists when its decision has feedback, NotFound when it has no
        decision."""
        with self._lock, transaction(self._db, self._path):
            return [self._insert_feedback(record) for record in records]

    def _insert_feedback(self, record: FeedbackRecord) -> int | RouterError:
        # Not asdict: its deep copy cost a tenth of a whole Feedback.
        row = {name: getattr(record, name) for name in _FEEDBACK_FIELDS}
        try:
            # A refused INSERT undoes only itself: the transaction and the others' rows go on.
            cursor = self._db.execute(
                f"INSERT INTO feedback ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                return already_answered(record.decision_id, self._answered_by_expiry(record.decision_id))
            return not_in_log(record.decision_id)
        self._db.execute("UPDATE decisions SET awaiting_feedback = NULL WHERE decision_id = ?", (record.decision_id,))
        return int(cursor.lastrowid)

    def _answered_by_expiry(self, decision_id: str) -> bool:
        expired, = self._db.execute("SELECT COALESCE(expired, 0) FROM feedback WHERE decision_id = ?",
                                    (decision_id,)).fetchone()
        return bool(expired)

    def expire_overdue(self, before: float, at: float, limit: int) -> list[tuple[Decision, Context]]:
        """Mark up to `limit` of the oldest decisions made before `before` that still await feedback
        as expired at `at`; they no longer count as awaiting."""
        with self._lock, transaction(self._db, self._path):
            rows = self._db.execute(
                f"SELECT {_DECISION_COLUMNS} FROM decisions d WHERE awaiting_feedback = 1 AND created_at < ? "
                "ORDER BY created_at LIMIT ?",
                (before, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE decisions SET awaiting_feedback = NULL, expired_at = ? WHERE decision_id = ?",
                [(at, row[0]) for row in rows],
            )
        return [_decision_from_row(row) for row in rows]

    def awaiting_feedback(self) -> int:
        """How many decisions await feedback (neither answered nor expired)."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM decisions WHERE awaiting_feedback = 1").fetchone()[0]

    def identity(self) -> str:
        """This log's id, made when the log was: a log emptied or replaced by another has a new one."""
        return self._log_id

    def last_feedback_seq(self) -> int:
        """The sequence number of the newest feedback logged (0: none)."""
        with self._lock:
            return self._db.execute("SELECT coalesce(max(seq), 0) FROM feedback").fetchone()[0]

    def check_writable(self) -> None:
        """Write as much as a decision does (StorageUnavailable when storage refuses): how the
        server's health learns that a full disk has room again."""
        with self._lock, transaction(self._db, self._path):
            self._db.execute("REPLACE INTO storage_probe (id, checked_at, room) VALUES (1, ?, zeroblob(?))",
                             (time.time(), PROBE_BYTES))

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

    def ledger(self, tenant_id: str | None, since: float, until: float) -> Iterator[LedgerEntry]:
        """Every decision made in [since, until) (of one tenant, or all), with its feedback if any."""
        tenant_clause = "AND d.tenant_id = ?" if tenant_id is not None else ""
        params = (since, until) + ((tenant_id,) if tenant_id is not None else ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_LEDGER_COLUMNS} FROM decisions d LEFT JOIN feedback f USING (decision_id) "
                f"WHERE d.created_at >= ? AND d.created_at < ? {tenant_clause} ORDER BY d.created_at",
                params,
            ).fetchall()
        for row in rows:
            yield _ledger_entry(row)

    def rule_count(self, tenant_id: str, rule_id: str, since: float) -> RuleCount:
        """How often a rule matched and acted from `since` (when its current version was put)."""
        with self._lock:
            matched, applied, last = self._db.execute(
                "SELECT count(*), COALESCE(sum(applied), 0), max(created_at) FROM rule_matches "
                "WHERE tenant_id = ? AND rule_id = ? AND created_at >= ?",
                (tenant_id, rule_id, since),
            ).fetchone()
        return RuleCount(matched, applied, last)

    def record_alert(self, alert: Alert) -> None:
        row = asdict(alert)
        with self._lock, storage_writes(self._path):
            self._db.execute(
                f"INSERT INTO anomalies ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )

    def alerts(self, tenant_id: str, since: float, until: float) -> list[Alert]:
        fields = list(Alert.__dataclass_fields__)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(fields)} FROM anomalies WHERE tenant_id = ? AND detected_at >= ? "
                "AND detected_at < ? ORDER BY detected_at",
                (tenant_id, since, until),
            ).fetchall()
        return [Alert(*row) for row in rows]

    def close(self) -> None:
        with self._lock, self._reader_lock:
            self._reader.close()
            self._db.close()


PROBE_BYTES = 8192  # more than a decision's row (its embedding is 1.5 kB): room for this is room for one
_FEEDBACK_FIELDS = list(FeedbackRecord.__dataclass_fields__)
_MAX_PARAMETERS = 500  # ids per IN (...): well under SQLite's limit on a statement's parameters
# What a log written before the column reads.
_NEUTRAL = {"baseline_cost_usd": "0.0", "expired": "0", "not_called": "0", "overrun_usd": "0.0"}
_FEEDBACK_COLUMNS = ", ".join(
    f"COALESCE(f.{c}, {_NEUTRAL[c]})" if c in _NEUTRAL else f"f.{c}" for c in _FEEDBACK_FIELDS
)
_DECISION_FIELDS = [
    "decision_id", "tenant_id", "created_at", "model", "provider", "probability", "reason",
    "category", "security", "complexity", "cost_weight", "input_tokens", "output_tokens",
    "estimated_cost_usd", "candidates", "probabilities", "fallbacks", "metadata", "embedding",
    "cache_entry_id", "cache_similarity", "cost_saved_usd", "baseline_cost_usd", "rule_id", "budget_mode",
    "escalated_from", "security_source", "security_probability",
]
# Columns added after the first release, with their types: a log written before them is extended.
_LATER_COLUMNS = {
    "decisions": {"cache_entry_id": "INTEGER", "cache_similarity": "REAL", "cost_saved_usd": "REAL",
                  "baseline_cost_usd": "REAL", "rule_id": "TEXT", "budget_mode": "TEXT",
                  "awaiting_feedback": "INTEGER", "expired_at": "REAL", "escalated_from": "TEXT",
                  "security_source": "TEXT", "security_probability": "REAL"},
    "feedback": {"baseline_cost_usd": "REAL", "expired": "INTEGER", "not_called": "INTEGER",
                 "time_to_first_token_ms": "REAL", "overrun_usd": "REAL"},
}


_DECISION_COLUMNS = ", ".join(f"d.{c}" for c in _DECISION_FIELDS)
# A log written before a column existed reads it as its neutral value.
_LEDGER_COLUMNS = ", ".join([
    "d.decision_id", "d.tenant_id", "d.created_at", "d.metadata", "d.model", "d.category", "d.security",
    "d.reason", "COALESCE(d.rule_id, '')", "COALESCE(d.budget_mode, '')", "d.estimated_cost_usd",
    "d.cache_entry_id IS NOT NULL", "f.created_at",
    "COALESCE(f.input_tokens, d.input_tokens)", "COALESCE(f.output_tokens, d.output_tokens)",
    "CASE WHEN f.decision_id IS NOT NULL THEN f.actual_cost_usd "
    "WHEN d.cache_entry_id IS NOT NULL THEN 0.0 ELSE d.estimated_cost_usd END",
    "COALESCE(f.baseline_cost_usd, d.baseline_cost_usd, 0.0)", "COALESCE(d.cost_saved_usd, 0.0)", "f.quality",
    "COALESCE(f.error, 0)",
    # Expired: learned with the tenant's expired_quality, or still without feedback past the wait
    # (feedback that came after the expiry is the decision's real outcome).
    "CASE WHEN f.decision_id IS NOT NULL THEN COALESCE(f.expired, 0) ELSE d.expired_at IS NOT NULL END",
    "COALESCE(f.not_called, 0)", "COALESCE(f.latency_ms, 0.0)", "f.time_to_first_token_ms",
    "COALESCE(d.security_source, '')", "COALESCE(f.overrun_usd, 0.0)",
])


def _ledger_entry(row: tuple) -> LedgerEntry:
    (decision_id, tenant_id, created_at, metadata, model, category, security, reason, rule_id, budget_mode,
     estimated, cache_hit, settled_at, input_tokens, output_tokens, cost, baseline, cache_saved, quality, error,
     expired, not_called, latency_ms, time_to_first_token_ms, security_source, overrun_usd) = row
    who = json.loads(metadata)
    return LedgerEntry(
        decision_id=decision_id, tenant_id=tenant_id, created_at=created_at, team=who["team"],
        project=who["project"], feature=who["feature"], user=who["user"], model=model, category=category,
        security=bool(security), reason=reason, rule_id=rule_id, budget_mode=budget_mode,
        estimated_cost_usd=estimated, cache_hit=bool(cache_hit), settled_at=settled_at,
        input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost, baseline_cost_usd=baseline,
        cache_saved_usd=cache_saved, quality=quality, error=bool(error), expired=bool(expired),
        not_called=bool(not_called), latency_ms=latency_ms, time_to_first_token_ms=time_to_first_token_ms,
        security_source=security_source, overrun_usd=overrun_usd,
    )


def _log_id(db: sqlite3.Connection) -> str:
    """The log's id, made on first open (a log older than ids gets one then, and keeps it)."""
    row = db.execute("SELECT log_id FROM log_identity").fetchone()
    if row is None:
        row = (uuid.uuid4().hex,)
        db.execute("INSERT INTO log_identity (log_id) VALUES (?)", row)
    return row[0]


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
        "baseline_cost_usd": decision.baseline_cost_usd,
        "rule_id": decision.rule_id,
        "budget_mode": decision.budget_mode,
        "escalated_from": decision.escalated_from,
        "security_source": decision.security_source,
        "security_probability": decision.security_probability,
        "awaiting_feedback": 1,
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
        baseline_cost_usd=values["baseline_cost_usd"] or 0.0,
        rule_id=values["rule_id"] or "",
        budget_mode=values["budget_mode"] or "",
        escalated_from=values["escalated_from"] or "",
        security_source=values["security_source"] or "",
        security_probability=values["security_probability"] or 0.0,
    )
    context = Context(
        embedding=np.frombuffer(values["embedding"], dtype=np.float32),
        category=decision.category,
        complexity=decision.complexity,
        input_tokens=decision.estimated_input_tokens,
        output_tokens=decision.estimated_output_tokens,
    )
    return decision, context
