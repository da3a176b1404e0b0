"""Opening the stores a deployment's `storage` setting names."""

from __future__ import annotations

from contextlib import ExitStack, closing
from pathlib import Path

from router.config import Settings
from router.storage import BUDGETS, RULES, Storage
from router.storage.memory import memory_storage
from router.storage.sqlite.cache_entries import CacheStore
from router.storage.sqlite.decisions import SQLiteDecisionLog
from router.storage.sqlite.documents import SQLiteDocuments


def open_storage(settings: Settings) -> Storage:
    """`sqlite` (the embedded default): a file per store under data_dir. `memory`: nothing outlives
    the process. The cache's store is opened only when the cache is on."""
    if settings.storage == "memory":
        return memory_storage(settings.cache.enabled)
    return _sqlite_storage(settings)


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
        budgets = SQLiteDocuments(data_dir / "budgets.sqlite", BUDGETS)
        opened.pop_all()
    return Storage(decisions=decisions, cache=cache, rules=rules, budgets=budgets)
