"""Backpressure: a server with every worker busy and its queue full refuses a call at once with
RESOURCE_EXHAUSTED, instead of letting it wait until the client's deadline."""

from __future__ import annotations

import threading
import time

import grpc

from router.generated import router_pb2 as pb
from router.generated import router_pb2_grpc
from router.transport.server import RunningServer


def test_calls_beyond_the_limit_are_refused_before_any_admitted_call_finishes(make_service):
    service = make_service(max_workers=1, max_concurrent_rpcs=2, sqlite_synchronous="NORMAL",
                           auth={"enabled": False})
    release = threading.Event()
    route = service.route

    def held_route(request):
        release.wait(30)  # every admitted call is held until the test has seen the refusals
        return route(request)

    service.route = held_route
    running = RunningServer(service, 0)
    finished: list[grpc.StatusCode] = []  # in the order the answers arrived
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            request = pb.RouteRequest(tenant_id="acme", messages=[pb.ChatMessage(role="user", content="Hello!")])
            calls = [stub.Route.future(request, timeout=60) for _ in range(8)]
            for call in calls:
                call.add_done_callback(lambda done: finished.append(done.code()))
            deadline = time.monotonic() + 30
            while len(finished) < 6 and time.monotonic() < deadline:
                time.sleep(0.01)
            release.set()
            for call in calls:
                call.exception()
    finally:
        release.set()
        running.stop()
    assert finished[:6] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 6, finished
    assert finished[6:] == [grpc.StatusCode.OK] * 2
