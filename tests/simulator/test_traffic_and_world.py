"""Synthetic traffic and the hidden world that grades it: determinism, realism, and the quality model's shape."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from router.domain.categories import CATEGORIES, SECURITY_CRITICAL
from simulator.traffic import SyntheticPrompt, TrafficGenerator, distinct_prompts
from simulator.world import BASE_QUALITY, World

STREAM_LENGTH = 5000
EASY = np.linspace(0.0, 0.29, 30)
HARD = np.linspace(0.71, 1.0, 30)
PREMIUM_LEADS_WHEN_HARD = (SECURITY_CRITICAL, "complex_implementation", "reasoning")


@pytest.fixture(scope="module")
def prompts() -> list[SyntheticPrompt]:
    return list(TrafficGenerator(seed=7).stream(STREAM_LENGTH))


def first_of_each_topic(prompts: list[SyntheticPrompt]) -> dict[int, SyntheticPrompt]:
    return {p.topic_id: p for p in prompts if p.kind == "new"}


def numbers_in(text: str) -> list[str]:
    return sorted(re.findall(r"\d+", text))


def at_difficulties(prompt: SyntheticPrompt, category: str, difficulties: np.ndarray) -> list[SyntheticPrompt]:
    return [replace(prompt, category=category, difficulty=float(d)) for d in difficulties]


def mean_quality(world: World, model: str, prompts: list[SyntheticPrompt]) -> float:
    return float(np.mean([world.expected_quality(model, p) for p in prompts]))


# --- traffic -----------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_stream_and_another_seed_a_different_one():
    first = list(TrafficGenerator(seed=11).stream(800))
    assert first == list(TrafficGenerator(seed=11).stream(800))
    assert [p.text for p in first] != [p.text for p in TrafficGenerator(seed=12).stream(800)]


def test_each_call_to_stream_starts_the_same_stream_again():
    generator = TrafficGenerator(seed=3)
    assert list(generator.stream(300)) == list(generator.stream(300))


def test_every_category_appears(prompts):
    assert set(p.category for p in prompts) == set(CATEGORIES)


def test_no_prompt_names_its_category(prompts):
    names = [form for c in CATEGORIES for form in (c, c.replace("_", " "))]
    for p in prompts:
        seen = (p.system + "\n" + p.text).lower()
        assert not [n for n in names if n in seen], p.text


def test_the_default_mix_is_led_by_everyday_requests_with_a_small_security_share(prompts):
    share = {c: n / len(prompts) for c, n in Counter(p.category for p in prompts).items()}
    assert 0.03 <= share[SECURITY_CRITICAL] <= 0.08
    assert share["simple_query"] + share["chat"] + share["standard_implementation"] > 0.4


def test_category_weights_choose_the_mix():
    assert {p.category for p in TrafficGenerator(seed=1, category_weights={"chat": 1.0}).stream(300)} == {"chat"}


def test_a_repeat_is_an_exact_copy_of_an_earlier_prompt_of_the_same_topic(prompts):
    originals = first_of_each_topic(prompts)
    repeats = [p for p in prompts if p.kind == "repeat"]
    assert repeats
    for p in repeats:
        original = originals[p.topic_id]
        assert original.index < p.index
        assert (p.text, p.system, p.category, p.difficulty) == (original.text, original.system,
                                                                original.category, original.difficulty)


def test_a_paraphrase_rewords_the_same_question_with_the_same_numbers(prompts):
    originals = first_of_each_topic(prompts)
    paraphrases = [p for p in prompts if p.kind == "paraphrase"]
    assert paraphrases
    for p in paraphrases:
        original = originals[p.topic_id]
        assert original.index < p.index
        assert p.text != original.text
        assert (p.category, p.difficulty, p.system) == (original.category, original.difficulty, original.system)
        assert numbers_in(p.text) == numbers_in(original.text)


def test_revisits_make_up_the_repeat_share():
    revisits = [p.kind != "new" for p in TrafficGenerator(seed=5, repeat_share=0.3).stream(STREAM_LENGTH)]
    assert np.mean(revisits) == pytest.approx(0.3, abs=0.03)
    assert all(p.kind == "new" for p in TrafficGenerator(seed=5, repeat_share=0.0).stream(500))


def test_a_few_popular_topics_draw_most_revisits(prompts):
    """Zipf-like popularity: the top 1% of topics account for a large share of all revisits."""
    revisits = Counter(p.topic_id for p in prompts if p.kind != "new")
    top = sum(n for _, n in revisits.most_common(len(first_of_each_topic(prompts)) // 100))
    assert top / sum(revisits.values()) > 0.2


def test_token_counts_are_positive_and_track_the_text(prompts):
    for p in prompts:
        assert p.input_tokens >= 1 and p.output_tokens >= 1
        assert p.input_tokens == pytest.approx((len(p.system) + len(p.text)) / 4, abs=1)


def test_implementation_work_writes_longer_answers_than_questions_and_small_talk(prompts):
    mean_output = {c: np.mean([p.output_tokens for p in prompts if p.category == c]) for c in CATEGORIES}
    for heavy in ("complex_implementation", "standard_implementation"):
        for light in ("simple_query", "chat"):
            assert mean_output[heavy] > 2 * mean_output[light]


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c not in ("simple_query", "chat")])
def test_harder_prompts_read_longer(prompts, category):
    """Difficulty shows in the text (more requirements, longer specs), if only on average."""
    new = [p for p in prompts if p.kind == "new" and p.category == category]
    median = np.median([p.difficulty for p in new])
    hard = np.mean([len(p.text) for p in new if p.difficulty > median])
    easy = np.mean([len(p.text) for p in new if p.difficulty <= median])
    assert hard > easy


# Words by which a request announces itself as security work; an implicit prompt uses none of them.
SECURITY_WORDS = re.compile(r"secur|vulnerab|exploit|attack|inject|xss|csrf|malicious|audit|hack|threat|cve", re.I)


@pytest.fixture(scope="module")
def security_prompts() -> list[SyntheticPrompt]:
    return list(TrafficGenerator(seed=13, category_weights={SECURITY_CRITICAL: 1.0}).stream(600))


def test_security_prompts_are_explicit_or_implicit_and_the_rest_have_no_style(prompts, security_prompts):
    assert {p.style for p in prompts if p.category != SECURITY_CRITICAL} == {""}
    assert {p.style for p in prompts if p.category == SECURITY_CRITICAL} == {"explicit", "implicit"}
    assert {p.category for p in security_prompts} == {SECURITY_CRITICAL}


def test_about_a_third_of_the_security_prompts_are_implicit_within_the_same_security_share(prompts,
                                                                                           security_prompts):
    for stream in (prompts, security_prompts):
        styles = Counter(p.style for p in stream if p.category == SECURITY_CRITICAL)
        assert 0.22 <= styles["implicit"] / styles.total() <= 0.45


def test_implicit_security_prompts_never_use_a_security_word(security_prompts):
    implicit = [p for p in security_prompts if p.style == "implicit"]
    assert implicit
    for p in implicit:
        assert not SECURITY_WORDS.search(p.text), p.text


def test_implicit_security_prompts_vary(security_prompts):
    implicit = [p for p in security_prompts if p.style == "implicit"]
    assert len({p.text for p in implicit}) >= 100
    # Many different requests, not one request with many slot values: count the distinct openings.
    assert len({p.text.split(":")[0][:30] for p in implicit}) >= 25
    frameworks = ("FastAPI", "Django", "Flask", "Express", "NestJS", "Fastify", "Gin", "Spring Boot")
    assert sum(any(f in p.text for p in implicit) for f in frameworks) >= 6


def test_implicit_security_prompts_are_the_same_for_the_same_seed(security_prompts):
    again = TrafficGenerator(seed=13, category_weights={SECURITY_CRITICAL: 1.0}).stream(600)
    assert [(p.text, p.style) for p in again] == [(p.text, p.style) for p in security_prompts]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        TrafficGenerator(seed=1, category_weights={"gossip": 1.0})
    with pytest.raises(ValueError):
        TrafficGenerator(seed=1, category_weights={"chat": 0.0})
    with pytest.raises(ValueError):
        TrafficGenerator(seed=1, repeat_share=1.0)


# --- world -------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_observations_and_another_seed_different_ones(registry, prompts):
    def observe(seed: int) -> list[float | None]:
        world = World(registry, seed=seed)
        return [world.observe(model, p) for p in prompts[:400] for model in ("claude-opus-4", "gpt-4o-mini")]

    assert observe(3) == observe(3)
    assert observe(3) != observe(4)


def test_a_cheaper_model_matches_or_beats_the_premium_baseline_somewhere(registry, prompts):
    world = World(registry, seed=0)
    baseline = registry[registry.baseline_model]
    cheaper = [m.id for m in registry if m.cost(1000, 1000) < baseline.cost(1000, 1000)]
    probe = prompts[0]
    assert any(
        world.expected_quality(model, replace(probe, category=c, difficulty=0.5))
        >= world.expected_quality(baseline.id, replace(probe, category=c, difficulty=0.5))
        for model in cheaper for c in CATEGORIES
    )


def test_budget_models_are_close_to_premium_on_easy_prompts_in_most_categories(registry, prompts):
    world = World(registry, seed=0)
    premium = [m.id for m in registry if m.tier == "premium"]
    for budget in (m.id for m in registry if m.tier == "budget"):
        close = 0
        for category in CATEGORIES:
            easy = at_difficulties(prompts[0], category, EASY)
            best_premium = max(mean_quality(world, m, easy) for m in premium)
            close += best_premium - mean_quality(world, budget, easy) <= 0.03
        assert close > len(CATEGORIES) / 2, budget


@pytest.mark.parametrize("category", PREMIUM_LEADS_WHEN_HARD)
def test_premium_leads_clearly_on_hard_prompts_where_it_matters(registry, prompts, category):
    world = World(registry, seed=0)
    hard = at_difficulties(prompts[0], category, HARD)
    best = {tier: max(mean_quality(world, m.id, hard) for m in registry if m.tier == tier)
            for tier in ("budget", "mid", "premium")}
    assert best["premium"] - max(best["mid"], best["budget"]) >= 0.05


def test_expected_quality_never_rises_with_difficulty(registry, prompts):
    world = World(registry, seed=0)
    grid = np.linspace(0.0, 1.0, 41)
    for model in BASE_QUALITY:
        for category in CATEGORIES:
            quality = [world.expected_quality(model, p) for p in at_difficulties(prompts[0], category, grid)]
            assert np.all(np.diff(quality) <= 1e-12), (model, category)


def test_feedback_goes_missing_at_about_the_configured_rate(registry, prompts):
    world = World(registry, seed=9, feedback_loss=0.2)
    observed = [world.observe("gpt-4o", prompts[i % len(prompts)]) for i in range(5000)]
    assert np.mean([q is None for q in observed]) == pytest.approx(0.2, abs=0.03)
    assert all(0.0 <= q <= 1.0 for q in observed if q is not None)


@pytest.mark.parametrize("cost_weight", [0.0, 0.2, 1.0])
def test_the_oracle_picks_the_brute_force_best_value(registry, prompts, cost_weight):
    world = World(registry, seed=0)
    models = registry.ids
    for p in prompts[:300]:
        costs = [registry[m].cost(p.input_tokens, p.output_tokens) for m in models]
        values = [world.expected_quality(m, p) - cost_weight * c / max(costs) for m, c in zip(models, costs)]
        assert world.oracle_choice(models, p, cost_weight) == models[int(np.argmax(values))]


def test_distinct_prompts_never_repeat_a_text_and_keep_to_the_length():
    prompts = distinct_prompts(500, seed=4, max_input_tokens=64)
    assert len({p.text for p in prompts}) == 500
    assert max(p.input_tokens for p in prompts) <= 64
    assert distinct_prompts(500, seed=4, max_input_tokens=64) == prompts  # seeded


@pytest.mark.parametrize("n", [0, -3])
def test_distinct_prompts_refuse_a_count_below_one(n):
    with pytest.raises(ValueError, match=">= 1"):
        distinct_prompts(n, seed=0)
