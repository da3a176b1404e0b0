"""Off-policy evaluation: what a target policy would have earned, estimated from the bandit's log.

The bandit logs, per decision, the allowed actions, the one it chose, the probability it chose it
with and the reward it saw. Reweighting those rewards by how much more (or less) often the target
policy would have made the same choice gives IPS; SNIPS normalises the weights; DM trusts a reward
model; DR uses the reward model and corrects its error with the weighted residuals. The formulas
follow Open Bandit Pipeline's estimators; the intervals are closed-form normal approximations
(the delta method for SNIPS) so that thousands of estimates stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class BanditLog:
    """n logged decisions over a global list of K actions, each decision with its own allowed subset."""

    allowed: np.ndarray  # (n, K) bool: the actions the logging policy could choose
    chosen: np.ndarray  # (n,) int: index of the logged action
    propensity: np.ndarray  # (n,) float in (0, 1]: its probability under the logging policy
    reward: np.ndarray  # (n,) float: the observed reward of the chosen action
    features: np.ndarray  # (n, d) float: context the reward model may use

    def __post_init__(self) -> None:
        allowed, chosen = np.asarray(self.allowed), np.asarray(self.chosen)
        if allowed.ndim != 2 or allowed.dtype != bool:
            raise ValueError(f"allowed must be an (n, K) bool array, got {allowed.dtype} of shape {allowed.shape}")
        n, k = allowed.shape
        if n == 0 or k == 0:
            raise ValueError(f"the log needs at least one event and one action, got shape {allowed.shape}")
        if chosen.shape != (n,) or chosen.dtype.kind not in "iu":
            raise ValueError(f"chosen must be an ({n},) int array, got {chosen.dtype} of shape {chosen.shape}")
        propensity = _finite_floats("propensity", self.propensity, (n,))
        reward = _finite_floats("reward", self.reward, (n,))
        features = _finite_floats("features", self.features, None)
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"features must be an ({n}, d) array, got shape {features.shape}")
        if np.any((chosen < 0) | (chosen >= k)):
            raise ValueError(f"chosen must index the {k} actions")
        not_allowed = np.flatnonzero(~allowed[np.arange(n), chosen])
        if len(not_allowed):
            raise ValueError(f"chosen action not allowed at events {not_allowed[:5].tolist()}")
        if np.any((propensity <= 0) | (propensity > 1)):
            raise ValueError("propensity must be in (0, 1]: a logged choice had some chance of being made")
        for name, value in (("allowed", allowed), ("chosen", chosen), ("propensity", propensity),
                            ("reward", reward), ("features", features)):
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return self.allowed.shape[0]

    @property
    def k(self) -> int:
        return self.allowed.shape[1]


@dataclass(frozen=True)
class Estimate:
    estimator: str  # "IPS", "SNIPS", "DR" or "DM"
    value: float
    low: float  # confidence interval at `level`
    high: float
    level: float
    ess: float  # effective sample size of the importance weights: (Σw)² / Σw²
    n: int
    max_weight: float
    clipped: int  # how many weights the clip changed


def ips(log: BanditLog, target: np.ndarray, clip: float | None = None, level: float = 0.95) -> Estimate:
    """Inverse propensity scoring: mean(w·r). Unbiased without a clip; the clip trades bias for variance."""
    weights, clipped = _weights(log, _checked_target(log, target), clip)
    contributions = weights * log.reward
    return _estimate("IPS", contributions.mean(), contributions, weights, clipped, level)


def snips(log: BanditLog, target: np.ndarray, clip: float | None = None, level: float = 0.95) -> Estimate:
    """Self-normalised IPS: Σw·r / Σw. NaN when the target gives no logged choice any probability."""
    weights, clipped = _weights(log, _checked_target(log, target), clip)
    if weights.sum() == 0:
        return _estimate("SNIPS", np.nan, np.full(log.n, np.nan), weights, clipped, level)
    value = np.sum(weights * log.reward) / weights.sum()
    # The delta method: a ratio of means varies like the numerator's residual over the denominator.
    influence = weights * (log.reward - value) / weights.mean()
    return _estimate("SNIPS", value, influence, weights, clipped, level)


def dr(
    log: BanditLog,
    target: np.ndarray,
    reward_model: np.ndarray | None = None,
    clip: float | None = None,
    level: float = 0.95,
    folds: int = 5,
    seed: int = 0,
) -> Estimate:
    """Doubly robust: the reward model's value under the target, plus the weighted residuals of the log.
    The interval treats q̂ as fixed, which cross-fitting (or a given, exact q̂) makes fair."""
    target = _checked_target(log, target)
    q_hat = _reward_model(log, reward_model, folds, seed)
    weights, clipped = _weights(log, target, clip)
    residual = log.reward - q_hat[np.arange(log.n), log.chosen]
    contributions = _model_value(target, q_hat) + weights * residual
    return _estimate("DR", contributions.mean(), contributions, weights, clipped, level)


def dm(
    log: BanditLog,
    target: np.ndarray,
    reward_model: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Direct method: the reward model's value under the target. Its ess, max_weight and clipped
    describe the unclipped importance weights (how well the log covers the target), not DM itself."""
    target = _checked_target(log, target)
    q_hat = _reward_model(log, reward_model, folds, seed)
    weights, clipped = _weights(log, target, None)
    contributions = _model_value(target, q_hat)
    return _estimate("DM", contributions.mean(), contributions, weights, clipped, level)


