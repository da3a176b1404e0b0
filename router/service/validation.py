"""Checks on what a caller sends: a bad request is refused, naming the field and the limit, before
anything is stored or computed.

Messages quote what was sent through `reprlib.repr`, which cuts long values: a refusal must not
echo a megabyte back in the status details.
"""

from __future__ import annotations

import math
import reprlib
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import fields

from router.config import LimitSettings, Settings
from router.domain.errors import InvalidArgument
from router.domain.registry import Registry
from router.domain.types import FeedbackRequest, Metadata, RouteRequest
from router.service.report import GROUP_FIELDS

# λ weighs a cost normalised to [0, 1] against a quality in [0, 1]: far beyond this it only
# overflows the exploration's arithmetic.
MAX_COST_WEIGHT = 1000.0
ROLES = frozenset({"system", "user", "assistant"})

# What a character that str.isprintable() refuses is, for the message that refuses it.
_KINDS = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}


def validate_route(request: RouteRequest, settings: Settings, registry: Registry) -> None:
    limits = settings.limits
    _check_tenant_id(request.tenant_id, settings)
    _validate_messages(request, settings.max_prompt_chars, limits)
    _validate_labels(request, limits)
    if request.cost_weight is not None and not 0 <= request.cost_weight <= MAX_COST_WEIGHT:
        raise InvalidArgument("cost_weight", f"must be a number in [0, {MAX_COST_WEIGHT:g}], got {request.cost_weight}")
    _validate_constraints(request, limits, registry)
    if request.escalate_from:
        _check_id("escalate_from", request.escalate_from, limits)


def _validate_messages(request: RouteRequest, max_chars: int, limits: LimitSettings) -> None:
    if not request.messages:
        raise InvalidArgument("messages", "is empty: send at least one user message")
    if len(request.messages) > limits.max_messages:
        raise InvalidArgument("messages", f"has {len(request.messages)} messages; the maximum is {limits.max_messages}")
    for i, message in enumerate(request.messages):
        if message.role not in ROLES:
            raise InvalidArgument(f"messages[{i}].role",
                                  f"must be one of {', '.join(sorted(ROLES))}, got {reprlib.repr(message.role)}")
    total = sum(len(m.content) for m in request.messages)
    if total > max_chars:
        raise InvalidArgument("messages", f"the prompt has {total} characters; the maximum is {max_chars}")
    for i, message in enumerate(request.messages):
        _check_encodable(f"messages[{i}].content", message.content)
    if not any(m.role == "user" and m.content.strip() for m in request.messages):
        raise InvalidArgument("messages", "has no non-empty user message")


def _validate_labels(request: RouteRequest, limits: LimitSettings) -> None:
    """The short names a request carries: attribution, hint and the model the caller would have used."""
    for field in fields(Metadata):
        _check_label(f"metadata.{field.name}", getattr(request.metadata, field.name), limits.max_field_chars)
    _check_label("task_hint", request.task_hint, limits.max_field_chars)
    _check_label("requested_model", request.requested_model, limits.max_field_chars)


def _validate_constraints(request: RouteRequest, limits: LimitSettings, registry: Registry) -> None:
    constraints = request.constraints
    allowed = constraints.allowed_models
    if len(allowed) > limits.max_allowed_models:
        raise InvalidArgument("constraints.allowed_models",
                              f"has {len(allowed)} entries; the maximum is {limits.max_allowed_models}")
    for i, model in enumerate(allowed):
        _check_label(f"constraints.allowed_models[{i}]", model, limits.max_field_chars)
    models = set(registry.ids)  # a plan is offered, never named
    unknown = [m for m in allowed if m not in models]
    if unknown:
        raise InvalidArgument(
            "constraints.allowed_models",
            f"unknown model(s) {reprlib.repr(unknown)}; known: {', '.join(registry.ids)}",
        )
    # A model named twice would be a candidate twice: its chance of being drawn doubles while the
    # probability logged for learning stays that of one copy, and it would be its own fallback.
    repeated = [model for model, count in Counter(allowed).items() if count > 1]
    if repeated:
        raise InvalidArgument("constraints.allowed_models", f"names {', '.join(repeated)} more than once")
    _validate_providers(constraints.allowed_providers, limits, registry)
    if constraints.max_cost_usd is not None and not (
        math.isfinite(constraints.max_cost_usd) and constraints.max_cost_usd > 0
    ):
        raise InvalidArgument("constraints.max_cost_usd", f"must be a finite number > 0, got {constraints.max_cost_usd}")
    if constraints.expected_output_tokens is not None:
        _check_count("constraints.expected_output_tokens", constraints.expected_output_tokens, 1, limits.max_tokens)


def _validate_providers(providers: tuple[str, ...], limits: LimitSettings, registry: Registry) -> None:
    if len(providers) > limits.max_allowed_models:
        raise InvalidArgument("constraints.allowed_providers",
                              f"has {len(providers)} entries; the maximum is {limits.max_allowed_models}")
    for i, provider in enumerate(providers):
        _check_label(f"constraints.allowed_providers[{i}]", provider, limits.max_field_chars)
    known = sorted({registry[m].provider for m in registry.ids})
    unknown = [p for p in providers if p not in known]
    if unknown:
        raise InvalidArgument("constraints.allowed_providers",
                              f"unknown provider(s) {reprlib.repr(unknown)}; known: {', '.join(known)}")


