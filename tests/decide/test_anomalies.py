"""Spend anomaly detection: each scope alerts once when its hour's spend is far above its own usual."""

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.decide.anomalies import Alert, SpendAnomalyDetector

T0 = 1_700_000_000 // 3600 * 3600  # an hour boundary in November 2023
CALLS_PER_HOUR = 12  # one call every five minutes per team


def hour_start(hour: int) -> float:
    return float(T0 + hour * 3600)


def run(detector: SpendAnomalyDetector, hours: range, rates: Callable[[int], dict[str, float]],
        rng: random.Random, tenant: str = "acme", noise: float = 0.2) -> list[Alert]:
    """Each hour, each team spends its rate from `rates(hour)` within ±noise, over evenly spaced calls.

    The team "" stands for calls that name no team.
    """
    alerts = []
    for hour in hours:
        spend = {team: rate * rng.uniform(1 - noise, 1 + noise) for team, rate in rates(hour).items()}
        for call in range(CALLS_PER_HOUR):
            at = hour_start(hour) + (call + 0.5) * 3600 / CALLS_PER_HOUR
            for team, hourly in spend.items():
                alerts += detector.observe(tenant, team, at, hourly / CALLS_PER_HOUR)
    return alerts


def steady(rate: float, spike_hour: int | None = None, factor: float = 5.0) -> Callable[[int], dict[str, float]]:
    """Calls that name no team at `rate` dollars an hour, `factor` times that in `spike_hour`."""
    return lambda hour: {"": rate * (factor if hour == spike_hour else 1.0)}


# --- Usual traffic is quiet, a spike alerts ------------------------------------------------------


def test_ten_days_of_steady_noisy_traffic_never_alert():
    assert run(SpendAnomalyDetector(), range(240), steady(5.0), random.Random(1)) == []


def test_a_spike_hour_alerts_once_for_the_tenant():
    detector = SpendAnomalyDetector()
    alerts = run(detector, range(240), steady(5.0, spike_hour=200), random.Random(2))

    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.tenant_id, alert.team, alert.scope) == ("acme", "", "acme")
    assert alert.hour_start == hour_start(200)
    assert alert.expected_usd == pytest.approx(5.0, rel=0.1)
    assert alert.z >= detector.threshold
    assert alert.spend_usd >= detector.min_spend_usd
    assert hour_start(200) <= alert.detected_at < hour_start(201)


def test_a_small_teams_spike_alerts_for_the_team_but_not_for_the_unmoved_tenant():
    def rates(hour: int) -> dict[str, float]:
        return {"search": 40.0, "labs": 8.0 if hour == 100 else 2.0}

    alerts = run(SpendAnomalyDetector(), range(120), rates, random.Random(3), noise=0.1)

    assert [(alert.scope, alert.hour_start) for alert in alerts] == [("acme/team=labs", hour_start(100))]


def test_a_large_teams_spike_alerts_for_the_team_and_the_tenant():
    def rates(hour: int) -> dict[str, float]:
        return {"search": 100.0 if hour == 100 else 20.0, "labs": 2.0}

    alerts = run(SpendAnomalyDetector(), range(120), rates, random.Random(4), noise=0.1)

    assert sorted(alert.scope for alert in alerts) == ["acme", "acme/team=search"]
    assert {alert.hour_start for alert in alerts} == {hour_start(100)}


# --- What keeps it quiet --------------------------------------------------------------------------


def test_no_alert_before_min_history_hours_of_history():
    detector = SpendAnomalyDetector(min_history_hours=12)
    rng = random.Random(5)
    run(detector, range(11), steady(5.0), rng)

    assert run(detector, range(11, 12), steady(500.0), rng) == []  # 11 hours of history
    assert len(run(detector, range(12, 13), steady(500.0), rng)) == 1  # 12 hours


def test_no_alert_under_min_spend_however_far_above_the_usual():
    detector = SpendAnomalyDetector(min_spend_usd=1.0)
    rng = random.Random(6)
    run(detector, range(48), steady(0.01), rng)

    assert run(detector, range(48, 49), steady(0.9), rng) == []


