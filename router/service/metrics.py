"""Prometheus metrics of one service, for the dashboards and alerts operators already run.

Counted as things happen: routes by tenant, model and reason; cache lookups by result; feedback
learned, its lag behind the decision and its reward; spend; every gRPC call under the names of
go-grpc-prometheus (`grpc_server_started_total`, `grpc_server_handled_total`,
`grpc_server_handling_seconds`), so the stock gRPC dashboards read them as they are. Read when
scraped: what each budget has left, how many updates the learner has made, and the process's
memory, CPU and open files.

Each service has its own registry, so several in one process (tests, notebooks) do not mix. Only
the first `max_tenants` distinct tenants get a label value of their own; later ones are counted as
`other`, so whoever can name tenants (an admin key) cannot grow the series without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector,
                               start_http_server)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, RestrictedRegistry
from prometheus_client.samples import Sample

from router.decide.budgets import Budgets
from router.domain.types import Decision, FeedbackRecord

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)
STALENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# From 0: a negative first bucket would cost the histogram its _sum (OpenMetrics); le=0 holds them all.
REWARD_BUCKETS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
OTHER_TENANTS = "other"
DEFAULT_MAX_TENANTS = 100
UNARY, SERVER_STREAM = "unary", "server_stream"  # grpc_type values, as go-grpc-prometheus names them


class ServiceMetrics:
    def __init__(self, max_tenants: int = DEFAULT_MAX_TENANTS) -> None:
        self.registry = _RegistryWithoutCreated()
        r = self.registry
        self._tenant = TenantLabels(max_tenants)
        self._routes = Counter("banditroute_routes", "Routes answered", ["tenant", "model", "reason"], registry=r)
        self._cache = Counter("banditroute_cache_lookups", "Semantic-cache lookups", ["tenant", "result"],
                              registry=r)
        self._feedback = Counter("banditroute_feedback", "Feedback learned", ["tenant", "model"], registry=r)
        self._lag = Histogram("banditroute_feedback_lag_seconds", "From a decision to its feedback",
                              buckets=LAG_BUCKETS, registry=r)
        self._reward = Histogram("banditroute_reward", "Reward of learned feedback: quality − λ·cost",
                                 buckets=REWARD_BUCKETS, registry=r)
        self._spend = Counter("banditroute_spend_usd", "Actual cost of the calls fed back", ["tenant"], registry=r)
        self._staleness = Histogram("banditroute_policy_staleness_seconds", "From a feedback's settlement, on "
                                    "whichever replica took it, to this one's policy learning it",
                                    buckets=STALENESS_BUCKETS, registry=r)
        rpc_labels = ["grpc_type", "grpc_service", "grpc_method"]
        self._started = Counter("grpc_server_started", "RPCs started on the server", rpc_labels, registry=r)
        self._handled = Counter("grpc_server_handled", "RPCs completed on the server, whatever their status",
                                rpc_labels + ["grpc_code"], registry=r)
        self._handling = Histogram("grpc_server_handling_seconds", "From an RPC's start to its last response",
                                   rpc_labels, buckets=LATENCY_BUCKETS, registry=r)
        # The client's stock set: memory, CPU, open files, start time; the interpreter; the collector.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def routed(self, decision: Decision) -> None:
        self._routes.labels(self._tenant(decision.tenant_id), decision.model, decision.reason).inc()

    def looked_up(self, tenant_id: str, hit: bool) -> None:
        self._cache.labels(self._tenant(tenant_id), "hit" if hit else "miss").inc()

    def learned(self, decision: Decision, record: FeedbackRecord) -> None:
        tenant = self._tenant(decision.tenant_id)
        self._feedback.labels(tenant, decision.model).inc()
        self._lag.observe(max(0.0, record.created_at - decision.created_at))
        self._reward.observe(record.reward)
        self._spend.labels(tenant).inc(record.actual_cost_usd)

    def streamed(self, record: FeedbackRecord, now: float) -> None:
        """A feedback learned from the log's stream (replicas' clocks must agree for this to hold across machines)."""
        self._staleness.observe(max(0.0, now - record.created_at))

    def rpc(self, service: str, method: str, grpc_type: str) -> RpcMetrics:
        """One gRPC method's series, made now at zero so a dashboard's rate() sees the method from the start."""
        return RpcMetrics(self, (grpc_type, service, method))

    def watch(self, budgets: Budgets, clock: Callable[[], float], learner_updates: Callable[[], int],
              learned_seq: Callable[[], int]) -> None:
        """Read the budgets' remaining room, the learner's updates and its place in the feedback log at each scrape."""
        self.registry.register(_ServiceState(budgets, clock, learner_updates, learned_seq, self._tenant))

    def serve(self, port: int, host: str) -> int:
        """Expose /metrics over HTTP; the port it listens on (`port` 0 picks a free one)."""
        server, _ = start_http_server(port, host, registry=self.registry)
        return server.server_port


class RpcMetrics:
    """The started and handled counts and the handling time of one gRPC method."""

    def __init__(self, metrics: ServiceMetrics, labels: tuple[str, str, str]):
        self._labels = labels
        self._started = metrics._started.labels(*labels)
        self._handling = metrics._handling.labels(*labels)
        self._handled = metrics._handled
        self._handled.labels(*labels, "OK")

    def started(self) -> None:
        self._started.inc()

    def handled(self, code: str, seconds: float) -> None:
        """`code` is the status's name, "OK" or "INVALID_ARGUMENT", as py-grpc-prometheus writes it."""
        self._handled.labels(*self._labels, code).inc()
        self._handling.observe(seconds)


