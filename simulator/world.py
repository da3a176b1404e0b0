"""The simulator's hidden ground truth: how good each model's answer to a prompt really is.

The router starts from the registry's quality priors (seed 003's scores, one column for several
categories). This world is "reality": it agrees with those priors in most cells and departs from
them in a few, by 0.03-0.10 either way, so a router that only trusts its priors leaves value on
the table and one that learns from feedback can find it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from router.domain.categories import CATEGORIES
from router.domain.registry import Registry
from simulator.traffic import SyntheticPrompt

# Base quality per model, in CATEGORIES order. Where a cell departs from the registry prior:
# - security_critical and complex_implementation sit below the single "coding" prior for every
#   model outside the premium tier (-0.03 to -0.09): one coding score hides that the hard end of
#   software work is where weaker models fail, and seed 002 keeps security on Opus for that reason.
# - standard_implementation sits above it for the fast implementers: kimi-k2 +0.06 (seed 002:
#   "Kimi excels at implementation"), deepseek-chat +0.03, the budget models +0.04; kimi-k2 beats
#   claude-opus-4 there, which is the saving the router should discover.
# - gemini-2.5-pro is better than its prior at analysis_debug (+0.04) and documentation (+0.05),
#   the work seed 002 routes to it; gemini-2.5-flash and the other small models are better than
#   the "chat" column at one-line simple_query answers (+0.03 to +0.08).
# - o1 is worse at small talk (-0.07) and creative work (-0.03) than its prior; deepseek-chat's
#   reasoning score of 0.88 is generous (-0.06); gpt-4o is weaker at reasoning (-0.04).
_BASE_ROWS: dict[str, tuple[float, ...]] = {
    #                    sec   cplx  std   debug docs  simple chat  cont  reas  creat
    "claude-opus-4":    (0.97, 0.97, 0.96, 0.96, 0.94, 0.96, 0.95, 0.95, 0.98, 0.96),
    "o1":               (0.95, 0.96, 0.93, 0.93, 0.80, 0.83, 0.78, 0.80, 0.99, 0.72),
    "claude-sonnet-4":  (0.88, 0.89, 0.94, 0.91, 0.92, 0.92, 0.92, 0.90, 0.87, 0.90),
    "gpt-4o":           (0.79, 0.80, 0.87, 0.85, 0.87, 0.93, 0.91, 0.88, 0.78, 0.89),
    "gemini-2.5-pro":   (0.80, 0.83, 0.86, 0.92, 0.91, 0.88, 0.86, 0.87, 0.87, 0.82),
    "kimi-k2":          (0.83, 0.88, 0.97, 0.84, 0.82, 0.86, 0.84, 0.83, 0.83, 0.80),
    "claude-3-5-haiku": (0.72, 0.73, 0.84, 0.78, 0.83, 0.86, 0.85, 0.80, 0.68, 0.78),
    "gemini-2.5-flash": (0.67, 0.70, 0.80, 0.80, 0.82, 0.90, 0.84, 0.80, 0.72, 0.74),
    "deepseek-chat":    (0.81, 0.86, 0.93, 0.85, 0.80, 0.85, 0.83, 0.80, 0.82, 0.78),
    "gpt-4o-mini":      (0.61, 0.62, 0.74, 0.72, 0.76, 0.85, 0.80, 0.76, 0.63, 0.73),
    "gemini-2.0-flash": (0.63, 0.64, 0.76, 0.74, 0.75, 0.84, 0.77, 0.74, 0.66, 0.70),
}

BASE_QUALITY: dict[str, dict[str, float]] = {
    model: dict(zip(CATEGORIES, row, strict=True)) for model, row in _BASE_ROWS.items()
}


def shortfall_scale(difficulty: float) -> float:
    """How much of a model's shortfall from perfect (1 - base score) shows on a prompt.

    Seed 003's scores read like benchmark results, and benchmarks are demanding, so a base score
    is taken as the quality on a hard prompt: the scale is 1 at difficulty ~0.78. Easy prompts
    shrink the shortfall to a tenth (every model knows a capital city), the hardest double it.
    The cubic keeps the easy half nearly flat (0.34 at 0.5), so on everyday traffic price rather
    than quality should decide, while hard prompts separate the tiers clearly.
    """
    return 0.1 + 1.9 * difficulty**3


def expected_grade(quality: np.ndarray, sd: float) -> np.ndarray:
    """E[clip(q + N(0, sd²), 0, 1)]: what a grader reports on average, and so what an unbiased
    off-policy estimator converges to. Near 1 the clip pulls it below q (by ~0.03 at q = 0.99)."""
    quality = np.asarray(quality, dtype=float)
    if sd == 0:
        return np.clip(quality, 0.0, 1.0)
    low, high = -quality / sd, (1 - quality) / sd
    inside = quality * (norm.cdf(high) - norm.cdf(low)) + sd * (norm.pdf(low) - norm.pdf(high))
    return inside + norm.sf(high)


class World:
    """Grades a model's answer to a prompt; the router never sees inside.

    `registry` is public so that a scenario can swap in new prices; the oracle then uses them.
    """

    def __init__(self, registry: Registry, seed: int, noise_sd: float = 0.08, feedback_loss: float = 0.05):
        if noise_sd < 0:
            raise ValueError("noise_sd must be >= 0")
        if not 0 <= feedback_loss < 1:
            raise ValueError("feedback_loss must be in [0, 1)")
        self.registry = registry
        self.noise_sd = noise_sd
        self.feedback_loss = feedback_loss
        self._rng = np.random.default_rng(seed)
        self._base = {model: dict(scores) for model, scores in BASE_QUALITY.items()}

    def expected_quality(self, model_id: str, prompt: SyntheticPrompt) -> float:
        base = self._scores(model_id)[prompt.category]
        return float(np.clip(1.0 - (1.0 - base) * shortfall_scale(prompt.difficulty), 0.0, 1.0))

    def observe(self, model_id: str, prompt: SyntheticPrompt) -> float | None:
        """A noisy grade of one answer, or None when the caller never reports back."""
        if self._rng.random() < self.feedback_loss:
            return None
        noisy = self.expected_quality(model_id, prompt) + self._rng.normal(0.0, self.noise_sd)
        return float(np.clip(noisy, 0.0, 1.0))

    def oracle_choice(self, model_ids: list[str], prompt: SyntheticPrompt, cost_weight: float) -> str:
        """The model with the best true value, quality - cost_weight * cost / max_cost."""
        if not model_ids:
            raise ValueError("oracle_choice needs at least one model")
        costs = {m: self.registry[m].cost(prompt.input_tokens, prompt.output_tokens) for m in model_ids}
        # A registry of free models would make every cost term 0/0; then quality alone decides.
        max_cost = max(costs.values()) or 1.0
        return max(
            model_ids,
            key=lambda m: self.expected_quality(m, prompt) - cost_weight * costs[m] / max_cost,
        )

    def degrade(self, model_id: str, amount: float) -> None:
        """A provider ships a worse model under the same name: every category drops by amount."""
        scores = self._scores(model_id)
        self._base[model_id] = {category: score - amount for category, score in scores.items()}

    def set_quality_table(self, model_id: str, scores: dict[str, float]) -> None:
        """Give a model (possibly one new to the registry) its base score in every category."""
        if set(scores) != set(CATEGORIES):
            missing = sorted(set(CATEGORIES) - set(scores))
            unknown = sorted(set(scores) - set(CATEGORIES))
            raise ValueError(f"scores must cover exactly the categories; missing {missing}, unknown {unknown}")
        if not all(0.0 <= s <= 1.0 for s in scores.values()):
            raise ValueError("base scores must lie in [0, 1]")
        self._base[model_id] = dict(scores)

    def _scores(self, model_id: str) -> dict[str, float]:
        try:
            return self._base[model_id]
        except KeyError:
            raise KeyError(f"the world has no quality table for {model_id!r}; call set_quality_table") from None
