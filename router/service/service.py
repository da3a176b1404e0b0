"""The decision service's domain core: Route and Feedback, free of gRPC and SQL."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from learners.bandit import BanditPolicy
from learners.policies import Situation, deterministic
from learners.snapshots import SnapshotStore
from learners.vw_bandit import QualityLearner
from router.cache.entries import Prompt
from router.cache.semantic import CacheHit, SemanticCache, conversation_key, scope_of
from router.config import Settings
from router.decide.anomalies import SpendAnomalyDetector
from router.decide.budgets import Budgets, BudgetStatus, month_start, parse_budgets
from router.decide.candidates import candidate_models, escalation, reason_for, steer, within_budget
from router.decide.rule_book import RuleBook, RuleState
from router.domain.categories import DEFAULT_OUTPUT_TOKENS
from router.domain.errors import Blocked, InvalidArgument, NotFound, ResourceExhausted, RouterError, StorageUnavailable
from router.domain.registry import ModelSpec, Registry, normalised_costs
from router.domain.rules import Facts, Outcome, Rule
from router.domain.tokens import estimate_tokens
from router.domain.types import (BudgetMode, CacheAnswer, Context, Decision, FeedbackRecord, FeedbackRequest,
                                 LedgerEntry, Reason, RouteRequest, RuleMatch)
from router.reading.reader import PromptReader, Reading
from router.service.metrics import ServiceMetrics
from router.service.report import Stats, figures, grouped
from router.service.validation import (validate_batch_size, validate_feedback, validate_group_by, validate_report,
                                       validate_route, validate_rule_id, validate_tenant_id)
from router.storage import TENANT_BUDGETS, DecisionLog, TenantDocuments
from router.storage.backends import open_storage

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
        rules: RuleBook,
        budget_store: TenantDocuments,
        cache: SemanticCache | None = None,
        clock: Callable[[], float] = time.time,
        rebuild_learner: bool = False,
    ):
        """rebuild_learner: snapshots that do not match the decision log are set aside and the learner
        is rebuilt from the log, where otherwise the service refuses to start (CannotStart)."""
        self.settings = settings
        self.registry = registry
        self.reader = reader
        self.decision_log = decision_log
        self.cache = cache
        self.snapshots = snapshots
        self.rules = rules
        self.clock = clock  # tests run the service on simulated time (budget periods, reservations, alerts)
        self.budget_store = budget_store
        self.budgets = Budgets.from_settings(
            settings, {tenant: parse_budgets(docs[TENANT_BUDGETS].body) for tenant, docs in budget_store.all().items()})
        a = settings.anomalies
        self.anomalies = SpendAnomalyDetector(a.history_hours, a.min_history_hours, a.threshold, a.min_spend_usd)
        self._restore_spending()
        learner, self._snapshot_seq = snapshots.load(
            lambda path: QualityLearner.from_settings(settings.learner, reader.embedder.dim, path),
            decision_log.identity(), decision_log.last_feedback_seq(), set_aside_others=rebuild_learner,
        )
        self._learned_seq = self._snapshot_seq
        self.policy = BanditPolicy(learner, settings.learner)
        self.metrics = ServiceMetrics(settings.metrics_max_tenants)
        self.metrics.watch(self.budgets, clock, lambda: self.learner.updates)
        # One lock orders feedback: the log's sequence is the order of learning, so replay after a
        # crash rebuilds exactly the state the learner had.
        self._feedback_lock = threading.Lock()
        self._replay_feedback()

    @property
    def learner(self) -> QualityLearner:
        return self.policy.learner

    def route(self, request: RouteRequest) -> Decision:
        """Decide, in order of authority: the safety floor, the tenant's rules, its budgets, the bandit."""
        outcome, = self.route_batch([request])
        if isinstance(outcome, RouterError):
            raise outcome
        return outcome

    def route_batch(self, requests: list[RouteRequest]) -> list[Decision | RouterError]:
        """Decide for many prompts, read as one batch: each one's decision, or the error that refused it alone."""
        validate_batch_size("requests", len(requests), self.settings.limits.max_batch)
        outcomes, valid = _refuse_invalid(requests, lambda r: validate_route(r, self.settings, self.registry))
        readings = self.reader.read_many([_prompt(requests[i]) for i in valid]) if valid else []
        for i, reading in zip(valid, readings):
            try:
                outcomes[i] = self._route(requests[i], reading)
            except RouterError as exc:
                outcomes[i] = exc
        return outcomes

    def _route(self, request: RouteRequest, reading: Reading) -> Decision:
        decision_id, now = uuid.uuid4().hex, self.clock()
        escalating = self._escalated(request) if request.escalate_from else None
        situation = self._situation(request, reading)
        source = self._security_source(request, reading)
        security = bool(source)
        rules = self.rules.evaluate(request.tenant_id, self._facts(request, situation.context, security, now),
                                    decision_id)
        if rules.block is not None:
            self.decision_log.record_rule_matches(decision_id, request.tenant_id,
                                                  _matches(rules, {rules.block_rule}), now)
            raise Blocked(f"refused by rule {rules.block_rule!r} of tenant {request.tenant_id!r}"
                          + (f": {rules.block.message}" if rules.block.message else ""))
        if rules.cost_weight is not None:
            situation = replace(situation, cost_weight=rules.cost_weight)
        cache_prompt = self._cache_prompt(request, situation.context, security, reading.precise)
        if cache_prompt is not None and not (request.bypass_cache or rules.bypass_cache or escalating):
            hit, cache_prompt = self.cache.lookup(cache_prompt, self.settings.cache_threshold_for(request.tenant_id))
            self.metrics.looked_up(request.tenant_id, hit is not None)
            if hit is not None:
                applied = {rules.cost_weight_rule} - {""}
                return self._answer_from_cache(request, situation, hit, decision_id, now, _matches(rules, applied))
        decision = replace(self._choose(request, situation, security, rules, decision_id, now, escalating),
                           security_source=source, security_probability=reading.classification.security_probability)
        try:
            self.decision_log.record_decision(decision, situation.context)
        except BaseException:
            self.budgets.release(decision_id)
            raise
        self._observe(decision)
        if cache_prompt is not None:
            with _best_effort("the prompt's place in the cache"):
                self.cache.remember(decision.decision_id, cache_prompt)
        return decision

    def _escalated(self, request: RouteRequest) -> Decision:
        """The decision a request escalates: it must be the same tenant's."""
        found = self.decision_log.decisions([request.escalate_from]).get(request.escalate_from)
        if found is None or found[0].tenant_id != request.tenant_id:
            raise NotFound(f"escalate_from: decision {request.escalate_from!r} is not in the log")
        return found[0]

    def _choose(self, request: RouteRequest, situation: Situation, security: bool, rules: Outcome,
                decision_id: str, now: float, escalating: Decision | None) -> Decision:
        """The model, among those the rules and the budgets leave, with its cost reserved: the bandit's
        choice, a route rule's, or when escalating the next stronger than the escalated decision's.

        The reservation is the arbiter: when a concurrent call took the room between the check and
        the reservation, the choice is made again with what is left.
        """
        tenant = self.settings.tenant(request.tenant_id)
        # A route rule picks a first answer; an escalation asks past it (a tiers rule still holds).
        steered = steer(list(situation.candidates), replace(rules, route=None) if escalating else rules)
        context = situation.context
        for _ in range(RESERVE_ATTEMPTS):
            check = self.budgets.check(request.tenant_id, request.metadata, now)
            allowed, mode = within_budget(steered, context, check, security, tenant.security_overdraft)
            narrowed = Situation(context, tuple(allowed), situation.cost_weight)
            if escalating is not None:
                below = self.registry.get(escalating.model)
                choice = deterministic(narrowed, *escalation(allowed, below, context.category))
            elif steered.routed:
                choice = deterministic(narrowed, 0, list(range(len(allowed))))
            else:
                choice = self.policy.choose(narrowed)
            model = self.registry[choice.model]
            cost = model.cost(context.input_tokens, context.output_tokens)
            if self.budgets.reserve(decision_id, request.tenant_id, request.metadata, cost, now,
                                    overdraft=mode == BudgetMode.OVERDRAFT):
                break
        else:
            raise ResourceExhausted(f"budget: concurrent calls of tenant {request.tenant_id!r} took the room "
                                    "this call needed; retry later")
        if mode == BudgetMode.OVERDRAFT:
            log.warning("security task of tenant %s overdraws its budget: %s (decision %s, ~$%.4f)",
                        request.tenant_id, check.tightest.describe(), decision_id, cost)
        applied = {steered.rule_id, rules.cost_weight_rule} - {""}
        return self._decision(
            request, situation, security, model.id, model.provider, decision_id, now,
            probability=choice.probability,
            reason=Reason.ESCALATION if escalating else Reason.RULE if steered.routed
            else reason_for(security, len(allowed)),
            estimated_cost_usd=cost,
            probabilities=choice.probabilities,
            fallbacks=tuple(m for m in choice.ranking if m != choice.model and not self.registry[m].steps),
            candidates=tuple(m.id for m in allowed),
            rule_id=steered.rule_id,
            budget_mode=mode,
            rule_matches=_matches(rules, applied),
            escalated_from=escalating.decision_id if escalating else "",
            plan=tuple((step, self.registry[step].provider) for step in model.steps),
        )

    def _answer_from_cache(self, request: RouteRequest, situation: Situation, hit: CacheHit, decision_id: str,
                           now: float, rule_matches: tuple[RuleMatch, ...]) -> Decision:
        """A decision of its own kind: nothing to call, nothing for the bandit to learn, nothing to reserve."""
        entry, context = hit.entry, situation.context
        writer = self.registry.get(entry.model)
        saved = writer.cost(context.input_tokens, context.output_tokens) if writer else 0.0
        decision = self._decision(
            request, situation, False, entry.model, writer.provider if writer else "", decision_id, now,
            probability=1.0, reason=Reason.CACHE_HIT, estimated_cost_usd=0.0, probabilities=(), fallbacks=(),
            candidates=tuple(m.id for m in situation.candidates),
            cache=CacheAnswer(entry.entry_id, entry.answer, hit.similarity, saved), rule_matches=rule_matches,
        )
        self.decision_log.record_decision(decision, context)
        self._observe(decision)
        return decision

    def _observe(self, decision: Decision) -> None:
        """A decision made: counted, and at debug level logged as one line (one JSON object with
        --log-format json) that carries its fields."""
        self.metrics.routed(decision)
        if log.isEnabledFor(logging.DEBUG):
            fields = {"decision_id": decision.decision_id, "tenant": decision.tenant_id, "model": decision.model,
                      "reason": decision.reason, "category": decision.category, "security": decision.security,
                      "probability": decision.probability, "estimated_cost_usd": decision.estimated_cost_usd,
                      "cache_hit": decision.cache is not None, "rule_id": decision.rule_id,
                      "budget_mode": decision.budget_mode}
            log.debug("decision %s: %s for tenant %s (%s, p=%.3f)", decision.decision_id, decision.model,
                      decision.tenant_id, decision.reason, decision.probability, extra=fields)

    def _decision(self, request: RouteRequest, situation: Situation, security: bool, model: str, provider: str,
                  decision_id: str, now: float, **outcome) -> Decision:
        context = situation.context
        return Decision(
            decision_id=decision_id,
            tenant_id=request.tenant_id,
            created_at=now,
            model=model,
            provider=provider,
            category=context.category,
            security=security,
            complexity=context.complexity,
            cost_weight=situation.cost_weight,
            estimated_input_tokens=context.input_tokens,
            estimated_output_tokens=context.output_tokens,
            metadata=request.metadata,
            baseline_cost_usd=self._baseline_cost(context.input_tokens, context.output_tokens),
            quality_bar=self.settings.tenant(request.tenant_id).escalate_below,
            **outcome,
        )

    def _baseline_cost(self, input_tokens: int, output_tokens: int) -> float:
        """What always-premium, the registry's baseline model, would cost for these tokens."""
        return self.registry[self.registry.baseline_model].cost(input_tokens, output_tokens)

    def _facts(self, request: RouteRequest, context: Context, security: bool, now: float) -> Facts:
        asked = request.requested_model
        spec = self.registry.get(asked)
        return Facts.at(
            now, model=asked, provider=spec.provider if spec else "",
            category=context.category, security=security, input_tokens=context.input_tokens,
            complexity=context.complexity, prompt=request.conversation_text, **vars(request.metadata),
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
            private=not self.settings.tenant(request.tenant_id).keep_prompt_text,
        )

    def feedback(self, request: FeedbackRequest, tenant_id: str | None = None) -> FeedbackRecord:
        """Learn from one answer. With `tenant_id`, the decision must be that tenant's."""
        outcome, = self.feedback_batch([request], tenant_id)
        if isinstance(outcome, RouterError):
            raise outcome
        return outcome

    def feedback_batch(self, requests: list[FeedbackRequest],
                       tenant_id: str | None = None) -> list[FeedbackRecord | RouterError]:
        """Learn from many answers: each one's record, or the error that refused it alone. The
        accepted ones are logged in one transaction, so a batch costs one fsync."""
        validate_batch_size("feedbacks", len(requests), self.settings.limits.max_batch)
        outcomes, valid = _refuse_invalid(requests, lambda r: validate_feedback(r, self.settings))
        logged = self.decision_log.decisions([requests[i].decision_id for i in valid])
        settled = []
        for i in valid:
            decision, context = logged.get(requests[i].decision_id, (None, None))
            # Another tenant's decision gets the same words as a missing one: its ids stay unknowable.
            if decision is None or tenant_id is not None and decision.tenant_id != tenant_id:
                outcomes[i] = NotFound(f"decision {requests[i].decision_id!r} is not in the log")
            else:
                settled.append((i, decision, context, self._settle(decision, requests[i])))
        for (i, decision, _, record), error in zip(settled, self._record([s[1:] for s in settled])):
            outcomes[i] = error or record
            if error is None and self.cache is not None and not record.not_called:
                with _best_effort("the answer's place in the cache"):
                    self._update_cache(decision, requests[i], record)
        return outcomes

    def expire_overdue(self) -> int:
        """Decisions that waited `feedback_wait_hours` for feedback in vain are marked expired and,
        where the tenant set an `expired_quality`, learned with it; so nothing waits without bound.
        Returns how many expired."""
        now = self.clock()
        wait = self.settings.feedback_wait_hours * 3600
        expired = 0
        while batch := self.decision_log.expire_overdue(now - wait, now, EXPIRE_BATCH):
            expired += len(batch)
            for decision, context in batch:
                quality = self.settings.tenant(decision.tenant_id).expired_quality
                if quality is not None and self._learnable(decision):
                    self._learn_expired(decision, context, quality)
        if self.cache is not None:
            self.cache.forget_pending(wait)
        if expired:
            log.info("%d decision(s) expired after waiting %.1f h for feedback", expired, wait / 3600)
        return expired

    def _learn_expired(self, decision: Decision, context: Context, quality: float) -> None:
        record = replace(self._settle(decision, FeedbackRequest(decision.decision_id, quality)), expired=True)
        # AlreadyExists: the feedback arrived while the decision was being expired, and it wins.
        self._record([(decision, context, record)])

    def _record(self, outcomes: list[tuple[Decision, Context, FeedbackRecord]]) -> list[RouterError | None]:
        """Log, learn and account outcomes, in the log's order (which replay after a crash repeats);
        for each, the error that kept it from the log, if any."""
        with self._feedback_lock:
            logged = self.decision_log.record_feedback([record for _, _, record in outcomes])
            for (decision, context, record), seq in zip(outcomes, logged):
                if isinstance(seq, RouterError):
                    continue
                self._learn(decision, context, record)
                self._learned_seq = seq
                self._account(decision, record)
                self.metrics.learned(decision, record)
            if self._learned_seq - self._snapshot_seq >= self.settings.learner.snapshot_every:
                with _best_effort("a learner snapshot"):
                    self.snapshot()
        return [seq if isinstance(seq, RouterError) else None for seq in logged]

    def _account(self, decision: Decision, record: FeedbackRecord) -> None:
        """The call's real cost settles its budget reservation and joins the spend the anomaly
        detector watches; an alert is logged and stored for Stats."""
        team = decision.metadata.team
        if record.overrun_usd > 0:
            log.warning("cost overrun: decision %s of tenant %s reported $%.4f against an estimate of $%.4f; "
                        "settled at $%.4f (max_cost_overrun), $%.4f recorded as its overrun", decision.decision_id,
                        decision.tenant_id, record.actual_cost_usd + record.overrun_usd,
                        decision.estimated_cost_usd, record.actual_cost_usd, record.overrun_usd)
        self.budgets.settle(decision.decision_id, decision.tenant_id, decision.metadata, decision.created_at,
                            record.actual_cost_usd)
        for alert in self.anomalies.observe(decision.tenant_id, team, record.created_at, record.actual_cost_usd):
            log.warning("spend anomaly: %s spent $%.4f this hour against a usual $%.4f (robust z %.1f)",
                        alert.scope, alert.spend_usd, alert.expected_usd, alert.z)
            with _best_effort("the alert's record"):
                self.decision_log.record_alert(alert)

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
        validate_route(request, self.settings, self.registry)
        reading = self.reader.read(*_prompt(request))
        return self._situation(request, reading), bool(self._security_source(request, reading))

    def _situation(self, request: RouteRequest, reading: Reading) -> Situation:
        context = self._context(request, reading)
        cost_weight = (
            request.cost_weight if request.cost_weight is not None else self.settings.cost_weight_for(request.tenant_id)
        )
        security = bool(self._security_source(request, reading))
        candidates = candidate_models(self.registry, context, security, request.constraints)
        plans = self._plans_offered(request.tenant_id, context, security, candidates)
        return Situation(context, tuple(candidates + plans), cost_weight)

    def _security_source(self, request: RouteRequest, reading: Reading) -> str:
        """Why the request is a security task at its tenant's threshold ("" when it is not)."""
        return reading.classification.security_source(self.settings.tenant(request.tenant_id).security_threshold)

    def _plans_offered(self, tenant_id: str, context: Context, security: bool,
                       candidates: list[ModelSpec]) -> list[ModelSpec]:
        """The draft→review plans, for a category the tenant marks as complex, whose steps may both
        answer. Never for a security task: its draft would leave the premium models."""
        if security or context.category not in self.settings.tenant(tenant_id).draft_review:
            return []
        allowed = {m.id for m in candidates}
        return [p for p in self.registry.plans if set(p.steps) <= allowed]

    def update_model(self, spec: ModelSpec) -> None:
        """Add a model or change its price; the next request sees it (cost is applied, not learned)."""
        self.registry = self.registry.with_model(spec)

    def snapshot(self) -> None:
        self.snapshots.save(self.learner, self._learned_seq, self.decision_log.identity())
        self._snapshot_seq = self._learned_seq

    def stats(self, tenant_id: str, since: float, until: float, group_by: str = "") -> Stats:
        """Spend, savings and the rest over a window of a tenant's decisions, optionally grouped."""
        validate_report(tenant_id, since, until, self.settings)
        validate_group_by(group_by)
        entries = list(self.decision_log.ledger(tenant_id, since, until))
        return Stats(
            tenant_id=tenant_id, since=since, until=until, total=figures(entries), group_by=group_by,
            groups=grouped(entries, group_by) if group_by else {},
            alerts=self.decision_log.alerts(tenant_id, since, until),
            budgets=self.budgets.statuses(tenant_id, self.clock()),
        )

    def ledger(self, tenant_id: str, since: float, until: float) -> Iterator[LedgerEntry]:
        """The settled calls of a tenant made in [since, until): what export writes."""
        validate_report(tenant_id, since, until, self.settings)
        return (e for e in self.decision_log.ledger(tenant_id, since, until) if e.settled)

    def rule_states(self, tenant_id: str) -> list[RuleState]:
        validate_tenant_id(tenant_id, self.settings)
        return [RuleState(e.rule, e.source, self.decision_log.rule_count(tenant_id, e.rule.id, e.since))
                for e in self.rules.entries(tenant_id)]

    def put_rule(self, tenant_id: str, doc: dict) -> Rule:
        validate_tenant_id(tenant_id, self.settings)
        return self.rules.put(tenant_id, doc, self.registry, self.clock())

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        validate_tenant_id(tenant_id, self.settings)
        validate_rule_id(rule_id, self.settings)
        self.rules.delete(tenant_id, rule_id)

    def set_budgets(self, tenant_id: str, docs: list[dict]) -> list[BudgetStatus]:
        """Replace the tenant's budgets set over gRPC (the config file's stay); all its budgets now."""
        validate_tenant_id(tenant_id, self.settings)
        budgets, now = parse_budgets(docs), self.clock()
        stored = [b.model_dump(exclude_none=True) for b in budgets]
        if stored:
            self.budget_store.put(tenant_id, TENANT_BUDGETS, stored, now)
        else:
            self.budget_store.delete(tenant_id, TENANT_BUDGETS)
        month = self.decision_log.ledger(tenant_id, month_start(now), math.inf)
        self.budgets.replace(tenant_id, self.settings.tenant(tenant_id).budgets + budgets, month, now)
        log.info("budgets of tenant %s set: %s", tenant_id, stored)
        return self.budgets.statuses(tenant_id, now)

    def invalidate_cache(self, tenant_id: str) -> int:
        """Drop a tenant's cached answers; how many there were."""
        validate_tenant_id(tenant_id, self.settings)
        return self.cache.invalidate(tenant_id) if self.cache is not None else 0

    def close(self) -> None:
        with self._feedback_lock:
            with _best_effort("the last learner snapshot"):
                self.snapshot()
            self.decision_log.close()
        self.rules.close()
        self.budget_store.close()
        if self.cache is not None:
            self.cache.close()

    def _context(self, request: RouteRequest, reading: Reading) -> Context:
        classified = reading.classification
        input_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        output_tokens = request.constraints.expected_output_tokens or DEFAULT_OUTPUT_TOKENS[classified.category]
        return Context(reading.embedding, classified.category, classified.complexity, input_tokens, output_tokens)

    def _settle(self, decision: Decision, request: FeedbackRequest) -> FeedbackRecord:
        """Price the call with its real tokens; an error is a poor outcome, learned as quality 0.
        A call that failed without reporting tokens, or was never made, costs nothing."""
        input_tokens = request.input_tokens if request.input_tokens is not None else decision.estimated_input_tokens
        output_tokens = request.output_tokens if request.output_tokens is not None else decision.estimated_output_tokens
        quality = 0.0 if request.error or request.not_called else float(request.quality)
        candidates = [self.registry[m] for m in decision.candidates if m in self.registry]
        chosen = self.registry.get(decision.model)
        reported = request.input_tokens is not None or request.output_tokens is not None
        unbilled = request.not_called or (request.error and not reported)
        if unbilled:
            input_tokens, output_tokens = (0, 0)
        if decision.cache is not None or unbilled:
            actual_cost, cost_norm = 0.0, 0.0  # no call was made, or none that a provider bills
        elif chosen is None or chosen not in candidates:
            # The model left the registry since the decision: price as estimated.
            actual_cost, cost_norm = decision.estimated_cost_usd, 1.0
        else:
            actual_cost = self._cost(chosen, input_tokens, output_tokens, request)
            cost_norm = float(normalised_costs(candidates, input_tokens, output_tokens)[candidates.index(chosen)])
        actual_cost, overrun = self._capped(decision, actual_cost)
        return FeedbackRecord(
            decision_id=decision.decision_id,
            quality=quality,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=request.latency_ms,
            error=request.error,
            not_called=request.not_called,
            time_to_first_token_ms=request.time_to_first_token_ms,
            reward=reward(quality, decision.cost_weight, cost_norm),
            actual_cost_usd=actual_cost,
            created_at=self.clock(),
            baseline_cost_usd=self._baseline_cost(input_tokens, output_tokens),
            overrun_usd=overrun,
        )

    def _cost(self, chosen: ModelSpec, input_tokens: int, output_tokens: int, request: FeedbackRequest) -> float:
        """A call's cost; a plan whose review tokens are reported is both calls' (else its estimate's price)."""
        if not chosen.steps or request.review_input_tokens is None or request.review_output_tokens is None:
            return chosen.cost(input_tokens, output_tokens)
        drafter, reviewer = (self.registry[step] for step in chosen.steps)
        return (drafter.cost(input_tokens, output_tokens)
                + reviewer.cost(request.review_input_tokens, request.review_output_tokens))

    def _capped(self, decision: Decision, cost: float) -> tuple[float, float]:
        """The cost to settle and the overrun. With the tenant's max_cost_overrun, a reported cost past
        that multiple of the estimate settles at it: a budget's overshoot stays bounded by the estimates
        reserved, whatever a feedback claims; the rest is the overrun, recorded beside it, never charged."""
        factor = self.settings.tenant(decision.tenant_id).max_cost_overrun
        cap = math.inf if factor is None else factor * decision.estimated_cost_usd
        return (cap, cost - cap) if cost > cap else (cost, 0.0)

    def _learn(self, decision: Decision, context: Context, record: FeedbackRecord) -> None:
        if not self._learnable(decision) or record.not_called:
            return
        self.policy.learn(context, self.registry[decision.model], record.quality, decision.probability)

    def _learnable(self, decision: Decision) -> bool:
        """A cached answer says nothing about the model's choice; a model gone from the registry
        cannot be chosen again."""
        return decision.cache is None and decision.model in self.registry

    def _restore_spending(self) -> None:
        """Budgets and the anomaly detector's history, rebuilt from the log: nothing else keeps them."""
        now = self.clock()
        this_month, history_start = month_start(now), now - self.settings.anomalies.history_hours * 3600
        entries = list(self.decision_log.ledger(None, min(this_month, history_start), math.inf))
        self.budgets.restore((e for e in entries if e.created_at >= this_month), now)
        for e in sorted((e for e in entries if e.settled_at is not None and e.settled_at >= history_start),
                        key=lambda e: e.settled_at):
            self.anomalies.load(e.tenant_id, e.team, e.settled_at, e.cost_usd)

    def _replay_feedback(self) -> None:
        """Rebuild the learner: the snapshot holds VW's weights up to its sequence number; the
        neighbour memory is rebuilt from every logged outcome, and VW learns the ones after it."""
        replayed = 0
        for seq, decision, context, record in self.decision_log.feedback_after(0):
            if not self._learnable(decision) or record.not_called:
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


