"""Budgets: reserved before the call, settled by feedback, released when feedback never comes, never
passed by concurrent calls."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import Settings
from router.decide.budgets import Budgets, parse_budgets, period_key
from router.domain.types import LedgerEntry, Metadata

NOV_22 = datetime(2026, 11, 22, 12, tzinfo=timezone.utc).timestamp()
SEARCH = Metadata(team="search")


def budgets(reservation_seconds: float = 3600, economy_at: float = 0.8, **tenant) -> Budgets:
    config = Settings.model_validate({
        "reservation_seconds": reservation_seconds,
        "tenants": {"acme": {"economy_at": economy_at, **tenant}},
    })
    return Budgets.from_settings(config)


def used(b: Budgets, metadata: Metadata = Metadata(), now: float = NOV_22) -> list[float]:
    return [s.used for s in b.check("acme", metadata, now).statuses]


def test_a_reservation_counts_until_feedback_settles_it_to_the_actual_cost():
    b = budgets(budgets=[{"daily_usd": 1.0}])
    assert b.reserve("d1", "acme", Metadata(), 0.30, NOV_22)
    assert b.check("acme", Metadata(), NOV_22).headroom == pytest.approx(0.70)
    b.settle("d1", "acme", Metadata(), NOV_22, 0.10)
    status, = b.statuses("acme", NOV_22)
    assert (status.spent, status.reserved) == (pytest.approx(0.10), 0.0)


def test_a_call_that_would_pass_a_limit_is_not_reserved_and_holds_nothing():
    b = budgets(budgets=[{"daily_usd": 1.0}])
    assert b.reserve("d1", "acme", Metadata(), 0.9, NOV_22)
    assert not b.reserve("d2", "acme", Metadata(), 0.2, NOV_22)
    assert used(b) == [pytest.approx(0.9)]


def test_a_call_counts_towards_its_tenant_and_its_team_all_or_none():
    b = budgets(budgets=[{"daily_usd": 10.0}, {"team": "search", "daily_usd": 1.0}])
    assert b.reserve("d1", "acme", SEARCH, 0.8, NOV_22)
    assert used(b, SEARCH) == [pytest.approx(0.8), pytest.approx(0.8)]
    # The team's budget refuses: the tenant's is not touched either.
    assert not b.reserve("d2", "acme", SEARCH, 0.5, NOV_22)
    assert used(b, SEARCH) == [pytest.approx(0.8), pytest.approx(0.8)]
    # Another team only counts towards the tenant's.
    assert b.reserve("d3", "acme", Metadata(team="ads"), 0.5, NOV_22)
    assert used(b, Metadata(team="ads")) == [pytest.approx(1.3)]


def test_a_reservation_without_feedback_is_released_after_its_time():
    b = budgets(reservation_seconds=600, budgets=[{"daily_usd": 1.0}])
    assert b.reserve("d1", "acme", Metadata(), 0.9, NOV_22)
    assert not b.reserve("d2", "acme", Metadata(), 0.9, NOV_22 + 599)
    assert b.reserve("d2", "acme", Metadata(), 0.9, NOV_22 + 601)
    assert used(b, now=NOV_22 + 601) == [pytest.approx(0.9)]


def test_feedback_after_the_reservation_expired_still_counts_the_cost():
    b = budgets(reservation_seconds=60, budgets=[{"daily_usd": 1.0}])
    b.reserve("d1", "acme", Metadata(), 0.5, NOV_22)
    b.check("acme", Metadata(), NOV_22 + 120)  # released
    b.settle("d1", "acme", Metadata(), NOV_22, 0.4)
    assert used(b, now=NOV_22 + 120) == [pytest.approx(0.4)]


def test_a_new_day_starts_the_daily_budget_again_but_not_the_monthly_one():
    b = budgets(budgets=[{"daily_usd": 1.0, "monthly_usd": 1.5}])
    b.reserve("d1", "acme", Metadata(), 0.9, NOV_22)
    b.settle("d1", "acme", Metadata(), NOV_22, 0.9)
    tomorrow = NOV_22 + 86400
    assert {s.limit.period: s.used for s in b.statuses("acme", tomorrow)} == {"daily": 0.0, "monthly": pytest.approx(0.9)}
    assert not b.reserve("d2", "acme", Metadata(), 0.7, tomorrow)  # the month has 0.6 left
    assert b.reserve("d2", "acme", Metadata(), 0.6, tomorrow)


def test_economy_mode_above_the_soft_threshold_of_any_budget():
    b = budgets(economy_at=0.5, budgets=[{"daily_usd": 1.0}])
    b.reserve("d1", "acme", Metadata(), 0.49, NOV_22)
    assert not b.check("acme", Metadata(), NOV_22).economy
    b.reserve("d2", "acme", Metadata(), 0.02, NOV_22)
    assert b.check("acme", Metadata(), NOV_22).economy


def test_an_overdraft_is_reserved_past_the_limit():
    b = budgets(budgets=[{"daily_usd": 1.0}])
    b.reserve("d1", "acme", Metadata(), 0.9, NOV_22)
    assert b.reserve("d2", "acme", Metadata(), 0.5, NOV_22, overdraft=True)
    assert used(b) == [pytest.approx(1.4)]


def test_a_tenant_without_budgets_has_unlimited_headroom():
    b = budgets()
    assert b.check("acme", Metadata(), NOV_22).headroom == float("inf")
    assert b.reserve("d1", "acme", Metadata(), 1e9, NOV_22)


def test_restore_rebuilds_spend_and_open_reservations_from_the_ledger():
    b = budgets(reservation_seconds=600, budgets=[{"daily_usd": 1.0}])
    b.restore([
        _entry("settled", NOV_22 - 100, cost=0.2, settled_at=NOV_22 - 50),
        _entry("open", NOV_22 - 100, cost=0.3),  # reservation still running
        _entry("expired", NOV_22 - 1000, cost=0.4),  # its reservation has run out
        _entry("cache hit", NOV_22 - 100, cost=0.0, cache_hit=True),
    ], NOV_22)
    status, = b.statuses("acme", NOV_22)
    assert (status.spent, status.reserved) == (pytest.approx(0.2), pytest.approx(0.3))
    b.settle("open", "acme", Metadata(), NOV_22 - 100, 0.1)
    assert used(b) == [pytest.approx(0.3)]


def test_setting_budgets_again_keeps_a_reservation_that_is_not_logged_yet():
    """Route reserves, then logs: a budget set in between must still count the reservation."""
    b = budgets(budgets=[{"daily_usd": 1.0}])
    assert b.reserve("in flight", "acme", Metadata(), 0.6, NOV_22)
    b.replace("acme", budgets_of(daily_usd=1.0), [], NOV_22)
    assert used(b) == [pytest.approx(0.6)]
    assert not b.reserve("next", "acme", Metadata(), 0.5, NOV_22)


def test_setting_budgets_while_feedback_settles_counts_the_cost_once():
    b = budgets(budgets=[{"daily_usd": 1.0}])
    assert b.reserve("d1", "acme", Metadata(), 0.3, NOV_22)
    # The log has settled d1 (0.2) but settle() has not reached the counters yet.
    b.replace("acme", budgets_of(daily_usd=1.0), [_entry("d1", NOV_22, cost=0.2, settled_at=NOV_22)], NOV_22)
    b.settle("d1", "acme", Metadata(), NOV_22, 0.2)
    assert used(b) == [pytest.approx(0.2)]


def test_a_first_budget_holds_the_open_calls_routed_before_it():
    b = budgets()
    assert b.reserve("open", "acme", Metadata(), 0.4, NOV_22)  # no budget: nothing held
    b.replace("acme", budgets_of(daily_usd=1.0), [_entry("open", NOV_22, cost=0.4)], NOV_22)
    assert used(b) == [pytest.approx(0.4)]


def test_period_keys_are_utc_days_and_months():
    assert period_key("daily", NOV_22) == "2026-11-22"
    assert period_key("monthly", NOV_22) == "2026-11"


@settings(max_examples=25, deadline=None)
@given(limit=st.floats(0.01, 5.0), amounts=st.lists(st.floats(0.0001, 1.0), min_size=64, max_size=64))
def test_concurrent_reservations_never_pass_a_limit(limit, amounts):
    b = budgets(budgets=[{"daily_usd": limit}, {"team": "search", "daily_usd": limit / 2}])
    start = threading.Barrier(len(amounts))
    granted: list[float] = []

    def call(i: int, amount: float) -> None:
        start.wait()
        if b.reserve(f"d{i}", "acme", SEARCH, amount, NOV_22):
            granted.append(amount)

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(amounts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tenant, team = b.check("acme", SEARCH, NOV_22).statuses
    assert sum(granted) <= limit / 2 + 1e-9
    assert tenant.reserved == pytest.approx(sum(granted)) and team.reserved == pytest.approx(sum(granted))


def budgets_of(**budget):
    return parse_budgets([budget])


def _entry(decision_id: str, created_at: float, cost: float, settled_at: float | None = None,
           cache_hit: bool = False) -> LedgerEntry:
    return LedgerEntry(
        decision_id=decision_id, tenant_id="acme", created_at=created_at, team="", project="", feature="", user="",
        model="deepseek-chat", category="chat", security=False, reason="bandit", rule_id="", budget_mode="",
        estimated_cost_usd=cost, cache_hit=cache_hit, settled_at=settled_at, input_tokens=10, output_tokens=10,
        cost_usd=cost, baseline_cost_usd=1.0, cache_saved_usd=0.0,
        quality=None, error=False,
    )


def test_a_budget_set_again_with_another_amount_keeps_what_was_spent():
    b = budgets(budgets=[{"daily_usd": 1.0}])
    b.reserve("d1", "acme", Metadata(), 0.5, NOV_22)
    b.settle("d1", "acme", Metadata(), NOV_22, 0.4)
    b.replace("acme", budgets_of(daily_usd=0.5), [], NOV_22)  # counted on the same counter, not the log again
    assert used(b) == [pytest.approx(0.4)]
    assert not b.reserve("d2", "acme", Metadata(), 0.2, NOV_22)


def test_budgets_of_one_scope_and_period_count_a_call_once():
    """The config file's daily budget and one set over gRPC share the tenant's daily counter."""
    b = budgets(budgets=[{"daily_usd": 1.0}, {"daily_usd": 2.0}])
    assert b.reserve("d1", "acme", Metadata(), 0.75, NOV_22)
    assert used(b) == [pytest.approx(0.75), pytest.approx(0.75)]
    assert not b.reserve("d2", "acme", Metadata(), 0.5, NOV_22)  # the tighter one binds


def test_restoring_from_the_log_again_counts_it_once():
    b = budgets(reservation_seconds=600, budgets=[{"daily_usd": 1.0}])
    log = [_entry("settled", NOV_22 - 100, cost=0.2, settled_at=NOV_22 - 50), _entry("open", NOV_22 - 100, cost=0.3)]
    b.restore(log, NOV_22)
    b.restore(log, NOV_22)
    status, = b.statuses("acme", NOV_22)
    assert (status.spent, status.reserved) == (pytest.approx(0.2), pytest.approx(0.3))
