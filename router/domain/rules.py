"""Tenant routing rules (seed 003): conditions on what a request is, and an action to take.

Tenant admins write rules in YAML config or send them over gRPC; both arrive as plain dicts and
pass through `parse_rule`. At routing time `evaluate` runs the enabled rules in priority order
(lower number first, ties by id) against the request's `Facts`:

- a rule matches when all its conditions hold (an empty list matches everything);
- a rule with an `ab_share` below 1 acts on only that share of its matching traffic, chosen by a
  hash of the rule id and the decision id, so the same decision always gets the same answer;
- for each kind of action the first matching rule in priority order decides; block beats
  everything (the service refuses the request); a route action beats restrict_tiers.

The outcome records each kind's deciding rule; combining the kinds as above is the caller's part.

Operators: `contains` is a case-insensitive substring test (an admin looking for "password" in a
prompt means "Password" too); `regex` searches with RE2, case-sensitive unless the pattern says
(?i). RE2 matches in time linear in the prompt's length whatever the pattern, so no tenant's rule
can hang a worker; the price is that backreferences and lookaround are refused when the rule is
parsed. A comparison between values of different kinds is False, never an error.
"""

from __future__ import annotations

import hashlib
import math
import operator
import reprlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

import re2
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from router.domain.categories import CATEGORIES
from router.domain.errors import InvalidArgument
from router.domain.registry import TIERS, Registry

TextField = Literal["model", "provider", "category", "team", "project", "feature", "user", "prompt"]
NumberField = Literal["input_tokens", "complexity", "time_of_day", "day_of_week"]
FlagField = Literal["security"]
FieldName = Literal[TextField, NumberField, FlagField]
Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "regex"]
ActionType = Literal["route", "restrict_tiers", "set_cost_weight", "bypass_cache", "block", "compress_prompt"]

TEXT_FIELDS: tuple[str, ...] = get_args(TextField)
NUMBER_FIELDS: tuple[str, ...] = get_args(NumberField)
FIELDS: tuple[str, ...] = get_args(FieldName)
OPERATORS: tuple[str, ...] = get_args(Operator)

ORDERING_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
MEMBERSHIP_OPS = ("in", "not_in")

# A value outside its field's range can never match (or always does): a typo, not a rule.
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "input_tokens": (0, math.inf),
    "complexity": (0, 1),
    "time_of_day": (0, 23),
    "day_of_week": (0, 6),
}

# A rule is data an admin sends: these bound what one can make every request of its tenant do.
MAX_CONDITIONS = 32
MAX_LIST_ITEMS = 1_000  # values of an in / not_in list
MAX_TEXT_CHARS = 1_000  # a condition's text value: what eq or contains compares with, a regex
MAX_NAME_CHARS = 200
MAX_MESSAGE_CHARS = 1_000

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "route": ("model", "fallback"),
    "restrict_tiers": ("tiers",),
    "set_cost_weight": ("cost_weight",),
    "bypass_cache": (),
    "block": ("message",),
    "compress_prompt": ("level",),
}
REQUIRED_ACTION_FIELD: dict[str, str] = {"route": "model", "restrict_tiers": "tiers", "set_cost_weight": "cost_weight",
                                         "compress_prompt": "level"}
COMPRESSION_LEVELS = ("light", "medium", "aggressive")  # what router/client/compression.py does at each


class Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored setting; a rule is shared across
    # request threads, so it cannot change once parsed.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(Strict):
    field: FieldName = Field(description="what of the request to look at")
    op: Operator = Field(description="how to compare it with value")
    value: Any = Field(description="a list for in/not_in; day_of_week also takes day names")
    _pattern: re2._Regexp | None = PrivateAttr(None)

    @field_validator("value")
    @classmethod
    def _suits_field_and_op(cls, value: Any, info: ValidationInfo) -> Any:
        field, op = info.data.get("field"), info.data.get("op")
        if field is None or op is None:
            return value  # pydantic already reports the bad field or op
        if op in MEMBERSHIP_OPS:
            if not isinstance(value, list) or not value:
                raise ValueError(f"{op} needs a non-empty list, got {reprlib.repr(value)}")
            if len(value) > MAX_LIST_ITEMS:
                raise ValueError(f"{op} takes at most {MAX_LIST_ITEMS} values, got {len(value)}")
            return [_checked_value(field, op, item) for item in value]
        return _checked_value(field, op, value)

    def model_post_init(self, context: Any) -> None:
        # Compiled once here so that matching a request never compiles.
        if self.op == "regex":
            self._pattern = compile_regex(self.value)


