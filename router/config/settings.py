"""The service's one configuration object, loaded once from YAML (or defaults) at start."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.domain.categories import CATEGORIES, DEFAULT_CACHE_TTL_SECONDS
from router.domain.rules import Rule

MAX_WORKERS = 256
STORAGE_ENV = "BANDITROUTE_STORAGE"  # the storage setting when the config leaves it out (a PostgreSQL URI, say)

# Recall first: on the cross-validated training prompts (learners/security_training.py) this flags
# 95% of security work phrased as ordinary features while flagging at most 1.1% of general questions.
DEFAULT_SECURITY_THRESHOLD = 0.3

# The lowest MiniLM cosine at which a cached answer may be served. On the Quora pairs it gives 1.0%
# false hits, 18.0% duplicate recall and 84.1% precision with the guard; plain cosine at 0.96 gives
# 1.5% false hits for 18.2% recall. The cross-validated thresholds for 1% were 0.957 to 0.960.
DEFAULT_CACHE_THRESHOLD = 0.96


@lru_cache(maxsize=4096)
def folded_tenant_id(tenant_id: str) -> str:
    """A tenant id as a person reads it: Unicode compatibility forms (NFKC: fullwidth letters,
    ligatures, odd spaces) and case folded, surrounding whitespace dropped and inner runs made one
    space. Two ids that fold alike look alike, so at most one of them may be a configured tenant."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tenant_id).casefold())
    return " ".join(text.split())


