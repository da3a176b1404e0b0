"""Hostile and malformed input against the real gRPC server, every RPC.

Hypothesis makes the requests: huge, empty and oddly encoded strings, control and invisible
characters, NaN, infinities, negative and huge numbers, huge repeated fields, missing fields,
duplicate and unknown fields on the wire, ids that exist, ids that do not and ids of other tenants,
rule bodies with odd fields, operators, values and regexes. Valid requests are mixed in so that the
deep paths run: feedback on real decisions (then again: ALREADY_EXISTS), answers that enter the
cache and repeats it serves, rules put and then matched by routes, a budget that runs out. Every
answer must be OK or a status the caller can act on, never INTERNAL or UNKNOWN, and afterwards the
server must still be healthy.

What the wire can carry: a proto3 string is UTF-8, so a lone surrogate cannot be sent at all (the
client's serializer refuses it; validation refuses it from in-process callers); every other code
point can, NUL included. The request messages have no enum field (the enums are in responses),
so there is no unknown enum value to send. Bytes that are not a valid message at all are a
separate case (test_malformed_bytes_are_invalid_argument).

FUZZ_REQUESTS sets how many requests are sent (the default suits CI); FUZZ_REPORT, a path,
receives the outcome counts per (rpc, status) as JSON; `pytest -s` prints them.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from router.generated import router_pb2 as pb
from router.generated.router_pb2_grpc import RouterStub
from router.transport.server import SERVICE_NAME, RunningServer
from tests.conftest import new_service
from tests.transport.fuzz_requests import CALLERS, OK, SERVER_SETTINGS, WIRE_FORMS, World, calls

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2000"))
TIMEOUT_S = 30.0  # longer than this is a hung worker (a backtracking regex, a lock held)

ACCEPTED = frozenset({
    OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
})


def acceptable(code: grpc.StatusCode, details: Any) -> bool:
    """A status the caller can act on. A refusal whose message echoed too much of the request
    arrives as RESOURCE_EXHAUSTED from the client's own metadata limit: wrong, so not acceptable."""
    return code in ACCEPTED and not (code != OK and "metadata size exceeds" in details)


# --- the client ----------------------------------------------------------------------------------


class Client:
    """Calls the server with raw protobuf and counts every answer by (rpc, status)."""

    def __init__(self, channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = CALLERS["root"]):
        self.channel = channel
        self.stub = RouterStub(channel)
        self.metadata = metadata  # the metadata of calls that name no other
        self.outcomes: Counter[tuple[str, str]] = Counter()

    def call(self, rpc: str, request: Any, metadata: tuple | None = None) -> tuple[grpc.StatusCode, Any]:
        """The status, and the response (a list for the stream) or the error's details."""
        metadata = self.metadata if metadata is None else metadata
        return self._counted(rpc, lambda: getattr(self.stub, rpc)(request, metadata=metadata, timeout=TIMEOUT_S))

    def call_bytes(self, rpc: str, body: bytes, metadata: tuple | None = None) -> tuple[grpc.StatusCode, Any]:
        """Send bytes as they are, bypassing the client's serializer."""
        path = f"/{SERVICE_NAME}/{rpc}"
        method = self.channel.unary_stream(path) if rpc == "ExportLedger" else self.channel.unary_unary(path)
        metadata = self.metadata if metadata is None else metadata
        return self._counted(rpc, lambda: method(body, metadata=metadata, timeout=TIMEOUT_S))

    def _counted(self, rpc: str, send: Callable[[], Any]) -> tuple[grpc.StatusCode, Any]:
        try:
            response = send()
            if rpc == "ExportLedger":
                response = list(response)  # a stream fails while it is read
            code = OK
        except grpc.RpcError as error:
            code, response = error.code(), error.details()
        self.outcomes[rpc, code.name] += 1
        return code, response

    def healthy(self) -> bool:
        check = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                               timeout=TIMEOUT_S)
        return check.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_embedder, fake_classifier, registry):
    service = new_service(tmp_path_factory.mktemp("fuzz"), fake_embedder, fake_classifier, registry, **SERVER_SETTINGS)
    running = RunningServer(service, 0)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Client(channel)


