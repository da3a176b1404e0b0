"""Budgets: daily and monthly spending limits per tenant, team or project, reserved before the call.

`Route` reserves a call's estimated cost against every budget the call counts towards, all or none,
in one atomic step: concurrent routes can never reserve past a limit (budgets checked only after
spending let concurrent requests overspend, LiteLLM's users report). `Feedback` settles the
reservation to the actual cost; a reservation with no feedback is released after `reservation_seconds`.

A `Budgets` holds the limits, each service's own view of them (its config file and the budgets set
over gRPC, replaced by `replace`). What they counted, spent and reserved, is in a `BudgetCounters`
store (router/storage/): in memory for one process, in PostgreSQL for replicas that share it, so that
together they never pass a limit. A counter is named by its budget's scope and period, not by the
limit's amount: changing an amount keeps what was spent.

The decision log is the record. A counter the store lacks (each of them after an in-memory store's
restart; a scope just added, on a shared store that keeps the others) starts from the log's calls of
its period: once, when missing, so a replica restarting on a shared store never counts the log again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from router.config import BudgetLimit, Settings
from router.domain.errors import InvalidArgument
from router.domain.types import LedgerEntry, Metadata
from router.storage import BudgetCounters, Count, CounterKey, Hold
from router.storage.budget_counters import MemoryBudgetCounters

DAILY, MONTHLY = "daily", "monthly"
MAX_BUDGETS = 100  # per tenant over gRPC: every Route checks each one that applies


def period_key(period: str, at: float) -> str:
    """The UTC day ("2026-11-22") or month ("2026-11") a moment falls in."""
    moment = datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%d" if period == DAILY else "%Y-%m")


def month_start(at: float) -> float:
    moment = datetime.fromtimestamp(at, timezone.utc)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def period_end(period: str, at: float) -> float:
    """When the UTC day or month a moment falls in ends: its budgets' counters start again."""
    moment = datetime.fromtimestamp(at, timezone.utc)
    if period == DAILY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Limit:
    scope: str  # "acme", "acme/team=search"
    period: str  # DAILY or MONTHLY
    usd: float
    team: str | None
    project: str | None

    def applies_to(self, metadata: Metadata) -> bool:
        return (self.team is None or self.team == metadata.team) and (
            self.project is None or self.project == metadata.project
        )

    @property
    def name(self) -> str:
        return f"{self.period} budget of {self.scope} (${self.usd:.2f})"

    def key(self, at: float) -> CounterKey:
        """The counter of the period `at` falls in."""
        return CounterKey(self.scope, self.period, period_key(self.period, at))


@dataclass(frozen=True)
class BudgetStatus:
    limit: Limit
    period_key: str
    spent: float
    reserved: float

    @property
    def used(self) -> float:
        return self.spent + self.reserved

    @property
    def remaining(self) -> float:
        return self.limit.usd - self.used

    @property
    def used_share(self) -> float:
        return self.used / self.limit.usd

    def describe(self) -> str:
        return (f"{self.limit.name} for {self.period_key}: ${self.spent:.4f} spent, "
                f"${self.reserved:.4f} reserved, ${max(self.remaining, 0.0):.4f} left")


@dataclass(frozen=True)
class BudgetCheck:
    """Where a call stands against the budgets it would count towards."""

    statuses: tuple[BudgetStatus, ...]
    economy_at: float

    @property
    def headroom(self) -> float:
        """The most a call may cost without passing any limit (infinite with no budgets)."""
        return min((s.remaining for s in self.statuses), default=math.inf)

    @property
    def economy(self) -> bool:
        return any(s.used_share >= self.economy_at for s in self.statuses)

    @property
    def tightest(self) -> BudgetStatus | None:
        return min(self.statuses, key=lambda s: s.remaining, default=None)


