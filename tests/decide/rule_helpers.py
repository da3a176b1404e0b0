"""Tenant routing rules: every operator, refusals naming the field, precedence, and the A/B split.

This module holds what the test_rules_*.py modules share: the facts of a request, rule and
condition builders, and a rule of every kind.
"""

from collections.abc import Sequence

from router.domain.registry import Registry
from router.domain.rules import Condition, Facts, Rule, parse_rule

REGISTRY = Registry.from_yaml()


def facts(**fields) -> Facts:
    """A plain documentation request on a Sunday afternoon; tests override what they look at."""
    base = dict(
        model="gpt-4o",
        provider="openai",
        category="documentation",
        security=False,
        input_tokens=1500,
        team="platform",
        project="docs-site",
        feature="autocomplete",
        user="ada",
        complexity=0.4,
        time_of_day=14,
        day_of_week=6,
        prompt="Please write the README for our Password reset flow",
    )
    return Facts(**{**base, **fields})


def rule(id: str, action: dict, conditions: Sequence[dict] = (), **fields) -> Rule:
    return parse_rule({"id": id, "conditions": list(conditions), "action": action, **fields}, REGISTRY)


def condition(field: str, op: str, value) -> Condition:
    return Condition.model_validate({"field": field, "op": op, "value": value})


# --- a rule of every kind ----------------------------------------------------------------------

PASSWORD = {"field": "prompt", "op": "regex", "value": r"(?i)\bpassw(or)?d\b"}
CHEAP_CHAT = [
    {"field": "category", "op": "in", "value": ["chat", "documentation"]},
    {"field": "model", "op": "neq", "value": "o1"},
]
SMALL_WEEKDAY = [
    {"field": "input_tokens", "op": "gte", "value": 100},
    {"field": "complexity", "op": "lt", "value": 0.5},
    {"field": "day_of_week", "op": "not_in", "value": ["sat", "sun"]},
]
NIGHT_SHIFT = [
    {"field": "time_of_day", "op": "lte", "value": 8},
    {"field": "security", "op": "eq", "value": False},
    {"field": "team", "op": "contains", "value": "ß"},
]
EVERY_KIND = [
    rule("r1", {"type": "block", "message": "no"}, [PASSWORD], priority=1),
    rule("r2", {"type": "route", "model": "gpt-4o", "fallback": "gpt-4o-mini"}, CHEAP_CHAT, ab_share=0.5),
    rule("r3", {"type": "restrict_tiers", "tiers": ["budget"]}, SMALL_WEEKDAY),
    rule("r4", {"type": "set_cost_weight", "cost_weight": 0.0}, NIGHT_SHIFT),
    rule("r5", {"type": "bypass_cache"}, [{"field": "user", "op": "not_in", "value": ["ada"]}]),
    rule("r6", {"type": "route", "model": "o1"}, enabled=False),
]
