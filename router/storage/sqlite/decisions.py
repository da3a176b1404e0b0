"""The decision log: every decision before its answer leaves, every feedback once. SQLite in WAL.

The service talks to `DecisionLog` (router/storage); only this module and decision_schema.py (its
tables) know the log's SQLite. Its rows are router/storage/decision_rows.py's, shared with the
PostgreSQL log (router/storage/postgresql/), which takes its place when one machine is outgrown.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from router.domain.errors import RouterError
from router.domain.types import Alert, Context, Decision, FeedbackRecord, LedgerEntry, RuleMatch, WasteAlert
from router.storage import DecisionLookup, RuleCount, already_answered, not_in_log
from router.storage.decision_rows import (DECISION_COLUMNS, LogQueries, decision_from_row, decision_row, feedback_row,
                                          ledger_entry, replayed, waste_alert_change)
from router.storage.sqlite.connection import connect, storage_writes, transaction
from router.storage.sqlite.decision_schema import create_tables, log_id

_SQL = LogQueries("?")


class SQLiteDecisionLog(DecisionLookup):
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
        create_tables(self._db)
        self._log_id = log_id(self._db)
        self._lock = threading.Lock()
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._reader_lock = threading.Lock()

    def record_decision(self, decision: Decision, context: Context) -> None:
        """The decision and the rules that matched it, in one transaction."""
        row = decision_row(decision, context)
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

    def decisions(self, decision_ids: list[str]) -> dict[str, tuple[Decision, Context]]:
        """The logged ones among `decision_ids`, by id."""
        found = {}
        for start in range(0, len(decision_ids), _MAX_PARAMETERS):
            chunk = decision_ids[start : start + _MAX_PARAMETERS]
            with self._reader_lock:
                rows = self._reader.execute(
                    f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE decision_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            found.update((row[0], decision_from_row(row)) for row in rows)
        return found

    def record_feedback(self, records: list[FeedbackRecord]) -> list[int | RouterError]:
        """Log each feedback once, all in one transaction (one fsync however many). Each gets its
        sequence number, which orders learning for replay after a restart, or the error that
        refused it alone: AlreadyExists when its decision has feedback, NotFound when it has no
        decision."""
        with self._lock, transaction(self._db, self._path):
            return [self._insert_feedback(record) for record in records]

    def _insert_feedback(self, record: FeedbackRecord) -> int | RouterError:
        row = feedback_row(record)
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
                f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE awaiting_feedback = 1 AND created_at < ? "
                "ORDER BY created_at LIMIT ?",
                (before, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE decisions SET awaiting_feedback = NULL, expired_at = ? WHERE decision_id = ?",
                [(at, row[0]) for row in rows],
            )
        return [decision_from_row(row) for row in rows]

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
            rows = self._db.execute(_SQL.feedback_after, (seq,)).fetchall()
        for row in rows:
            yield replayed(row)

    def ledger(self, tenant_id: str | None, since: float, until: float) -> Iterator[LedgerEntry]:
        """Every decision made in [since, until) (of one tenant, or all), with its feedback if any."""
        with self._lock:
            rows = self._db.execute(*_SQL.ledger(tenant_id, since, until)).fetchall()
        for row in rows:
            yield ledger_entry(row)

    def rule_count(self, tenant_id: str, rule_id: str, since: float) -> RuleCount:
        """How often a rule matched and acted from `since` (when its current version was put)."""
        with self._lock:
            matched, applied, last = self._db.execute(_SQL.rule_count, (tenant_id, rule_id, since)).fetchone()
        return RuleCount(matched, applied, last)

    def rule_arms(self, tenant_id: str, rule_id: str, since: float) -> dict[str, bool]:
        with self._lock:
            rows = self._db.execute(_SQL.rule_arms, (tenant_id, rule_id, since)).fetchall()
        return {decision_id: bool(applied) for decision_id, applied in rows}

    def feedback_of(self, tenant_id: str, since: float,
                    until: float) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        with self._lock:
            rows = self._db.execute(_SQL.feedback_of, (tenant_id, since, until)).fetchall()
        for row in rows:
            yield replayed(row)

    def record_alert(self, alert: Alert) -> bool:
        """False when its scope and hour has its alert already (one process raises each once; the
        check keeps the contract every backend shares)."""
        row = asdict(alert)
        with self._lock, storage_writes(self._path):
            return self._db.execute(
                f"INSERT INTO anomalies ({', '.join(row)}) SELECT {', '.join('?' * len(row))} WHERE NOT EXISTS "
                "(SELECT 1 FROM anomalies WHERE tenant_id = ? AND team = ? AND hour_start = ?)",
                (*row.values(), alert.tenant_id, alert.team, alert.hour_start),
            ).rowcount == 1

    def alerts(self, tenant_id: str, since: float, until: float) -> list[Alert]:
        with self._lock:
            rows = self._db.execute(_SQL.alerts, (tenant_id, since, until)).fetchall()
        return [Alert(*row) for row in rows]

    def record_waste_alert(self, alert: WasteAlert) -> bool:
        """False when the storm has its alert already: its calls so far are then brought up to date."""
        with self._lock, storage_writes(self._path):
            if self._db.execute(_SQL.insert_waste_alert, tuple(asdict(alert).values())).rowcount == 1:
                return True
            self._db.execute(_SQL.extend_waste_alert, waste_alert_change(alert))
            return False

    def waste_alerts(self, tenant_id: str, since: float, until: float) -> list[WasteAlert]:
        with self._lock:
            rows = self._db.execute(_SQL.waste_alerts, (tenant_id, since, until)).fetchall()
        return [WasteAlert(*row) for row in rows]

    def close(self) -> None:
        with self._lock, self._reader_lock:
            self._reader.close()
            self._db.close()


PROBE_BYTES = 8192  # more than a decision's row (its embedding is 1.5 kB): room for this is room for one
_MAX_PARAMETERS = 500  # ids per IN (...): well under SQLite's limit on a statement's parameters
