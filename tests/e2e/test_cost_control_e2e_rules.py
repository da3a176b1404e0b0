"""End to end over gRPC: routing rules administered (put, list, delete, refusals, counts) and routing."""

from __future__ import annotations

import time

import grpc
import pytest

from router.client import RouterClient, auth_metadata
from router.generated import router_pb2, router_pb2_grpc
from router.transport.wire import route_request_to_pb
from tests.e2e.cost_control_helpers import PREMIUM, REGISTRY, SECURITY_PROMPT, ask, refused

pytestmark = pytest.mark.slow


def rules_of(client: RouterClient, tenant: str) -> dict[str, dict]:
    return {state["rule"]["id"]: state for state in client.list_rules(tenant)}


def route_rule(rule_id: str, model: str, *conditions: tuple[str, str, object], **fields) -> dict:
    return {"id": rule_id, "conditions": [{"field": f, "op": op, "value": v} for f, op, v in conditions],
            "action": {"type": "route", "model": model}, **fields}


# --- 1. rules administration ---------------------------------------------------------------------


def test_put_rule_adds_an_api_rule_that_list_rules_shows(client):
    rule = route_rule("docs-to-flash", "gemini-2.5-flash", ("team", "eq", "docs"), name="docs are cheap", priority=10)
    state = client.put_rule("rules-admin", rule)
    assert (state["rule"]["id"], state["source"], state["matched"], state["applied"]) == ("docs-to-flash", "api", 0, 0)

    listed = rules_of(client, "rules-admin")
    assert listed["docs-to-flash"]["source"] == "api"
    assert listed["docs-to-flash"]["rule"]["name"] == "docs are cheap"
    assert listed["docs-to-flash"]["rule"]["action"]["model"] == "gemini-2.5-flash"
    assert listed["from-config"]["source"] == "config"
    # Tried in priority order: the new rule (10) before the config's (100 by default).
    assert [s["rule"]["id"] for s in client.list_rules("rules-admin")] == ["docs-to-flash", "from-config"]
    assert rules_of(client, "some-other-tenant") == {}, "rules belong to one tenant"


def test_putting_a_rule_again_with_its_id_replaces_it(client):
    client.put_rule("rules-replace", route_rule("r1", "gpt-4o-mini", ("team", "eq", "a"), name="first"))
    client.put_rule("rules-replace", route_rule("r1", "deepseek-chat", ("team", "eq", "b"), name="second"))

    states = client.list_rules("rules-replace")
    assert len(states) == 1
    assert (states[0]["rule"]["name"], states[0]["rule"]["action"]["model"]) == ("second", "deepseek-chat")
    assert states[0]["rule"]["conditions"][0]["value"] == "b"
    # The replacement is the one that routes.
    assert client.route(ask("rules-replace", team="b"))["model"] == "deepseek-chat"
    assert client.route(ask("rules-replace", team="a"))["reason"] != "rule"


def test_delete_rule_removes_it_and_an_unknown_id_is_not_found(client):
    client.put_rule("rules-delete", route_rule("doomed", "gpt-4o-mini", ("team", "eq", "x")))
    client.delete_rule("rules-delete", "doomed")
    assert rules_of(client, "rules-delete") == {}
    assert client.route(ask("rules-delete", team="x"))["reason"] != "rule", "a deleted rule no longer routes"

    again = refused(client.delete_rule, "rules-delete", "doomed")
    assert again.code() == grpc.StatusCode.NOT_FOUND
    assert "doomed" in again.details()
    never = refused(client.delete_rule, "rules-delete", "never-was")
    assert never.code() == grpc.StatusCode.NOT_FOUND


def test_rules_from_the_config_file_are_read_only_over_grpc(client):
    put = refused(client.put_rule, "rules-admin", route_rule("from-config", "gpt-4o-mini"))
    assert put.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "config" in put.details()
    delete = refused(client.delete_rule, "rules-admin", "from-config")
    assert delete.code() == grpc.StatusCode.FAILED_PRECONDITION

    config_rule = rules_of(client, "rules-admin")["from-config"]
    assert config_rule["source"] == "config"
    assert config_rule["rule"]["action"]["model"] == "gemini-2.0-flash", "the refused put changed nothing"
    # And it routes as the file says.
    decision = client.route(ask("rules-admin", feature="legacy"))
    assert (decision["model"], decision["rule_id"]) == ("gemini-2.0-flash", "from-config")


@pytest.mark.parametrize(
    "conditions, action, path, problem",
    [
        pytest.param([{"field": "colour", "op": "eq", "value": "red"}], {"type": "bypass_cache"},
                     "rule.conditions[0].field", "'team'", id="unknown-condition-field"),
        pytest.param([{"field": "prompt", "op": "regex", "value": "(["}], {"type": "bypass_cache"},
                     "rule.conditions[0].value", "invalid regex '(['", id="bad-regex"),
        pytest.param([], {"type": "route", "model": "gpt-9"},
                     "rule.action.model", "unknown model gpt-9", id="unknown-route-model"),
        pytest.param([{"field": "team", "op": "gt", "value": 3}], {"type": "bypass_cache"},
                     "rule.conditions[0].value", "gt compares numbers; team is text", id="gt-on-text"),
        pytest.param([], {"type": "restrict_tiers", "tiers": ["gold"]},
                     "rule.action.tiers", "unknown tier(s) gold", id="unknown-tier"),
        pytest.param([], {"type": "route"}, "rule.action.model", "needs model", id="route-without-model"),
    ],
)
def test_invalid_rules_are_refused_naming_the_problem(client, conditions, action, path, problem):
    error = refused(client.put_rule, "rules-invalid", {"id": "bad", "conditions": conditions, "action": action})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(path + ":"), error.details()
    assert problem in error.details()
    assert rules_of(client, "rules-invalid") == {}, "nothing was stored"


