"""The spend forecast: daily spend from the ledger, the next days' with an interval, and when a budget
runs out."""

from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.advice.forecast import (DAY_SECONDS, MAX_HISTORY_DAYS, DailySeries, Forecast, ForecastDay, budget_runout,
                                    daily_spend, forecast, plot_forecast)
from router.domain.types import LedgerEntry

MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()  # midnight UTC
HOUR = 3600
HORIZON = 7
# A weekly cycle around the trend, in dollars, Monday first: weekends spend less. It sums to 0.
WEEKLY_SWING = np.array([10.0, 12.0, 12.0, 10.0, 5.0, -24.0, -25.0])
NOISE_SD = 2.0  # dollars a day, on a level of about 100: 2 %
# Four weeks to three months of history: the lengths the Stats RPC will mostly see.
HISTORY_LENGTHS = (28, 35, 42, 49, 56, 63, 70, 90)


def entry(created_at: float, cost_usd: float, team: str = "", settled: bool = True) -> LedgerEntry:
    """A ledger entry with what the forecast reads: when, whose, what it cost, whether settled."""
    return LedgerEntry(decision_id=f"d{created_at}", tenant_id="acme", created_at=created_at, team=team, project="",
                       feature="", user="", model="gpt-4o-mini", category="simple_query", security=False,
                       reason="bandit", rule_id="", budget_mode="", estimated_cost_usd=cost_usd, cache_hit=False,
                       settled_at=created_at + 5 if settled else None, input_tokens=100, output_tokens=100,
                       cost_usd=cost_usd, baseline_cost_usd=cost_usd, cache_saved_usd=0.0, quality=None, error=False)


def day(index: int, hour: float = 12) -> float:
    return MONDAY + index * DAY_SECONDS + hour * HOUR


def series(spend, today_spend: float = 0.0) -> DailySeries:
    return DailySeries(start=MONDAY, spend=tuple(float(x) for x in spend), today_spend=today_spend)


def known_trend(days: int, slope: float, seed: int, weekly: bool = False) -> tuple[DailySeries, np.ndarray]:
    """History of 100 + slope × day (+ the weekly swing) with a little noise, and the next days' true values."""
    index = np.arange(days + HORIZON)
    truth = 100 + slope * index + (WEEKLY_SWING[index % 7] if weekly else 0)
    noisy = truth[:days] + np.random.default_rng(seed).normal(0, NOISE_SD, days)
    return series(noisy), truth[days:]


# --- From the ledger to daily spend ----------------------------------------------------------------


def test_daily_spend_sums_settled_calls_per_utc_day_and_a_quiet_day_is_zero():
    entries = [
        entry(day(0, hour=0), 1.0), entry(day(0, hour=23.99), 2.0),
        entry(day(0), 100.0, settled=False),  # awaiting feedback: its cost is not known yet
        entry(day(1, hour=0), 4.0),  # midnight belongs to the day it starts
        entry(day(3), 8.0),
    ]

    result = daily_spend(entries, until=day(4, hour=6))

    assert result.start == MONDAY
    assert result.spend == (3.0, 4.0, 0.0, 8.0)
    assert result.today_start == MONDAY + 4 * DAY_SECONDS


def test_daily_spend_keeps_today_apart_and_leaves_out_later_calls():
    entries = [entry(day(0), 1.0), entry(day(1, hour=1), 2.0), entry(day(1, hour=5), 4.0),
               entry(day(1, hour=7), 8.0)]

    result = daily_spend(entries, until=day(1, hour=6))

    assert result.spend == (1.0,)
    assert result.today_spend == 6.0  # partial: the calls before 06:00, not the one at 07:00


def test_daily_spend_of_a_team_counts_only_its_calls_and_starts_at_its_first():
    entries = [entry(day(0), 1.0, team="search"), entry(day(2), 2.0, team="ads"), entry(day(3), 4.0, team="ads"),
               entry(day(3), 8.0, team="search")]

    ads = daily_spend(entries, until=day(5), team="ads")
    tenant = daily_spend(entries, until=day(5))

    assert (ads.start, ads.spend) == (MONDAY + 2 * DAY_SECONDS, (2.0, 4.0, 0.0))
    assert (tenant.start, tenant.spend) == (MONDAY, (1.0, 0.0, 2.0, 12.0, 0.0))


def test_a_call_awaiting_feedback_starts_the_history_and_days_caps_it():
    entries = [entry(day(0), 5.0, settled=False), entry(day(6), 1.0)]

    assert daily_spend(entries, until=day(8)).spend == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert daily_spend(entries, until=day(8), days=3).spend == (0.0, 1.0, 0.0)
    assert daily_spend([], until=day(8)) == DailySeries(start=MONDAY + 8 * DAY_SECONDS, spend=(), today_spend=0.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10 * DAY_SECONDS), st.floats(0, 5), st.booleans()), max_size=30),
       st.floats(DAY_SECONDS, 11 * DAY_SECONDS))
def test_daily_spend_accounts_for_every_settled_dollar_before_until(calls, until_offset):
    until = MONDAY + until_offset
    entries = [entry(MONDAY + at, cost, settled=settled) for at, cost, settled in calls]

    result = daily_spend(entries, until=until)

    expected = sum(e.cost_usd for e in entries if e.settled and e.created_at < until)
    assert sum(result.spend) + result.today_spend == pytest.approx(expected)
    assert all(spend >= 0 for spend in result.spend)


