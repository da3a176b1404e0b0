"""One Route, as a sequence of stages a reader follows top to bottom (`RoutePath.route`), after
`route_batch` has checked each request and read the batch's prompts at once (reading/reader.py):

    read     the prompt's context, whether it is a security task, the candidate models (safety floor)
    rules    the tenant's rules: a block, a cost weight, a model to route to
    cache    a stored answer for the same question, served as a decision of its own kind
    in flight  an identical request still unanswered: this one follows it (the tenant's dedup_seconds)
    choose   the budgets narrow the candidates, the policy picks, the cost is reserved
    log      the decision is durable before it is answered; the prompt waits in the cache for its answer

Each stage takes and returns plain values; the state they share is the service's `Core`.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace

from learners.policies import Situation, deterministic
from router.cache.entries import Prompt
from router.cache.semantic import CacheHit, conversation_key, scope_of
from router.decide.candidates import candidate_models, escalation, reason_for, steer, within_budget
from router.domain.categories import DEFAULT_OUTPUT_TOKENS
from router.domain.errors import Blocked, NotFound, ResourceExhausted, RouterError
from router.domain.registry import ModelSpec
from router.domain.rules import Facts, Outcome
from router.domain.tokens import estimate_tokens
from router.domain.types import BudgetMode, CacheAnswer, Context, Decision, Reason, RouteRequest, RuleMatch
from router.reading.reader import Reading
from router.service.core import Core, best_effort
from router.service.validation import refuse_invalid, validate_batch_size, validate_route

log = logging.getLogger(__name__)

RESERVE_ATTEMPTS = 3
# How long a request that follows another waits for the leader's decision to reach the log: a leader is
# claimed before it is chosen, and choosing takes milliseconds; one not logged by then died choosing.
LEADER_LOGGED_SECONDS = 2.0


@dataclass(frozen=True)
class Read:
    """A request as routing sees it once read."""

    situation: Situation  # what the policy decides on: context, candidate models, cost weight
    security_source: str  # why it is a security task at its tenant's threshold; "" when it is not
    reading: Reading

    @property
    def security(self) -> bool:
        return bool(self.security_source)


@dataclass(frozen=True)
class Chosen:
    """The choose stage's result: a model with its cost reserved, and why."""

    model: ModelSpec
    cost: float
    mode: BudgetMode
    reason: Reason
    probability: float
    probabilities: tuple[float, ...]
    ranking: tuple[str, ...]
    candidates: tuple[str, ...]
    rule_id: str
    rule_matches: tuple[RuleMatch, ...]  # the rules that matched, and whether each shaped the choice


