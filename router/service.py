"""The decision service's domain core: Route and Feedback, free of gRPC and SQL."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from learners.bandit import BanditPolicy
from learners.policies import Situation
from learners.snapshots import SnapshotStore
from learners.vw_bandit import QualityLearner
from router.categories import DEFAULT_OUTPUT_TOKENS
from router.config import Settings
from router.reading import PromptReader, Reading
from router.policy import candidate_models, reason_for
from router.registry import ModelSpec, Registry, normalised_costs
from router.cache import CacheHit, SemanticCache, conversation_key, scope_of
from router.cache_store import CacheStore, Prompt
from router.store import DecisionLog, SQLiteDecisionLog
from router.tokens import estimate_tokens
from router.types import CacheAnswer, Context, Decision, FeedbackRecord, FeedbackRequest, Reason, RouteRequest
from router.errors import InvalidArgument
from router.validation import validate_feedback, validate_route

log = logging.getLogger(__name__)


def reward(quality: float, cost_weight: float, cost_norm: float) -> float:
    """What the design promises to maximise: quality − λ·cost_norm."""
    return quality - cost_weight * cost_norm


class RouterService:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        reader: PromptReader,
        decision_log: DecisionLog,
        snapshots: SnapshotStore,
        cache: SemanticCache | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.reader = reader
        self.log = decision_log
        self.cache = cache
        self.snapshots = snapshots
        learner, self._snapshot_seq = snapshots.load(
            lambda path: QualityLearner.from_settings(settings.learner, reader.embedder.dim, path)
        )
        self._learned_seq = self._snapshot_seq
        self.policy = BanditPolicy(learner, settings.learner)
        # One lock orders feedback: the log's sequence is the order of learning, so replay after a
        # crash rebuilds exactly the state the learner had.
        self._feedback_lock = threading.Lock()
        self._replay_feedback()

    @property
    def learner(self) -> QualityLearner:
        return self.policy.learner

    def route(self, request: RouteRequest) -> Decision:
        situation, reading = self._situation(request)
        security = reading.classification.security
        cache_prompt = self._cache_prompt(request, situation.context, security, reading.precise)
        if cache_prompt is not None and not request.bypass_cache:
            hit, cache_prompt = self.cache.lookup(cache_prompt, self.settings.cache_threshold_for(request.tenant_id))
            if hit is not None:
                return self._answer_from_cache(request, situation, hit)
        choice = self.policy.choose(situation)
        model = self.registry[choice.model]
        decision = self._decision(
            request, situation, security, model.id, model.provider,
            probability=choice.probability,
            reason=reason_for(security, len(situation.candidates)),
            estimated_cost_usd=model.cost(situation.context.input_tokens, situation.context.output_tokens),
            probabilities=choice.probabilities,
            fallbacks=tuple(m for m in choice.ranking if m != choice.model),
        )
        self.log.record_decision(decision, situation.context)
        if cache_prompt is not None:
            self.cache.remember(decision.decision_id, cache_prompt)
        return decision

    def _answer_from_cache(self, request: RouteRequest, situation: Situation, hit: CacheHit) -> Decision:
        """A decision of its own kind: nothing to call, nothing for the bandit to learn."""
        entry, context = hit.entry, situation.context
        writer = self.registry[entry.model] if entry.model in self.registry else None
        saved = writer.cost(context.input_tokens, context.output_tokens) if writer else 0.0
        decision = self._decision(
            request, situation, False, entry.model, writer.provider if writer else "",
            probability=1.0, reason=Reason.CACHE_HIT, estimated_cost_usd=0.0, probabilities=(), fallbacks=(),
            cache=CacheAnswer(entry.entry_id, entry.answer, hit.similarity, saved),
        )
        self.log.record_decision(decision, context)
        return decision

    def _decision(self, request: RouteRequest, situation: Situation, security: bool, model: str, provider: str,
                  **outcome) -> Decision:
        context = situation.context
        return Decision(
            decision_id=uuid.uuid4().hex,
            tenant_id=request.tenant_id,
            created_at=time.time(),
            model=model,
            provider=provider,
            category=context.category,
            security=security,
            complexity=context.complexity,
            cost_weight=situation.cost_weight,
            estimated_input_tokens=context.input_tokens,
            estimated_output_tokens=context.output_tokens,
            candidates=tuple(m.id for m in situation.candidates),
            metadata=request.metadata,
            **outcome,
        )

    def _cache_prompt(self, request: RouteRequest, context: Context, security: bool,
                      precise: np.ndarray | None) -> Prompt | None:
        """The prompt as the cache keys it, or None when this request is not for the cache: a
        security task (its answer must come from a premium model) or a never-cached category."""
        if self.cache is None or security or not self.cache.keeps(context.category):
            return None
        return Prompt(
            tenant_id=request.tenant_id,
            scope=scope_of(request.tenant_id, request.system_prompt),
            key=conversation_key(request.messages),
            text=request.conversation_text,
            vector=context.embedding,
            precise=precise,
        )

    def feedback(self, request: FeedbackRequest) -> FeedbackRecord:
        validate_feedback(request)
        decision, context = self.log.decision(request.decision_id)
        record = self._settle(decision, request)
        with self._feedback_lock:
            seq = self.log.record_feedback(record)
            self._learn(decision, context, record)
            self._learned_seq = seq
            if seq - self._snapshot_seq >= self.settings.learner.snapshot_every:
                self.snapshot()
        if self.cache is not None:
            self._update_cache(decision, request, record)
        return record

    def _update_cache(self, decision: Decision, request: FeedbackRequest, record: FeedbackRecord) -> None:
        """A good answer enters the cache; a poor one served from it leaves it."""
        good = not record.error and record.quality >= self.settings.cache.min_quality
        served = decision.cache
        if served is not None:
            if self.cache.rate_served(decision.tenant_id, served.entry_id, served.similarity, good):
                log.info("cache entry %d evicted: served for decision %s, quality %.2f",
                         served.entry_id, decision.decision_id, record.quality)
        elif good and request.response_text:
            self.cache.store_answer(decision.decision_id, request.response_text, decision.category, decision.model)

    def situation(self, request: RouteRequest) -> tuple[Situation, bool]:
        """What a policy decides on for this request, and whether it is a security task."""
        situation, reading = self._situation(request)
        return situation, reading.classification.security

    def _situation(self, request: RouteRequest) -> tuple[Situation, Reading]:
        validate_route(request, self.settings, self.registry)
        reading = self.reader.read(request.conversation_text, request.rules_text, request.task_hint)
        context = self._context(request, reading)
        cost_weight = (
            request.cost_weight if request.cost_weight is not None else self.settings.cost_weight_for(request.tenant_id)
        )
        candidates = candidate_models(self.registry, context, reading.classification.security, request.constraints)
        return Situation(context, tuple(candidates), cost_weight), reading

    def update_model(self, spec: ModelSpec) -> None:
        """Add a model or change its price; the next request sees it (cost is applied, not learned)."""
        self.registry = self.registry.with_model(spec)

    def snapshot(self) -> None:
        self.snapshots.save(self.learner, self._learned_seq)
        self._snapshot_seq = self._learned_seq
        if self.cache is not None:
            # Also the moment to let go of prompts whose answer never came.
            self.cache.forget_pending(self.settings.cache.pending_hours * 3600)

    def invalidate_cache(self, tenant_id: str) -> int:
        """Drop a tenant's cached answers; how many there were."""
        if not tenant_id.strip():
            raise InvalidArgument("tenant_id", "is empty")
        return self.cache.invalidate(tenant_id) if self.cache is not None else 0

    def close(self) -> None:
        with self._feedback_lock:
            self.snapshot()
            self.log.close()
        if self.cache is not None:
            self.cache.close()

    def _context(self, request: RouteRequest, reading: Reading) -> Context:
        classified = reading.classification
        input_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        output_tokens = request.constraints.expected_output_tokens or DEFAULT_OUTPUT_TOKENS[classified.category]
        return Context(reading.embedding, classified.category, classified.complexity, input_tokens, output_tokens)

    def _settle(self, decision: Decision, request: FeedbackRequest) -> FeedbackRecord:
        """Price the call with its real tokens; an error is a poor outcome, learned as quality 0."""
        input_tokens = request.input_tokens if request.input_tokens is not None else decision.estimated_input_tokens
        output_tokens = request.output_tokens if request.output_tokens is not None else decision.estimated_output_tokens
        quality = 0.0 if request.error else float(request.quality)
        candidates = [self.registry[m] for m in decision.candidates if m in self.registry]
        chosen = self.registry[decision.model] if decision.model in self.registry else None
        if decision.cache is not None:
            actual_cost, cost_norm = 0.0, 0.0  # served from the cache: no call was made
        elif chosen is None or chosen not in candidates:
            # The model left the registry since the decision: price as estimated.
            actual_cost, cost_norm = decision.estimated_cost_usd, 1.0
        else:
            actual_cost = chosen.cost(input_tokens, output_tokens)
            cost_norm = float(normalised_costs(candidates, input_tokens, output_tokens)[candidates.index(chosen)])
        return FeedbackRecord(
            decision_id=decision.decision_id,
            quality=quality,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=request.latency_ms,
            error=request.error,
            reward=reward(quality, decision.cost_weight, cost_norm),
            actual_cost_usd=actual_cost,
            created_at=time.time(),
        )

    def _learn(self, decision: Decision, context: Context, record: FeedbackRecord) -> None:
        if not self._learnable(decision):
            return
        self.policy.learn(context, self.registry[decision.model], record.quality, decision.probability)

    def _learnable(self, decision: Decision) -> bool:
        """A cached answer says nothing about the model's choice; a model gone from the registry
        cannot be chosen again."""
        return decision.cache is None and decision.model in self.registry

    def _replay_feedback(self) -> None:
        """Rebuild the learner: the snapshot holds VW's weights up to its sequence number; the
        neighbour memory is rebuilt from every logged outcome, and VW learns the ones after it."""
        replayed = 0
        for seq, decision, context, record in self.log.feedback_after(0):
            if not self._learnable(decision):
                continue
            model = self.registry[decision.model]
            if seq <= self._snapshot_seq:
                self.learner.remember(context, model, record.quality)
                continue
            self.policy.learn(context, model, record.quality, decision.probability)
            self._learned_seq = seq
            replayed += 1
        if replayed:
            log.info("replayed %d feedback(s) logged after the last snapshot", replayed)


def open_service(settings: Settings, reader: PromptReader, registry: Registry | None = None) -> RouterService:
    """A service on the embedded defaults: the SQLite log, learner snapshots and cache under data_dir."""
    data_dir = Path(settings.data_dir)
    cache = None
    if settings.cache.enabled:
        cache = SemanticCache(settings.cache, CacheStore(data_dir / "cache.sqlite"), reader.precise_embedder)
    return RouterService(
        settings=settings,
        registry=registry or Registry.from_yaml(settings.registry_path),
        reader=reader,
        decision_log=SQLiteDecisionLog(data_dir / "decisions.sqlite", settings.sqlite_synchronous),
        snapshots=SnapshotStore(data_dir / "snapshots", settings.learner.keep_snapshots),
        cache=cache,
    )
