"""What the ledger says about a tenant over a window: spend, savings against always-premium, model
mix, cache, quality and budget modes, in total and grouped by an attribution field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from router.advice.waste import Waste
from router.decide.budgets import BudgetStatus
from router.domain.types import Alert, BudgetMode, LedgerEntry, Reason, WasteAlert
from router.service.advisor import ScopeForecast

GROUP_FIELDS: tuple[str, ...] = ("team", "project", "feature", "user", "model", "category")


@dataclass(frozen=True)
class Figures:
    calls: int  # decisions in the window, cache hits included
    settled: int  # with a known cost: feedback arrived, or the cache answered
    pending: int  # awaiting feedback: neither settled nor expired
    expired: int  # no feedback within the wait (those learned with expired_quality are also settled)
    spend_usd: float  # the settled calls' actual cost
    baseline_usd: float  # what always-premium would have cost for the same settled calls
    cache_hits: int
    cache_saved_usd: float  # what the calls the cache answered would have cost
    mean_quality: float | None  # over the calls that were rated (an error counts 0; an expiry is no rating)
    errors: int
    economy: int  # decisions made with premium models left out for a budget
    overdrafts: int  # security tasks let past a hard limit
    rule_shaped: int  # decisions a routing rule decided or narrowed
    model_mix: dict[str, int] = field(default_factory=dict)  # calls per model (cache hits not included)
    escalations: int = 0  # decisions that escalated an earlier one whose answer fell short
    security_flags: dict[str, int] = field(default_factory=dict)  # security tasks by source: hint, rule, detector
    overruns: int = 0  # settled calls that reported more than their tenant's max_cost_overrun × estimate
    overrun_usd: float = 0.0  # what they reported beyond it: recorded, not in spend_usd
    deduplicated: int = 0  # requests served the answer of an identical one in flight
    dedup_saved_usd: float = 0.0  # what calling their model would have cost

    @property
    def savings_usd(self) -> float:
        return self.baseline_usd - self.spend_usd

    @property
    def savings_share(self) -> float:
        return self.savings_usd / self.baseline_usd if self.baseline_usd > 0 else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.calls if self.calls else 0.0

    @property
    def escalation_rate(self) -> float:
        """Escalations per decision a model answered first (neither a cache hit nor an escalation)."""
        first = self.calls - self.cache_hits - self.escalations
        return self.escalations / first if first > 0 else 0.0


def figures(entries: Iterable[LedgerEntry]) -> Figures:
    entries = list(entries)
    settled = [e for e in entries if e.settled]
    rated = [e.quality for e in settled if e.quality is not None and not (e.expired or e.not_called)]
    return Figures(
        calls=len(entries),
        settled=len(settled),
        pending=sum(not (e.settled or e.expired) for e in entries),
        expired=sum(e.expired for e in entries),
        spend_usd=sum(e.cost_usd for e in settled),
        baseline_usd=sum(e.baseline_cost_usd for e in settled),
        cache_hits=sum(e.cache_hit for e in entries),
        cache_saved_usd=sum(e.cache_saved_usd for e in entries if e.cache_hit),
        mean_quality=sum(rated) / len(rated) if rated else None,
        errors=sum(e.error for e in settled),
        economy=sum(e.budget_mode == BudgetMode.ECONOMY for e in entries),
        overdrafts=sum(e.budget_mode == BudgetMode.OVERDRAFT for e in entries),
        rule_shaped=sum(bool(e.rule_id) for e in entries),
        model_mix=dict(Counter(e.model for e in entries if not e.cache_hit).most_common()),
        escalations=sum(e.reason == Reason.ESCALATION for e in entries),
        security_flags=dict(Counter(e.security_source for e in entries if e.security_source)),
        overruns=sum(e.overrun_usd > 0 for e in settled),
        overrun_usd=sum(e.overrun_usd for e in settled),
        deduplicated=sum(e.deduplicated for e in entries),
        dedup_saved_usd=sum(e.estimated_cost_usd for e in entries if e.deduplicated),
    )


def grouped(entries: Iterable[LedgerEntry], by: str) -> dict[str, Figures]:
    """Figures per value of one attribution field ("" for calls that did not set it)."""
    if by not in GROUP_FIELDS:
        raise ValueError(f"cannot group by {by!r}; one of {', '.join(GROUP_FIELDS)}")
    groups: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        groups.setdefault(getattr(entry, by), []).append(entry)
    return {value: figures(group) for value, group in sorted(groups.items())}


@dataclass(frozen=True)
class Stats:
    """The Stats answer: a window of one tenant's ledger, its spend alerts and waste, its budgets now,
    and when asked, its spend forecast."""

    tenant_id: str
    since: float
    until: float
    total: Figures
    group_by: str
    groups: dict[str, Figures]
    alerts: list[Alert]
    budgets: list[BudgetStatus]
    waste: Waste
    storm_alerts: list[WasteAlert] = field(default_factory=list)  # the window's retry storms, as alerted
    forecasts: list[ScopeForecast] = field(default_factory=list)  # when asked