def test_every_rpc_answers_hostile_input_with_a_status_the_caller_can_act_on(client):
    world = World()
    started = time.monotonic()
    while (remaining := REQUESTS - client.outcomes.total()) > 0:
        _fuzz(client, world, examples=remaining)
    seconds = time.monotonic() - started
    _report(client.outcomes, world.deep, seconds)

    assert client.healthy()
    assert client.outcomes["Route", "OK"] > 0 and client.outcomes["Feedback", "OK"] > 0
    # A tenant the fuzzer never touched: its rules (a block without conditions, say) are not this one's.
    fresh = pb.RouteRequest(tenant_id=f"after-fuzz-{uuid.uuid4().hex[:8]}",
                            messages=[pb.ChatMessage(role="user", content="Name a prime above 1000")])
    code, decision = client.call("Route", fresh)
    assert code == OK, decision
    code, reward = client.call("Feedback", pb.FeedbackRequest(decision_id=decision.decision_id, quality=0.7))
    assert code == OK, reward


def _fuzz(client: Client, world: World, examples: int) -> None:
    """One call per hypothesis example: long examples made hypothesis draw far less varied
    requests. The server keeps its state from one example to the next, so a failure cannot be
    replayed alone: no shrinking; the assertion says what was sent."""

    @settings(max_examples=examples, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(calls(world), st.sampled_from(list(WIRE_FORMS)), st.sampled_from(["root"] * 17 + list(CALLERS)))
    def one_call(call, wire_form, caller):
        rpc, request = call
        metadata = CALLERS[caller]
        if wire_form == "as is":
            code, response = client.call(rpc, request, metadata)
        else:
            code, response = client.call_bytes(rpc, WIRE_FORMS[wire_form](request.SerializeToString()), metadata)
            response = _parsed(rpc, response) if code == OK else response
        assert acceptable(code, response), \
            f"{rpc} ({wire_form}) answered {code.name}: {response}\n{_short(request)}"
        world.learn(rpc, request, code, response)

    one_call()


@pytest.mark.parametrize("body", [b"\x0a\x02\xff\xfe", b"\xff\xff\xff", b"\x12\x05\x0a\x01"],
                         ids=["invalid UTF-8 in tenant_id", "not protobuf", "truncated message"])
def test_malformed_bytes_are_invalid_argument(client, body):
    code, details = client.call_bytes("Route", body)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details


def test_a_lone_surrogate_cannot_be_put_on_the_wire():
    # Why the fuzzer sends none: the client refuses before anything is sent.
    with pytest.raises(UnicodeEncodeError):
        pb.RouteRequest(tenant_id="acme\ud800").SerializeToString()


def _parsed(rpc: str, body: Any) -> Any:
    """A raw call's response as the stub would have given it."""
    response_types = {"Route": pb.RouteResponse, "Feedback": pb.FeedbackResponse}
    return response_types[rpc].FromString(body) if rpc in response_types else body


def _short(request: Any, limit: int = 300) -> str:
    text = repr(request)
    return text if len(text) <= limit else f"{text[:limit]}… ({request.ByteSize()} bytes)"


def _report(outcomes: Counter[tuple[str, str]], deep: Counter[str], seconds: float) -> None:
    """Print the table of outcomes; also write it as JSON where FUZZ_REPORT says."""
    table: dict[str, dict[str, int]] = {}
    for (rpc, code), count in sorted(outcomes.items()):
        table.setdefault(rpc, {})[code] = count
    codes = sorted({code for _, code in outcomes})
    width = max(len(code) for code in codes)
    print(f"\n{outcomes.total()} requests in {seconds:.1f} s")
    print(f"{'rpc':<16}" + "".join(f"{code:>{width + 2}}" for code in codes))
    for rpc, counts in table.items():
        print(f"{rpc:<16}" + "".join(f"{counts.get(code, 0):>{width + 2}}" for code in codes))
    print(", ".join(f"{name}: {count}" for name, count in sorted(deep.items())))
    path = os.environ.get("FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps({"requests": outcomes.total(), "seconds": round(seconds, 1),
                                          "outcomes": table, "deep_paths": dict(deep)}, indent=2) + "\n")
