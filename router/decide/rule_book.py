"""Every tenant's routing rules: those of the config file (read-only at run time) and those an admin
added over gRPC (stored), evaluated against each request."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from router.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from router.domain.registry import Registry
from router.domain.rules import Facts, Outcome, Rule, check_models, evaluate, parse_rule
from router.storage import Document, RuleCount, TenantDocuments

log = logging.getLogger(__name__)

CONFIG, API = "config", "api"
MAX_RULES = 200  # per tenant over gRPC: every Route tries each one


@dataclass(frozen=True)
class Entry:
    rule: Rule
    source: str  # CONFIG or API
    since: float = 0.0  # when this version of the rule was put: its counts start there


@dataclass(frozen=True)
class RuleState:
    """A rule as an admin lists it."""

    rule: Rule
    source: str
    counts: RuleCount


class RuleBook:
    def __init__(self, config_rules: dict[str, list[Rule]], store: TenantDocuments, registry: Registry):
        self._store = store
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Entry]] = {}
        for tenant_id, rules in config_rules.items():
            for rule in rules:
                check_models(rule, registry)  # a config naming an unknown model does not start
                self._entries.setdefault(tenant_id, {})[rule.id] = Entry(rule, CONFIG)
        self._ordered: dict[str, tuple[Rule, ...]] = {}
        self._taken: dict[str, dict[str, Document]] | None = None
        self.follow(registry)

    def follow(self, registry: Registry, again: bool = False) -> bool:
        """Take the stored rules as they are now, when another replica put or deleted some, or `again`
        (the models they name changed); the config's stay. Whether they were taken."""
        stored = self._store.all()
        with self._lock:
            if stored == self._taken and not again:
                return False
            self._taken = stored
            for tenant_id in self._entries:
                self._entries[tenant_id] = {i: e for i, e in self._entries[tenant_id].items() if e.source == CONFIG}
            for tenant_id, documents in stored.items():
                for document in documents.values():
                    self._load_stored(tenant_id, document.body, document.updated_at, registry)
            self._ordered = {t: self._order(t) for t in self._entries}
        return True

    def _load_stored(self, tenant_id: str, doc: dict, since: float, registry: Registry) -> None:
        try:
            rule = parse_rule(doc, registry)
        except InvalidArgument as exc:
            # e.g. its model left the registry: the rule cannot act, and the service must still start.
            log.warning("stored rule %r of tenant %s skipped: %s", doc.get("id"), tenant_id, exc)
            return
        if rule.id in self._entries.get(tenant_id, {}):
            log.warning("stored rule %r of tenant %s is shadowed by the config's rule of that id", rule.id, tenant_id)
            return
        self._entries.setdefault(tenant_id, {})[rule.id] = Entry(rule, API, since)

    def evaluate(self, tenant_id: str, facts: Facts, decision_id: str) -> Outcome:
        return evaluate(self._ordered.get(tenant_id, ()), facts, decision_id)

    def entries(self, tenant_id: str) -> list[Entry]:
        """A tenant's rules in the order they are tried."""
        with self._lock:
            entries = self._entries.get(tenant_id, {})
            return [entries[rule.id] for rule in self._ordered.get(tenant_id, ())]

    def put(self, tenant_id: str, doc: dict, registry: Registry, now: float) -> Rule:
        """Add a rule, or replace the API rule of the same id (its counts start again); a config
        rule is edited in its file."""
        rule = parse_rule(doc, registry)
        with self._lock:
            self._writable(tenant_id, rule.id, must_exist=False)
            own = self._entries.get(tenant_id, {})
            if rule.id not in own and len(own) >= MAX_RULES:
                raise FailedPrecondition(f"tenant {tenant_id!r} has {len(own)} rules, the most it may have "
                                         "(every Route tries each one): delete one first")
            self._store.put(tenant_id, rule.id, rule.model_dump(mode="json"), now)
            self._entries.setdefault(tenant_id, {})[rule.id] = Entry(rule, API, now)
            self._ordered[tenant_id] = self._order(tenant_id)
        return rule

    def delete(self, tenant_id: str, rule_id: str) -> None:
        with self._lock:
            self._writable(tenant_id, rule_id, must_exist=True)
            self._store.delete(tenant_id, rule_id)
            del self._entries[tenant_id][rule_id]
            self._ordered[tenant_id] = self._order(tenant_id)

    def close(self) -> None:
        self._store.close()

    def _writable(self, tenant_id: str, rule_id: str, must_exist: bool) -> None:
        entry = self._entries.get(tenant_id, {}).get(rule_id)
        if entry is None and must_exist:
            raise NotFound(f"tenant {tenant_id!r} has no rule {rule_id!r}")
        if entry is not None and entry.source == CONFIG:
            raise FailedPrecondition(f"rule {rule_id!r} of tenant {tenant_id!r} comes from the config file: "
                                     "change it there")

    def _order(self, tenant_id: str) -> tuple[Rule, ...]:
        # Evaluation reads this tuple without the lock: it is replaced whole, never changed in place.
        return tuple(sorted((e.rule for e in self._entries.get(tenant_id, {}).values()),
                            key=lambda r: (r.priority, r.id)))
