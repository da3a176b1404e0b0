"""The decision log's tables: made on a new file, extended on one an older release wrote, and the
log's identity row."""

from __future__ import annotations

import sqlite3
import uuid

from router.storage.sqlite.connection import add_missing_columns

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
    security_probability REAL,
    prompt_key TEXT,  -- a digest of tenant and conversation: identical requests share it
    duplicate_of TEXT  -- the decision in flight for the same request that this one followed
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
CREATE TABLE IF NOT EXISTS waste_alerts (
    tenant_id TEXT NOT NULL,
    team TEXT NOT NULL,
    feature TEXT NOT NULL,
    caller TEXT NOT NULL,
    trigger TEXT NOT NULL,  -- burst or error_repeat
    first_decision_id TEXT NOT NULL,  -- the storm's first call: it keeps one alert however often it is seen
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    calls INTEGER NOT NULL,
    wasted_usd REAL NOT NULL,
    detected_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, first_decision_id)
);
CREATE TABLE IF NOT EXISTS storage_probe (
    id INTEGER PRIMARY KEY,  -- one row, rewritten by check_writable
    checked_at REAL NOT NULL,
    room BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_identity (
    log_id TEXT NOT NULL  -- one row, made with the log: learner snapshots name the log they learned from
);
"""

# Columns added after the first release, with their types: a log written before them is extended.
_LATER_COLUMNS = {
    "decisions": {"cache_entry_id": "INTEGER", "cache_similarity": "REAL", "cost_saved_usd": "REAL",
                  "baseline_cost_usd": "REAL", "rule_id": "TEXT", "budget_mode": "TEXT",
                  "awaiting_feedback": "INTEGER", "expired_at": "REAL", "escalated_from": "TEXT",
                  "security_source": "TEXT", "security_probability": "REAL", "prompt_key": "TEXT",
                  "duplicate_of": "TEXT"},
    "feedback": {"baseline_cost_usd": "REAL", "expired": "INTEGER", "not_called": "INTEGER",
                 "time_to_first_token_ms": "REAL", "overrun_usd": "REAL"},
}


def create_tables(db: sqlite3.Connection) -> None:
    """The log's tables and indexes, with the columns a log written before them lacks."""
    db.executescript(SCHEMA)
    add_missing_columns(db, _LATER_COLUMNS)
    # Only decisions still awaiting feedback are indexed, so finding the overdue ones stays cheap
    # however long the log grows. (A log written before the column has no expiry for its old rows.)
    db.execute("CREATE INDEX IF NOT EXISTS decisions_awaiting ON decisions (created_at) "
               "WHERE awaiting_feedback = 1")


def log_id(db: sqlite3.Connection) -> str:
    """The log's id, made on first open (a log older than ids gets one then, and keeps it)."""
    row = db.execute("SELECT log_id FROM log_identity").fetchone()
    if row is None:
        row = (uuid.uuid4().hex,)
        db.execute("INSERT INTO log_identity (log_id) VALUES (?)", row)
    return row[0]
