"""What operators watch. A Prometheus scrape after traffic shows what happened: routes by tenant,
model and reason, cache hits and misses, feedback and its reward, spend, budgets' room, learner
updates, and each call's latency by method and status. At debug level each decision is a log line,
one JSON object with --log-format json."""

from __future__ import annotations

import json
import urllib.request

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from router.process import ServerProcess
from router.types import FeedbackRequest
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
    assert value("banditroute_budget_remaining_usd", {"tenant": "acme", "scope": "acme", "period": "daily"}) == \
        pytest.approx(5 - spent - reserved)


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
    assert samples[("banditroute_rpc_seconds_count", (("code", "OK"), ("method", "Route")))] == 4
    assert samples[("banditroute_rpc_seconds_count", (("code", "OK"), ("method", "Feedback")))] == 1
    assert samples[("banditroute_rpc_seconds_count", (("code", "NOT_FOUND"), ("method", "Feedback")))] == 1
    routes = sum(v for (name, _), v in samples.items() if name == "banditroute_routes_total")
    assert routes == 4
    assert samples[("banditroute_learner_updates_total", ())] == 1


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
