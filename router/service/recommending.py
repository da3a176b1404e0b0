"""The cost advisor's recommendations as the service keeps them: found in a tenant's ledger and logged
feedback (router/advice), joined with what the tenant decided about each (its ADVICE documents), applied
as routing rules with an A/B share, and measured afterwards on the rule's two arms in the ledger.

A recommendation travels as JSON (its dataclass's fields, with status, note and measured): the same
document is stored when the tenant decides, so an applied one is still shown, with the evidence and
estimate it was applied on, after its finding has gone (the traffic moved, which was the point).
"""

from __future__ import annotations

import math
from dataclasses import asdict

from router.advice.evidence import mean_interval, on_grid
from router.advice.recommendations import (DAYS_PER_MONTH, Evidence, Recommendation, find_cacheable,
                                           find_cheaper_models, find_output_heavy)
from router.advice.waste import AbandonedGroup, RetryStorm, TimeoutGroup
from router.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from router.domain.types import LedgerEntry
from router.service.advisor import Runout, spend_forecasts, waste_in
from router.service.core import Core

PENDING, TESTING, APPLIED, DISMISSED, ROLLED_BACK = "pending", "testing", "applied", "dismissed", "rolled_back"
ACTIONS = ("apply", "dismiss", "roll_back")
DAY_SECONDS = 86400.0
DEFAULT_WINDOW_DAYS = 30


def recommendations(core: Core, tenant_id: str, since: float, until: float,
                    include_dismissed: bool = False) -> list[dict]:
    """What the window's ledger advises, with each one's status; those applied, tested or rolled back
    earlier are kept in the list, measured, even when no longer found. Largest monthly saving first."""
    stored = {name: d.body for name, d in core.advice.all().get(tenant_id, {}).items()}
    found = {r.id: asdict(r) for r in _findings(core, tenant_id, since, until)}
    listed = []
    for rec_id in found.keys() | stored.keys():
        document = _with_status(found.get(rec_id), stored.get(rec_id))
        if document["status"] == DISMISSED and not include_dismissed:
            continue
        if document["status"] in (TESTING, APPLIED, ROLLED_BACK):
            document["measured"] = measured(core, tenant_id, stored[rec_id], core.clock())
        listed.append(document)
    return sorted(listed, key=lambda d: (-d["monthly_saving_usd"], d["id"]))


