"""Cost control through the service: the safety floor over rules over budgets over the bandit,
budgets that hold under concurrency and restarts, the ledger's savings, spend alerts."""

from __future__ import annotations

import itertools
import sys
import threading
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.errors import Blocked, InvalidArgument, ResourceExhausted
from router.domain.registry import TIERS
from router.domain.types import BudgetMode, Constraints, FeedbackRequest, LedgerEntry, Metadata, Reason
from router.service.report import figures, grouped
from tests.conftest import Clock, user_request

SECURITY_PROMPT = "Audit this login handler for SQL injection and session fixation vulnerabilities"
CODE_PROMPT = "Write a Python function that merges two sorted lists"
START = datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()
EXAMPLES = itertools.count()


def tenant(**fields) -> dict:
    return {"tenants": {"acme": fields}}


def test_sixty_four_concurrent_routes_never_reserve_past_a_small_budget(make_service):
    service = make_service(**tenant(budgets=[{"daily_usd": 0.02}]))
    start = threading.Barrier(64)
    outcomes: list = []

    def call(i: int) -> None:
        start.wait()
        try:
            outcomes.append(service.route(user_request(f"{CODE_PROMPT}, variant {i}")))
        except ResourceExhausted as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    routed = [d for d in outcomes if not isinstance(d, Exception)]
    refused = [e for e in outcomes if isinstance(e, ResourceExhausted)]
    assert routed and refused, "the budget should admit some calls and refuse others"
    assert sum(d.estimated_cost_usd for d in routed) <= 0.02
    status, = service.budgets.statuses("acme", service.clock())
    assert status.reserved == pytest.approx(sum(d.estimated_cost_usd for d in routed))
    assert "daily budget of acme" in str(refused[0])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.floats(0.004, 0.02))
def test_setting_a_budget_again_under_concurrent_routes_never_lets_them_pass_it(make_service, limit):
    service = getattr(test_setting_a_budget_again_under_concurrent_routes_never_lets_them_pass_it, "service", None)
    if service is None:
        service = make_service()
        test_setting_a_budget_again_under_concurrent_routes_never_lets_them_pass_it.service = service
    tenant_id = f"t{next(EXAMPLES)}"  # a tenant of its own per example: its counters start at zero
    service.set_budgets(tenant_id, [{"daily_usd": limit}])
    start = threading.Barrier(49)
    routed: list = []
    finished: list[int] = []

    def call(i: int) -> None:
        start.wait()
        try:
            routed.append(service.route(user_request(f"{CODE_PROMPT}, variant {i}", tenant=tenant_id)))
        except ResourceExhausted:
            pass
        finished.append(i)

    def set_again_while_routing() -> None:
        start.wait()
        while len(finished) < 48:
            service.set_budgets(tenant_id, [{"daily_usd": limit}])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(48)]
    threads.append(threading.Thread(target=set_again_while_routing))
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads interleave between any two steps, not every 5 ms
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch_interval)
    assert sum(d.estimated_cost_usd for d in routed) <= limit + 1e-12
    status, = service.budgets.statuses(tenant_id, service.clock())
    assert status.reserved == pytest.approx(sum(d.estimated_cost_usd for d in routed))


def test_an_unanswered_reservation_is_released_after_its_time(make_service):
    clock = Clock(START)
    service = make_service(clock=clock, reservation_seconds=600, **tenant(budgets=[{"daily_usd": 1.0}]))
    decision = service.route(user_request(CODE_PROMPT))
    assert service.budgets.statuses("acme", clock())[0].reserved == pytest.approx(decision.estimated_cost_usd)
    clock.now += 601
    assert service.budgets.statuses("acme", clock())[0].reserved == 0.0


def test_feedback_settles_the_reservation_to_the_actual_cost(make_service):
    service = make_service(**tenant(budgets=[{"daily_usd": 1.0}]))
    decision = service.route(user_request(CODE_PROMPT))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.9, 100, 50))
    status, = service.budgets.statuses("acme", service.clock())
    assert (status.spent, status.reserved) == (pytest.approx(record.actual_cost_usd), 0.0)


def test_budgets_survive_a_restart(tmp_path, make_service):
    config = tenant(budgets=[{"daily_usd": 1.0}])
    service = make_service(tmp_path, **config)
    settled = service.route(user_request(CODE_PROMPT))
    record = service.feedback(FeedbackRequest(settled.decision_id, 0.9, 100, 50))
    pending = service.route(user_request("Explain the difference between TCP and UDP"))
    service.close()
    restarted = make_service(tmp_path, **config)
    status, = restarted.budgets.statuses("acme", restarted.clock())
    assert status.spent == pytest.approx(record.actual_cost_usd)
    assert status.reserved == pytest.approx(pending.estimated_cost_usd)


