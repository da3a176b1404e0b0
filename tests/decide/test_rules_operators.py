"""Rule conditions: each operator on the field kinds it takes, day names, and the time facts."""

from datetime import datetime, timezone

import pytest

from router.domain.rules import Facts, matches
from tests.decide.rule_helpers import condition, facts

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
