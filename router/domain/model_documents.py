"""A model as an admin puts it at run time (`PutModel`, `banditroute models put`): its document, checked
field by field, and the registry it makes with the packaged one. Cost is known, not learned, so a price
change acts on the very next Route; a new model the document gives no quality prior starts from its
tier's (the mean of the registry's models of that tier), which the learner then corrects."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from router.domain.categories import QUALITY_COLUMN
from router.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from router.domain.registry import PLAN_PROVIDER, ModelSpec, Registry

PRIOR_COLUMNS = frozenset(QUALITY_COLUMN.values())
# What an id may hold: it names the model in the provider's API, in rules and in logs.
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"


def _price(default: float | None = None) -> float | None:
    """A price field: USD per million tokens."""
    return Field(default=default, ge=0, le=1_000_000, allow_inf_nan=False)


class ModelDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100, pattern=_NAME)
    provider: str = Field(min_length=1, max_length=64, pattern=_NAME)
    tier: Literal["budget", "mid", "premium"]
    input_per_1m: float = _price(...)
    output_per_1m: float = _price(...)
    context_window: int = Field(gt=0, le=100_000_000)
    max_output_tokens: int = Field(gt=0, le=100_000_000)
    cached_input_per_1m: float | None = _price()
    long_context_threshold: int | None = Field(default=None, gt=0)
    long_input_per_1m: float | None = _price()
    long_output_per_1m: float | None = _price()
    quality_prior: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ModelDocument:
        if self.provider == PLAN_PROVIDER:
            raise ValueError(f"provider: {PLAN_PROVIDER!r} names the draft→review plans, not a provider")
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens: larger than the context_window")
        if self.long_context_threshold is not None and self.long_context_threshold >= self.context_window:
            raise ValueError("long_context_threshold: not below the context_window")
        if self.long_context_threshold is None and (self.long_input_per_1m or self.long_output_per_1m):
            raise ValueError("long_context_threshold: long-context prices need the threshold they start at")
        for column, prior in self.quality_prior.items():
            if column not in PRIOR_COLUMNS:
                raise ValueError(f"quality_prior.{column[:40]}: unknown; known: {', '.join(sorted(PRIOR_COLUMNS))}")
            if not 0 <= prior <= 1:
                raise ValueError(f"quality_prior.{column}: {prior} is not in [0, 1]")
        return self


def parse_model(doc: dict) -> ModelSpec:
    """A model from a gRPC or YAML dict; InvalidArgument names the first wrong field, e.g. model.tier."""
    try:
        checked = ModelDocument.model_validate(doc)
    except ValidationError as error:
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            raise InvalidArgument("model." + ".".join(str(part) for part in first["loc"]), message) from None
        field, _, problem = message.partition(": ")
        raise InvalidArgument(f"model.{field}", problem) from None
    return ModelSpec(**checked.model_dump())


def model_document(model: ModelSpec) -> dict:
    """A model as its document says it: what `parse_model` reads back to the same model."""
    return {name: value for name, value in vars(model).items() if value is not None and name != "steps"}


def tier_prior(registry: Registry, tier: str) -> dict[str, float]:
    """The mean quality prior of the registry's models of a tier, per column (empty when it has none)."""
    priors = [m.quality_prior for m in registry if m.tier == tier and m.quality_prior]
    return {column: float(np.mean([p[column] for p in priors if column in p]))
            for column in sorted({c for p in priors for c in p})}


def with_document(registry: Registry, doc: dict) -> tuple[Registry, ModelSpec]:
    """The registry with a model added or replaced as a document says; the model as it now stands."""
    spec = parse_model(doc)
    if not spec.quality_prior:
        known = registry.get(spec.id)
        prior = known.quality_prior if known is not None and not known.steps else tier_prior(registry, spec.tier)
        spec = ModelSpec(**{**vars(spec), "quality_prior": prior})
    if spec.id in {plan.id for plan in registry.plans}:
        raise InvalidArgument("model.id", f"{spec.id!r} names a draft→review plan")
    return registry.with_model(spec), spec


def without_model(registry: Registry, model_id: str) -> Registry:
    """The registry without a model: never the baseline, nor a plan's step (retire the plan's config first)."""
    if model_id not in registry.ids:
        raise NotFound(f"model {model_id[:100]!r} is not in the registry")
    if model_id == registry.baseline_model:
        raise FailedPrecondition(f"model {model_id!r} is the registry's baseline_model (what 'always premium' "
                                 "means): change baseline_model in the registry file to retire it")
    for plan in registry.plan_specs:
        if model_id in (plan.drafter, plan.reviewer):
            raise FailedPrecondition(f"model {model_id!r} is a step of plan {plan.id!r} in the registry file")
    return Registry([m for m in registry if m.id != model_id], registry.baseline_model, registry.plan_specs)
