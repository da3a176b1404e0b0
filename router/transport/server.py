"""The gRPC edge: protobuf in, the domain service, protobuf out; domain errors become status codes."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from router.config import Settings, TlsSettings
from router.domain.errors import (AlreadyExists, Blocked, FailedPrecondition, InvalidArgument, NotFound,
                                  PermissionDenied, ResourceExhausted, RouterError, StorageUnavailable, Unauthenticated)
from router.generated import router_pb2, router_pb2_grpc
from router.reading.reader import build_reader
from router.service import RouterService, open_service
from router.service.metrics import SERVER_STREAM, UNARY, RpcMetrics
from router.transport import wire
from router.transport.auth import DEV_KEY_FILE, KeyRing, Principal

log = logging.getLogger(__name__)

SERVICE_NAME = "banditroute.v1.Router"

_STATUS = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Blocked: grpc.StatusCode.PERMISSION_DENIED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    # Nothing of the call was kept: the client may send it again, here or to another replica.
    StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
}


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Each call: who is calling (its key), may it act for the request's tenant, then the service."""

    def __init__(self, service: RouterService, keys: KeyRing,
                 storage_failed: Callable[[StorageUnavailable], None] = lambda error: None):
        self.service = service
        self.keys = keys
        self.storage_failed = storage_failed  # told of every call that storage refused

    def Route(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id)
            return wire.decision_to_pb(self.service.route(wire.route_request_from_pb(request)))

    def RouteBatch(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            caller = self._caller(context)
            for tenant_id in {r.tenant_id for r in request.requests}:
                caller.authorize(tenant_id)
            outcomes = self.service.route_batch([wire.route_request_from_pb(r) for r in request.requests])
            return router_pb2.RouteBatchResponse(
                outcomes=[_outcome_to_pb(o, router_pb2.RouteOutcome, wire.decision_to_pb) for o in outcomes])

    def Feedback(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            # The request names no tenant: the decision must be one of the caller's tenant's.
            tenant = self._caller(context).tenant
            record = self.service.feedback(wire.feedback_request_from_pb(request), tenant)
            return wire.feedback_record_to_pb(record)

    def FeedbackBatch(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            tenant = self._caller(context).tenant
            outcomes = self.service.feedback_batch([wire.feedback_request_from_pb(f) for f in request.feedbacks],
                                                   tenant)
            return router_pb2.FeedbackBatchResponse(
                outcomes=[_outcome_to_pb(o, router_pb2.FeedbackOutcome, wire.feedback_record_to_pb) for o in outcomes])

    def Recommendations(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id)
            found = self.service.recommendations(request.tenant_id, request.since_unix, request.until_unix,
                                                 request.include_dismissed)
            return router_pb2.RecommendationsResponse(recommendations=[wire.recommendation_to_pb(d) for d in found])

    def DecideRecommendation(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id, admin=True)
            ab_share = request.ab_share if request.HasField("ab_share") else None
            decided = self.service.decide_recommendation(request.tenant_id, request.recommendation_id, request.action,
                                                         ab_share, request.since_unix, request.until_unix)
            return wire.recommendation_to_pb(decided)

    def LeaderAnswer(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            tenant = self._caller(context).tenant  # as Feedback: the decision must be the caller's tenant's
            return wire.leader_answer_to_pb(self.service.leader_answer(request.decision_id, tenant))

    def InvalidateCache(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id, admin=True)
            return router_pb2.InvalidateCacheResponse(entries_removed=self.service.invalidate_cache(request.tenant_id))

    def ListRules(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id)
            states = self.service.rule_states(request.tenant_id)
            return router_pb2.ListRulesResponse(rules=[wire.rule_state_to_pb(s) for s in states])

    def PutRule(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id, admin=True)
            rule = self.service.put_rule(request.tenant_id, wire.rule_doc_from_pb(request.rule))
            state, = (s for s in self.service.rule_states(request.tenant_id) if s.rule.id == rule.id)
            return wire.rule_state_to_pb(state)

    def DeleteRule(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id, admin=True)
            self.service.delete_rule(request.tenant_id, request.rule_id)
            return router_pb2.DeleteRuleResponse()

    def SetBudgets(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id, admin=True)
            statuses = self.service.set_budgets(request.tenant_id, wire.budget_docs_from_pb(request.budgets))
            return router_pb2.SetBudgetsResponse(budgets=wire.budget_statuses_to_pb(statuses))

    def Stats(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id)
            since, until = self._window(request)
            return wire.stats_to_pb(self.service.stats(request.tenant_id, since, until, request.group_by,
                                                       request.forecast_days))

    def ExportLedger(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize(request.tenant_id)
            since, until = self._window(request)
            for entry in self.service.ledger(request.tenant_id, since, until):
                yield wire.ledger_entry_to_pb(entry)

    def ListModels(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context)  # any known key may read them
            return wire.models_to_pb(self.service.models())

    def PutModel(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize_deployment()
            return wire.model_to_pb(self.service.put_model(wire.model_doc_from_pb(request.model)))

    def RetireModel(self, request, context):
        with _status_from_errors(context, self.storage_failed):
            self._caller(context).authorize_deployment()
            self.service.retire_model(request.model_id)
            return router_pb2.RetireModelResponse()

    def _caller(self, context: grpc.ServicerContext) -> Principal:
        # Not a dict: it kept the last of several entries, so which key acted depended on their order.
        keys = [value for name, value in context.invocation_metadata() if name == "authorization"]
        if len(keys) > 1:
            raise Unauthenticated(f"the call carries {len(keys)} authorization metadata entries; "
                                  "send exactly one 'authorization: Bearer <key>'")
        return self.keys.authenticate(keys[0] if keys else None)

    def _window(self, request) -> tuple[float, float]:
        """[since, until) from the request: until 0 means now."""
        return request.since_unix, request.until_unix or self.service.clock()


def _parsing_handlers(servicer: RouterServicer) -> grpc.GenericRpcHandler:
    """The servicer's methods, each parsing its own request: bytes that are no valid message (bad
    UTF-8, truncated) are INVALID_ARGUMENT, where the generated handlers' deserializer would make
    gRPC answer INTERNAL before any of our code ran. Each call is counted and timed for the metrics."""
    service = router_pb2.DESCRIPTOR.services_by_name["Router"]
    metrics = servicer.service.metrics
    handlers = {}
    for method in service.methods:
        behaviour = _parsed(getattr(servicer, method.name), message_factory.GetMessageClass(method.input_type))
        if method.server_streaming:
            rpc = metrics.rpc(service.full_name, method.name, SERVER_STREAM)
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _counted_stream(behaviour, rpc), response_serializer=_serialize)
        else:
            rpc = metrics.rpc(service.full_name, method.name, UNARY)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _counted(behaviour, rpc), response_serializer=_serialize)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _counted(behaviour, rpc: RpcMetrics):
    def count_the_call(body: bytes, context: grpc.ServicerContext):
        rpc.started()
        start, failed = time.perf_counter(), False
        try:
            return behaviour(body, context)
        except BaseException:
            failed = True
            raise
        finally:
            rpc.handled(_final_code(context, failed).name, time.perf_counter() - start)

    return count_the_call


def _counted_stream(behaviour, rpc: RpcMetrics):
    """A streaming call is handled when its last message is sent, it fails, or the client goes away."""
    def count_the_stream(body: bytes, context: grpc.ServicerContext):
        rpc.started()
        start, failed, code = time.perf_counter(), False, None
        try:
            yield from behaviour(body, context)
        except GeneratorExit:
            # gRPC drops the stream unfinished only when the client cancelled or its deadline passed.
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            failed = True
            raise
        finally:
            rpc.handled((code or _final_code(context, failed)).name, time.perf_counter() - start)

    return count_the_stream


def _final_code(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    """The status the client gets: what the call set (an abort sets it before raising), else OK, or
    UNKNOWN, gRPC's answer to an exception that set none."""
    return context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)


def _parsed(behaviour, request_type):
    def parse_then_call(body: bytes, context: grpc.ServicerContext):
        try:
            request = request_type.FromString(body)
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a valid {request_type.DESCRIPTOR.name}: {exc}")
        return behaviour(request, context)

    return parse_then_call


def _serialize(message) -> bytes:
    return message.SerializeToString()


@contextmanager
def _status_from_errors(context: grpc.ServicerContext, storage_failed: Callable[[StorageUnavailable], None]):
    """Turn a domain error into its gRPC status code, with the error's message."""
    try:
        yield
    except RouterError as exc:
        if isinstance(exc, StorageUnavailable):
            storage_failed(exc)
        context.abort(_status_of(exc), str(exc))


def _status_of(error: RouterError) -> grpc.StatusCode:
    return _STATUS.get(type(error), grpc.StatusCode.FAILED_PRECONDITION)


def _outcome_to_pb(outcome: object, outcome_type, to_pb):
    """One item of a batch: its response, or the status and message it would have got alone."""
    if isinstance(outcome, RouterError):
        code, _ = _status_of(outcome).value
        return outcome_type(code=code, message=str(outcome))
    return outcome_type(response=to_pb(outcome))


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, read from the configured files; None: plain text. With a client
    CA, a client must present a certificate it signed. An unreadable file raises OSError naming it."""
    if tls.cert_file is None or tls.key_file is None:
        return None
    client_ca = tls.client_ca_file.read_bytes() if tls.client_ca_file is not None else None
    return grpc.ssl_server_credentials(((tls.key_file.read_bytes(), tls.cert_file.read_bytes()),),
                                       root_certificates=client_ca, require_client_auth=client_ca is not None)


class StorageHealth:
    """Health follows storage: NOT_SERVING from a write that storage refused (a full disk) until a
    probe write succeeds, so a balancer sends calls elsewhere meanwhile and back once there is room."""

    def __init__(self, health_servicer: health.HealthServicer, check_writable: Callable[[], None],
                 interval: float = 1.0):
        self.health = health_servicer
        self.check_writable = check_writable
        self.interval = interval
        self._failing = threading.Event()

    def serving(self, ok: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def failed(self, error: StorageUnavailable) -> None:
        if not self._failing.is_set():
            self._failing.set()
            self.serving(False)
            log.error("health is NOT_SERVING until storage accepts writes again: %s", error)

    def watch(self, stopped: threading.Event) -> None:
        """Probe storage every `interval` until `stopped`: a failure is seen without any call, and the
        recovery is seen at all (a balancer sends no calls to a server that is NOT_SERVING)."""
        while not stopped.wait(self.interval):
            try:
                self.check_writable()
            except StorageUnavailable as exc:
                self.failed(exc)
                continue
            if self._failing.is_set() and not stopped.is_set():
                self._failing.clear()
                self.serving(True)
                log.warning("storage accepts writes again: health is SERVING")


class RunningServer:
    """A started gRPC server around a service; stop() drains calls, snapshots and closes the log.

    Backpressure: beyond `max_concurrent_rpcs` calls in progress or queued, gRPC refuses a call at
    once with RESOURCE_EXHAUSTED, so a client learns of overload in microseconds, not at its deadline.
    """

    def __init__(self, service: RouterService, port: int, host: str = "127.0.0.1"):
        settings = service.settings
        self.service = service
        self.keys, self.dev_key = KeyRing.from_settings(settings.auth, Path(settings.data_dir))
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.max_workers),
            options=[("grpc.max_receive_message_length", settings.limits.max_message_bytes)],
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        )
        self.health = health.HealthServicer()
        self.storage = StorageHealth(self.health, service.decision_log.check_writable)
        self.server.add_generic_rpc_handlers(
            (_parsing_handlers(RouterServicer(service, self.keys, self.storage.failed)),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        # grpcurl and other tools list and call the service without the .proto; the schema is no secret.
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        credentials = server_credentials(settings.tls)
        address = f"{host}:{port}"
        self.port = (self.server.add_secure_port(address, credentials) if credentials
                     else self.server.add_insecure_port(address))
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        self.server.start()
        self.storage.serving(True)
        self._stopped = threading.Event()
        self._upkeep = threading.Thread(target=self._expire_overdue, name="expire-overdue", daemon=True)
        self._upkeep.start()
        self._probe = threading.Thread(target=self.storage.watch, args=(self._stopped,), name="storage-probe",
                                       daemon=True)
        self._probe.start()
        self._follower = threading.Thread(target=self._follow, name="follow-replicas", daemon=True)
        if settings.shared_storage:
            self._follower.start()

    def _follow(self) -> None:
        """Take what the other replicas did, every `follow_seconds`; an outage is logged once, not each time."""
        interval, failing = self.service.settings.follow_seconds, False
        while not self._stopped.wait(interval):
            try:
                self.service.follow()
            except StorageUnavailable as exc:
                if not failing:
                    log.error("cannot follow the other replicas while storage is unavailable: %s", exc)
                failing = True
                continue
            except Exception:
                log.exception("following the other replicas failed; trying again in %.1f s", interval)
                continue
            if failing:
                log.warning("following the other replicas again")
            failing = False

    def _expire_overdue(self) -> None:
        """Expire the decisions that waited too long for feedback, and alert retry storms: at start, then
        every tenth of the wait (at most a minute apart)."""
        interval = min(60.0, self.service.settings.feedback_wait_hours * 360)
        while True:
            try:
                self.service.expire_overdue()
                self.service.watch_waste()
            except Exception:
                log.exception("expiring overdue decisions or watching for retry storms failed; trying again in "
                              "%.0f s", interval)
            if self._stopped.wait(interval):
                return

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let the ones in flight finish (up to `grace` seconds), then snapshot and close."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self._upkeep.join()
        self._probe.join()
        if self._follower.is_alive():
            self._follower.join()
        self.service.close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def serve(settings: Settings, port: int, host: str = "127.0.0.1", rebuild_learner: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then stop accepting, finish in-flight calls and snapshot."""
    reader = build_reader(settings.embedding, settings.security_recheck_above)
    running = RunningServer(open_service(settings, reader, rebuild_learner=rebuild_learner), port, host)
    if running.dev_key:
        print(f"no API keys configured: the dev admin key is {running.dev_key} (kept in "
              f"{Path(settings.data_dir) / DEV_KEY_FILE}; export BANDITROUTE_API_KEY=<key> for the CLI)", flush=True)
    if settings.metrics_port is not None:
        port = running.service.metrics.serve(settings.metrics_port, host)
        print(f"Prometheus metrics on http://{host}:{port}/metrics", flush=True)
    # The line a supervisor (or the demo) waits for; with --port 0 it is how the port is learnt.
    print(f"banditroute serving on {host}:{running.port} ({settings.tls.mode}, data in {settings.data_dir})",
          flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    running.stop()
    log.info("stopped cleanly")
