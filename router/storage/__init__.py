"""What the service keeps, as interfaces: one Protocol per store, and the plain data they exchange.

The service talks only to these; the cache's store, `CacheEntries`, is declared beside its records in
router/cache/entries.py. The embedded default keeps each store in a SQLite file under data_dir
(router/storage/sqlite/: decisions, cache_entries, documents); router/storage/memory.py keeps them in
memory; router/storage/postgresql/ keeps them in one PostgreSQL database, which many replicas can
share. All three pass the same contract suite (tests/storage/). `open_storage` (router/storage/backends.py)
opens the one the settings name: it lives apart so that the backends, which import this module, are not
imported by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from router.cache.entries import CacheEntries
from router.domain.errors import AlreadyExists, NotFound, RouterError
from router.domain.types import Alert, Context, Decision, FeedbackRecord, LedgerEntry, RuleMatch, WasteAlert


@dataclass(frozen=True)
class RuleCount:
    matched: int  # requests whose facts met the rule's conditions
    applied: int  # of those, the ones its action shaped
    last_matched_at: float | None


class DecisionLog(Protocol):
    """Every decision before its answer leaves, every feedback once, in the order it was learned.

    A decision reads back whole but for what is kept elsewhere: a cache answer's text (the cache
    holds it), the rules that matched (counted by `rule_count`) and what the config says (plan,
    quality bar)."""

    def record_decision(self, decision: Decision, context: Context) -> None: ...

    def decision(self, decision_id: str) -> tuple[Decision, Context]: ...

    def decisions(self, decision_ids: list[str]) -> dict[str, tuple[Decision, Context]]: ...

    def record_rule_matches(self, decision_id: str, tenant_id: str, matches: tuple[RuleMatch, ...],
                            at: float) -> None: ...

    def record_feedback(self, records: list[FeedbackRecord]) -> list[int | RouterError]: ...

    def expire_overdue(self, before: float, at: float, limit: int) -> list[tuple[Decision, Context]]: ...

    def awaiting_feedback(self) -> int: ...

    def feedback_after(self, seq: int) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]: ...

    def ledger(self, tenant_id: str | None, since: float, until: float) -> Iterator[LedgerEntry]: ...

    def rule_count(self, tenant_id: str, rule_id: str, since: float) -> RuleCount: ...

    def rule_arms(self, tenant_id: str, rule_id: str, since: float) -> dict[str, bool]:
        """The decisions the rule matched from `since`, each with whether it acted: its A/B share's
        treated arm (True) and the matched calls left as they were (False)."""

    def feedback_of(self, tenant_id: str, since: float,
                    until: float) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        """The feedback of one tenant's decisions made in [since, until), in sequence order."""

    def record_alert(self, alert: Alert) -> bool: ...  # False: its scope and hour has its alert already

    def alerts(self, tenant_id: str, since: float, until: float) -> list[Alert]: ...

    def record_waste_alert(self, alert: WasteAlert) -> bool:
        """A retry storm's alert, kept once by its key (tenant, first call); False when it was kept
        already, and its calls so far are then brought up to date."""

    def waste_alerts(self, tenant_id: str, since: float, until: float) -> list[WasteAlert]: ...  # by start

    def identity(self) -> str: ...

    def last_feedback_seq(self) -> int: ...

    def check_writable(self) -> None: ...

    def close(self) -> None: ...


class DecisionLookup:
    """`DecisionLog.decision` in terms of the backend's own `decisions`, written once for every backend."""

    decisions: Callable[[list[str]], dict[str, tuple[Decision, Context]]]

    def decision(self, decision_id: str) -> tuple[Decision, Context]:
        found = self.decisions([decision_id])
        if decision_id not in found:
            raise not_in_log(decision_id)
        return found[decision_id]


@dataclass(frozen=True)
class Document:
    body: Any  # as JSON holds it: a rule's dict, a tenant's list of budgets
    updated_at: float


