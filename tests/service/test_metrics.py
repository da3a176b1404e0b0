"""What operators watch. A Prometheus scrape after traffic shows what happened: routes by tenant,
model and reason, cache hits and misses, feedback and its reward, spend, budgets' room, learner
updates, and each gRPC call by method and status under go-grpc-prometheus's names. At debug level each
decision is a log line, one JSON object with --log-format json."""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import prometheus_client
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router.client.process import ServerProcess
from router.domain.types import FeedbackRequest
from router.service.metrics import OTHER_TENANTS, ServiceMetrics, TenantLabels
from router.transport.server import _counted_stream
from tests.conftest import user_request


def test_routes_cache_lookups_and_feedback_are_counted(make_service):
    service = make_service(tenants={"acme": {"budgets": [{"daily_usd": 5}]}})
    value = service.metrics.registry.get_sample_value
    decisions = [service.route(user_request("What is the capital of Peru?")) for _ in range(3)]
    security = service.route(user_request("Review this login code for SQL injection.", task_hint="security"))
    records = [service.feedback(FeedbackRequest(d.decision_id, 0.9, output_tokens=100)) for d in decisions[:2]]
    assert total(service, "banditroute_routes_total") == 4
    assert value("banditroute_routes_total", {"tenant": "acme", "model": security.model, "reason": "safety_floor"}) == 1
    assert value("banditroute_cache_lookups_total", {"tenant": "acme", "result": "miss"}) == 3  # security: no lookup
    assert value("banditroute_feedback_lag_seconds_count") == 2
    assert value("banditroute_reward_sum") == pytest.approx(sum(r.reward for r in records))
    spent = sum(r.actual_cost_usd for r in records)
    assert value("banditroute_spend_usd_total", {"tenant": "acme"}) == pytest.approx(spent)
    assert value("banditroute_learner_updates_total") == 2
    reserved = security.estimated_cost_usd + decisions[2].estimated_cost_usd  # no feedback yet: still held
    whole_tenant = {"tenant": "acme", "team": "", "project": "", "period": "daily"}
    assert value("banditroute_budget_remaining_usd", whole_tenant) == pytest.approx(5 - spent - reserved)


def test_tenants_past_the_cap_are_counted_as_other_and_their_budgets_left_out(make_service):
    budgets = [{"daily_usd": 5}, {"team": "search", "project": "bot", "monthly_usd": 50}]
    service = make_service(metrics_max_tenants=2, tenants={t: {"budgets": budgets} for t in ("acme", "beta", "gamma")})
    for tenant in ("acme", "beta", "gamma", "delta"):
        service.route(user_request("What is the capital of Peru?", tenant=tenant))
    routed = Counter()
    for family in service.metrics.registry.collect():
        for s in family.samples:
            if s.name == "banditroute_routes_total":
                routed[s.labels["tenant"]] += s.value
    assert routed == {"acme": 1, "beta": 1, "other": 2}
    remaining = {tuple(s.labels[k] for k in ("tenant", "team", "project", "period"))
                 for family in service.metrics.registry.collect() for s in family.samples
                 if s.name == "banditroute_budget_remaining_usd"}
    assert remaining == {(t, *scope) for t in ("acme", "beta") for scope in (("", "", "daily"),
                                                                            ("search", "bot", "monthly"))}


def test_the_tenant_cap_holds_when_many_are_first_seen_at_once():
    labels = TenantLabels(10)
    with ThreadPoolExecutor(8) as pool:
        given = list(pool.map(labels, [f"t{i}" for i in range(400)]))
    assert len(set(given) - {OTHER_TENANTS}) == 10
    assert given.count(OTHER_TENANTS) == 390
    assert all(labels(t) == t for t in set(given) - {OTHER_TENANTS})  # a named tenant keeps its value


def test_only_the_services_registry_leaves_out_created_series():
    metrics = ServiceMetrics()
    metrics.rpc("banditroute.v1.Router", "Route", "unary").started()
    exposed = generate_latest(metrics.registry).decode()
    assert "grpc_server_started_total{" in exposed and "_created" not in exposed
    assert "process_resident_memory_bytes " in exposed
    # prometheus_client's own switch is process-wide; this registry's choice must not leak into others.
    other = CollectorRegistry()
    prometheus_client.Counter("elsewhere", "A counter of another registry", registry=other).inc()
    assert "elsewhere_created " in generate_latest(other).decode()


def test_a_stream_the_client_leaves_is_handled_as_cancelled():
    metrics = ServiceMetrics()
    rpc = metrics.rpc("banditroute.v1.Router", "ExportLedger", "server_stream")
    stream = _counted_stream(lambda body, context: itertools.count(), rpc)(b"", StatusNotSet())
    assert next(stream) == 0
    stream.close()  # gRPC drops the iterator of a call whose client went away, which closes it
    labels = {"grpc_type": "server_stream", "grpc_service": "banditroute.v1.Router", "grpc_method": "ExportLedger"}
    assert metrics.registry.get_sample_value("grpc_server_started_total", labels) == 1
    assert metrics.registry.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": "CANCELLED"}) == 1


class StatusNotSet:
    """The one part of a gRPC call's context the counting reads: no status set by the call."""

    def code(self) -> None:
        return None


def total(service, name: str) -> float:
    """A counter summed over all its labels."""
    return sum(s.value for family in service.metrics.registry.collect() for s in family.samples if s.name == name)


@pytest.mark.slow
def test_the_endpoint_serves_them_with_each_calls_latency(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"metrics_port": 0}))
    with ServerProcess(tmp_path / "data", config) as server, server.client() as client:
        decision_ids = [client.route(user_request(f"Name a river in country number {i}."))["decision_id"]
                        for i in range(4)]
        client.feedback(FeedbackRequest(decision_ids[0], 0.8))
        with pytest.raises(grpc.RpcError):
            client.feedback(FeedbackRequest("no-such-decision", 0.5))
        scraped = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped) for s in family.samples}
    assert samples[handled("Route", "OK")] == 4
    assert samples[handled("Feedback", "OK")] == 1
    assert samples[handled("Feedback", "NOT_FOUND")] == 1
    assert samples[("grpc_server_handling_seconds_count", rpc_labels("Feedback"))] == 2
    routes = sum(v for (name, _), v in samples.items() if name == "banditroute_routes_total")
    assert routes == 4
    assert samples[("banditroute_learner_updates_total", ())] == 1


def rpc_labels(method: str, grpc_type: str = "unary", **more: str) -> tuple[tuple[str, str], ...]:
    labels = {"grpc_type": grpc_type, "grpc_service": "banditroute.v1.Router", "grpc_method": method, **more}
    return tuple(sorted(labels.items()))


def handled(method: str, code: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "grpc_server_handled_total", rpc_labels(method, grpc_code=code)


@pytest.mark.slow
def test_at_debug_level_each_decision_is_one_json_log_line(tmp_path):
    with ServerProcess(tmp_path / "data", log_level="DEBUG", log_format="json") as server, \
            server.client() as client:
        decision = client.route(user_request("Name three rivers in Europe."))
        with pytest.raises(grpc.RpcError):
            client.feedback(FeedbackRequest("no-such-decision", 0.5))
        assert server.stop() == 0
    lines = [json.loads(line) for line in server.output if line.startswith("{")]
    logged = [line for line in lines if line.get("decision_id") == decision["decision_id"]]
    assert len(logged) == 1
    assert logged[0]["level"] == "DEBUG" and logged[0]["model"] == decision["model"]
    assert {"time", "logger", "message", "tenant", "reason", "probability", "cache_hit"} <= set(logged[0])