def open_service(settings: Settings, reader: PromptReader, registry: Registry | None = None,
                 clock: Callable[[], float] = time.time, rebuild_learner: bool = False) -> RouterService:
    """A service on the stores `settings.storage` names (SQLite files under data_dir by default), with
    learner snapshots under data_dir."""
    registry = registry or Registry.from_yaml(settings.registry_path)
    storage = open_storage(settings)
    cache = None
    if storage.cache is not None:
        cache = SemanticCache(settings.cache, storage.cache, reader.precise_embedder)
        # Every tenant the cache holds text of, named in the config or not: default_keep_prompt_text
        # false must seal what tenants the config does not name stored before.
        for tenant_id in cache.tenants_with_text():
            if not settings.tenant(tenant_id).keep_prompt_text and (sealed := cache.redact_tenant(tenant_id)):
                log.info("tenant %s keeps no prompt text: %d cached prompt(s) stored before were sealed",
                         tenant_id, sealed)
    config_rules = {tenant_id: tenant.rules for tenant_id, tenant in settings.tenants.items()}
    return RouterService(
        settings=settings,
        registry=registry,
        reader=reader,
        decision_log=storage.decisions,
        snapshots=SnapshotStore(Path(settings.data_dir) / "snapshots", settings.learner.keep_snapshots),
        rules=RuleBook(config_rules, storage.rules, registry),
        budget_store=storage.budgets,
        cache=cache,
        clock=clock,
        rebuild_learner=rebuild_learner,
    )


