"""The storage contract of budget counters: reservations all or none and never past a limit, given
back once, settled to the actual cost; counters named by scope and period, started once; and, on
PostgreSQL, the same held by several replicas, each with a pool of its own, on one database."""

from __future__ import annotations

import itertools
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import Settings
from router.decide.budgets import Budgets, month_start, parse_budgets
from router.domain.types import Metadata
from router.storage import BudgetCounters, CounterKey, Hold, Storage
from tests.storage.contract_helpers import close_all, each_backend, each_durable_backend, fresh, opened
from tests.storage.test_contract_decisions import feedback, logged

NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc).timestamp()
LATER = NOW + 3600  # when reservations made at NOW expire, unless a test says otherwise
DAY = CounterKey("acme", "daily", "2026-11-22")
TEAM = CounterKey("acme/team=search", "daily", "2026-11-22")
MONTH = CounterKey("acme", "monthly", "2026-11")
SEARCH = Metadata(team="search", project="bot")  # what contract_decisions' `logged` decisions carry

on_postgresql = pytest.mark.parametrize("kind", ["postgresql"], indirect=True)


def counted(counters: BudgetCounters, *keys: CounterKey) -> list[tuple[float, float]]:
    """(spent, reserved) of each key; (0, 0) for one that has no counter."""
    found = counters.counts(keys)
    return [(found[key].spent, found[key].reserved) if key in found else (0.0, 0.0) for key in keys]


def approx(*pairs: tuple[float, float]) -> list:
    return [pytest.approx(pair, abs=1e-12) for pair in pairs]


def budgets_on(counters: BudgetCounters, budgets: list[dict], tenant: str = "acme",
               reservation_seconds: float = 3600) -> Budgets:
    config = Settings.model_validate({"reservation_seconds": reservation_seconds,
                                      "tenants": {tenant: {"budgets": budgets}}})
    return Budgets.from_settings(config, counters=counters)


def this_month(storage: Storage):
    return storage.decisions.ledger(None, month_start(NOW), math.inf)


# --- reserving ------------------------------------------------------------------------------------------


