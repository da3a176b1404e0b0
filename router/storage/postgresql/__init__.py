"""The stores in one PostgreSQL database, which many replicas of the service can share: psycopg 3 and
its connection pool (the `postgresql` extra, imported only when a deployment's storage is a
postgresql:// URI). One module per store, as in router/storage/sqlite/: decisions, cache_entries,
documents, and budget_counters and in_flight, which SQLite keeps in memory; connection.py holds the pool and the
errors, schema.py the tables and their migrations."""

from __future__ import annotations

from router.storage import ADVICE, BUDGETS, MODELS, RULES, Storage
from router.storage.postgresql.budget_counters import PostgresBudgetCounters
from router.storage.postgresql.cache_entries import PostgresCacheEntries
from router.storage.postgresql.connection import Database
from router.storage.postgresql.decisions import PostgresDecisionLog
from router.storage.postgresql.documents import PostgresDocuments
from router.storage.postgresql.in_flight import PostgresInFlight


def postgresql_storage(uri: str, cache_enabled: bool, max_connections: int) -> Storage:
    """Every store in the database at `uri` (its schema created or migrated first), sharing a pool of
    at most `max_connections`; the cache's store only when the cache is on."""
    db = Database(uri, max_connections)
    try:
        return Storage(decisions=PostgresDecisionLog(db), cache=PostgresCacheEntries(db) if cache_enabled else None,
                       rules=PostgresDocuments(db, RULES), budgets=PostgresDocuments(db, BUDGETS),
                       models=PostgresDocuments(db, MODELS), advice=PostgresDocuments(db, ADVICE),
                       budget_counters=PostgresBudgetCounters(db),
                       in_flight=PostgresInFlight(db))
    except BaseException:
        db.close()  # a store that failed to open leaves no pool behind
        raise
