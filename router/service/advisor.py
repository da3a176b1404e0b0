"""The cost advisor's service side: a tenant's waste and spend forecast for Stats, from the pure
functions of router/advice over its ledger, with its settings and budgets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from router.advice.forecast import DAY_SECONDS, DailySeries, Forecast, budget_runout, daily_spend, forecast
from router.advice.waste import Waste, WasteSettings, find_waste, waste_alerts
from router.decide.budgets import BudgetStatus, period_end
from router.domain.types import LedgerEntry
from router.service.core import Core

log = logging.getLogger(__name__)

# Storms are alerted from the ledger's last ten minutes: ten storm windows, read at most a minute apart.
WATCHED_SECONDS = 600.0
# Eight weeks: enough for the weekly cycle to be fitted twice over, little enough to read in one query.
FORECAST_HISTORY_DAYS = 56
MAX_FORECAST_DAYS = 31


@dataclass(frozen=True)
class Runout:
    """A budget forecast to run out before its period ends."""

    status: BudgetStatus
    runs_out_at: float | None  # at the forecast's mean; None: not before the period ends
    may_run_out_at: float | None  # at its interval's upper bound


@dataclass(frozen=True)
class ScopeForecast:
    team: str  # "": the tenant as a whole
    history: DailySeries
    forecast: Forecast
    runouts: list[Runout]


def waste_in(core: Core, tenant_id: str, entries: list[LedgerEntry], now: float) -> Waste:
    """The window's retry storms, timeouts (past the tenant's timeout_ms) and abandoned decisions."""
    return find_waste(entries, WasteSettings(timeout_ms=core.settings.tenant(tenant_id).timeout_ms), now)


def watch_waste(core: Core, now: float) -> int:
    """Alert the retry storms of the last WATCHED_SECONDS, every tenant's: each is logged and kept once
    (however many replicas watch), its calls brought up to date while it goes on. How many are new."""
    recent: dict[str, list[LedgerEntry]] = {}
    for entry in core.decision_log.ledger(None, now - WATCHED_SECONDS, now + 1):
        recent.setdefault(entry.tenant_id, []).append(entry)
    new = 0
    for tenant_id, entries in recent.items():
        for alert in waste_alerts(waste_in(core, tenant_id, entries, now), now, min_wasted_usd=1e-12):
            if core.decision_log.record_waste_alert(alert):
                new += 1
                log.warning("retry storm: %s (%s) sent one prompt %d times from %s, $%.4f wasted so far (decision %s)",
                            alert.caller, alert.scope, alert.calls, alert.trigger, alert.wasted_usd,
                            alert.first_decision_id)
    return new


def spend_forecasts(core: Core, tenant_id: str, until: float, days: int) -> list[ScopeForecast]:
    """Daily spend for `days` days from the day of `until`, for the tenant and each of its teams, from
    the ledger before `until`; with the budgets of each scope that the forecast runs out early."""
    since = until - (FORECAST_HISTORY_DAYS + 1) * DAY_SECONDS
    history = list(core.decision_log.ledger(tenant_id, since, until))
    now = core.clock()
    statuses = core.budgets.statuses(tenant_id, now)
    found = []
    for team in ["", *sorted({e.team for e in history if e.team})]:
        series = daily_spend(history, until, FORECAST_HISTORY_DAYS, team or None)
        predicted = forecast(series, horizon=days)
        scope = f"{tenant_id}/team={team}" if team else tenant_id
        runouts = [_runout(predicted, status, now) for status in statuses if status.limit.scope == scope]
        found.append(ScopeForecast(team, series, predicted, [r for r in runouts if r.may_run_out_at is not None]))
    return found


def _runout(predicted: Forecast, status: BudgetStatus, now: float) -> Runout:
    used, end = status.spent + status.reserved, period_end(status.limit.period, now)
    return Runout(status, budget_runout(predicted, used, status.limit.usd, end, now),
                  budget_runout(predicted, used, status.limit.usd, end, now, bound="high"))