RESERVE_ATTEMPTS = 3
EXPIRE_BATCH = 500  # decisions expired per transaction: the log's lock is never held long


@contextmanager
def _best_effort(what: str) -> Iterator[None]:
    """Work whose loss costs nothing acknowledged (a cache entry, an alert's record, a snapshot the log
    rebuilds): when storage refuses it, the call that did it still succeeds, and the log says so."""
    try:
        yield
    except StorageUnavailable as exc:
        log.error("%s was not kept: %s", what, exc)


def _matches(outcome: Outcome, applied: set[str]) -> tuple[RuleMatch, ...]:
    return tuple(RuleMatch(rule_id, rule_id in applied) for rule_id in outcome.matched)


def _prompt(request: RouteRequest) -> tuple[str, str, str]:
    """What the reader reads of a request: the conversation, what keyword rules see, the task hint."""
    return request.conversation_text, request.rules_text, request.task_hint


def _refuse_invalid(requests: list, validate: Callable[[object], None]) -> tuple[list, list[int]]:
    """A batch's outcomes so far, each invalid request's InvalidArgument in its place (None elsewhere),
    and the indexes of the valid ones."""
    outcomes: list = [None] * len(requests)
    valid = []
    for i, request in enumerate(requests):
        try:
            validate(request)
            valid.append(i)
        except InvalidArgument as exc:
            outcomes[i] = exc
    return outcomes, valid
