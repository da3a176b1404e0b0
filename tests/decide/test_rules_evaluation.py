"""Evaluating rules: precedence, the A/B split, and an evaluation that never raises."""

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.rules import Facts, evaluate, in_share
from tests.decide.rule_helpers import EVERY_KIND, facts, rule

# --- precedence --------------------------------------------------------------------------------

DOCS = [{"field": "category", "op": "eq", "value": "documentation"}]


def test_the_lower_priority_number_decides_a_route():
    first = rule("b-first", {"type": "route", "model": "deepseek-chat"}, DOCS, priority=10)
    second = rule("a-second", {"type": "route", "model": "gpt-4o-mini"}, DOCS, priority=20)
    outcome = evaluate([second, first], facts(), "d1")
    assert outcome.matched == ("b-first", "a-second")
    assert outcome.applied == ("b-first",)
    assert (outcome.route.model, outcome.route_rule) == ("deepseek-chat", "b-first")


def test_equal_priorities_are_ordered_by_id():
    b = rule("b", {"type": "route", "model": "deepseek-chat"})
    a = rule("a", {"type": "route", "model": "gpt-4o-mini"})
    assert evaluate([b, a], facts(), "d1").route_rule == "a"


def test_a_block_is_in_the_outcome_with_its_message():
    block = rule("no-legal", {"type": "block", "message": "legal prompts go elsewhere"}, priority=50)
    route = rule("cheap", {"type": "route", "model": "deepseek-chat"}, priority=1)
    outcome = evaluate([route, block], facts(), "d1")
    assert (outcome.block_rule, outcome.block.message) == ("no-legal", "legal prompts go elsewhere")
    assert outcome.applied == ("cheap", "no-legal")


def test_route_and_restrict_tiers_are_both_in_the_outcome():
    route = rule("cheap", {"type": "route", "model": "deepseek-chat"})
    tiers = rule("no-premium", {"type": "restrict_tiers", "tiers": ["budget", "mid"]})
    outcome = evaluate([tiers, route], facts(), "d1")
    assert outcome.route_rule == "cheap"
    assert (outcome.tiers, outcome.tiers_rule) == (("budget", "mid"), "no-premium")
    assert set(outcome.applied) == {"cheap", "no-premium"}


def test_cost_weight_and_cache_bypass():
    weight = rule("frugal", {"type": "set_cost_weight", "cost_weight": 0.8})
    bypass = rule("fresh", {"type": "bypass_cache"}, [{"field": "team", "op": "eq", "value": "platform"}])
    outcome = evaluate([weight, bypass], facts(), "d1")
    assert (outcome.cost_weight, outcome.cost_weight_rule) == (0.8, "frugal")
    assert outcome.bypass_cache and outcome.bypass_cache_rule == "fresh"
    assert not evaluate([bypass], facts(team="finance"), "d1").bypass_cache


def test_a_disabled_rule_is_ignored():
    off = rule("off", {"type": "block"}, enabled=False)
    outcome = evaluate([off], facts(), "d1")
    assert outcome == evaluate([], facts(), "d1")
    assert outcome.matched == () and outcome.block is None


def test_a_rule_needs_all_its_conditions():
    both = rule("both", {"type": "bypass_cache"}, [*DOCS, {"field": "input_tokens", "op": "gt", "value": 5000}])
    assert evaluate([both], facts(), "d1").matched == ()
    assert evaluate([both], facts(input_tokens=6000), "d1").matched == ("both",)


def test_a_rule_outside_its_share_is_matched_not_applied_and_the_next_decides():
    ids = [uuid.UUID(int=i).hex for i in range(200)]
    outside = next(d for d in ids if not in_share("half", d, 0.5))
    half = rule("half", {"type": "route", "model": "deepseek-chat"}, priority=1, ab_share=0.5)
    rest = rule("rest", {"type": "route", "model": "gpt-4o-mini"}, priority=2)
    outcome = evaluate([half, rest], facts(), outside)
    assert outcome.matched == ("half", "rest")
    assert (outcome.applied, outcome.route_rule) == (("rest",), "rest")


# --- the A/B split -----------------------------------------------------------------------------


def test_in_share_is_deterministic_and_takes_about_its_share():
    # Fixed here: the split must not move between processes or releases, or live experiments reshuffle.
    split = [in_share("cheap-docs", f"d{i}", 0.5) for i in range(16)]
    assert split == [bool(x) for x in (0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0)]
    ids = [uuid.uuid4().hex for _ in range(10_000)]
    selected = sum(in_share("cheap-docs", d, 0.3) for d in ids) / len(ids)
    assert abs(selected - 0.3) < 0.02


@given(rule_id=st.text(), decision_id=st.text(), a=st.floats(0, 1), b=st.floats(0, 1))
def test_a_larger_share_selects_everything_a_smaller_one_does(rule_id, decision_id, a, b):
    low, high = sorted((a, b))
    assert in_share(rule_id, decision_id, 1.0)
    assert not in_share(rule_id, decision_id, low) or in_share(rule_id, decision_id, high)


# --- robustness --------------------------------------------------------------------------------

any_facts = st.builds(
    Facts,
    model=st.text(),
    provider=st.text(),
    category=st.text(),
    security=st.booleans(),
    input_tokens=st.integers(),
    team=st.text(),
    project=st.text(),
    feature=st.text(),
    user=st.text(),
    complexity=st.floats(),
    time_of_day=st.integers(),
    day_of_week=st.integers(),
    prompt=st.text(),
)


@settings(max_examples=300, deadline=None)
@given(any_facts, st.text())
def test_evaluate_never_raises(request_facts, decision_id):
    outcome = evaluate(EVERY_KIND, request_facts, decision_id)
    assert set(outcome.applied) <= set(outcome.matched)
    assert "r6" not in outcome.matched

