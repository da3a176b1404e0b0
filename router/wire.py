"""Conversion between the protobuf messages and the service's plain data: the only place both meet."""

from __future__ import annotations

from router.generated import router_pb2 as pb
from router.types import (
    ChatMessage,
    Constraints,
    Decision,
    FeedbackRecord,
    FeedbackRequest,
    Metadata,
    Reason,
    RouteRequest,
)

_REASONS = {
    Reason.SAFETY_FLOOR: pb.REASON_SAFETY_FLOOR,
    Reason.RULE: pb.REASON_RULE,
    Reason.BANDIT: pb.REASON_BANDIT,
    Reason.ONLY_MODEL_ALLOWED: pb.REASON_ONLY_MODEL_ALLOWED,
    Reason.CACHE_HIT: pb.REASON_CACHE_HIT,
}
_REASON_NAMES = {code: name for name, code in _REASONS.items()}


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
        ),
        metadata=Metadata(
            team=message.metadata.team,
            project=message.metadata.project,
            feature=message.metadata.feature,
            user=message.metadata.user,
        ),
        task_hint=message.task_hint,
        bypass_cache=message.bypass_cache,
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
        ),
        metadata=pb.Metadata(**vars(request.metadata)),
        task_hint=request.task_hint,
        bypass_cache=request.bypass_cache,
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
    )


def feedback_record_to_pb(record: FeedbackRecord) -> pb.FeedbackResponse:
    return pb.FeedbackResponse(reward=record.reward, actual_cost_usd=record.actual_cost_usd)
