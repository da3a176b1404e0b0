"""Prometheus metrics of one service, for the dashboards and alerts operators already run.

Counted as things happen: routes by tenant, model and reason; cache lookups by result; feedback
learned, its lag behind the decision and its reward; spend; calls' latency by method and status
code. Read when scraped: what each budget has left, and how many updates the learner has made.
Each service has its own registry, so several in one process (tests, notebooks) do not mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from router.types import Decision, FeedbackRecord

if TYPE_CHECKING:
    from router.service import RouterService

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)
# From 0: a negative first bucket would cost the histogram its _sum (OpenMetrics); le=0 holds them all.
REWARD_BUCKETS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._routes = Counter("banditroute_routes", "Routes answered", ["tenant", "model", "reason"], registry=r)
        self._cache = Counter("banditroute_cache_lookups", "Semantic-cache lookups", ["tenant", "result"],
                              registry=r)
        self._feedback = Counter("banditroute_feedback", "Feedback learned", ["tenant", "model"], registry=r)
        self._lag = Histogram("banditroute_feedback_lag_seconds", "From a decision to its feedback",
                              buckets=LAG_BUCKETS, registry=r)
        self._reward = Histogram("banditroute_reward", "Reward of learned feedback: quality − λ·cost",
                                 buckets=REWARD_BUCKETS, registry=r)
        self._spend = Counter("banditroute_spend_usd", "Actual cost of the calls fed back", ["tenant"], registry=r)
        self._latency = Histogram("banditroute_rpc_seconds", "Time to answer a call", ["method", "code"],
                                  buckets=LATENCY_BUCKETS, registry=r)

    def routed(self, decision: Decision) -> None:
        self._routes.labels(decision.tenant_id, decision.model, decision.reason).inc()

    def looked_up(self, tenant_id: str, hit: bool) -> None:
        self._cache.labels(tenant_id, "hit" if hit else "miss").inc()

    def learned(self, decision: Decision, record: FeedbackRecord) -> None:
        self._feedback.labels(decision.tenant_id, decision.model).inc()
        self._lag.observe(max(0.0, record.created_at - decision.created_at))
        self._reward.observe(record.reward)
        self._spend.labels(decision.tenant_id).inc(record.actual_cost_usd)

    def answered(self, method: str, code: str, seconds: float) -> None:
        self._latency.labels(method, code).observe(seconds)

    def watch(self, service: RouterService) -> None:
        """Read the budgets' remaining room and the learner's updates from `service` at each scrape."""
        self.registry.register(_ServiceState(service))

    def serve(self, port: int, host: str) -> int:
        """Expose /metrics over HTTP; the port it listens on (`port` 0 picks a free one)."""
        server, _ = start_http_server(port, host, registry=self.registry)
        return server.server_port


class _ServiceState(Collector):
    def __init__(self, service: RouterService):
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        service = self._service
        remaining = GaugeMetricFamily("banditroute_budget_remaining_usd", "What a budget has left this period",
                                      labels=["tenant", "scope", "period"])
        now = service.clock()
        for tenant_id in list(service.budgets.limits):  # SetBudgets may add one meanwhile
            for status in service.budgets.statuses(tenant_id, now):
                remaining.add_metric([tenant_id, status.limit.scope, status.limit.period], status.remaining)
        yield remaining
        yield CounterMetricFamily("banditroute_learner_updates", "Outcomes the bandit has learned",
                                  value=service.learner.updates)