@dataclass(frozen=True)
class DocumentKind:
    """A kind of document an admin puts over gRPC, and the table that keeps it. A kind without a
    name column holds one document per tenant, named as the table: the budgets file was written so,
    and old data directories must still open."""

    table: str
    name_column: str | None

    def check_name(self, name: str) -> None:
        if self.name_column is None and name != self.table:
            raise ValueError(f"a tenant has one {self.table} document, named {self.table!r}, not {name!r}")

    def key(self, tenant_id: str, name: str) -> dict[str, str]:
        """The columns that name a document, with their values (ValueError for a name the kind refuses)."""
        self.check_name(name)
        if self.name_column is None:
            return {"tenant_id": tenant_id}
        return {"tenant_id": tenant_id, self.name_column: name}

    @property
    def selected_name(self) -> str:
        """What a SELECT reads a document's name from: its column, or the one name as a literal."""
        return self.name_column or f"'{self.table}'"


def documents_by_tenant(rows: Iterable[tuple[str, str, str, float]]) -> dict[str, dict[str, Document]]:
    """Stored documents, (tenant, name, body as JSON, updated_at) each, as `TenantDocuments.all` gives them."""
    documents: dict[str, dict[str, Document]] = {}
    for tenant_id, name, body, updated_at in rows:
        documents.setdefault(tenant_id, {})[name] = Document(json.loads(body), updated_at)
    return documents


RULES = DocumentKind("rules", name_column="rule_id")
BUDGETS = DocumentKind("budgets", name_column=None)
TENANT_BUDGETS = BUDGETS.table  # the name of a tenant's one document of budgets
MODELS = DocumentKind("models", name_column="model_id")
# What a tenant decided about each recommendation of the cost advisor (applied, dismissed, ...), by its id.
ADVICE = DocumentKind("advice", name_column="recommendation_id")
DEPLOYMENT = ""  # the tenant id the deployment's own documents (the models) are kept under


class TenantDocuments(Protocol):
    """Documents of one kind that tenants' admins put over gRPC, kept so that they outlive a
    restart; a document is its tenant's, under a name unique within the tenant."""

    def all(self) -> dict[str, dict[str, Document]]: ...  # by tenant, then name

    def put(self, tenant_id: str, name: str, body: Any, at: float) -> None: ...  # adds or replaces

    def delete(self, tenant_id: str, name: str) -> bool: ...  # False: there was none

    def close(self) -> None: ...


@dataclass(frozen=True)
class CounterKey:
    """What one budget counted in one period. Named by the budget's scope and period, never by its
    amount: a limit raised or lowered keeps what was counted against it."""

    scope: str  # "acme", "acme/team=search"
    period: str  # "daily" or "monthly"
    period_key: str  # the UTC day ("2026-11-22") or month ("2026-11")


@dataclass(frozen=True)
class Count:
    spent: float = 0.0  # settled calls' actual costs
    reserved: float = 0.0  # estimates held for calls not settled yet

    @property
    def used(self) -> float:
        # Floats taken away in another order than they were added may leave a hair below zero.
        return self.spent + max(self.reserved, 0.0)

    def admits(self, amount: float, limit: float) -> bool:
        """Whether `amount` more keeps this counter within `limit`."""
        return amount <= limit - self.used

    def plus(self, change: Count) -> Count:
        return Count(self.spent + change.spent, self.reserved + change.reserved)


@dataclass(frozen=True)
class Hold:
    """A call the log holds open (routed, not settled yet), to hold against a counter started after it."""

    decision_id: str
    amount: float
    expires_at: float


