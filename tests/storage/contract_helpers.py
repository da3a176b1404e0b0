"""The storage contract: what the service relies on of every backend, stated once and held against each.

A decision is durable before Route answers; feedback gets a strictly increasing sequence number,
which crash replay follows; a decision has one feedback; every read is scoped to its tenant; a
decision expires once. A new backend (PostgreSQL) joins BACKENDS, and DURABLE when its state
outlives the process, and must pass the test_contract_*.py files unchanged. Storage only: no model
is loaded.

This module holds what those files share: the backends, how one is opened, and a cached prompt.
"""

from __future__ import annotations

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
from tests.conftest import random_context

BACKENDS = ["sqlite", "memory"]
DURABLE = ["sqlite"]  # what these wrote, another opening of the same place reads
TENANTS = ["acme", "globex", "initech"]

each_backend = pytest.mark.parametrize("kind", BACKENDS)
each_durable_backend = pytest.mark.parametrize("kind", DURABLE)
examples = settings(max_examples=25, deadline=None)


# --- opening a backend --------------------------------------------------------------------------------


@contextmanager
def opened(kind: str, place: Path) -> Iterator[Storage]:
    storage = open_storage(Settings(data_dir=place, storage=kind))
    try:
        yield storage
    finally:
        for store in (storage.decisions, storage.cache, storage.rules, storage.budgets):
            store.close()


@contextmanager
def fresh(kind: str) -> Iterator[Storage]:
    """An empty storage of this backend (one per hypothesis example, so not pytest's tmp_path)."""
    with tempfile.TemporaryDirectory() as place, opened(kind, Path(place)) as storage:
        yield storage


# --- what the service stores --------------------------------------------------------------------------


def prompt(tenant: str, text: str, seed: int = 0) -> Prompt:
    vector = random_context(seed).embedding
    return Prompt(tenant, scope=f"scope-{tenant}", key=f"key-{text}", text=text, vector=vector, precise=vector)
