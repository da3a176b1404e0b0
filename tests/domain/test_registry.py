"""The model registry: prices as the seeds give them, costs computed from them, tiers known."""

import pytest

from router.domain.registry import ModelSpec, Registry

SEED_PRICES = {  # USD per 1M tokens, input / output (seeds 002 and 003)
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "gpt-4o": (2.50, 10.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "kimi-k2": (1.00, 3.00),
    "deepseek-chat": (0.27, 1.10),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.5-flash": (0.375, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
}


def test_packaged_registry_has_the_seed_models_at_seed_prices(registry):
    assert len(registry) >= 8
    for model_id, (price_in, price_out) in SEED_PRICES.items():
        assert (registry[model_id].input_per_1m, registry[model_id].output_per_1m) == (price_in, price_out)


def test_every_tier_is_present_and_the_baseline_is_premium(registry):
    assert {m.tier for m in registry} == {"budget", "mid", "premium"}
    assert registry[registry.baseline_model].tier == "premium"


def test_cost_is_tokens_times_price(registry):
    # 1,000 in and 2,000 out on Opus: 1000·15/1e6 + 2000·75/1e6
    assert registry["claude-opus-4"].cost(1000, 2000) == pytest.approx(0.015 + 0.15)
    assert registry["gpt-4o-mini"].cost(0, 0) == 0


def test_gemini_pro_pays_the_long_context_price_above_128k_input(registry):
    pro = registry["gemini-2.5-pro"]
    assert pro.cost(128_000, 1000) == pytest.approx((128_000 * 1.25 + 1000 * 10.0) / 1e6)
    assert pro.cost(128_001, 1000) == pytest.approx((128_001 * 2.50 + 1000 * 15.0) / 1e6)


def test_a_model_fits_only_what_its_context_window_holds(registry):
    deepseek = registry["deepseek-chat"]  # 64k window
    assert deepseek.fits(60_000, 2_000)
    assert not deepseek.fits(63_000, 2_000)
    assert not deepseek.fits(1_000, deepseek.max_output_tokens + 1)


def test_priors_come_from_the_seed_table_by_category(registry):
    opus = registry["claude-opus-4"]
    assert opus.prior("security_critical") == opus.quality_prior["coding"]
    assert opus.prior("reasoning") == 0.98


def test_a_registry_refuses_unknown_tiers_duplicates_and_a_missing_baseline():
    spec = dict(provider="p", input_per_1m=1, output_per_1m=1, context_window=10, max_output_tokens=5)
    with pytest.raises(ValueError, match="tier"):
        Registry([ModelSpec(id="a", tier="flagship", **spec)], "a")
    with pytest.raises(ValueError, match="duplicate"):
        Registry([ModelSpec(id="a", tier="mid", **spec), ModelSpec(id="a", tier="mid", **spec)], "a")
    with pytest.raises(ValueError, match="baseline"):
        Registry([ModelSpec(id="a", tier="mid", **spec)], "b")


def test_get_finds_models_and_plans_and_none_for_an_id_it_does_not_hold(registry):
    assert registry.get("gpt-4o-mini") is registry["gpt-4o-mini"]
    for plan in registry.plans:
        assert registry.get(plan.id) is registry[plan.id]
    assert registry.get("retired-model") is None