class TenantLabels:
    """Each tenant's label value: its own id for the first `cap` distinct tenants seen, `other` for
    any later one (a tenant named "other" shares that value with them)."""

    def __init__(self, cap: int):
        self.cap = cap
        self._named: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, tenant_id: str) -> str:
        if tenant_id in self._named:  # the common case, without the lock: a set's lookup is atomic
            return tenant_id
        with self._lock:
            if tenant_id in self._named or len(self._named) < self.cap:
                self._named.add(tenant_id)
                return tenant_id
        return OTHER_TENANTS


class _RegistryWithoutCreated(CollectorRegistry):
    """A registry that exposes no `<name>_created` series: the text format shows them as gauges of
    their own beside each counter and histogram, doubling the series for no dashboard's use.
    prometheus_client's `disable_created_metrics()` would do it for every registry in the process."""

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            created = family.name + "_created"
            if any(s.name == created for s in family.samples):
                family = _copy(family, [s for s in family.samples if s.name != created])
            yield family

    def restricted_registry(self, names: Iterable[str]) -> RestrictedRegistry:
        """What /metrics?name[]=... collects: the named series, never a `_created` one."""
        return super().restricted_registry(n for n in names if not n.endswith("_created"))


def _copy(family: Metric, samples: list[Sample]) -> Metric:
    """`family` with other samples, leaving the collector's own object as it was."""
    copy = Metric(family.name, family.documentation, family.type, family.unit)
    copy.samples = samples
    return copy


class _ServiceState(Collector):
    def __init__(self, budgets: Budgets, clock: Callable[[], float], learner_updates: Callable[[], int],
                 learned_seq: Callable[[], int], tenant: TenantLabels):
        self._budgets = budgets
        self._clock = clock
        self._learner_updates = learner_updates
        self._learned_seq = learned_seq
        self._tenant = tenant

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        remaining = GaugeMetricFamily("banditroute_budget_remaining_usd", "What a budget has left this period",
                                      labels=["tenant", "team", "project", "period"])
        now = self._clock()
        for tenant_id in list(self._budgets.limits):  # SetBudgets may add one meanwhile
            tenant = self._tenant(tenant_id)
            if tenant != tenant_id:
                continue  # past the cap: budgets of different tenants summed would tell nothing
            for status in self._budgets.statuses(tenant_id, now):
                limit = status.limit
                remaining.add_metric([tenant, limit.team or "", limit.project or "", limit.period], status.remaining)
        yield remaining
        yield CounterMetricFamily("banditroute_learner_updates", "Outcomes the bandit has learned",
                                  value=self._learner_updates())
        yield GaugeMetricFamily("banditroute_learned_feedback_seq", "The feedback log's sequence number this "
                                "replica's policy has learned through: equal on every replica once they caught up",
                                value=self._learned_seq())
