"""Spend anomaly detection: alert when a tenant's (or a team's) spend this hour is far above its usual.

Every settled call's cost is added to an hourly bucket of its scope: the tenant as a whole, and the
tenant's team when the call names one. Each scope is compared only with its own recent history:
the previous `history_hours` hourly totals, an hour without calls counting as $0, but never hours
before the scope's first call (a new tenant has no history of zeros before it existed).

The comparison is a robust z-score, z = (spend - median) / (1.4826 * MAD): the median and the
median absolute deviation ignore a few earlier spikes, which a mean and a standard deviation would
let inflate the baseline and hide the next one. The scale has floors (see `_baseline`).

The median and the MAD are computed once per scope and hour, when the scope's first call of the
hour arrives; after that each call costs one addition and one comparison, so `observe` is O(1)
amortised over the calls of an hour. An alert fires at most once per scope and hour, on the call
that pushes the hour's running spend over the line.

Pure: no gRPC, no SQL, no clock (the caller passes each call's timestamp), not thread-safe (the
caller serialises calls).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from router.domain.types import Alert

HOUR_SECONDS = 3600

# 1.4826 * MAD estimates the standard deviation of normally distributed spend.
MAD_TO_SIGMA = 1.4826

# The scale is at least this fraction of the median: spend that is perfectly steady has MAD 0, and
# without a floor a cent above the usual would be an infinite z.
MIN_RELATIVE_SCALE = 0.1

# Last resort against dividing by zero when min_spend_usd is 0 and the scope usually spends nothing.
MIN_SCALE = 1e-9


@dataclass(frozen=True)
class _Baseline:
    """One scope's usual hourly spend, fixed for the hour it was computed for."""

    median: float
    scale: float

    def z(self, spend_usd: float) -> float:
        return (spend_usd - self.median) / self.scale


@dataclass
class _Scope:
    first_hour: int  # hour index (UNIX time // 3600) of the scope's earliest call
    hour: int  # the latest hour index seen
    buckets: dict[int, float]  # hour index -> spend; only the latest history_hours + 1 hours
    baseline: _Baseline | None  # for `hour`; None while the history is too short
    fired: bool = False  # already alerted in `hour`


class SpendAnomalyDetector:
    def __init__(self, history_hours: int = 168, min_history_hours: int = 12, threshold: float = 4.0,
                 min_spend_usd: float = 1.0):
        if not 1 <= min_history_hours <= history_hours:
            raise ValueError(f"need 1 <= min_history_hours ({min_history_hours}) <= history_hours ({history_hours})")
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        if min_spend_usd < 0:
            raise ValueError(f"min_spend_usd must not be negative, got {min_spend_usd}")
        self.history_hours = history_hours
        self.min_history_hours = min_history_hours
        self.threshold = threshold
        self.min_spend_usd = min_spend_usd
        self._scopes: dict[tuple[str, str], _Scope] = {}

    def observe(self, tenant_id: str, team: str, at: float, cost_usd: float) -> list[Alert]:
        """Add one call's cost at UNIX time `at`; return the alerts it fires (tenant, team: 0 to 2)."""
        alerts = []
        for scope_team in _scope_teams(team):
            alert = self._add(tenant_id, scope_team, at, cost_usd)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def load(self, tenant_id: str, team: str, at: float, cost_usd: float) -> None:
        """Replay a past call (rebuilding history from the ledger after a restart); never alerts.

        The state afterwards is exactly what `observe` would have left, including which hours have
        already alerted: the process that saw those calls live raised their alerts, so a call after
        the restart does not raise them again.
        """
        self.observe(tenant_id, team, at, cost_usd)

    def _add(self, tenant_id: str, team: str, at: float, cost_usd: float) -> Alert | None:
        hour = int(at // HOUR_SECONDS)
        scope = self._scopes.get((tenant_id, team))
        if scope is None:
            scope = self._scopes[(tenant_id, team)] = _Scope(first_hour=hour, hour=hour, buckets={}, baseline=None)
        elif hour > scope.hour:
            self._start_hour(scope, hour)
        elif hour < scope.hour:
            self._add_late(scope, hour, cost_usd)
            return None
        scope.buckets[hour] = scope.buckets.get(hour, 0.0) + cost_usd
        return self._check(scope, tenant_id, team, at)

    def _start_hour(self, scope: _Scope, hour: int) -> None:
        # Pruning here, once per hour, keeps memory bounded at no cost per call.
        oldest_kept = hour - self.history_hours
        scope.buckets = {h: spend for h, spend in scope.buckets.items() if h >= oldest_kept}
        scope.hour = hour
        scope.fired = False
        scope.baseline = self._baseline(scope)

    def _add_late(self, scope: _Scope, hour: int, cost_usd: float) -> None:
        # A late call only corrects history: it is counted in the baselines of hours still to
        # start (the current hour's is already fixed), and its own hour is over, so it never alerts.
        if hour < scope.hour - self.history_hours:
            return  # outside every history this scope will still use
        scope.buckets[hour] = scope.buckets.get(hour, 0.0) + cost_usd
        scope.first_hour = min(scope.first_hour, hour)

    def _baseline(self, scope: _Scope) -> _Baseline | None:
        start = max(scope.first_hour, scope.hour - self.history_hours)
        if scope.hour - start < self.min_history_hours:
            return None
        spends = [scope.buckets.get(h, 0.0) for h in range(start, scope.hour)]
        median = statistics.median(spends)
        mad = statistics.median(abs(spend - median) for spend in spends)
        # The min_spend_usd / threshold floor matters for a scope that usually spends nothing
        # (median and MAD both 0): it puts the line at exactly min_spend_usd above the median
        # instead of at the first cent.
        scale = max(MAD_TO_SIGMA * mad, MIN_RELATIVE_SCALE * median, self.min_spend_usd / self.threshold, MIN_SCALE)
        return _Baseline(median=median, scale=scale)

    def _check(self, scope: _Scope, tenant_id: str, team: str, at: float) -> Alert | None:
        if scope.fired or scope.baseline is None:
            return None
        spend = scope.buckets[scope.hour]
        # Comparing z itself, rather than the spend with median + threshold * scale, costs the same
        # and guarantees every alert reports z >= threshold despite rounding.
        z = scope.baseline.z(spend)
        if z < self.threshold or spend < self.min_spend_usd:
            return None
        scope.fired = True
        return Alert(tenant_id=tenant_id, team=team, hour_start=float(scope.hour * HOUR_SECONDS), spend_usd=spend,
                     expected_usd=scope.baseline.median, z=z, detected_at=at)


def _scope_teams(team: str) -> tuple[str, ...]:
    """The scopes a call counts in: always the tenant as a whole (""), and its team if it names one."""
    return ("", team) if team else ("",)
