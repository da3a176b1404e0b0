"""The statistics behind the cost advisor's recommendations: a quality mean with its interval, a
non-inferiority test between two sets of ratings, a Wilson bound for a share, and the doubly robust
estimate of what a scope's quality would have been had a proposed model answered it.

Qualities are in [0, 1] but not 0/1 (a rating of 0.8 is common), so a mean's interval is Student's t
rather than Wilson's; with the 30 or more ratings the finders ask for, the t interval of a bounded
variable covers well. It is clipped to [0, 1], where a quality lies.

"As good" is a non-inferiority question, not "no significant difference" (few ratings would make any
model look as good): the proposed model's mean may fall short of the current one's by at most a
margin, and the test is Welch's (the two models' variances differ: a budget model's ratings spread
more). Its confidence is the probability, under Welch's t, that the shortfall is within the margin.

The off-policy part uses learners/ope.py directly, not learners/logged.py: that module imports pandas,
which the server does not install. ope.py is imported where it is used, and Student's t comes from
scipy.special rather than scipy.stats: the server imports this module at start, and scipy.stats
(which ope.py imports) takes over a second to import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import stdtr, stdtrit

from router.domain.types import Context, Decision, FeedbackRecord

if TYPE_CHECKING:
    from learners.ope import Estimate

LEVEL = 0.95  # every interval's confidence level
QUALITY_STEP = 0.05  # an evidence fingerprint's grid for qualities: finer than that is noise at these counts

# One logged bandit event as the decision log's feedback_after yields it.
LoggedEvent = tuple[int, Decision, Context, FeedbackRecord]


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval at LEVEL, over n observations."""

    mean: float
    low: float
    high: float
    n: int


def mean_interval(values: Sequence[float]) -> Interval:
    """Student's t interval of the mean of qualities in [0, 1], clipped to [0, 1]. One value says
    nothing of the spread: its interval is all of [0, 1]."""
    array = np.asarray(values, dtype=float)
    if len(array) == 0:
        raise ValueError("a mean needs at least one value")
    mean = float(array.mean())
    if len(array) == 1:
        return Interval(mean, 0.0, 1.0, 1)
    half_width = stdtrit(len(array) - 1, 0.5 + LEVEL / 2) * _standard_error(array)
    return Interval(mean, float(max(0.0, mean - half_width)), float(min(1.0, mean + half_width)), len(array))


def non_inferiority(current: Sequence[float], proposed: Sequence[float], margin: float) -> float:
    """P(mean(proposed) − mean(current) > −margin) under Welch's t: the confidence that the proposed
    ratings fall short of the current ones by less than the margin. At least two ratings each."""
    a, b = np.asarray(current, dtype=float), np.asarray(proposed, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's test needs at least two ratings on each side")
    difference = b.mean() - a.mean()
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(var_a + var_b)
    if se == 0:  # every rating equal on both sides: the difference is known exactly
        return 1.0 if difference > -margin else 0.0
    # Welch–Satterthwaite; a side with no spread contributes 0 to both sums.
    df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    return float(stdtr(df, (difference + margin) / se))


def normal_non_inferiority(before: Sequence[float], after: Estimate, margin: float) -> float:
    """P(after − mean(before) > −margin) for an off-policy estimate and the logged ratings it is
    compared with. Both come from the same events, so they vary together; adding their variances as if
    independent overstates the spread, which makes the confidence err low, never high."""
    before = np.asarray(before, dtype=float)
    se_after = (after.high - after.low) / (2 * NormalDist().inv_cdf(0.5 + after.level / 2))
    se = math.sqrt(se_after**2 + _standard_error(before) ** 2)
    difference = after.value - before.mean()
    if se == 0:
        return 1.0 if difference > -margin else 0.0
    return NormalDist().cdf((difference + margin) / se)


def wilson_low(successes: int, n: int) -> float:
    """Wilson's lower bound at LEVEL for a share of successes out of n (0 when n is 0)."""
    if n == 0:
        return 0.0
    z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
    share = successes / n
    centre = share + z**2 / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z**2 / (4 * n**2))
    return float(max(0.0, (centre - spread) / (1 + z**2 / n)))


def dr_quality(events: Sequence[LoggedEvent], proposed: str) -> Estimate:
    """The doubly robust estimate of mean quality had the events been routed to `proposed` wherever
    it was a candidate, and as logged elsewhere. An event whose chosen model had no logged probability
    (not among its candidates, or given 0) cannot be reweighted and is left out; two must remain.

    The reward model reads what was known at decision time: complexity and the estimated token sizes
    (a scope's category is one, so it adds nothing). It only narrows the interval: with the logged
    propensities DR is unbiased whatever it predicts.
    """
    from learners.ope import BanditLog, dr  # here, not at the top: see the module's docstring

    logged = [(d, c, r, _logging_probabilities(d)) for _, d, c, r in events]
    logged = [(d, c, r, p) for d, c, r, p in logged if p.get(d.model, 0.0) > 0]
    if len(logged) < 2:
        raise ValueError(f"DR needs at least two events with a logged propensity, got {len(logged)}")
    actions = sorted({m for d, _, _, _ in logged for m in d.candidates})
    index = {model: i for i, model in enumerate(actions)}
    allowed = np.zeros((len(logged), len(actions)), dtype=bool)
    target = np.zeros((len(logged), len(actions)))
    for row, (decision, _, _, probabilities) in enumerate(logged):
        allowed[row, [index[m] for m in decision.candidates]] = True
        policy = {proposed: 1.0} if proposed in decision.candidates else probabilities
        target[row, [index[m] for m in policy]] = list(policy.values())
    log = BanditLog(
        allowed=allowed,
        chosen=np.array([index[d.model] for d, _, _, _ in logged], dtype=int),
        propensity=np.array([p[d.model] for d, _, _, p in logged]),
        reward=np.array([r.quality for _, _, r, _ in logged]),
        features=np.array([[c.complexity, math.log1p(c.input_tokens), math.log1p(c.output_tokens)]
                           for _, c, _, _ in logged]),
    )
    return dr(log, target, level=LEVEL)


def on_grid(value: float, step: float = QUALITY_STEP) -> int:
    """The nearest point of a grid, for a fingerprint that one more observation rarely moves."""
    return round(value / step)


def magnitude(value: float) -> str:
    """The order of magnitude, for a fingerprint: 10^k for values in [10^k, 10^(k+1)); "none" for 0 or less."""
    return f"10^{math.floor(math.log10(value))}" if value > 0 else "none"


def _logging_probabilities(decision: Decision) -> dict[str, float]:
    """The logging policy's probability of each candidate: the decision's own, renormalised against
    rounding, or all on the chosen model when there was no choice (a rule's, or a single candidate)."""
    if not decision.probabilities:
        return {decision.model: 1.0} if decision.model in decision.candidates else {}
    total = sum(decision.probabilities)
    return {m: p / total for m, p in zip(decision.candidates, decision.probabilities)} if total > 0 else {}


def _standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf
