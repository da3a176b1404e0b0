"""Clients over the generated stub: `RouterClient` (blocking) and `AsyncRouterClient` (asyncio).

Both carry the API key on every call, give each call a deadline, and retry a call that failed with
UNAVAILABLE (the server was unreachable, restarting or draining) with exponential backoff, inside
that deadline; no other status is retried, so a refusal is never repeated. gRPC's own retry policy
does the retrying. A retried Route whose first attempt did reach the server leaves one decision
without feedback, which expires; a retried Feedback whose first attempt was learned answers
ALREADY_EXISTS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router import wire
from router.generated import router_pb2, router_pb2_grpc
from router.types import FeedbackRequest, RouteRequest


API_KEY_ENV = "BANDITROUTE_API_KEY"


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries an API key (none without a key)."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def channel_options(attempts: int) -> list[tuple[str, object]]:
    """Channel options that retry every Router call up to `attempts` times in all on UNAVAILABLE only."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, not {attempts}")
    if attempts == 1:
        return [("grpc.enable_retries", 0)]
    policy = {"maxAttempts": attempts, "initialBackoff": "0.1s", "maxBackoff": "2s", "backoffMultiplier": 2,
              "retryableStatusCodes": ["UNAVAILABLE"]}
    service = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name
    config = {"methodConfig": [{"name": [{"service": service}], "retryPolicy": policy}]}
    return [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config))]


