"""Clients over the generated stub: `RouterClient` (blocking) and `AsyncRouterClient` (asyncio).

Both carry the API key on every call, give each call a deadline, and retry a call that failed with
UNAVAILABLE (the server was unreachable, restarting or draining) with exponential backoff, inside
that deadline; no other status is retried, so a refusal is never repeated. gRPC's own retry policy
does the retrying. A retried Route whose first attempt did reach the server leaves one decision
without feedback, which expires; a retried Feedback whose first attempt was learned answers
ALREADY_EXISTS.

Every call answers in one style, plain values shaped as the CLI's JSON prints them: a dict per
response message (a list of them for many, an iterator for a stream) keyed by the proto's field
names, counts as ints, every field present. An `optional` field left unset is None (`stats --json`
and `rules` leave it out, as protobuf's JSON does); see wire.message_to_dict. invalidate_cache gives
only its count, delete_rule nothing.

Both speak plain text unless told to use TLS (`tls=True`, a CA file, a client certificate, or the
environment variables `channel_credentials` reads), which a key crossing any network needs.

Both reach one server or several replicas of it: `addr` is one address as gRPC takes it ("host:port",
"unix:path", ...), or several as a list or a comma-separated string, or a DNS name that resolves to
every replica ("dns:///name:port"). Several addresses and a dns: name get gRPC's own `round_robin`
load balancing (see channel_target and channel_options): calls are spread over the replicas that
answer, and a call retried on UNAVAILABLE goes to another one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.domain.types import FeedbackRequest, RouteRequest
from router.generated import router_pb2, router_pb2_grpc
from router.transport import wire

API_KEY_ENV = "BANDITROUTE_API_KEY"
TLS_ENV = "BANDITROUTE_TLS"  # "1": TLS, trusting the system's roots unless a CA file is given
CA_FILE_ENV = "BANDITROUTE_CA_FILE"
CLIENT_CERT_ENV = "BANDITROUTE_CLIENT_CERT"
CLIENT_KEY_ENV = "BANDITROUTE_CLIENT_KEY"
SERVER_NAME_ENV = "BANDITROUTE_SERVER_NAME"  # the name the servers' certificates carry (see _open_channel)

# A target that already names gRPC's resolver is passed as it is. "host:port" reads as scheme:path too,
# so the schemes gRPC resolves are listed rather than any "word:" taken for one.
_GRPC_SCHEME = re.compile(r"(dns|ipv4|ipv6|unix|unix-abstract|vsock|xds|google-c2p):")


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The call metadata that carries an API key (none without a key)."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def channel_options(attempts: int, round_robin: bool = False) -> list[tuple[str, object]]:
    """Channel options that retry every Router call up to `attempts` times in all on UNAVAILABLE only,
    and with `round_robin` spread calls over every address the target resolves to (gRPC's default,
    pick_first, sends them all to the first that connects). gRPC takes one service config per channel,
    so the balancing and the retry policy share it."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, not {attempts}")
    config: dict[str, object] = {}
    if round_robin:
        config["loadBalancingConfig"] = [{"round_robin": {}}]
    if attempts > 1:
        policy = {"maxAttempts": attempts, "initialBackoff": "0.1s", "maxBackoff": "2s", "backoffMultiplier": 2,
                  "retryableStatusCodes": ["UNAVAILABLE"]}
        service = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name
        config["methodConfig"] = [{"name": [{"service": service}], "retryPolicy": policy}]
    options: list[tuple[str, object]] = [("grpc.enable_retries", int(attempts > 1))]
    if config:
        options.append(("grpc.service_config", json.dumps(config)))
    return options


