"""Three replicas on one PostgreSQL database behave as one service: real `banditroute serve` processes on a
real PostgreSQL server (tests/conftest.py starts it). A decision made on one is answered on another and
reported alike by all; an answer cached through one is served by another and invalidated everywhere; a price
changed on one is used by another's next route once it follows (within a second: each follows every
`follow_seconds`); a replica killed under load loses nothing it acknowledged, and started again it learns back
to the same place in the feedback log as the others."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.client import AsyncRouterClient, RouterClient
from router.client.process import ServerProcess, servers_side_by_side
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, RouteRequest
from router.transport.auth import key_hash
from simulator.probes import learned_seq, routes_answered  # read off each replica's Prometheus metrics

pytestmark = pytest.mark.slow

KEY = "br_replicas_e2e_test_key"
TENANT = "acme"
TWINS = "twins"  # its identical requests in flight follow the first, on whichever replica
PATIENCE = 10.0  # seconds a replica may take to follow, far past the ~0.2 s it takes: the figure is the benchmark's


def ask(text: str, **fields) -> RouteRequest:
    return RouteRequest(TENANT, (ChatMessage("user", text),), **fields)


@pytest.fixture(scope="module")
def deployment(postgres_server, tmp_path_factory) -> Iterator[tuple[Path, list[ServerProcess]]]:
    """Three replicas of one deployment: one database, one config, one key; each its own data directory."""
    from simulator.postgres import create_database, drop_database

    name = f"replicas_{uuid.uuid4().hex[:12]}"
    root = tmp_path_factory.mktemp("replicas")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({
        "storage": create_database(postgres_server, name), "metrics_port": 0,
        "auth": {"keys": [{"name": "test", "sha256": key_hash(KEY), "admin": True}]},
        "tenants": {TWINS: {"dedup_seconds": 60}},
    }))
    with servers_side_by_side([root / f"replica-{i}" for i in range(3)], config) as servers:
        yield config, servers
    drop_database(postgres_server, name)


@pytest.fixture(scope="module")
def replicas(deployment) -> list[ServerProcess]:
    return deployment[1]


def client_of(*servers: ServerProcess) -> RouterClient:
    return RouterClient([server.addr for server in servers], api_key=KEY)


def eventually(check: Callable[[], object]) -> object:
    """The first true result of `check`, tried until PATIENCE has passed (then its last result)."""
    deadline = time.monotonic() + PATIENCE
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_a_client_given_every_replicas_address_spreads_its_routes_over_all(replicas):
    before = [routes_answered(server) for server in replicas]
    with client_of(*replicas) as client:
        for n in range(30):
            client.route(ask(f"Question {n}: what is the capital of Peru?"))
    made = [routes_answered(server) - earlier for server, earlier in zip(replicas, before)]
    assert sum(made) == 30 and all(made), made


def test_the_asyncio_client_and_the_cli_take_the_addresses_as_a_comma_separated_list(replicas):
    addresses = ",".join(server.addr for server in replicas)

    async def route() -> dict:
        async with AsyncRouterClient(addresses, api_key=KEY) as client:
            return await client.route(ask("What is the capital of Chad?"))

    assert asyncio.run(route())["model"]
    routed = subprocess.run([sys.executable, "-m", "router.cli.main", "--api-key", KEY, "route", "--addr", addresses,
                             "--tenant", TENANT, "--prompt", "What is the capital of Chad?"],
                            capture_output=True, text=True, timeout=60)
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout)["model"]


def test_a_decision_made_on_one_replica_is_answered_on_another_and_reported_alike_by_all(replicas):
    a, b, c = replicas
    with client_of(a) as on_a, client_of(b) as on_b:
        decision = on_a.route(ask("What is the tallest mountain in Africa?"))
        on_b.feedback(FeedbackRequest(decision["decision_id"], 0.9, input_tokens=40, output_tokens=120))
    reports = []
    for server in replicas:
        with client_of(server) as client:
            stats = client.stats(TENANT)
            ledger = sorted(entry["decision_id"] for entry in client.export_ledger(TENANT))
        reports.append((stats["total"], ledger))
    assert reports[0] == reports[1] == reports[2]
    assert decision["decision_id"] in reports[0][1]


def test_an_answer_cached_through_one_replica_is_served_by_another_and_invalidation_reaches_every_one(replicas):
    a, b, c = replicas
    question = "What is the default port of Redis?"
    with client_of(a) as on_a, client_of(b) as on_b, client_of(c) as on_c:
        first = on_a.route(ask(question))
        on_a.feedback(FeedbackRequest(first["decision_id"], 0.95, response_text="6379."))
        hit = eventually(lambda: (routed := on_b.route(ask(question)))["cache_hit"] and routed)
        assert hit and hit["cached_response"] == "6379."
        assert on_c.invalidate_cache(TENANT) >= 1
        for client in (on_a, on_b):
            assert eventually(lambda: not client.route(ask(question))["cache_hit"])


def test_a_price_changed_on_one_replica_is_used_by_the_next_route_on_another(replicas):
    a, _, c = replicas
    only_gpt_4o = Constraints(allowed_models=("gpt-4o",))
    with client_of(a) as on_a, client_of(c) as on_c:
        model = next(m for m in on_a.list_models()["models"] if m["id"] == "gpt-4o")
        on_a.put_model({**model, "input_per_1m": 25.0, "output_per_1m": 100.0})
        assert eventually(lambda: any(m["id"] == "gpt-4o" and m["output_per_1m"] == 100.0
                                      for m in on_c.list_models()["models"]))
        routed = on_c.route(ask("Name three rivers of Peru.", constraints=only_gpt_4o))
    tokens = routed["estimated_input_tokens"], routed["estimated_output_tokens"]
    assert routed["estimated_cost_usd"] == pytest.approx((tokens[0] * 25.0 + tokens[1] * 100.0) / 1e6)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit_usd=st.floats(0.0005, 0.02), words=st.lists(st.integers(5, 400), min_size=64, max_size=64))
def test_64_concurrent_routes_spread_over_the_replicas_never_pass_a_budget(replicas, limit_usd, words):
    """Each example a tenant of its own (a fresh counter); prompts of various lengths, so various costs."""
    tenant = f"budget-{uuid.uuid4().hex[:8]}"
    with client_of(replicas[0]) as admin:
        admin.set_budgets(tenant, [{"daily_usd": limit_usd}])
    # The budget reaches the other replicas when they follow (within follow_seconds); until then they
    # route without it. The test is about the shared counter, so it waits for every replica to hold it.
    for server in replicas:
        with client_of(server) as client:
            assert eventually(lambda: client.stats(tenant)["budgets"])

    def route(n: int) -> float | None:
        request = RouteRequest(tenant, (ChatMessage("user", f"Request {n}: " + "summarise this " * words[n]),))
        try:
            return client.route(request)["estimated_cost_usd"]
        except grpc.RpcError as refused:
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
            return None

    with client_of(*replicas) as client, futures.ThreadPoolExecutor(max_workers=16) as pool:
        costs = list(pool.map(route, range(64)))
    routed = [cost for cost in costs if cost is not None]
    assert sum(routed) <= limit_usd * (1 + 1e-9)
    with client_of(replicas[1]) as reporter:
        status, = reporter.stats(tenant)["budgets"]
    assert status["reserved_usd"] == pytest.approx(sum(routed))


def test_identical_requests_sent_to_every_replica_at_once_follow_one_leader_served_by_any(replicas):
    clients = [client_of(server) for server in replicas]
    request = RouteRequest(TWINS, (ChatMessage("user", "Which port does the billing service listen on?"),))
    with futures.ThreadPoolExecutor(12) as pool:
        decisions = list(pool.map(lambda i: clients[i % 3].route(request), range(12)))
    leaders = [d for d in decisions if not d["duplicate_of"]]
    assert len(leaders) == 1
    assert {d["duplicate_of"] for d in decisions if d["duplicate_of"]} == {leaders[0]["decision_id"]}
    follower = next(d for d in decisions if d["duplicate_of"])
    assert clients[0].leader_answer(follower["decision_id"])["state"] == "waiting"
    clients[1].feedback(FeedbackRequest(leaders[0]["decision_id"], 0.9, response_text="Port 8443."))
    answers = [clients[i % 3].leader_answer(d["decision_id"]) for i, d in enumerate(decisions) if d["duplicate_of"]]
    assert {(a["state"], a["answer"]) for a in answers} == {("answered", "Port 8443.")}
    for client in clients:
        client.close()


def test_a_replica_killed_under_load_loses_nothing_acknowledged_and_comes_back_to_the_same_policy(deployment):
    """The module's last test: it kills a replica, and starts it again on the same data directory for itself."""
    config, replicas = deployment
    victim = replicas[2]
    acknowledged_routes, acknowledged_feedback = [], []

    def route_and_answer(n: int, client: RouterClient) -> None:
        decision = client.route(ask(f"Question {n}: how many moons does Mars have?"))
        acknowledged_routes.append(decision["decision_id"])
        try:
            client.feedback(FeedbackRequest(decision["decision_id"], 0.8, input_tokens=20, output_tokens=60))
        except grpc.RpcError as error:
            # Logged by the replica as it died, its answer lost; gRPC's retry on another finds it logged.
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        acknowledged_feedback.append(decision["decision_id"])

    with client_of(*replicas) as client, futures.ThreadPoolExecutor(max_workers=8) as pool:
        calls = [pool.submit(route_and_answer, n, client) for n in range(120)]
        calls[40].result()
        victim.kill()
        failures = [call.exception() for call in calls if call.exception() is not None]
    # A call the dead replica had taken but not answered failed UNAVAILABLE and was retried on another.
    assert failures == []
    with client_of(replicas[0]) as survivor:
        settled = {entry["decision_id"] for entry in survivor.export_ledger(TENANT)}
        for decision_id in set(acknowledged_routes) - set(acknowledged_feedback):
            survivor.feedback(FeedbackRequest(decision_id, 0.8))  # NotFound here would be a lost decision
    assert set(acknowledged_feedback) <= settled
    assert len(acknowledged_feedback) == 120

    with ServerProcess(victim.data_dir, config) as restarted:
        again = [*replicas[:2], restarted]
        assert eventually(lambda: len({learned_seq(server) for server in again}) == 1)
        assert learned_seq(restarted) > 0
