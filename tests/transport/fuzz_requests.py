"""What test_fuzz_rpcs.py sends: its callers and server settings, and hypothesis strategies of every RPC's requests."""

from __future__ import annotations

import math
import operator
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import struct_pb2
from hypothesis import strategies as st

from router.client import auth_metadata
from router.domain.registry import TIERS
from router.domain.rules import ACTION_FIELDS, FIELDS, OPERATORS
from router.generated import router_pb2 as pb
from router.service.report import GROUP_FIELDS
from router.transport.auth import key_hash

OK = grpc.StatusCode.OK

# acme has a rule from the config file (read-only over gRPC); frugal a budget that runs out.
TENANTS = ("acme", "globex", "frugal")
CONFIG_RULE = {"id": "config-changelog", "conditions": [{"field": "prompt", "op": "contains", "value": "changelog"}],
               "action": {"type": "restrict_tiers", "tiers": ["budget", "mid"]}}
# Most calls carry the admin key of every tenant, so that the deep paths run; the rest carry acme's
# own non-admin key, a wrong key or none.
KEYS = {"root": ("br_fuzz-root", None, True), "acme-app": ("br_fuzz-acme", "acme", False)}
CALLERS = {
    "root": auth_metadata(KEYS["root"][0]),
    "acme-app": auth_metadata(KEYS["acme-app"][0]),
    "wrong key": auth_metadata("br_wrong"),
    "no key": (),
}
SERVER_SETTINGS = dict(
    sqlite_synchronous="NORMAL",
    auth={"keys": [{"name": name, "sha256": key_hash(key), "tenant": tenant, "admin": admin}
                   for name, (key, tenant, admin) in KEYS.items()]},
    tenants={"acme": {"rules": [CONFIG_RULE]}, "frugal": {"budgets": [{"daily_usd": 0.002}]}},
)
MODELS = ("gpt-4o", "gpt-4o-mini", "deepseek-chat", "claude-opus-4", "o1", "gemini-2.5-flash")
ACTION_TYPES = tuple(ACTION_FIELDS)
RULE_IDS = ("fz-block", "fz-password", "fz-redos", "fz-research", "fz-ada", "fz-docs", "config-changelog")
PROMPTS = (
    "What is the capital of France?",
    "Write a Python function that parses ISO 8601 dates",
    "Review this login handler for SQL injection vulnerabilities",
    "Summarise this paragraph in one sentence: the cat sat on the mat.",
    "Draft the changelog for release 2.3",
    "Write the README for our password reset flow",
    "Tell me about the forbidden-fruit project",
    "a" * 3000 + "b",  # the worst case of the rule (a+)+$, on which Python's re would backtrack for ever
    "hello",
)
ANSWERS = ("Paris.", "def parse(s): ...", "Use parameterised queries.", "A cat sat.")

# --- text ----------------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from([
    "", " ", "\t\n", "\x00", "a\x00b", "\x7f", "\x1b[31m", "\u200b", "\u202eevil", "\ufeff", "\ufffe", "\uffff",
    "\U0010ffff", "e\u0301" * 50, "𝕒𝕔𝕞𝕖", "ＡＣＭＥ", "İı", "ß", "🚀" * 10, "\u2028", "\U000e0041",
    "'; DROP TABLE decisions; --", "%s%n%x", "../../etc/passwd", "{}", "null", "acme ", " acme", "ACME",
])
# Sizes about the limits (ids 128, fields 256, prompts 100,000, response 200,000) and past the
# 4 MiB message limit; made by repetition, so hypothesis draws only two small choices.
HUGE_TEXT = st.builds(operator.mul, st.sampled_from(["a", "é", "🚀", "\x00", "\n", " ", "ab "]),
                      st.sampled_from([129, 257, 1_001, 4_001, 100_001, 200_001, 1_500_000]))
