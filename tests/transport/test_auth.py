"""API keys and tenant isolation: a call without a known key is UNAUTHENTICATED; a key acts only for
its tenant (PERMISSION_DENIED otherwise), admin calls need an admin key, and no answer ever carries
another tenant's rows."""

from __future__ import annotations

import os
import stat

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.client import RouterClient, auth_metadata
from router.config import ApiKey, AuthSettings
from router.domain.errors import PermissionDenied, Unauthenticated
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest
from router.generated import router_pb2 as pb
from router.generated import router_pb2_grpc
from router.transport.auth import ANYONE, DEV_KEY_FILE, KeyRing, key_hash
from router.transport.server import RunningServer

KEYS = {  # name: (key, tenant, admin)
    "acme-app": ("br_acme-app-key", "acme", False),
    "acme-ops": ("br_acme-ops-key", "acme", True),
    "globex-app": ("br_globex-app-key", "globex", False),
    "root": ("br_root-key", None, True),
    "initech-app": ("br_initech-app-key", "initech", False),
    "umbrella-app": ("br_umbrella-app-key", "umbrella", False),
}


def key_entries() -> list[dict]:
    return [{"name": name, "sha256": key_hash(key), "tenant": tenant, "admin": admin}
            for name, (key, tenant, admin) in KEYS.items()]


def key_of(name: str) -> str:
    return KEYS[name][0]


# --- the key ring -----------------------------------------------------------------------------------


def ring() -> KeyRing:
    return KeyRing([ApiKey(**entry) for entry in key_entries()])


@pytest.mark.parametrize("header, problem", [
    (None, "no API key"),
    ("", "no API key"),
    ("Basic dXNlcjpwYXNz", "Bearer <key>"),
    ("Bearer ", "Bearer <key>"),
    ("Bearer br_not-a-key", "unknown API key"),
])
def test_a_missing_or_unknown_key_is_unauthenticated(header, problem):
    with pytest.raises(Unauthenticated, match=problem):
        ring().authenticate(header)


def test_a_tenant_key_acts_for_its_tenant_only_and_admin_calls_need_an_admin_key():
    app = ring().authenticate(f"Bearer {key_of('acme-app')}")
    app.authorize("acme")
    with pytest.raises(PermissionDenied, match="acts for tenant 'acme', not 'globex'"):
        app.authorize("globex")
    with pytest.raises(PermissionDenied, match="no admin rights"):
        app.authorize("acme", admin=True)
    ops = ring().authenticate(f"bearer {key_of('acme-ops')}")
    ops.authorize("acme", admin=True)
    with pytest.raises(PermissionDenied):
        ops.authorize("globex", admin=True)
    root = ring().authenticate(f"Bearer {key_of('root')}")
    root.authorize("globex", admin=True)


def test_with_auth_disabled_every_caller_is_an_admin_of_every_tenant(tmp_path):
    keys, dev_key = KeyRing.from_settings(AuthSettings(enabled=False), tmp_path)
    assert dev_key is None and keys.authenticate(None) is ANYONE


def test_with_no_keys_configured_a_dev_admin_key_is_made_once_and_kept_private(tmp_path):
    keys, dev_key = KeyRing.from_settings(AuthSettings(), tmp_path)
    assert dev_key and keys.authenticate(f"Bearer {dev_key}").admin
    assert stat.S_IMODE(os.stat(tmp_path / DEV_KEY_FILE).st_mode) == 0o600
    _, again = KeyRing.from_settings(AuthSettings(), tmp_path)
    assert again == dev_key
    with pytest.raises(Unauthenticated):
        keys.authenticate(None)


def test_configured_keys_replace_the_dev_key(tmp_path):
    _, dev_key = KeyRing.from_settings(AuthSettings(keys=key_entries()), tmp_path)
    assert dev_key is None and not (tmp_path / DEV_KEY_FILE).exists()