def test_economy_mode_leaves_premium_out_but_a_security_task_keeps_it_and_is_counted(make_service, registry):
    service = make_service(**tenant(economy_at=0.01, budgets=[{"daily_usd": 100.0}]))
    service.budgets.reserve("earlier", "acme", Metadata(), 5.0, service.clock())  # 5% used: economy
    ordinary = [service.route(user_request(f"{CODE_PROMPT}, case {i}")) for i in range(20)]
    assert all(d.budget_mode == BudgetMode.ECONOMY for d in ordinary)
    assert all(registry[d.model].tier != "premium" for d in ordinary)
    secure = service.route(user_request(SECURITY_PROMPT, task_hint="security"))
    assert secure.security and registry[secure.model].tier == "premium"
    assert secure.budget_mode == BudgetMode.NORMAL
    assert service.budgets.statuses("acme", service.clock())[0].reserved == pytest.approx(
        5.0 + sum(d.estimated_cost_usd for d in ordinary) + secure.estimated_cost_usd)


def test_at_the_hard_limit_a_security_task_overdraws_only_when_the_tenant_allows_it(make_service, registry):
    service = make_service(tenants={
        "acme": {"budgets": [{"daily_usd": 0.001}]},
        "strict": {"budgets": [{"daily_usd": 0.001}], "security_overdraft": False},
    })
    for tenant_id in ("acme", "strict"):
        service.budgets.reserve("earlier", tenant_id, Metadata(), 0.001, service.clock())
    with pytest.raises(ResourceExhausted):
        service.route(user_request(CODE_PROMPT))
    overdraft = service.route(user_request(SECURITY_PROMPT, task_hint="security"))
    assert overdraft.budget_mode == BudgetMode.OVERDRAFT and registry[overdraft.model].tier == "premium"
    with pytest.raises(ResourceExhausted, match="daily budget of strict"):
        service.route(user_request(SECURITY_PROMPT, tenant="strict", task_hint="security"))


def test_a_route_rule_decides_and_outranks_economy_mode(make_service, registry):
    premium = next(m.id for m in registry if m.tier == "premium")
    rule = {"id": "vip", "conditions": [{"field": "team", "op": "eq", "value": "vip"}],
            "action": {"type": "route", "model": premium}}
    service = make_service(**tenant(economy_at=0.01, budgets=[{"daily_usd": 100.0}], rules=[rule]))
    service.budgets.reserve("earlier", "acme", Metadata(), 5.0, service.clock())
    decision = service.route(user_request(CODE_PROMPT, metadata=Metadata(team="vip")))
    assert (decision.model, decision.reason, decision.rule_id) == (premium, Reason.RULE, "vip")
    assert decision.budget_mode == BudgetMode.NORMAL
    other = service.route(user_request(CODE_PROMPT, metadata=Metadata(team="ops")))
    assert other.rule_id == "" and registry[other.model].tier != "premium"


def test_a_block_rule_refuses_and_is_counted(make_service):
    rule = {"id": "no-secrets", "conditions": [{"field": "prompt", "op": "regex", "value": r"(?i)\bapi[_ ]key\b"}],
            "action": {"type": "block", "message": "never send keys to an LLM"}}
    service = make_service(**tenant(rules=[rule]))
    with pytest.raises(Blocked, match="no-secrets.*never send keys"):
        service.route(user_request("Here is my API key sk-123, why does it fail?"))
    service.route(user_request(CODE_PROMPT))
    state, = service.rule_states("acme")
    assert (state.counts.matched, state.counts.applied) == (1, 1)


def test_set_cost_weight_and_bypass_cache_rules_act(make_service):
    rules = [
        {"id": "thrifty", "conditions": [{"field": "feature", "op": "eq", "value": "autocomplete"}],
         "action": {"type": "set_cost_weight", "cost_weight": 3.0}},
        {"id": "fresh", "conditions": [{"field": "feature", "op": "eq", "value": "autocomplete"}],
         "action": {"type": "bypass_cache"}},
    ]
    service = make_service(**tenant(rules=rules))
    first = service.route(user_request("What is the capital of France?", metadata=Metadata(feature="autocomplete")))
    service.feedback(FeedbackRequest(first.decision_id, 0.95, response_text="Paris."))
    again = service.route(user_request("What is the capital of France?", metadata=Metadata(feature="autocomplete")))
    assert first.cost_weight == again.cost_weight == 3.0
    assert again.cache is None
    plain = service.route(user_request("What is the capital of France?"))
    assert plain.cache is not None  # without the rule the cached answer is served


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_rule_routes_a_security_task_below_premium(make_service, registry, data):
    service = getattr(test_no_rule_routes_a_security_task_below_premium, "service", None)
    if service is None:
        service = make_service()
        test_no_rule_routes_a_security_task_below_premium.service = service
    model = data.draw(st.sampled_from(registry.ids))
    fallback = data.draw(st.sampled_from(registry.ids))
    tiers = data.draw(st.lists(st.sampled_from(TIERS), min_size=1, unique=True))
    action = data.draw(st.sampled_from([
        {"type": "route", "model": model, "fallback": fallback},
        {"type": "restrict_tiers", "tiers": tiers},
    ]))
    service.put_rule("acme", {"id": "r", "action": action})
    decision = service.route(user_request(SECURITY_PROMPT, task_hint="security"))
    assert decision.security and registry[decision.model].tier == "premium"


