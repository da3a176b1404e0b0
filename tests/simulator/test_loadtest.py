"""The load generator against a real in-process server, and against nothing at all."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from router.transport.server import RunningServer
from simulator.loadtest import FEEDBACK, ROUTE, Acknowledgements, LoadReport, run_loadtest


@pytest.fixture
def server(make_service):
    running = RunningServer(make_service(sqlite_synchronous="NORMAL", auth={"enabled": False}), 0)
    yield running
    running.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RefuseEveryCall(grpc.GenericRpcHandler):
    """A server that answers every method with UNAUTHENTICATED and remembers the authorization sent."""

    def __init__(self):
        self.authorizations = []

    def service(self, handler_call_details):
        self.authorizations.append(dict(handler_call_details.invocation_metadata).get("authorization"))
        return grpc.unary_unary_rpc_method_handler(self._refuse)

    def _refuse(self, request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "refused")


@pytest.fixture
def refusing_server():
    handler = RefuseEveryCall()
    server = grpc.server(ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, handler
    server.stop(0).wait()


def assert_counts_add_up(report: LoadReport) -> None:
    for name, rpc in report.rpcs.items():
        assert rpc.sent == rpc.ok + sum(rpc.errors.values()), name
    assert report.rpcs[ROUTE].ok == len(report.acks.routed)
    assert report.rpcs[FEEDBACK].ok == len(report.acks.feedback)
    # Feedback only follows a Route that returned OK.
    assert report.rpcs[FEEDBACK].sent <= report.rpcs[ROUTE].ok


def test_closed_loop_load_is_counted_and_every_acknowledged_call_is_in_the_log(server):
    acks = Acknowledgements()
    report = run_loadtest(f"127.0.0.1:{server.port}", clients=4, rps=0, duration=2.0, feedback_share=0.5,
                          acks=acks)

    assert report.acks is acks
    assert_counts_add_up(report)
    route, feedback = report.rpcs[ROUTE], report.rpcs[FEEDBACK]
    assert route.ok > 0 and feedback.ok > 0 and not route.errors and not feedback.errors
    for rpc in (route, feedback):
        latency = rpc.latency_ms
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert rpc.ok_per_s == pytest.approx(rpc.ok / report.duration_s)

    log = server.service.decision_log
    for decision_id in acks.routed:
        decision, _ = log.decision(decision_id)
        assert decision.tenant_id == "loadtest"
    settled = {e.decision_id: e for e in log.ledger("loadtest", 0, time.time() + 1) if e.settled_at is not None}
    assert {ack.decision_id for ack in acks.feedback} == set(settled)
    for ack in acks.feedback:
        entry = settled[ack.decision_id]
        assert (entry.quality, entry.input_tokens, entry.output_tokens) == (
            ack.quality, ack.input_tokens, ack.output_tokens)

    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json == report.to_dict()
    assert as_json["acks"]["routed"] == acks.routed
    assert "Route" in report.table() and "Feedback" in report.table()


def test_open_loop_sends_by_schedule_and_accounts_for_every_slot(server):
    report = run_loadtest(f"127.0.0.1:{server.port}", clients=2, rps=10, duration=1.0, feedback_share=1.0)

    assert_counts_add_up(report)
    assert report.scheduled == 10
    assert report.rpcs[ROUTE].sent + report.unsent == report.scheduled
    assert 0 <= report.late <= report.rpcs[ROUTE].sent
    assert "slots due" in report.table()


def test_errors_are_counted_by_status_code_when_nothing_listens():
    report = run_loadtest(f"127.0.0.1:{closed_port()}", clients=4, rps=0, duration=1.0)

    assert_counts_add_up(report)
    route = report.rpcs[ROUTE]
    assert route.sent > 0 and route.ok == 0
    assert route.errors == {"UNAVAILABLE": route.sent}
    assert route.latency_ms == {} and report.rpcs[FEEDBACK].sent == 0
    assert report.acks == Acknowledgements()


def test_every_call_carries_the_api_key(refusing_server):
    port, handler = refusing_server
    report = run_loadtest(f"127.0.0.1:{port}", clients=2, rps=0, duration=0.5, api_key="secret")

    route = report.rpcs[ROUTE]
    assert route.sent > 0 and route.errors == {"UNAUTHENTICATED": route.sent}
    assert handler.authorizations == ["Bearer secret"] * route.sent


def test_stop_ends_the_run_early():
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    report = run_loadtest(f"127.0.0.1:{closed_port()}", clients=2, rps=5, duration=60.0, stop=stop)

    assert report.duration_s < 30
    assert report.rpcs[ROUTE].sent + report.unsent == report.scheduled
