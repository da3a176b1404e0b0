"""The model registry: which models exist, what they cost, what they can hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from router.domain.categories import QUALITY_COLUMN

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
    steps: tuple[str, ...] = ()  # a draft→review plan: the drafter, then the reviewer

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


@dataclass(frozen=True)
class PlanSpec:
    """A two-step plan (seed 002, pattern 2): a cheaper model drafts, a stronger one reviews the draft."""

    drafter: str
    reviewer: str
    review_output_share: float = 0.25  # the review's answer, as a share of the draft's length

    @property
    def id(self) -> str:
        return f"{self.drafter}+{self.reviewer}"


def plan_arm(plan: PlanSpec, drafter: ModelSpec, reviewer: ModelSpec) -> ModelSpec:
    """A plan as one more choice for the bandit. Its price is both calls' (the review reads the prompt
    and the draft, and writes review_output_share of the draft's length), linear in the prompt's
    and the answer's tokens as a model's is; a priori it is as good as its reviewer."""
    return ModelSpec(
        id=plan.id, provider=PLAN_PROVIDER, tier=reviewer.tier,
        input_per_1m=drafter.input_per_1m + reviewer.input_per_1m,
        output_per_1m=drafter.output_per_1m + reviewer.input_per_1m + reviewer.output_per_1m * plan.review_output_share,
        context_window=min(drafter.context_window, reviewer.context_window),
        max_output_tokens=min(drafter.max_output_tokens, reviewer.max_output_tokens),
        quality_prior=dict(reviewer.quality_prior), steps=(drafter.id, reviewer.id),
    )


PLAN_PROVIDER = "plan"


class Registry:
    """An ordered, immutable set of models; the baseline is what 'always premium' means. Plans are
    looked up by id like models but are not among them: a tenant offers them for its complex tasks."""

    def __init__(self, models: list[ModelSpec], baseline_model: str, plans: tuple[PlanSpec, ...] = ()):
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
        self.plan_specs = tuple(plans)
        for plan in plans:
            for step in (plan.drafter, plan.reviewer):
                if step not in self._models:
                    raise ValueError(f"plan {plan.id}: {step!r} is not in the registry")
        self._plans = {p.id: plan_arm(p, self._models[p.drafter], self._models[p.reviewer]) for p in plans}

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> Registry:
        """Load a registry file; the one shipped with the package when no path is given."""
        if path is None:
            text = resources.files("router.domain").joinpath("models.yaml").read_text()
        else:
            text = Path(path).read_text()
        doc = yaml.safe_load(text)
        plans = tuple(PlanSpec(**p) for p in doc.get("plans", []))
        return cls([ModelSpec(**m) for m in doc["models"]], doc["baseline_model"], plans)

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._models or model_id in self._plans

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._models[model_id] if model_id in self._models else self._plans[model_id]

    def get(self, model_id: str) -> ModelSpec | None:
        """The model or plan of that id, or None: a logged decision or cache entry may name a model
        the registry no longer holds."""
        return self._models.get(model_id) or self._plans.get(model_id)

    @property
    def plans(self) -> list[ModelSpec]:
        """The draft→review plans as choices (see plan_arm)."""
        return list(self._plans.values())

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
        return Registry(list(models.values()), self.baseline_model, self.plan_specs)


def normalised_costs(models: list[ModelSpec], input_tokens: int, output_tokens: int) -> np.ndarray:
    """Each model's cost over the most expensive one's, for the same tokens: in (0, 1].

    Free models (all costs 0) normalise to 0 rather than dividing by zero.
    """
    costs = np.array([m.cost(input_tokens, output_tokens) for m in models])
    top = costs.max()
    return costs / top if top > 0 else costs
