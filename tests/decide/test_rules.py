"""Tenant routing rules: every operator, refusals naming the field, precedence, and the A/B split."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.errors import InvalidArgument
from router.domain.registry import Registry
from router.domain.rules import (MAX_CONDITIONS, MAX_LIST_ITEMS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
                                 Condition, Facts, Rule, evaluate, in_share, matches, parse_rule)

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


# --- operators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, op, value, expected",
    [
        # text fields
        ("model", "eq", "gpt-4o", True),
        ("model", "eq", "GPT-4o", False),  # eq is case-sensitive
        ("provider", "neq", "anthropic", True),
        ("provider", "neq", "openai", False),
        ("category", "eq", "documentation", True),
        ("category", "in", ["documentation", "simple_query"], True),
        ("category", "in", ["chat", "creative"], False),
        ("team", "not_in", ["finance", "legal"], True),
        ("team", "not_in", ["platform"], False),
        ("prompt", "contains", "password", True),  # contains is case-insensitive
        ("prompt", "contains", "invoice", False),
        ("feature", "contains", "COMPLETE", True),
        ("prompt", "regex", r"README\b", True),
        ("prompt", "regex", r"^readme", False),  # regex is case-sensitive ...
        ("prompt", "regex", r"(?i)^please", True),  # ... unless it says otherwise
        ("user", "regex", r"^a.a$", True),
        ("project", "eq", "docs-site", True),
        # numeric fields
        ("input_tokens", "eq", 1500, True),
        ("input_tokens", "eq", 1500.0, True),
        ("input_tokens", "neq", 1500, False),
        ("input_tokens", "gt", 1000, True),
        ("input_tokens", "gt", 1500, False),
        ("input_tokens", "gte", 1500, True),
        ("input_tokens", "lt", 2000, True),
        ("input_tokens", "lt", 1500, False),
        ("input_tokens", "lte", 1500, True),
        ("complexity", "gt", 0.5, False),
        ("complexity", "lte", 0.4, True),
        ("time_of_day", "in", [13, 14, 15], True),
        ("time_of_day", "not_in", [9, 10], True),
        ("time_of_day", "gte", 18, False),
        ("day_of_week", "eq", 6, True),
        ("day_of_week", "in", [0, 1, 2, 3, 4], False),
        ("day_of_week", "not_in", [5, 6], False),
        # the flag
        ("security", "eq", False, True),
        ("security", "eq", True, False),
        ("security", "neq", True, True),
        ("security", "in", [True], False),
        ("security", "not_in", [True], True),
    ],
)
def test_each_operator_on_its_field_kinds(field, op, value, expected):
    assert matches(condition(field, op, value), facts()) is expected


@pytest.mark.parametrize(
    "field, op, value, fact",
    [
        ("input_tokens", "gt", 10, "many"),
        ("input_tokens", "eq", 10, "10"),
        ("input_tokens", "neq", 10, "10"),
        ("input_tokens", "not_in", [1, 2], "3"),
        ("complexity", "lt", 0.5, None),
        ("team", "eq", "platform", 7),
        ("team", "neq", "platform", 7),
        ("team", "contains", "plat", None),
        ("prompt", "regex", "x", b"x"),
        ("security", "eq", False, 0),  # False is not the number 0 here
        ("time_of_day", "eq", 1, True),  # nor True the hour 1
    ],
)
def test_a_comparison_between_different_kinds_is_false(field, op, value, fact):
    assert matches(condition(field, op, value), facts(**{field: fact})) is False


@pytest.mark.parametrize(
    "given_, number",
    [("mon", 0), ("Tue", 1), ("WEDNESDAY", 2), (" thu ", 3), ("friday", 4), ("sat", 5), ("Sunday", 6), (3, 3)],
)
def test_day_names_become_numbers(given_, number):
    assert condition("day_of_week", "eq", given_).value == number
    assert condition("day_of_week", "in", [given_]).value == [number]


def test_time_facts_come_from_a_timestamp_in_utc():
    sunday_night = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc).timestamp()
    untimed = {k: v for k, v in vars(facts()).items() if k not in ("time_of_day", "day_of_week")}
    sunday, monday = Facts.at(sunday_night, **untimed), Facts.at(sunday_night + 3600, **untimed)
    assert (sunday.day_of_week, sunday.time_of_day) == (6, 23)
    assert (monday.day_of_week, monday.time_of_day) == (0, 0)
    weekend = condition("day_of_week", "in", ["sat", "sun"])
    assert matches(weekend, sunday) and not matches(weekend, monday)


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


# --- precedence --------------------------------------------------------------------------------

DOCS = [{"field": "category", "op": "eq", "value": "documentation"}]


def test_the_lower_priority_number_decides_a_route():
    first = rule("b-first", {"type": "route", "model": "deepseek-chat"}, DOCS, priority=10)
    second = rule("a-second", {"type": "route", "model": "gpt-4o-mini"}, DOCS, priority=20)
    outcome = evaluate([second, first], facts(), "d1")
    assert outcome.matched == ("b-first", "a-second")
    assert outcome.applied == ("b-first",)
    assert (outcome.route.model, outcome.route_rule) == ("deepseek-chat", "b-first")


def test_equal_priorities_are_ordered_by_id():
    b = rule("b", {"type": "route", "model": "deepseek-chat"})
    a = rule("a", {"type": "route", "model": "gpt-4o-mini"})
    assert evaluate([b, a], facts(), "d1").route_rule == "a"


def test_a_block_is_in_the_outcome_with_its_message():
    block = rule("no-legal", {"type": "block", "message": "legal prompts go elsewhere"}, priority=50)
    route = rule("cheap", {"type": "route", "model": "deepseek-chat"}, priority=1)
    outcome = evaluate([route, block], facts(), "d1")
    assert (outcome.block_rule, outcome.block.message) == ("no-legal", "legal prompts go elsewhere")
    assert outcome.applied == ("cheap", "no-legal")


def test_route_and_restrict_tiers_are_both_in_the_outcome():
    route = rule("cheap", {"type": "route", "model": "deepseek-chat"})
    tiers = rule("no-premium", {"type": "restrict_tiers", "tiers": ["budget", "mid"]})
    outcome = evaluate([tiers, route], facts(), "d1")
    assert outcome.route_rule == "cheap"
    assert (outcome.tiers, outcome.tiers_rule) == (("budget", "mid"), "no-premium")
    assert set(outcome.applied) == {"cheap", "no-premium"}


def test_cost_weight_and_cache_bypass():
    weight = rule("frugal", {"type": "set_cost_weight", "cost_weight": 0.8})
    bypass = rule("fresh", {"type": "bypass_cache"}, [{"field": "team", "op": "eq", "value": "platform"}])
    outcome = evaluate([weight, bypass], facts(), "d1")
    assert (outcome.cost_weight, outcome.cost_weight_rule) == (0.8, "frugal")
    assert outcome.bypass_cache and outcome.bypass_cache_rule == "fresh"
    assert not evaluate([bypass], facts(team="finance"), "d1").bypass_cache


def test_a_disabled_rule_is_ignored():
    off = rule("off", {"type": "block"}, enabled=False)
    outcome = evaluate([off], facts(), "d1")
    assert outcome == evaluate([], facts(), "d1")
    assert outcome.matched == () and outcome.block is None


def test_a_rule_needs_all_its_conditions():
    both = rule("both", {"type": "bypass_cache"}, [*DOCS, {"field": "input_tokens", "op": "gt", "value": 5000}])
    assert evaluate([both], facts(), "d1").matched == ()
    assert evaluate([both], facts(input_tokens=6000), "d1").matched == ("both",)


def test_a_rule_outside_its_share_is_matched_not_applied_and_the_next_decides():
    ids = [uuid.UUID(int=i).hex for i in range(200)]
    outside = next(d for d in ids if not in_share("half", d, 0.5))
    half = rule("half", {"type": "route", "model": "deepseek-chat"}, priority=1, ab_share=0.5)
    rest = rule("rest", {"type": "route", "model": "gpt-4o-mini"}, priority=2)
    outcome = evaluate([half, rest], facts(), outside)
    assert outcome.matched == ("half", "rest")
    assert (outcome.applied, outcome.route_rule) == (("rest",), "rest")


# --- the A/B split -----------------------------------------------------------------------------


def test_in_share_is_deterministic_and_takes_about_its_share():
    # Fixed here: the split must not move between processes or releases, or live experiments reshuffle.
    split = [in_share("cheap-docs", f"d{i}", 0.5) for i in range(16)]
    assert split == [bool(x) for x in (0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0)]
    ids = [uuid.uuid4().hex for _ in range(10_000)]
    selected = sum(in_share("cheap-docs", d, 0.3) for d in ids) / len(ids)
    assert abs(selected - 0.3) < 0.02


@given(rule_id=st.text(), decision_id=st.text(), a=st.floats(0, 1), b=st.floats(0, 1))
def test_a_larger_share_selects_everything_a_smaller_one_does(rule_id, decision_id, a, b):
    low, high = sorted((a, b))
    assert in_share(rule_id, decision_id, 1.0)
    assert not in_share(rule_id, decision_id, low) or in_share(rule_id, decision_id, high)


# --- robustness --------------------------------------------------------------------------------

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

any_facts = st.builds(
    Facts,
    model=st.text(),
    provider=st.text(),
    category=st.text(),
    security=st.booleans(),
    input_tokens=st.integers(),
    team=st.text(),
    project=st.text(),
    feature=st.text(),
    user=st.text(),
    complexity=st.floats(),
    time_of_day=st.integers(),
    day_of_week=st.integers(),
    prompt=st.text(),
)


@settings(max_examples=300, deadline=None)
@given(any_facts, st.text())
def test_evaluate_never_raises(request_facts, decision_id):
    outcome = evaluate(EVERY_KIND, request_facts, decision_id)
    assert set(outcome.applied) <= set(outcome.matched)
    assert "r6" not in outcome.matched


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