class Action(Strict):
    type: ActionType
    # Validated even when left out, so that a route without a model is refused.
    model: str | None = Field(None, validate_default=True, description="route: the model to call")
    fallback: str | None = Field(None, validate_default=True, description="route: the model if the first fails")
    tiers: list[str] = Field(default_factory=list, validate_default=True, description="restrict_tiers: tiers allowed")
    cost_weight: float | None = Field(
        None, ge=0, allow_inf_nan=False, validate_default=True, description="set_cost_weight: λ for the request"
    )
    message: str = Field(
        "", max_length=MAX_MESSAGE_CHARS, validate_default=True, description="block: shown to the caller"
    )
    level: str = Field("", validate_default=True, description="compress_prompt: light, medium or aggressive; the "
                       "client wrappers shorten the prompt so before calling (never a security task's)")

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level and level not in COMPRESSION_LEVELS:
            raise ValueError(f"unknown level {_cut(level)}; known: {', '.join(COMPRESSION_LEVELS)}")
        return level

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, tiers: list[str]) -> list[str]:
        unknown = [tier for tier in tiers if tier not in TIERS]
        if unknown:
            raise ValueError(f"unknown tier(s) {_cut(', '.join(unknown))}; known: {', '.join(TIERS)}")
        return tiers

    @field_validator("model", "fallback", "tiers", "cost_weight", "message", "level")
    @classmethod
    def _belongs_to_type(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind is None:
            return value  # pydantic already reports the bad type
        name = info.field_name
        # Empty counts as absent: a gRPC message carries every field, set or not.
        if value in (None, "", []):
            if REQUIRED_ACTION_FIELD.get(kind) == name:
                raise ValueError(f"a {kind} action needs {name}")
            return value
        if name not in ACTION_FIELDS[kind]:
            takes = ", ".join(ACTION_FIELDS[kind]) or "nothing else"
            raise ValueError(f"does not belong to a {kind} action (it takes {takes})")
        return value


class Rule(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field("", max_length=MAX_NAME_CHARS)
    priority: int = Field(100, description="lower runs first")
    enabled: bool = True
    ab_share: float = Field(1.0, gt=0, le=1, description="share of the matching traffic that gets the action")
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, description="all must hold; none matches everything"
    )
    action: Action


def parse_rule(doc: dict, registry: Registry) -> Rule:
    """A rule from a YAML or gRPC dict; InvalidArgument names the first wrong field, e.g. rule.action.model."""
    try:
        rule = Rule.model_validate(doc)
    except ValidationError as error:
        first = error.errors()[0]
        raise InvalidArgument(_path(first["loc"]), first["msg"].removeprefix("Value error, ")) from None
    check_models(rule, registry)
    return rule


def check_models(rule: Rule, registry: Registry) -> None:
    """Refuse a rule naming a model the registry does not hold."""
    for path, model in _named_models(rule):
        if model not in registry:
            raise InvalidArgument(path, f"unknown model {_cut(model)}; known: {', '.join(registry.ids)}")


@dataclass(frozen=True)
class Facts:
    """What a rule can see of one request."""

    model: str  # the model the caller asked for, "" if none
    provider: str  # that model's provider
    category: str
    security: bool
    input_tokens: int
    team: str
    project: str
    feature: str
    user: str
    complexity: float
    time_of_day: int  # hour, UTC
    day_of_week: int  # 0 = Monday, UTC
    prompt: str

    @classmethod
    def at(cls, timestamp: float, **fields: Any) -> Facts:
        """Facts at a UNIX timestamp: the hour and weekday are taken in UTC."""
        moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
        return cls(time_of_day=moment.hour, day_of_week=moment.weekday(), **fields)


def matches(condition: Condition, facts: Facts) -> bool:
    actual, expected, op = getattr(facts, condition.field), condition.value, condition.op
    if op in ORDERING_OPS:
        return _numbers(actual, expected) and ORDERING_OPS[op](actual, expected)
    if op == "contains":
        return isinstance(actual, str) and expected.casefold() in actual.casefold()
    if op == "regex":
        return isinstance(actual, str) and condition._pattern.search(actual) is not None
    if op == "in":
        return any(_same_kind(actual, item) and actual == item for item in expected)
    if op == "not_in":
        return all(_same_kind(actual, item) and actual != item for item in expected)
    if not _same_kind(actual, expected):
        return False
    return actual == expected if op == "eq" else actual != expected


def in_share(rule_id: str, decision_id: str, share: float) -> bool:
    """Whether this decision falls in the rule's A/B share: the same ids always give the same answer."""
    # The rule id is hashed in so that two rules' shares split the traffic independently.
    digest = hashlib.blake2b(f"{rule_id}:{decision_id}".encode(), digest_size=8).digest()
    # 53 bits fit a float exactly, so the draw stays below 1 and share 1.0 takes everything.
    draw = (int.from_bytes(digest, "big") >> 11) / 2**53
    return draw < share


@dataclass(frozen=True)
class Outcome:
    """What the rules decided for one request: each kind of action and the rule that set it."""

    matched: tuple[str, ...] = ()  # every enabled rule whose conditions held
    applied: tuple[str, ...] = ()  # the rules whose action is in this outcome
    route: Action | None = None
    route_rule: str = ""
    tiers: tuple[str, ...] = ()
    tiers_rule: str = ""
    cost_weight: float | None = None
    cost_weight_rule: str = ""
    bypass_cache_rule: str = ""
    block: Action | None = None
    block_rule: str = ""
    compress_level: str = ""  # light, medium, aggressive; "" for none
    compress_rule: str = ""

    @property
    def bypass_cache(self) -> bool:
        return bool(self.bypass_cache_rule)


def evaluate(rules: Sequence[Rule], facts: Facts, decision_id: str) -> Outcome:
    matched: list[str] = []
    deciding: dict[str, Rule] = {}  # action type -> the first rule selected for it
    for rule in sorted(rules, key=lambda r: (r.priority, r.id)):
        if not rule.enabled or not all(matches(c, facts) for c in rule.conditions):
            continue
        matched.append(rule.id)
        if rule.action.type not in deciding and in_share(rule.id, decision_id, rule.ab_share):
            deciding[rule.action.type] = rule
    route, tiers, weight = deciding.get("route"), deciding.get("restrict_tiers"), deciding.get("set_cost_weight")
    block, compress = deciding.get("block"), deciding.get("compress_prompt")
    return Outcome(
        matched=tuple(matched),
        applied=tuple(rule.id for rule in deciding.values()),
        route=route.action if route else None,
        route_rule=_id(route),
        tiers=tuple(tiers.action.tiers) if tiers else (),
        tiers_rule=_id(tiers),
        cost_weight=weight.action.cost_weight if weight else None,
        cost_weight_rule=_id(weight),
        bypass_cache_rule=_id(deciding.get("bypass_cache")),
        block=block.action if block else None,
        block_rule=_id(block),
        compress_level=compress.action.level if compress else "",
        compress_rule=_id(compress),
    )


def _checked_value(field: str, op: str, value: Any) -> Any:
    """The value, day names turned into numbers, or ValueError saying why it does not suit field and op."""
    if field in TEXT_FIELDS:
        return _checked_text(field, op, value)
    if field in NUMBER_FIELDS:
        return _checked_number(field, op, value)
    if op in ORDERING_OPS or op in ("contains", "regex"):
        raise ValueError(f"{op} does not apply to {field}, which is true or false")
    if not isinstance(value, bool):
        raise ValueError(f"{field} is true or false, got {reprlib.repr(value)}")
    return value


def _checked_text(field: str, op: str, value: Any) -> str:
    if op in ORDERING_OPS:
        raise ValueError(f"{op} compares numbers; {field} is text")
    if not isinstance(value, str):
        raise ValueError(f"{field} is text, got {reprlib.repr(value)}")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"has {len(value)} characters; the maximum is {MAX_TEXT_CHARS}")
    if op == "regex":
        compile_regex(value)
    elif field == "category" and op != "contains" and value not in CATEGORIES:
        raise ValueError(f"unknown category {reprlib.repr(value)}; known: {', '.join(CATEGORIES)}")
    return value


