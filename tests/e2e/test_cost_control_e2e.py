"""End to end, cost control over gRPC: routing rules, budgets, and the spend reports.

One real server on a free port serves every test here; each test uses tenants of its own, so one
test's rules, budgets and ledger never meet another's.
"""

from __future__ import annotations

import csv
import json
import re
import time

import grpc
import pytest
import yaml

from router.cli.main import main as cli
from router.client import RouterClient, auth_metadata
from router.client.process import ServerProcess
from router.domain.registry import Registry
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, Metadata, RouteRequest
from router.generated import router_pb2, router_pb2_grpc
from router.transport.wire import route_request_to_pb

pytestmark = pytest.mark.slow

REGISTRY = Registry.from_yaml()  # the packaged registry, which the server also uses
PREMIUM = frozenset(m for m in REGISTRY.ids if REGISTRY[m].tier == "premium")
SECURITY_PROMPT = "Audit this login handler for SQL injection vulnerabilities"
CHAT_PROMPT = "Summarise the plot of Hamlet in one short paragraph."

# The server's configuration. Budget tenants go economy at half their budget, so that no single
# non-premium call can jump from normal straight past the hard limit (at 500 output tokens the
# dearest mid model costs ~$0.0075; premium ones, ~$0.03+, never fit a $0.02 budget).
CONFIG = {
    "sqlite_synchronous": "NORMAL",
    "tenants": {
        "rules-admin": {
            "rules": [{
                "id": "from-config",
                "name": "legacy feature to the cheapest model",
                "conditions": [{"field": "feature", "op": "eq", "value": "legacy"}],
                "action": {"type": "route", "model": "gemini-2.0-flash"},
            }],
        },
        "budget-soft": {"budgets": [{"daily_usd": 0.02}], "economy_at": 0.5},
        "budget-strict": {"budgets": [{"daily_usd": 0.02}], "economy_at": 0.5, "security_overdraft": False},
        "budget-team": {"budgets": [{"team": "search", "daily_usd": 0.02}], "economy_at": 0.5},
        "budget-settle": {"budgets": [{"daily_usd": 5.0}]},
    },
}
BUDGET_OUTPUT_TOKENS = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost-control")
    (root / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    with ServerProcess(root / "data", root / "config.yaml") as running, pytest.MonkeyPatch.context() as patch:
        patch.setenv("BANDITROUTE_API_KEY", running.dev_key)  # for the CLI commands run in this process
        yield running


@pytest.fixture(scope="module")
def client(server):
    with server.client() as connected:
        yield connected


def ask(tenant: str, text: str = CHAT_PROMPT, team: str = "", project: str = "", feature: str = "",
        **fields) -> RouteRequest:
    return RouteRequest(tenant, (ChatMessage("user", text),), metadata=Metadata(team, project, feature), **fields)


def refused(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args)
    return raised.value


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


# --- 3. budgets -----------------------------------------------------------------------------------


def spend_until_refused(client: RouterClient, tenant: str, team: str = "", limit: int = 300):
    """Route plain prompts until the budget refuses one: the answers, then the refusal."""
    answers = []
    for i in range(limit):
        request = ask(tenant, f"Summarise chapter {i} of the staff handbook in a paragraph.", team=team,
                      constraints=Constraints(expected_output_tokens=BUDGET_OUTPUT_TOKENS))
        try:
            answers.append(client.route(request))
        except grpc.RpcError as error:
            return answers, error
    raise AssertionError(f"{limit} routes and the budget of {tenant} never ran out")


def test_a_tiny_daily_budget_goes_economy_then_runs_out_but_a_security_prompt_overdraws(client):
    answers, error = spend_until_refused(client, "budget-soft")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "daily budget of budget-soft" in error.details()

    modes = [a["budget_mode"] for a in answers]
    assert "economy" in modes, modes
    first_economy = modes.index("economy")
    assert set(modes[:first_economy]) <= {"normal"} and set(modes[first_economy:]) == {"economy"}, modes
    assert all(a["model"] not in PREMIUM for a in answers)
    assert sum(a["estimated_cost_usd"] for a in answers) <= 0.02 + 1e-12, "reservations never pass the limit"

    # At the hard limit a security task still gets a premium model, reported as an overdraft.
    secure = client.route(ask("budget-soft", SECURITY_PROMPT, task_hint="security"))
    assert secure["model"] in PREMIUM
    assert secure["budget_mode"] == "overdraft"
    assert secure["security"] is True
    # The overdraft is for security work only.
    assert refused(client.route, ask("budget-soft", "And one more summary, please.")).code() \
        == grpc.StatusCode.RESOURCE_EXHAUSTED

    total = client.stats("budget-soft")["total"]
    assert total["calls"] == len(answers) + 1
    assert total["economy"] == modes.count("economy")
    assert total["overdrafts"] == 1
    budget, = client.stats("budget-soft")["budgets"]
    assert (budget["scope"], budget["period"], budget["limit_usd"]) == ("budget-soft", "daily", 0.02)
    assert budget["spent_usd"] + budget["reserved_usd"] > budget["limit_usd"], "the overdraft shows"


def test_without_security_overdraft_a_security_prompt_at_the_limit_is_refused(client):
    answers, error = spend_until_refused(client, "budget-strict")
    assert answers and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    secure = refused(client.route, ask("budget-strict", SECURITY_PROMPT, task_hint="security"))
    assert secure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "daily budget of budget-strict" in secure.details()
    assert client.stats("budget-strict")["total"]["overdrafts"] == 0


def test_a_team_budget_limits_only_that_team(client):
    answers, error = spend_until_refused(client, "budget-team", team="search")
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "daily budget of budget-team/team=search" in error.details()
    assert "economy" in [a["budget_mode"] for a in answers]

    other_team = client.route(ask("budget-team", team="ads"))
    assert other_team["budget_mode"] == "normal"
    no_team = client.route(ask("budget-team"))
    assert no_team["budget_mode"] == "normal"


def test_feedback_settles_a_reservation_into_spend(client):
    decisions = [client.route(ask("budget-settle", f"Name {i + 2} rivers in Africa.")) for i in range(3)]
    before, = client.stats("budget-settle")["budgets"]
    assert before["spent_usd"] == 0
    assert before["reserved_usd"] == pytest.approx(sum(d["estimated_cost_usd"] for d in decisions))

    costs = [client.feedback(FeedbackRequest(d["decision_id"], 0.9, input_tokens=40, output_tokens=300))
             ["actual_cost_usd"] for d in decisions[:2]]
    after, = client.stats("budget-settle")["budgets"]
    assert after["spent_usd"] > 0
    assert after["spent_usd"] == pytest.approx(sum(costs))
    assert after["reserved_usd"] == pytest.approx(decisions[2]["estimated_cost_usd"])


# --- 4. Stats and ExportLedger --------------------------------------------------------------------

# Premium is left out of the ledger traffic, so every call costs less than always-premium would.
CHEAPER = Constraints(allowed_models=("gpt-4o-mini", "gemini-2.0-flash", "claude-sonnet-4"))
LEDGER_CALLS = [  # (team, project, prompt, tokens in, tokens out); the last gets no feedback
    ("search", "ranking", "Explain what BM25 is in two sentences.", 60, 200),
    ("search", "ranking", "List three ways to evaluate a search engine.", 80, 400),
    ("search", "crawler", "What does robots.txt do?", 30, 150),
    ("ads", "billing", "Write a friendly note about a late payment.", 120, 600),
    ("ads", "billing", "What is a cost per click?", 20, 100),
]


@pytest.fixture(scope="module")
def ledger(client):
    """Five routes for tenant "ledger", the first four rated: [(route answer, feedback answer or None)]."""
    start = time.time()
    calls = []
    for i, (team, project, prompt, tokens_in, tokens_out) in enumerate(LEDGER_CALLS):
        decision = client.route(ask("ledger", prompt, team=team, project=project, constraints=CHEAPER))
        settled = None
        if i < len(LEDGER_CALLS) - 1:
            settled = client.feedback(FeedbackRequest(decision["decision_id"], 0.5 + i / 10,
                                                      input_tokens=tokens_in, output_tokens=tokens_out))
        calls.append((decision, settled))
    return start, time.time(), calls


def test_stats_totals_are_the_sum_of_the_settled_calls(client, ledger):
    _, _, calls = ledger
    total = client.stats("ledger")["total"]
    costs = [fed["actual_cost_usd"] for _, fed in calls if fed]
    assert (total["calls"], total["settled"], total["pending"]) == (5, 4, 1)
    assert total["spend_usd"] == pytest.approx(sum(costs))
    assert total["baseline_usd"] > total["spend_usd"]
    assert total["savings_usd"] == pytest.approx(total["baseline_usd"] - total["spend_usd"])
    assert total["savings_share"] == pytest.approx(total["savings_usd"] / total["baseline_usd"])
    assert total["mean_quality"] == pytest.approx((0.5 + 0.6 + 0.7 + 0.8) / 4)
    assert sum(total["model_mix"].values()) == 5


def test_stats_grouped_by_team_gives_one_group_per_team(client, ledger):
    stats = client.stats("ledger", group_by="team")
    assert stats["group_by"] == "team"
    groups = {g["value"]: g["figures"] for g in stats["groups"]}
    assert set(groups) == {"search", "ads"}
    assert (groups["search"]["calls"], groups["ads"]["calls"]) == (3, 2)
    assert sum(f["calls"] for f in groups.values()) == stats["total"]["calls"]
    assert sum(f["spend_usd"] for f in groups.values()) == pytest.approx(stats["total"]["spend_usd"])
    assert (groups["search"]["settled"], groups["ads"]["settled"]) == (3, 1)


def test_stats_over_a_window_counts_only_the_decisions_inside_it(client, ledger):
    start, end, _ = ledger
    assert client.stats("ledger", since=start - 1, until=end + 1)["total"]["calls"] == 5
    assert client.stats("ledger", since=end, until=end + 3600)["total"]["calls"] == 0
    assert client.stats("ledger", until=start - 1)["total"]["calls"] == 0


@pytest.mark.parametrize(
    "tenant, window, field",
    [
        ("ledger", dict(group_by="colour"), "group_by"),
        ("ledger", dict(since=2_000_000_000.0, until=1_000_000_000.0), "until"),
        (" ", {}, "tenant_id"),
    ],
)
def test_stats_refuses_an_unknown_group_a_backwards_window_or_no_tenant(client, tenant, window, field):
    error = refused(lambda: client.stats(tenant, **window))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(field)


def test_export_ledger_streams_exactly_the_settled_calls(client, ledger):
    _, _, calls = ledger
    entries = list(client.export_ledger("ledger"))
    settled = {d["decision_id"]: (d, fed, spec) for (d, fed), spec in zip(calls, LEDGER_CALLS) if fed}
    assert [e["decision_id"] for e in entries] == [d["decision_id"] for d, fed in calls if fed], "oldest first"
    for entry in entries:
        decision, fed, (team, project, _, tokens_in, tokens_out) = settled[entry["decision_id"]]
        assert entry["tenant_id"] == "ledger"
        assert (entry["team"], entry["project"]) == (team, project)
        assert entry["model"] == decision["model"]
        assert (entry["input_tokens"], entry["output_tokens"]) == (tokens_in, tokens_out)
        assert entry["cost_usd"] == pytest.approx(fed["actual_cost_usd"])
        assert entry["cost_usd"] == pytest.approx(REGISTRY[entry["model"]].cost(tokens_in, tokens_out))
        assert entry["baseline_cost_usd"] == pytest.approx(REGISTRY["claude-opus-4"].cost(tokens_in, tokens_out))
        assert entry["settled_unix"] >= entry["created_unix"] > 0
        assert entry["quality"] is not None
    backwards = refused(lambda: list(client.export_ledger("ledger", since=2.0, until=1.0)))
    assert backwards.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused(lambda: list(client.export_ledger(""))).code() == grpc.StatusCode.INVALID_ARGUMENT


# --- 5. the CLI against the running server --------------------------------------------------------


@pytest.fixture(scope="module")
def cli_traffic(client):
    """Tenant "cli-t": three settled calls (teams web, web, mobile) and one pending."""
    fed = []
    for i, team in enumerate(["web", "web", "mobile", "mobile"]):
        decision = client.route(ask("cli-t", f"Suggest a name for a pet turtle, idea {i}.", team=team,
                                    constraints=CHEAPER))
        if i < 3:
            fed.append((decision, client.feedback(FeedbackRequest(decision["decision_id"], 0.9,
                                                                  input_tokens=50, output_tokens=500))))
    return fed


def test_cli_stats_grouped_by_team_prints_the_spend_and_each_team(server, client, cli_traffic, capsys):
    assert cli(["stats", "--addr", server.addr, "--tenant", "cli-t", "--group-by", "team"]) == 0
    out = capsys.readouterr().out
    total = client.stats("cli-t", group_by="team")
    assert total["total"]["spend_usd"] == pytest.approx(sum(f["actual_cost_usd"] for _, f in cli_traffic))
    assert "tenant cli-t" in out
    assert "calls 4 (3 settled, 1 awaiting feedback, 0 expired)" in out
    assert f"spend ${total['total']['spend_usd']:.4f}" in out
    assert "by team:" in out
    for group in total["groups"]:
        figures = group["figures"]
        row = rf"^\s+{group['value']}\s+{figures['calls']}\s+{figures['spend_usd']:.4f}\s"
        assert re.search(row, out, re.M), out


def test_cli_export_csv_writes_a_header_and_a_row_per_settled_call(server, cli_traffic, tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    assert cli(["export", "--addr", server.addr, "--tenant", "cli-t", "--format", "csv", "--out", str(path)]) == 0
    assert "3 ledger entries" in capsys.readouterr().err
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    assert header[:3] == ["decision_id", "tenant_id", "created_unix"] and "cost_usd" in header
    rows = list(csv.DictReader(path.open(newline="")))
    assert len(rows) == 3
    expected = {d["decision_id"]: (d, fed) for d, fed in cli_traffic}
    assert {row["decision_id"] for row in rows} == set(expected)
    for row in rows:
        decision, fed = expected[row["decision_id"]]
        assert row["model"] == decision["model"]
        assert float(row["cost_usd"]) == pytest.approx(fed["actual_cost_usd"])
        assert row["team"] in {"web", "mobile"}


def test_cli_export_csv_of_an_empty_window_still_has_its_header(server, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    assert cli(["export", "--addr", server.addr, "--tenant", "nobody", "--format", "csv", "--out", str(path)]) == 0
    assert "0 ledger entries" in capsys.readouterr().err
    assert path.read_text().splitlines()[0].startswith("decision_id,tenant_id,created_unix")


def test_cli_export_json_prints_a_json_list(server, cli_traffic, capsys):
    assert cli(["export", "--addr", server.addr, "--tenant", "cli-t", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 3
    assert {r["decision_id"] for r in rows} == {d["decision_id"] for d, _ in cli_traffic}
    assert all(r["tenant_id"] == "cli-t" and r["quality"] == pytest.approx(0.9) for r in rows)


def test_cli_rules_put_list_and_delete(server, tmp_path, capsys):
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(yaml.safe_dump({
        "id": "cli-rule",
        "name": "mobile goes cheap",
        "conditions": [{"field": "team", "op": "eq", "value": "mobile"}],
        "action": {"type": "route", "model": "gpt-4o-mini"},
    }))
    base = ["--addr", server.addr, "--tenant", "cli-rules"]

    assert cli(["rules", "put", *base, "--file", str(rule_file)]) == 0
    put, = json.loads(capsys.readouterr().out)
    assert (put["rule"]["id"], put["source"]) == ("cli-rule", "api")

    assert cli(["rules", "list", *base]) == 0
    listed = json.loads(capsys.readouterr().out)["rules"]
    assert [(s["rule"]["id"], s["source"], s["rule"]["action"]["model"]) for s in listed] == \
        [("cli-rule", "api", "gpt-4o-mini")]

    assert cli(["rules", "delete", *base, "--id", "cli-rule"]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": "cli-rule"}
    assert cli(["rules", "list", *base]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []

    assert cli(["rules", "delete", *base, "--id", "cli-rule"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_cli_rules_put_of_an_invalid_rule_fails_naming_the_field(server, tmp_path, capsys):
    rule_file = tmp_path / "bad.yaml"
    rule_file.write_text(yaml.safe_dump({"id": "bad", "action": {"type": "route", "model": "gpt-9"}}))
    assert cli(["rules", "put", "--addr", server.addr, "--tenant", "cli-rules", "--file", str(rule_file)]) == 1
    assert "INVALID_ARGUMENT: rule.action.model: unknown model gpt-9" in capsys.readouterr().err


def test_cli_budgets_set_then_clear(server, tmp_path, capsys):
    budget_file = tmp_path / "budgets.yaml"
    budget_file.write_text("[{daily_usd: 2.5}, {team: search, monthly_usd: 40}]\n")
    base = ["--addr", server.addr, "--tenant", "cli-budgets"]
    assert cli(["budgets", "set", *base, "--file", str(budget_file)]) == 0
    budgets = json.loads(capsys.readouterr().out)["budgets"]
    assert [(b["scope"], b["period"], b["limit_usd"]) for b in budgets] == \
        [("cli-budgets", "daily", 2.5), ("cli-budgets/team=search", "monthly", 40)]
    budget_file.write_text("[{daily_usd: -3}]\n")
    assert cli(["budgets", "set", *base, "--file", str(budget_file)]) == 1
    assert "INVALID_ARGUMENT: budgets[0].daily_usd" in capsys.readouterr().err
    assert cli(["budgets", "clear", *base]) == 0
    assert json.loads(capsys.readouterr().out)["budgets"] == []
