"""The smaller holes of issue 19: a call with two keys, look-alike tenant ids that escaped their
tenant's privacy setting, privacy as a deployment's default, an unbounded worker count, and spend
that a feedback could push past a budget without bound."""

from __future__ import annotations

import itertools

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.cli.main import main
from router.client import RouterClient, auth_metadata
from router.config import Settings
from router.domain.errors import InvalidArgument
from router.domain.types import FeedbackRequest
from router.generated import router_pb2 as pb
from router.generated import router_pb2_grpc
from router.service.validation import validate_route, validate_tenant_id
from router.transport.auth import key_hash
from router.transport.server import RunningServer
from tests.cache.test_privacy import leaked
from tests.conftest import user_request

KEYS = {"acme-app": ("br_acme-app-key", "acme"), "root": ("br_root-key", None)}
CODE_PROMPT = "Write a Python function that merges two sorted lists"
PROMPTS = itertools.count()
AUTH = {"keys": [{"name": name, "sha256": key_hash(key), "tenant": tenant, "admin": tenant is None}
                 for name, (key, tenant) in KEYS.items()]}


def running_server(tmp_path_factory, embedder, classifier, registry, tenants: dict):
    from tests.conftest import new_service

    service = new_service(tmp_path_factory.mktemp("holes"), embedder, classifier, registry,
                          sqlite_synchronous="NORMAL", auth=AUTH, tenants=tenants)
    return RunningServer(service, 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_embedder, fake_classifier, registry):
    running = running_server(tmp_path_factory, fake_embedder, fake_classifier, registry,
                             {"priv": {"keep_prompt_text": False}})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory, fake_embedder, fake_classifier, registry):
    """acme's calls settle at most 3× their estimate."""
    running = running_server(tmp_path_factory, fake_embedder, fake_classifier, registry,
                             {"acme": {"max_cost_overrun": 3.0, "budgets": [{"daily_usd": 5.0}]}})
    yield running
    running.stop()


def client(server, name: str) -> RouterClient:
    return RouterClient(f"127.0.0.1:{server.port}", api_key=KEYS[name][0])


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def route_message(tenant: str) -> pb.RouteRequest:
    return pb.RouteRequest(tenant_id=tenant, messages=[pb.ChatMessage(role="user", content="What is a mutex?")])


# --- two authorization entries ------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [("acme-app", "root"), ("root", "acme-app"), ("root", "root")])
def test_a_call_with_more_than_one_authorization_entry_is_unauthenticated(server, keys):
    """Whichever of two keys acted depended on their order (the last won): a tenant key followed by an
    all-tenant one acted for every tenant. More than one is refused, whatever they are."""
    metadata = tuple(entry for name in keys for entry in auth_metadata(KEYS[name][0]))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        for call in (lambda: stub.Route(route_message("globex"), metadata=metadata, timeout=30),
                     lambda: stub.Stats(pb.StatsRequest(tenant_id="acme"), metadata=metadata, timeout=30)):
            error = refusal(call)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "2 authorization metadata entries" in error.details()
        assert stub.Route(route_message("acme"), metadata=auth_metadata(KEYS["acme-app"][0]), timeout=30).model