def test_list_rules_counts_the_routes_each_rule_matched_and_shaped(client):
    client.put_rule("rules-count", route_rule("counted", "gpt-4o-mini", ("feature", "eq", "counted")))
    decisions = [client.route(ask("rules-count", f"Tell me a fact about the number {i}.", feature="counted"))
                 for i in range(5)]
    client.route(ask("rules-count", feature="other"))  # does not match
    assert all((d["model"], d["rule_id"]) == ("gpt-4o-mini", "counted") for d in decisions)

    state = rules_of(client, "rules-count")["counted"]
    assert (state["matched"], state["applied"]) == (5, 5)
    assert time.time() - 60 < state["last_matched_unix"] <= time.time()


def test_an_ab_share_applies_the_rule_to_part_of_its_matching_traffic(client):
    client.put_rule("rules-ab", route_rule("half", "gemini-2.0-flash", ("feature", "eq", "ab"), ab_share=0.5))
    decisions = [client.route(ask("rules-ab", f"What is {i} times {i + 3}?", feature="ab")) for i in range(40)]

    state = rules_of(client, "rules-ab")["half"]
    assert state["matched"] == 40
    assert 0 < state["applied"] < state["matched"]
    ruled = [d for d in decisions if d["reason"] == "rule"]
    assert len(ruled) == state["applied"], "applied counts exactly the routes the rule decided"
    assert all((d["model"], d["rule_id"]) == ("gemini-2.0-flash", "half") for d in ruled)
    assert all(d["rule_id"] == "" for d in decisions if d["reason"] != "rule")


# --- 2. rules route -------------------------------------------------------------------------------


def test_a_route_rule_sends_a_matching_prompt_to_its_model(client, server):
    client.put_rule("rules-route", route_rule("to-haiku", "claude-3-5-haiku", ("prompt", "contains", "invoice")))
    request = ask("rules-route", "Draft a polite reminder about the unpaid INVOICE from March.")
    # The raw answer over gRPC, to see the enum on the wire.
    with grpc.insecure_channel(server.addr) as channel:
        raw = router_pb2_grpc.RouterStub(channel).Route(route_request_to_pb(request), timeout=30,
                                                        metadata=auth_metadata(server.dev_key))
    assert raw.model == "claude-3-5-haiku" and raw.provider == "anthropic"
    assert raw.reason == router_pb2.rule
    assert raw.rule_id == "to-haiku"
    assert raw.probability == 1.0

    other = client.route(ask("rules-route", "Draft a polite reminder about the team lunch on Friday."))
    assert other["reason"] != "rule" and other["rule_id"] == ""


def test_a_rule_can_match_on_the_model_the_caller_requested(client):
    client.put_rule("rules-requested", route_rule("downgrade-4o", "gpt-4o-mini", ("model", "eq", "gpt-4o")))
    asked_4o = client.route(ask("rules-requested", requested_model="gpt-4o"))
    assert (asked_4o["model"], asked_4o["reason"], asked_4o["rule_id"]) == ("gpt-4o-mini", "rule", "downgrade-4o")
    asked_other = client.route(ask("rules-requested", requested_model="claude-sonnet-4"))
    assert asked_other["rule_id"] == ""


def test_a_block_rule_refuses_with_permission_denied_naming_the_rule(client):
    client.put_rule("rules-block", {
        "id": "no-launch-codes",
        "conditions": [{"field": "prompt", "op": "contains", "value": "launch codes"}],
        "action": {"type": "block", "message": "we do not discuss those"},
    })
    error = refused(client.route, ask("rules-block", "Please list the launch codes for the missiles."))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no-launch-codes" in error.details() and "we do not discuss those" in error.details()
    assert client.route(ask("rules-block", "Please list the capitals of Europe."))["model"] in REGISTRY

    state = rules_of(client, "rules-block")["no-launch-codes"]
    assert (state["matched"], state["applied"]) == (1, 1)
    assert client.stats("rules-block")["total"]["calls"] == 1, "a blocked request is no decision"


def test_a_route_rule_cannot_send_a_security_prompt_below_premium(client):
    client.put_rule("rules-security", route_rule("sec-to-mini", "gpt-4o-mini", ("team", "eq", "sec")))
    plain = client.route(ask("rules-security", team="sec"))
    assert (plain["model"], plain["reason"]) == ("gpt-4o-mini", "rule"), "the rule does route other prompts"

    secure = client.route(ask("rules-security", SECURITY_PROMPT, team="sec", task_hint="security"))
    assert secure["security"] is True
    assert secure["model"] in PREMIUM, secure
    assert secure["reason"] == "safety_floor" and secure["rule_id"] == ""
    state = rules_of(client, "rules-security")["sec-to-mini"]
    assert (state["matched"], state["applied"]) == (2, 1), "the security prompt matched the rule, which did not act"
