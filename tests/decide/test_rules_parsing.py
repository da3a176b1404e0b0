"""Parsing rules: refusals naming the field, what a rule and a tenant may carry, and round trips."""

import pytest

from router.domain.errors import InvalidArgument
from router.domain.rules import (MAX_CONDITIONS, MAX_LIST_ITEMS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
                                 evaluate, parse_rule)
from tests.decide.rule_helpers import EVERY_KIND, REGISTRY, facts, rule

# --- refusals ----------------------------------------------------------------------------------

GOOD = {
    "id": "cheap-docs",
    "conditions": [{"field": "category", "op": "eq", "value": "documentation"}],
    "action": {"type": "route", "model": "deepseek-chat"},
}


def changed(path: str, value) -> dict:
    """GOOD with one key set, e.g. changed("conditions.0.op", "like")."""
    doc = {**GOOD, "conditions": [dict(c) for c in GOOD["conditions"]], "action": dict(GOOD["action"])}
    *parents, last = path.split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return doc


def cond(field: str, op: str, value) -> dict:
    return {**GOOD, "conditions": [{"field": field, "op": op, "value": value}]}


def act(**action) -> dict:
    return {**GOOD, "action": action}


@pytest.mark.parametrize(
    "doc, field, says",
    [
        (changed("conditions.0.field", "colour"), "rule.conditions[0].field", "Input should be"),
        (changed("conditions.0.op", "like"), "rule.conditions[0].op", "Input should be"),
        (cond("prompt", "regex", "(unclosed"), "rule.conditions[0].value", "'(unclosed'"),
        (cond("team", "gt", "m"), "rule.conditions[0].value", "gt compares numbers"),
        (cond("input_tokens", "gt", "2000"), "rule.conditions[0].value", "is a number"),
        (cond("input_tokens", "contains", "2"), "rule.conditions[0].value", "applies to text"),
        (cond("complexity", "lt", 1.5), "rule.conditions[0].value", "lies in"),
        (cond("security", "gt", 0), "rule.conditions[0].value", "true or false"),
        (cond("team", "in", "platform"), "rule.conditions[0].value", "non-empty list"),
        (cond("team", "in", []), "rule.conditions[0].value", "non-empty list"),
        (cond("category", "eq", "poetry"), "rule.conditions[0].value", "unknown category"),
        (cond("day_of_week", "eq", "someday"), "rule.conditions[0].value", "unknown day"),
        (cond("model", "in", ["gpt-4o", "gpt-9"]), "rule.conditions[0].value", "unknown model gpt-9"),
        (act(type="route", model="gpt-9"), "rule.action.model", "unknown model gpt-9; known: "),
        (act(type="route", model="gpt-4o", fallback="gpt-9"), "rule.action.fallback", "unknown model gpt-9"),
        (act(type="route"), "rule.action.model", "needs model"),
        (act(type="route", model="gpt-4o", tiers=["mid"]), "rule.action.tiers", "does not belong"),
        (act(type="restrict_tiers", tiers=["gold"]), "rule.action.tiers", "unknown tier"),
        (act(type="restrict_tiers"), "rule.action.tiers", "needs tiers"),
        (act(type="set_cost_weight"), "rule.action.cost_weight", "needs cost_weight"),
        (act(type="set_cost_weight", cost_weight=-1), "rule.action.cost_weight", "greater than or equal"),
        (act(type="set_cost_weight", cost_weight=float("inf")), "rule.action.cost_weight", "finite"),
        (act(type="block", model="gpt-4o"), "rule.action.model", "does not belong"),
        (act(type="teleport"), "rule.action.type", "Input should be"),
        (act(type="block", colour="red"), "rule.action.colour", "Extra inputs"),
        (changed("ab_share", 0), "rule.ab_share", "greater than 0"),
        (changed("ab_share", 1.5), "rule.ab_share", "less than or equal to 1"),
        (changed("id", ""), "rule.id", "at least 1 character"),
        (changed("id", "no spaces"), "rule.id", "pattern"),
        (changed("id", "x" * 65), "rule.id", "at most 64"),
        (changed("colour", "red"), "rule.colour", "Extra inputs"),
        ({"id": "no-action"}, "rule.action", "Field required"),
        # RE2 refuses what it cannot match in linear time
        (cond("prompt", "regex", r"(a)\1"), "rule.conditions[0].value", "no backreferences, no lookaround"),
        (cond("prompt", "regex", r"pass(?=word)"), "rule.conditions[0].value", "invalid perl operator: (?="),
        (cond("prompt", "regex", r"(?<!no )password"), "rule.conditions[0].value", "invalid perl operator: (?<!"),
        (cond("prompt", "regex", "((a{100}){100}){100}"), "rule.conditions[0].value", "invalid repetition size"),
        # what one rule may carry
        ({**GOOD, "conditions": GOOD["conditions"] * (MAX_CONDITIONS + 1)}, "rule.conditions", "at most 32 items"),
        (cond("team", "in", ["t"] * (MAX_LIST_ITEMS + 1)), "rule.conditions[0].value", "at most 1000 values"),
        (cond("prompt", "contains", "x" * (MAX_TEXT_CHARS + 1)), "rule.conditions[0].value", "the maximum is 1000"),
        (cond("prompt", "regex", "x" * (MAX_TEXT_CHARS + 1)), "rule.conditions[0].value", "the maximum is 1000"),
        (changed("name", "n" * (MAX_NAME_CHARS + 1)), "rule.name", "at most 200 characters"),
        (act(type="block", message="m" * (MAX_MESSAGE_CHARS + 1)), "rule.action.message", "at most 1000 characters"),
        # an int from YAML beyond any float (it raised OverflowError)
        (cond("input_tokens", "gt", 10**400), "rule.conditions[0].value", "is a number"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(doc, field, says):
    with pytest.raises(InvalidArgument) as raised:
        parse_rule(doc, REGISTRY)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert says in str(raised.value)


@pytest.mark.parametrize(
    "doc",
    [
        cond("team", "eq", ["t" * 1_000_000]),
        cond("team", "in", [{"t": "t" * 1_000_000}]),
        cond("day_of_week", "eq", "d" * 1_000_000),
        act(type="route", model="m" * 1_000_000),
        act(type="restrict_tiers", tiers=["gold" * 1_000_000]),
    ],
)
def test_a_refusal_does_not_echo_a_huge_value(doc):
    with pytest.raises(InvalidArgument) as raised:
        parse_rule(doc, REGISTRY)
    assert len(str(raised.value)) < 400


def test_a_catastrophic_pattern_matches_in_linear_time():
    # (a+)+$ backtracks exponentially in Python's re on this prompt; RE2 answers at once.
    rule_ = rule("redos", {"type": "block"}, [{"field": "prompt", "op": "regex", "value": r"(a+)+$"}])
    hostile = facts(prompt="a" * 50_000 + "b")
    assert evaluate([rule_], hostile, "d1").block is None
    assert evaluate([rule_], facts(prompt="b" + "a" * 50_000), "d1").block_rule == "redos"


def test_the_example_rule_parses():
    parsed = parse_rule(
        {
            "id": "cheap-docs",
            "name": "docs go to the cheap model",
            "priority": 10,
            "ab_share": 0.5,
            "conditions": [
                {"field": "category", "op": "in", "value": ["documentation", "simple_query"]},
                {"field": "input_tokens", "op": "lt", "value": 2000},
                {"field": "day_of_week", "op": "in", "value": ["sat", "sun"]},
            ],
            "action": {"type": "route", "model": "deepseek-chat", "fallback": "gpt-4o-mini"},
        },
        REGISTRY,
    )
    assert parsed.conditions[2].value == [5, 6]
    assert (parsed.enabled, parsed.action.model, parsed.action.fallback) == (True, "deepseek-chat", "gpt-4o-mini")


def test_empty_fields_of_another_action_type_count_as_absent():
    # A gRPC message carries every field; the unset ones arrive empty.
    parsed = parse_rule(act(type="block", model="", fallback=None, tiers=[], message="not here"), REGISTRY)
    assert parsed.action.message == "not here"


def test_a_rule_survives_a_round_trip_through_json():
    # How a rule added over gRPC is stored and read back after a restart.
    for original in EVERY_KIND:
        assert parse_rule(original.model_dump(mode="json"), REGISTRY) == original


def test_a_model_the_rule_excludes_need_not_exist():
    assert parse_rule(cond("model", "not_in", ["gpt-9"]), REGISTRY).conditions[0].value == ["gpt-9"]


# --- what one tenant may carry -----------------------------------------------------------------


def test_a_tenant_may_add_at_most_max_rules_over_grpc_and_may_still_replace_one(tmp_path, registry):
    from router.decide.rule_book import MAX_RULES, RuleBook
    from router.domain.errors import FailedPrecondition
    from router.storage import RULES
    from router.storage.sqlite.documents import SQLiteDocuments

    book = RuleBook({}, SQLiteDocuments(tmp_path / "rules.sqlite", RULES), registry)
    rule = {"conditions": [{"field": "team", "op": "eq", "value": "web"}], "action": {"type": "bypass_cache"}}
    for i in range(MAX_RULES):
        book.put("acme", {"id": f"r{i}", **rule}, registry, 0.0)
    with pytest.raises(FailedPrecondition, match=f"has {MAX_RULES} rules"):
        book.put("acme", {"id": "one-more", **rule}, registry, 0.0)
    book.put("acme", {"id": "r0", "priority": 5, **rule}, registry, 1.0)  # replacing is not adding
    book.put("globex", {"id": "one-more", **rule}, registry, 0.0)  # another tenant's count is its own
    book.close()
