"""The service's one configuration object, loaded once from YAML (or defaults) at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from router.cache_guard import DEFAULT_THRESHOLD
from router.categories import CATEGORIES, DEFAULT_CACHE_TTL_SECONDS


class Strict(BaseModel):
    # A misspelt key in a config file is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class TenantSettings(Strict):
    cost_weight: float | None = Field(None, ge=0, description="λ for this tenant's requests")
    cache_threshold: float | None = Field(
        None, gt=0, le=1, description="this tenant's semantic-cache similarity threshold"
    )


class CacheSettings(Strict):
    enabled: bool = True
    similarity_threshold: float = Field(
        DEFAULT_THRESHOLD, gt=0, le=1, description="score a neighbour needs from the false-hit guard to be served"
    )
    min_quality: float = Field(0.8, ge=0, le=1, description="an answer is cached only with at least this quality")
    ttl_seconds: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_CACHE_TTL_SECONDS),
        description="per task category; 0 = never cached; a category left out is never cached",
    )
    capacity_per_tenant: int = Field(10_000, ge=1, description="entries per tenant; least recently used go first")
    approximate_above: int = Field(
        # Exact search costs about 0.15 ms per 1,000 entries a lookup on this machine's cores.
        4_000, ge=1, description="a scope's index switches from exact search to HNSW above this many entries"
    )
    candidates: int = Field(5, ge=1, description="nearest neighbours the guard examines per lookup")
    target_false_hit_rate: float = Field(
        0.01, gt=0, lt=1, description="a tenant's threshold rises until its served hits rated poor stay below this"
    )
    pending_hours: float = Field(
        24, gt=0, description="a routed prompt waits this long for the answer that would be cached"
    )

    @field_validator("ttl_seconds")
    @classmethod
    def _known_categories(cls, ttl: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(ttl) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
        if any(seconds < 0 for seconds in ttl.values()):
            raise ValueError("a TTL must be >= 0 seconds")
        return ttl


class LearnerSettings(Strict):
    vw_args: str = Field(
        "--cb_adf --cb_type dm -q ca -q ea -q ha -b 20 -l 0.3 --power_t 0.2",
        description="Vowpal Wabbit options of the quality learner (namespaces: c category, e embedding, "
        "h embedding buckets, a model)",
    )
    projection_dims: int = Field(64, ge=0, description="random projection of the embedding (0: the raw vector)")
    bucket_bits: int = Field(8, ge=0, le=20, description="bits per locality-sensitive bucket (0: none)")
    neighbours: int = Field(20, ge=0, description="nearest remembered outcomes blended into q̂ (0: no memory)")
    neighbour_prior_weight: float = Field(2.0, gt=0, description="weight of the learner's own estimate in the blend")
    neighbour_sharpness: float = Field(8.0, gt=0, description="a neighbour weighs similarity to this power")
    neighbour_capacity: int = Field(20_000, ge=1, description="outcomes remembered per model (oldest go first)")
    gamma_scale: float = Field(
        30.0, gt=0, description="exploration: γ = gamma_scale·√(updates + 1) in inverse-gap weighting"
    )
    min_probability: float = Field(
        0.002, ge=0, lt=0.1, description="every allowed model keeps at least this chance"
    )
    snapshot_every: int = Field(500, ge=1, description="feedbacks learned between snapshots")
    keep_snapshots: int = Field(3, ge=1)
    seed: int = Field(0, description="seed of the exploration draws")


class Settings(Strict):
    data_dir: Path = Field(Path("data"), description="decision log, learner snapshots and cache")
    registry_path: Path | None = Field(None, description="model registry YAML; the packaged one if unset")
    embedding: Literal["static", "minilm"] = Field(
        "static", description="prompt embedding for routing: the distilled static table or the full MiniLM"
    )
    security_recheck_gap: float = Field(
        0.1, ge=0, description="with the static embedding, re-read a prompt with the full MiniLM when "
        "security_critical trails the winning category by less than this (0: never)"
    )
    max_prompt_chars: int = Field(100_000, gt=0)
    default_cost_weight: float = Field(0.2, ge=0, description="λ when neither request nor tenant sets it")
    tenants: dict[str, TenantSettings] = Field(default_factory=dict)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="FULL survives power loss; NORMAL survives a process crash only"
    )
    max_workers: int = Field(8, ge=1, description="gRPC worker threads")

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> Settings:
        doc = yaml.safe_load(Path(path).read_text()) or {} if path else {}
        doc.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(doc)

    def cost_weight_for(self, tenant_id: str) -> float:
        tenant = self.tenants.get(tenant_id)
        if tenant is not None and tenant.cost_weight is not None:
            return tenant.cost_weight
        return self.default_cost_weight

    def cache_threshold_for(self, tenant_id: str) -> float:
        tenant = self.tenants.get(tenant_id)
        if tenant is not None and tenant.cache_threshold is not None:
            return tenant.cache_threshold
        return self.cache.similarity_threshold
