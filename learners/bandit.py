"""The bandit policy: score_a = q̂_a − λ·cost_a/cost_max, explored by inverse-gap weighting."""

from __future__ import annotations

import threading

import numpy as np

from learners.exploration import exploration_gamma, inverse_gap_probabilities
from learners.policies import Choice, Situation
from learners.vw_bandit import QualityLearner
from router.config import LearnerSettings
from router.domain.registry import ModelSpec
from router.domain.types import Context


class BanditPolicy:
    name = "bandit"

    def __init__(self, learner: QualityLearner, settings: LearnerSettings):
        self.learner = learner
        self.settings = settings
        self._rng = np.random.default_rng(settings.seed)
        self._rng_lock = threading.Lock()

    def choose(self, situation: Situation) -> Choice:
        scores = self.scores(situation)
        probabilities = self.probabilities(scores)
        index = self._draw(probabilities)
        ids = [m.id for m in situation.candidates]
        return Choice(
            model=ids[index],
            probability=float(probabilities[index]),
            probabilities=tuple(float(p) for p in probabilities),
            ranking=tuple(ids[i] for i in np.argsort(-scores, kind="stable")),
        )

    def learn(self, context: Context, model: ModelSpec, quality: float, probability: float) -> None:
        self.learner.learn(context, model, quality, probability)

    def scores(self, situation: Situation) -> np.ndarray:
        quality = self.learner.predict(situation.context, list(situation.candidates))
        return quality - situation.cost_weight * situation.normalised_costs()

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        gamma = exploration_gamma(self.settings.gamma_scale, self.learner.updates)
        return inverse_gap_probabilities(scores, gamma, self.settings.min_probability)

    def _draw(self, probabilities: np.ndarray) -> int:
        with self._rng_lock:
            return int(self._rng.choice(len(probabilities), p=probabilities))