# --- over gRPC ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_embedder, fake_classifier, registry):
    from tests.conftest import new_service

    data_dir = tmp_path_factory.mktemp("auth")
    service = new_service(data_dir, fake_embedder, fake_classifier, registry, sqlite_synchronous="NORMAL",
                          auth={"keys": key_entries()})
    running = RunningServer(service, 0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield opened


def client(server, name: str | None) -> RouterClient:
    return RouterClient(f"127.0.0.1:{server.port}", api_key=key_of(name) if name else None)


def ask(tenant: str, text: str = "What is the capital of Peru?") -> RouteRequest:
    return RouteRequest(tenant, (ChatMessage("user", text),))


def status_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


EVERY_CALL = {
    "Route": pb.RouteRequest(tenant_id="acme", messages=[pb.ChatMessage(role="user", content="hi there")]),
    "Feedback": pb.FeedbackRequest(decision_id="0" * 32, quality=0.5),
    "RouteBatch": pb.RouteBatchRequest(requests=[pb.RouteRequest(
        tenant_id="acme", messages=[pb.ChatMessage(role="user", content="hi there")])]),
    "FeedbackBatch": pb.FeedbackBatchRequest(feedbacks=[pb.FeedbackRequest(decision_id="0" * 32, quality=0.5)]),
    "InvalidateCache": pb.InvalidateCacheRequest(tenant_id="acme"),
    "ListRules": pb.ListRulesRequest(tenant_id="acme"),
    "PutRule": pb.PutRuleRequest(tenant_id="acme", rule=pb.Rule(id="r")),
    "DeleteRule": pb.DeleteRuleRequest(tenant_id="acme", rule_id="r"),
    "Stats": pb.StatsRequest(tenant_id="acme"),
    "SetBudgets": pb.SetBudgetsRequest(tenant_id="acme", budgets=[pb.Budget(daily_usd=5)]),
    "ListModels": pb.ListModelsRequest(),
    "PutModel": pb.PutModelRequest(model=pb.Model(id="m")),
    "RetireModel": pb.RetireModelRequest(model_id="gpt-4o"),
}


@pytest.mark.parametrize("method", sorted(EVERY_CALL))
@pytest.mark.parametrize("metadata", [(), auth_metadata("br_wrong"), (("authorization", "br_acme-app-key"),)])
def test_every_call_without_a_known_key_is_unauthenticated(channel, method, metadata):
    stub = router_pb2_grpc.RouterStub(channel)
    call = getattr(stub, method)
    assert status_of(lambda: call(EVERY_CALL[method], metadata=metadata, timeout=30)) == \
        grpc.StatusCode.UNAUTHENTICATED


def test_a_streamed_export_without_a_key_is_unauthenticated(channel):
    stream = router_pb2_grpc.RouterStub(channel).ExportLedger(pb.ExportLedgerRequest(tenant_id="acme"), timeout=30)
    assert status_of(lambda: list(stream)) == grpc.StatusCode.UNAUTHENTICATED


def test_the_health_check_needs_no_key(channel):
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_a_tenant_key_used_for_another_tenant_is_permission_denied(server):
    with client(server, "acme-app") as acme:
        assert acme.route(ask("acme"))["model"]
        for call in (lambda: acme.route(ask("globex")), lambda: acme.route_batch([ask("acme"), ask("globex")]),
                     lambda: acme.stats("globex"),
                     lambda: list(acme.export_ledger("globex")), lambda: acme.list_rules("globex")):
            assert status_of(call) == grpc.StatusCode.PERMISSION_DENIED


def test_admin_calls_need_an_admin_key_of_the_tenant(server):
    rule = {"id": "cheap-greetings", "conditions": [{"field": "prompt", "op": "contains", "value": "hello"}],
            "action": {"type": "restrict_tiers", "tiers": ["budget"]}}
    with client(server, "acme-app") as app, client(server, "acme-ops") as ops, client(server, "root") as root:
        for call in (lambda: app.put_rule("acme", rule), lambda: app.delete_rule("acme", "cheap-greetings"),
                     lambda: app.invalidate_cache("acme"), lambda: app.set_budgets("acme", [{"daily_usd": 5}]),
                     lambda: ops.put_rule("globex", rule), lambda: ops.set_budgets("globex", [])):
            assert status_of(call) == grpc.StatusCode.PERMISSION_DENIED
        assert ops.put_rule("acme", rule)["rule"]["id"] == "cheap-greetings"
        budgets = ops.set_budgets("acme", [{"team": "search", "monthly_usd": 50}])
        assert [(b["scope"], b["period"], b["limit_usd"]) for b in budgets] == [("acme/team=search", "monthly", 50)]
        assert [b["scope"] for b in app.stats("acme")["budgets"]] == ["acme/team=search"]
        assert not ops.set_budgets("acme", [])
        assert [r["rule"]["id"] for r in app.list_rules("acme")] == ["cheap-greetings"]  # reading is allowed
        ops.delete_rule("acme", "cheap-greetings")
        assert root.invalidate_cache("globex") == 0


def test_models_are_changed_only_with_an_admin_key_for_every_tenant(server):
    model = {"id": "acme-7b", "provider": "acme", "tier": "budget", "input_per_1m": 0.1, "output_per_1m": 0.2,
             "context_window": 32000, "max_output_tokens": 4000}
    with client(server, "acme-app") as app, client(server, "acme-ops") as ops, client(server, "root") as root:
        for call in (lambda: app.put_model(model), lambda: ops.put_model(model), lambda: ops.retire_model("o1")):
            assert status_of(call) == grpc.StatusCode.PERMISSION_DENIED
        assert root.put_model(model)["id"] == "acme-7b"
        listed = app.list_models()  # reading is allowed
        assert "acme-7b" in [m["id"] for m in listed["models"]] and listed["baseline_model"] == "claude-opus-4"
        assert status_of(lambda: root.put_model({**model, "tier": "gold"})) == grpc.StatusCode.INVALID_ARGUMENT
        assert status_of(lambda: root.retire_model("claude-opus-4")) == grpc.StatusCode.FAILED_PRECONDITION
        root.retire_model("acme-7b")
        assert "acme-7b" not in [m["id"] for m in app.list_models()["models"]]
        assert status_of(lambda: root.retire_model("acme-7b")) == grpc.StatusCode.NOT_FOUND


def test_feedback_on_another_tenants_decision_is_not_found_and_changes_nothing(server):
    with client(server, "acme-app") as acme, client(server, "globex-app") as globex:
        theirs = globex.route(ask("globex", "Name three rivers in Europe."))["decision_id"]
        error = status_of(lambda: acme.feedback(FeedbackRequest(theirs, 0.0)))
        assert error == grpc.StatusCode.NOT_FOUND
        assert acme.feedback_batch([FeedbackRequest(theirs, 0.0)])[0]["code"] == "NOT_FOUND"
        assert globex.feedback(FeedbackRequest(theirs, 0.9))["reward"] > 0  # still awaiting its own feedback


# --- isolation, as a property -----------------------------------------------------------------------

TENANTS = {"initech": "initech-app", "umbrella": "umbrella-app"}  # used by no other test here
QUESTIONS = ["What is the capital of Peru?", "How many legs does a spider have?",
             "Translate 'good morning' into Spanish.", "What is the boiling point of water at sea level?"]
ROUTED: dict[str, set[str]] = {tenant: set() for tenant in TENANTS}  # every decision id each tenant was given


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(TENANTS)), st.sampled_from(QUESTIONS)), min_size=1, max_size=6))
def test_no_answer_ever_carries_another_tenants_rows(server, calls):
    """Both tenants ask the same questions and feed back answers that name the tenant; a cached
    answer, an export, a Stats count and the rules only ever show the asker's own."""
    with client(server, TENANTS["initech"]) as initech, client(server, TENANTS["umbrella"]) as umbrella:
        clients = {"initech": initech, "umbrella": umbrella}
        for tenant, question in calls:
            decision = clients[tenant].route(ask(tenant, question))
            ROUTED[tenant].add(decision["decision_id"])
            if decision["cache_hit"]:
                assert decision["cached_response"].startswith(f"[{tenant}]"), decision
                continue
            clients[tenant].feedback(FeedbackRequest(decision["decision_id"], 0.95,
                                                     response_text=f"[{tenant}] answer to {question}"))
        for tenant, own in clients.items():
            exported = {e["decision_id"] for e in own.export_ledger(tenant)}
            assert exported <= ROUTED[tenant]
            assert own.stats(tenant)["total"]["calls"] == len(ROUTED[tenant])
