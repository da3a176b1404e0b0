"""The cost advisor's finders on ledgers whose right answer is known: a cheaper model as good as the
expensive one for one team only, repeated prompts the cache missed, answers that are most of the bill."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.advice.evidence import dr_quality, mean_interval, non_inferiority
from router.advice.recommendations import (CACHE, CHEAPER_MODEL, HIGH, LOW, MEDIUM, OUTPUT_CAP, AdviceSettings,
                                           find_cacheable, find_cheaper_models, find_output_heavy)
from router.domain.registry import Registry
from router.domain.rules import Facts, matches, parse_rule
from router.domain.types import Context, Decision, FeedbackRecord, LedgerEntry, Metadata

REGISTRY = Registry.from_yaml()
SONNET, MINI = "claude-sonnet-4", "gpt-4o-mini"
T0 = 1_700_000_000.0
WEEK = 7
# Every call of the cheaper-model fixture reads 1,000 tokens and writes 500:
# claude-sonnet-4 at $3 / $15 per 1M: 1000·3/1e6 + 500·15/1e6 = 0.003 + 0.0075 = $0.0105
# gpt-4o-mini at $0.15 / $0.60 per 1M: 1000·0.15/1e6 + 500·0.6/1e6 = 0.00015 + 0.0003 = $0.00045
SONNET_CALL, MINI_CALL = 0.0105, 0.00045
GOOD = (0.85, 0.9, 0.9, 0.95)  # mean 0.9
POOR = (0.55, 0.6, 0.6, 0.65)  # mean 0.6


def call(decision_id: str, team: str, model: str, quality: float | None, *, at: float = T0, category: str = "chat",
         security: bool = False, feature: str = "", complexity: float = 0.5, mini_share: float = 0.2,
         input_tokens: int = 1000, output_tokens: int = 500, prompt_key: str = "", cache_hit: bool = False,
         settled_after: float | None = 5.0) -> tuple[LedgerEntry, tuple]:
    """One decision as the ledger reports it and as the decision log's feedback_after yields it: the
    bandit chose between claude-sonnet-4 and gpt-4o-mini, the latter with probability mini_share."""
    probabilities = (1 - mini_share, mini_share)
    cost = 0.0 if cache_hit else REGISTRY[model].cost(input_tokens, output_tokens)
    settled_at = None if settled_after is None else at + settled_after
    entry = LedgerEntry(
        decision_id=decision_id, tenant_id="acme", created_at=at, team=team, project="", feature=feature, user="",
        model=model, category=category, security=security, reason="bandit", rule_id="", budget_mode="",
        estimated_cost_usd=cost, cache_hit=cache_hit, settled_at=settled_at, input_tokens=input_tokens,
        output_tokens=output_tokens, cost_usd=cost, baseline_cost_usd=cost, cache_saved_usd=0.0, quality=quality,
        error=False, prompt_key=prompt_key,
    )
    decision = Decision(
        decision_id=decision_id, tenant_id="acme", created_at=at, model=model, provider="", reason="bandit",
        probability=probabilities[(SONNET, MINI).index(model)], category=category, security=security,
        complexity=complexity, cost_weight=0.3, estimated_input_tokens=input_tokens,
        estimated_output_tokens=output_tokens, estimated_cost_usd=cost, candidates=(SONNET, MINI),
        probabilities=probabilities, fallbacks=(), metadata=Metadata(team=team, feature=feature),
    )
    context = Context(np.zeros(4, dtype=np.float32), category, complexity, input_tokens, output_tokens)
    record = FeedbackRecord(decision_id, quality or 0.0, input_tokens, output_tokens, 0.0, False, quality or 0.0,
                            cost, at + 5.0)
    return entry, (0, decision, context, record)


def team_traffic(team: str, mini_qualities: tuple[float, ...], calls: int = 200, security: bool = False) -> list:
    """80/20 logging: the first of every five calls went to gpt-4o-mini, the others to claude-sonnet-4
    (rated GOOD). A block of five shares a complexity, ten blocks cover 0…0.9, and each model's ratings
    cycle so that every complexity sees all of them: as the propensities say, the choice and the rating
    are independent of the prompt."""
    traffic = []
    for i in range(calls):
        model, quality = (MINI, mini_qualities[(i // 50) % 4]) if i % 5 == 0 else (SONNET, GOOD[i % 4])
        traffic.append(call(f"{team}-{i}", team, model, quality, at=T0 + 60 * i, security=security,
                            complexity=(i // 5 % 10) / 10))
    return traffic


@pytest.fixture(scope="module")
def tenant():
    """search: gpt-4o-mini as good as claude-sonnet-4 on chat; support: clearly worse; vault: as good,
    but every call is a security task; and search's own security calls, where gpt-4o-mini failed."""
    failed_security = [call(f"search-sec-{i}", "search", MINI, 0.0, at=T0 + 7 + 60 * i, security=True)
                       for i in range(30)]
    return (team_traffic("search", GOOD) + team_traffic("support", POOR) + team_traffic("vault", GOOD, security=True)
            + failed_security)