def channel_credentials(tls: bool = False, ca_file: str | Path | None = None,
                        client_cert_file: str | Path | None = None,
                        client_key_file: str | Path | None = None) -> grpc.ChannelCredentials | None:
    """TLS credentials for a channel, or None for plain text. Each file left out is taken from its
    environment variable ($BANDITROUTE_CA_FILE, _CLIENT_CERT, _CLIENT_KEY); any file, `tls` or
    $BANDITROUTE_TLS=1 means TLS. Without a CA file the system's roots are trusted; a client
    certificate (PEM, with its unencrypted key) is for a server that asks for one (mutual TLS)."""
    ca_file = ca_file or os.environ.get(CA_FILE_ENV)
    client_cert_file = client_cert_file or os.environ.get(CLIENT_CERT_ENV)
    client_key_file = client_key_file or os.environ.get(CLIENT_KEY_ENV)
    if not (tls or os.environ.get(TLS_ENV) == "1" or ca_file or client_cert_file or client_key_file):
        return None
    if bool(client_cert_file) != bool(client_key_file):
        raise ValueError("a client certificate goes with its key: give both client_cert_file and client_key_file")
    return grpc.ssl_channel_credentials(root_certificates=_read(ca_file), private_key=_read(client_key_file),
                                        certificate_chain=_read(client_cert_file))


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def channel_target(addr: str | Sequence[str]) -> str:
    """The gRPC target for `addr`: one address (a string without a comma, or a list of one) as it is;
    several (a list, or a comma-separated string) as gRPC's multi-address target, "ipv4:a:p,b:q" or
    "ipv6:[a]:p,[b]:q". That target takes IP literals only, so a host name among several is refused:
    replicas behind a name are reached through one DNS name that resolves to all of them,
    "dns:///name:port", which gRPC resolves again when a replica goes away or comes back, where
    names resolved here once would freeze the set."""
    if isinstance(addr, str):
        addresses = [addr] if _GRPC_SCHEME.match(addr) else [part.strip() for part in addr.split(",")]
    else:
        addresses = [part.strip() for part in addr]
    if not addresses or not all(addresses):
        raise ValueError(f"no address in {addr!r}: give HOST:PORT, or several separated by commas")
    if len(addresses) == 1:
        return addresses[0]
    ips = [_ip_and_port(address) for address in addresses]
    if len({ip.version for ip, _ in ips}) > 1:
        raise ValueError(f"{', '.join(addresses)}: gRPC takes several IPv4 addresses or several IPv6 ones, "
                         "not both in one target")
    if ips[0][0].version == 4:
        return "ipv4:" + ",".join(f"{ip}:{port}" for ip, port in ips)
    return "ipv6:" + ",".join(f"[{ip}]:{port}" for ip, port in ips)


def _ip_and_port(address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]:
    """One of several addresses, each "a.b.c.d:port" or "[v6]:port", as its IP and port."""
    host, _, port = address.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        ip = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        raise ValueError(f"{address!r} is not IP:PORT: several addresses must be IP addresses, each with its "
                         "port; replicas behind a host name are reached through one DNS name resolving to all "
                         "of them, 'dns:///NAME:PORT'") from None
    if not port.isdigit():
        raise ValueError(f"{address!r} has no port: each of several addresses is IP:PORT")
    if ip.version == 6 and not bracketed:
        raise ValueError(f"{address!r}: write an IPv6 address in brackets, [{host}]:PORT")
    return ip, port


def _open_channel(channels, target: str, attempts: int, credentials: grpc.ChannelCredentials | None,
                  server_name: str | None):
    """A channel from `channels` (grpc or grpc.aio) to a channel_target, spreading calls with round_robin
    when the target can name several servers: a dns: name or an ipv4:/ipv6: list. TLS with
    credentials, plain text without.

    With TLS gRPC checks each server's certificate against the target's authority, which for several
    addresses is the whole list and matches no certificate, so several need `server_name`: the name
    (or IP) every replica's certificate carries. It replaces the authority (grpc.default_authority),
    which is still verified; it is never guessed, as a name picked here would be one the caller never
    vouched for."""
    options = channel_options(attempts, round_robin=target.startswith(("dns:", "ipv4:", "ipv6:")))
    if credentials is None:
        return channels.insecure_channel(target, options=options)
    server_name = server_name or os.environ.get(SERVER_NAME_ENV)
    if server_name:
        options.append(("grpc.default_authority", server_name))
    elif target.startswith(("ipv4:", "ipv6:")) and "," in target:
        raise ValueError(f"{target}: several addresses with TLS need server_name (--server-name, "
                         f"${SERVER_NAME_ENV}), the name their certificates carry")
    return channels.secure_channel(target, credentials, options=options)


