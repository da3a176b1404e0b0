"""Plain data passed through the service; protobuf is converted to these at the edge."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class Constraints:
    allowed_models: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    expected_output_tokens: int | None = None
    allowed_providers: tuple[str, ...] = ()  # empty: every provider


@dataclass(frozen=True)
class Metadata:
    team: str = ""
    project: str = ""
    feature: str = ""
    user: str = ""


@dataclass(frozen=True)
class RouteRequest:
    tenant_id: str
    messages: tuple[ChatMessage, ...]
    cost_weight: float | None = None
    constraints: Constraints = field(default_factory=Constraints)
    metadata: Metadata = field(default_factory=Metadata)
    task_hint: str = ""
    bypass_cache: bool = False
    requested_model: str = ""  # the model the caller would have used: routing rules can match on it
    escalate_from: str = ""  # a decision whose answer fell short: the next stronger model is wanted

    @property
    def system_prompt(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def conversation_text(self) -> str:
        """Every non-system turn, in order: what the model is asked to answer."""
        return "\n".join(m.content for m in self.messages if m.role != "system")

    @cached_property  # asked by the in-flight claim and by the decision: one digest a request
    def prompt_key(self) -> str:
        """A digest of the tenant, the whole conversation and the options that shape the choice of model:
        identical requests share it (the caller's metadata aside: two users asking alike are alike)."""
        shape = [self.tenant_id, [(m.role, m.content) for m in self.messages], self.cost_weight,
                 asdict(self.constraints), self.task_hint, self.requested_model]
        return hashlib.sha256(json.dumps(shape, ensure_ascii=False).encode()).hexdigest()[:32]

    @property
    def rules_text(self) -> str:
        """What keyword rules read: the system prompt too (a "security auditor" role flags security),
        though only the conversation is embedded, since the task is in the turns."""
        return f"{self.system_prompt}\n{self.conversation_text}".strip()


@dataclass(frozen=True)
class Context:
    """What the learner sees of a prompt; logged with the decision so it can learn later."""

    embedding: np.ndarray
    category: str
    complexity: float
    input_tokens: int
    output_tokens: int


class Reason:
    SAFETY_FLOOR = "safety_floor"
    RULE = "rule"
    BANDIT = "bandit"
    ONLY_MODEL_ALLOWED = "only_model_allowed"
    CACHE_HIT = "cache_hit"
    ESCALATION = "escalation"
    DUPLICATE = "duplicate"


class BudgetMode:
    """How a budget shaped a decision: not at all, economy (premium models left out above the soft
    threshold) or overdraft (a security task let past the hard limit)."""

    NORMAL = ""
    ECONOMY = "economy"
    OVERDRAFT = "overdraft"


@dataclass(frozen=True)
class Decision:
    decision_id: str
    tenant_id: str
    created_at: float
    model: str
    provider: str
    probability: float
    reason: str
    category: str
    security: bool
    complexity: float
    cost_weight: float
    estimated_input_tokens: int
    estimated_output_tokens: int
    estimated_cost_usd: float
    candidates: tuple[str, ...]
    probabilities: tuple[float, ...]
    fallbacks: tuple[str, ...]
    metadata: Metadata = field(default_factory=Metadata)
    cache: CacheAnswer | None = None  # set when the semantic cache answered
    baseline_cost_usd: float = 0.0  # what the always-premium model would cost for the estimated tokens
    rule_id: str = ""  # the routing rule that chose the model or narrowed the choice, if any
    budget_mode: str = BudgetMode.NORMAL
    rule_matches: tuple[RuleMatch, ...] = ()  # every rule whose conditions held, and whether it acted
    escalated_from: str = ""  # the decision this one escalates
    security_source: str = ""  # why it is a security task: hint, rule, detector ("" if it is not)
    security_probability: float = 0.0  # the security detector's
    # A digest of the tenant and the whole conversation (every message's role and text): identical
    # requests have the same key, so repeats and duplicates in flight can be found.
    prompt_key: str = ""
    duplicate_of: str = ""  # the decision in flight for the same request, whose answer this one waits for
    # A draft→review plan's steps as (model, provider): the drafter, then the reviewer (not logged:
    # the registry's plan says it).
    plan: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # The tenant's escalation bar when the decision was made (not logged: the config holds it).
    quality_bar: float | None = field(default=None, compare=False)
    # A compress_prompt rule's level for the caller to shorten the prompt at (not logged: the rule's match is).
    compress_level: str = field(default="", compare=False)


@dataclass(frozen=True)
class RuleMatch:
    rule_id: str
    applied: bool


@dataclass(frozen=True)
class CacheAnswer:
    entry_id: int
    answer: str
    similarity: float
    cost_saved_usd: float


@dataclass(frozen=True)
class FeedbackRequest:
    decision_id: str
    quality: float | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float = 0.0
    error: bool = False
    response_text: str | None = None
    # A draft→review plan: the review call's tokens (input_tokens and output_tokens are the draft's).
    review_input_tokens: int | None = None
    review_output_tokens: int | None = None
    not_called: bool = False  # the model was never called: close the decision at no cost, learn nothing
    time_to_first_token_ms: float | None = None  # a streamed answer: milliseconds to its first chunk


@dataclass(frozen=True)
class FeedbackRecord:
    """A settled feedback as logged: what was learned and what the call cost."""

    decision_id: str
    quality: float
    input_tokens: int
    output_tokens: int
    latency_ms: float
    error: bool
    reward: float
    actual_cost_usd: float
    created_at: float
    baseline_cost_usd: float = 0.0  # what the always-premium model would cost for the actual tokens
    expired: bool = False  # no feedback came in time: the tenant's expired_quality stands in for it
    not_called: bool = False  # the model was never called: nothing learned, nothing spent
    time_to_first_token_ms: float | None = None  # a streamed answer's first chunk
    # What the reported tokens cost beyond the tenant's max_cost_overrun × the estimate: kept here,
    # never in actual_cost_usd, so budgets and spend count at most that cap.
    overrun_usd: float = 0.0


@dataclass(frozen=True)
class LedgerEntry:
    """One decision as the ledger reports it: who it was for, what it cost, what premium would have."""

    decision_id: str
    tenant_id: str
    created_at: float
    team: str
    project: str
    feature: str
    user: str
    model: str
    category: str
    security: bool
    reason: str
    rule_id: str
    budget_mode: str
    estimated_cost_usd: float
    cache_hit: bool
    settled_at: float | None  # None: no feedback yet
    input_tokens: int  # actual when settled, else estimated
    output_tokens: int
    cost_usd: float  # actual when settled, 0 for a cache hit, else the estimate
    baseline_cost_usd: float
    cache_saved_usd: float  # a cache hit: what calling the model that wrote the answer would have cost
    quality: float | None
    error: bool
    expired: bool = False  # no feedback came in time (learned with the tenant's expired_quality if it has one)
    not_called: bool = False  # closed without a call: costs nothing, nothing learned
    latency_ms: float = 0.0  # as fed back
    time_to_first_token_ms: float | None = None  # a streamed answer's first chunk
    security_source: str = ""  # why it was a security task: hint, rule, detector
    overrun_usd: float = 0.0  # reported cost beyond the tenant's max_cost_overrun × estimate (not in cost_usd)
    prompt_key: str = ""  # the decision's digest of tenant and conversation ("" in logs older than it)
    duplicate_of: str = ""  # the decision in flight for the same request that this one followed

    @property
    def deduplicated(self) -> bool:
        """A follower served its leader's answer: closed without a call of its own."""
        return bool(self.duplicate_of) and self.not_called

    @property
    def settled(self) -> bool:
        """A call whose cost is known: feedback arrived, or the cache answered (nothing was called)."""
        return self.settled_at is not None or self.cache_hit


@dataclass(frozen=True)
class Alert:
    tenant_id: str
    team: str  # "" for the tenant as a whole
    hour_start: float  # UNIX time of the start of the hour (UTC, a multiple of 3600)
    spend_usd: float  # the hour's spend so far when the alert fired
    expected_usd: float  # the history's median hourly spend
    z: float  # robust z-score
    detected_at: float  # the timestamp of the observation that fired it

    @property
    def scope(self) -> str:
        """"acme" for the tenant as a whole, "acme/team=search" for one of its teams."""
        return f"{self.tenant_id}/team={self.team}" if self.team else self.tenant_id


@dataclass(frozen=True)
class WasteAlert:
    """A retry storm (router/advice/waste.py), alerted as spend anomalies are: one per storm, stored once
    by `key`."""

    tenant_id: str
    team: str
    feature: str
    caller: str  # RetryStorm.caller
    trigger: str  # StormTrigger
    first_decision_id: str
    started_at: float  # UNIX time of the storm's first call
    ended_at: float  # of its last call so far
    calls: int
    wasted_usd: float
    detected_at: float

    @property
    def scope(self) -> str:
        """"acme/team=search" as spend alerts name theirs, or "acme" for calls that name no team."""
        return f"{self.tenant_id}/team={self.team}" if self.team else self.tenant_id

    @property
    def key(self) -> tuple[str, str]:
        """Which storm this is across repeated analyses: no call is in two storms, and later calls
        extend a burst without moving its start. (A storm can still be re-keyed when a burst later
        swallows the start of an error repeat, or the analysed window cuts off its first calls.)"""
        return self.tenant_id, self.first_decision_id
