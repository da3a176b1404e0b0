"""Waste detection: retry storms, timeouts whose answer went unused, abandoned decisions."""

import random
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.advice import waste
from router.advice.waste import StormTrigger, WasteSettings, find_waste, waste_alerts
from router.domain.types import LedgerEntry

T0 = 1_700_000_000.0
NOW = T0 + 10 * 86400  # long after every call below


def entry(decision_id: str, at: float, *, key: str = "k1", user: str = "ann", team: str = "search",
          feature: str = "chat", model: str = "small", cost: float = 0.01, error: bool = False,
          cache_hit: bool = False, settled: bool = True, expired: bool = False, quality: float | None = None,
          latency_ms: float = 0.0, duplicate_of: str = "", tenant: str = "acme") -> LedgerEntry:
    """A ledger entry `at` seconds after T0; a settled one is rated 0.8 unless it errored (rated 0).
    With `duplicate_of`, a follower the service closed with its leader's answer (no call, no cost)."""
    if quality is None and settled and not expired:
        quality = 0.0 if error or duplicate_of else 0.8
    if duplicate_of:
        cost = 0.0
    return LedgerEntry(
        decision_id=decision_id, tenant_id=tenant, created_at=T0 + at, team=team, project="", feature=feature,
        user=user, model=model, category="general", security=False, reason="bandit", rule_id="", budget_mode="",
        estimated_cost_usd=cost, cache_hit=cache_hit, settled_at=T0 + at + 1 if settled else None,
        input_tokens=100, output_tokens=100, cost_usd=0.0 if cache_hit else cost, baseline_cost_usd=cost,
        cache_saved_usd=0.0, quality=quality, error=error, expired=expired, not_called=bool(duplicate_of),
        latency_ms=latency_ms, prompt_key=key, duplicate_of=duplicate_of,
    )


def storms_of(entries: list[LedgerEntry], **overrides) -> list[waste.RetryStorm]:
    return find_waste(entries, WasteSettings(**overrides), NOW).storms


# --- Retry storms --------------------------------------------------------------------------------