class RouterClient:
    def __init__(self, addr: str, timeout: float = 30.0, api_key: str | None = None, attempts: int = 4):
        """timeout: each call's deadline in seconds, retries included. api_key: the key every call
        carries; $BANDITROUTE_API_KEY when not given. attempts: tries in all on UNAVAILABLE (gRPC
        caps them at 5)."""
        self.addr = addr
        self.timeout = timeout
        self._channel = grpc.insecure_channel(addr, options=channel_options(attempts))
        self._stub = _Authorized(router_pb2_grpc.RouterStub(self._channel),
                                 auth_metadata(api_key or os.environ.get(API_KEY_ENV)))

    def route(self, request: RouteRequest) -> dict:
        response = self._stub.Route(wire.route_request_to_pb(request), timeout=self.timeout)
        return wire.route_response_to_dict(response)

    def route_batch(self, requests: list[RouteRequest]) -> list[dict]:
        """Each prompt's decision, in order, or the status code's name and message that refused it."""
        response = self._stub.RouteBatch(_route_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, wire.route_response_to_dict)

    def feedback(self, request: FeedbackRequest) -> dict:
        response = self._stub.Feedback(wire.feedback_request_to_pb(request), timeout=self.timeout)
        return _feedback_response_to_dict(response)

    def feedback_batch(self, requests: list[FeedbackRequest]) -> list[dict]:
        """Each feedback's outcome, in order: its reward and cost, or the status code's name and
        message that refused it."""
        response = self._stub.FeedbackBatch(_feedback_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, _feedback_response_to_dict)

    def invalidate_cache(self, tenant_id: str) -> int:
        """Drop a tenant's cached answers; returns how many there were."""
        request = router_pb2.InvalidateCacheRequest(tenant_id=tenant_id)
        return self._stub.InvalidateCache(request, timeout=self.timeout).entries_removed

    def list_rules(self, tenant_id: str) -> router_pb2.ListRulesResponse:
        return self._stub.ListRules(router_pb2.ListRulesRequest(tenant_id=tenant_id), timeout=self.timeout)

    def put_rule(self, tenant_id: str, rule: dict) -> router_pb2.RuleState:
        """Add or replace a rule given as the config file writes it."""
        message = json_format.ParseDict(rule, router_pb2.Rule())
        return self._stub.PutRule(router_pb2.PutRuleRequest(tenant_id=tenant_id, rule=message), timeout=self.timeout)

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        self._stub.DeleteRule(router_pb2.DeleteRuleRequest(tenant_id=tenant_id, rule_id=rule_id), timeout=self.timeout)

    def set_budgets(self, tenant_id: str, budgets: list[dict]) -> router_pb2.SetBudgetsResponse:
        """Replace the tenant's budgets set over gRPC, given as the config file writes them."""
        messages = [json_format.ParseDict({k: v for k, v in b.items() if v is not None}, router_pb2.Budget())
                    for b in budgets]
        request = router_pb2.SetBudgetsRequest(tenant_id=tenant_id, budgets=messages)
        return self._stub.SetBudgets(request, timeout=self.timeout)

    def stats(self, tenant_id: str, since: float = 0.0, until: float = 0.0,
              group_by: str = "") -> router_pb2.StatsResponse:
        request = router_pb2.StatsRequest(tenant_id=tenant_id, since_unix=since, until_unix=until, group_by=group_by)
        return self._stub.Stats(request, timeout=self.timeout)

    def export_ledger(self, tenant_id: str, since: float = 0.0, until: float = 0.0) -> Iterator[router_pb2.LedgerEntry]:
        """The settled calls of the window, streamed (no deadline: an export may be long)."""
        request = router_pb2.ExportLedgerRequest(tenant_id=tenant_id, since_unix=since, until_unix=until)
        return self._stub.ExportLedger(request)

    def wait_until_serving(self, timeout: float) -> None:
        """Block until the health service says SERVING; raises grpc.FutureTimeoutError otherwise."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)
        health_stub = health_pb2_grpc.HealthStub(self._channel)
        response = health_stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"{self.addr} is not serving (status {response.status})")

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncRouterClient:
    """The calls a backend makes on its request path, for asyncio: `async with AsyncRouterClient(addr)`."""

    def __init__(self, addr: str, timeout: float = 30.0, api_key: str | None = None, attempts: int = 4):
        """As RouterClient's."""
        self.addr = addr
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(addr, options=channel_options(attempts))
        self._stub = _Authorized(router_pb2_grpc.RouterStub(self._channel),
                                 auth_metadata(api_key or os.environ.get(API_KEY_ENV)))

    async def route(self, request: RouteRequest) -> dict:
        response = await self._stub.Route(wire.route_request_to_pb(request), timeout=self.timeout)
        return wire.route_response_to_dict(response)

    async def route_batch(self, requests: list[RouteRequest]) -> list[dict]:
        response = await self._stub.RouteBatch(_route_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, wire.route_response_to_dict)

    async def feedback(self, request: FeedbackRequest) -> dict:
        response = await self._stub.Feedback(wire.feedback_request_to_pb(request), timeout=self.timeout)
        return _feedback_response_to_dict(response)

    async def feedback_batch(self, requests: list[FeedbackRequest]) -> list[dict]:
        response = await self._stub.FeedbackBatch(_feedback_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, _feedback_response_to_dict)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class _Authorized:
    """The stub, with the key's metadata added to every call."""

    def __init__(self, stub: router_pb2_grpc.RouterStub, metadata: tuple[tuple[str, str], ...]):
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, method: str):
        call = getattr(self._stub, method)
        return lambda request, **kwargs: call(request, metadata=self._metadata, **kwargs)


def _feedback_response_to_dict(response: router_pb2.FeedbackResponse) -> dict:
    return {"reward": response.reward, "actual_cost_usd": response.actual_cost_usd}


def _feedback_batch_to_pb(requests: list[FeedbackRequest]) -> router_pb2.FeedbackBatchRequest:
    return router_pb2.FeedbackBatchRequest(feedbacks=[wire.feedback_request_to_pb(r) for r in requests])


def _route_batch_to_pb(requests: list[RouteRequest]) -> router_pb2.RouteBatchRequest:
    return router_pb2.RouteBatchRequest(requests=[wire.route_request_to_pb(r) for r in requests])


def _outcomes_to_dicts(response, to_dict) -> list[dict]:
    """A batch's outcomes: each response as a dict, or {"code": status name, "message": why}."""
    return [to_dict(o.response) if o.code == 0 else {"code": status_name(o.code), "message": o.message}
            for o in response.outcomes]


def status_name(code: int) -> str:
    """The name of a gRPC status code given as its number (as a FeedbackOutcome carries it)."""
    return _CODE_NAMES.get(code, str(code))


_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
