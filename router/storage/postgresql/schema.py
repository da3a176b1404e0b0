"""The PostgreSQL schema, which the service creates and migrates itself at start.

MIGRATIONS[n] brings a database from version n to n + 1, and `schema_version` records each version
reached. A service whose code knows fewer versions than the database has reached refuses to start: a
newer release changed the tables under it. Replicas starting together migrate under an advisory lock,
so each migration runs once. The tables keep the columns of the SQLite files (router/storage/sqlite/),
whose rows router/storage/decision_rows.py and cache_rows.py read for both: flags as 0/1 integers,
lists and metadata as JSON text, vectors as float32 bytes (bytea).
"""

from __future__ import annotations

import psycopg

from router.domain.errors import CannotStart

# An advisory lock's key (any number, as long as no other lock of the service uses it).
MIGRATION_LOCK = 0x62616E6469740001

_DECISION_LOG = """
CREATE TABLE decisions (
    decision_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    probability DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    security INTEGER NOT NULL,
    complexity DOUBLE PRECISION NOT NULL,
    cost_weight DOUBLE PRECISION NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    estimated_cost_usd DOUBLE PRECISION NOT NULL,
    candidates TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    fallbacks TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BYTEA NOT NULL,
    cache_entry_id BIGINT,
    cache_similarity DOUBLE PRECISION,
    cost_saved_usd DOUBLE PRECISION,
    baseline_cost_usd DOUBLE PRECISION NOT NULL,
    rule_id TEXT NOT NULL,
    budget_mode TEXT NOT NULL,
    awaiting_feedback INTEGER,  -- 1 until feedback arrives or the decision expires
    expired_at DOUBLE PRECISION,
    escalated_from TEXT NOT NULL,  -- the decision this one escalates
    security_source TEXT NOT NULL,  -- why it is a security task: hint, rule, detector
    security_probability DOUBLE PRECISION NOT NULL
);
CREATE INDEX decisions_by_tenant_time ON decisions (tenant_id, created_at);
-- Only decisions still awaiting feedback: finding the overdue ones stays cheap however long the log grows.
CREATE INDEX decisions_awaiting ON decisions (created_at) WHERE awaiting_feedback = 1;
CREATE TABLE feedback (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE REFERENCES decisions (decision_id),
    created_at DOUBLE PRECISION NOT NULL,
    quality DOUBLE PRECISION NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    error INTEGER NOT NULL,
    reward DOUBLE PRECISION NOT NULL,
    actual_cost_usd DOUBLE PRECISION NOT NULL,
    baseline_cost_usd DOUBLE PRECISION NOT NULL,
    expired INTEGER NOT NULL,  -- 1: no feedback came; the tenant's expired_quality was learned in its place
    not_called INTEGER NOT NULL,  -- 1: the model was never called; nothing learned, nothing spent
    time_to_first_token_ms DOUBLE PRECISION,  -- a streamed answer's first chunk
    overrun_usd DOUBLE PRECISION NOT NULL  -- reported cost beyond max_cost_overrun × estimate
);
CREATE TABLE rule_matches (
    decision_id TEXT NOT NULL,  -- no decision when a rule blocked the request
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    applied INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rule_matches_by_rule ON rule_matches (tenant_id, rule_id);
CREATE TABLE anomalies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    team TEXT NOT NULL,
    hour_start DOUBLE PRECISION NOT NULL,
    spend_usd DOUBLE PRECISION NOT NULL,
    expected_usd DOUBLE PRECISION NOT NULL,
    z DOUBLE PRECISION NOT NULL,
    detected_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX anomalies_by_tenant_time ON anomalies (tenant_id, detected_at);
CREATE TABLE storage_probe (id INTEGER PRIMARY KEY, checked_at DOUBLE PRECISION NOT NULL);
-- The log's id, made with it: a log emptied or replaced by another has a new one.
CREATE TABLE log_identity (log_id TEXT NOT NULL);
INSERT INTO log_identity (log_id) VALUES (replace(gen_random_uuid()::text, '-', ''));
"""

