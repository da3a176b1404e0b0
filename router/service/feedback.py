"""The feedback side of the service: each answer priced with its real tokens (settle), logged once in
sequence order and charged to its budget (record), then learned in the log's order (the stream);
decisions that waited in vain expired; and at start, the learner, budgets and anomaly history rebuilt
from the log (replay after a crash).

The stream is what every replica on one shared log learns from, so all of them hold the same policy:
each learns every feedback in sequence order, its own as they are logged, the others' when it follows
the log (`catch_up`). Learning is the learner (VW and the neighbour memory), the anomaly watch and the
cache's learned thresholds: whatever must be the same on every replica. Settling a budget and counting
the call in the metrics happen once, on the replica that took the feedback."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import replace

from learners.snapshots import SnapshotStore
from router.decide.budgets import month_start
from router.domain.errors import NotFound, RouterError
from router.domain.registry import ModelSpec, normalised_costs
from router.domain.types import Context, Decision, FeedbackRecord, FeedbackRequest
from router.service.core import Core, best_effort

log = logging.getLogger(__name__)

EXPIRE_BATCH = 500  # decisions expired per transaction: the log's lock is never held long
# How long followers can still collect a leader's answer after it came: they poll every half second at most.
ANSWER_KEPT_SECONDS = 60.0


def reward(quality: float, cost_weight: float, cost_norm: float) -> float:
    """What the design promises to maximise: quality − λ·cost_norm."""
    return quality - cost_weight * cost_norm


class FeedbackLoop:
    def __init__(self, core: Core, snapshots: SnapshotStore, snapshot_seq: int):
        """snapshot_seq: the feedback sequence number the learner's snapshot holds."""
        self.core = core
        self.snapshots = snapshots
        self.snapshot_seq = snapshot_seq
        self.learned_seq = snapshot_seq
        # One lock orders feedback: the log's sequence is the order of learning, so replay after a
        # crash rebuilds exactly the state the learner had.
        self.lock = threading.Lock()

    def feedback(self, requests: list[FeedbackRequest], tenant_id: str | None) -> list[FeedbackRecord | RouterError]:
        """Valid requests' outcomes: each one's record, or the error that refused it alone. The accepted
        ones are logged in one transaction, so a batch costs one fsync."""
        logged = self.core.decision_log.decisions([request.decision_id for request in requests])
        outcomes: list[FeedbackRecord | RouterError] = []
        settled = []
        for request in requests:
            decision, context = logged.get(request.decision_id, (None, None))
            # Another tenant's decision gets the same words as a missing one: its ids stay unknowable.
            if decision is None or tenant_id is not None and decision.tenant_id != tenant_id:
                outcomes.append(NotFound(f"decision {request.decision_id!r} is not in the log"))
                continue
            record = self.settle(decision, request)
            settled.append((len(outcomes), request, decision, context, record))
            outcomes.append(record)
        errors = self.record([(decision, context, record) for _, _, decision, context, record in settled])
        for (i, request, decision, _, record), error in zip(settled, errors):
            outcomes[i] = error or record
            if error is None and self.core.cache is not None and not record.not_called:
                with best_effort("the answer's place in the cache"):
                    self.update_cache(decision, request, record)
            if error is None:
                self.answer_followers(decision, request, record)
        return outcomes

    def answer_followers(self, decision: Decision, request: FeedbackRequest, record: FeedbackRecord) -> None:
        """A leader's feedback: the identical requests that followed it are served its answer when the
        call succeeded, sent its text back and met the tenant's quality bar; else they call the model
        themselves (duplicates.py)."""
        tenant = self.core.settings.tenant(decision.tenant_id)
        if not tenant.dedup_seconds or decision.duplicate_of or decision.cache is not None:
            return  # only a leader holds a claim
        bar = tenant.escalate_below
        good = not (record.error or record.not_called) and (bar is None or record.quality >= bar)
        with best_effort("the answer for the requests that followed it"):
            self.core.in_flight.finish(decision.decision_id, request.response_text if good else None,
                                       self.core.clock() + ANSWER_KEPT_SECONDS)

    def settle(self, decision: Decision, request: FeedbackRequest) -> FeedbackRecord:
        """Price the call with its real tokens; an error is a poor outcome, learned as quality 0.
        A call that failed without reporting tokens, or was never made, costs nothing."""
        registry = self.core.registry
        input_tokens = request.input_tokens if request.input_tokens is not None else decision.estimated_input_tokens
        output_tokens = request.output_tokens if request.output_tokens is not None else decision.estimated_output_tokens
        quality = 0.0 if request.error or request.not_called else float(request.quality)
        candidates = [registry[m] for m in decision.candidates if m in registry]
        chosen = registry.get(decision.model)
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
            actual_cost = self.cost(chosen, input_tokens, output_tokens, request)
            cost_norm = float(normalised_costs(candidates, input_tokens, output_tokens)[candidates.index(chosen)])
        actual_cost, overrun = self.capped(decision, actual_cost)
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
            created_at=self.core.clock(),
            baseline_cost_usd=self.core.baseline_cost(input_tokens, output_tokens),
            overrun_usd=overrun,
        )

    def cost(self, chosen: ModelSpec, input_tokens: int, output_tokens: int, request: FeedbackRequest) -> float:
        """A call's cost; a plan whose review tokens are reported is both calls' (else its estimate's price)."""
        if not chosen.steps or request.review_input_tokens is None or request.review_output_tokens is None:
            return chosen.cost(input_tokens, output_tokens)
        drafter, reviewer = (self.core.registry[step] for step in chosen.steps)
        return (drafter.cost(input_tokens, output_tokens)
                + reviewer.cost(request.review_input_tokens, request.review_output_tokens))

    def capped(self, decision: Decision, cost: float) -> tuple[float, float]:
        """The cost to settle and the overrun. With the tenant's max_cost_overrun, a reported cost past
        that multiple of the estimate settles at it: a budget's overshoot stays bounded by the estimates
        reserved, whatever a feedback claims; the rest is the overrun, recorded beside it, never charged."""
        factor = self.core.settings.tenant(decision.tenant_id).max_cost_overrun
        cap = math.inf if factor is None else factor * decision.estimated_cost_usd
        return (cap, cost - cap) if cost > cap else (cost, 0.0)

    def record(self, outcomes: list[tuple[Decision, Context, FeedbackRecord]]) -> list[RouterError | None]:
        """Log and account outcomes, then learn them in the log's order (which replay after a crash
        and every replica repeat); for each, the error that kept it from the log, if any."""
        with self.lock:
            logged = self.core.decision_log.record_feedback([record for _, _, record in outcomes])
            taken = [(seq, *outcome) for outcome, seq in zip(outcomes, logged) if not isinstance(seq, RouterError)]
            for _, decision, _, record in taken:
                self.account(decision, record)
                self.core.metrics.learned(decision, record)
            if [seq for seq, *_ in taken] == list(range(self.learned_seq + 1, self.learned_seq + 1 + len(taken))):
                self.learn_stream(taken)  # nothing logged in between: no need to read back what was just written
            else:
                self.learn_logged()  # another replica's feedback came in between, and is learned first
        return [seq if isinstance(seq, RouterError) else None for seq in logged]

    def catch_up(self) -> int:
        """Learn what the log holds past what this replica learned (other replicas' feedback), in
        sequence order; how many feedbacks that was."""
        with self.lock:
            return self.learn_logged()

    def learn_logged(self) -> int:
        """Learn what the log holds past `learned_seq`. Holds the lock."""
        return self.learn_stream(list(self.core.decision_log.feedback_after(self.learned_seq)))

    def learn_stream(self, logged: list[tuple[int, Decision, Context, FeedbackRecord]]) -> int:
        """Learn logged feedback in sequence order: the same on every replica. Holds the lock."""
        for seq, decision, context, record in logged:
            self.learn(decision, context, record)
            self.watch(decision, record)
            self.learned_seq = seq
        learned_at = self.core.clock()  # once the whole batch acts on routes
        for *_, record in logged:
            self.core.metrics.streamed(record, learned_at)
        if self.learned_seq - self.snapshot_seq >= self.core.settings.learner.snapshot_every:
            with best_effort("a learner snapshot"):
                self.snapshot()
        return len(logged)

    def learn(self, decision: Decision, context: Context, record: FeedbackRecord) -> None:
        if not learnable(decision, self.core) or record.not_called:
            return
        self.core.policy.learn(context, self.core.registry[decision.model], record.quality, decision.probability)

    def watch(self, decision: Decision, record: FeedbackRecord) -> None:
        """The spend the anomaly detector watches, and a served hit's rating for the cache's learned
        threshold: an alert is logged and stored for Stats (once, however many replicas see it)."""
        core = self.core
        served = decision.cache
        if served is not None and served.similarity < 1.0 and core.cache is not None and not record.not_called:
            core.cache.learn_rating(decision.tenant_id, served.similarity, self.good_answer(record))
        for alert in core.anomalies.observe(decision.tenant_id, decision.metadata.team, record.created_at,
                                            record.actual_cost_usd):
            with best_effort("the alert's record"):
                if core.decision_log.record_alert(alert):
                    log.warning("spend anomaly: %s spent $%.4f this hour against a usual $%.4f (robust z %.1f)",
                                alert.scope, alert.spend_usd, alert.expected_usd, alert.z)

    def good_answer(self, record: FeedbackRecord) -> bool:
        return not record.error and record.quality >= self.core.settings.cache.min_quality

    def account(self, decision: Decision, record: FeedbackRecord) -> None:
        """The call's real cost settles its budget reservation, on the replica that took the feedback."""
        if record.overrun_usd > 0:
            log.warning("cost overrun: decision %s of tenant %s reported $%.4f against an estimate of $%.4f; "
                        "settled at $%.4f (max_cost_overrun), $%.4f recorded as its overrun", decision.decision_id,
                        decision.tenant_id, record.actual_cost_usd + record.overrun_usd,
                        decision.estimated_cost_usd, record.actual_cost_usd, record.overrun_usd)
        self.core.budgets.settle(decision.decision_id, decision.tenant_id, decision.metadata, decision.created_at,
                                 record.actual_cost_usd)

    def update_cache(self, decision: Decision, request: FeedbackRequest, record: FeedbackRecord) -> None:
        """A good answer enters the cache; a poor one served from it leaves it."""
        cache = self.core.cache
        good = self.good_answer(record)
        served = decision.cache
        if served is not None:
            if cache.rate_served(decision.tenant_id, served.entry_id, served.similarity, good):
                log.info("cache entry %d evicted: served for decision %s, quality %.2f",
                         served.entry_id, decision.decision_id, record.quality)
        elif good and request.response_text:
            cache.store_answer(decision.decision_id, request.response_text, decision.category, decision.model)

    def expire_overdue(self) -> int:
        """Decisions that waited `feedback_wait_hours` for feedback in vain are marked expired and,
        where the tenant set an `expired_quality`, learned with it; so nothing waits without bound.
        Returns how many expired."""
        core = self.core
        now = core.clock()
        wait = core.settings.feedback_wait_hours * 3600
        expired = 0
        while batch := core.decision_log.expire_overdue(now - wait, now, EXPIRE_BATCH):
            expired += len(batch)
            for decision, context in batch:
                quality = core.settings.tenant(decision.tenant_id).expired_quality
                if quality is not None and learnable(decision, core):
                    self.learn_expired(decision, context, quality)
        if core.cache is not None:
            core.cache.forget_pending(wait)
        if expired:
            log.info("%d decision(s) expired after waiting %.1f h for feedback", expired, wait / 3600)
        return expired

    def learn_expired(self, decision: Decision, context: Context, quality: float) -> None:
        record = replace(self.settle(decision, FeedbackRequest(decision.decision_id, quality)), expired=True)
        # AlreadyExists: the feedback arrived while the decision was being expired, and it wins.
        self.record([(decision, context, record)])

    def snapshot(self) -> None:
        self.snapshots.save(self.core.policy.learner, self.learned_seq, self.core.decision_log.identity())
        self.snapshot_seq = self.learned_seq

    def replay(self) -> None:
        """Rebuild the learner: the snapshot holds VW's weights up to its sequence number; the
        neighbour memory is rebuilt from every logged outcome, and VW learns the ones after it."""
        core, replayed = self.core, 0
        for seq, decision, context, record in core.decision_log.feedback_after(0):
            # Past every feedback read, learnable or not: the stream goes on after the last one.
            self.learned_seq = max(self.learned_seq, seq)
            if not learnable(decision, core) or record.not_called:
                continue
            model = core.registry[decision.model]
            if seq <= self.snapshot_seq:
                core.policy.learner.remember(context, model, record.quality)
                continue
            core.policy.learn(context, model, record.quality, decision.probability)
            replayed += 1
        if replayed:
            log.info("replayed %d feedback(s) logged after the last snapshot", replayed)


def restore_spending(core: Core) -> None:
    """Budgets and the anomaly detector's history, rebuilt from the log: nothing else keeps them."""
    now = core.clock()
    this_month, history_start = month_start(now), now - core.settings.anomalies.history_hours * 3600
    entries = list(core.decision_log.ledger(None, min(this_month, history_start), math.inf))
    core.budgets.restore((e for e in entries if e.created_at >= this_month), now)
    for e in sorted((e for e in entries if e.settled_at is not None and e.settled_at >= history_start),
                    key=lambda e: e.settled_at):
        core.anomalies.load(e.tenant_id, e.team, e.settled_at, e.cost_usd)


def learnable(decision: Decision, core: Core) -> bool:
    """A cached answer says nothing about the model's choice; a model gone from the registry
    cannot be chosen again."""
    return decision.cache is None and decision.model in core.registry