def cheaper(traffic: list, window_days: float = WEEK, **kwargs) -> list:
    entries, events = zip(*traffic)
    return find_cheaper_models(entries, events, REGISTRY, window_days, **kwargs)


def test_the_cheaper_model_is_found_for_the_team_where_it_is_as_good_with_the_saving_by_hand(tenant):
    assert REGISTRY[SONNET].cost(1000, 500) == pytest.approx(SONNET_CALL)
    assert REGISTRY[MINI].cost(1000, 500) == pytest.approx(MINI_CALL)
    [found] = cheaper(tenant)
    assert (found.category, found.scope) == (CHEAPER_MODEL, {"team": "search", "category": "chat"})
    # The week: 160 calls on claude-sonnet-4 and 40 on gpt-4o-mini; after, all 200 on gpt-4o-mini.
    before, after = 160 * 0.0105 + 40 * 0.00045, 200 * 0.00045  # $1.698, $0.09
    assert (found.projection.cost_before_usd, found.projection.cost_after_usd) == pytest.approx((before, after))
    # A month is 30 days: (1.698 − 0.09) · 30 / 7 = $6.8914…
    assert found.monthly_saving_usd == pytest.approx(1.608 * 30 / 7)
    assert (found.current_monthly_usd, found.projected_monthly_usd) == pytest.approx((1.698 * 30 / 7, 0.09 * 30 / 7))
    evidence = found.evidence
    assert (evidence.calls, evidence.affected) == (200, 160)
    assert (evidence.current_quality.n, evidence.proposed_quality.n) == (160, 40)  # security calls left out
    assert evidence.current_quality.mean == pytest.approx(0.9)
    assert evidence.proposed_quality.low < 0.9 < evidence.proposed_quality.high
    assert all(i.startswith("search-") and int(i.split("-")[1]) % 5 == 0 for i in evidence.sample_decision_ids)
    assert 0.975 <= found.confidence <= 1 and found.risk == LOW


def test_the_dr_estimate_covers_the_cheaper_models_true_quality(tenant):
    [found] = cheaper(tenant)
    after = found.projection.quality_after
    assert after.low <= 0.9 <= after.high and after.n == 200
    assert found.projection.quality_before.mean == pytest.approx(0.9)


def test_the_suggested_rule_parses_and_never_matches_a_security_task(tenant):
    [found] = cheaper(tenant)
    rule = parse_rule(found.suggested_rule, REGISTRY)
    assert (rule.action.model, rule.action.fallback, rule.ab_share) == (MINI, SONNET, 0.2)
    facts = dict(model="", provider="", category="chat", input_tokens=1000, team="search", project="", feature="",
                 user="", complexity=0.5, prompt="hello")
    assert all(matches(c, Facts.at(T0, security=False, **facts)) for c in rule.conditions)
    assert not all(matches(c, Facts.at(T0, security=True, **facts)) for c in rule.conditions)


def test_security_traffic_is_never_recommended_away(tenant):
    vault = [c for c in tenant if c[0].team == "vault"]
    assert cheaper(vault) == []
    # As ordinary traffic, the same calls would be moved.
    assert [r.scope["team"] for r in cheaper([unsecured(c) for c in vault])] == ["vault"]


def unsecured(pair: tuple) -> tuple:
    entry, (seq, decision, context, record) = pair
    return replace(entry, security=False), (seq, replace(decision, security=False), context, record)


