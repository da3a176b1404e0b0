"""The model registry: which models exist, what they cost, what they can hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from router.categories import QUALITY_COLUMN

TIERS: tuple[str, ...] = ("budget", "mid", "premium")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str
    tier: str
    input_per_1m: float
    output_per_1m: float
    context_window: int
    max_output_tokens: int
    cached_input_per_1m: float | None = None
    long_context_threshold: int | None = None
    long_input_per_1m: float | None = None
    long_output_per_1m: float | None = None
    quality_prior: dict[str, float] = field(default_factory=dict)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call; above the long-context threshold the whole call pays the long price."""
        input_price, output_price = self.input_per_1m, self.output_per_1m
        if self.long_context_threshold is not None and input_tokens > self.long_context_threshold:
            input_price = self.long_input_per_1m or input_price
            output_price = self.long_output_per_1m or output_price
        return (input_tokens * input_price + output_tokens * output_price) / 1_000_000

    def fits(self, input_tokens: int, output_tokens: int) -> bool:
        return input_tokens + output_tokens <= self.context_window and output_tokens <= self.max_output_tokens

    def prior(self, category: str) -> float:
        """The seeds' quality score for this category, or 0.5 when the registry gives none."""
        return self.quality_prior.get(QUALITY_COLUMN.get(category, category), 0.5)


class Registry:
    """An ordered, immutable set of models; the baseline is what 'always premium' means."""

    def __init__(self, models: list[ModelSpec], baseline_model: str):
        if not models:
            raise ValueError("the registry holds no model")
        self._models = {m.id: m for m in models}
        if len(self._models) != len(models):
            raise ValueError("duplicate model id in the registry")
        for m in models:
            if m.tier not in TIERS:
                raise ValueError(f"model {m.id}: unknown tier {m.tier!r} (one of {', '.join(TIERS)})")
        if baseline_model not in self._models:
            raise ValueError(f"baseline_model {baseline_model!r} is not in the registry")
        self.baseline_model = baseline_model

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> Registry:
        """Load a registry file; the one shipped with the package when no path is given."""
        if path is None:
            text = resources.files("router").joinpath("models.yaml").read_text()
        else:
            text = Path(path).read_text()
        doc = yaml.safe_load(text)
        return cls([ModelSpec(**m) for m in doc["models"]], doc["baseline_model"])

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._models[model_id]

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    @property
    def ids(self) -> list[str]:
        return list(self._models)

    def with_model(self, spec: ModelSpec) -> Registry:
        """A copy with one model added or replaced (a price change, a new model)."""
        models = dict(self._models)
        models[spec.id] = spec
        return Registry(list(models.values()), self.baseline_model)


def normalised_costs(models: list[ModelSpec], input_tokens: int, output_tokens: int) -> np.ndarray:
    """Each model's cost over the most expensive one's, for the same tokens: in (0, 1].

    Free models (all costs 0) normalise to 0 rather than dividing by zero.
    """
    costs = np.array([m.cost(input_tokens, output_tokens) for m in models])
    top = costs.max()
    return costs / top if top > 0 else costs
