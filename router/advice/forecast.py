"""The spend forecast: a tenant's (or a team's) daily spend for the next days, with an interval, and
when a budget is forecast to run out.

History is the ledger's settled spend per UTC day. Only full days count: the day in progress is
partial, so it is kept apart (`DailySeries.today_spend`) and the forecast's first day is today. A day
without a settled call is a real $0, but days before the scope's first call are not history (a new
team has no past of zeros).

The model is statsmodels' ETS (exponential smoothing as a state-space model, additive errors, so a $0
day is fine and the intervals are exact rather than simulated), its form chosen by what the history
can support:

    days of history   method                    ETS form
    0                 none                      no forecast at all
    1-3               mean                      the days' mean; the interval at least ±z × the mean
    4-9               ets-level                 (A,N,N): a level
    10-15             ets-damped-trend          (A,Ad,N): a level and a damped trend
    16+               ets-damped-trend-weekly   (A,Ad,A): a level, a damped trend and a weekly cycle
    4+, unchanging    constant                  that value, a zero-width interval

The thresholds are where statsmodels' heuristic initial states become available for each form (10
days, and 16 with a weekly cycle): below them the initial states must be estimated with the
parameters, which costs 100 ms for a weekly form and fits 13 parameters to 14 days. The trend is
damped, so that a week's noise read as a trend is not extrapolated at full slope: on the backtest's
series (simulator/forecast_backtest.py) it forecast better than an undamped trend (MAPE 14.4 % and
20.8 % against 15.0 % and 22.2 %) and about as well as no trend (14.0 %, 20.0 %), while still
following a real trend, which a level alone cannot. The weekly cycle is additive, not multiplicative (weekends a share
of weekdays), because the multiplicative form fails on a $0 day and its intervals are simulated.

ETS intervals count the noise but not the uncertainty of the fitted parameters, so on short histories
they are too narrow. As R's forecast::ets does, the error variance is estimated with the degrees of
freedom the parameters take (SSE / (n - k) rather than SSE / n), which widens a 16-day weekly
forecast's interval 2.3 times and a 90-day one's 1.08 times. Forecasts and bounds are clipped at 0:
spend is never negative.

statsmodels and matplotlib are imported where they are used: the server imports this module at
start, and statsmodels takes a second or more to import (matplotlib is not a server dependency).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from router.domain.types import LedgerEntry

DAY_SECONDS = 86400
WEEK = 7

# Only the latest days are fitted: older spend says little about next week, and fitting time grows
# with the history (90 days of the weekly form: 10 to 20 ms on one core).
MAX_HISTORY_DAYS = 120
MIN_MODEL_DAYS = 4  # below it, the mean


@dataclass(frozen=True)
class _Form:
    """An ETS form and the shortest history it is fitted to."""

    method: str
    min_days: int
    trend: bool  # additive and damped
    weekly: bool  # an additive cycle of 7 days
    initialization: str  # statsmodels' initial states: "heuristic" (from the data) or "estimated" (fitted)
    # Counted as R's forecast::ets counts them: the smoothing parameters (and the damping), the initial
    # states (a weekly cycle's seven sum to 0: six), the error variance.
    parameters: int


_FORMS = (  # the richest first: the first a history is long enough for is fitted
    _Form("ets-damped-trend-weekly", 16, trend=True, weekly=True, initialization="heuristic", parameters=4 + 2 + 6 + 1),
    _Form("ets-damped-trend", 10, trend=True, weekly=False, initialization="heuristic", parameters=3 + 2 + 1),
    _Form("ets-level", MIN_MODEL_DAYS, trend=False, weekly=False, initialization="estimated", parameters=1 + 1 + 1),
)


@dataclass(frozen=True)
class DailySeries:
    """Settled spend per full UTC day, oldest first, and the partial spend of the day in progress."""

    start: float  # UNIX time of the first day's midnight (UTC)
    spend: tuple[float, ...]  # one value per day from `start`; a day without settled calls is 0
    today_spend: float  # settled so far on the day containing `until`: partial, so not in `spend`

    @property
    def today_start(self) -> float:
        """Midnight (UTC) of the day in progress: the day after the last full one."""
        return self.start + len(self.spend) * DAY_SECONDS

    @property
    def day_starts(self) -> tuple[float, ...]:
        return tuple(self.start + i * DAY_SECONDS for i in range(len(self.spend)))


@dataclass(frozen=True)
class ForecastDay:
    start: float  # UNIX time of the day's midnight (UTC)
    mean: float  # expected spend, USD
    low: float  # the interval's bounds: the day's spend falls inside with probability `level`
    high: float


@dataclass(frozen=True)
class Forecast:
    days: tuple[ForecastDay, ...]  # from the day after the history's last: today, for a fresh series
    method: str  # see the module's table: "none", "mean", "ets-level", "ets-damped-trend", ...
    history_days: int  # full days the forecast was fitted on
    level: float  # the intervals' nominal coverage


def daily_spend(entries: Iterable[LedgerEntry], until: float, days: int | None = None,
                team: str | None = None) -> DailySeries:
    """Settled spend per UTC day of one tenant's entries (of one team's: `team`; None for the whole
    tenant), for the full days before the day containing `until`, at most the last `days` of them.

    The series starts on the day of the scope's first call (settled or not: a call awaiting feedback
    still shows the scope existed), or `days` before today if that is later. Calls at or after
    `until` are left out: they had not happened at the moment asked about.
    """
    if days is not None and days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    today = _day(until)
    totals: dict[int, float] = {}
    first = today
    for entry in entries:
        if (team is not None and entry.team != team) or entry.created_at >= until:
            continue
        day = _day(entry.created_at)
        first = min(first, day)
        if entry.settled:
            totals[day] = totals.get(day, 0.0) + entry.cost_usd
    if days is not None:
        first = max(first, today - days)
    return DailySeries(start=float(first * DAY_SECONDS),
                       spend=tuple(totals.get(day, 0.0) for day in range(first, today)),
                       today_spend=totals.get(today, 0.0))


def forecast(series: DailySeries, horizon: int = 7, level: float = 0.9) -> Forecast:
    """Daily spend for the `horizon` days after the series' last full day, with `level` intervals.

    The model's form follows the history's length (see the module's docstring) and `method` names the
    one used; a fit that fails (no finite answer) falls back to the mean, and says so.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    history = series.spend[-MAX_HISTORY_DAYS:]
    starts = [series.today_start + h * DAY_SECONDS for h in range(horizon)]
    if not history:
        return Forecast(days=(), method="none", history_days=0, level=level)
    form = next((form for form in _FORMS if len(history) >= form.min_days), None)
    if form is not None and max(history) == min(history):
        # Most often a scope that spends nothing. ETS would have no error to scale an interval by (its
        # likelihood takes the log of zero); a few such days are left to the mean's wide interval.
        value = history[0]
        days = [ForecastDay(start, value, value, value) for start in starts]
        return Forecast(days=tuple(days), method="constant", history_days=len(history), level=level)
    if form is not None:
        fitted = _ets(history, form, horizon, level)
        if fitted is not None:
            return _clipped(starts, *fitted, method=form.method, history_days=len(history), level=level)
    # Too short for a model, or the fit failed: the mean, and the method says so.
    return _clipped(starts, *_mean(history, horizon, level), method="mean", history_days=len(history),
                    level=level)


def _ets(history: Sequence[float], form: _Form, horizon: int,
         level: float) -> tuple[list[float], list[float], list[float]] | None:
    """Mean, low and high per day from an ETS form; None if the fit gives no finite answer."""
    import pandas as pd
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, ValueWarning
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from threadpoolctl import threadpool_limits

    n = len(history)
    # One BLAS thread: the fit's L-BFGS-B makes many tiny BLAS calls, and threads woken for each made a
    # fit 3 to 10 times slower (85-140 ms instead of about 10) on a busy two-core machine.
    with warnings.catch_warnings(), threadpool_limits(1):
        # A short or flat history often stops the optimiser short of its tolerance, and its trial
        # parameters can overflow; the result is still usable, and checked for finiteness below.
        # (The filters are the process's: another thread's warnings are hidden for these milliseconds.)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", ValueWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            # A pandas Series, not an array: get_prediction reads the predicted mean's index.
            model = ETSModel(pd.Series(history, dtype=float), error="add",
                             trend="add" if form.trend else None, damped_trend=form.trend,
                             seasonal="add" if form.weekly else None, seasonal_periods=WEEK if form.weekly else None,
                             initialization_method=form.initialization)
            frame = model.fit(disp=False).get_prediction(start=n, end=n + horizon - 1).summary_frame(
                alpha=1 - level)
        except (ValueError, np.linalg.LinAlgError):
            return None
    mean = frame["mean"].to_numpy(dtype=float)
    # statsmodels scales by SSE / n; see the module's docstring for the degrees of freedom.
    half = (frame["pi_upper"].to_numpy(dtype=float) - mean) * math.sqrt(n / (n - form.parameters))
    if not (np.isfinite(mean).all() and np.isfinite(half).all()):
        return None
    return mean.tolist(), (mean - half).tolist(), (mean + half).tolist()


def _mean(history: Sequence[float], horizon: int, level: float) -> tuple[list[float], list[float], list[float]]:
    """The days' mean, with an interval that does not pretend to know the spread from a few days: its
    scale is at least the mean itself, and grows as a new observation's would (√(1 + 1/n))."""
    mean = statistics.fmean(history)
    spread = statistics.stdev(history) if len(history) > 1 else 0.0
    half = _z(level) * max(spread, mean) * math.sqrt(1 + 1 / len(history))
    return [mean] * horizon, [mean - half] * horizon, [mean + half] * horizon


def _clipped(starts: list[float], mean: list[float], low: list[float], high: list[float], *, method: str,
             history_days: int, level: float) -> Forecast:
    days = tuple(ForecastDay(start, max(m, 0.0), max(lo, 0.0), max(hi, 0.0))
                 for start, m, lo, hi in zip(starts, mean, low, high))
    return Forecast(days=days, method=method, history_days=history_days, level=level)


def budget_runout(forecast: Forecast, spent_so_far: float, limit_usd: float, period_end: float, now: float,
                  bound: Literal["mean", "high"] = "mean") -> float | None:
    """When a budget is forecast to run out: the UNIX time the period's spend reaches `limit_usd`, or
    None if not before `period_end` (nor within the forecast's days: beyond them nothing is forecast).

    `spent_so_far` is what the period has spent by `now`. Each forecast day is spent at an even rate
    over its hours, so the moment falls inside a day, and today counts only its hours after `now`.
    With bound="high" each day spends its interval's upper bound: the earliest the budget may
    plausibly run out (conservative: the days' upper bounds rarely all happen together). A budget
    already spent runs out `now`.
    """
    if bound not in ("mean", "high"):
        raise ValueError(f"bound must be 'mean' or 'high', got {bound!r}")
    remaining = limit_usd - spent_so_far
    if remaining <= 0:
        return now
    for day in forecast.days:
        start, end = max(day.start, now), min(day.start + DAY_SECONDS, period_end)
        if end <= start:
            continue
        rate = getattr(day, bound) / DAY_SECONDS
        spend = rate * (end - start)
        if spend >= remaining:
            return start + remaining / rate
        remaining -= spend
    return None


def plot_forecast(history: DailySeries, forecast: Forecast, path: Path, title: str,
                  actual: Sequence[float] | None = None) -> Path:
    """A PNG of the history, today's partial spend, and the forecast with its interval; `actual`, the
    spend that really followed (a backtest), drawn over the forecast days."""
    # The object-oriented API on the Agg canvas: no pyplot, so no global backend is chosen or changed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(_dates(history.day_starts), history.spend, marker=".", color="tab:blue", label="daily spend")
    if forecast.days and forecast.days[0].start == history.today_start and history.today_spend > 0:
        ax.scatter(_dates([history.today_start]), [history.today_spend], marker="o", facecolors="none",
                   edgecolors="tab:blue", label="today so far (partial)")
    if forecast.days:
        dates = _dates([day.start for day in forecast.days])
        ax.plot(dates, [day.mean for day in forecast.days], linestyle="--", marker=".", color="tab:orange",
                label=f"forecast ({forecast.method})")
        ax.fill_between(dates, [day.low for day in forecast.days], [day.high for day in forecast.days],
                        color="tab:orange", alpha=0.25, label=f"{forecast.level:.0%} interval")
        if actual is not None:
            shown = min(len(actual), len(dates))
            ax.plot(dates[:shown], list(actual)[:shown], marker="o", linestyle="none", color="black", label="actual")
    ax.set_ylabel("spend per UTC day (USD)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _day(at: float) -> int:
    """The index of the UTC day a moment falls in (days since 1970-01-01)."""
    return int(at // DAY_SECONDS)


def _dates(starts: Iterable[float]) -> list[datetime]:
    return [datetime.fromtimestamp(start, timezone.utc) for start in starts]


def _z(level: float) -> float:
    """The normal quantile a two-sided `level` interval spans on each side."""
    return statistics.NormalDist().inv_cdf(0.5 + level / 2)
