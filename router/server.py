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
from router.errors import (AlreadyExists, Blocked, FailedPrecondition, InvalidArgument, NotFound,
                           ResourceExhausted, RouterError)
from router.generated import router_pb2, router_pb2_grpc
from router.service import RouterService, open_service

log = logging.getLogger(__name__)

SERVICE_NAME = "banditroute.v1.Router"

_STATUS = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Blocked: grpc.StatusCode.PERMISSION_DENIED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
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

    def ListRules(self, request, context):
        with _status_from_errors(context):
            states = self.service.rule_states(request.tenant_id)
            return router_pb2.ListRulesResponse(rules=[wire.rule_state_to_pb(s) for s in states])

    def PutRule(self, request, context):
        with _status_from_errors(context):
            rule = self.service.put_rule(request.tenant_id, wire.rule_doc_from_pb(request.rule))
            state, = (s for s in self.service.rule_states(request.tenant_id) if s.rule.id == rule.id)
            return wire.rule_state_to_pb(state)

    def DeleteRule(self, request, context):
        with _status_from_errors(context):
            self.service.delete_rule(request.tenant_id, request.rule_id)
            return router_pb2.DeleteRuleResponse()

    def Stats(self, request, context):
        with _status_from_errors(context):
            since, until = self._window(request)
            return wire.stats_to_pb(self.service.stats(request.tenant_id, since, until, request.group_by))

    def ExportLedger(self, request, context):
        with _status_from_errors(context):
            since, until = self._window(request)
            for entry in self.service.ledger(request.tenant_id, since, until):
                yield wire.ledger_entry_to_pb(entry)

    def _window(self, request) -> tuple[float, float]:
        """[since, until) from the request: until 0 means now."""
        return request.since_unix, request.until_unix or self.service.clock()


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
