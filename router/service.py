"""The decision service's domain core: Route and Feedback, free of gRPC and SQL."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

from learners.bandit import BanditPolicy
from learners.policies import Situation
from learners.snapshots import SnapshotStore
from learners.vw_bandit import QualityLearner
from router.categories import DEFAULT_OUTPUT_TOKENS
from router.config import Settings
from router.reading import PromptReader
from router.policy import candidate_models, reason_for
from router.registry import ModelSpec, Registry, normalised_costs
from router.store import DecisionLog, SQLiteDecisionLog
from router.tokens import estimate_tokens
from router.types import Context, Decision, FeedbackRecord, FeedbackRequest, RouteRequest
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
    ):
        self.settings = settings
        self.registry = registry
        self.reader = reader
        self.log = decision_log
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
        situation, security = self.situation(request)
        choice = self.policy.choose(situation)
        context = situation.context
        model = self.registry[choice.model]
        decision = Decision(
            decision_id=uuid.uuid4().hex,
            tenant_id=request.tenant_id,
            created_at=time.time(),
            model=model.id,
            provider=model.provider,
            probability=choice.probability,
            reason=reason_for(security, len(situation.candidates)),
            category=context.category,
            security=security,
            complexity=context.complexity,
            cost_weight=situation.cost_weight,
            estimated_input_tokens=context.input_tokens,
            estimated_output_tokens=context.output_tokens,
            estimated_cost_usd=model.cost(context.input_tokens, context.output_tokens),
            candidates=tuple(m.id for m in situation.candidates),
            probabilities=choice.probabilities,
            fallbacks=tuple(m for m in choice.ranking if m != choice.model),
            metadata=request.metadata,
        )
        self.log.record_decision(decision, context)
        return decision

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
        return record

    def situation(self, request: RouteRequest) -> tuple[Situation, bool]:
        """What a policy decides on for this request, and whether it is a security task."""
        validate_route(request, self.settings, self.registry)
        context, security = self._context(request)
        cost_weight = (
            request.cost_weight if request.cost_weight is not None else self.settings.cost_weight_for(request.tenant_id)
        )
        candidates = candidate_models(self.registry, context, security, request.constraints)
        return Situation(context, tuple(candidates), cost_weight), security

    def update_model(self, spec: ModelSpec) -> None:
        """Add a model or change its price; the next request sees it (cost is applied, not learned)."""
        self.registry = self.registry.with_model(spec)

    def snapshot(self) -> None:
        self.snapshots.save(self.learner, self._learned_seq)
        self._snapshot_seq = self._learned_seq

    def close(self) -> None:
        with self._feedback_lock:
            self.snapshot()
            self.log.close()

    def _context(self, request: RouteRequest) -> tuple[Context, bool]:
        embedding, classified = self.reader.read(request.conversation_text, request.rules_text, request.task_hint)
        input_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        output_tokens = request.constraints.expected_output_tokens or DEFAULT_OUTPUT_TOKENS[classified.category]
        context = Context(embedding, classified.category, classified.complexity, input_tokens, output_tokens)
        return context, classified.security

    def _settle(self, decision: Decision, request: FeedbackRequest) -> FeedbackRecord:
        """Price the call with its real tokens; an error is a poor outcome, learned as quality 0."""
        input_tokens = request.input_tokens if request.input_tokens is not None else decision.estimated_input_tokens
        output_tokens = request.output_tokens if request.output_tokens is not None else decision.estimated_output_tokens
        quality = 0.0 if request.error else float(request.quality)
        candidates = [self.registry[m] for m in decision.candidates if m in self.registry]
        chosen = self.registry[decision.model] if decision.model in self.registry else None
        if chosen is None or chosen not in candidates:
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
        if decision.model not in self.registry:
            return
        self.policy.learn(context, self.registry[decision.model], record.quality, decision.probability)

    def _replay_feedback(self) -> None:
        """Rebuild the learner: the snapshot holds VW's weights up to its sequence number; the
        neighbour memory is rebuilt from every logged outcome, and VW learns the ones after it."""
        replayed = 0
        for seq, decision, context, record in self.log.feedback_after(0):
            if decision.model not in self.registry:
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
    """A service on the embedded defaults: the SQLite log and learner snapshots under data_dir."""
    data_dir = Path(settings.data_dir)
    return RouterService(
        settings=settings,
        registry=registry or Registry.from_yaml(settings.registry_path),
        reader=reader,
        decision_log=SQLiteDecisionLog(data_dir / "decisions.sqlite", settings.sqlite_synchronous),
        snapshots=SnapshotStore(data_dir / "snapshots", settings.learner.keep_snapshots),
    )