class RoutePath:
    def __init__(self, core: Core):
        self.core = core

    def route_batch(self, requests: list[RouteRequest]) -> list[Decision | RouterError]:
        """Each request checked, all read as one batch, then routed alone: its decision, or the error
        that refused it."""
        core = self.core
        validate_batch_size("requests", len(requests), core.settings.limits.max_batch)
        outcomes, valid = refuse_invalid(requests, lambda r: validate_route(r, core.settings, core.registry))
        readings = core.reader.read_many([prompt_of(requests[i]) for i in valid]) if valid else []
        for i, reading in zip(valid, readings):
            try:
                outcomes[i] = self.route(requests[i], reading)
            except RouterError as exc:
                outcomes[i] = exc
        return outcomes

    def route(self, request: RouteRequest, reading: Reading) -> Decision:
        """Decide, in order of authority: the safety floor, the tenant's rules, its budgets, the policy."""
        decision_id, now = uuid.uuid4().hex, self.core.clock()
        escalating = self.escalated(request) if request.escalate_from else None
        read = self.read(request, reading)
        rules = self.rules(request, read, decision_id, now)
        if rules.cost_weight is not None:
            read = replace(read, situation=replace(read.situation, cost_weight=rules.cost_weight))
        prompt = self.cache_prompt(request, read)
        if prompt is not None and not (request.bypass_cache or rules.bypass_cache or escalating):
            hit, prompt = self.look_up(request, prompt)
            if hit is not None:
                return self.answer_from_cache(request, read, hit, decision_id, now, rules)
        leads, leader = self.leader_of(request, decision_id, now, escalating)
        if leader is not None:
            return self.follow(request, read, leader, decision_id, now, rules)
        try:
            choice = self.choose(request, read, rules, decision_id, now, escalating)
            decision = self.decision(request, read, choice, decision_id, now, escalating, rules)
            self.log(decision, read.situation.context, prompt)
        except BaseException:
            if leads:  # identical requests must not wait for a decision that will never be
                with best_effort("withdrawing the claim of a request refused"):
                    self.core.in_flight.withdraw(decision_id)
            raise
        return decision

    # read

    def read(self, request: RouteRequest, reading: Reading) -> Read:
        """The context the policy sees, the security verdict at the tenant's threshold, and the models
        that may answer: those the constraints and the safety floor leave, with the plans offered."""
        settings = self.core.settings
        context = context_of(request, reading)
        source = reading.classification.security_source(settings.tenant(request.tenant_id).security_threshold)
        candidates = candidate_models(self.core.registry, context, bool(source), request.constraints)
        plans = self.plans_offered(request.tenant_id, context, bool(source), candidates)
        cost_weight = (request.cost_weight if request.cost_weight is not None
                       else settings.cost_weight_for(request.tenant_id))
        return Read(Situation(context, tuple(candidates + plans), cost_weight), source, reading)

    def plans_offered(self, tenant_id: str, context: Context, security: bool,
                      candidates: list[ModelSpec]) -> list[ModelSpec]:
        """The draft→review plans, for a category the tenant marks as complex, whose steps may both
        answer. Never for a security task: its draft would leave the premium models."""
        if security or context.category not in self.core.settings.tenant(tenant_id).draft_review:
            return []
        allowed = {m.id for m in candidates}
        return [p for p in self.core.registry.plans if set(p.steps) <= allowed]

    def escalated(self, request: RouteRequest) -> Decision:
        """The decision a request escalates: it must be the same tenant's."""
        found = self.core.decision_log.decisions([request.escalate_from]).get(request.escalate_from)
        if found is None or found[0].tenant_id != request.tenant_id:
            raise NotFound(f"escalate_from: decision {request.escalate_from!r} is not in the log")
        return found[0]

    # rules

    def rules(self, request: RouteRequest, read: Read, decision_id: str, now: float) -> Outcome:
        """The tenant's rules on the request's facts; a blocking rule ends the request here."""
        outcome = self.core.rules.evaluate(request.tenant_id, self.facts(request, read, now), decision_id)
        if outcome.block is not None:
            self.core.decision_log.record_rule_matches(decision_id, request.tenant_id,
                                                       matches(outcome, {outcome.block_rule}), now)
            raise Blocked(f"refused by rule {outcome.block_rule!r} of tenant {request.tenant_id!r}"
                          + (f": {outcome.block.message}" if outcome.block.message else ""))
        return outcome

    def facts(self, request: RouteRequest, read: Read, now: float) -> Facts:
        asked = request.requested_model
        spec = self.core.registry.get(asked)
        context = read.situation.context
        return Facts.at(
            now, model=asked, provider=spec.provider if spec else "",
            category=context.category, security=read.security, input_tokens=context.input_tokens,
            complexity=context.complexity, prompt=request.conversation_text, **vars(request.metadata),
        )

    # cache

    def cache_prompt(self, request: RouteRequest, read: Read) -> Prompt | None:
        """The prompt as the cache keys it, or None when this request is not for the cache: a
        security task (its answer must come from a premium model) or a never-cached category."""
        cache, context = self.core.cache, read.situation.context
        if cache is None or read.security or not cache.keeps(context.category):
            return None
        return Prompt(
            tenant_id=request.tenant_id,
            scope=scope_of(request.tenant_id, request.system_prompt),
            key=conversation_key(request.messages),
            text=request.conversation_text,
            vector=context.embedding,
            precise=read.reading.precise,
            private=not self.core.settings.tenant(request.tenant_id).keep_prompt_text,
        )

    def look_up(self, request: RouteRequest, prompt: Prompt) -> tuple[CacheHit | None, Prompt]:
        hit, prompt = self.core.cache.lookup(prompt, self.core.settings.cache_threshold_for(request.tenant_id))
        self.core.metrics.looked_up(request.tenant_id, hit is not None)
        return hit, prompt

    def answer_from_cache(self, request: RouteRequest, read: Read, hit: CacheHit, decision_id: str, now: float,
                          rules: Outcome) -> Decision:
        """A decision of its own kind: nothing to call, nothing for the policy to learn, nothing to reserve."""
        entry, situation = hit.entry, read.situation
        writer = self.core.registry.get(entry.model)
        saved = writer.cost(situation.context.input_tokens, situation.context.output_tokens) if writer else 0.0
        decision = self.new_decision(
            request, situation, False, entry.model, writer.provider if writer else "", decision_id, now,
            probability=1.0, reason=Reason.CACHE_HIT, estimated_cost_usd=0.0, probabilities=(), fallbacks=(),
            candidates=tuple(m.id for m in situation.candidates),
            cache=CacheAnswer(entry.entry_id, entry.answer, hit.similarity, saved),
            rule_matches=matches(rules, {rules.cost_weight_rule} - {""}),
        )
        self.core.decision_log.record_decision(decision, situation.context)
        self.observe(decision)
        return decision

    # in flight

    def leader_of(self, request: RouteRequest, decision_id: str, now: float,
                  escalating: Decision | None) -> tuple[bool, Decision | None]:
        """Whether this request leads its identical requests in flight, and the leader's decision when
        it follows one (for the tenant's dedup_seconds; never a request that wants a fresh answer). A
        leader claimed but not logged yet is waited for; one that never gets logged (its replica died
        choosing) is not followed, and this request is routed alone."""
        window = self.core.settings.tenant(request.tenant_id).dedup_seconds
        if not window or request.bypass_cache or escalating:
            return False, None
        claim = self.core.in_flight.claim(request.tenant_id, request.prompt_key, decision_id, now, now + window)
        if claim.decision_id == decision_id:
            return True, None
        if claim.answered:
            return False, None
        deadline = time.monotonic() + LEADER_LOGGED_SECONDS
        while True:
            found = self.core.decision_log.decisions([claim.decision_id]).get(claim.decision_id)
            if found is not None or time.monotonic() > deadline:
                # A leader whose model was retired since is not followed either.
                return False, found[0] if found and found[0].model in self.core.registry else None
            time.sleep(0.005)

    def follow(self, request: RouteRequest, read: Read, leader: Decision, decision_id: str, now: float,
               rules: Outcome) -> Decision:
        """A decision of its own kind: the leader's model with its cost reserved (should the leader fail
        it, the follower calls the model itself), nothing for the policy to choose."""
        core, context = self.core, read.situation.context
        model = core.registry[leader.model]
        cost = model.cost(context.input_tokens, context.output_tokens)
        overdraft = read.security and core.settings.tenant(request.tenant_id).security_overdraft
        if not core.budgets.reserve(decision_id, request.tenant_id, request.metadata, cost, now, overdraft=overdraft):
            raise ResourceExhausted(f"budget: tenant {request.tenant_id!r} has no room for this call, which "
                                    f"follows decision {leader.decision_id!r}")
        decision = self.new_decision(
            request, read.situation, read.security, model.id, model.provider, decision_id, now, probability=1.0,
            reason=Reason.DUPLICATE, estimated_cost_usd=cost, probabilities=(), fallbacks=leader.fallbacks,
            candidates=(model.id,), duplicate_of=leader.decision_id,
            rule_matches=matches(rules, {rules.cost_weight_rule, compressing(rules, read)} - {""}),
            plan=tuple((step, core.registry[step].provider) for step in model.steps),
        )
        decision = replace(decision, security_source=read.security_source,
                           security_probability=read.reading.classification.security_probability,
                           compress_level=rules.compress_level if compressing(rules, read) else "")
        self.log(decision, context, None)
        return decision

    # choose

    def choose(self, request: RouteRequest, read: Read, rules: Outcome, decision_id: str, now: float,
               escalating: Decision | None) -> Chosen:
        """The model, among those the rules and the budgets leave, with its cost reserved: the policy's
        choice, a route rule's, or when escalating the next stronger than the escalated decision's.

        The reservation is the arbiter: when a concurrent call took the room between the check and
        the reservation, the choice is made again with what is left.
        """
        core, situation = self.core, read.situation
        overdraft = core.settings.tenant(request.tenant_id).security_overdraft
        # A route rule picks a first answer; an escalation asks past it (a tiers rule still holds).
        steered = steer(list(situation.candidates), replace(rules, route=None) if escalating else rules)
        for _ in range(RESERVE_ATTEMPTS):
            check = core.budgets.check(request.tenant_id, request.metadata, now)
            allowed, mode = within_budget(steered, situation.context, check, read.security, overdraft)
            narrowed = Situation(situation.context, tuple(allowed), situation.cost_weight)
            if escalating is not None:
                below = core.registry.get(escalating.model)
                picked = deterministic(narrowed, *escalation(allowed, below, situation.context.category))
            elif steered.routed:
                picked = deterministic(narrowed, 0, list(range(len(allowed))))
            else:
                picked = core.policy.choose(narrowed)
            model = core.registry[picked.model]
            cost = model.cost(situation.context.input_tokens, situation.context.output_tokens)
            if core.budgets.reserve(decision_id, request.tenant_id, request.metadata, cost, now,
                                    overdraft=mode == BudgetMode.OVERDRAFT):
                break
        else:
            raise ResourceExhausted(f"budget: concurrent calls of tenant {request.tenant_id!r} took the room "
                                    "this call needed; retry later")
        if mode == BudgetMode.OVERDRAFT:
            log.warning("security task of tenant %s overdraws its budget: %s (decision %s, ~$%.4f)",
                        request.tenant_id, check.tightest.describe(), decision_id, cost)
        reason = (Reason.ESCALATION if escalating else Reason.RULE if steered.routed
                  else reason_for(read.security, len(allowed)))
        return Chosen(model, cost, mode, reason, picked.probability, picked.probabilities, picked.ranking,
                      tuple(m.id for m in allowed), steered.rule_id,
                      matches(rules, {steered.rule_id, rules.cost_weight_rule, compressing(rules, read)} - {""}))

    # log

    def decision(self, request: RouteRequest, read: Read, choice: Chosen, decision_id: str, now: float,
                 escalating: Decision | None, rules: Outcome) -> Decision:
        registry, model = self.core.registry, choice.model
        decision = self.new_decision(
            request, read.situation, read.security, model.id, model.provider, decision_id, now,
            probability=choice.probability,
            reason=choice.reason,
            estimated_cost_usd=choice.cost,
            probabilities=choice.probabilities,
            fallbacks=tuple(m for m in choice.ranking if m != model.id and not registry[m].steps),
            candidates=choice.candidates,
            rule_id=choice.rule_id,
            budget_mode=choice.mode,
            rule_matches=choice.rule_matches,
            escalated_from=escalating.decision_id if escalating else "",
            plan=tuple((step, registry[step].provider) for step in model.steps),
        )
        return replace(decision, security_source=read.security_source,
                       security_probability=read.reading.classification.security_probability,
                       compress_level=rules.compress_level if compressing(rules, read) else "")

    def log(self, decision: Decision, context: Context, prompt: Prompt | None) -> None:
        """Durable before it is answered: a decision the log refused releases its reservation."""
        try:
            self.core.decision_log.record_decision(decision, context)
        except BaseException:
            self.core.budgets.release(decision.decision_id)
            raise
        self.observe(decision)
        if prompt is not None:
            with best_effort("the prompt's place in the cache"):
                self.core.cache.remember(decision.decision_id, prompt)

    def new_decision(self, request: RouteRequest, situation: Situation, security: bool, model: str, provider: str,
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
            baseline_cost_usd=self.core.baseline_cost(context.input_tokens, context.output_tokens),
            quality_bar=self.core.settings.tenant(request.tenant_id).escalate_below,
            prompt_key=request.prompt_key,
            **outcome,
        )

    def observe(self, decision: Decision) -> None:
        """A decision made: counted, and at debug level logged as one line (one JSON object with
        --log-format json) that carries its fields."""
        self.core.metrics.routed(decision)
        if log.isEnabledFor(logging.DEBUG):
            fields = {"decision_id": decision.decision_id, "tenant": decision.tenant_id, "model": decision.model,
                      "reason": decision.reason, "category": decision.category, "security": decision.security,
                      "probability": decision.probability, "estimated_cost_usd": decision.estimated_cost_usd,
                      "cache_hit": decision.cache is not None, "rule_id": decision.rule_id,
                      "budget_mode": decision.budget_mode}
            log.debug("decision %s: %s for tenant %s (%s, p=%.3f)", decision.decision_id, decision.model,
                      decision.tenant_id, decision.reason, decision.probability, extra=fields)


def context_of(request: RouteRequest, reading: Reading) -> Context:
    classified = reading.classification
    input_tokens = sum(estimate_tokens(m.content) for m in request.messages)
    output_tokens = request.constraints.expected_output_tokens or DEFAULT_OUTPUT_TOKENS[classified.category]
    return Context(reading.embedding, classified.category, classified.complexity, input_tokens, output_tokens)


def prompt_of(request: RouteRequest) -> tuple[str, str, str]:
    """What the reader reads of a request: the conversation, what keyword rules see, the task hint."""
    return request.conversation_text, request.rules_text, request.task_hint


def compressing(rules: Outcome, read: Read) -> str:
    """The compress_prompt rule that shapes the call, if any: never a security task's, whose prompt
    reaches its premium model whole."""
    return "" if read.security else rules.compress_rule


def matches(outcome: Outcome, applied: set[str]) -> tuple[RuleMatch, ...]:
    return tuple(RuleMatch(rule_id, rule_id in applied) for rule_id in outcome.matched)