def test_a_scope_that_usually_spends_nothing_alerts_only_past_min_spend():
    detector = SpendAnomalyDetector(min_spend_usd=1.0)
    detector.observe("acme", "", hour_start(0), 0.0)  # the tenant exists from hour 0, then is idle

    assert detector.observe("acme", "", hour_start(24), 0.50) == []
    [alert] = detector.observe("acme", "", hour_start(25), 20.0)
    assert alert.expected_usd == 0.0
    assert alert.spend_usd == 20.0
    assert alert.z >= detector.threshold


def test_a_new_tenant_has_no_history_of_zeros_before_its_first_call():
    detector = SpendAnomalyDetector()
    detector.observe("acme", "", hour_start(0), 5.0)
    detector.observe("newco", "", hour_start(5), 5.0)

    # acme has 12 hours of history here, newco only 7, however much spend each has.
    assert [alert.scope for alert in detector.observe("acme", "", hour_start(12), 50.0)] == ["acme"]
    assert detector.observe("newco", "", hour_start(12), 50.0) == []


# --- Once per scope and hour, late calls, memory ----------------------------------------------------


def test_a_scope_alerts_at_most_once_an_hour_and_again_the_next_hour():
    detector = SpendAnomalyDetector()
    rng = random.Random(7)
    run(detector, range(48), steady(5.0), rng)

    alerts = run(detector, range(48, 50), steady(50.0), rng)

    assert [alert.hour_start for alert in alerts] == [hour_start(48), hour_start(49)]
    first_call = hour_start(48) + 0.5 * 3600 / CALLS_PER_HOUR
    assert alerts[0].detected_at > first_call  # it fired when the running spend crossed, not before


def test_a_late_call_for_an_earlier_hour_never_alerts():
    detector = SpendAnomalyDetector()
    rng = random.Random(8)
    run(detector, range(48), steady(5.0), rng)
    detector.observe("acme", "", hour_start(48), 1.0)

    assert detector.observe("acme", "search", hour_start(47) + 3599, 1000.0) == []
    # The current hour still alerts as usual.
    assert [alert.scope for alert in detector.observe("acme", "", hour_start(48) + 60, 100.0)] == ["acme"]


def test_memory_stays_bounded_to_the_history_window():
    detector = SpendAnomalyDetector(history_hours=24)
    rng = random.Random(9)
    for hour in range(1000):
        detector.observe("acme", "search", hour_start(hour) + rng.uniform(0, 3599), rng.uniform(1, 10))
    detector.observe("acme", "search", hour_start(900), 1.0)  # too late to be kept

    # Peeks at the private state: how much is kept is no part of the public API.
    assert len(detector._scopes) == 2
    assert all(len(scope.buckets) <= 24 + 1 for scope in detector._scopes.values())


# --- Rebuilding after a restart ---------------------------------------------------------------------


def test_loaded_history_counts_and_load_never_alerts():
    detector = SpendAnomalyDetector()
    for hour in range(48):
        detector.load("acme", "", hour_start(hour), 5.0)
    detector.load("acme", "", hour_start(48), 500.0)  # the previous process alerted on this hour

    assert detector.observe("acme", "", hour_start(48) + 60, 1.0) == []
    assert len(detector.observe("acme", "", hour_start(49), 500.0)) == 1


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError):
        SpendAnomalyDetector(history_hours=6, min_history_hours=12)
    with pytest.raises(ValueError):
        SpendAnomalyDetector(min_history_hours=0)
    with pytest.raises(ValueError):
        SpendAnomalyDetector(threshold=0)


# --- Any traffic ---------------------------------------------------------------------------------------

calls = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3 * 3600, allow_nan=False),  # seconds since the previous call
        st.sampled_from(["", "search", "labs"]),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(calls=calls, threshold=st.floats(min_value=0.5, max_value=10), min_spend=st.floats(min_value=0, max_value=5))
def test_any_traffic_in_time_order_only_raises_alerts_past_both_lines(calls, threshold, min_spend):
    detector = SpendAnomalyDetector(history_hours=6, min_history_hours=2, threshold=threshold,
                                    min_spend_usd=min_spend)
    at = float(T0)
    alerted = []
    for gap, team, cost in calls:
        at += gap
        for alert in detector.observe("acme", team, at, cost):
            assert alert.z >= threshold
            assert alert.spend_usd >= min_spend
            alerted.append((alert.scope, alert.hour_start))
    assert len(alerted) == len(set(alerted))