@dataclass
class Budgets:
    """Every tenant's limits, and the store of what they counted, which replicas may share."""

    limits: dict[str, tuple[Limit, ...]]
    economy_at: dict[str, float]
    reservation_seconds: float
    counters: BudgetCounters
    _next_sweep: float = -math.inf
    _today: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, set_later: dict[str, list[BudgetLimit]] | None = None,
                      counters: BudgetCounters | None = None) -> Budgets:
        """The config file's budgets, and those set over gRPC since (`set_later`), by tenant, counted in
        `counters` (None: in this process's memory)."""
        set_later = set_later or {}
        tenants = set(settings.tenants) | set(set_later)
        limits = {tenant: tuple(_limits(tenant, settings.tenant(tenant).budgets + set_later.get(tenant, [])))
                  for tenant in tenants}
        economy_at = {tenant: t.economy_at for tenant, t in settings.tenants.items()}
        return cls({tenant: own for tenant, own in limits.items() if own}, economy_at, settings.reservation_seconds,
                   MemoryBudgetCounters() if counters is None else counters)

    def replace(self, tenant_id: str, budgets: list[BudgetLimit], month: Iterable[LedgerEntry], now: float) -> None:
        """Give a tenant these budgets. One that keeps a scope and period (its amount changed) keeps its
        counter, reservations and all; a new one starts from the tenant's calls of this month in the log
        (`month`), so it binds at once on what was spent and is held already."""
        limits = tuple(_limits(tenant_id, budgets))
        # Before the limits are in use: a reservation on a counter not started yet would start it at zero.
        self._start({tenant_id: limits}, month, now)
        self.limits[tenant_id] = limits

    def check(self, tenant_id: str, metadata: Metadata, now: float) -> BudgetCheck:
        self._sweep(now)
        statuses = self._statuses(self._applying(tenant_id, metadata), now)
        return BudgetCheck(statuses, self.economy_at.get(tenant_id, 1.0))

    def reserve(self, decision_id: str, tenant_id: str, metadata: Metadata, amount: float, now: float,
                overdraft: bool = False) -> bool:
        """Hold `amount` against every budget the call counts towards, or against none when it would
        pass a limit (unless `overdraft`). True when reserved."""
        self._sweep(now)
        limits: dict[CounterKey, float] = {}
        for limit in self._applying(tenant_id, metadata):
            # Budgets of one scope and period (the config file's and one set over gRPC) share a counter.
            key = limit.key(now)
            limits[key] = min(limit.usd, limits.get(key, math.inf))
        if not limits:
            return True  # nothing to hold against; a budget set later finds the call in the log
        return self.counters.reserve(decision_id, limits, amount, now + self.reservation_seconds, overdraft)

    def release(self, decision_id: str) -> None:
        """Give a reservation back: the decision it was for was never made."""
        self.counters.release(decision_id)

    def settle(self, decision_id: str, tenant_id: str, metadata: Metadata, created_at: float,
               actual_usd: float) -> None:
        """The call's real cost replaces its reservation; a reservation already released (it expired)
        still leaves the cost spent, in the periods the call was made in."""
        made_in = {limit.key(created_at) for limit in self._applying(tenant_id, metadata)}
        self.counters.settle(decision_id, made_in, actual_usd)

    def statuses(self, tenant_id: str, now: float) -> list[BudgetStatus]:
        """Every budget of a tenant in the current periods."""
        self._sweep(now)
        return list(self._statuses(self.limits.get(tenant_id, ()), now))

    def restore(self, entries: Iterable[LedgerEntry], now: float) -> None:
        """Start the current periods' counters the store lacks from the log's entries of this month:
        settled calls spend, recent unsettled ones hold their estimate until they expire. An in-memory
        store lacks them all after a restart; a shared one lacks only those of budgets new to it."""
        self._start(self.limits, entries, now)

    def _start(self, limits: Mapping[str, tuple[Limit, ...]], entries: Iterable[LedgerEntry], now: float) -> None:
        current = {limit.key(now) for own in limits.values() for limit in own}
        missing = current - set(self.counters.counts(current))
        if not missing:
            return
        spent = dict.fromkeys(missing, 0.0)
        held: dict[CounterKey, list[Hold]] = {key: [] for key in missing}
        for e in entries:
            metadata = Metadata(e.team, e.project, e.feature, e.user)
            for key in missing & {limit.key(e.created_at) for limit in limits.get(e.tenant_id, ())
                                  if limit.applies_to(metadata)}:
                if e.settled:
                    spent[key] += e.cost_usd
                elif (expires_at := e.created_at + self.reservation_seconds) > now:
                    held[key].append(Hold(e.decision_id, e.estimated_cost_usd, expires_at))
        for key in missing:
            # False: another replica, or a concurrent call, started it first; its start stands.
            self.counters.start(key, spent[key], held[key])

    def _sweep(self, now: float) -> None:
        """Release the expired reservations, as often as the store's sweep is worth; and once a day
        forget past periods but the last, on which a replica whose clock is behind may still reserve."""
        if now >= self._next_sweep:
            self._next_sweep = now + self.counters.sweep_seconds
            self.counters.release_expired(now)
        today = period_key(DAILY, now)
        if today != self._today:
            self._today = today
            self.counters.forget_before({DAILY: period_key(DAILY, now - 86400),
                                         MONTHLY: period_key(MONTHLY, month_start(now) - 1)})

    def _applying(self, tenant_id: str, metadata: Metadata) -> list[Limit]:
        return [limit for limit in self.limits.get(tenant_id, ()) if limit.applies_to(metadata)]

    def _statuses(self, limits: Iterable[Limit], now: float) -> tuple[BudgetStatus, ...]:
        keyed = [(limit, limit.key(now)) for limit in limits]
        if not keyed:
            return ()  # most tenants have no budget: their Routes ask the store nothing
        counts = self.counters.counts({key for _, key in keyed})
        return tuple(_status(limit, key, counts.get(key, Count())) for limit, key in keyed)


def _status(limit: Limit, key: CounterKey, count: Count) -> BudgetStatus:
    return BudgetStatus(limit, key.period_key, count.spent, max(count.reserved, 0.0))


def parse_budgets(docs: list[dict]) -> list[BudgetLimit]:
    """Budgets as the config file writes them; InvalidArgument names the first wrong field."""
    if len(docs) > MAX_BUDGETS:
        raise InvalidArgument("budgets", f"{len(docs)} budgets; at most {MAX_BUDGETS} per tenant")
    budgets = []
    for i, doc in enumerate(docs):
        try:
            budgets.append(BudgetLimit.model_validate(doc))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidArgument(f"budgets[{i}]" + (f".{where}" if where else ""),
                                  first["msg"].removeprefix("Value error, ")) from None
    return budgets


def _limits(tenant_id: str, budgets: list[BudgetLimit]) -> Iterable[Limit]:
    for budget in budgets:
        for period, usd in ((DAILY, budget.daily_usd), (MONTHLY, budget.monthly_usd)):
            if usd is not None:
                yield Limit(budget.scope(tenant_id), period, usd, budget.team, budget.project)
