"""The storage contract: what the service relies on of every backend, stated once and held against each.

A decision is durable before Route answers; feedback gets a strictly increasing sequence number,
which crash replay follows; a decision has one feedback; every read is scoped to its tenant; a
decision expires once. A backend is in BACKENDS, and in DURABLE when its state outlives the process,
and passes the test_contract_*.py files unchanged. Storage only: no model is loaded.

`kind`, the backend's parameter, is a fixture (conftest.py beside this): the backend's storage
setting. PostgreSQL's is the URI of a database on the session's throwaway server, and each place
its stores are opened at is a database of its own there: a fresh storage is an empty database.

This module holds what those files share: the backends, how one is opened, and a cached prompt.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

from router.cache.entries import Prompt
from router.config import Settings
from router.storage import Storage
from router.storage.backends import open_storage
from simulator.postgres import create_database, database_uri, drop_database
from tests.conftest import random_context

BACKENDS = ["sqlite", "memory", "postgresql"]
DURABLE = ["sqlite", "postgresql"]  # what these wrote, another opening of the same place reads
TENANTS = ["acme", "globex", "initech"]

each_backend = pytest.mark.parametrize("kind", BACKENDS, indirect=True)
each_durable_backend = pytest.mark.parametrize("kind", DURABLE, indirect=True)
examples = settings(max_examples=25, deadline=None)


# --- opening a backend --------------------------------------------------------------------------------


@contextmanager
def opened(kind: str, place: Path) -> Iterator[Storage]:
    storage = open_storage(Settings(data_dir=place, storage=_database_at(kind, place) if _served(kind) else kind))
    try:
        yield storage
    finally:
        close_all(storage)


def close_all(storage: Storage) -> None:
    """Every store the storage opened (the cache's only when the cache is on)."""
    for store in vars(storage).values():
        if store is not None:
            store.close()


@contextmanager
def fresh(kind: str) -> Iterator[Storage]:
    """An empty storage of this backend (one per hypothesis example, so not pytest's tmp_path)."""
    with tempfile.TemporaryDirectory() as place, opened(kind, Path(place)) as storage:
        yield storage
    if _served(kind):
        drop_database(kind, _database_name(Path(place)))


def _served(kind: str) -> bool:
    """Whether the backend is a database server's: `kind` is then the URI of a database on it."""
    return kind.startswith("postgresql://")


def _database_at(server: str, place: Path) -> str:
    """The URI of the database that stands for `place` on the server, made the first time."""
    from psycopg.errors import DuplicateDatabase

    try:
        return create_database(server, _database_name(place))
    except DuplicateDatabase:
        return database_uri(server, _database_name(place))


def _database_name(place: Path) -> str:
    return "at_" + hashlib.sha256(str(place).encode()).hexdigest()[:20]


# --- what the service stores --------------------------------------------------------------------------


def prompt(tenant: str, text: str, seed: int = 0) -> Prompt:
    vector = random_context(seed).embedding
    return Prompt(tenant, scope=f"scope-{tenant}", key=f"key-{text}", text=text, vector=vector, precise=vector)