def estimate_all(
    log: BanditLog,
    target: np.ndarray,
    clip: float | None = None,
    level: float = 0.95,
    reward_model: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
) -> list[Estimate]:
    """IPS, SNIPS, DR and DM, in that order; the cross-fitted reward model is fitted once for DR and DM."""
    q_hat = _reward_model(log, reward_model, folds, seed)
    return [
        ips(log, target, clip, level),
        snips(log, target, clip, level),
        dr(log, target, q_hat, clip, level),
        dm(log, target, q_hat, level=level),
    ]


def cross_fitted_reward_model(log: BanditLog, folds: int = 5, seed: int = 0, ridge: float = 1.0) -> np.ndarray:
    """q̂ (n, K): each row predicted by models fitted on the other folds only, so no row is scored by a
    model that saw its reward (the in-sample fit would leak the noise DR is meant to correct).

    Per action, a ridge regression of reward on features over the events that chose it (intercept
    unpenalised); an action with fewer than d + 2 such events falls back to their mean reward, one
    never chosen to the training folds' mean reward. Predictions are clipped to the training folds'
    reward range.
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    if log.n < 2:
        raise ValueError("cross-fitting needs at least 2 events")
    if ridge <= 0:
        raise ValueError(f"ridge must be positive, got {ridge}")
    folds = min(folds, log.n)
    fold_of = np.random.default_rng(seed).permutation(log.n) % folds
    q_hat = np.empty((log.n, log.k))
    for fold in range(folds):
        held_out = fold_of == fold
        q_hat[held_out] = _fit_and_predict(log, ~held_out, log.features[held_out], ridge)
    return q_hat


def _fit_and_predict(log: BanditLog, train: np.ndarray, features: np.ndarray, ridge: float) -> np.ndarray:
    rewards = log.reward[train]
    intercepts = np.empty(log.k)
    slopes = np.empty((log.features.shape[1], log.k))
    for action in range(log.k):
        rows = train & (log.chosen == action)
        intercepts[action], slopes[:, action] = _fit_action(log.features[rows], log.reward[rows], rewards.mean(), ridge)
    return np.clip(intercepts + features @ slopes, rewards.min(), rewards.max())


def _fit_action(x: np.ndarray, y: np.ndarray, fallback: float, ridge: float) -> tuple[float, np.ndarray]:
    """One action's intercept and slopes; too few events to fit slopes leave only a mean."""
    flat = np.zeros(x.shape[1])
    if len(y) == 0:
        return fallback, flat
    if len(y) < x.shape[1] + 2:
        return y.mean(), flat
    # Centring leaves the intercept out of the penalty: shrinkage pulls towards the action's mean.
    x_mean, y_mean = x.mean(axis=0), y.mean()
    centred = x - x_mean
    slopes = np.linalg.solve(centred.T @ centred + ridge * np.eye(x.shape[1]), centred.T @ (y - y_mean))
    return y_mean - x_mean @ slopes, slopes


def _reward_model(log: BanditLog, reward_model: np.ndarray | None, folds: int, seed: int) -> np.ndarray:
    if reward_model is None:
        return cross_fitted_reward_model(log, folds, seed)
    return _finite_floats("reward_model", reward_model, (log.n, log.k))


def _model_value(target: np.ndarray, q_hat: np.ndarray) -> np.ndarray:
    return np.sum(target * q_hat, axis=1)


def _weights(log: BanditLog, target: np.ndarray, clip: float | None) -> tuple[np.ndarray, int]:
    weights = target[np.arange(log.n), log.chosen] / log.propensity
    if clip is None:
        return weights, 0
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return np.minimum(weights, clip), int(np.count_nonzero(weights > clip))


def _checked_target(log: BanditLog, target: np.ndarray) -> np.ndarray:
    target = _finite_floats("target", target, (log.n, log.k))
    if np.any(target < 0):
        raise ValueError("target probabilities must be non-negative")
    # The log says nothing about actions the logging policy could not take, so mass there is unestimable.
    if np.any(target[~log.allowed] > 0):
        raise ValueError("target gives probability to actions outside the allowed set")
    if not np.allclose(target.sum(axis=1), 1.0, rtol=0, atol=1e-5):
        raise ValueError("target rows must sum to 1")
    return target


def _estimate(
    name: str, value: float, influence: np.ndarray, weights: np.ndarray, clipped: int, level: float
) -> Estimate:
    """`influence` holds per-event terms whose standard error is the estimate's."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = len(weights)
    # One event says nothing about the spread: the honest interval is unbounded.
    standard_error = np.std(influence, ddof=1) / np.sqrt(n) if n > 1 else np.inf
    half_width = norm.ppf(0.5 + level / 2) * standard_error
    value = float(value)
    return Estimate(name, value, float(value - half_width), float(value + half_width), level,
                    _effective_sample_size(weights), n, float(weights.max()), clipped)


def _effective_sample_size(weights: np.ndarray) -> float:
    squares = np.sum(weights**2)
    if squares == 0:
        return 0.0
    # Cauchy–Schwarz bounds it by n; the min only removes rounding above that.
    return float(min(weights.sum() ** 2 / squares, len(weights)))


def _finite_floats(name: str, values: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array
