"""Which models may answer, and which one does: constraints, the safety floor, then the bandit."""

from __future__ import annotations

import threading

import numpy as np

from learners.exploration import exploration_gamma, inverse_gap_probabilities
from learners.vw_bandit import QualityLearner
from router.config import LearnerSettings
from router.errors import InvalidArgument
from router.registry import ModelSpec, Registry
from router.safety import floor_candidates
from router.types import Choice, Constraints, Context, Reason


def eligible_models(registry: Registry, context: Context, constraints: Constraints) -> list[ModelSpec]:
    """The models the caller allows that can hold the prompt and stay under its cost cap."""
    models = [registry[i] for i in constraints.allowed_models or registry.ids]
    tokens_in, tokens_out = context.input_tokens, context.output_tokens
    models = [m for m in models if m.fits(tokens_in, tokens_out)]
    if not models:
        raise InvalidArgument(
            "messages",
            f"the prompt (~{tokens_in} tokens, {tokens_out} expected out) fits no allowed model's context window",
        )
    if constraints.max_cost_usd is not None:
        cheapest = min(m.cost(tokens_in, tokens_out) for m in models)
        models = [m for m in models if m.cost(tokens_in, tokens_out) <= constraints.max_cost_usd]
        if not models:
            raise InvalidArgument(
                "constraints.max_cost_usd",
                f"no allowed model costs under ${constraints.max_cost_usd:.6f} for this prompt "
                f"(cheapest: ${cheapest:.6f})",
            )
    return models


def normalised_costs(models: list[ModelSpec], input_tokens: int, output_tokens: int) -> np.ndarray:
    """Each model's cost over the most expensive candidate's, for the same tokens: in (0, 1]."""
    costs = np.array([m.cost(input_tokens, output_tokens) for m in models])
    return costs / costs.max()


class BanditPolicy:
    """score_a = q̂_a − λ·cost_a/cost_max; exploration by inverse-gap weighting of the scores."""

    def __init__(self, registry: Registry, learner: QualityLearner, settings: LearnerSettings):
        self.registry = registry
        self.learner = learner
        self.settings = settings
        self._rng = np.random.default_rng(settings.seed)
        self._rng_lock = threading.Lock()

    def choose(self, context: Context, security: bool, cost_weight: float, constraints: Constraints) -> Choice:
        eligible = eligible_models(self.registry, context, constraints)
        candidates = floor_candidates(eligible, security)
        if not candidates:
            raise InvalidArgument(
                "constraints",
                "a security task needs a premium model and the constraints allow none "
                f"(allowed: {', '.join(m.id for m in eligible)})",
            )
        scores = self.scores(context, candidates, cost_weight)
        probabilities = self.probabilities(scores)
        index = self._draw(probabilities)
        order = np.argsort(-scores, kind="stable")
        return Choice(
            model=candidates[index].id,
            probability=float(probabilities[index]),
            reason=_reason(security, len(candidates)),
            candidates=tuple(m.id for m in candidates),
            probabilities=tuple(float(p) for p in probabilities),
            fallbacks=tuple(candidates[i].id for i in order if i != index),
        )

    def scores(self, context: Context, candidates: list[ModelSpec], cost_weight: float) -> np.ndarray:
        quality = self.learner.predict(context, candidates)
        return quality - cost_weight * normalised_costs(candidates, context.input_tokens, context.output_tokens)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        gamma = exploration_gamma(self.settings.gamma_scale, self.learner.updates)
        return inverse_gap_probabilities(scores, gamma, self.settings.min_probability)

    def _draw(self, probabilities: np.ndarray) -> int:
        with self._rng_lock:
            return int(self._rng.choice(len(probabilities), p=probabilities))


def _reason(security: bool, n_candidates: int) -> str:
    if security:
        return Reason.SAFETY_FLOOR
    if n_candidates == 1:
        return Reason.ONLY_MODEL_ALLOWED
    return Reason.BANDIT