# RE2 would otherwise log every refused pattern to the server's stderr.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_regex(pattern: str) -> re2._Regexp:
    """The pattern compiled by RE2, or ValueError saying why RE2 refuses it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode(errors="replace") if isinstance(error.args[0], bytes) else str(error)
        raise ValueError(f"invalid regex {reprlib.repr(pattern)}: {reason} (rules use RE2 syntax, which matches "
                         "in linear time: no backreferences, no lookaround, repetition counts up to 1000)") from None


def _checked_number(field: str, op: str, value: Any) -> float:
    if op in ("contains", "regex"):
        raise ValueError(f"{op} applies to text; {field} is a number")
    if field == "day_of_week" and isinstance(value, str):
        value = _day_number(value)
    if not _is_number(value) or not _finite(value):
        raise ValueError(f"{field} is a number, got {reprlib.repr(value)}")
    low, high = NUMBER_RANGES[field]
    if not low <= value <= high:
        raise ValueError(f"{field} lies in [{low}, {high}], got {value}")
    return value


def _day_number(name: str) -> int:
    key = name.strip().lower()
    for number, day in enumerate(DAYS):
        if key in (day, day[:3]):
            return number
    raise ValueError(f"unknown day {reprlib.repr(name)}; use 0-6 (0 = Monday), mon..sun or monday..sunday")


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but True is not a token count.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int (from YAML) beyond any float
        return False


def _numbers(a: Any, b: Any) -> bool:
    return _is_number(a) and _is_number(b)


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return _numbers(a, b) or (isinstance(a, str) and isinstance(b, str))


def _named_models(rule: Rule) -> Iterator[tuple[str, str]]:
    """Each model the rule names, with its field path."""
    if rule.action.model:
        yield "rule.action.model", rule.action.model
    if rule.action.fallback:
        yield "rule.action.fallback", rule.action.fallback
    for i, condition in enumerate(rule.conditions):
        # An eq/in condition on an unknown model can never match, so the rule would lie dead;
        # a neq/not_in one merely excludes a model that is not there.
        if condition.field == "model" and condition.op in ("eq", "in"):
            names = condition.value if condition.op == "in" else [condition.value]
            for name in names:
                yield f"rule.conditions[{i}].value", name


def _path(loc: tuple[int | str, ...]) -> str:
    path = "rule"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _cut(text: str, limit: int = 60) -> str:
    """Text for a message, cut short: a refusal must not echo a megabyte back (reprlib.repr does
    the same where the value is quoted)."""
    return text if len(text) <= limit else text[:limit] + "…"


def _id(rule: Rule | None) -> str:
    return rule.id if rule else ""