_CACHE = """
CREATE TABLE cache_entries (
    entry_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    answer TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    last_used DOUBLE PRECISION NOT NULL,
    vector BYTEA NOT NULL,
    precise BYTEA,
    profile TEXT,  -- a sealed prompt's redacted guard profile, as JSON; NULL while it keeps its text
    guard_profile TEXT
);
CREATE INDEX cache_entries_by_tenant ON cache_entries (tenant_id);
CREATE TABLE cache_pending (
    decision_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    vector BYTEA NOT NULL,
    precise BYTEA,
    profile TEXT
);
CREATE INDEX cache_pending_by_time ON cache_pending (created_at);
CREATE TABLE cache_ratings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    similarity DOUBLE PRECISION NOT NULL,
    good INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
-- The key of the sealed prompts' hashes, which must live as long as they do.
CREATE TABLE cache_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
"""

_DOCUMENTS = """
CREATE TABLE rules (
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);
CREATE TABLE budgets (
    tenant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,  -- the list of budgets, as the config file writes them
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE models (
    tenant_id TEXT NOT NULL,  -- DEPLOYMENT: models are every tenant's
    model_id TEXT NOT NULL,
    body TEXT NOT NULL,  -- the model as the registry file writes it, or {"retired": true}
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, model_id)
);
"""

# Version 2: every replica watches the same spend and raises the same alert; the first one kept is the
# alert (the detector raises at most one per scope and hour).
_ALERTS_ONCE = """
CREATE UNIQUE INDEX anomalies_once ON anomalies (tenant_id, team, hour_start);
"""

# Version 3: budgets every replica reserves on (budget_counters.py). A counter is named by its budget's
# scope and period, not its amount; a reservation lists the counters its amount is held on.
_BUDGET_COUNTERS = """
CREATE TABLE budget_counters (
    scope TEXT NOT NULL,  -- "acme", "acme/team=search"
    period TEXT NOT NULL,  -- daily, monthly
    period_key TEXT NOT NULL,  -- the UTC day "2026-11-22" or month "2026-11"
    spent DOUBLE PRECISION NOT NULL,
    reserved DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, period, period_key)
);
CREATE TABLE budget_reservations (
    decision_id TEXT PRIMARY KEY,
    keys JSONB NOT NULL,  -- [[scope, period, period_key], …]: the counters its amount is reserved on
    amount DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX budget_reservations_by_expiry ON budget_reservations (expires_at);
"""

# Version 4: identical requests in flight (in_flight.py). A decision keeps its request's key and the
# leader it followed; a claim is the leader's, and at most one unanswered claim per tenant and key. And
# the cost advisor's recommendations' statuses, as documents, and its retry-storm alerts.
_IN_FLIGHT = """
ALTER TABLE decisions ADD COLUMN prompt_key TEXT, ADD COLUMN duplicate_of TEXT;
CREATE TABLE in_flight (
    decision_id TEXT PRIMARY KEY,  -- the leader
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    answered INTEGER NOT NULL,  -- 1: the leader's feedback came in
    answer TEXT  -- what its followers are served (NULL: they call the model themselves)
);
CREATE UNIQUE INDEX in_flight_one_leader ON in_flight (tenant_id, key) WHERE answered = 0;
CREATE INDEX in_flight_by_expiry ON in_flight (expires_at);
CREATE TABLE waste_alerts (
    tenant_id TEXT NOT NULL,
    team TEXT NOT NULL,
    feature TEXT NOT NULL,
    caller TEXT NOT NULL,
    trigger TEXT NOT NULL,  -- burst or error_repeat
    first_decision_id TEXT NOT NULL,  -- the storm's first call: it keeps one alert however often it is seen
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION NOT NULL,
    calls BIGINT NOT NULL,
    wasted_usd DOUBLE PRECISION NOT NULL,
    detected_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, first_decision_id)
);
CREATE TABLE advice (
    tenant_id TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    body TEXT NOT NULL,  -- its status, what was applied, and the evidence and estimate when it was decided
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, recommendation_id)
);
"""

MIGRATIONS = [_DECISION_LOG + _CACHE + _DOCUMENTS, _ALERTS_ONCE, _BUDGET_COUNTERS, _IN_FLIGHT]


def migrate(connection: psycopg.Connection, shown: str) -> None:
    """Bring the database at `shown` (its URI without password) to this code's schema, in one
    transaction; CannotStart if it is already past it."""
    known = len(MIGRATIONS)
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                           "migrated_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        found = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if found > known:
            raise CannotStart(f"storage: the PostgreSQL database at {shown} has schema version {found}, and this "
                              f"banditroute knows versions up to {known}: upgrade it, or use another database")
        for version in range(found + 1, known + 1):
            connection.execute(MIGRATIONS[version - 1])
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