def _check_categories(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")


class Strict(BaseModel):
    # A misspelt key in a config file is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class BudgetLimit(Strict):
    """A spending limit on a tenant, or on one team or project inside it (both set: that pair)."""

    team: str | None = Field(None, description="only this team's calls count (and are limited)")
    project: str | None = Field(None, description="only this project's calls count (and are limited)")
    daily_usd: float | None = Field(None, gt=0, allow_inf_nan=False, description="limit per UTC day")
    monthly_usd: float | None = Field(None, gt=0, allow_inf_nan=False, description="limit per UTC calendar month")

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetLimit:
        if self.daily_usd is None and self.monthly_usd is None:
            raise ValueError("a budget needs daily_usd, monthly_usd or both")
        return self

    def scope(self, tenant_id: str) -> str:
        """The budget's name in messages and reports: "acme", "acme/team=search"."""
        parts = [tenant_id] + [f"{k}={v}" for k, v in (("team", self.team), ("project", self.project)) if v]
        return "/".join(parts)


class TenantSettings(Strict):
    cost_weight: float | None = Field(None, ge=0, description="λ for this tenant's requests")
    cache_threshold: float | None = Field(
        None, gt=0, le=1, description="this tenant's semantic-cache similarity threshold"
    )
    budgets: list[BudgetLimit] = Field(default_factory=list)
    economy_at: float = Field(
        0.8, gt=0, le=1, description="share of any budget used above which premium models are left out"
    )
    security_overdraft: bool = Field(
        True, description="a security task past a hard limit still gets a premium model (reported as overdraft)"
    )
    max_cost_overrun: float | None = Field(
        None, ge=1, allow_inf_nan=False, description="a call's settled cost (what budgets, spend and the ledger "
        "count) is at most this multiple of its estimate; what its reported tokens cost beyond that is recorded "
        "as the call's overrun_usd and counted in stats (overruns). Unset: the reported cost is settled in full"
    )
    rules: list[Rule] = Field(default_factory=list, description="routing rules (see README); read-only over gRPC")
    keep_prompt_text: bool = Field(
        True, description="false: no raw prompt text is stored anywhere; the cache keeps a hash, the embeddings "
        "and keyed hashes of the words its false-hit guard compares. Unset: the deployment's "
        "default_keep_prompt_text"
    )
    draft_review: list[str] = Field(
        default_factory=list, description="task categories the tenant marks as complex: the registry's draft→review "
        "plans are offered for them beside single models"
    )
    escalate_below: float | None = Field(
        None, ge=0, le=1, description="quality bar: a client wrapper asks for a stronger model when an answer is "
        "rated below it (Route with escalate_from)"
    )
    security_threshold: float = Field(
        DEFAULT_SECURITY_THRESHOLD, gt=0, le=1, description="a prompt is a security task (premium models only) when "
        "the security detector's probability reaches this; lower: more recall, more premium calls"
    )
    expired_quality: float | None = Field(
        None, ge=0, le=1, description="a decision with no feedback after feedback_wait_hours is learned with this "
        "quality; unset: it is only marked expired"
    )
    timeout_ms: float | None = Field(
        None, gt=0, description="a call slower than this (its fed-back latency_ms) whose answer went unused (an "
        "error, or rated 0) is counted as waste in stats; unset: no timeout analysis"
    )
    dedup_seconds: float = Field(
        0, ge=0, le=86400, description="an identical request (same conversation and options) arriving while a "
        "first one is unanswered, for up to this long, follows it: RouteResponse.duplicate_of names the first, "
        "and the client wrappers serve its answer instead of calling the model again. 0: off"
    )

    @field_validator("draft_review")
    @classmethod
    def _known_categories(cls, categories: list[str]) -> list[str]:
        _check_categories(categories)
        return categories


class CacheSettings(Strict):
    enabled: bool = True
    similarity_threshold: float = Field(
        DEFAULT_CACHE_THRESHOLD, gt=0, le=1, description="score a neighbour needs from the false-hit guard to be served"
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
    @field_validator("ttl_seconds")
    @classmethod
    def _known_categories(cls, ttl: dict[str, int]) -> dict[str, int]:
        _check_categories(ttl)
        if any(seconds < 0 for seconds in ttl.values()):
            raise ValueError("a TTL must be >= 0 seconds")
        return ttl


class AnomalySettings(Strict):
    history_hours: int = Field(168, ge=2, description="hours of a scope's own spend its current hour is compared with")
    min_history_hours: int = Field(12, ge=1, description="no alert for a scope with less history than this")
    threshold: float = Field(4.0, gt=0, description="robust z-score (median and MAD) at which an hour is anomalous")
    min_spend_usd: float = Field(1.0, ge=0, description="an hour spending less never alerts")


class ApiKey(Strict):
    """A caller's key, stored as its SHA-256 (`banditroute keys new` makes one)."""

    name: str = Field(description="who holds the key: shown in logs, never the key itself")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    tenant: str | None = Field(None, description="the one tenant the key acts for; unset: every tenant")
    admin: bool = Field(False, description="may also change rules and invalidate the cache of its tenant(s)")


class AuthSettings(Strict):
    enabled: bool = Field(
        True, description="false: every caller may act for every tenant (a trusted network only)"
    )
    keys: list[ApiKey] = Field(
        default_factory=list,
        description="accepted keys; none: the server makes a dev admin key, prints it and keeps it in "
        "<data_dir>/dev-api-key",
    )


class TlsSettings(Strict):
    """The server's TLS; unset, it speaks plain text (a trusted network, or a proxy in front that terminates TLS)."""

    cert_file: Path | None = Field(
        None, description="PEM certificate chain the server presents; set with key_file, it accepts TLS only"
    )
    key_file: Path | None = Field(None, description="PEM private key of cert_file, unencrypted")
    client_ca_file: Path | None = Field(
        None, description="PEM CA certificate(s); set, a client must present a certificate one of them signed "
        "(mutual TLS)"
    )

    @model_validator(mode="after")
    def _whole(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file (mutual TLS) needs cert_file and key_file too")
        return self

    @property
    def mode(self) -> str:
        """How the server speaks: "plain text", "TLS" or "mutual TLS"."""
        return "mutual TLS" if self.client_ca_file else "TLS" if self.cert_file else "plain text"


class LimitSettings(Strict):
    """What one request may carry; beyond it the request is refused (INVALID_ARGUMENT) before any work."""

    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest gRPC message received")
    max_messages: int = Field(256, ge=1, description="chat messages in one Route")
    max_id_chars: int = Field(128, ge=8, description="tenant_id, decision_id, rule ids")
    max_field_chars: int = Field(
        256, ge=8, description="metadata fields, task_hint, requested_model, model ids, group_by"
    )
    max_allowed_models: int = Field(64, ge=1, description="constraints.allowed_models entries")
    max_response_chars: int = Field(200_000, ge=1, description="Feedback.response_text")
    max_tokens: int = Field(10_000_000, ge=1, description="token counts in Feedback and constraints")
    max_batch: int = Field(1000, ge=1, description="prompts in one RouteBatch, feedbacks in one FeedbackBatch")


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
    security_recheck_above: float = Field(
        # On the simulator's prompts (mostly code) 29% get the second look at 0.1, 61% at 0.02, for the
        # same recall there (one security prompt in 38 gets under 0.02 from the fast detector).
        0.1, ge=0, description="with the static embedding, re-read a prompt with the full MiniLM and its security "
        "detector when the fast detector gives it at least this probability of being security work (above 1: never)"
    )
    max_prompt_chars: int = Field(100_000, gt=0)
    default_cost_weight: float = Field(0.2, ge=0, description="λ when neither request nor tenant sets it")
    tenants: dict[str, TenantSettings] = Field(default_factory=dict)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    storage: str = Field(
        default_factory=lambda: os.environ.get(STORAGE_ENV, "sqlite"), validate_default=True,
        description="where the decision log, cache entries, rules and budgets are kept: sqlite, a file each under "
        "data_dir; memory, they live and die with the process (tests, trials); a PostgreSQL URI "
        "(postgresql://user:password@host:5432/database), one database that replicas share (the postgresql "
        f"extra). Unset: ${STORAGE_ENV}, or sqlite. Learner snapshots stay under data_dir either way"
    )
    follow_seconds: float = Field(
        0.2, gt=0, le=60, description="on shared storage (PostgreSQL), how often a replica takes what the others "
        "did: feedback to learn, cache entries, rules, budgets and models. Their changes act here within about this"
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="FULL survives power loss; NORMAL survives a process crash only"
    )
    max_workers: int = Field(
        # Each worker is an OS thread with its own stack; the work is Python sharing a few cores, so
        # past a few dozen more threads only add contention (calls beyond them wait, up to max_concurrent_rpcs).
        8, ge=1, le=MAX_WORKERS, description=f"gRPC worker threads (at most {MAX_WORKERS})"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve Prometheus metrics over HTTP on this port (0: a free one; unset: off)"
    )
    metrics_max_tenants: int = Field(
        100, ge=0, description="tenants with a metrics label value of their own (the first seen); later ones "
        "are counted as \"other\" and their budgets are left out"
    )
    max_concurrent_rpcs: int = Field(
        64, ge=1, description="calls in progress or waiting for a worker; beyond it a call is refused at once "
        "with RESOURCE_EXHAUSTED"
    )
    feedback_wait_hours: float = Field(
        24, gt=0, description="a decision with no feedback after this long is expired (see expired_quality) and "
        "its prompt no longer waits for an answer to cache"
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    reservation_seconds: float = Field(
        3600, gt=0, description="a budget reservation with no feedback is released after this long"
    )
    anomalies: AnomalySettings = Field(default_factory=AnomalySettings)
    default_keep_prompt_text: bool = Field(
        True, description="keep_prompt_text of every tenant that does not set its own, named in the config or "
        "not: false makes privacy the deployment's default"
    )

    @property
    def shared_storage(self) -> bool:
        """Whether other replicas may share the storage: then each follows what the others do."""
        return self.storage not in ("sqlite", "memory")

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, storage: str) -> str:
        if storage in ("sqlite", "memory") or storage.startswith(("postgresql://", "postgres://")):
            return storage
        # Only what precedes "://": the rest of a URI may hold a password.
        shown = f"a {storage.partition('://')[0]}:// URI" if "://" in storage else repr(storage)
        raise ValueError(f"must be sqlite, memory or a postgresql:// URI, not {shown} (from the config, or "
                         f"${STORAGE_ENV} when the config leaves storage out)")

    @field_validator("tenants")
    @classmethod
    def _no_look_alikes(cls, tenants: dict[str, TenantSettings]) -> dict[str, TenantSettings]:
        """Configured tenant ids that look alike would leave a caller's look-alike id meaning either."""
        seen: dict[str, str] = {}
        for tenant_id in tenants:
            other = seen.setdefault(folded_tenant_id(tenant_id), tenant_id)
            if other != tenant_id:
                raise ValueError(f"{other!r} and {tenant_id!r} differ only by case, spaces or Unicode form: "
                                 "name each tenant one way")
        return tenants

    @model_validator(mode="after")
    def _privacy_defaulted(self) -> Settings:
        """A tenant that leaves keep_prompt_text unset takes the deployment's default."""
        self.tenants = {
            tenant_id: tenant if "keep_prompt_text" in tenant.model_fields_set
            else tenant.model_copy(update={"keep_prompt_text": self.default_keep_prompt_text})
            for tenant_id, tenant in self.tenants.items()
        }
        return self

    def cost_weight_for(self, tenant_id: str) -> float:
        own = self.tenant(tenant_id).cost_weight
        return own if own is not None else self.default_cost_weight

    def tenant(self, tenant_id: str) -> TenantSettings:
        """A tenant's settings; the defaults for a tenant the config does not name."""
        return self.tenants.get(tenant_id) or _DEFAULT_TENANT[self.default_keep_prompt_text]

    def look_alike(self, tenant_id: str) -> str | None:
        """The configured tenant that `tenant_id` is not, but differs from only by case, spaces or
        Unicode form ("Priv", "priv ", "ｐｒｉｖ" for "priv"); None when there is none."""
        if tenant_id in self.tenants:
            return None
        folded = folded_tenant_id(tenant_id)
        return next((t for t in self.tenants if folded_tenant_id(t) == folded), None)

    def cache_threshold_for(self, tenant_id: str) -> float:
        own = self.tenant(tenant_id).cache_threshold
        return own if own is not None else self.cache.similarity_threshold


# The settings of a tenant the config does not name, by the deployment's default_keep_prompt_text.
_DEFAULT_TENANT = {keep: TenantSettings(keep_prompt_text=keep) for keep in (True, False)}
