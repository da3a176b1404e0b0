"""forecast-backtest: the spend forecast (router/advice/forecast.py) against naive forecasts, on daily
spend with a known trend and weekly cycle.

Two series, both seeded:

- synthetic: base × (1 + trend × day) × the weekday's factor × lognormal noise, nothing else;
- traffic: a ledger of simulated calls, aggregated by `daily_spend` as the service would: calls a day
  are Poisson with the same trend and weekly cycle, each call a prompt of the simulator's traffic
  generator (its tokens) on a model drawn from a fixed mix (its registry price). Its noise comes from
  the call counts and the mix's heavy tail: a few premium calls move a day's spend.

Rolling origin: at each of several cut days the forecast is fitted on the days before the cut and
scored on the `horizon` days from it, as are two naive forecasts: seasonal naive (each day as the
same weekday a week earlier) and last value (every day as the last one seen). The score is MAPE over
every origin and day, and the forecast's interval coverage (the share of actual days inside it).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from router.advice.forecast import DAY_SECONDS, WEEK, DailySeries, daily_spend, forecast, plot_forecast
from router.domain.registry import Registry
from router.domain.types import LedgerEntry

# A Monday, so WEEKLY_FACTORS[day % 7] is Monday's, Tuesday's...
START = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
WEEKLY_FACTORS = (1.0, 1.1, 1.1, 1.05, 0.9, 0.45, 0.4)  # Monday to Sunday: weekends spend less than half
TREND = 0.01  # a day's expected spend grows by 1% of the first day's
NOISE_SD = 0.15  # of the synthetic series' lognormal noise
CALLS_PER_DAY = 200  # the traffic series' first Monday, on average
# The traffic series' models and their shares of calls: a routed mix, mostly small models.
MODEL_MIX = {"gpt-4o-mini": 0.35, "gemini-2.5-flash": 0.25, "deepseek-chat": 0.15, "claude-sonnet-4": 0.15,
             "gpt-4o": 0.07, "claude-opus-4": 0.03}
PROMPT_POOL = 2000  # generated prompts the calls draw from: generating one per call is slower
# The earliest cut: four weeks of history, so every origin has the forecast's weekly form.
MIN_TRAIN_DAYS = 4 * WEEK
LEVEL = 0.9
PLOTTED_DAYS = 8 * WEEK  # of history before the plotted forecast
METHODS = ("forecast", "seasonal-naive", "last-value")


@dataclass(frozen=True)
class SeriesScore:
    series: str  # "synthetic" or "traffic"
    method: str  # the forecast's method at the last origin
    origins: int  # cut days scored
    mape: dict[str, float]  # percent, per method of METHODS
    coverage: float  # share of actual days inside the forecast's interval
    fit_ms: float  # median CPU time of one forecast (fit and predict), milliseconds: a busy machine inflates wall time


@dataclass(frozen=True)
class BacktestResult:
    days: int
    horizon: int
    seed: int
    level: float
    scores: tuple[SeriesScore, ...]


def synthetic_spend(days: int, seed: int, base: float = 40.0, trend: float = TREND,
                    noise_sd: float = NOISE_SD) -> np.ndarray:
    """Daily spend from day 0 (a Monday): base × (1 + trend × day) × weekday factor × lognormal noise."""
    rng = np.random.default_rng(seed)
    day = np.arange(days)
    weekly = np.array(WEEKLY_FACTORS)[day % WEEK]
    return base * (1 + trend * day) * weekly * rng.lognormal(0.0, noise_sd, days)


def traffic_spend(days: int, seed: int, calls_per_day: float = CALLS_PER_DAY, trend: float = TREND) -> DailySeries:
    """A simulated ledger's daily spend, through `daily_spend`: see the module's docstring."""
    from simulator.traffic import TrafficGenerator

    registry = Registry.from_yaml()
    prompts = list(TrafficGenerator(seed).stream(PROMPT_POOL))
    models = list(MODEL_MIX)
    rng = np.random.default_rng(seed)
    draw = random.Random(seed)
    entries = []
    for day in range(days):
        calls = rng.poisson(calls_per_day * (1 + trend * day) * WEEKLY_FACTORS[day % WEEK])
        for model in draw.choices(models, weights=list(MODEL_MIX.values()), k=int(calls)):
            prompt = draw.choice(prompts)
            created = START + day * DAY_SECONDS + draw.random() * DAY_SECONDS
            cost = registry[model].cost(prompt.input_tokens, prompt.output_tokens)
            entries.append(_entry(len(entries), created, model, prompt.input_tokens, prompt.output_tokens, cost))
    return daily_spend(entries, until=START + days * DAY_SECONDS)


def _entry(index: int, created: float, model: str, input_tokens: int, output_tokens: int,
           cost: float) -> LedgerEntry:
    return LedgerEntry(decision_id=f"d{index}", tenant_id="backtest", created_at=created, team="", project="",
                       feature="", user="", model=model, category="", security=False, reason="bandit", rule_id="",
                       budget_mode="", estimated_cost_usd=cost, cache_hit=False, settled_at=created + 5.0,
                       input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost,
                       baseline_cost_usd=cost, cache_saved_usd=0.0, quality=None, error=False)


def cut_days(days: int, horizon: int, origins: int) -> list[int]:
    """Up to `origins` cut days, evenly spaced from MIN_TRAIN_DAYS to the last that leaves `horizon`
    actual days after it."""
    last = days - horizon
    if last < MIN_TRAIN_DAYS:
        raise ValueError(f"{days} days leave no origin with {MIN_TRAIN_DAYS} days of history and {horizon} to score")
    if origins < 1:
        raise ValueError(f"origins must be at least 1, got {origins}")
    return sorted({round(cut) for cut in np.linspace(last, MIN_TRAIN_DAYS, origins)})


def backtest(spend: Sequence[float], horizon: int, origins: int, name: str, level: float = LEVEL) -> SeriesScore:
    """Score the forecast and the naive forecasts on `spend` (daily, day 0 a Monday) at rolling origins."""
    spend = np.asarray(spend, dtype=float)
    errors: dict[str, list[float]] = {method: [] for method in METHODS}
    inside, fit_seconds, method = [], [], ""
    for cut in cut_days(len(spend), horizon, origins):
        actual = spend[cut:cut + horizon]
        started = time.process_time()
        predicted = forecast(_history(spend, cut), horizon, level)
        fit_seconds.append(time.process_time() - started)
        method = predicted.method
        guesses = {
            "forecast": np.array([day.mean for day in predicted.days]),
            "seasonal-naive": spend[cut - WEEK + np.arange(horizon) % WEEK],
            "last-value": np.full(horizon, spend[cut - 1]),
        }
        for key, guess in guesses.items():
            errors[key].extend(_percentage_errors(actual, guess))
        inside.extend(day.low <= value <= day.high for day, value in zip(predicted.days, actual))
    return SeriesScore(series=name, method=method, origins=len(fit_seconds),
                       mape={key: statistics.fmean(values) for key, values in errors.items()},
                       coverage=statistics.fmean(inside), fit_ms=1000 * statistics.median(fit_seconds))


def _history(spend: np.ndarray, cut: int) -> DailySeries:
    return DailySeries(start=START, spend=tuple(spend[:cut].tolist()), today_spend=0.0)


def _percentage_errors(actual: np.ndarray, guess: np.ndarray) -> list[float]:
    # A day without spend has no percentage error; the series here never have one.
    return [100 * abs(a - g) / a for a, g in zip(actual, guess) if a > 0]


def run_backtest(days: int, horizon: int, origins: int, seed: int, json_path: Path | None,
                 plot_path: Path | None) -> BacktestResult:
    """The forecast-backtest command: score both series, print the table, write the JSON and a plot
    of the traffic series' last origin when asked."""
    from simulator.runs import print_table, write_json

    series = {"synthetic": synthetic_spend(days, seed), "traffic": np.array(traffic_spend(days, seed).spend)}
    scores = tuple(backtest(spend, horizon, origins, name) for name, spend in series.items())
    result = BacktestResult(days=days, horizon=horizon, seed=seed, level=LEVEL, scores=scores)
    rows = {score.series: {"origins": score.origins, **score.mape, "coverage": score.coverage, "fit_ms": score.fit_ms}
            for score in result.scores}
    print_table(f"forecast-backtest: {days} days, horizon {horizon}, seed {seed} (MAPE %, {LEVEL:.0%} interval)",
                rows, [("origins", "origins", "d"), ("forecast", "forecast", ".1f"),
                       ("seasonal-naive", "naive (week)", ".1f"), ("last-value", "naive (last)", ".1f"),
                       ("coverage", "coverage", ".0%"), ("fit_ms", "fit ms (CPU)", ".1f")])
    print("\n".join(f"{score.series}: {score.method} at the last origin" for score in result.scores))
    if json_path is not None:
        write_json(json_path, asdict(result))
        print(f"JSON: {json_path}")
    if plot_path is not None:
        _plot_last_origin(series["traffic"], horizon, plot_path, seed)
        print(f"plot: {plot_path}")
    return result


def _plot_last_origin(spend: np.ndarray, horizon: int, path: Path, seed: int) -> Path:
    """The last origin's forecast against what followed, after the eight weeks before it (the fit uses all)."""
    cut = len(spend) - horizon
    shown = max(cut - PLOTTED_DAYS, 0)
    history = _history(spend, cut)
    title = f"Spend forecast against what followed (simulated traffic, seed {seed}, {cut} days of history)"
    return plot_forecast(DailySeries(start=START + shown * DAY_SECONDS, spend=history.spend[shown:], today_spend=0.0),
                         forecast(history, horizon, LEVEL), path, title, actual=spend[cut:])
