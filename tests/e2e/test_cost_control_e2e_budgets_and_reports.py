"""End to end over gRPC: budgets (economy, refusal, the security overdraft), Stats and ExportLedger."""

from __future__ import annotations

import time

import grpc
import pytest

from router.client import RouterClient
from router.domain.types import Constraints, FeedbackRequest
from tests.e2e.cost_control_helpers import (BUDGET_OUTPUT_TOKENS, CHEAPER, PREMIUM, REGISTRY, SECURITY_PROMPT, ask,
                                            refused)

pytestmark = pytest.mark.slow


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
