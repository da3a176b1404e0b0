"""The service's reports and administration: stats and the ledger over a window, a tenant's rules,
budgets and cached answers (each call checks the tenant id first), and the deployment's models."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator

from router.decide.budgets import BudgetStatus, month_start, parse_budgets
from router.decide.rule_book import RuleState
from router.domain.errors import RouterError
from router.domain.model_documents import model_document, with_document, without_model
from router.domain.registry import ModelSpec, Registry
from router.domain.rules import Rule
from router.domain.types import LedgerEntry
from router.service.advisor import MAX_FORECAST_DAYS, spend_forecasts, waste_in
from router.service.core import Core
from router.service.report import Stats, figures, grouped
from router.service.validation import (validate_forecast_days, validate_group_by, validate_report, validate_rule_id,
                                       validate_tenant_id)
from router.storage import DEPLOYMENT, TENANT_BUDGETS, Document

log = logging.getLogger(__name__)


class Admin:
    def __init__(self, core: Core, packaged: Registry):
        """packaged: the registry file's models, on which those admins put or retired apply."""
        self.core = core
        self.packaged = packaged
        self._models_lock = threading.Lock()  # one registry change at a time: each builds on the last
        # The documents as this replica last took them from storage: a change is what differs.
        self._models_taken = core.models.all().get(DEPLOYMENT, {})
        self._budgets_taken = core.budget_store.all()

    def stats(self, tenant_id: str, since: float, until: float, group_by: str = "", forecast_days: int = 0) -> Stats:
        """Spend, savings, waste and the rest over a window of a tenant's decisions, optionally grouped;
        with `forecast_days`, the spend forecast from the ledger before `until`."""
        core = self.core
        validate_report(tenant_id, since, until, core.settings)
        validate_group_by(group_by)
        validate_forecast_days(forecast_days, MAX_FORECAST_DAYS)
        entries = list(core.decision_log.ledger(tenant_id, since, until))
        now = core.clock()
        return Stats(
            tenant_id=tenant_id, since=since, until=until, total=figures(entries), group_by=group_by,
            groups=grouped(entries, group_by) if group_by else {},
            alerts=core.decision_log.alerts(tenant_id, since, until),
            budgets=core.budgets.statuses(tenant_id, now),
            waste=waste_in(core, tenant_id, entries, now),
            storm_alerts=core.decision_log.waste_alerts(tenant_id, since, until),
            forecasts=spend_forecasts(core, tenant_id, until, forecast_days) if forecast_days else [],
        )

    def ledger(self, tenant_id: str, since: float, until: float) -> Iterator[LedgerEntry]:
        """The settled calls of a tenant made in [since, until): what export writes."""
        validate_report(tenant_id, since, until, self.core.settings)
        return (e for e in self.core.decision_log.ledger(tenant_id, since, until) if e.settled)

    def rule_states(self, tenant_id: str) -> list[RuleState]:
        core = self.core
        validate_tenant_id(tenant_id, core.settings)
        return [RuleState(e.rule, e.source, core.decision_log.rule_count(tenant_id, e.rule.id, e.since))
                for e in core.rules.entries(tenant_id)]

    def put_rule(self, tenant_id: str, doc: dict) -> Rule:
        validate_tenant_id(tenant_id, self.core.settings)
        return self.core.rules.put(tenant_id, doc, self.core.registry, self.core.clock())

    def delete_rule(self, tenant_id: str, rule_id: str) -> None:
        validate_tenant_id(tenant_id, self.core.settings)
        validate_rule_id(rule_id, self.core.settings)
        self.core.rules.delete(tenant_id, rule_id)

    def set_budgets(self, tenant_id: str, docs: list[dict]) -> list[BudgetStatus]:
        """Replace the tenant's budgets set over gRPC (the config file's stay); all its budgets now."""
        core = self.core
        validate_tenant_id(tenant_id, core.settings)
        budgets, now = parse_budgets(docs), core.clock()
        stored = [b.model_dump(exclude_none=True) for b in budgets]
        if stored:
            core.budget_store.put(tenant_id, TENANT_BUDGETS, stored, now)
        else:
            core.budget_store.delete(tenant_id, TENANT_BUDGETS)
        month = core.decision_log.ledger(tenant_id, month_start(now), math.inf)
        core.budgets.replace(tenant_id, core.settings.tenant(tenant_id).budgets + budgets, month, now)
        log.info("budgets of tenant %s set: %s", tenant_id, stored)
        return core.budgets.statuses(tenant_id, now)

    def invalidate_cache(self, tenant_id: str) -> int:
        """Drop a tenant's cached answers; how many there were."""
        validate_tenant_id(tenant_id, self.core.settings)
        return self.core.cache.invalidate(tenant_id) if self.core.cache is not None else 0

    def put_model(self, doc: dict) -> ModelSpec:
        """Add a model or replace one (a price change): kept, then acting on the very next Route."""
        core = self.core
        with self._models_lock:
            registry, model = with_document(core.registry, doc)
            stored = model_document(model)
            core.models.put(DEPLOYMENT, model.id, stored, core.clock())
            core.registry = registry
        log.info("model %s put: %s", model.id, stored)
        return model

    def retire_model(self, model_id: str) -> None:
        """Route no longer chooses the model; its decisions still settle, priced as estimated."""
        core = self.core
        with self._models_lock:
            registry = without_model(core.registry, model_id)
            core.models.put(DEPLOYMENT, model_id, RETIRED, core.clock())
            core.registry = registry
        log.info("model %s retired", model_id)


    def take_changes(self) -> list[str]:
        """Act on what other replicas changed in the shared documents: models first (rules name them),
        then rules and budgets. Returns the kinds that changed."""
        models = self._take_models()
        rules = self.core.rules.follow(self.core.registry, again=models)
        changed = [kind for kind, took in (("models", models), ("rules", rules), ("budgets", self._take_budgets()))
                   if took]
        if changed:
            log.info("taken from storage, as another replica changed them: %s", ", ".join(changed))
        return changed

    def _take_models(self) -> bool:
        with self._models_lock:
            models = self.core.models.all().get(DEPLOYMENT, {})
            if models == self._models_taken:
                return False
            self.core.registry = registry_with(self.packaged, models)
            self._models_taken = models
        return True

    def _take_budgets(self) -> bool:
        core = self.core
        stored = core.budget_store.all()
        changed = [t for t in set(stored) | set(self._budgets_taken) if stored.get(t) != self._budgets_taken.get(t)]
        now = core.clock()
        for tenant_id in changed:
            document = stored.get(tenant_id, {}).get(TENANT_BUDGETS)
            budgets = parse_budgets(document.body) if document is not None else []
            month = core.decision_log.ledger(tenant_id, month_start(now), math.inf)
            core.budgets.replace(tenant_id, core.settings.tenant(tenant_id).budgets + budgets, month, now)
        self._budgets_taken = stored
        return bool(changed)


RETIRED = {"retired": True}  # a retired model's document


def registry_with(registry: Registry, documents: dict[str, Document]) -> Registry:
    """The packaged registry with the models admins put or retired, in the order they did."""
    for name, document in sorted(documents.items(), key=lambda item: item[1].updated_at):
        try:
            registry = (without_model(registry, name) if document.body == RETIRED
                        else with_document(registry, document.body)[0])
        except RouterError as error:  # the registry file changed under it, e.g. a new baseline
            log.warning("model %s as an admin left it no longer applies, left out: %s", name, error)
    return registry