class RouterClient:
    def __init__(self, addr: str | Sequence[str], timeout: float = 30.0, api_key: str | None = None,
                 attempts: int = 4, *, tls: bool = False, ca_file: str | Path | None = None,
                 client_cert_file: str | Path | None = None, client_key_file: str | Path | None = None,
                 server_name: str | None = None):
        """addr: one address ("host:port", or any gRPC target such as "dns:///name:port"), or several
        replicas' as a list or a comma-separated string ("10.0.0.1:50051,10.0.0.2:50051"), which must be
        IP addresses (see channel_target); several, or a dns: name, get round_robin, and a call retried
        on UNAVAILABLE goes to another replica. timeout: each call's deadline in seconds, retries
        included. api_key: the key every call carries; $BANDITROUTE_API_KEY when not given. attempts:
        tries in all on UNAVAILABLE (gRPC caps them at 5). tls, ca_file, client_cert_file,
        client_key_file: see channel_credentials; plain text without any. server_name: with TLS, the
        name the servers' certificates are checked against instead of the address
        ($BANDITROUTE_SERVER_NAME when not given); several addresses need it (see _open_channel)."""
        self.addr = channel_target(addr)  # what the channel dials, named in errors
        self.timeout = timeout
        self._channel = _open_channel(grpc, self.addr, attempts,
                                      channel_credentials(tls, ca_file, client_cert_file, client_key_file),
                                      server_name)
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
        return wire.message_to_dict(response)

    def feedback_batch(self, requests: list[FeedbackRequest]) -> list[dict]:
        """Each feedback's outcome, in order: its reward and cost, or the status code's name and
        message that refused it."""
        response = self._stub.FeedbackBatch(_feedback_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, wire.message_to_dict)

    def recommendations(self, tenant_id: str, since: float = 0.0, until: float = 0.0,
                        include_dismissed: bool = False) -> list[dict]:
        """The cost advisor's recommendations for a window of the tenant's ledger (0, 0: the last 30 days)."""
        request = router_pb2.RecommendationsRequest(tenant_id=tenant_id, since_unix=since, until_unix=until,
                                                    include_dismissed=include_dismissed)
        response = self._stub.Recommendations(request, timeout=self.timeout)
        return [wire.message_to_dict(r) for r in response.recommendations]

    def decide_recommendation(self, tenant_id: str, recommendation_id: str, action: str,
                              ab_share: float | None = None, since: float = 0.0, until: float = 0.0) -> dict:
        """Apply (with an A/B share), dismiss or roll back a recommendation; it as it now stands."""
        request = router_pb2.DecideRecommendationRequest(
            tenant_id=tenant_id, recommendation_id=recommendation_id, action=action, ab_share=ab_share,
            since_unix=since, until_unix=until)
        return wire.message_to_dict(self._stub.DecideRecommendation(request, timeout=self.timeout))

    def leader_answer(self, decision_id: str) -> dict:
        """What became of the decision `decision_id` follows: state (waiting, answered, call_yourself),
        leader_decision_id, answer."""
        request = router_pb2.LeaderAnswerRequest(decision_id=decision_id)
        return wire.leader_answer_to_dict(self._stub.LeaderAnswer(request, timeout=self.timeout))

    def invalidate_cache(self, tenant_id: str) -> int:
        """Drop a tenant's cached answers; returns how many there were."""
        request = router_pb2.InvalidateCacheRequest(tenant_id=tenant_id)
        return self._stub.InvalidateCache(request, timeout=self.timeout).entries_removed

    def list_rules(self, tenant_id: str) -> list[dict]:
        """The tenant's rules in the order they are tried, each a RuleState: rule, source, matched, applied,
        last_matched_unix."""
        response = self._stub.ListRules(router_pb2.ListRulesRequest(tenant_id=tenant_id), timeout=self.timeout)
        return [wire.message_to_dict(state) for state in response.rules]

    def put_rule(self, tenant_id: str, rule: dict) -> dict:
        """Add or replace a rule given as the config file writes it; returns its RuleState."""
        message = json_format.ParseDict(rule, router_pb2.Rule())
        request = router_pb2.PutRuleRequest(tenant_id=tenant_id, rule=message)
        return wire.message_to_dict(self._stub.PutRule(request, timeout=self.timeout))

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        self._stub.DeleteRule(router_pb2.DeleteRuleRequest(tenant_id=tenant_id, rule_id=rule_id), timeout=self.timeout)

    def set_budgets(self, tenant_id: str, budgets: list[dict]) -> list[dict]:
        """Replace the tenant's budgets set over gRPC, given as the config file writes them; returns the
        status of all its budgets now (the config file's included), each a BudgetStatus: scope, period,
        period_key, limit_usd, spent_usd, reserved_usd."""
        messages = [json_format.ParseDict({k: v for k, v in b.items() if v is not None}, router_pb2.Budget())
                    for b in budgets]
        request = router_pb2.SetBudgetsRequest(tenant_id=tenant_id, budgets=messages)
        response = self._stub.SetBudgets(request, timeout=self.timeout)
        return [wire.message_to_dict(status) for status in response.budgets]

    def list_models(self) -> dict:
        """The models Route may choose from (id, provider, tier, prices per million tokens, context window,
        quality prior) and the baseline_model."""
        return wire.message_to_dict(self._stub.ListModels(router_pb2.ListModelsRequest(), timeout=self.timeout))

    def put_model(self, model: dict) -> dict:
        """Add a model or replace one (a price change), given as the registry file writes it; returns it as
        it now stands. Needs an admin key for every tenant."""
        message = json_format.ParseDict(model, router_pb2.Model())
        return wire.message_to_dict(self._stub.PutModel(router_pb2.PutModelRequest(model=message),
                                                        timeout=self.timeout))

    def retire_model(self, model_id: str) -> None:
        self._stub.RetireModel(router_pb2.RetireModelRequest(model_id=model_id), timeout=self.timeout)

    def stats(self, tenant_id: str, since: float = 0.0, until: float = 0.0, group_by: str = "",
              forecast_days: int = 0) -> dict:
        """A StatsResponse: total (a Figures), group_by, groups, alerts, budgets, waste, and with
        `forecast_days` the spend forecasts."""
        request = router_pb2.StatsRequest(tenant_id=tenant_id, since_unix=since, until_unix=until, group_by=group_by,
                                          forecast_days=forecast_days)
        return wire.message_to_dict(self._stub.Stats(request, timeout=self.timeout))

    def export_ledger(self, tenant_id: str, since: float = 0.0, until: float = 0.0) -> Iterator[dict]:
        """The settled calls of the window, each a LedgerEntry, streamed (no deadline: an export may be
        long). The call starts here; a refusal is raised when the first entry is read."""
        request = router_pb2.ExportLedgerRequest(tenant_id=tenant_id, since_unix=since, until_unix=until)
        return (wire.message_to_dict(entry) for entry in self._stub.ExportLedger(request))

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

    def __init__(self, addr: str | Sequence[str], timeout: float = 30.0, api_key: str | None = None,
                 attempts: int = 4, *, tls: bool = False, ca_file: str | Path | None = None,
                 client_cert_file: str | Path | None = None, client_key_file: str | Path | None = None,
                 server_name: str | None = None):
        """As RouterClient's."""
        self.addr = channel_target(addr)
        self.timeout = timeout
        self._channel = _open_channel(grpc.aio, self.addr, attempts,
                                      channel_credentials(tls, ca_file, client_cert_file, client_key_file),
                                      server_name)
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
        return wire.message_to_dict(response)

    async def feedback_batch(self, requests: list[FeedbackRequest]) -> list[dict]:
        response = await self._stub.FeedbackBatch(_feedback_batch_to_pb(requests), timeout=self.timeout)
        return _outcomes_to_dicts(response, wire.message_to_dict)

    async def leader_answer(self, decision_id: str) -> dict:
        request = router_pb2.LeaderAnswerRequest(decision_id=decision_id)
        return wire.leader_answer_to_dict(await self._stub.LeaderAnswer(request, timeout=self.timeout))

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