def test_stats_savings_equal_a_hand_computation(make_service, registry):
    service = make_service()
    cheap, premium = registry["deepseek-chat"], registry[registry.baseline_model]
    tokens = [(1000, 500), (2000, 100), (300, 300)]
    for i, (tokens_in, tokens_out) in enumerate(tokens):
        d = service.route(user_request(f"{CODE_PROMPT} {i}", constraints=Constraints(("deepseek-chat",)),
                                       metadata=Metadata(team="a" if i else "b")))
        service.feedback(FeedbackRequest(d.decision_id, 0.8, tokens_in, tokens_out))
    service.route(user_request("never answered", constraints=Constraints(("deepseek-chat",))))
    stats = service.stats("acme", 0, service.clock() + 1, "team")
    spend = sum(cheap.cost(i, o) for i, o in tokens)
    baseline = sum(premium.cost(i, o) for i, o in tokens)
    assert (stats.total.calls, stats.total.settled, stats.total.pending) == (4, 3, 1)
    assert stats.total.spend_usd == pytest.approx(spend)
    assert stats.total.baseline_usd == pytest.approx(baseline)
    assert stats.total.savings_share == pytest.approx(1 - spend / baseline)
    assert stats.total.mean_quality == pytest.approx(0.8)
    assert stats.groups["a"].spend_usd == pytest.approx(cheap.cost(2000, 100) + cheap.cost(300, 300))


def test_figures_count_cache_hits_budget_modes_and_rules():
    entries = [
        _entry("1", cost=0.01, baseline=0.10, quality=0.9),
        _entry("2", cost=0.0, baseline=0.05, quality=None, cache_hit=True, cache_saved=0.02),
        _entry("3", cost=0.02, baseline=0.10, quality=0.5, budget_mode=BudgetMode.ECONOMY, team="x"),
        _entry("4", cost=0.2, baseline=0.2, quality=None, settled=False, budget_mode=BudgetMode.OVERDRAFT,
               rule_id="r", team="x"),
    ]
    f = figures(entries)
    assert (f.calls, f.settled, f.pending, f.cache_hits) == (4, 3, 1, 1)
    assert f.spend_usd == pytest.approx(0.03) and f.baseline_usd == pytest.approx(0.25)
    assert f.savings_usd == pytest.approx(0.22) and f.cache_saved_usd == pytest.approx(0.02)
    assert f.mean_quality == pytest.approx(0.7)
    assert (f.economy, f.overdrafts, f.rule_shaped) == (1, 1, 1)
    assert f.model_mix == {"deepseek-chat": 3}
    assert f.cache_hit_rate == 0.25
    assert set(grouped(entries, "team")) == {"", "x"}


def test_a_spend_spike_raises_one_alert_that_stats_lists_and_steady_traffic_raises_none(make_service):
    clock = Clock(START)
    service = make_service(clock=clock, anomalies={"min_history_hours": 6, "min_spend_usd": 0.001})
    only_cheap = Constraints(("deepseek-chat",))

    def hour_of_calls(n: int) -> None:
        for i in range(n):
            d = service.route(user_request(f"{CODE_PROMPT} {clock.now} {i}", constraints=only_cheap,
                                           metadata=Metadata(team="search")))
            service.feedback(FeedbackRequest(d.decision_id, 0.9, 1000, 500))
            clock.now += 3600 / n

    for _ in range(12):
        hour_of_calls(4)
    assert service.stats("acme", 0, clock.now).alerts == []
    hour_of_calls(40)
    alerts = service.stats("acme", 0, clock.now + 1).alerts
    assert {a.team for a in alerts} == {"", "search"}  # the tenant and its team, once each
    assert all(a.z >= 4.0 and a.spend_usd > a.expected_usd > 0 for a in alerts)
    assert all(START + 12 * 3600 <= a.hour_start < START + 13 * 3600 for a in alerts)