ANY_TEXT = st.one_of(st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=300), ODD_TEXT, HUGE_TEXT)
# Half the floats are the edge cases themselves, which st.floats() draws only now and then.
FLOATS = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e-12, 1e308, -1e308]))
INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)


def sometimes(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """A value for an `optional` proto field: unset (None) or set."""
    return st.none() | strategy


def weighted(*options: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """st.one_of with weights (one_of flattens nested one_ofs and weighs every branch alike)."""
    branches = [strategy for weight, strategy in options for _ in range(weight)]
    return st.integers(0, len(branches) - 1).flatmap(branches.__getitem__)


def mostly(good: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Three draws in four from `good`, so that a hostile request still gets past most checks."""
    return weighted((3, good), (1, hostile))


def many(item: Any, sizes: tuple[int, ...]) -> st.SearchStrategy[list]:
    """A huge repeated field, cheap to draw."""
    return st.sampled_from(sizes).map(lambda n: [item] * n)


# --- what the requests before made: ids to use again ---------------------------------------------


@dataclass
class World:
    open_decisions: list[str] = field(default_factory=list)  # routed, no feedback yet
    answered: list[str] = field(default_factory=list)
    deep: Counter[str] = field(default_factory=Counter)  # how often the deep paths ran

    def decision_ids(self) -> st.SearchStrategy[str]:
        """Mostly ids the server gave out, some made up."""
        # The draw must not depend on what the world holds (hypothesis checks that its choices
        # replay), so a known id is drawn as an index and looked up.
        made_up = st.one_of(st.uuids().map(lambda u: u.hex), ANY_TEXT)
        return mostly(st.integers(0, 99).map(self._known_id), made_up)

    def _known_id(self, index: int) -> str:
        known = self.open_decisions[-50:] + self.answered[-50:]
        return known[index % len(known)] if known else uuid.uuid4().hex

    def learn(self, rpc: str, request: Any, code: grpc.StatusCode, response: Any) -> None:
        if code != OK:
            return
        if rpc == "Route":
            # A cache hit's id too: feedback on it rates the cached answer (a poor one is evicted).
            self.open_decisions.append(response.decision_id)
            self.deep["cache hits"] += response.cache_hit
            self.deep["routes a rule shaped"] += bool(response.rule_id)
        elif rpc == "Feedback" and request.decision_id in self.open_decisions:
            self.open_decisions.remove(request.decision_id)
            self.answered.append(request.decision_id)
            self.deep["answers given for the cache"] += request.HasField("response_text") and request.quality >= 0.8


# --- requests, RPC by RPC ------------------------------------------------------------------------

TENANT_IDS = mostly(st.sampled_from(TENANTS), ANY_TEXT)


def message(role: st.SearchStrategy[str], content: st.SearchStrategy[str]) -> st.SearchStrategy[pb.ChatMessage]:
    return st.builds(pb.ChatMessage, role=role, content=content)


VALID_ROUTE = st.builds(
    pb.RouteRequest,
    tenant_id=st.sampled_from(TENANTS),
    messages=st.tuples(
        st.lists(message(st.just("system"), st.sampled_from(["Be brief.", "You are a security auditor."])),
                 max_size=1),
        st.lists(message(st.just("user"), st.sampled_from(PROMPTS)), min_size=1, max_size=1),
    ).map(lambda parts: parts[0] + parts[1]),
    cost_weight=sometimes(st.floats(0, 2)),
    constraints=sometimes(st.builds(pb.Constraints,
                                    allowed_models=st.lists(st.sampled_from(MODELS), max_size=3, unique=True))),
    metadata=st.builds(pb.Metadata, team=st.sampled_from(["", "research", "support"]),
                       user=st.sampled_from(["", "ada", "bob"])),
    bypass_cache=st.booleans(),
    requested_model=st.sampled_from(("",) + MODELS),
)

HOSTILE_ROUTE = st.builds(
    pb.RouteRequest,
    tenant_id=TENANT_IDS,
    messages=st.one_of(
        st.lists(message(mostly(st.sampled_from(["user", "system", "assistant"]), ANY_TEXT),
                         mostly(st.sampled_from(PROMPTS), ANY_TEXT)), max_size=4),
        many(pb.ChatMessage(role="user", content="hi"), (256, 257, 5_000)),
    ),
    cost_weight=sometimes(FLOATS),
    constraints=sometimes(st.builds(
        pb.Constraints,
        allowed_models=st.one_of(st.lists(mostly(st.sampled_from(MODELS), ANY_TEXT), max_size=4),
                                 many("gpt-4o", (64, 65, 10_000))),
        max_cost_usd=sometimes(FLOATS),
        expected_output_tokens=sometimes(INT64),
    )),
    metadata=st.builds(pb.Metadata, team=ANY_TEXT, project=ANY_TEXT, feature=ANY_TEXT, user=ANY_TEXT),
    task_hint=mostly(st.sampled_from(["", "security", "coding"]), ANY_TEXT),
    bypass_cache=st.booleans(),
    requested_model=mostly(st.sampled_from(("",) + MODELS), ANY_TEXT),
)


def feedback_requests(world: World) -> st.SearchStrategy[pb.FeedbackRequest]:
    valid = st.builds(
        pb.FeedbackRequest,
        decision_id=world.decision_ids(),
        quality=weighted((1, st.floats(0, 1)), (1, st.sampled_from([0.85, 0.9, 1.0]))),  # half good enough to cache
        input_tokens=sometimes(st.integers(0, 5_000)),
        output_tokens=sometimes(st.integers(0, 5_000)),
        latency_ms=st.floats(0, 10_000),
        error=st.booleans(),
        response_text=sometimes(st.sampled_from(ANSWERS)),
    )
    hostile = st.builds(
        pb.FeedbackRequest,
        decision_id=world.decision_ids(),
        quality=sometimes(FLOATS),
        input_tokens=sometimes(INT64),
        output_tokens=sometimes(INT64),
        latency_ms=FLOATS,
        error=st.booleans(),
        response_text=sometimes(ANY_TEXT),
    )
    return weighted((2, valid), (1, hostile))


def _value(kind: str, payload: Any) -> struct_pb2.Value:
    """A condition's value of one kind: a oneof field's name, "list", "struct", or "unset" (the
    message present with no kind set)."""
    value = struct_pb2.Value()
    if kind == "list":
        value.list_value.values.extend(payload)
    elif kind == "struct":
        for key, item in payload.items():
            value.struct_value.fields[key].CopyFrom(item)
    elif kind == "unset":
        value.SetInParent()
    else:
        setattr(value, kind, payload)
    return value


REGEXES = st.sampled_from([
    r"(a+)+$", r"(x+x+)+y", r"(.*a){20}", r"(a|aa)+$", r"(a)\1", r"pass(?=word)", r"(?<!no )password", "[",
    "a{1001}", "((a{100}){100}){100}", "a" * 1_001, ".*" * 400, "(" * 300 + ")" * 300, r"(?i)\bpassw(or)?d\b",
    r"\p{Greek}+", r"\C", "\x00", "",
])
SCALAR_VALUES = weighted(
    (2, st.builds(_value, st.just("string_value"), st.one_of(st.sampled_from(MODELS + TIERS), REGEXES, ANY_TEXT))),
    (2, st.builds(_value, st.just("number_value"), st.one_of(st.integers(-10, 30).map(float), FLOATS))),
    (1, st.builds(_value, st.just("bool_value"), st.booleans())),
    (1, st.builds(_value, st.just("null_value"), st.just(0))),
    (1, st.builds(_value, st.just("unset"), st.none())),
)
VALUES = weighted((3, SCALAR_VALUES), (1, st.recursive(
    SCALAR_VALUES,
    lambda inner: st.builds(_value, st.just("list"), st.lists(inner, max_size=4))
    | st.builds(_value, st.just("struct"), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)))
HOSTILE_CONDITION = st.builds(
    pb.Condition,
    field=mostly(st.sampled_from(FIELDS), ANY_TEXT),
    op=mostly(st.sampled_from(OPERATORS), ANY_TEXT),
    value=weighted((1, st.none()), (3, VALUES)),
)
HOSTILE_RULE = st.builds(
    pb.Rule,
    id=mostly(st.sampled_from(RULE_IDS), ANY_TEXT),
    name=ANY_TEXT,
    priority=sometimes(INT32),
    enabled=sometimes(st.booleans()),
    ab_share=sometimes(FLOATS),
    conditions=weighted(
        (4, st.lists(HOSTILE_CONDITION, max_size=4)),
        (1, many(pb.Condition(field="prompt", op="regex", value=_value("string_value", "(a+)+$")), (32, 33, 1_000))),
    ),
    action=st.builds(
        pb.RuleAction,
        type=mostly(st.sampled_from(ACTION_TYPES), ANY_TEXT),
        model=st.one_of(st.just(""), st.sampled_from(MODELS), ANY_TEXT),
        fallback=st.one_of(st.just(""), st.sampled_from(MODELS), ANY_TEXT),
        tiers=st.lists(mostly(st.sampled_from(TIERS), ANY_TEXT), max_size=4),
        cost_weight=sometimes(FLOATS),
        message=st.one_of(st.just(""), ANY_TEXT),
    ),
)


def _condition(field_: str, op: str, value: Any) -> pb.Condition:
    condition = pb.Condition(field=field_, op=op)
    condition.value.string_value = value
    return condition


# Rules that routes then meet: a block, a regex, the catastrophic regex, a cost weight, a cache
# bypass and an A/B split.
VALID_RULES = (
    pb.Rule(id="fz-block", conditions=[_condition("prompt", "contains", "forbidden-fruit")],
            action=pb.RuleAction(type="block", message="not this project")),
    pb.Rule(id="fz-password", priority=5, conditions=[_condition("prompt", "regex", r"(?i)\bpassw(or)?d\b")],
            action=pb.RuleAction(type="route", model="gpt-4o", fallback="claude-opus-4")),
    pb.Rule(id="fz-redos", conditions=[_condition("prompt", "regex", r"(a+)+$")],
            action=pb.RuleAction(type="restrict_tiers", tiers=["budget"])),
    pb.Rule(id="fz-research", conditions=[_condition("team", "eq", "research")],
            action=pb.RuleAction(type="set_cost_weight", cost_weight=0.9)),
    pb.Rule(id="fz-ada", conditions=[_condition("user", "eq", "ada")], action=pb.RuleAction(type="bypass_cache")),
    pb.Rule(id="fz-docs", ab_share=0.5, conditions=[_condition("category", "eq", "documentation")],
            action=pb.RuleAction(type="route", model="deepseek-chat")),
)
PUT_RULE = st.builds(pb.PutRuleRequest, tenant_id=TENANT_IDS,
                     rule=weighted((1, st.sampled_from(VALID_RULES)), (2, HOSTILE_RULE)))
DELETE_RULE = st.builds(pb.DeleteRuleRequest, tenant_id=TENANT_IDS, rule_id=mostly(st.sampled_from(RULE_IDS), ANY_TEXT))
WINDOW_TIMES = weighted((2, st.just(0.0)), (2, st.floats(0, 4e9)), (1, FLOATS))
STATS = st.builds(pb.StatsRequest, tenant_id=TENANT_IDS, since_unix=WINDOW_TIMES, until_unix=WINDOW_TIMES,
                  group_by=mostly(st.sampled_from(("",) + GROUP_FIELDS), ANY_TEXT))
EXPORT = st.builds(pb.ExportLedgerRequest, tenant_id=TENANT_IDS, since_unix=WINDOW_TIMES, until_unix=WINDOW_TIMES)


def _budget(team: str, project: str, daily: float | None, monthly: float | None) -> pb.Budget:
    budget = pb.Budget(team=team, project=project)
    if daily is not None:
        budget.daily_usd = daily
    if monthly is not None:
        budget.monthly_usd = monthly
    return budget


LIMIT_USD = st.none() | weighted((2, st.floats(50, 1000)), (1, FLOATS))  # mostly limits that leave room
BUDGET = st.builds(_budget, team=mostly(st.sampled_from(["", "research"]), ANY_TEXT),
                   project=mostly(st.just(""), ANY_TEXT), daily=LIMIT_USD, monthly=LIMIT_USD)
SET_BUDGETS = st.builds(pb.SetBudgetsRequest, tenant_id=TENANT_IDS,
                        budgets=weighted((8, st.lists(BUDGET, max_size=3)),
                                         (1, st.lists(BUDGET, min_size=101, max_size=110))))


FUZZ_MODEL = "fz-model"
MODEL = st.builds(
    pb.Model, id=mostly(st.sampled_from([FUZZ_MODEL, "gpt-4o-mini"]), ANY_TEXT),
    provider=mostly(st.just("fz"), ANY_TEXT),
    tier=mostly(st.sampled_from(["budget", "mid", "premium"]), ANY_TEXT),
    input_per_1m=mostly(st.floats(0, 20), FLOATS), output_per_1m=mostly(st.floats(0, 80), FLOATS),
    context_window=mostly(st.integers(1000, 200_000), INT64), max_output_tokens=mostly(st.integers(1, 1000), INT64),
    quality_prior=mostly(st.dictionaries(st.sampled_from(["coding", "chat"]), st.floats(0, 1), max_size=2),
                         st.dictionaries(ANY_TEXT, FLOATS, max_size=3)))
# Only the fuzzer's own model may go: retiring the registry's would leave later calls less to route to.
RETIRE_MODEL = st.builds(pb.RetireModelRequest,
                         model_id=mostly(st.sampled_from([FUZZ_MODEL, "claude-opus-4", "no-such-model"]), ANY_TEXT))


def calls(world: World) -> st.SearchStrategy[tuple[str, Any]]:
    """One RPC and its request; Route and Feedback, the hot paths, most often."""
    by_rpc: dict[str, st.SearchStrategy] = {
        "Route": st.one_of(VALID_ROUTE, HOSTILE_ROUTE),
        "Feedback": feedback_requests(world),
        "InvalidateCache": st.builds(pb.InvalidateCacheRequest, tenant_id=TENANT_IDS),
        "ListRules": st.builds(pb.ListRulesRequest, tenant_id=TENANT_IDS),
        "PutRule": PUT_RULE,
        "DeleteRule": DELETE_RULE,
        "Stats": STATS,
        "ExportLedger": EXPORT,
        "SetBudgets": SET_BUDGETS,
        "ListModels": st.just(pb.ListModelsRequest()),
        "PutModel": st.builds(pb.PutModelRequest, model=MODEL),
        "RetireModel": RETIRE_MODEL,
    }
    weights = {"Route": 4, "Feedback": 3, "PutRule": 2}
    names = [name for name in by_rpc for _ in range(weights.get(name, 1))]
    return st.sampled_from(names).flatmap(lambda name: st.tuples(st.just(name), by_rpc[name]))


# Wire-level variations of a request that still parses: proto3 keeps the last of a repeated
# scalar field and merges repeated message fields, and ignores an unknown field.
WIRE_FORMS: dict[str, Callable[[bytes], bytes]] = {
    "as is": lambda body: body,
    "sent twice": lambda body: body + body,
    "unknown field 2047": lambda body: body + b"\xf8\x7f\x01",
    "unknown length-delimited field": lambda body: body + b"\x82\x7f\x03abc",
}
