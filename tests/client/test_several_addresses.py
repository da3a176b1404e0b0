"""One client, several replicas: given several addresses, RouterClient makes one channel with gRPC's
multi-address target and its round_robin policy, so calls spread over the replicas, and when one dies
the others take its calls (round_robin drops it; a call that failed UNAVAILABLE is retried on another).
The CLI takes the same list. Here: with TLS, against stand-in servers; and, without a server, the target
and service config the client builds from what it is given. Against three real replicas on PostgreSQL
(spreading, the asyncio client, the CLI, a replica killed under load): tests/e2e/test_replicas_e2e.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from router.client import RouterClient
from router.client.clients import channel_options, channel_target
from router.domain.types import ChatMessage, RouteRequest
from router.generated import router_pb2, router_pb2_grpc
from tests.transport.test_tls import make_pki

KEY = "br_several_addresses_test_key"  # every replica accepts it, as replicas of one deployment share their keys
TENANT = "acme"
ROUTER_SERVICE = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name


def ask(i: int) -> RouteRequest:
    return RouteRequest(TENANT, (ChatMessage("user", f"Question {i}: what is the capital of Peru?"),))


# The target and the service config, from what the client is given.

@pytest.fixture
def channels_made(monkeypatch) -> list[tuple[str, list[tuple[str, object]]]]:
    """The target and options of every plain-text channel a client opens from here on."""
    made, open_channel = [], grpc.insecure_channel

    def recording(target: str, options: list[tuple[str, object]]) -> grpc.Channel:
        made.append((target, options))
        return open_channel(target, options=options)

    monkeypatch.setattr(grpc, "insecure_channel", recording)
    return made


@pytest.mark.parametrize("addr", ["127.0.0.1:50051", "router.internal:50051", ["[::1]:50051"],
                                  "unix:/run/banditroute.sock"])
def test_one_address_is_dialled_as_before_unbalanced(channels_made, addr):
    RouterClient(addr).close()
    assert channels_made == [(addr if isinstance(addr, str) else addr[0], channel_options(4))]
    assert "loadBalancingConfig" not in service_config(channel_options(4))


@pytest.mark.parametrize("addr", ["127.0.0.1:5001,127.0.0.1:5002", "dns:///router.internal:50051"])
def test_several_addresses_and_a_dns_name_are_balanced_round_robin(channels_made, addr):
    RouterClient(addr).close()
    ((_, options),) = channels_made
    assert options == channel_options(4, round_robin=True)


@pytest.mark.parametrize("addr", [["127.0.0.1:5001", "127.0.0.2:5002", "10.0.0.3:5003"],
                                  "127.0.0.1:5001,127.0.0.2:5002,10.0.0.3:5003",
                                  " 127.0.0.1:5001, 127.0.0.2:5002 ,10.0.0.3:5003"])
def test_several_ipv4_addresses_make_one_ipv4_target(addr):
    assert channel_target(addr) == "ipv4:127.0.0.1:5001,127.0.0.2:5002,10.0.0.3:5003"


def test_several_ipv6_addresses_make_one_ipv6_target_with_brackets():
    assert channel_target(["[::1]:5001", "[2001:db8:0:0::7]:5002"]) == "ipv6:[::1]:5001,[2001:db8::7]:5002"


def test_a_grpc_target_is_taken_as_it_is():
    assert channel_target("ipv4:127.0.0.1:5001,127.0.0.1:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    assert channel_target("dns:///router.internal:50051") == "dns:///router.internal:50051"


@pytest.mark.parametrize("addr, says", [
    (["127.0.0.1:5001", "router.internal:5002"], "'router.internal:5002' is not IP:PORT"),
    (["127.0.0.1:5001", "router.internal:5002"], "dns:///NAME:PORT"),
    (["127.0.0.1:5001", "[::1]:5002"], "not both"),
    (["127.0.0.1:5001", "127.0.0.1"], "'127.0.0.1' is not IP:PORT"),
    (["[::1]:5001", "::2:5002"], "brackets"),
    ("127.0.0.1:5001,", "no address"),
    ([], "no address"),
])
def test_several_addresses_that_grpc_cannot_take_are_refused_naming_why(addr, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        channel_target(addr)


def test_the_service_config_holds_round_robin_and_the_retry_policy_together():
    options = channel_options(4, round_robin=True)
    config = service_config(options)
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = config["methodConfig"]
    assert method["name"] == [{"service": ROUTER_SERVICE}]
    assert method["retryPolicy"]["maxAttempts"] == 4
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert ("grpc.enable_retries", 1) in options
    assert [name for name, _ in options].count("grpc.service_config") == 1


def test_without_retries_the_service_config_still_balances():
    options = channel_options(1, round_robin=True)
    assert service_config(options) == {"loadBalancingConfig": [{"round_robin": {}}]}
    assert ("grpc.enable_retries", 0) in options


def service_config(options: list[tuple[str, object]]) -> dict:
    return json.loads(dict(options).get("grpc.service_config", "{}"))


# TLS over several addresses: still verified, against the name the caller gives.

class Answering(router_pb2_grpc.RouterServicer):
    def Route(self, request, context):
        return router_pb2.RouteResponse(decision_id="d" * 32, model="gpt-4o-mini")


@pytest.fixture(scope="module")
def tls_stand_ins(tmp_path_factory) -> Iterator[tuple[list[str], Path]]:
    """Two stand-in servers presenting a certificate for localhost and 127.0.0.1; their addresses and the CA."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    credentials = grpc.ssl_server_credentials([(pki.server_key.read_bytes(), pki.server_cert.read_bytes())])
    servers, addresses = [], []
    for _ in range(2):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        router_pb2_grpc.add_RouterServicer_to_server(Answering(), server)
        addresses.append(f"127.0.0.1:{server.add_secure_port('127.0.0.1:0', credentials)}")
        server.start()
        servers.append(server)
    yield addresses, pki.ca
    for server in servers:
        server.stop(0)


def test_several_addresses_with_tls_need_the_name_their_certificates_carry(tls_stand_ins):
    addresses, ca = tls_stand_ins
    with pytest.raises(ValueError, match="server_name"):
        RouterClient(addresses, ca_file=ca)
    with RouterClient(addresses, timeout=10, api_key=KEY, ca_file=ca, server_name="localhost") as client:
        assert client.route(ask(0))["model"] == "gpt-4o-mini"


def test_a_server_name_the_certificates_do_not_carry_fails_verification(tls_stand_ins):
    addresses, ca = tls_stand_ins
    with RouterClient(addresses, timeout=10, api_key=KEY, attempts=1, ca_file=ca,
                      server_name="elsewhere.example") as client, pytest.raises(grpc.RpcError) as refused:
        client.route(ask(0))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