# --- look-alike tenant ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("look_alike", ["Priv", "PRIV", "priv ", " priv", "\uff50\uff52\uff49\uff56", "\uff30riv"])
def test_a_look_alike_of_a_configured_tenant_id_is_refused_naming_the_tenant_meant(server, look_alike):
    """'Priv' for 'priv' got the settings of a tenant the config does not name: it kept the prompt
    text 'priv' keeps none of. An all-tenant key is refused it, with the id it must send."""
    with client(server, "root") as root:
        for call in (lambda: root.route(user_request("What is a mutex?", tenant=look_alike)),
                     lambda: root.stats(look_alike), lambda: root.list_rules(look_alike)):
            error = refusal(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "differs from 'priv' only by case, spaces or Unicode form; send 'priv'" in error.details()
        assert root.route(user_request("What is a mutex?", tenant="priv"))["model"]
        assert root.route(user_request("What is a mutex?", tenant="private"))["model"]  # another id altogether


def variants(tenant_id: str) -> st.SearchStrategy[str]:
    """Ids a person would read as `tenant_id`: letters in either case or fullwidth, spaces around."""
    def letter(char: str) -> st.SearchStrategy[str]:
        forms = {char, char.upper(), char.lower()}
        if "!" <= char <= "~":
            forms.add(chr(ord(char) + 0xFEE0))  # the fullwidth form, which NFKC maps back
        return st.sampled_from(sorted(forms))

    spaces = st.sampled_from(["", " ", "  "])
    body = st.tuples(*(letter(c) for c in tenant_id)).map("".join)
    return st.tuples(spaces, body, spaces).map("".join)


@settings(max_examples=300, deadline=None)
@given(configured=st.sampled_from(["priv", "Acme-EU", "team 7"]), data=st.data())
def test_every_look_alike_is_refused_and_only_the_configured_id_is_accepted(registry, configured, data):
    config = Settings(tenants={configured: {"keep_prompt_text": False}, "other": {}})
    sent = data.draw(variants(configured))
    if sent == configured:
        validate_tenant_id(sent, config)
        validate_route(user_request("hello there", tenant=sent), config, registry)
        return
    with pytest.raises(InvalidArgument, match=f"send {configured!r} exactly"):
        validate_tenant_id(sent, config)
    with pytest.raises(InvalidArgument, match="tenant_id"):
        validate_route(user_request("hello there", tenant=sent), config, registry)


def test_two_configured_tenants_that_look_alike_are_a_config_problem(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text('tenants:\n  acme: {}\n  "ACME ": {keep_prompt_text: false}\n')
    assert main(["config", "check", str(path)]) == 2
    assert "tenants: 'acme' and 'ACME ' differ only by case, spaces or Unicode form" in capsys.readouterr().err


# --- privacy as the deployment's default -------------------------------------------------------------------

WORD = "Zanzibar"


def ask_and_answer(service, tenant: str, place: str) -> str:
    """A question about `place` answered, and asked again: served from the cache, so it was stored."""
    question = f"In which year was the {place} film festival first held?"
    decision = service.route(user_request(question, tenant=tenant))
    service.feedback(FeedbackRequest(decision.decision_id, 0.95, response_text="In 1998."))
    assert service.route(user_request(question, tenant=tenant)).cache is not None
    return question


def test_default_keep_prompt_text_false_keeps_no_text_of_tenants_the_config_does_not_name(make_service, tmp_path):
    service = make_service(tmp_path, default_keep_prompt_text=False,
                           tenants={"opted-in": {"keep_prompt_text": True}, "named": {"cost_weight": 0.3}})
    assert service.settings.tenant("anyone").keep_prompt_text is False
    assert service.settings.tenant("named").keep_prompt_text is False  # named, but leaves it unset
    for tenant in ("anyone", "named"):
        ask_and_answer(service, tenant, WORD)
    ask_and_answer(service, "opted-in", "Timbuktu")
    service.close()
    assert leaked(tmp_path, WORD) == []
    assert leaked(tmp_path, "Timbuktu")  # the tenant that says so keeps its text


def test_turning_the_default_off_seals_what_unnamed_tenants_stored_before(make_service, tmp_path):
    service = make_service(tmp_path)
    question = ask_and_answer(service, "anyone", WORD)
    service.route(user_request(f"Who founded the {WORD} film festival?", tenant="anyone"))  # waits for its answer
    service.close()
    assert leaked(tmp_path, WORD)
    service = make_service(tmp_path, default_keep_prompt_text=False)
    assert leaked(tmp_path, WORD) == []
    assert service.route(user_request(question, tenant="anyone")).cache is not None  # still served, sealed


# --- max_workers ------------------------------------------------------------------------------------------------


def test_max_workers_is_bounded(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("max_workers: 1000000\n")
    assert main(["config", "check", str(path)]) == 2
    assert "max_workers: Input should be less than or equal to 256" in capsys.readouterr().err
    path.write_text("max_workers: 256\n")
    assert main(["config", "check", str(path)]) == 0


# --- cost overruns ----------------------------------------------------------------------------------------------


def test_a_feedback_far_over_its_estimate_settles_at_the_cap_and_stats_counts_the_overrun(capped_server, registry):
    """acme's max_cost_overrun is 3: a call reporting a million output tokens settles at three times
    its estimate against the budget; the rest is recorded as its overrun, and Stats counts it."""
    with client(capped_server, "acme-app") as acme:
        before = acme.stats("acme")["total"]
        within = acme.route(user_request(f"{CODE_PROMPT} ({next(PROMPTS)})", bypass_cache=True))
        normal = acme.feedback(FeedbackRequest(within["decision_id"], 0.9, 40, 300))
        assert normal["overrun_usd"] == 0.0
        decision = acme.route(user_request(f"{CODE_PROMPT} ({next(PROMPTS)})", bypass_cache=True))
        reported = registry[decision["model"]].cost(40, 1_000_000)
        cap = 3 * decision["estimated_cost_usd"]
        assert reported > cap
        settled = acme.feedback(FeedbackRequest(decision["decision_id"], 0.9, 40, 1_000_000))
        assert settled["actual_cost_usd"] == pytest.approx(cap)
        assert settled["overrun_usd"] == pytest.approx(reported - cap)
        stats = acme.stats("acme")
        total = stats["total"]
        assert total["overruns"] - before["overruns"] == 1
        assert total["overrun_usd"] - before["overrun_usd"] == pytest.approx(reported - cap)
        assert total["spend_usd"] - before["spend_usd"] == pytest.approx(cap + normal["actual_cost_usd"])
        budget, = stats["budgets"]
        assert budget["spent_usd"] == pytest.approx(total["spend_usd"])
        entry, = (e for e in acme.export_ledger("acme") if e["decision_id"] == decision["decision_id"])
        assert (entry["cost_usd"], entry["overrun_usd"]) == (pytest.approx(cap), pytest.approx(reported - cap))


def test_settled_cost_and_overrun_survive_a_restart(make_service, tmp_path):
    config = {"tenants": {"acme": {"max_cost_overrun": 2.0, "budgets": [{"daily_usd": 10.0}]}}}
    service = make_service(tmp_path, **config)
    decision = service.route(user_request(CODE_PROMPT, bypass_cache=True))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.9, 40, 2_000_000))
    assert record.actual_cost_usd == pytest.approx(2 * decision.estimated_cost_usd) and record.overrun_usd > 0
    service.close()
    restarted = make_service(tmp_path, **config)
    status, = restarted.budgets.statuses("acme", restarted.clock())
    assert status.spent == pytest.approx(record.actual_cost_usd)
    total = restarted.stats("acme", 0, restarted.clock() + 1).total
    assert (total.overruns, total.overrun_usd) == (1, pytest.approx(record.overrun_usd))


@pytest.fixture
def capped_service(make_service):
    """One service for every example: tenant "capped" settles at most 1.5× an estimate, any other in full."""
    return make_service(tenants={"capped": {"max_cost_overrun": 1.5}})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant=st.sampled_from(["capped", "uncapped"]), input_tokens=st.integers(0, 200_000),
       output_tokens=st.integers(0, 10_000_000))
def test_a_settled_cost_never_passes_the_cap_and_with_its_overrun_is_what_was_reported(
        capped_service, registry, tenant, input_tokens, output_tokens):
    service = capped_service
    decision = service.route(user_request(f"{CODE_PROMPT} ({next(PROMPTS)})", tenant=tenant, bypass_cache=True))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.5, input_tokens, output_tokens))
    reported = registry[decision.model].cost(input_tokens, output_tokens)
    assert record.actual_cost_usd + record.overrun_usd == pytest.approx(reported)
    assert record.overrun_usd >= 0
    if tenant == "capped":
        assert record.actual_cost_usd <= 1.5 * decision.estimated_cost_usd * (1 + 1e-12)
    else:
        assert record.overrun_usd == 0.0
