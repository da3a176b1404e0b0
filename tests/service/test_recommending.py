"""The cost advisor's recommendations as a tenant meets them: found in its own ledger, applied as a rule
on an A/B share and then measured on the rule's two arms, dismissed until the evidence changes, rolled back."""

from __future__ import annotations

import random

import pytest

from router.domain.errors import FailedPrecondition, NotFound
from router.domain.types import Constraints, FeedbackRequest, Metadata
from tests.conftest import Clock, user_request

START = 1_800_000_000.0
TWO = Constraints(allowed_models=("gpt-4o", "gpt-4o-mini"))


def chat(service, clock, calls: int, seed: int) -> None:
    """Team search's chat between two models rated alike: the cheaper one, which the bandit explored, is
    as good as the one it mostly chose."""
    rng = random.Random(seed)
    for n in range(calls):
        clock.now += 60
        decision = service.route(user_request(f"Hi! How are you doing today, friend {seed}-{n}?", constraints=TWO,
                                              metadata=Metadata(team="search")))
        quality = min(1.0, max(0.0, rng.gauss(0.9, 0.05)))
        service.feedback(FeedbackRequest(decision.decision_id, quality, 300, 200))


@pytest.fixture
def advised(make_service):
    clock = Clock(START)
    service = make_service(clock=clock, tenants={"acme": {"cost_weight": 0.0}})  # quality alone: premium-leaning
    chat(service, clock, 400, seed=1)
    return service, clock


def test_a_cheaper_model_rated_as_well_is_recommended_with_its_evidence_and_a_rule(advised):
    service, clock = advised
    found = service.recommendations("acme", START, clock.now + 1)
    top = found[0]
    assert top["category"] == "cheaper_model" and top["status"] == "pending"
    assert top["scope"] == {"team": "search", "category": "chat"}
    assert top["monthly_saving_usd"] > 0 and top["projection"]["estimator"] == "DR"
    before, after = top["projection"]["quality_before"], top["projection"]["quality_after"]
    assert after["low"] <= 0.9 <= after["high"] and before["low"] <= 0.9 <= before["high"]
    rule = top["suggested_rule"]
    assert rule["action"]["type"] == "route" and {"field": "security", "op": "eq", "value": False} in rule["conditions"]


def test_applied_on_an_ab_share_it_is_measured_on_both_arms_of_the_rule(advised):
    service, clock = advised
    top = service.recommendations("acme", START, clock.now + 1)[0]
    applied = service.decide_recommendation("acme", top["id"], "apply", ab_share=0.5, since=START, until=clock.now + 1)
    assert applied["status"] == "testing" and applied["ab_share"] == 0.5
    rule, = [s.rule for s in service.rule_states("acme") if s.rule.id == top["suggested_rule"]["id"]]
    assert rule.ab_share == 0.5
    with pytest.raises(FailedPrecondition, match="roll its rule back first"):
        service.decide_recommendation("acme", top["id"], "dismiss", since=START, until=clock.now + 1)
    chat(service, clock, 120, seed=2)
    listed = {d["id"]: d for d in service.recommendations("acme", START, clock.now + 1)}
    measured = listed[top["id"]]["measured"]
    treated, control = measured["treated"], measured["control"]
    assert treated["calls"] > 20 and control["calls"] > 20 and treated["calls"] + control["calls"] == 120
    assert treated["mean_cost_usd"] < control["mean_cost_usd"]  # the cheaper model, against the bandit's mix
    assert measured["saved_usd"] == pytest.approx(
        treated["calls"] * (control["mean_cost_usd"] - treated["mean_cost_usd"]))
    rolled = service.decide_recommendation("acme", top["id"], "roll_back", since=START, until=clock.now + 1)
    assert rolled["status"] == "rolled_back" and top["suggested_rule"]["id"] not in {
        s.rule.id for s in service.rule_states("acme")}
    with pytest.raises(FailedPrecondition, match="nothing to roll back"):
        service.decide_recommendation("acme", top["id"], "roll_back", since=START, until=clock.now + 1)


def test_a_dismissed_recommendation_stays_away_until_its_evidence_changes(advised):
    service, clock = advised
    top = service.recommendations("acme", START, clock.now + 1)[0]
    service.decide_recommendation("acme", top["id"], "dismiss", since=START, until=clock.now + 1)
    assert top["id"] not in {d["id"] for d in service.recommendations("acme", START, clock.now + 1)}
    shown = {d["id"]: d for d in service.recommendations("acme", START, clock.now + 1, include_dismissed=True)}
    assert shown[top["id"]]["status"] == "dismissed"
    # The same ledger read over a window ten times as long: the projected saving's order of magnitude,
    # part of the evidence, changes, and the recommendation is pending again.
    again = {d["id"]: d for d in service.recommendations("acme", START - 9 * (clock.now - START), clock.now + 1)}
    assert again[top["id"]]["status"] == "pending" and "evidence changed" in again[top["id"]]["note"]


def test_unknown_recommendations_and_actions_are_refused(advised):
    service, clock = advised
    with pytest.raises(NotFound):
        service.decide_recommendation("acme", "cheaper_model-000", "apply", since=START, until=clock.now + 1)
    top = service.recommendations("acme", START, clock.now + 1)[0]
    with pytest.raises(Exception, match="unknown action"):
        service.decide_recommendation("acme", top["id"], "promote", since=START, until=clock.now + 1)


def test_waste_becomes_recommendations_to_fix_by_hand(make_service):
    clock = Clock(START)
    service = make_service(clock=clock, tenants={"acme": {"timeout_ms": 5000}})
    for n in range(6):  # a cron job re-sending its prompt every few seconds, the first ones timing out
        clock.now += 5
        decision = service.route(user_request("Is the nightly export done?", metadata=Metadata(user="cron")))
        slow = n < 2
        service.feedback(FeedbackRequest(decision.decision_id, None if slow else 0.9, 300, 100, error=slow,
                                         latency_ms=9000 if slow else 500))
    for n in range(3):  # a feature that never reports back
        service.route(user_request(f"Draft reply {n} to the customer.", metadata=Metadata(team="ops", feature="mail")))
    clock.now += 25 * 3600
    service.expire_overdue()
    listed = service.recommendations("acme", START, clock.now)
    found = {d["category"]: d for d in listed}
    storm, abandoned = found["retry_storm"], found["abandoned"]
    assert storm["scope"] == {"user": "cron"} and storm["suggested_rule"] is None and storm["monthly_saving_usd"] > 0
    timeouts = [d for d in listed if d["category"] == "timeouts"]  # one per model the slow calls were on
    assert sum(d["evidence"]["affected"] for d in timeouts) == 2
    assert {d["evidence"]["details"]["max_latency_ms"] for d in timeouts} == {9000}
    assert abandoned["scope"] == {"team": "ops", "feature": "mail"} and abandoned["evidence"]["affected"] == 3


def test_applied_on_all_its_traffic_it_is_measured_against_the_cost_logged_before(advised):
    service, clock = advised
    top = service.recommendations("acme", START, clock.now + 1)[0]
    assert service.decide_recommendation("acme", top["id"], "apply", since=START,
                                         until=clock.now + 1)["status"] == "applied"
    chat(service, clock, 30, seed=3)
    measured = next(d for d in service.recommendations("acme", START, clock.now + 1) if d["id"] == top["id"])["measured"]
    before = top["projection"]["cost_before_usd"] / top["projection"]["quality_before"]["n"]
    assert measured["control"]["calls"] == 0 and measured["treated"]["calls"] == 30
    assert measured["saved_usd"] == pytest.approx(30 * (before - measured["treated"]["mean_cost_usd"]))
