"""Opening the stores a deployment's `storage` setting names."""

from __future__ import annotations

from contextlib import ExitStack, closing
from pathlib import Path

from router.config import Settings
from router.domain.errors import CannotStart
from router.storage import ADVICE, BUDGETS, MODELS, RULES, Storage
from router.storage.budget_counters import MemoryBudgetCounters
from router.storage.in_flight import MemoryInFlight
from router.storage.memory import memory_storage
from router.storage.sqlite.cache_entries import CacheStore
from router.storage.sqlite.decisions import SQLiteDecisionLog
from router.storage.sqlite.documents import SQLiteDocuments

# Connections beyond one per gRPC worker: the server's background threads (expiry sweep, storage probe).
_BACKGROUND_CONNECTIONS = 4


def open_storage(settings: Settings) -> Storage:
    """`sqlite` (the embedded default): a file per store under data_dir. `memory`: nothing outlives
    the process. A postgresql:// URI: every store in that database, which replicas may share. The
    cache's store is opened only when the cache is on."""
    if settings.storage == "memory":
        return memory_storage(settings.cache.enabled)
    if settings.storage == "sqlite":
        return _sqlite_storage(settings)
    return _postgresql_storage(settings)


def _postgresql_storage(settings: Settings) -> Storage:
    try:
        # Here, not above: a server without the postgresql extra never imports psycopg.
        from router.storage.postgresql import postgresql_storage
    except ModuleNotFoundError as exc:
        if exc.name not in ("psycopg", "psycopg_pool"):
            raise
        raise CannotStart(f"storage: a postgresql:// URI needs {exc.name}, which is not installed: "
                          "pip install 'banditroute[postgresql]'") from exc
    return postgresql_storage(settings.storage, settings.cache.enabled,
                              settings.max_workers + _BACKGROUND_CONNECTIONS)


def _sqlite_storage(settings: Settings) -> Storage:
    data_dir = Path(settings.data_dir)
    with ExitStack() as opened:
        # A file refused at start (DamagedFile) leaves none of the others open.
        cache = None
        if settings.cache.enabled:
            # At its own synchronous=NORMAL, not the log's: a power cut may lose its last entries,
            # which cost only answers asked again.
            cache = opened.enter_context(closing(CacheStore(data_dir / "cache.sqlite")))
        decisions = opened.enter_context(closing(
            SQLiteDecisionLog(data_dir / "decisions.sqlite", settings.sqlite_synchronous)))
        rules = opened.enter_context(closing(SQLiteDocuments(data_dir / "rules.sqlite", RULES)))
        budgets = opened.enter_context(closing(SQLiteDocuments(data_dir / "budgets.sqlite", BUDGETS)))
        models = opened.enter_context(closing(SQLiteDocuments(data_dir / "models.sqlite", MODELS)))
        advice = SQLiteDocuments(data_dir / "advice.sqlite", ADVICE)
        opened.pop_all()
    # No file for the budget counters: one process uses these files, and at start its log rebuilds them;
    # nor for the claims of requests in flight, whose followers wait on this process.
    return Storage(decisions=decisions, cache=cache, rules=rules, budgets=budgets, models=models, advice=advice,
                   budget_counters=MemoryBudgetCounters(), in_flight=MemoryInFlight())
