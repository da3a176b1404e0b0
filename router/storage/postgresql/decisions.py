"""The decision log in PostgreSQL: every decision before its answer leaves, every feedback once.

Each call takes a connection of the shared pool, so calls run side by side, in this process and in
every replica on the same database; PostgreSQL orders them. A decision is committed before
`record_decision` returns; decision ids are the table's primary key, unique across replicas. Its rows
are router/storage/decision_rows.py's, as in SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict

import psycopg

from router.domain.errors import RouterError
from router.domain.types import Alert, Context, Decision, FeedbackRecord, LedgerEntry, RuleMatch, WasteAlert
from router.storage import DecisionLookup, RuleCount, already_answered, not_in_log
from router.storage.decision_rows import (DECISION_COLUMNS, LogQueries, decision_from_row, decision_row, feedback_row,
                                          ledger_entry, replayed, waste_alert_change)
from router.storage.postgresql.connection import Database, insert

# An advisory lock's key (see schema.MIGRATION_LOCK): held by each feedback transaction.
FEEDBACK_LOCK = 0x62616E6469740002

_SQL = LogQueries("%s")


class PostgresDecisionLog(DecisionLookup):
    def __init__(self, db: Database):
        self._db = db.share(self)
        with db.connection() as connection:
            self._log_id = connection.execute("SELECT log_id FROM log_identity").fetchone()[0]

    def record_decision(self, decision: Decision, context: Context) -> None:
        """The decision and the rules that matched it, in one transaction."""
        row = decision_row(decision, context)
        with self._db.transaction() as connection:
            connection.execute(insert("decisions", row), tuple(row.values()))
            _insert_matches(connection, decision.decision_id, decision.tenant_id, decision.rule_matches,
                            decision.created_at)

    def record_rule_matches(self, decision_id: str, tenant_id: str, matches: tuple[RuleMatch, ...],
                            at: float) -> None:
        """Rules that matched a request no decision came of (a rule blocked it)."""
        with self._db.transaction() as connection:
            _insert_matches(connection, decision_id, tenant_id, matches, at)

    def decisions(self, decision_ids: list[str]) -> dict[str, tuple[Decision, Context]]:
        """The logged ones among `decision_ids`, by id."""
        with self._db.connection() as connection:
            rows = connection.execute(f"SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.decision_id = ANY(%s)",
                                      (decision_ids,)).fetchall()
        return {row[0]: decision_from_row(row) for row in rows}

    def record_feedback(self, records: list[FeedbackRecord]) -> list[int | RouterError]:
        """Log each feedback once, all in one transaction. Each gets its sequence number, or the
        error that refused it alone: AlreadyExists when its decision has feedback, NotFound when it
        has no decision."""
        with self._db.transaction() as connection:
            # One feedback transaction at a time, across replicas: sequence numbers are then committed in
            # their order, so a reader that has seen number n has seen every one before it (an identity
            # column alone hands out numbers in the order transactions ask, not the order they commit).
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (FEEDBACK_LOCK,))
            logged = {row[0] for row in connection.execute(
                "SELECT decision_id FROM decisions WHERE decision_id = ANY(%s)",
                ([record.decision_id for record in records],))}
            return [_insert_feedback(connection, record) if record.decision_id in logged
                    else not_in_log(record.decision_id) for record in records]

    def expire_overdue(self, before: float, at: float, limit: int) -> list[tuple[Decision, Context]]:
        """Mark up to `limit` of the oldest decisions made before `before` that still await feedback
        as expired at `at`; they no longer count as awaiting. One statement: replicas sweeping at once
        skip each other's rows, so each decision expires once."""
        with self._db.connection() as connection:
            rows = connection.execute(
                "WITH due AS (SELECT decision_id FROM decisions WHERE awaiting_feedback = 1 AND created_at < %s "
                "ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE decisions d SET awaiting_feedback = NULL, expired_at = %s FROM due "
                f"WHERE d.decision_id = due.decision_id AND d.awaiting_feedback = 1 RETURNING {DECISION_COLUMNS}",
                (before, limit, at),
            ).fetchall()
        # RETURNING keeps no order: oldest first, as they were chosen.
        return sorted((decision_from_row(row) for row in rows), key=lambda expired: expired[0].created_at)

    def awaiting_feedback(self) -> int:
        """How many decisions await feedback (neither answered nor expired)."""
        with self._db.connection() as connection:
            return connection.execute("SELECT count(*) FROM decisions WHERE awaiting_feedback = 1").fetchone()[0]

    def identity(self) -> str:
        """This log's id, made when the log was: a log emptied or replaced by another has a new one."""
        return self._log_id

    def last_feedback_seq(self) -> int:
        """The sequence number of the newest feedback logged (0: none)."""
        with self._db.connection() as connection:
            return connection.execute("SELECT coalesce(max(seq), 0) FROM feedback").fetchone()[0]

    def check_writable(self) -> None:
        """Commit a write (StorageUnavailable when the database refuses): how the server's health
        learns that the database is back."""
        with self._db.connection() as connection:
            connection.execute("INSERT INTO storage_probe (id, checked_at) VALUES (1, %s) "
                               "ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at", (time.time(),))

    def feedback_after(self, seq: int) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        with self._db.connection() as connection:
            rows = connection.execute(_SQL.feedback_after, (seq,)).fetchall()
        for row in rows:
            yield replayed(row)

    def ledger(self, tenant_id: str | None, since: float, until: float) -> Iterator[LedgerEntry]:
        """Every decision made in [since, until) (of one tenant, or all), with its feedback if any."""
        with self._db.connection() as connection:
            rows = connection.execute(*_SQL.ledger(tenant_id, since, until)).fetchall()
        for row in rows:
            yield ledger_entry(row)

    def rule_count(self, tenant_id: str, rule_id: str, since: float) -> RuleCount:
        """How often a rule matched and acted from `since` (when its current version was put)."""
        with self._db.connection() as connection:
            matched, applied, last = connection.execute(_SQL.rule_count, (tenant_id, rule_id, since)).fetchone()
        return RuleCount(matched, applied, last)

    def rule_arms(self, tenant_id: str, rule_id: str, since: float) -> dict[str, bool]:
        with self._db.connection() as connection:
            rows = connection.execute(_SQL.rule_arms, (tenant_id, rule_id, since)).fetchall()
        return {decision_id: bool(applied) for decision_id, applied in rows}

    def feedback_of(self, tenant_id: str, since: float,
                    until: float) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        with self._db.connection() as connection:
            rows = connection.execute(_SQL.feedback_of, (tenant_id, since, until)).fetchall()
        for row in rows:
            yield replayed(row)

    def record_alert(self, alert: Alert) -> bool:
        """False when its scope and hour has its alert already: every replica watches the same spend
        and raises the same alert, and the table's unique key keeps the first."""
        row = asdict(alert)
        with self._db.connection() as connection:
            return connection.execute(insert("anomalies", row, "ON CONFLICT (tenant_id, team, hour_start) DO NOTHING"),
                                      tuple(row.values())).rowcount == 1

    def alerts(self, tenant_id: str, since: float, until: float) -> list[Alert]:
        with self._db.connection() as connection:
            rows = connection.execute(_SQL.alerts, (tenant_id, since, until)).fetchall()
        return [Alert(*row) for row in rows]

    def record_waste_alert(self, alert: WasteAlert) -> bool:
        """False when the storm has its alert already (every replica sees the same storms): its calls so
        far are then brought up to date."""
        with self._db.connection() as connection:
            if connection.execute(_SQL.insert_waste_alert, tuple(asdict(alert).values())).rowcount == 1:
                return True
            connection.execute(_SQL.extend_waste_alert, waste_alert_change(alert))
            return False

    def waste_alerts(self, tenant_id: str, since: float, until: float) -> list[WasteAlert]:
        with self._db.connection() as connection:
            rows = connection.execute(_SQL.waste_alerts, (tenant_id, since, until)).fetchall()
        return [WasteAlert(*row) for row in rows]

    def close(self) -> None:
        self._db.release(self)


def _insert_matches(connection: psycopg.Connection, decision_id: str, tenant_id: str,
                    matches: tuple[RuleMatch, ...], at: float) -> None:
    if matches:
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO rule_matches VALUES (%s, %s, %s, %s, %s)",
                               [(decision_id, tenant_id, m.rule_id, int(m.applied), at) for m in matches])


def _insert_feedback(connection: psycopg.Connection, record: FeedbackRecord) -> int | RouterError:
    """One feedback of a logged decision, or AlreadyExists when the decision has one."""
    row = feedback_row(record)
    added = connection.execute(insert("feedback", row, "ON CONFLICT (decision_id) DO NOTHING RETURNING seq"),
                               tuple(row.values())).fetchone()
    if added is None:
        expired = connection.execute("SELECT expired FROM feedback WHERE decision_id = %s",
                                     (record.decision_id,)).fetchone()[0]
        return already_answered(record.decision_id, bool(expired))
    connection.execute("UPDATE decisions SET awaiting_feedback = NULL WHERE decision_id = %s", (record.decision_id,))
    return added[0]