def decide(core: Core, put_rule, delete_rule, tenant_id: str, rec_id: str, action: str, ab_share: float | None,
           since: float, until: float) -> dict:
    """Apply (its rule put, with `ab_share` of the matching traffic), dismiss or roll back one
    recommendation; the stored document, as Recommendations then lists it."""
    if action not in ACTIONS:
        raise InvalidArgument("action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    listed = {d["id"]: d for d in recommendations(core, tenant_id, since, until, include_dismissed=True)}
    if rec_id not in listed:
        raise NotFound(f"recommendation {rec_id!r} is not among tenant {tenant_id!r}'s for this window")
    document, now = listed[rec_id], core.clock()
    if action == "apply":
        document = _applied(document, put_rule, tenant_id, 1.0 if ab_share is None else ab_share, now)
    elif action == "dismiss":
        if document["status"] in (TESTING, APPLIED):
            raise FailedPrecondition(f"recommendation {rec_id!r} is {document['status']}: roll its rule back first")
        document = {**document, "status": DISMISSED, "note": "", "dismissed_unix": now}
    else:
        if document["status"] not in (TESTING, APPLIED):
            raise FailedPrecondition(f"recommendation {rec_id!r} is {document['status']}: nothing to roll back")
        delete_rule(tenant_id, document["rule_id"])
        document = {**document, "status": ROLLED_BACK, "rolled_back_unix": now}
    stored = {k: v for k, v in document.items() if k != "measured"}
    core.advice.put(tenant_id, rec_id, stored, now)
    # As the next listing shows it, without finding everything again: what was decided, and measured.
    return stored if stored["status"] == DISMISSED else {**stored, "measured": measured(core, tenant_id, stored, now)}


def _applied(document: dict, put_rule, tenant_id: str, ab_share: float, now: float) -> dict:
    if not 0 < ab_share <= 1:
        raise InvalidArgument("ab_share", f"must be in (0, 1], got {ab_share}")
    rule = document.get("suggested_rule")
    if rule is None:
        raise FailedPrecondition(f"recommendation {document['id']!r} has no rule to apply: it says what to change "
                                 "by hand")
    put_rule(tenant_id, {**rule, "ab_share": ab_share})
    applied_at = document.get("applied_unix") if document["status"] in (TESTING, APPLIED) else None
    return {**document, "status": TESTING if ab_share < 1 else APPLIED, "note": "", "rule_id": rule["id"],
            "ab_share": ab_share, "applied_unix": applied_at or now}


def measured(core: Core, tenant_id: str, stored: dict, now: float) -> dict:
    """The rule's arms since it was applied: the calls it acted on against those its share left alone.
    Without a control arm (a share of 1) the calls are set against the scope's cost per call as logged
    before the rule."""
    since = stored["applied_unix"]
    arms = core.decision_log.rule_arms(tenant_id, stored["rule_id"], since)
    settled = [e for e in core.decision_log.ledger(tenant_id, since, now + 1) if e.decision_id in arms and e.settled]
    treated = _arm([e for e in settled if arms[e.decision_id]])
    control = _arm([e for e in settled if not arms[e.decision_id]])
    before = control["mean_cost_usd"] if control["calls"] else _cost_per_call_before(stored)
    difference = before - treated["mean_cost_usd"] if treated["calls"] else 0.0
    days = max((now - since) / DAY_SECONDS, 1 / 24)
    return {"rule_id": stored["rule_id"], "applied_unix": since, "ab_share": stored["ab_share"],
            "treated": treated, "control": control, "saved_usd": treated["calls"] * difference,
            "monthly_saving_usd": len(settled) / days * DAYS_PER_MONTH * difference}


def _arm(entries: list[LedgerEntry]) -> dict:
    cost = sum(e.cost_usd for e in entries)
    rated = [e.quality for e in entries if e.quality is not None and not (e.expired or e.not_called)]
    return {"calls": len(entries), "cost_usd": cost, "mean_cost_usd": cost / len(entries) if entries else 0.0,
            "quality": asdict(mean_interval(rated)) if rated else None}


def _cost_per_call_before(stored: dict) -> float:
    """What a call of the scope cost as logged before the rule (the projection's window), 0 without one."""
    projection = stored.get("projection")
    if projection is None or not projection["quality_before"]["n"]:
        return 0.0
    return projection["cost_before_usd"] / projection["quality_before"]["n"]


def _with_status(found: dict | None, stored: dict | None) -> dict:
    """A finding with what the tenant decided about it; a dismissed one is pending again once its
    evidence changed; one decided on and no longer found is shown as it was decided."""
    if stored is None:
        return {**found, "status": PENDING, "note": ""}
    if found is None:
        return {**stored, "note": stored.get("note") or "no longer found in this window: shown as it was decided"}
    if stored["status"] == DISMISSED and stored["evidence_key"] != found["evidence_key"]:
        return {**found, "status": PENDING, "note": "its evidence changed since it was dismissed"}
    if stored["status"] == DISMISSED:
        return {**found, "status": DISMISSED, "note": ""}
    return {**stored, "note": ""}  # applied, testing or rolled back: as decided, with the estimate it was decided on


def _findings(core: Core, tenant_id: str, since: float, until: float) -> list[Recommendation]:
    entries = list(core.decision_log.ledger(tenant_id, since, until))
    events = list(core.decision_log.feedback_of(tenant_id, since, until))
    days = (until - since) / DAY_SECONDS
    registry = core.registry
    waste = waste_in(core, tenant_id, entries, core.clock())
    found = [*find_cheaper_models(entries, events, registry, days),
             *find_cacheable(entries, days, core.settings.cache.ttl_seconds),
             *find_output_heavy(entries, registry, days),
             *(_storm(s, days) for s in waste.storms if s.wasted_usd > 0),
             *(_timeouts(g, days) for g in waste.timeouts),
             *(_abandoned(g) for g in waste.abandoned)]
    for scope in spend_forecasts(core, tenant_id, until, 7):
        found += [_runout(r) for r in scope.runouts if r.runs_out_at is not None]
    return found


def _by_hand(rec_id: str, category: str, title: str, scope: dict[str, str], evidence: Evidence, current_usd: float,
             projected_usd: float, days: float, confidence: float, risk: str, key: str) -> Recommendation:
    """A recommendation no rule carries out: the tenant changes its client, its config or its limits."""
    current, projected = current_usd / days * DAYS_PER_MONTH, projected_usd / days * DAYS_PER_MONTH
    return Recommendation(id=rec_id, category=category, title=title, scope=scope, evidence=evidence,
                          current_monthly_usd=current, projected_monthly_usd=projected,
                          monthly_saving_usd=current - projected, confidence=confidence, risk=risk, evidence_key=key)


def _storm(storm: RetryStorm, days: float) -> Recommendation:
    scope = {"user": storm.user} if storm.user else {"team": storm.team, "feature": storm.feature}
    title = (f"{storm.caller} sent one prompt {storm.calls} times ({storm.trigger.replace('_', ' ')}): fix the "
             "client's retry loop (back off; after an error use the decision's fallbacks)")
    evidence = Evidence(storm.calls, storm.calls - 1, None, None, storm.sample_ids,
                        {"trigger": storm.trigger, "errors": storm.errors, "first_unix": storm.first_at})
    return _by_hand(f"retry_storm-{storm.prompt_key[:12]}-{int(storm.first_at)}", "retry_storm", title, scope,
                    evidence, storm.cost_usd, storm.cost_usd - storm.wasted_usd, days, 1.0, "low",
                    f"calls {on_grid(math.log10(storm.calls), 0.5)}")


def _timeouts(group: TimeoutGroup, days: float) -> Recommendation:
    scope = {"team": group.team, "feature": group.feature, "model": group.model}
    title = (f"{group.timeouts} of {group.answered} calls of team {group.team or '-'}, feature {group.feature or '-'} "
             f"on {group.model} ran past the tenant's timeout_ms and their answers went unused: route them to a "
             "faster model, or raise the limit the client gives up at")
    evidence = Evidence(group.answered, group.timeouts, None, None, group.sample_ids,
                        {"max_latency_ms": group.max_latency_ms})
    return _by_hand(f"timeouts-{group.team}-{group.feature}-{group.model}", "timeouts", title, scope, evidence,
                    group.wasted_usd, 0.0, days, 1.0, "medium", f"share {on_grid(group.share, 0.1)}")


def _abandoned(group: AbandonedGroup) -> Recommendation:
    scope = {"team": group.team, "feature": group.feature}
    title = (f"{group.abandoned} of {group.decisions} decisions of team {group.team or '-'}, feature "
             f"{group.feature or '-'} never got feedback: send Feedback (not_called when the model was not "
             "called), or the router learns nothing from them and budgets hold their estimates until they expire")
    evidence = Evidence(group.decisions, group.abandoned, None, None, group.sample_ids, {"estimated_usd": group.cost_usd})
    return _by_hand(f"abandoned-{group.team}-{group.feature}", "abandoned", title, scope, evidence, 0.0, 0.0, 1.0,
                    1.0, "low", f"share {on_grid(group.share, 0.1)}")


def _runout(runout: Runout) -> Recommendation:
    status, limit = runout.status, runout.status.limit
    title = (f"the {limit.period} budget {limit.scope} (${limit.usd:.2f}) is forecast to run out before its period "
             "ends: raise it, or route more of its traffic to cheaper models")
    evidence = Evidence(0, 0, None, None, (), {"runs_out_unix": runout.runs_out_at,
                                               "may_run_out_unix": runout.may_run_out_at,
                                               "used_usd": status.spent + status.reserved})
    return _by_hand(f"budget_runout-{limit.scope}-{limit.period}-{status.period_key}", "budget_runout", title,
                    {"budget": limit.scope, "period": limit.period}, evidence, 0.0, 0.0, 1.0, 0.9, "high",
                    status.period_key)


def default_window(since: float, until: float, now: float) -> tuple[float, float]:
    """A request's window: until 0 is now, since 0 is DEFAULT_WINDOW_DAYS before until."""
    until = until or now
    return since or until - DEFAULT_WINDOW_DAYS * DAY_SECONDS, until
