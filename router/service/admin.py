"""The service's reports and administration: stats and the ledger over a window, a tenant's rules,
budgets and cached answers. Each call checks the tenant id first."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from router.decide.budgets import BudgetStatus, month_start, parse_budgets
from router.decide.rule_book import RuleState
from router.domain.rules import Rule
from router.domain.types import LedgerEntry
from router.service.core import Core
from router.service.report import Stats, figures, grouped
from router.service.validation import validate_group_by, validate_report, validate_rule_id, validate_tenant_id
from router.storage import TENANT_BUDGETS

log = logging.getLogger(__name__)


class Admin:
    def __init__(self, core: Core):
        self.core = core

    def stats(self, tenant_id: str, since: float, until: float, group_by: str = "") -> Stats:
        """Spend, savings and the rest over a window of a tenant's decisions, optionally grouped."""
        core = self.core
        validate_report(tenant_id, since, until, core.settings)
        validate_group_by(group_by)
        entries = list(core.decision_log.ledger(tenant_id, since, until))
        return Stats(
            tenant_id=tenant_id, since=since, until=until, total=figures(entries), group_by=group_by,
            groups=grouped(entries, group_by) if group_by else {},
            alerts=core.decision_log.alerts(tenant_id, since, until),
            budgets=core.budgets.statuses(tenant_id, core.clock()),
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