def _entry(decision_id: str, cost: float, baseline: float, quality: float | None, cache_hit: bool = False,
           cache_saved: float = 0.0, settled: bool = True, budget_mode: str = "", rule_id: str = "",
           team: str = "") -> LedgerEntry:
    return LedgerEntry(
        decision_id=decision_id, tenant_id="acme", created_at=START, team=team, project="", feature="", user="",
        model="deepseek-chat", category="chat", security=False, reason="bandit", rule_id=rule_id,
        budget_mode=budget_mode, estimated_cost_usd=cost, cache_hit=cache_hit,
        settled_at=START + 1 if settled and not cache_hit else None, input_tokens=10, output_tokens=10,
        cost_usd=cost, baseline_cost_usd=baseline, cache_saved_usd=cache_saved, quality=quality, error=False,
    )


def test_a_replaced_or_deleted_and_re_added_rule_counts_from_its_new_version(make_service):
    clock = Clock(START)
    service = make_service(clock=clock)
    rule = {"id": "r", "conditions": [{"field": "team", "op": "eq", "value": "a"}],
            "action": {"type": "route", "model": "gpt-4o-mini"}}
    service.put_rule("acme", rule)
    for _ in range(3):
        clock.now += 1
        service.route(user_request(CODE_PROMPT, metadata=Metadata(team="a")))
    assert service.rule_states("acme")[0].counts.matched == 3
    clock.now += 1
    service.delete_rule("acme", "r")
    service.put_rule("acme", {**rule, "action": {"type": "bypass_cache"}})
    assert service.rule_states("acme")[0].counts.matched == 0


def test_an_empty_tenant_is_refused_by_every_admin_and_report_call(make_service):
    service = make_service()
    for call in (lambda: service.rule_states(" "), lambda: service.put_rule("", {}),
                 lambda: service.delete_rule("", "r"), lambda: service.stats("", 0, 1),
                 lambda: service.ledger("", 0, 1)):
        with pytest.raises(InvalidArgument, match="tenant_id"):
            call()


# --- budgets set over gRPC ----------------------------------------------------------------------------


def spend(service, n: int, quality: float = 0.9) -> float:
    """n settled calls of acme; what they cost."""
    total = 0.0
    for i in range(n):
        decision = service.route(user_request(f"{CODE_PROMPT}, variant {i}"))
        total += service.feedback(FeedbackRequest(decision.decision_id, quality)).actual_cost_usd
    return total


def test_a_budget_set_later_counts_what_was_spent_before_it_and_binds_at_once(make_service):
    clock = Clock(START)
    service = make_service(clock=clock)
    spent = spend(service, 3)
    daily, = service.set_budgets("acme", [{"daily_usd": spent * 1.01}])
    assert daily.spent == pytest.approx(spent) and daily.limit.scope == "acme"
    with pytest.raises(ResourceExhausted, match="daily budget of acme"):
        for i in range(50):
            service.route(user_request(f"{CODE_PROMPT}, again {i}"))


def test_budgets_set_later_survive_a_restart_and_an_empty_list_removes_them(make_service, tmp_path):
    clock = Clock(START)
    first = make_service(tmp_path / "data", clock=clock, **tenant(budgets=[{"monthly_usd": 100}]))
    spent = spend(first, 2)
    first.set_budgets("acme", [{"team": "search", "daily_usd": 1.0}])
    first.close()
    second = make_service(tmp_path / "data", clock=clock, **tenant(budgets=[{"monthly_usd": 100}]))
    statuses = {(s.limit.scope, s.limit.period): s for s in second.budgets.statuses("acme", clock())}
    assert set(statuses) == {("acme", "monthly"), ("acme/team=search", "daily")}  # the config's stays
    assert statuses["acme", "monthly"].spent == pytest.approx(spent)
    assert [s.limit.scope for s in second.set_budgets("acme", [])] == ["acme"]


@pytest.mark.parametrize("budgets, field", [
    ([{"daily_usd": -1}], "budgets[0].daily_usd"),
    ([{"daily_usd": float("inf")}], "budgets[0].daily_usd"),
    ([{"daily_usd": 5}, {"team": "search"}], "budgets[1]"),
    ([{"weekly_usd": 5}], "budgets[0].weekly_usd"),
])
def test_a_bad_budget_is_invalid_argument_naming_the_field_and_changes_nothing(make_service, budgets, field):
    service = make_service(**tenant(budgets=[{"daily_usd": 7}]))
    with pytest.raises(InvalidArgument) as raised:
        service.set_budgets("acme", budgets)
    assert raised.value.field == field
    assert [s.limit.usd for s in service.budgets.statuses("acme", service.clock())] == [7]


def test_more_budgets_than_a_tenant_may_have_are_refused(make_service):
    from router.decide.budgets import MAX_BUDGETS

    with pytest.raises(InvalidArgument, match=f"at most {MAX_BUDGETS}"):
        make_service().set_budgets("acme", [{"daily_usd": 1}] * (MAX_BUDGETS + 1))