def test_eight_calls_of_one_prompt_in_thirty_seconds_are_one_storm_wasting_the_seven_repeats():
    costs = [0.10, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
    calls = [entry(f"d{i}", at=i * 4, cost=cost) for i, cost in enumerate(costs)]  # 0 s to 28 s

    [storm] = storms_of(calls)

    assert storm.trigger == StormTrigger.BURST
    assert (storm.caller, storm.team, storm.feature, storm.prompt_key) == ("user=ann", "search", "chat", "k1")
    assert storm.calls == 8
    assert (storm.first_at, storm.last_at) == (T0, T0 + 28)
    assert storm.cost_usd == pytest.approx(0.45)
    assert storm.wasted_usd == pytest.approx(0.02 + 0.03 + 0.04 + 0.05 + 0.06 + 0.07 + 0.08)  # 0.35
    assert storm.sample_ids == ("d0", "d1", "d2", "d3", "d4")


def test_five_calls_of_one_prompt_spread_over_an_hour_are_no_storm():
    assert storms_of([entry(f"d{i}", at=i * 900) for i in range(5)]) == []


def test_two_callers_sending_the_same_prompt_are_not_one_storm():
    ann = [entry(f"a{i}", at=i * 5, user="ann") for i in range(4)]
    bob = [entry(f"b{i}", at=i * 5 + 1, user="bob") for i in range(4)]

    assert storms_of(ann + bob) == []


def test_without_a_user_the_caller_is_the_team_and_feature():
    same_feature = [entry(f"d{i}", at=i, user="") for i in range(5)]
    other_feature = [entry(f"o{i}", at=i, user="", feature="search-box") for i in range(4)]

    [storm] = storms_of(same_feature + other_feature)

    assert storm.caller == "team=search/feature=chat"
    assert storm.calls == 5


def test_entries_without_a_prompt_key_never_form_storms():
    calls = [entry(f"d{i}", at=i, key="", error=True) for i in range(10)]

    assert storms_of(calls) == []


def test_bursts_more_than_a_window_apart_are_two_storms():
    calls = [entry(f"d{i}", at=i) for i in range(5)] + [entry(f"e{i}", at=200 + i) for i in range(6)]

    storms = storms_of(calls)

    assert sorted((s.calls, s.first_at) for s in storms) == [(5, T0), (6, T0 + 200)]


def test_an_error_then_an_immediate_repeat_is_flagged_and_wastes_the_failed_call():
    calls = [entry("d0", at=0, error=True, cost=0.004), entry("d1", at=3, cost=0.05)]

    [storm] = storms_of(calls)

    assert storm.trigger == StormTrigger.ERROR_REPEAT
    assert (storm.calls, storm.errors) == (2, 1)
    assert storm.wasted_usd == pytest.approx(0.004)  # the repeat gave the answer that was needed


def test_errors_repeated_at_once_chain_until_a_repeat_succeeds():
    calls = [entry("d0", at=0, error=True, cost=0.01), entry("d1", at=2, error=True, cost=0.02),
             entry("d2", at=4, cost=0.05), entry("d3", at=6, cost=0.07)]  # d3 follows a success: not a repeat

    [storm] = storms_of(calls)

    assert storm.sample_ids == ("d0", "d1", "d2")
    assert storm.wasted_usd == pytest.approx(0.03)


def test_a_repeat_long_after_an_error_or_quickly_after_a_success_is_not_flagged():
    late = [entry("d0", at=0, error=True), entry("d1", at=30)]
    after_success = [entry("e0", at=0, key="k2"), entry("e1", at=2, key="k2")]

    assert storms_of(late + after_success) == []


def test_a_storm_of_cache_hits_is_counted_but_wastes_nothing():
    calls = [entry(f"d{i}", at=i, cache_hit=True) for i in range(6)]

    [storm] = storms_of(calls)

    assert (storm.calls, storm.cache_hits, storm.wasted_usd) == (6, 6, 0.0)


def test_a_storm_of_followers_served_their_leaders_answer_is_counted_but_wastes_nothing():
    calls = [entry("d0", at=0, cost=0.05)] + [entry(f"f{i}", at=0.1 * i, duplicate_of="d0") for i in range(1, 6)]

    [storm] = storms_of(calls)

    assert (storm.calls, storm.deduplicated, storm.wasted_usd) == (6, 5, 0.0)


def test_a_paid_call_repeated_through_the_cache_wastes_nothing_but_a_paid_repeat_does():
    calls = [entry("d0", at=0, cost=0.05)] + [entry(f"c{i}", at=i + 1, cache_hit=True) for i in range(4)]
    calls.append(entry("d5", at=6, cost=0.05))

    [storm] = storms_of(calls)

    assert storm.wasted_usd == pytest.approx(0.05)


# --- Timeouts ------------------------------------------------------------------------------------


def test_a_call_past_the_limit_whose_answer_went_unused_is_wasted_one_within_it_is_not():
    calls = [
        entry("slow-error", at=0, key="a", latency_ms=15_000, error=True, cost=0.03),
        entry("slow-zero", at=100, key="b", latency_ms=12_000, quality=0.0, cost=0.02),
        entry("slow-used", at=200, key="c", latency_ms=20_000, quality=0.9, cost=0.40),
        entry("fast-error", at=300, key="d", latency_ms=9_000, error=True, cost=0.05),
        entry("other-model", at=400, key="e", latency_ms=30_000, error=True, cost=0.10, model="large"),
    ]

    result = find_waste(calls, WasteSettings(timeout_ms=10_000), NOW)

    small, large = sorted(result.timeouts, key=lambda g: g.model == "large")
    assert (small.model, small.timeouts, small.answered) == ("small", 2, 4)
    assert small.share == 0.5
    assert small.wasted_usd == pytest.approx(0.05)
    assert small.max_latency_ms == 15_000
    assert small.sample_ids == ("slow-error", "slow-zero")
    assert (large.timeouts, large.answered, large.wasted_usd) == (1, 1, 0.10)
    assert result.timeout_calls == 3
    assert result.timeout_wasted_usd == pytest.approx(0.15)


def test_without_a_limit_there_is_no_timeout_analysis():
    calls = [entry("d0", at=0, latency_ms=600_000, error=True)]

    assert find_waste(calls, WasteSettings(), NOW).timeouts == []


# --- Abandoned decisions -------------------------------------------------------------------------


def test_abandoned_decisions_are_counted_per_team_and_feature_with_their_share():
    chat = [entry("c0", at=0, key="a", expired=True, settled=False, cost=0.04),
            entry("c1", at=1, key="b"), entry("c2", at=2, key="c"), entry("c3", at=3, key="d"),
            entry("c4", at=4, key="e", cache_hit=True),  # a cache hit needs no feedback: not in the share
            entry("c5", at=5, key="b", duplicate_of="c1")]  # nor does a follower served its leader's answer
    docs = [entry("s0", at=0, key="f", feature="docs", expired=True, settled=False, cost=0.10),
            entry("s1", at=10, key="g", feature="docs", expired=True, quality=0.5, cost=0.30),  # expired_quality
            entry("s2", at=20, key="h", feature="docs", settled=False)]  # pending, not expired
    billing = [entry("b0", at=0, key="i", team="billing", feature="docs")]

    result = find_waste(chat + docs + billing, WasteSettings(), NOW)

    docs_group, chat_group = result.abandoned  # costliest first
    assert (docs_group.team, docs_group.feature, docs_group.abandoned, docs_group.decisions) == ("search", "docs", 2, 3)
    assert docs_group.share == pytest.approx(2 / 3)
    assert docs_group.cost_usd == pytest.approx(0.40)
    assert (chat_group.feature, chat_group.abandoned, chat_group.decisions, chat_group.share) == ("chat", 1, 4, 0.25)
    assert chat_group.sample_ids == ("c0",)
    assert (result.abandoned_calls, result.abandoned_usd) == (3, pytest.approx(0.44))


def test_a_decision_pending_past_the_age_given_is_abandoned_a_younger_one_is_not():
    calls = [entry("old", at=0, settled=False, key="a"), entry("young", at=NOW - T0 - 60, settled=False, key="b")]

    [group] = find_waste(calls, WasteSettings(abandoned_after_seconds=3600), NOW).abandoned

    assert (group.abandoned, group.decisions, group.sample_ids) == (1, 2, ("old",))


# --- Totals and alerts ---------------------------------------------------------------------------


def test_the_total_counts_a_decision_once_when_it_is_waste_of_two_kinds():
    storm = [entry(f"d{i}", at=i, cost=0.01) for i in range(4)]
    storm.append(entry("d4", at=4, cost=0.02, expired=True, settled=False))  # a repeat, and abandoned

    result = find_waste(storm, WasteSettings(), NOW)

    assert result.storm_wasted_usd == pytest.approx(0.05)
    assert result.abandoned_usd == pytest.approx(0.02)
    assert result.wasted_usd == pytest.approx(0.05)


def test_each_storm_is_alerted_with_its_scope_start_calls_and_waste():
    burst = [entry(f"d{i}", at=i, user="", cost=0.10) for i in range(5)]
    cached = [entry(f"c{i}", at=i, key="k2", cache_hit=True) for i in range(5)]
    result = find_waste(burst + cached, WasteSettings(), NOW)

    alerts = waste_alerts(result, detected_at=NOW)

    assert len(alerts) == 2
    alert = alerts[0]  # the most wasteful storm first
    assert (alert.scope, alert.caller, alert.trigger) == ("acme/team=search", "team=search/feature=chat", "burst")
    assert (alert.started_at, alert.ended_at, alert.calls) == (T0, T0 + 4, 5)
    assert alert.wasted_usd == pytest.approx(0.40)
    assert (alert.key, alert.detected_at) == (("acme", "d0"), NOW)
    assert [a.key for a in waste_alerts(result, detected_at=NOW, min_wasted_usd=0.01)] == [("acme", "d0")]


@pytest.mark.parametrize("overrides", [
    {"storm_window_seconds": 0}, {"storm_min_calls": 1}, {"error_repeat_seconds": -1}, {"timeout_ms": 0},
    {"abandoned_after_seconds": 0},
])
def test_settings_out_of_range_are_refused(overrides):
    with pytest.raises(ValueError):
        WasteSettings(**overrides)


# --- Any ledger ----------------------------------------------------------------------------------

calls = st.lists(
    st.tuples(
        st.integers(0, 60),  # seconds after T0: dense enough for storms and equal times
        st.sampled_from(["", "ann", "ann", "bob"]),  # user
        st.sampled_from(["search", "billing"]),  # team
        st.sampled_from(["", "k1", "k1", "k2"]),  # prompt key
        st.sampled_from([0.0, 0.01, 0.25, 1.0]),  # cost
        st.booleans(),  # error
        st.sampled_from(["settled", "pending", "expired", "cache", "follower"]),
        st.sampled_from([0.0, 5_000.0, 20_000.0]),  # latency
    ),
    max_size=40,
)


def ledger(rows) -> list[LedgerEntry]:
    return [
        entry(f"d{i}", at=at, user=user, team=team, key=key, cost=cost, error=error and state == "settled",
              settled=state in ("settled", "cache", "follower"), expired=state == "expired",
              cache_hit=state == "cache", duplicate_of="d0" if state == "follower" else "", latency_ms=latency)
        for i, (at, user, team, key, cost, error, state, latency) in enumerate(rows)
    ]


@settings(max_examples=60, deadline=None)
@given(rows=calls, seed=st.integers(0, 2**16))
def test_any_ledger_wastes_at_most_its_spend_once_per_call_in_any_order(rows, seed):
    entries = ledger(rows)
    options = WasteSettings(storm_window_seconds=30, storm_min_calls=3, timeout_ms=10_000,
                            abandoned_after_seconds=3600)
    with mock.patch.object(waste, "SAMPLE_IDS", len(entries)):  # every storm's sample is all its calls
        result = find_waste(entries, options, NOW)
        shuffled = random.Random(seed).sample(entries, len(entries))
        assert find_waste(shuffled, options, NOW) == result

    spend = sum(e.cost_usd for e in entries)
    for wasted in (result.wasted_usd, result.storm_wasted_usd, result.timeout_wasted_usd, result.abandoned_usd):
        assert 0 <= wasted <= spend + 1e-9
    assert result.wasted_usd <= result.storm_wasted_usd + result.timeout_wasted_usd + result.abandoned_usd + 1e-9
    in_storms = [decision_id for storm in result.storms for decision_id in storm.sample_ids]
    assert len(in_storms) == len(set(in_storms)) == result.storm_calls
