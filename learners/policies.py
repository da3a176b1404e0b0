"""The one interface every routing policy has, and the baselines the bandit is measured against.

A policy sees a `Situation` (the context and the models still allowed after constraints and the
safety floor) and picks one of them. Only the bandit learns; the baselines are what a user would
otherwise do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from router.domain.registry import ModelSpec, normalised_costs
from router.domain.types import Context


@dataclass(frozen=True)
class Situation:
    context: Context
    candidates: tuple[ModelSpec, ...]
    cost_weight: float
    # Each candidate's true expected quality: known only inside a simulator, and only the oracle reads it.
    expected_quality: Mapping[str, float] | None = None

    def costs(self) -> np.ndarray:
        return np.array([m.cost(self.context.input_tokens, self.context.output_tokens) for m in self.candidates])

    def normalised_costs(self) -> np.ndarray:
        return normalised_costs(list(self.candidates), self.context.input_tokens, self.context.output_tokens)


@dataclass(frozen=True)
class Choice:
    """The model picked, the probability it had, and every candidate's (in candidate order)."""

    model: str
    probability: float
    probabilities: tuple[float, ...]
    ranking: tuple[str, ...]  # candidates best first: the fallbacks, after the chosen one


class Policy(Protocol):
    name: str

    def choose(self, situation: Situation) -> Choice: ...

    def learn(self, context: Context, model: ModelSpec, quality: float, probability: float) -> None: ...


def deterministic(situation: Situation, index: int, ranking: list[int]) -> Choice:
    ids = [m.id for m in situation.candidates]
    probabilities = tuple(1.0 if i == index else 0.0 for i in range(len(ids)))
    return Choice(ids[index], 1.0, probabilities, tuple(ids[i] for i in ranking))


class _NoLearning:
    def learn(self, context: Context, model: ModelSpec, quality: float, probability: float) -> None:
        """A fixed policy ignores feedback."""


class RandomPolicy(_NoLearning):
    name = "random"

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)

    def choose(self, situation: Situation) -> Choice:
        k = len(situation.candidates)
        index = int(self._rng.integers(k))
        ids = tuple(m.id for m in situation.candidates)
        return Choice(ids[index], 1.0 / k, (1.0 / k,) * k, (ids[index],) + ids[:index] + ids[index + 1 :])


class AlwaysModel(_NoLearning):
    """Always one model (e.g. the premium baseline); the most expensive candidate when it is not allowed."""

    def __init__(self, model_id: str, name: str | None = None):
        self.model_id = model_id
        self.name = name or f"always-{model_id}"

    def choose(self, situation: Situation) -> Choice:
        ids = [m.id for m in situation.candidates]
        by_cost = list(np.argsort(-situation.costs(), kind="stable"))
        index = ids.index(self.model_id) if self.model_id in ids else by_cost[0]
        return deterministic(situation, index, [index] + [i for i in by_cost if i != index])


class AlwaysCheapest(_NoLearning):
    name = "always-cheapest"

    def choose(self, situation: Situation) -> Choice:
        by_cost = list(np.argsort(situation.costs(), kind="stable"))
        return deterministic(situation, by_cost[0], by_cost)


# Seed 002's decision tree (category → primary model, then its fallback), extended to seed 003's
# broad categories with its tier map: reasoning needs premium, creative and content mid.
STATIC_RULES: dict[str, tuple[str, ...]] = {
    "security_critical": ("claude-opus-4",),
    "complex_implementation": ("kimi-k2", "claude-opus-4"),
    "standard_implementation": ("kimi-k2", "gemini-2.5-pro"),
    "analysis_debug": ("gemini-2.5-pro", "kimi-k2"),
    "documentation": ("gemini-2.5-pro", "gemini-2.5-flash"),
    "simple_query": ("gemini-2.5-flash", "gemini-2.5-pro"),
    "chat": ("gemini-2.5-flash", "gemini-2.5-pro"),
    "content": ("gemini-2.5-pro", "gemini-2.5-flash"),
    "reasoning": ("claude-opus-4", "o1"),
    "creative": ("claude-sonnet-4", "gemini-2.5-pro"),
}


class StaticRulesPolicy(_NoLearning):
    """Category → model by a fixed table; the cheapest candidate when no listed model is allowed."""

    name = "static-rules"

    def __init__(self, rules: Mapping[str, tuple[str, ...]] = STATIC_RULES):
        self.rules = rules

    def choose(self, situation: Situation) -> Choice:
        ids = [m.id for m in situation.candidates]
        by_cost = list(np.argsort(situation.costs(), kind="stable"))
        listed = [ids.index(m) for m in self.rules.get(situation.context.category, ()) if m in ids]
        index = listed[0] if listed else by_cost[0]
        return deterministic(situation, index, [index] + [i for i in by_cost if i != index])


class OraclePolicy(_NoLearning):
    """Knows every model's expected quality for the prompt: the best any router could do."""

    name = "oracle"

    def choose(self, situation: Situation) -> Choice:
        if situation.expected_quality is None:
            raise ValueError("the oracle needs the simulator's expected quality of each candidate")
        quality = np.array([situation.expected_quality[m.id] for m in situation.candidates])
        scores = quality - situation.cost_weight * situation.normalised_costs()
        ranking = list(np.argsort(-scores, kind="stable"))
        return deterministic(situation, ranking[0], ranking)
