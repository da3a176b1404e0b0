"""End to end: the real server on a free port, driven over gRPC, stopped and restarted."""

import json
import os
import subprocess
import sys
from collections import Counter

import grpc
import pytest
import yaml
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from router.client.process import ServerProcess
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, RouteRequest

pytestmark = pytest.mark.slow

CAPITALS = ["France", "Japan", "Kenya", "Peru", "Norway", "Vietnam", "Egypt", "Chile", "Canada", "Poland",
            "Ghana", "Nepal", "Spain", "Brazil", "India", "Iceland", "Mexico", "Turkey", "Greece", "Cuba"]

# A small world: for these questions the budget model is as good as the premium one, though the
# registry's priors say it is much worse. The router must find that out from feedback alone.
TINY_REGISTRY = {
    "baseline_model": "big",
    "models": [
        {"id": "big", "provider": "p1", "tier": "premium", "input_per_1m": 10, "output_per_1m": 50,
         "context_window": 100000, "max_output_tokens": 4000, "quality_prior": {"chat": 0.95}},
        {"id": "medium", "provider": "p2", "tier": "mid", "input_per_1m": 2, "output_per_1m": 8,
         "context_window": 100000, "max_output_tokens": 4000, "quality_prior": {"chat": 0.75}},
        {"id": "small", "provider": "p3", "tier": "budget", "input_per_1m": 0.2, "output_per_1m": 0.8,
         "context_window": 100000, "max_output_tokens": 4000, "quality_prior": {"chat": 0.60}},
    ],
}
TRUE_QUALITY = {"big": 0.95, "medium": 0.70, "small": 0.95}


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    # Every category reads the same prior column here, so what the classifier says does not matter.
    for model in TINY_REGISTRY["models"]:
        prior = model["quality_prior"]["chat"]
        model["quality_prior"] = {c: prior for c in ("chat", "content", "analysis", "coding", "reasoning", "creative")}
    (root / "models.yaml").write_text(yaml.safe_dump(TINY_REGISTRY))
    (root / "config.yaml").write_text(yaml.safe_dump(
        {"registry_path": str(root / "models.yaml"), "default_cost_weight": 0.3, "sqlite_synchronous": "NORMAL"}))
    return root


def ask(country: str, **fields) -> RouteRequest:
    return RouteRequest("acme", (ChatMessage("user", f"What is the capital of {country}?"),), **fields)


def test_route_learn_restart_and_feedback_across_the_restart(tiny_world):
    data_dir, config = tiny_world / "data", tiny_world / "config.yaml"
    with ServerProcess(data_dir, config) as server, server.client() as client:
        # Before any feedback the priors rule: the budget model is only explored.
        before = Counter(client.route(ask(c))["model"] for c in CAPITALS)
        assert before["small"] <= 6, before
        chosen = []
        for i in range(300):
            decision = client.route(ask(CAPITALS[i % len(CAPITALS)]))
            chosen.append(decision["model"])
            client.feedback(FeedbackRequest(decision["decision_id"], TRUE_QUALITY[decision["model"]]))
        late = Counter(chosen[-100:])
        assert late["small"] >= 70, f"after 200 feedbacks the budget model should carry the questions: {late}"

        pending = client.route(ask("Morocco"))
        answered = client.route(ask("Finland"))
        client.feedback(FeedbackRequest(answered["decision_id"], 0.9))
        assert server.stop() == 0, "SIGTERM must stop the server cleanly"

    with ServerProcess(data_dir, config) as server, server.client() as client:
        result = client.feedback(FeedbackRequest(pending["decision_id"], 1.0, input_tokens=10, output_tokens=20))
        assert result["reward"] <= 1.0 and result["actual_cost_usd"] > 0
        with pytest.raises(grpc.RpcError) as again:
            client.feedback(FeedbackRequest(answered["decision_id"], 0.9))
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # Learning survived the restart: the budget model still carries the questions.
        after = Counter(client.route(ask(c))["model"] for c in CAPITALS)
        assert after["small"] >= 14, after


@pytest.fixture(scope="module")
def server(tiny_world):
    with ServerProcess(tiny_world / "data-errors", tiny_world / "config.yaml") as running:
        yield running


@pytest.mark.parametrize(
    "request_, field",
    [
        (RouteRequest("acme", ()), "messages"),
        (RouteRequest("acme", (ChatMessage("user", "x" * 100_001),)), "messages"),
        (ask("Laos", cost_weight=-1.0), "cost_weight"),
        (ask("Laos", constraints=Constraints(allowed_models=("gpt-9",))), "constraints.allowed_models"),
        (ask("Laos", constraints=Constraints(max_cost_usd=1e-12)), "constraints.max_cost_usd"),
    ],
)
def test_bad_routes_are_invalid_argument_naming_the_field(server, request_, field):
    with server.client() as client, pytest.raises(grpc.RpcError) as raised:
        client.route(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(field)


@pytest.mark.parametrize(
    "feedback, code",
    [
        (FeedbackRequest("no-such-id", 0.5), grpc.StatusCode.NOT_FOUND),
        (FeedbackRequest("any", 1.2), grpc.StatusCode.INVALID_ARGUMENT),
        (FeedbackRequest("any", 0.5, output_tokens=-3), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_bad_feedback_gets_the_right_status(server, feedback, code):
    with server.client() as client, pytest.raises(grpc.RpcError) as raised:
        client.feedback(feedback)
    assert raised.value.code() == code


def test_a_feedback_batch_answers_each_feedback_with_its_own_status(server):
    with server.client() as client:
        decision_id = client.route(ask("Laos"))["decision_id"]
        outcomes = client.feedback_batch([FeedbackRequest(decision_id, 0.8), FeedbackRequest("no-such-id", 0.5),
                                          FeedbackRequest(decision_id, 0.8)])
        assert outcomes[0]["actual_cost_usd"] > 0
        assert [o.get("code") for o in outcomes[1:]] == ["NOT_FOUND", "ALREADY_EXISTS"]
        with pytest.raises(grpc.RpcError) as raised:
            client.feedback_batch([])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("feedbacks")


def test_a_route_batch_answers_each_prompt_with_its_own_status(server):
    with server.client() as client:
        outcomes = client.route_batch([ask("Laos"), ask("Laos", cost_weight=-1.0), ask("Chile")])
        assert outcomes[0]["model"] and outcomes[2]["model"]
        assert outcomes[0]["decision_id"] != outcomes[2]["decision_id"]
        assert outcomes[1]["code"] == "INVALID_ARGUMENT" and outcomes[1]["message"].startswith("cost_weight")
        assert client.feedback(FeedbackRequest(outcomes[2]["decision_id"], 0.9))["reward"] > 0


def test_an_escalation_over_grpc_names_the_decision_it_escalates(server):
    with server.client() as client:
        first = client.route(ask("Laos", constraints=Constraints(allowed_models=("small",))))
        escalated = client.route(ask("Laos", escalate_from=first["decision_id"]))
        assert (escalated["reason"], escalated["escalated_from"]) == ("escalation", first["decision_id"])
        assert escalated["model"] in ("medium", "big") and escalated["quality_bar"] is None
        with pytest.raises(grpc.RpcError) as raised:
            client.route(ask("Laos", escalate_from=client.route(ask("Laos", constraints=Constraints(
                allowed_models=("big",))))["decision_id"]))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_reflection_lists_the_service_and_describes_its_calls(server):
    with grpc.insecure_channel(server.addr) as channel:
        reflected = ProtoReflectionDescriptorDatabase(channel)
        services = reflected.get_services()
        route = DescriptorPool(reflected).FindServiceByName("banditroute.v1.Router").methods_by_name["Route"]
    assert "banditroute.v1.Router" in services and "grpc.health.v1.Health" in services
    assert (route.input_type.full_name, route.output_type.full_name) == (
        "banditroute.v1.RouteRequest", "banditroute.v1.RouteResponse")


def test_the_cli_routes_and_feeds_back_as_json(server):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "router.cli.main", "--api-key", server.dev_key, *args],
                              capture_output=True, text=True, timeout=60)

    routed = cli("route", "--addr", server.addr, "--prompt", "What is the capital of Chad?")
    assert routed.returncode == 0, routed.stderr
    decision = json.loads(routed.stdout)
    assert decision["model"] in {"big", "medium", "small"} and decision["reason"] == "bandit"
    fed = cli("feedback", "--addr", server.addr, "--decision-id", decision["decision_id"], "--quality", "0.8")
    assert fed.returncode == 0, fed.stderr
    assert set(json.loads(fed.stdout)) == {"reward", "actual_cost_usd", "overrun_usd"}
    refused = cli("feedback", "--addr", server.addr, "--decision-id", decision["decision_id"], "--quality", "2")
    assert refused.returncode == 1 and "INVALID_ARGUMENT: quality" in refused.stderr


def test_the_cli_without_a_key_says_how_to_give_one(server):
    keyless = subprocess.run([sys.executable, "-m", "router.cli.main", "route", "--addr", server.addr, "--prompt", "Hi"],
                             capture_output=True, text=True, timeout=60, env=_without("BANDITROUTE_API_KEY"))
    assert keyless.returncode == 1
    assert "UNAUTHENTICATED: no API key" in keyless.stderr and "--api-key" in keyless.stderr


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != name}