def validate_feedback(request: FeedbackRequest, settings: Settings) -> None:
    limits = settings.limits
    _check_id("decision_id", request.decision_id, limits)
    if request.quality is None and not (request.error or request.not_called):
        raise InvalidArgument("quality", "is required unless error or not_called is set")
    if request.quality is not None and not (math.isfinite(request.quality) and 0.0 <= request.quality <= 1.0):
        raise InvalidArgument("quality", f"must be in [0, 1], got {request.quality}")
    for name in ("input_tokens", "output_tokens", "review_input_tokens", "review_output_tokens"):
        value = getattr(request, name)
        if value is not None:
            _check_count(name, value, 0, limits.max_tokens)
    for name in ("latency_ms", "time_to_first_token_ms"):
        value = getattr(request, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InvalidArgument(name, f"must be a finite number >= 0, got {value}")
    if request.response_text is not None:
        _check_length("response_text", request.response_text, limits.max_response_chars)
        _check_encodable("response_text", request.response_text)


def validate_batch_size(field: str, size: int, limit: int) -> None:
    """A batch carries at least one item, and no more than the limit."""
    _check_count(field, size, 1, limit)


def validate_tenant_id(tenant_id: str, settings: Settings) -> None:
    """The tenant an admin or report request acts on."""
    _check_tenant_id(tenant_id, settings)


def _check_tenant_id(tenant_id: str, settings: Settings) -> None:
    """An id, and not a look-alike of a configured tenant: "Priv" for "priv" would get the settings
    of a tenant the config does not name (keeping prompt text the real one keeps none of, no
    budgets), so it is refused, naming the tenant meant."""
    _check_id("tenant_id", tenant_id, settings.limits)
    meant = settings.look_alike(tenant_id)
    if meant is not None:
        raise InvalidArgument("tenant_id", f"{reprlib.repr(tenant_id)} is not a configured tenant but differs from "
                                           f"{meant!r} only by case, spaces or Unicode form; send {meant!r} exactly")


def validate_rule_id(rule_id: str, settings: Settings) -> None:
    _check_id("rule_id", rule_id, settings.limits)


def validate_report(tenant_id: str, since: float, until: float, settings: Settings) -> None:
    """A report's tenant and its window [since, until) in UNIX seconds."""
    validate_tenant_id(tenant_id, settings)
    for name, value in (("since", since), ("until", until)):
        if not math.isfinite(value):
            raise InvalidArgument(name, f"must be a finite UNIX time, got {value}")
    if not since < until:
        raise InvalidArgument("until", f"must be after since ({since} .. {until})")


def validate_group_by(group_by: str) -> None:
    """No grouping (""), or one of the attribution fields a report can group by."""
    if group_by and group_by not in GROUP_FIELDS:
        raise InvalidArgument("group_by", f"unknown field {reprlib.repr(group_by)}; one of {', '.join(GROUP_FIELDS)}")


def validate_forecast_days(days: int, most: int) -> None:
    if not 0 <= days <= most:
        raise InvalidArgument("forecast_days", f"must be 0 (no forecast) to {most} days, got {days}")


def _check_id(field: str, value: str, limits: LimitSettings) -> None:
    """An identifier: not blank, at most max_id_chars, printable (no NUL, newline or invisible
    character that would make two ids look alike in a log or a report)."""
    if not value.strip():
        raise InvalidArgument(field, "is empty")
    _check_label(field, value, limits.max_id_chars)


def _check_label(field: str, value: str, max_chars: int) -> None:
    """A short name (may be empty): at most max_chars, printable."""
    _check_length(field, value, max_chars)
    if not value.isprintable():
        i, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        kind = _KINDS.get(unicodedata.category(char), "a non-printable character")
        raise InvalidArgument(field, f"contains {kind} (U+{ord(char):04X}) at position {i}; "
                                     "only printable characters are allowed")


def _check_length(field: str, value: str, max_chars: int) -> None:
    if len(value) > max_chars:
        raise InvalidArgument(field, f"has {len(value)} characters; the maximum is {max_chars}")


def _check_encodable(field: str, text: str) -> None:
    """Free text may hold any character but a lone surrogate, which is not Unicode text: nothing
    downstream (the log, the cache, a rule's regex) could encode it. gRPC cannot even carry one;
    an in-process caller can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidArgument(field, f"contains a lone surrogate (U+{ord(text[error.start]):04X}) at position "
                                     f"{error.start}, which is not valid Unicode text") from None


def _check_count(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be in [{low}, {high}], got {value}")


def refuse_invalid(requests: list, validate: Callable[[object], None]) -> tuple[list, list[int]]:
    """A batch's outcomes so far, each invalid request's InvalidArgument in its place (None elsewhere),
    and the indexes of the valid ones."""
    outcomes: list = [None] * len(requests)
    valid = []
    for i, request in enumerate(requests):
        try:
            validate(request)
            valid.append(i)
        except InvalidArgument as exc:
            outcomes[i] = exc
    return outcomes, valid
