"""RouteLLM's metrics for a two-model router (Ong et al., 2024): PGR, APGR and CPT.

A router's operating point is (share of calls to the strong model, mean quality). PGR, the
performance gap recovered, is (q − q_weak) / (q_strong − q_weak). APGR is the area under PGR as
the strong-call share goes from 0 to 1 (random routing: 0.5), and CPT(x) the smallest share
whose PGR reaches x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurvePoint:
    strong_share: float
    quality: float
    pgr: float


def pgr(quality: float, weak_quality: float, strong_quality: float) -> float:
    gap = strong_quality - weak_quality
    return (quality - weak_quality) / gap if gap else 0.0


def curve(points: list[tuple[float, float]], weak_quality: float, strong_quality: float) -> list[CurvePoint]:
    """The router's points (share, quality) sorted by share, closed by the two pure endpoints.

    A router can always send none or all of its calls to the strong model, so (0, weak) and
    (1, strong) belong to every curve.
    """
    closed = [(0.0, weak_quality), *points, (1.0, strong_quality)]
    closed.sort(key=lambda p: p[0])
    return [CurvePoint(s, q, pgr(q, weak_quality, strong_quality)) for s, q in closed]


def apgr(points: list[CurvePoint]) -> float:
    """Area under PGR over the strong-call share in [0, 1], by the trapezoid rule."""
    shares = np.array([p.strong_share for p in points])
    values = np.array([p.pgr for p in points])
    return float(np.sum((shares[1:] - shares[:-1]) * (values[1:] + values[:-1]) / 2))


def cpt(points: list[CurvePoint], target: float) -> float:
    """Smallest strong-call share at which PGR reaches target, interpolating between points."""
    for before, after in zip(points, points[1:]):
        if before.pgr >= target:
            return before.strong_share
        if after.pgr >= target:
            fraction = (target - before.pgr) / (after.pgr - before.pgr)
            return before.strong_share + fraction * (after.strong_share - before.strong_share)
    return 1.0


def oracle_points(weak: np.ndarray, strong: np.ndarray) -> list[tuple[float, float]]:
    """The best any router can do with k strong calls out of n, for every k.

    It spends its strong calls on the prompts where the strong model gains most, and never on one
    where it gains nothing.
    """
    n = len(weak)
    gains = np.maximum(np.sort(strong - weak)[::-1], 0.0)
    recovered = np.concatenate([[0.0], np.cumsum(gains)]) / n
    return [(k / n, float(weak.mean() + recovered[k])) for k in range(1, n)]


def random_points(weak: np.ndarray, strong: np.ndarray, steps: int = 10) -> list[tuple[float, float]]:
    """A router that sends each prompt to the strong model with probability s, in expectation."""
    return [(s, float(weak.mean() + s * (strong.mean() - weak.mean()))) for s in np.linspace(0, 1, steps + 1)[1:-1]]
