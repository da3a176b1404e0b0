"""The Python clients: a call that fails UNAVAILABLE is tried again within its deadline, no other
failure is, and every call carries the API key. Against a stand-in server that fails on cue. And
every answer comes in one style: a dict of every field, None for an optional one left unset."""

from __future__ import annotations

import asyncio
from concurrent import futures

import grpc
import pytest

from router.client import AsyncRouterClient, RouterClient
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest
from router.generated import router_pb2, router_pb2_grpc
from router.transport.wire import message_to_dict, route_response_to_dict

REQUEST = RouteRequest("acme", (ChatMessage("user", "What is the capital of Peru?"),))


class FailingRouter(router_pb2_grpc.RouterServicer):
    """Answers each Route and Feedback with `failures` first, then OK; records the keys it saw."""

    def __init__(self, failures: list[grpc.StatusCode]):
        self.failures = failures
        self.calls = 0
        self.keys: list[str | None] = []

    def Route(self, request, context):
        self._fail_on_cue(context)
        return router_pb2.RouteResponse(decision_id="d" * 32, model="gpt-4o-mini")

    def Feedback(self, request, context):
        self._fail_on_cue(context)
        return router_pb2.FeedbackResponse(reward=0.5, actual_cost_usd=0.001)

    def _fail_on_cue(self, context: grpc.ServicerContext) -> None:
        self.calls += 1
        self.keys.append(dict(context.invocation_metadata()).get("authorization"))
        if self.calls <= len(self.failures):
            context.abort(self.failures[self.calls - 1], "on cue")


@pytest.fixture
def serve():
    servers = []

    def start(failures: list[grpc.StatusCode]) -> tuple[FailingRouter, str]:
        router = FailingRouter(failures)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        router_pb2_grpc.add_RouterServicer_to_server(router, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return router, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def route_sync(addr: str, **options) -> dict:
    with RouterClient(addr, timeout=10, api_key="br_test", **options) as client:
        return client.route(REQUEST)


def route_async(addr: str, **options) -> dict:
    async def call():
        async with AsyncRouterClient(addr, timeout=10, api_key="br_test", **options) as client:
            return await client.route(REQUEST)

    return asyncio.run(call())


@pytest.mark.parametrize("route", [route_sync, route_async])
def test_unavailable_is_tried_again_and_the_call_succeeds(serve, route):
    router, addr = serve([grpc.StatusCode.UNAVAILABLE] * 2)
    assert route(addr)["model"] == "gpt-4o-mini"
    assert router.calls == 3
    assert router.keys == ["Bearer br_test"] * 3


@pytest.mark.parametrize("route", [route_sync, route_async])
@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_any_other_failure_is_not_tried_again(serve, route, code):
    router, addr = serve([code])
    with pytest.raises(grpc.RpcError) as raised:
        route(addr)
    assert raised.value.code() == code
    assert router.calls == 1


@pytest.mark.parametrize("route", [route_sync, route_async])
def test_retries_stop_after_the_attempts_allowed(serve, route):
    router, addr = serve([grpc.StatusCode.UNAVAILABLE] * 10)
    with pytest.raises(grpc.RpcError) as raised:
        route(addr, attempts=3)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert router.calls == 3


def test_one_attempt_means_no_retry(serve):
    router, addr = serve([grpc.StatusCode.UNAVAILABLE])
    with pytest.raises(grpc.RpcError):
        route_sync(addr, attempts=1)
    assert router.calls == 1


def test_feedback_is_retried_alike(serve):
    router, addr = serve([grpc.StatusCode.UNAVAILABLE])
    with RouterClient(addr, timeout=10, api_key="br_test") as client:
        assert client.feedback(FeedbackRequest("d" * 32, 0.9)) == {"reward": 0.5, "actual_cost_usd": 0.001,
                                                                    "overrun_usd": 0.0}
    assert router.calls == 2


def test_attempts_below_one_are_refused():
    with pytest.raises(ValueError, match="attempts must be >= 1, not 0"):
        RouterClient("127.0.0.1:1", attempts=0)


# --- one style for every answer ---------------------------------------------------------------------


def test_an_answer_has_every_field_counts_as_ints_and_none_for_an_unset_optional_one():
    entry = message_to_dict(router_pb2.LedgerEntry(decision_id="d" * 32, input_tokens=2**40, cost_usd=0.5))
    assert set(entry) == {field.name for field in router_pb2.LedgerEntry.DESCRIPTOR.fields}
    assert entry["input_tokens"] == 2**40 and entry["output_tokens"] == 0 and entry["team"] == ""
    assert entry["quality"] is None and entry["time_to_first_token_ms"] is None
    assert message_to_dict(router_pb2.LedgerEntry(quality=0.0))["quality"] == 0.0, "set to zero is not unset"

    stats = message_to_dict(router_pb2.StatsResponse(total=router_pb2.Figures(calls=3, model_mix={"gpt-4o": 3})))
    assert (stats["total"]["calls"], stats["total"]["model_mix"]) == (3, {"gpt-4o": 3})
    assert stats["total"]["mean_quality"] is None and stats["groups"] == []
    assert message_to_dict(router_pb2.StatsResponse())["total"] is None, "an unset sub-message is None too"


@pytest.mark.parametrize("quality_bar", [0.7, None])
def test_a_route_answer_is_in_the_style_of_every_other(quality_bar):
    message = router_pb2.RouteResponse(
        decision_id="d" * 32, model="gpt-4o", reason=router_pb2.cache_hit, fallback_models=["gpt-4o-mini"],
        estimated_input_tokens=12, budget_mode=router_pb2.economy, quality_bar=quality_bar,
        plan=[router_pb2.PlanStep(role="draft", model="kimi-k2", provider="groq")])
    assert route_response_to_dict(message) == message_to_dict(message)
