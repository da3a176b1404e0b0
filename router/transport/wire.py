"""Conversion between the protobuf messages and the service's plain data: the only place both meet."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from router.advice.waste import Waste
from router.decide.budgets import BudgetStatus
from router.decide.rule_book import RuleState
from router.domain.errors import InvalidArgument
from router.domain.registry import ModelSpec, Registry
from router.domain.types import (BudgetMode, ChatMessage, Constraints, Decision, FeedbackRecord, FeedbackRequest,
                                 LedgerEntry, Metadata, Reason, RouteRequest)
from router.generated import router_pb2 as pb
from router.service.advisor import ScopeForecast
from router.service.duplicates import LeaderAnswer
from router.service.report import Figures, Stats

# The enums' value names are the domain's words (see the .proto), so one vocabulary holds everywhere.
_REASONS = {reason: pb.Reason.Value(reason) for reason in (
    Reason.SAFETY_FLOOR, Reason.RULE, Reason.BANDIT, Reason.ONLY_MODEL_ALLOWED, Reason.CACHE_HIT, Reason.ESCALATION,
    Reason.DUPLICATE)}
_REASON_NAMES = {code: name for name, code in _REASONS.items()}
PLAN_ROLES = ("draft", "review")


def budget_mode_name(mode: str) -> str:
    """A budget mode as callers read it (the decision log stores the normal mode as "")."""
    return mode or "normal"


_BUDGET_MODES = {mode: pb.BudgetMode.Value(budget_mode_name(mode))
                 for mode in (BudgetMode.NORMAL, BudgetMode.ECONOMY, BudgetMode.OVERDRAFT)}
_BUDGET_MODE_NAMES = {code: budget_mode_name(name) for name, code in _BUDGET_MODES.items()}


def _optional(message, name: str):
    return getattr(message, name) if message.HasField(name) else None


def route_request_from_pb(message: pb.RouteRequest) -> RouteRequest:
    c = message.constraints
    return RouteRequest(
        tenant_id=message.tenant_id,
        messages=tuple(ChatMessage(m.role, m.content) for m in message.messages),
        cost_weight=_optional(message, "cost_weight"),
        constraints=Constraints(
            allowed_models=tuple(c.allowed_models),
            max_cost_usd=_optional(c, "max_cost_usd"),
            expected_output_tokens=_optional(c, "expected_output_tokens"),
            allowed_providers=tuple(c.allowed_providers),
        ),
        metadata=Metadata(
            team=message.metadata.team,
            project=message.metadata.project,
            feature=message.metadata.feature,
            user=message.metadata.user,
        ),
        task_hint=message.task_hint,
        bypass_cache=message.bypass_cache,
        requested_model=message.requested_model,
        escalate_from=message.escalate_from,
    )


def route_request_to_pb(request: RouteRequest) -> pb.RouteRequest:
    c = request.constraints
    return pb.RouteRequest(
        tenant_id=request.tenant_id,
        messages=[pb.ChatMessage(role=m.role, content=m.content) for m in request.messages],
        cost_weight=request.cost_weight,
        constraints=pb.Constraints(
            allowed_models=list(c.allowed_models),
            max_cost_usd=c.max_cost_usd,
            expected_output_tokens=c.expected_output_tokens,
            allowed_providers=list(c.allowed_providers),
        ),
        metadata=pb.Metadata(**vars(request.metadata)),
        task_hint=request.task_hint,
        bypass_cache=request.bypass_cache,
        requested_model=request.requested_model,
        escalate_from=request.escalate_from,
    )


def decision_to_pb(decision: Decision) -> pb.RouteResponse:
    cache = decision.cache
    return pb.RouteResponse(
        decision_id=decision.decision_id,
        model=decision.model,
        provider=decision.provider,
        probability=decision.probability,
        estimated_cost_usd=decision.estimated_cost_usd,
        reason=_REASONS[decision.reason],
        task_category=decision.category,
        security=decision.security,
        fallback_models=list(decision.fallbacks),
        estimated_input_tokens=decision.estimated_input_tokens,
        estimated_output_tokens=decision.estimated_output_tokens,
        cost_weight=decision.cost_weight,
        complexity=decision.complexity,
        cache_hit=cache is not None,
        cached_response=cache.answer if cache else "",
        cache_similarity=cache.similarity if cache else 0.0,
        cost_saved_usd=cache.cost_saved_usd if cache else 0.0,
        rule_id=decision.rule_id,
        budget_mode=_BUDGET_MODES[decision.budget_mode],
        escalated_from=decision.escalated_from,
        quality_bar=decision.quality_bar,
        security_probability=decision.security_probability,
        security_source=decision.security_source,
        duplicate_of=decision.duplicate_of,
        compress_level=decision.compress_level,
        plan=[pb.PlanStep(role=role, model=model, provider=provider)
              for role, (model, provider) in zip(PLAN_ROLES, decision.plan)],
    )


def route_response_to_dict(message: pb.RouteResponse) -> dict:
    """The decision as a caller reads it: plain JSON-able values, the reason by name."""
    return {
        "decision_id": message.decision_id,
        "model": message.model,
        "provider": message.provider,
        "probability": message.probability,
        "estimated_cost_usd": message.estimated_cost_usd,
        "reason": _REASON_NAMES.get(message.reason, "unspecified"),
        "task_category": message.task_category,
        "security": message.security,
        "fallback_models": list(message.fallback_models),
        "estimated_input_tokens": message.estimated_input_tokens,
        "estimated_output_tokens": message.estimated_output_tokens,
        "cost_weight": message.cost_weight,
        "complexity": message.complexity,
        "cache_hit": message.cache_hit,
        "cached_response": message.cached_response,
        "cache_similarity": message.cache_similarity,
        "cost_saved_usd": message.cost_saved_usd,
        "rule_id": message.rule_id,
        "budget_mode": _BUDGET_MODE_NAMES.get(message.budget_mode, "normal"),
        "escalated_from": message.escalated_from,
        "quality_bar": _optional(message, "quality_bar"),
        "plan": [{"role": s.role, "model": s.model, "provider": s.provider} for s in message.plan],
        "security_probability": message.security_probability,
        "security_source": message.security_source,
        "duplicate_of": message.duplicate_of,
        "compress_level": message.compress_level,
    }


def feedback_request_from_pb(message: pb.FeedbackRequest) -> FeedbackRequest:
    return FeedbackRequest(
        decision_id=message.decision_id,
        quality=_optional(message, "quality"),
        input_tokens=_optional(message, "input_tokens"),
        output_tokens=_optional(message, "output_tokens"),
        latency_ms=message.latency_ms,
        error=message.error,
        response_text=_optional(message, "response_text"),
        review_input_tokens=_optional(message, "review_input_tokens"),
        review_output_tokens=_optional(message, "review_output_tokens"),
        not_called=message.not_called,
        time_to_first_token_ms=_optional(message, "time_to_first_token_ms"),
    )


def feedback_request_to_pb(request: FeedbackRequest) -> pb.FeedbackRequest:
    return pb.FeedbackRequest(
        decision_id=request.decision_id,
        quality=request.quality,
        input_tokens=request.input_tokens,
        output_tokens=request.output_tokens,
        latency_ms=request.latency_ms,
        error=request.error,
        response_text=request.response_text,
        review_input_tokens=request.review_input_tokens,
        review_output_tokens=request.review_output_tokens,
        not_called=request.not_called,
        time_to_first_token_ms=request.time_to_first_token_ms,
    )


def feedback_record_to_pb(record: FeedbackRecord) -> pb.FeedbackResponse:
    return pb.FeedbackResponse(reward=record.reward, actual_cost_usd=record.actual_cost_usd,
                               overrun_usd=record.overrun_usd)


def rule_doc_from_pb(message: pb.Rule) -> dict:
    """A rule as the config file writes it; fields left unset take the rule's defaults."""
    for i, condition in enumerate(message.conditions):
        # JSON, the form a rule is checked and stored in, has no NaN or infinity.
        if not _finite_value(condition.value):
            raise InvalidArgument(f"rule.conditions[{i}].value", "holds NaN or an infinity: numbers must be finite")
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _finite_value(value: struct_pb2.Value) -> bool:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return math.isfinite(value.number_value)
    if kind == "list_value":
        return all(_finite_value(item) for item in value.list_value.values)
    if kind == "struct_value":
        return all(_finite_value(item) for item in value.struct_value.fields.values())
    return True


