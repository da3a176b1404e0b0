"""Stats tells a tenant where its money went to waste (retry storms, timeouts, decisions never answered)
and, when asked, what it will spend in the coming days, per team, and which budget will run out first."""

from __future__ import annotations

import pytest

from router.domain.errors import InvalidArgument
from router.domain.types import FeedbackRequest, Metadata
from tests.conftest import Clock, user_request

DAY = 86400.0
START = 1_799_971_200.0  # a UTC midnight


def test_a_caller_repeating_one_prompt_within_a_minute_is_a_retry_storm_that_wasted_all_but_one_call(make_service):
    clock = Clock(START + 3600)
    service = make_service(clock=clock, tenants={"acme": {"timeout_ms": 5000}})
    costs = []
    for n in range(8):
        clock.now += 5
        decision = service.route(user_request("Is the nightly export done yet?", metadata=Metadata(user="cron-7")))
        slow = n == 0  # the first timed out, and its caller threw the answer away
        record = service.feedback(FeedbackRequest(decision.decision_id, None if slow else 0.9, 100, 50,
                                                  latency_ms=9000 if slow else 800, error=slow))
        costs.append(record.actual_cost_usd)
    waste = service.stats("acme", START, START + DAY).waste
    storm, = waste.storms
    assert (storm.calls, storm.caller, storm.errors) == (8, "user=cron-7", 1)
    assert storm.wasted_usd == pytest.approx(sum(costs) - costs[1])  # the first answer used was the second call's
    assert waste.timeout_calls == 1 and waste.timeouts[0].wasted_usd == pytest.approx(costs[0])
    assert waste.wasted_usd == pytest.approx(storm.wasted_usd)  # the timed-out call is in the storm: counted once


def test_the_forecast_follows_three_weeks_of_growing_spend_and_says_when_a_daily_budget_runs_out(make_service):
    clock = Clock(START)
    # One model for every call: the spend grows with the calls, not with what the bandit learns.
    service = make_service(clock=clock, tenants={"acme": {"rules": [
        {"id": "one-model", "action": {"type": "route", "model": "gpt-4o"}}]}})
    for day in range(21):
        for n in range(4 + day // 3):  # spend grows
            clock.now = START + day * DAY + 3600 * (1 + n)
            team = ("search", "ads")[n % 2]
            decision = service.route(user_request(f"Summarise ticket {day}-{n} for the on-call engineer.",
                                                  metadata=Metadata(team=team)))
            service.feedback(FeedbackRequest(decision.decision_id, 0.9, 400, 300))
    clock.now = START + 21 * DAY + 60  # a minute into day 22, before any of its calls
    history = service.stats("acme", START, clock.now).total.spend_usd
    service.set_budgets("acme", [{"daily_usd": history / 21 / 2}])  # half a usual day
    stats = service.stats("acme", START, clock.now, forecast_days=7)
    tenant, *teams = stats.forecasts
    assert [f.team for f in stats.forecasts] == ["", "ads", "search"]
    assert tenant.forecast.method.endswith("weekly") and tenant.forecast.history_days == 21  # three weeks: a cycle
    assert len(tenant.forecast.days) == 7 and tenant.forecast.days[0].start == START + 21 * DAY
    last_week = sum(tenant.history.spend[-7:])
    assert sum(d.mean for d in tenant.forecast.days) > last_week  # it kept growing
    runout, = tenant.runouts
    assert clock.now < runout.runs_out_at < START + 22 * DAY  # today, at the forecast's rate
    assert runout.may_run_out_at <= runout.runs_out_at
    assert all(not f.runouts for f in teams)  # no budget on a team


def test_a_forecast_is_asked_for_up_to_a_month_ahead(make_service):
    service = make_service()
    with pytest.raises(InvalidArgument, match="forecast_days"):
        service.stats("acme", 0, 1e9, forecast_days=32)
    assert service.stats("acme", 0, 1e9).forecasts == []


def test_a_retry_storm_is_alerted_once_while_it_goes_on_and_stats_lists_it(make_service, caplog):
    clock = Clock(START + 3600)
    service = make_service(clock=clock)

    def repeat(times: int) -> None:
        for _ in range(times):
            clock.now += 3
            decision = service.route(user_request("Is the nightly export done yet?", metadata=Metadata(user="cron-7")))
            service.feedback(FeedbackRequest(decision.decision_id, 0.9, 100, 50))

    repeat(3)
    assert service.watch_waste() == 0  # three calls are not a storm
    repeat(3)
    with caplog.at_level("WARNING"):
        assert service.watch_waste() == 1
    assert "retry storm: user=cron-7" in caplog.text
    repeat(4)
    assert service.watch_waste() == 0  # the same storm, going on: its alert follows it
    alert, = service.stats("acme", START, START + DAY).storm_alerts
    assert (alert.caller, alert.calls, alert.trigger) == ("user=cron-7", 10, "burst")
