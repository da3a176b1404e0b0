"""Turning scores into the probabilities the bandit draws from."""

from __future__ import annotations

import numpy as np


def inverse_gap_probabilities(scores: np.ndarray, gamma: float, floor: float = 0.0) -> np.ndarray:
    """SquareCB's inverse-gap weighting: p_a = 1/(K + γ·(best − score_a)), the rest to the best.

    Models close to the best keep a real chance, clearly worse ones fade as γ grows. The floor
    keeps every model at least that likely (taken from the best), so no model is starved forever.
    """
    scores = np.asarray(scores, dtype=np.float64)
    k = len(scores)
    if k == 1:
        return np.ones(1)
    best = int(np.argmax(scores))
    probs = 1.0 / (k + gamma * (scores[best] - scores))
    probs[best] = 0.0
    floor = min(floor, 1.0 / k)
    probs = np.maximum(probs, floor)
    probs[best] = 1.0 - (probs.sum() - probs[best])
    return probs


def exploration_gamma(gamma_scale: float, updates: int) -> float:
    """γ grows like √t: exploration shrinks as the learner has seen more feedback."""
    return gamma_scale * float(np.sqrt(updates + 1))
