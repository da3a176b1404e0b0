"""Budgets: daily and monthly spending limits per tenant, team or project, reserved before the call.

`Route` reserves a call's estimated cost against every budget the call counts towards, all or
none, under one lock: concurrent routes can never reserve past a limit (budgets checked only after
spending let concurrent requests overspend, LiteLLM's users report). `Feedback` settles the
reservation to the actual cost; a reservation with no feedback is released after
`reservation_seconds`. The decision log is the record: after a restart `restore` rebuilds the
counters from it, so nothing here needs storing.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from pydantic import ValidationError

from router.config import BudgetLimit, Settings
from router.domain.errors import InvalidArgument
from router.domain.types import LedgerEntry, Metadata

DAILY, MONTHLY = "daily", "monthly"
MAX_BUDGETS = 100  # per tenant over gRPC: every Route checks each one that applies


def period_key(period: str, at: float) -> str:
    """The UTC day ("2026-11-22") or month ("2026-11") a moment falls in."""
    moment = datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%d" if period == DAILY else "%Y-%m")


def month_start(at: float) -> float:
    moment = datetime.fromtimestamp(at, timezone.utc)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


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


@dataclass
class Counter:
    spent: float = 0.0
    reserved: float = 0.0


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


@dataclass(frozen=True)
class _Reservation:
    tenant_id: str
    metadata: Metadata
    at: float
    keys: tuple[tuple[Limit, str], ...]
    amount: float


@dataclass
class Budgets:
    """Every tenant's budget counters, in memory, behind one lock."""

    limits: dict[str, tuple[Limit, ...]]
    economy_at: dict[str, float]
    reservation_seconds: float
    _counters: dict[tuple[Limit, str], Counter] = field(default_factory=dict)
    _reservations: dict[str, _Reservation] = field(default_factory=dict)
    _expiries: list[tuple[float, str]] = field(default_factory=list)
    _today: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, set_later: dict[str, list[BudgetLimit]] | None = None) -> Budgets:
        """The config file's budgets, and those set over gRPC since (`set_later`), by tenant."""
        set_later = set_later or {}
        tenants = set(settings.tenants) | set(set_later)
        limits = {tenant: tuple(_limits(tenant, settings.tenant(tenant).budgets + set_later.get(tenant, [])))
                  for tenant in tenants}
        economy_at = {tenant: t.economy_at for tenant, t in settings.tenants.items()}
        return cls({tenant: own for tenant, own in limits.items() if own}, economy_at, settings.reservation_seconds)

    def replace(self, tenant_id: str, budgets: list[BudgetLimit], month: Iterable[LedgerEntry], now: float) -> None:
        """Give a tenant these budgets, counted from its settled calls of this month (`month`, from the
        log) and from the reservations held now, so a new limit starts with what was already spent and
        reserved. The reservations stay: a call reserved but not logged yet is in no ledger, and
        dropping its hold would let concurrent routes pass the limit."""
        with self._lock:
            old = set(self.limits.get(tenant_id, ()))
            for key in [k for k in self._counters if k[0] in old]:
                del self._counters[key]
            self.limits[tenant_id] = tuple(_limits(tenant_id, budgets))
            held = [d for d, r in self._reservations.items() if r.tenant_id == tenant_id]
            for decision_id in held:
                self._rekey(decision_id)
            # A call settled in the log whose hold is still here is being settled right now: settle()
            # will count its cost, so counting it here too would count it twice. A logged call held
            # nowhere had no budget to count towards when it was routed: the new ones hold it now.
            self._restore((e for e in month if e.decision_id not in self._reservations), now)

    def check(self, tenant_id: str, metadata: Metadata, now: float) -> BudgetCheck:
        with self._lock:
            self._release_expired(now)
            return self._check(tenant_id, metadata, now)

    def reserve(self, decision_id: str, tenant_id: str, metadata: Metadata, amount: float, now: float,
                overdraft: bool = False) -> bool:
        """Hold `amount` against every budget the call counts towards, or against none when it would
        pass a limit (unless `overdraft`). True when reserved."""
        with self._lock:
            self._release_expired(now)
            if not overdraft and amount > self._check(tenant_id, metadata, now).headroom:
                return False
            self._hold(decision_id, tenant_id, metadata, amount, now, now + self.reservation_seconds)
            return True

    def release(self, decision_id: str) -> None:
        """Give a reservation back: the decision it was for was never made."""
        with self._lock:
            self._drop(decision_id)

    def settle(self, decision_id: str, tenant_id: str, metadata: Metadata, created_at: float,
               actual_usd: float) -> None:
        """The call's real cost replaces its reservation; a reservation already released (it expired)
        still leaves the cost spent, in the periods the call was made in."""
        with self._lock:
            reservation = self._drop(decision_id)
            keys = reservation.keys if reservation else self._keys(tenant_id, metadata, created_at)
            for key in keys:
                self._counter(key).spent += actual_usd

    def statuses(self, tenant_id: str, now: float) -> list[BudgetStatus]:
        """Every budget of a tenant in the current periods."""
        with self._lock:
            self._release_expired(now)
            return [self._status((limit, period_key(limit.period, now)))
                    for limit in self.limits.get(tenant_id, ())]

    def restore(self, entries: Iterable[LedgerEntry], now: float) -> None:
        """Rebuild the counters from the log's entries of the current month: settled calls spend,
        recent unsettled ones hold their estimate again until they expire."""
        with self._lock:
            self._restore(entries, now)

    def _restore(self, entries: Iterable[LedgerEntry], now: float) -> None:
        for e in entries:
            metadata = Metadata(e.team, e.project, e.feature, e.user)
            if e.settled:
                for key in self._keys(e.tenant_id, metadata, e.created_at):
                    self._counter(key).spent += e.cost_usd
            elif e.created_at + self.reservation_seconds > now:
                self._hold(e.decision_id, e.tenant_id, metadata, e.estimated_cost_usd, e.created_at,
                           e.created_at + self.reservation_seconds)

    def _check(self, tenant_id: str, metadata: Metadata, now: float) -> BudgetCheck:
        statuses = tuple(self._status(key) for key in self._keys(tenant_id, metadata, now))
        return BudgetCheck(statuses, self.economy_at.get(tenant_id, 1.0))

    def _hold(self, decision_id: str, tenant_id: str, metadata: Metadata, amount: float, at: float,
              expires_at: float) -> None:
        keys = self._keys(tenant_id, metadata, at)
        if not keys:
            return  # nothing to hold against; a budget set later finds the call in the log
        for key in keys:
            self._counter(key).reserved += amount
        self._reservations[decision_id] = _Reservation(tenant_id, metadata, at, keys, amount)
        heapq.heappush(self._expiries, (expires_at, decision_id))

    def _rekey(self, decision_id: str) -> None:
        """Hold a reservation against its tenant's budgets as they are now."""
        r = self._reservations[decision_id]
        keys = self._keys(r.tenant_id, r.metadata, r.at)
        for key in keys:
            self._counter(key).reserved += r.amount
        self._reservations[decision_id] = replace(r, keys=keys)

    def _drop(self, decision_id: str) -> _Reservation | None:
        reservation = self._reservations.pop(decision_id, None)
        if reservation is not None:
            for key in reservation.keys:
                self._counter(key).reserved -= reservation.amount
        return reservation

    def _release_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, decision_id = heapq.heappop(self._expiries)
            self._drop(decision_id)  # a no-op when feedback settled it first
        today = period_key(DAILY, now)
        if today != self._today:
            self._today = today
            self._forget_past_periods(now)

    def _forget_past_periods(self, now: float) -> None:
        """Counters of days and months gone by, once nothing is reserved on them, are never read again."""
        held = {key for r in self._reservations.values() for key in r.keys}
        current = {DAILY: period_key(DAILY, now), MONTHLY: period_key(MONTHLY, now)}
        for key in [k for k in self._counters if k[1] != current[k[0].period] and k not in held]:
            del self._counters[key]

    def _keys(self, tenant_id: str, metadata: Metadata, at: float) -> tuple[tuple[Limit, str], ...]:
        return tuple((limit, period_key(limit.period, at)) for limit in self.limits.get(tenant_id, ())
                     if limit.applies_to(metadata))

    def _counter(self, key: tuple[Limit, str]) -> Counter:
        return self._counters.setdefault(key, Counter())

    def _status(self, key: tuple[Limit, str]) -> BudgetStatus:
        counter = self._counters.get(key, Counter())
        return BudgetStatus(key[0], key[1], counter.spent, max(counter.reserved, 0.0))


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
