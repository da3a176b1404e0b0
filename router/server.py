"""The gRPC edge: protobuf in, the domain service, protobuf out; domain errors become status codes."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from router import wire
from router.config import Settings
from router.reading import build_reader
from router.errors import AlreadyExists, InvalidArgument, NotFound, RouterError
from router.generated import router_pb2, router_pb2_grpc
from router.service import RouterService, open_service

log = logging.getLogger(__name__)

SERVICE_NAME = "banditroute.v1.Router"

_STATUS = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
}


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(self, service: RouterService):
        self.service = service

    def Route(self, request, context):
        with _status_from_errors(context):
            return wire.decision_to_pb(self.service.route(wire.route_request_from_pb(request)))

    def Feedback(self, request, context):
        with _status_from_errors(context):
            return wire.feedback_record_to_pb(self.service.feedback(wire.feedback_request_from_pb(request)))

    def InvalidateCache(self, request, context):
        with _status_from_errors(context):
            return router_pb2.InvalidateCacheResponse(entries_removed=self.service.invalidate_cache(request.tenant_id))


@contextmanager
def _status_from_errors(context: grpc.ServicerContext):
    """Turn a domain error into its gRPC status code, with the error's message."""
    try:
        yield
    except RouterError as exc:
        context.abort(_STATUS.get(type(exc), grpc.StatusCode.FAILED_PRECONDITION), str(exc))


class RunningServer:
    """A started gRPC server around a service; stop() drains calls, snapshots and closes the log."""

    def __init__(self, service: RouterService, port: int, host: str = "127.0.0.1", max_workers: int = 8):
        self.service = service
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
        router_pb2_grpc.add_RouterServicer_to_server(RouterServicer(service), self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        self.server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._stopped = threading.Event()

    def stop(self, grace: float = 5.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.service.close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def serve(settings: Settings, port: int, host: str = "127.0.0.1") -> None:
    """Run until SIGTERM or SIGINT, then stop accepting, finish in-flight calls and snapshot."""
    reader = build_reader(settings.embedding, settings.security_recheck_gap)
    running = RunningServer(open_service(settings, reader), port, host, settings.max_workers)
    # The line a supervisor (or the demo) waits for; with --port 0 it is how the port is learnt.
    print(f"banditroute serving on {host}:{running.port} (data in {settings.data_dir})", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    running.stop()
    log.info("stopped cleanly")
