"""What PostgreSQL storage adds to the contract: the storage setting that selects it, a schema the
service makes and migrates itself, refusals at start, a database that goes away, and a whole service
on it. Each test has a database of its own on the session's throwaway server (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from router.config import Settings
from router.domain.errors import AlreadyExists, CannotStart, StorageUnavailable
from router.domain.types import FeedbackRequest
from router.storage.backends import open_storage
from tests.conftest import new_service, user_request
from tests.storage.contract_helpers import close_all


def schema_versions(uri: str) -> list[int]:
    import psycopg

    with psycopg.connect(uri) as connection:
        return [row[0] for row in connection.execute("SELECT version FROM schema_version ORDER BY version")]


# --- the storage setting --------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite", "memory", "postgresql://router:pw@db:5432/banditroute",
                                     "postgres://db/banditroute"])
def test_the_storage_setting_takes_a_backend_or_a_postgresql_uri(storage):
    assert Settings(storage=storage).storage == storage


def test_any_other_storage_is_refused_in_one_line_that_shows_no_password():
    with pytest.raises(ValidationError) as refused:
        Settings(storage="mysql://router:s3cret@db/banditroute")
    message = refused.value.errors()[0]["msg"]
    assert "must be sqlite, memory or a postgresql:// URI, not a mysql:// URI" in message
    assert "s3cret" not in message and "\n" not in message


def test_the_environment_names_the_storage_a_config_leaves_out(monkeypatch):
    monkeypatch.setenv("BANDITROUTE_STORAGE", "postgresql://db/banditroute")
    assert Settings().storage == "postgresql://db/banditroute"
    assert Settings(storage="sqlite").storage == "sqlite"
    monkeypatch.setenv("BANDITROUTE_STORAGE", "oracle")
    with pytest.raises(ValidationError, match="BANDITROUTE_STORAGE"):
        Settings()


def test_the_server_imports_no_postgresql_driver_until_a_uri_asks_for_it():
    code = ("import sys, router.service, router.transport.server; "
            "print(sorted(m for m in sys.modules if m.startswith('psycopg')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


# --- the schema -----------------------------------------------------------------------------------------


def test_the_service_makes_the_schema_once_even_when_replicas_start_together(postgres_database, tmp_path):
    with ThreadPoolExecutor(4) as replicas:
        opened = list(replicas.map(lambda _: open_storage(Settings(data_dir=tmp_path, storage=postgres_database)),
                                   range(4)))
    from router.storage.postgresql.schema import MIGRATIONS

    assert schema_versions(postgres_database) == list(range(1, len(MIGRATIONS) + 1))
    assert len({storage.decisions.identity() for storage in opened}) == 1
    for storage in opened:
        close_all(storage)


def test_a_database_with_a_newer_schema_refuses_to_start_saying_which_versions(postgres_database, tmp_path):
    import psycopg

    from router.storage.postgresql.schema import MIGRATIONS

    close_all(open_storage(Settings(data_dir=tmp_path, storage=postgres_database)))
    with psycopg.connect(postgres_database) as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(CannotStart) as refused:
        open_storage(Settings(data_dir=tmp_path, storage=postgres_database))
    message = str(refused.value)
    assert f"has schema version 99, and this banditroute knows versions up to {len(MIGRATIONS)}" in message
    assert postgres_database in message and "\n" not in message


def test_a_database_that_cannot_be_reached_at_start_refuses_to_start_naming_it_without_its_password(tmp_path):
    uri = f"postgresql://router:s3cret@/banditroute?host={tmp_path}&password=s3cret&sslmode=disable"
    with pytest.raises(CannotStart) as refused:
        open_storage(Settings(data_dir=tmp_path, storage=uri))
    message = str(refused.value)
    assert f"postgresql://router@/banditroute?host={tmp_path}&sslmode=disable cannot be used" in message
    assert "s3cret" not in message and "\n" not in message


# --- a database that goes away --------------------------------------------------------------------------


def test_a_database_that_goes_away_is_unavailable_within_seconds_and_used_again_when_back(postgres_server, tmp_path):
    from router.storage.postgresql.connection import WAIT_SECONDS
    from simulator.postgres import postgres_server as server_on

    # A server of its own, to stop and start again; as root its directory must be open to the server's user.
    with tempfile.TemporaryDirectory(prefix="banditroute-pg-") as place:
        with server_on(Path(place), durable=False) as uri:
            storage = open_storage(Settings(data_dir=tmp_path, storage=uri))
            storage.rules.put("acme", "r1", {"id": "r1"}, 1.0)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="is unavailable"):
            storage.rules.put("acme", "r2", {"id": "r2"}, 2.0)
        assert time.monotonic() - started < WAIT_SECONDS + 2
        with server_on(Path(place), durable=False):
            storage.rules.put("acme", "r2", {"id": "r2"}, 2.0)
            assert set(storage.rules.all()["acme"]) == {"r1", "r2"}
            close_all(storage)


def test_a_statement_stuck_behind_a_hung_session_is_cancelled_as_unavailable(postgres_database, tmp_path,
                                                                            monkeypatch):
    import psycopg

    from router.storage.postgresql import connection
    from router.storage.postgresql.decisions import FEEDBACK_LOCK

    monkeypatch.setattr(connection, "_STATEMENT_MILLISECONDS", 300)  # the pool's sessions are opened with it
    storage = open_storage(Settings(data_dir=tmp_path, storage=postgres_database))
    try:
        with psycopg.connect(postgres_database, autocommit=True) as hung:
            hung.execute("SELECT pg_advisory_lock(%s)", (FEEDBACK_LOCK,))  # and never lets it go
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="is unavailable"):
                storage.decisions.record_feedback([])
            assert time.monotonic() - started < 5
    finally:
        close_all(storage)


# --- a service on PostgreSQL ----------------------------------------------------------------------------


def test_a_service_on_postgresql_routes_and_learns_and_a_restart_reads_the_same_log(
        postgres_database, tmp_path, fake_embedder, fake_classifier, registry):
    service = new_service(tmp_path, fake_embedder, fake_classifier, registry, storage=postgres_database)
    decision = service.route(user_request("Write a Python function that merges two sorted lists."))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.9, input_tokens=120, output_tokens=300))
    learned = service.learner.updates
    service.close()

    restarted = new_service(tmp_path, fake_embedder, fake_classifier, registry, storage=postgres_database)
    try:
        [(_, logged, _, kept)] = list(restarted.decision_log.feedback_after(0))
        assert logged == decision and kept.quality == record.quality == 0.9
        assert restarted.learner.updates == learned == 1
        [entry] = restarted.ledger("acme", 0, time.time() + 1)
        assert (entry.decision_id, entry.settled, entry.cost_usd) == (decision.decision_id, True,
                                                                      record.actual_cost_usd)
        with pytest.raises(AlreadyExists):
            restarted.feedback(FeedbackRequest(decision.decision_id, 0.1))
    finally:
        restarted.close()
