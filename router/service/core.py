"""What the routing, feedback and administration parts of the service share, and how they treat work
whose loss costs nothing acknowledged."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from learners.bandit import BanditPolicy
from router.cache.semantic import SemanticCache
from router.config import Settings
from router.decide.anomalies import SpendAnomalyDetector
from router.decide.budgets import Budgets
from router.decide.rule_book import RuleBook
from router.domain.errors import StorageUnavailable
from router.domain.registry import Registry
from router.reading.reader import PromptReader
from router.service.metrics import ServiceMetrics
from router.storage import DecisionLog, InFlight, TenantDocuments

log = logging.getLogger(__name__)


@dataclass
class Core:
    """The service's state, one copy shared by its parts: the config, the model registry (replaced,
    never edited, when a model changes), the reader, the stores, budgets, the anomaly watch, the
    learning policy, the metrics, the clock (tests put the service on simulated time) and the requests
    in flight."""

    settings: Settings
    registry: Registry
    reader: PromptReader
    decision_log: DecisionLog
    rules: RuleBook
    budget_store: TenantDocuments
    models: TenantDocuments  # the models admins put or retired at run time, over the registry file's
    budgets: Budgets
    anomalies: SpendAnomalyDetector
    policy: BanditPolicy
    metrics: ServiceMetrics
    cache: SemanticCache | None
    clock: Callable[[], float]
    in_flight: InFlight  # identical requests in flight, and the leader each follows
    advice: TenantDocuments  # what tenants decided about the cost advisor's recommendations

    def baseline_cost(self, input_tokens: int, output_tokens: int) -> float:
        """What always-premium, the registry's baseline model, would cost for these tokens."""
        return self.registry[self.registry.baseline_model].cost(input_tokens, output_tokens)


@contextmanager
def best_effort(what: str) -> Iterator[None]:
    """Work whose loss costs nothing acknowledged (a cache entry, an alert's record, a snapshot the log
    rebuilds): when storage refuses it, the call that did it still succeeds, and the log says so."""
    try:
        yield
    except StorageUnavailable as exc:
        log.error("%s was not kept: %s", what, exc)