# --- The forecast ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weekly", [False, True], ids=["linear-trend", "trend-and-weekly-cycle"])
def test_the_true_future_of_a_known_trend_lies_within_the_interval(weekly):
    # A single series can still miss (about one in fifty does: its parameters are estimated), so the
    # interval is judged over eight, each with its own length, slope and noise.
    inside, errors, widths = [], [], []
    for i, days in enumerate(HISTORY_LENGTHS):
        history, truth = known_trend(days, slope=0.5 + 0.3 * i, seed=i, weekly=weekly)
        result = forecast(history, horizon=HORIZON, level=0.9)
        assert result.method == "ets-damped-trend-weekly"
        for predicted, true in zip(result.days, truth, strict=True):
            inside.append(predicted.low <= true <= predicted.high)
            errors.append(abs(predicted.mean - true) / true)
            widths.append((predicted.high - predicted.low) / 2 / true)

    assert np.mean(inside) >= 0.8
    # ...and the interval is not wide enough to hold anything: the mean is close, the interval narrow.
    assert np.mean(errors) < 0.03
    assert np.mean(widths) < 0.06


@pytest.mark.parametrize(("days", "method"), [
    (0, "none"), (1, "mean"), (3, "mean"), (4, "ets-level"), (9, "ets-level"), (10, "ets-damped-trend"),
    (15, "ets-damped-trend"), (16, "ets-damped-trend-weekly"), (60, "ets-damped-trend-weekly"),
])
def test_each_history_length_gets_the_form_it_can_support_and_says_which(days, method):
    history, _ = known_trend(days, slope=1.0, seed=days, weekly=True)

    result = forecast(history)

    assert (result.method, result.history_days) == (method, days)
    assert len(result.days) == (0 if days == 0 else HORIZON)


def test_two_days_fall_back_to_their_mean_with_an_interval_as_wide_as_the_mean():
    result = forecast(series([10.0, 14.0]), horizon=3)

    assert result.method == "mean"
    assert [d.mean for d in result.days] == [12.0] * 3
    assert all(d.low == 0.0 and d.high >= 2 * 12.0 for d in result.days)


def test_the_forecast_starts_today_one_day_after_another():
    history, _ = known_trend(30, slope=1.0, seed=1)

    result = forecast(history)

    assert [d.start for d in result.days] == [history.today_start + k * DAY_SECONDS for k in range(HORIZON)]


def test_a_scope_that_spends_nothing_is_forecast_to_spend_nothing():
    history = series([0.0] * 30)

    result = forecast(history)

    assert result.method == "constant"
    assert result.days[0] == ForecastDay(start=history.today_start, mean=0.0, low=0.0, high=0.0)


def test_only_the_latest_days_are_fitted():
    history, _ = known_trend(MAX_HISTORY_DAYS + 50, slope=0.5, seed=3)

    assert forecast(history).history_days == MAX_HISTORY_DAYS


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(0, 1000), max_size=40))
def test_spend_is_never_forecast_negative_and_the_mean_lies_in_its_interval(spend):
    for predicted in forecast(series(spend)).days:
        assert 0 <= predicted.low <= predicted.mean <= predicted.high


def test_a_steep_fall_is_clipped_at_zero():
    result = forecast(series(np.linspace(300, 10, 30)))

    assert all(d.mean >= 0 and d.low >= 0 for d in result.days)
    assert result.days[-1].low == 0.0


# --- When a budget runs out --------------------------------------------------------------------------


def constant_forecast(mean: float, high: float, days: int = HORIZON) -> Forecast:
    """$mean a day from Monday (today), $high at the interval's top."""
    return Forecast(days=tuple(ForecastDay(MONDAY + k * DAY_SECONDS, mean, 0.0, high) for k in range(days)),
                    method="mean", history_days=3, level=0.9)


def test_the_budget_runs_out_where_the_cumulative_forecast_reaches_the_limit():
    # $40 of $60 spent at 06:00 on Monday, $10 a day: $7.50 in Monday's last 18 hours, $10 on Tuesday,
    # and the last $2.50 by a quarter of Wednesday.
    runout = budget_runout(constant_forecast(10.0, 20.0), spent_so_far=40.0, limit_usd=60.0,
                           period_end=day(30), now=day(0, hour=6))

    assert runout == pytest.approx(day(2, hour=6))


def test_at_the_interval_top_it_may_run_out_sooner():
    # $20 a day: $15 by Monday's end, the last $5 by 06:00 on Tuesday.
    runout = budget_runout(constant_forecast(10.0, 20.0), spent_so_far=40.0, limit_usd=60.0,
                           period_end=day(30), now=day(0, hour=6), bound="high")

    assert runout == pytest.approx(day(1, hour=6))


def test_no_runout_when_the_period_ends_first_or_beyond_the_forecast():
    fc = constant_forecast(10.0, 20.0)

    assert budget_runout(fc, spent_so_far=40.0, limit_usd=60.0, period_end=day(2, hour=0), now=day(0, hour=6)) is None
    assert budget_runout(fc, spent_so_far=0.0, limit_usd=1000.0, period_end=day(30), now=day(0, hour=6)) is None


def test_a_budget_already_spent_has_run_out_now():
    now = day(0, hour=6)

    assert budget_runout(constant_forecast(10.0, 20.0), spent_so_far=60.0, limit_usd=60.0, period_end=day(30),
                         now=now) == now


# --- The plot ---------------------------------------------------------------------------------------


def test_plot_forecast_writes_a_png(tmp_path):
    history, truth = known_trend(30, slope=1.0, seed=2, weekly=True)
    history = replace(history, today_spend=40.0)

    path = plot_forecast(history, forecast(history), tmp_path / "plots" / "forecast.png", "acme", actual=truth)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