def test_the_id_is_stable_and_the_evidence_key_moves_only_with_the_evidence(tenant):
    [found] = cheaper(tenant)
    [again] = cheaper(tenant[::-1])
    assert (again.id, again.evidence_key) == (found.id, found.evidence_key)
    one_more = [call("search-new-mini", "search", MINI, 0.9, at=T0 + 1e5),
                call("search-new-sonnet", "search", SONNET, 0.9, at=T0 + 1e5 + 1)]
    [more] = cheaper(tenant + one_more)
    assert (more.id, more.evidence_key) == (found.id, found.evidence_key)
    assert more.monthly_saving_usd > found.monthly_saving_usd
    [busier] = cheaper(tenant, window_days=WEEK / 10)  # the same calls in a tenth of the time: 10× the saving
    assert busier.id == found.id and busier.evidence_key != found.evidence_key
    better = [c for c in tenant if c[0].team != "search"] + team_traffic("search", (0.95, 1.0, 1.0, 1.0))
    [improved] = cheaper(better)
    assert improved.id == found.id and improved.evidence_key != found.evidence_key


def test_dr_refuses_a_model_the_bandit_mostly_tried_on_easy_prompts():
    """gpt-4o-mini rates 0.95 on easy prompts and 0.6 on hard ones; the bandit gave it half the easy
    prompts and a twentieth of the hard ones, so its logged mean (0.92) looks as good as claude's 0.9.
    Routed everything, it would rate 0.775: DR, reweighting by the propensities, sees that."""
    traffic = []
    for i in range(400):
        easy = i % 2 == 0
        share = 0.5 if easy else 0.05
        mini = (i // 2) % 2 == 0 if easy else (i // 2) % 20 == 0
        model = MINI if mini else SONNET
        quality = (0.95 if easy else 0.6) if mini else 0.9
        traffic.append(call(f"c{i}", "search", model, quality + 0.01 * (i % 3 - 1), at=T0 + i,
                            complexity=0.1 if easy else 0.9, mini_share=share))
    mini_ratings = [e.quality for e, _ in traffic if e.model == MINI]
    sonnet_ratings = [e.quality for e, _ in traffic if e.model == SONNET]
    assert np.mean(mini_ratings) > np.mean(sonnet_ratings)
    assert non_inferiority(sonnet_ratings, mini_ratings, 0.03) > 0.99  # the direct test alone would say yes
    estimate = dr_quality([event for _, event in traffic], MINI)
    assert estimate.low <= 0.5 * 0.95 + 0.5 * 0.6 <= estimate.high < 0.85
    assert cheaper(traffic) == []


def test_a_cheaper_model_never_a_candidate_saves_nothing_and_is_not_recommended(tenant):
    entries, events = zip(*[c for c in tenant if c[0].team == "search"])
    events = [(seq, replace(d, candidates=(d.model,), probabilities=()), c, r) for seq, d, c, r in events]
    assert find_cheaper_models(entries, events, REGISTRY, WEEK) == []


def help_desk() -> list[LedgerEntry]:
    """Four chat prompts each asked four times, ten minutes apart, every answer rated 0.9, none served
    from the cache (chat's TTL is 60 s); a fifth asked twice whose first answer rated 0.5; and
    security repeats, which are never cached."""
    entries = []
    for key in range(4):
        for n in range(4):
            entries.append(call(f"k{key}-{n}", "help", SONNET, 0.9, at=T0 + key + 600 * n, prompt_key=f"k{key}")[0])
    entries += [call(f"poor-{n}", "help", SONNET, 0.5, at=T0 + 600 * n, prompt_key="poor")[0] for n in range(2)]
    entries += [call(f"sec-{n}", "help", SONNET, 0.9, at=T0 + n, prompt_key="sec", security=True)[0]
                for n in range(20)]
    return entries


def test_repeated_prompts_the_cache_missed_are_found_with_the_saving_by_hand():
    [found] = find_cacheable(help_desk(), window_days=1)
    assert (found.category, found.scope) == (CACHE, {"team": "help", "category": "chat"})
    details = found.evidence.details
    # 4 prompts × 3 repeats = 12 a cache could have served; the second "poor" call had no answer worth keeping.
    assert (found.evidence.affected, details["repeats"], details["without_cacheable_answer"]) == (12, 13, 1)
    # Each repeat came 600 s after the previous call, whose answer was stored 5 s after it: gap 595 s,
    # over chat's TTL of 60 s; the suggestion rounds it up to the minute.
    assert (details["ttl_seconds"], details["suggested_ttl_seconds"], details["median_gap_seconds"]) == (60, 600, 595)
    # A day's window: 12 × $0.0105 saved of 18 × $0.0105 spent, × 30 for the month.
    assert found.monthly_saving_usd == pytest.approx(12 * 0.0105 * 30)
    assert found.current_monthly_usd == pytest.approx(18 * 0.0105 * 30)
    assert found.suggested_rule is None and found.risk == LOW and "600 s" in found.title
    assert 0 < found.confidence < 12 / 13  # Wilson's lower bound of 12 out of 13


def test_repeats_the_cache_mostly_served_are_no_low_hit_rate():
    def served(keys: tuple[str, ...]) -> list[LedgerEntry]:
        return [replace(e, cache_hit=True, cost_usd=0.0) if e.prompt_key in keys and not e.decision_id.endswith("-0")
                else e for e in help_desk()]

    every_repeat = AdviceSettings(min_repeats=1)
    # k0's 3 repeats served, 10 missed: a hit rate of 3/13; k0–k2's 9 served, 4 missed: 9/13, over a half.
    assert len(find_cacheable(served(("k0",)), window_days=1, settings=every_repeat)) == 1
    assert find_cacheable(served(("k0", "k1", "k2")), window_days=1, settings=every_repeat) == []


def test_a_category_left_uncached_on_purpose_is_a_medium_risk():
    entries = [replace(e, category="creative") for e in help_desk()]
    [found] = find_cacheable(entries, window_days=1)
    assert found.risk == MEDIUM and found.evidence.details["ttl_seconds"] == 0 and "never cached" in found.title


def writers() -> list[LedgerEntry]:
    """blog: 20 answers of 100 to 2,000 tokens to 200-token prompts on claude-sonnet-4, rated alike;
    chat: long prompts, short answers."""
    blog = [call(f"blog-{i}", "writers", SONNET, (0.85, 0.95)[i % 2], at=T0 + i, feature="blog", input_tokens=200,
                 output_tokens=100 * (i + 1))[0] for i in range(20)]
    chat = [call(f"chat-{i}", "writers", SONNET, 0.9, at=T0 + i, feature="chat", input_tokens=2000,
                 output_tokens=100)[0] for i in range(20)]
    return blog + chat


def test_output_heavy_calls_are_found_with_the_saving_of_a_cap_at_the_median_by_hand():
    [found] = find_output_heavy(writers(), REGISTRY, window_days=1)
    assert (found.category, found.scope) == (OUTPUT_CAP, {"team": "writers", "feature": "blog"})
    assert found.suggested_rule is None
    # Outputs 100…2000: the median (the lower of the middle two) is 1,000 tokens; the ten answers of
    # 1,100…2,000 lose 100…1,000 tokens at $15 per 1M: 5,500 · 15 / 1e6 = $0.0825 a day.
    assert found.evidence.details["cap_tokens"] == 1000 and found.evidence.affected == 10
    assert found.monthly_saving_usd == pytest.approx(5500 * 15 / 1e6 * 30)
    # Answers: 21,000 tokens · $15 per 1M = $0.315 of $0.315 + 20 · 200 · $3 per 1M = $0.327.
    assert found.evidence.details["output_cost_share"] == pytest.approx(0.315 / 0.327)
    assert found.risk == MEDIUM and found.confidence > 0.5  # long answers rate no better than short ones


def test_capping_answers_that_rate_better_long_is_a_high_risk():
    entries = [replace(e, quality=(0.95, 1.0)[i % 2] if e.output_tokens > 1000 else (0.6, 0.65)[i % 2])
               for i, e in enumerate(writers())]
    [found] = find_output_heavy(entries, REGISTRY, window_days=1)
    assert found.risk == HIGH and found.confidence < 0.5


def test_a_fixed_cap_changes_the_saving_and_the_id():
    [median] = find_output_heavy(writers(), REGISTRY, window_days=1)
    [fixed] = find_output_heavy(writers(), REGISTRY, window_days=1, settings=AdviceSettings(cap_tokens=500))
    # 600…2,000 lose 100…1,500 tokens: 100 · (1 + … + 15) = 12,000 tokens at $15 per 1M a day.
    assert fixed.monthly_saving_usd == pytest.approx(12_000 * 15 / 1e6 * 30) and fixed.id != median.id


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=50))
def test_a_quality_interval_holds_its_mean_within_zero_and_one(qualities):
    interval = mean_interval(qualities)
    assert 0 <= interval.low <= interval.mean + 1e-12 and interval.mean - 1e-12 <= interval.high <= 1