def rule_state_to_pb(state: RuleState) -> pb.RuleState:
    rule = json_format.ParseDict(state.rule.model_dump(mode="json", exclude_none=True), pb.Rule())
    counts = state.counts
    return pb.RuleState(rule=rule, source=state.source, matched=counts.matched, applied=counts.applied,
                        last_matched_unix=counts.last_matched_at or 0.0)


def message_to_dict(message: Message) -> dict:
    """Any response as the clients return it: plain JSON-able values keyed by the proto's field names,
    enums by name, every field present. A field that can be left unset (an `optional` one, such as
    Figures.mean_quality, or a sub-message) is None when it is, as route's quality_bar is: protobuf's
    JSON would leave it out. Counts stay numbers: protobuf's JSON writes 64-bit integers as strings
    (for JavaScript's doubles)."""
    document = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    return _plain(message.DESCRIPTOR, document)


_INT64_TYPES = frozenset({FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
                          FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64})


def _plain(descriptor: Descriptor, document: dict) -> dict:
    """The document MessageToDict made, with its counts as numbers and its unset fields as None, down
    through its sub-messages."""
    for field in descriptor.fields:
        if field.name not in document:
            if field.has_presence:  # unset: MessageToDict prints every other field, set or not
                document[field.name] = None
            continue
        value = document[field.name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            document[field.name] = {key: _as_number(value_field, item) for key, item in value.items()}
        elif field.is_repeated:
            document[field.name] = [_as_number(field, item) for item in value]
        else:
            document[field.name] = _as_number(field, value)
    return document


def _as_number(field, value):
    if field.type in _INT64_TYPES:
        return int(value)
    # A well-known type (a rule condition's Value) has a JSON form of its own, with no int64 in it.
    if field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.full_name.startswith("google.protobuf."):
        return _plain(field.message_type, value)
    return value


def stats_to_pb(stats: Stats) -> pb.StatsResponse:
    return pb.StatsResponse(
        total=_figures_to_pb(stats.total),
        group_by=stats.group_by,
        groups=[pb.Group(value=value, figures=_figures_to_pb(f)) for value, f in stats.groups.items()],
        alerts=[pb.SpendAlert(team=a.team, hour_start_unix=a.hour_start, spend_usd=a.spend_usd,
                              expected_usd=a.expected_usd, z=a.z, detected_unix=a.detected_at) for a in stats.alerts],
        budgets=budget_statuses_to_pb(stats.budgets),
        waste=_waste_to_pb(stats.waste),
        forecasts=[_forecast_to_pb(f) for f in stats.forecasts],
        storm_alerts=[pb.StormAlert(team=a.team, feature=a.feature, caller=a.caller, trigger=a.trigger,
                                    first_decision_id=a.first_decision_id, started_unix=a.started_at,
                                    ended_unix=a.ended_at, calls=a.calls, wasted_usd=a.wasted_usd,
                                    detected_unix=a.detected_at) for a in stats.storm_alerts],
    )


LISTED_STORMS = 20


def _waste_to_pb(waste: Waste) -> pb.Waste:
    return pb.Waste(
        storm_calls=waste.storm_calls, storm_wasted_usd=waste.storm_wasted_usd, timeout_calls=waste.timeout_calls,
        timeout_wasted_usd=waste.timeout_wasted_usd, abandoned_calls=waste.abandoned_calls,
        abandoned_usd=waste.abandoned_usd, wasted_usd=waste.wasted_usd,
        storms=[pb.RetryStorm(trigger=s.trigger, caller=s.caller, team=s.team, feature=s.feature, calls=s.calls,
                              errors=s.errors, first_unix=s.first_at, last_unix=s.last_at, wasted_usd=s.wasted_usd,
                              sample_decision_ids=s.sample_ids) for s in waste.storms[:LISTED_STORMS]],
        timeouts=[pb.TimeoutGroup(team=g.team, feature=g.feature, model=g.model, timeouts=g.timeouts,
                                  answered=g.answered, wasted_usd=g.wasted_usd, max_latency_ms=g.max_latency_ms,
                                  sample_decision_ids=g.sample_ids) for g in waste.timeouts],
        abandoned=[pb.AbandonedGroup(team=g.team, feature=g.feature, abandoned=g.abandoned, decisions=g.decisions,
                                     cost_usd=g.cost_usd, sample_decision_ids=g.sample_ids) for g in waste.abandoned],
    )


def _forecast_to_pb(scope: ScopeForecast) -> pb.SpendForecast:
    f = scope.forecast
    return pb.SpendForecast(
        team=scope.team, method=f.method, history_days=f.history_days, level=f.level,
        days=[pb.ForecastDay(day_start_unix=d.start, mean_usd=d.mean, low_usd=d.low, high_usd=d.high) for d in f.days],
        runouts=[pb.BudgetRunout(scope=r.status.limit.scope, period=r.status.limit.period,
                                 limit_usd=r.status.limit.usd, used_usd=r.status.spent + r.status.reserved,
                                 runs_out_unix=r.runs_out_at or 0.0, may_run_out_unix=r.may_run_out_at or 0.0)
                 for r in scope.runouts],
        history_start_unix=scope.history.start, history_usd=scope.history.spend, today_usd=scope.history.today_spend,
    )


def budget_statuses_to_pb(statuses: list[BudgetStatus]) -> list[pb.BudgetStatus]:
    return [pb.BudgetStatus(scope=b.limit.scope, period=b.limit.period, period_key=b.period_key,
                            limit_usd=b.limit.usd, spent_usd=b.spent, reserved_usd=b.reserved) for b in statuses]


def budget_docs_from_pb(budgets) -> list[dict]:
    """Budgets as the config file writes them: an empty team or project is none, an unset limit absent."""
    return [{key: value for key, value in (
        ("team", b.team or None), ("project", b.project or None),
        ("daily_usd", b.daily_usd if b.HasField("daily_usd") else None),
        ("monthly_usd", b.monthly_usd if b.HasField("monthly_usd") else None)) if value is not None}
        for b in budgets]


def _figures_to_pb(f: Figures) -> pb.Figures:
    return pb.Figures(
        calls=f.calls, settled=f.settled, pending=f.pending, spend_usd=f.spend_usd, baseline_usd=f.baseline_usd,
        savings_usd=f.savings_usd, savings_share=f.savings_share, cache_hits=f.cache_hits,
        cache_hit_rate=f.cache_hit_rate, cache_saved_usd=f.cache_saved_usd, mean_quality=f.mean_quality,
        errors=f.errors, economy=f.economy, overdrafts=f.overdrafts, rule_shaped=f.rule_shaped,
        model_mix=f.model_mix, expired=f.expired, escalations=f.escalations, escalation_rate=f.escalation_rate,
        security_flags=f.security_flags, overruns=f.overruns, overrun_usd=f.overrun_usd,
        deduplicated=f.deduplicated, dedup_saved_usd=f.dedup_saved_usd,
    )


def recommendation_to_pb(document: dict) -> pb.Recommendation:
    """A recommendation as the service keeps it (JSON of its dataclass, with status and measured): the
    message's fields are named as its keys; what only the store needs (when it was applied) stays out."""
    return json_format.ParseDict(_without_nulls(json.loads(json.dumps(document))), pb.Recommendation(),
                                 ignore_unknown_fields=True)


def _without_nulls(value):
    """JSON with its nulls left out: an unset message field, which protobuf's JSON parser would refuse."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def leader_answer_to_pb(answer: LeaderAnswer) -> pb.LeaderAnswerResponse:
    return pb.LeaderAnswerResponse(state=pb.LeaderState.Value(answer.state), leader_decision_id=answer.leader_id,
                                   answer=answer.answer)


def leader_answer_to_dict(message: pb.LeaderAnswerResponse) -> dict:
    return {"state": pb.LeaderState.Name(message.state), "leader_decision_id": message.leader_decision_id,
            "answer": message.answer}


def ledger_entry_to_pb(entry: LedgerEntry) -> pb.LedgerEntry:
    fields = asdict(entry)
    fields["created_unix"] = fields.pop("created_at")
    settled_at = fields.pop("settled_at")
    if settled_at is None and entry.cache_hit:
        settled_at = entry.created_at  # nothing was called: its cost (none) was known when it was served
    fields["settled_unix"] = settled_at or 0.0
    fields["budget_mode"] = budget_mode_name(entry.budget_mode)
    return pb.LedgerEntry(**fields)


_MODEL_FIELDS = [field.name for field in pb.Model.DESCRIPTOR.fields if field.name != "quality_prior"]


def model_doc_from_pb(message: pb.Model) -> dict:
    """A model as an admin's document holds it; optional fields left unset are absent."""
    doc = {name: getattr(message, name) for name in _MODEL_FIELDS
           if not message.DESCRIPTOR.fields_by_name[name].has_presence or message.HasField(name)}
    doc["quality_prior"] = dict(message.quality_prior)
    return doc


def model_to_pb(model: ModelSpec) -> pb.Model:
    return pb.Model(quality_prior=model.quality_prior,
                    **{name: value for name in _MODEL_FIELDS if (value := getattr(model, name)) is not None})


def models_to_pb(registry: Registry) -> pb.ListModelsResponse:
    return pb.ListModelsResponse(models=[model_to_pb(m) for m in registry], baseline_model=registry.baseline_model)
