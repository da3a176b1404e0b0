"""PostgreSQL stopped under a running replica: Route and Feedback answer UNAVAILABLE within seconds (never
INTERNAL, never past their deadline), health turns NOT_SERVING, and once the database is back the replica
serves again by itself, with nothing acknowledged lost. A server of its own, stopped for ten seconds."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.client import RouterClient
from router.client.process import ServerProcess
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest
from router.storage.postgresql.connection import WAIT_SECONDS
from router.transport.auth import key_hash

pytestmark = pytest.mark.slow

KEY = "br_outage_test_key"
OUTAGE_SECONDS = 10.0


def ask(n: int) -> RouteRequest:
    return RouteRequest("acme", (ChatMessage("user", f"Question {n}: what is the capital of Chile?"),))


def health(server: ServerProcess) -> int:
    with grpc.insecure_channel(server.addr) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status


def test_a_database_stopped_for_ten_seconds_is_unavailable_quickly_and_served_again_when_back(tmp_path):
    from simulator.postgres import create_database, postgres_server

    with tempfile.TemporaryDirectory(prefix="banditroute-pg-") as place:
        with postgres_server(Path(place), durable=False) as uri:
            config = tmp_path / "config.yaml"
            config.write_text(yaml.safe_dump({"storage": create_database(uri, "outage"), "auth": {
                "keys": [{"name": "test", "sha256": key_hash(KEY), "admin": True}]}}))
            server = ServerProcess(tmp_path / "replica", config)
            client = RouterClient(server.addr, api_key=KEY, timeout=20, attempts=1)
            before = client.route(ask(0))
        try:
            # The database is down: each call is refused as unavailable, well inside its deadline.
            refusals, stopped_at = [], time.monotonic()
            while time.monotonic() - stopped_at < OUTAGE_SECONDS:
                started = time.monotonic()
                with pytest.raises(grpc.RpcError) as refused:
                    client.route(ask(len(refusals) + 1))
                refusals.append((refused.value.code(), time.monotonic() - started))
            with pytest.raises(grpc.RpcError) as refused:
                client.feedback(FeedbackRequest(before["decision_id"], 0.9))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert {code for code, _ in refusals} == {grpc.StatusCode.UNAVAILABLE}
            assert max(seconds for _, seconds in refusals) < 2 * WAIT_SECONDS + 2  # a pool wait and a connect
            assert health(server) == health_pb2.HealthCheckResponse.NOT_SERVING

            with postgres_server(Path(place), durable=False):
                # Back: the replica serves again by itself, and what it acknowledged before is there.
                deadline = time.monotonic() + 30
                while health(server) != health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
                    time.sleep(0.2)
                client.feedback(FeedbackRequest(before["decision_id"], 0.9))
                after = client.route(ask(999))
                client.feedback(FeedbackRequest(after["decision_id"], 0.8))
                assert client.stats("acme")["total"]["calls"] == 2
                server.stop()
        finally:
            client.close()
            if server.process.poll() is None:
                server.kill()