@each_backend
def test_a_reservation_holds_on_every_key_or_on_none(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        assert counters.reserve("d1", {DAY: 10.0, TEAM: 1.0}, 0.75, LATER, overdraft=False)
        assert not counters.reserve("d2", {DAY: 10.0, TEAM: 1.0}, 0.5, LATER, overdraft=False)  # the team's refuses
        assert counted(counters, DAY, TEAM) == approx((0, 0.75), (0, 0.75))
        assert counters.counts([MONTH]) == {}


@each_backend
def test_a_limit_is_reached_but_never_passed(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.settle("spent before", [DAY], 0.5)
        assert counters.reserve("d1", {DAY: 1.0}, 0.25, LATER, overdraft=False)
        assert counters.reserve("d2", {DAY: 1.0}, 0.25, LATER, overdraft=False)  # exactly at the limit
        assert not counters.reserve("d3", {DAY: 1.0}, 0.001, LATER, overdraft=False)
        assert counted(counters, DAY) == approx((0.5, 0.5))


@each_backend
def test_an_overdraft_is_held_past_the_limit(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        assert counters.reserve("d1", {DAY: 1.0}, 0.75, LATER, overdraft=False)
        assert counters.reserve("d2", {DAY: 1.0}, 0.5, LATER, overdraft=True)
        assert counted(counters, DAY) == approx((0, 1.25))


@each_backend
def test_a_released_reservation_is_given_back_once(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.reserve("d1", {DAY: 1.0, TEAM: 1.0}, 0.75, LATER, overdraft=False)
        counters.reserve("d2", {DAY: 1.0}, 0.25, LATER, overdraft=False)
        counters.release("d1")
        counters.release("d1")
        counters.release("never reserved")
        assert counted(counters, DAY, TEAM) == approx((0, 0.25), (0, 0))
        assert counters.reserve("d3", {DAY: 1.0}, 0.75, LATER, overdraft=False)


# --- settling and expiry --------------------------------------------------------------------------------


@each_backend
def test_settling_replaces_the_reservation_with_the_actual_cost_on_its_keys(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.reserve("d1", {DAY: 1.0, TEAM: 1.0}, 0.5, LATER, overdraft=False)
        counters.settle("d1", [MONTH], 0.125)  # the fallback is for a reservation that is gone
        assert counted(counters, DAY, TEAM, MONTH) == approx((0.125, 0), (0.125, 0), (0, 0))


@each_backend
def test_a_settle_whose_reservation_expired_spends_on_the_keys_it_is_given(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.reserve("d1", {DAY: 1.0, TEAM: 1.0}, 0.5, NOW + 60, overdraft=False)
        assert counters.release_expired(NOW + 60) == 1
        counters.settle("d1", [DAY, MONTH], 0.125)
        assert counted(counters, DAY, TEAM, MONTH) == approx((0.125, 0), (0, 0), (0.125, 0))


@each_backend
def test_expired_reservations_are_released_once(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        for i, expires_at in enumerate([NOW + 100, NOW + 200, NOW + 300]):
            counters.reserve(f"d{i}", {DAY: 1.0, TEAM: 1.0}, 0.25, expires_at, overdraft=False)
        assert counters.release_expired(NOW + 99) == 0
        assert counters.release_expired(NOW + 200) == 2
        assert counters.release_expired(NOW + 200) == 0
        counters.release("d0")  # gone already: nothing more is given back
        assert counted(counters, DAY, TEAM) == approx((0, 0.25), (0, 0.25))


# --- counters by scope and period -----------------------------------------------------------------------


@each_backend
def test_a_changed_limit_counts_on_the_same_counter(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.reserve("d1", {DAY: 1.0}, 0.75, LATER, overdraft=False)
        counters.settle("d1", [], 0.5)
        assert not counters.reserve("d2", {DAY: 1.0}, 0.75, LATER, overdraft=False)
        assert counters.reserve("d2", {DAY: 2.0}, 0.75, LATER, overdraft=False)  # raised: 0.5 spent already
        assert not counters.reserve("d3", {DAY: 1.5}, 0.5, LATER, overdraft=False)  # lowered: 1.25 used
        assert counted(counters, DAY) == approx((0.5, 0.75))


@each_backend
def test_a_counter_starts_once_holding_the_open_calls_it_is_given(kind):
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.reserve("held", {DAY: 10.0}, 0.25, LATER, overdraft=False)
        assert counters.start(TEAM, 1.0, [Hold("held", 0.25, LATER), Hold("unheld", 0.5, LATER)])
        assert not counters.start(TEAM, 9.0, [Hold("other", 9.0, LATER)])
        assert counted(counters, DAY, TEAM) == approx((0, 0.25), (1.0, 0.75))
        counters.settle("held", [], 0.125)  # its reservation holds on both counters now
        counters.release("unheld")
        assert counted(counters, DAY, TEAM) == approx((0.125, 0), (1.125, 0))
        assert counters.release_expired(LATER) == 0  # "other" was never held


@each_backend
def test_past_periods_are_forgotten_unless_a_reservation_holds_them(kind):
    yesterday, before, held = (CounterKey("acme", "daily", day) for day in ("2026-11-21", "2026-11-20", "2026-11-19"))
    last_month = CounterKey("acme", "monthly", "2026-10")
    with fresh(kind) as storage:
        counters = storage.budget_counters
        counters.settle("a", [yesterday, before, last_month, DAY, MONTH], 0.125)
        counters.reserve("b", {held: 1.0}, 0.25, LATER, overdraft=False)
        counters.forget_before({"daily": "2026-11-21", "monthly": "2026-11"})
        assert set(counters.counts([yesterday, before, held, last_month, DAY, MONTH])) == {yesterday, held, DAY,
                                                                                         MONTH}


# --- budgets on the store -------------------------------------------------------------------------------


@each_backend
def test_a_budget_whose_amount_changes_keeps_what_was_spent(kind):
    with fresh(kind) as storage:
        budgets = budgets_on(storage.budget_counters, [{"daily_usd": 1.0}])
        assert budgets.reserve("d1", "acme", Metadata(), 0.75, NOW)
        budgets.settle("d1", "acme", Metadata(), NOW, 0.5)
        budgets.replace("acme", parse_budgets([{"daily_usd": 2.0}]), [], NOW)
        status, = budgets.statuses("acme", NOW)
        assert (status.limit.usd, status.spent, status.reserved) == (2.0, pytest.approx(0.5), 0.0)


@each_backend
def test_a_budget_added_starts_from_the_months_log_once_however_many_replicas_add_it(kind):
    with fresh(kind) as storage:
        replicas = [budgets_on(storage.budget_counters, [{"daily_usd": 1.0}]) for _ in range(2)]
        settled, open_call = logged("settled", created_at=NOW - 60), logged("open", created_at=NOW)
        storage.decisions.record_decision(*settled)  # routed before any budget: held on none
        storage.decisions.record_feedback([feedback("settled", at=NOW - 30)])
        for replica in replicas:
            replica.restore(this_month(storage), NOW)
        assert replicas[0].reserve("open", "acme", SEARCH, 0.002, NOW)
        storage.decisions.record_decision(*open_call)
        with_team = parse_budgets([{"daily_usd": 1.0}, {"team": "search", "monthly_usd": 5.0}])
        for replica in replicas:
            replica.replace("acme", with_team, this_month(storage), NOW)
        statuses = [(s.spent, s.reserved) for s in replicas[1].statuses("acme", NOW)]
        assert statuses == approx((0.0015, 0.002), (0.0015, 0.002))
        replicas[1].settle("open", "acme", SEARCH, NOW, 0.001)  # its reservation holds on the new budget too
        statuses = [(s.spent, s.reserved) for s in replicas[0].statuses("acme", NOW)]
        assert statuses == approx((0.0025, 0), (0.0025, 0))


@each_durable_backend
def test_a_restart_counts_the_log_once_whether_the_counters_outlive_it_or_not(kind, tmp_path):
    """SQLite's counters are in memory, rebuilt from its log; PostgreSQL's are kept, and not counted again."""
    settled, open_call = logged("settled", created_at=NOW), logged("open", created_at=NOW)
    with opened(kind, tmp_path) as first:
        budgets = budgets_on(first.budget_counters, [{"daily_usd": 1.0}])
        budgets.restore(this_month(first), NOW)
        for decision, context in (settled, open_call):
            assert budgets.reserve(decision.decision_id, "acme", SEARCH, decision.estimated_cost_usd, NOW)
            first.decisions.record_decision(decision, context)
        first.decisions.record_feedback([feedback("settled", at=NOW + 1)])
        budgets.settle("settled", "acme", SEARCH, NOW, 0.0015)
    for _ in range(2):
        with opened(kind, tmp_path) as restarted:
            budgets = budgets_on(restarted.budget_counters, [{"daily_usd": 1.0}])
            budgets.restore(this_month(restarted), NOW + 2)
            status, = budgets.statuses("acme", NOW + 2)
            assert (status.spent, status.reserved) == pytest.approx((0.0015, 0.002))


# --- PostgreSQL: replicas on one database ---------------------------------------------------------------


@on_postgresql
def test_a_feedback_whose_replica_stopped_before_settling_is_spent_when_its_reservation_expires(kind):
    from router.storage.postgresql.budget_counters import SETTLING_SECONDS

    with fresh(kind) as storage:
        counters = storage.budget_counters
        decision, context = logged("d1", created_at=NOW)
        assert counters.reserve("d1", {DAY: 1.0}, decision.estimated_cost_usd, NOW + 10, overdraft=False)
        storage.decisions.record_decision(decision, context)
        storage.decisions.record_feedback([feedback("d1", at=NOW + 5)])  # then the replica died, unsettled
        assert counters.release_expired(NOW + 11) == 0  # expired, but its settle may still be under way
        assert counted(counters, DAY) == approx((0, 0.002))
        assert counters.release_expired(NOW + 5 + SETTLING_SECONDS) == 1
        assert counted(counters, DAY) == approx((0.0015, 0))


@pytest.fixture(scope="module")
def replicas(postgres_server) -> Iterator[list[Storage]]:
    """The storage of three replicas on one database, each with a pool of its own."""
    from router.storage.postgresql import postgresql_storage
    from simulator.postgres import create_database, drop_database

    name = f"replicas_{uuid.uuid4().hex[:12]}"
    uri = create_database(postgres_server, name)
    storages = [postgresql_storage(uri, cache_enabled=False, max_connections=24) for _ in range(3)]
    yield storages
    for storage in storages:
        close_all(storage)
    drop_database(postgres_server, name)


TENANT_IDS = (f"t{i}" for i in itertools.count())  # a tenant per example: its counters start at zero


def at_once(calls: list[Callable[[], None]]) -> None:
    """Run the calls each in a thread of its own, all let go together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        start.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@settings(max_examples=15, deadline=None)
@given(limit=st.floats(0.01, 5.0), amounts=st.lists(st.floats(0.0001, 1.0), min_size=64, max_size=64))
def test_replicas_reserving_at_once_never_pass_a_limit_together(replicas, limit, amounts):
    tenant = next(TENANT_IDS)
    teams = [{"team": team, "daily_usd": limit / 2} for team in ("search", "ads")]
    budgets = [budgets_on(storage.budget_counters, [{"daily_usd": limit}, *teams], tenant) for storage in replicas]
    for replica in budgets:
        replica.restore([], NOW)
    granted: dict[str, list[float]] = {"search": [], "ads": []}

    def call(i: int, amount: float) -> Callable[[], None]:
        team = ("search", "ads")[i % 2]

        def reserve() -> None:
            if budgets[i % len(budgets)].reserve(f"{tenant}-{i}", tenant, Metadata(team=team), amount, NOW):
                granted[team].append(amount)
        return reserve

    at_once([call(i, amount) for i, amount in enumerate(amounts)])
    statuses = {status.limit.scope: status for status in budgets[0].statuses(tenant, NOW)}
    total = sum(granted["search"]) + sum(granted["ads"])
    assert total <= limit + 1e-9 and statuses[tenant].reserved == pytest.approx(total)
    for team in ("search", "ads"):
        assert sum(granted[team]) <= limit / 2 + 1e-9
        assert statuses[f"{tenant}/team={team}"].reserved == pytest.approx(sum(granted[team]))


def test_replicas_sweeping_at_once_release_each_expired_reservation_once(replicas):
    tenant = next(TENANT_IDS)
    budgets = [budgets_on(storage.budget_counters, [{"daily_usd": 100.0}, {"team": "search", "daily_usd": 100.0}],
                          tenant, reservation_seconds=60) for storage in replicas]
    for i in range(150):
        assert budgets[i % 3].reserve(f"{tenant}-{i}", tenant, SEARCH, 0.01, NOW)
    released: list[int] = []
    at_once([lambda storage=storage: released.append(storage.budget_counters.release_expired(NOW + 60))
             for storage in replicas[:2]])
    assert sum(released) == 150
    keys = [CounterKey(tenant, "daily", DAY.period_key), CounterKey(f"{tenant}/team=search", "daily", DAY.period_key)]
    assert counted(replicas[2].budget_counters, *keys) == approx((0, 0), (0, 0))
