"""Checks on what a caller sends: a bad request is refused, naming the field, before anything is stored."""

from __future__ import annotations

import math

from router.config import Settings
from router.errors import InvalidArgument
from router.registry import Registry
from router.types import FeedbackRequest, RouteRequest

ROLES = frozenset({"system", "user", "assistant"})


def validate_route(request: RouteRequest, settings: Settings, registry: Registry) -> None:
    if not request.tenant_id.strip():
        raise InvalidArgument("tenant_id", "is empty")
    _validate_messages(request, settings.max_prompt_chars)
    if request.cost_weight is not None and not (math.isfinite(request.cost_weight) and request.cost_weight >= 0):
        raise InvalidArgument("cost_weight", f"must be a finite number >= 0, got {request.cost_weight}")
    constraints = request.constraints
    unknown = [m for m in constraints.allowed_models if m not in registry]
    if unknown:
        raise InvalidArgument(
            "constraints.allowed_models",
            f"unknown model(s) {', '.join(unknown)}; known: {', '.join(registry.ids)}",
        )
    if constraints.max_cost_usd is not None and not (
        math.isfinite(constraints.max_cost_usd) and constraints.max_cost_usd > 0
    ):
        raise InvalidArgument("constraints.max_cost_usd", f"must be a finite number > 0, got {constraints.max_cost_usd}")
    if constraints.expected_output_tokens is not None and constraints.expected_output_tokens <= 0:
        raise InvalidArgument(
            "constraints.expected_output_tokens", f"must be > 0, got {constraints.expected_output_tokens}"
        )


def _validate_messages(request: RouteRequest, max_chars: int) -> None:
    if not request.messages:
        raise InvalidArgument("messages", "is empty: send at least one user message")
    for i, message in enumerate(request.messages):
        if message.role not in ROLES:
            raise InvalidArgument(f"messages[{i}].role", f"must be one of {', '.join(sorted(ROLES))}, got {message.role!r}")
    if not any(m.role == "user" and m.content.strip() for m in request.messages):
        raise InvalidArgument("messages", "has no non-empty user message")
    total = sum(len(m.content) for m in request.messages)
    if total > max_chars:
        raise InvalidArgument("messages", f"the prompt has {total} characters; the maximum is {max_chars}")


def validate_feedback(request: FeedbackRequest) -> None:
    if not request.decision_id:
        raise InvalidArgument("decision_id", "is empty")
    if request.quality is None and not request.error:
        raise InvalidArgument("quality", "is required unless error is set")
    if request.quality is not None and not (math.isfinite(request.quality) and 0.0 <= request.quality <= 1.0):
        raise InvalidArgument("quality", f"must be in [0, 1], got {request.quality}")
    for name in ("input_tokens", "output_tokens"):
        value = getattr(request, name)
        if value is not None and value < 0:
            raise InvalidArgument(name, f"must be >= 0, got {value}")
    if not (math.isfinite(request.latency_ms) and request.latency_ms >= 0):
        raise InvalidArgument("latency_ms", f"must be a finite number >= 0, got {request.latency_ms}")