class BudgetCounters(Protocol):
    """What budgets have spent and hold reserved, by counter; the limits are each service's own
    (router/decide/budgets.py), passed in. Each call is atomic: concurrent calls, of this process or of
    every replica sharing the store, never see half of one. A reservation is named by its decision.
    Beside SQLite they are kept in memory (budget_counters.py): one process holds them, and its log rebuilds
    them at start; PostgreSQL keeps them in tables every replica reserves on (postgresql/budget_counters.py)."""

    # How long expired reservations may stay held between two sweeps: 0 where a sweep is free (memory);
    # a shared store's sweep is a statement every replica sends.
    sweep_seconds: float

    def reserve(self, decision_id: str, limits: Mapping[CounterKey, float], amount: float, expires_at: float,
                overdraft: bool) -> bool:
        """Hold `amount` on every key of `limits`, or on none when it would take one past its limit
        (unless `overdraft`); True when held. Keys that have no counter yet start at zero."""

    def release(self, decision_id: str) -> None: ...  # the reservation given back; none: nothing to do

    def settle(self, decision_id: str, fallback: Iterable[CounterKey], actual_usd: float) -> None:
        """The call's actual cost replaces its reservation, spent on the reservation's keys; on
        `fallback` (the keys of the periods the call was made in) when the reservation is gone."""

    def counts(self, keys: Iterable[CounterKey]) -> dict[CounterKey, Count]: ...  # of those that exist

    def release_expired(self, now: float) -> int:
        """Give back every reservation expired at `now`, each once whichever replica sweeps; how many."""

    def start(self, key: CounterKey, spent: float, held: list[Hold]) -> bool:
        """Start the counter `key` at `spent`, holding `held` on it, unless it exists: True when this
        call started it. A held call reserved already holds on this key too; one reserved nowhere gets a
        reservation on it alone."""

    def forget_before(self, cutoffs: Mapping[str, str]) -> None:
        """Drop the counters of periods before `cutoffs[period]` that no reservation holds: past
        periods are never read again."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Claim:
    """The decision leading a request in flight, which identical requests follow, and its answer once given."""

    decision_id: str
    expires_at: float  # the claim lapses then, answered or not
    answered: bool = False  # the leader's feedback came in: identical requests no longer follow it
    answer: str | None = None  # what its followers are served; None once answered: the leader failed them


class InFlight(Protocol):
    """Identical requests in flight: per tenant and request key, at most one live unanswered claim,
    the first request's; the others follow its decision. Each call is atomic, also across every replica
    sharing the store (PostgreSQL), so concurrent identical requests elect one leader. Beside SQLite it
    is kept in memory (in_flight.py): one process routes for a data directory."""

    def claim(self, tenant_id: str, key: str, decision_id: str, now: float, expires_at: float) -> Claim:
        """`decision_id`'s new claim when no unanswered one lives at `now`, else the one that does."""

    def withdraw(self, decision_id: str) -> None: ...  # the leader was refused before it was logged

    def finish(self, decision_id: str, answer: str | None, expires_at: float) -> bool:
        """The leader's feedback came: its followers are served `answer` (None: they call the model
        themselves) until `expires_at`. False when `decision_id` holds no claim."""

    def claim_of(self, decision_id: str, now: float) -> Claim | None: ...  # the leader's, unless it lapsed

    def forget_expired(self, now: float) -> int: ...  # lapsed claims dropped; how many

    def close(self) -> None: ...


@dataclass(frozen=True)
class Storage:
    """Every store the service keeps its state in, from one backend."""

    decisions: DecisionLog
    cache: CacheEntries | None  # None: the cache is off
    rules: TenantDocuments
    budgets: TenantDocuments
    models: TenantDocuments  # the models admins put or retired at run time, under DEPLOYMENT
    advice: TenantDocuments  # the cost advisor's recommendations a tenant applied, tested, dismissed
    budget_counters: BudgetCounters
    in_flight: InFlight


# The decision log's refusals, worded once for every backend.


def not_in_log(decision_id: str) -> NotFound:
    return NotFound(f"decision {decision_id!r} is not in the log")


def already_answered(decision_id: str, expired: bool) -> AlreadyExists:
    if expired:
        return AlreadyExists(f"decision {decision_id!r} expired without feedback and was learned with its tenant's "
                             "expired_quality; late feedback is not learned twice")
    return AlreadyExists(f"decision {decision_id!r} already has feedback")
