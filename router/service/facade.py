"""The decision service behind one face: `RouterService` holds today's public methods and hands each
to the part that does it: routing (routing.py), feedback (feedback.py), reports and administration
(admin.py). `open_service` wires it to the stores the settings name."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from learners.bandit import BanditPolicy
from learners.snapshots import SnapshotStore
from learners.vw_bandit import QualityLearner
from router.cache.semantic import SemanticCache
from router.config import Settings
from router.decide.anomalies import SpendAnomalyDetector
from router.decide.budgets import Budgets, BudgetStatus, parse_budgets
from router.decide.rule_book import RuleBook, RuleState
from router.domain.errors import RouterError
from router.domain.registry import ModelSpec, Registry
from router.domain.rules import Rule
from router.domain.types import Decision, FeedbackRecord, FeedbackRequest, LedgerEntry, RouteRequest
from router.reading.reader import PromptReader
from router.service.admin import Admin, registry_with
from router.service.advisor import watch_waste
from router.service.core import Core, best_effort
from router.service.duplicates import LeaderAnswer, answer_follower
from router.service.feedback import FeedbackLoop, restore_spending
from router.service.metrics import ServiceMetrics
from router.service.recommending import decide, default_window, recommendations
from router.service.report import Stats
from router.service.routing import RoutePath
from router.service.validation import (refuse_invalid, validate_batch_size, validate_feedback, validate_report,
                                       validate_tenant_id)
from router.storage import ADVICE, DEPLOYMENT, TENANT_BUDGETS, BudgetCounters, DecisionLog, InFlight, TenantDocuments
from router.storage.backends import open_storage
from router.storage.in_flight import MemoryInFlight
from router.storage.memory import MemoryDocuments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Followed:
    """What one `follow` took from the shared storage."""

    learned: int  # feedbacks other replicas took
    cached: int  # cache entries they added
    uncached: int  # entries they evicted or invalidated, or that expired
    documents: tuple[str, ...]  # the kinds of documents they changed: models, rules, budgets


def _shared(name: str) -> property:
    return property(lambda self: getattr(self.core, name), doc=f"the service's {name}, shared by its parts")


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
        models: TenantDocuments,
        cache: SemanticCache | None = None,
        budget_counters: BudgetCounters | None = None,
        in_flight: InFlight | None = None,
        advice: TenantDocuments | None = None,
        clock: Callable[[], float] = time.time,
        rebuild_learner: bool = False,
        packaged_registry: Registry | None = None,
    ):
        """rebuild_learner: snapshots that do not match the decision log are set aside and the learner
        is rebuilt from the log, where otherwise the service refuses to start (CannotStart).
        packaged_registry: the registry file's models, before those admins put or retired (`registry`).
        budget_counters: what the budgets spent and hold (None: in this process's memory).
        in_flight: the claims of identical requests in flight (None: in this process's memory).
        advice: the tenants' decisions about the cost advisor's recommendations (None: in memory)."""
        budgets = Budgets.from_settings(
            settings, {tenant: parse_budgets(docs[TENANT_BUDGETS].body) for tenant, docs in budget_store.all().items()},
            budget_counters)
        a = settings.anomalies
        learner, snapshot_seq = snapshots.load(
            lambda path: QualityLearner.from_settings(settings.learner, reader.embedder.dim, path),
            decision_log.identity(), decision_log.last_feedback_seq(), set_aside_others=rebuild_learner,
        )
        self.core = Core(settings, registry, reader, decision_log, rules, budget_store, models, budgets,
                         SpendAnomalyDetector(a.history_hours, a.min_history_hours, a.threshold, a.min_spend_usd),
                         BanditPolicy(learner, settings.learner), ServiceMetrics(settings.metrics_max_tenants),
                         cache, clock, in_flight or MemoryInFlight(), advice or MemoryDocuments(ADVICE))
        restore_spending(self.core)
        self.routing = RoutePath(self.core)
        self.feedback_loop = FeedbackLoop(self.core, snapshots, snapshot_seq)
        self.core.metrics.watch(budgets, clock, lambda: self.learner.updates, lambda: self.feedback_loop.learned_seq)
        self.admin = Admin(self.core, packaged_registry or registry)
        self.feedback_loop.replay()

    settings = _shared("settings")
    registry = _shared("registry")
    reader = _shared("reader")
    decision_log = _shared("decision_log")
    cache = _shared("cache")
    budgets = _shared("budgets")
    policy = _shared("policy")
    metrics = _shared("metrics")
    clock = _shared("clock")

    @property
    def learner(self) -> QualityLearner:
        return self.core.policy.learner

    def route(self, request: RouteRequest) -> Decision:
        """Decide, in order of authority: the safety floor, the tenant's rules, its budgets, the bandit."""
        outcome, = self.route_batch([request])
        if isinstance(outcome, RouterError):
            raise outcome
        return outcome

    def route_batch(self, requests: list[RouteRequest]) -> list[Decision | RouterError]:
        """Decide for many prompts, read as one batch: each one's decision, or the error that refused it alone."""
        return self.routing.route_batch(requests)

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
        outcomes, valid = refuse_invalid(requests, lambda r: validate_feedback(r, self.settings))
        for i, outcome in zip(valid, self.feedback_loop.feedback([requests[i] for i in valid], tenant_id)):
            outcomes[i] = outcome
        return outcomes

    def recommendations(self, tenant_id: str, since: float = 0.0, until: float = 0.0,
                        include_dismissed: bool = False) -> list[dict]:
        """The cost advisor's recommendations for a window of the tenant's ledger (the last 30 days by
        default), each as JSON with its status; see service/recommending.py."""
        validate_tenant_id(tenant_id, self.settings)
        since, until = default_window(since, until, self.clock())
        validate_report(tenant_id, since, until, self.settings)
        return recommendations(self.core, tenant_id, since, until, include_dismissed)

    def decide_recommendation(self, tenant_id: str, recommendation_id: str, action: str,
                              ab_share: float | None = None, since: float = 0.0, until: float = 0.0) -> dict:
        """Apply, dismiss or roll back one recommendation; it as Recommendations now lists it."""
        validate_tenant_id(tenant_id, self.settings)
        since, until = default_window(since, until, self.clock())
        validate_report(tenant_id, since, until, self.settings)
        return decide(self.core, self.admin.put_rule, self.admin.delete_rule, tenant_id, recommendation_id, action,
                      ab_share, since, until)

    def leader_answer(self, decision_id: str, tenant_id: str | None = None) -> LeaderAnswer:
        """What became of the decision that `decision_id` followed (RouteResponse.duplicate_of): its
        answer (the follower is then closed at no cost), not yet, or none: call the model yourself."""
        return answer_follower(self.core, self.feedback_loop, decision_id, tenant_id)

    def follow(self) -> Followed:
        """Take what other replicas sharing this storage did: their feedback learned in the log's order,
        their cache entries indexed (or dropped), their rules, budgets and models acted on. A replica's
        server calls it several times a second; alone on its storage, a service never needs it."""
        changed = self.admin.take_changes()
        learned = self.feedback_loop.catch_up()
        added, removed = self.cache.follow() if self.cache is not None else (0, 0)
        return Followed(learned, added, removed, tuple(changed))

    def expire_overdue(self) -> int:
        """Decisions that waited `feedback_wait_hours` for feedback in vain: expired; how many. Lapsed
        claims of requests in flight go with them."""
        with best_effort("dropping lapsed claims of requests in flight"):
            self.core.in_flight.forget_expired(self.clock())
        return self.feedback_loop.expire_overdue()

    def watch_waste(self) -> int:
        """Alert the retry storms of the last minutes (the server runs it with the expiry); how many new."""
        return watch_waste(self.core, self.clock())

    def snapshot(self) -> None:
        self.feedback_loop.snapshot()

    def stats(self, tenant_id: str, since: float, until: float, group_by: str = "", forecast_days: int = 0) -> Stats:
        return self.admin.stats(tenant_id, since, until, group_by, forecast_days)

    def ledger(self, tenant_id: str, since: float, until: float) -> Iterator[LedgerEntry]:
        return self.admin.ledger(tenant_id, since, until)

    def rule_states(self, tenant_id: str) -> list[RuleState]:
        return self.admin.rule_states(tenant_id)

    def put_rule(self, tenant_id: str, doc: dict) -> Rule:
        return self.admin.put_rule(tenant_id, doc)

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        self.admin.delete_rule(tenant_id, rule_id)

    def set_budgets(self, tenant_id: str, docs: list[dict]) -> list[BudgetStatus]:
        return self.admin.set_budgets(tenant_id, docs)

    def invalidate_cache(self, tenant_id: str) -> int:
        return self.admin.invalidate_cache(tenant_id)

    def models(self) -> Registry:
        return self.core.registry

    def put_model(self, doc: dict) -> ModelSpec:
        return self.admin.put_model(doc)

    def retire_model(self, model_id: str) -> None:
        self.admin.retire_model(model_id)

    def close(self) -> None:
        core = self.core
        with self.feedback_loop.lock:
            with best_effort("the last learner snapshot"):
                self.snapshot()
            core.decision_log.close()
        core.rules.close()
        core.budget_store.close()
        core.budgets.counters.close()
        core.models.close()
        core.in_flight.close()
        core.advice.close()
        if core.cache is not None:
            core.cache.close()


def open_service(settings: Settings, reader: PromptReader, registry: Registry | None = None,
                 clock: Callable[[], float] = time.time, rebuild_learner: bool = False) -> RouterService:
    """A service on the stores `settings.storage` names (SQLite files under data_dir by default), with
    learner snapshots under data_dir."""
    storage = open_storage(settings)
    packaged = registry or Registry.from_yaml(settings.registry_path)
    # The models admins put or retired at run time, over the registry file's.
    registry = registry_with(packaged, storage.models.all().get(DEPLOYMENT, {}))
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
        budget_counters=storage.budget_counters,
        in_flight=storage.in_flight,
        advice=storage.advice,
        models=storage.models,
        cache=cache,
        clock=clock,
        rebuild_learner=rebuild_learner,
        packaged_registry=packaged,
    )
