"""The baselines behind the one policy interface: each picks what its name says."""

import pytest

from learners.policies import AlwaysCheapest, AlwaysModel, OraclePolicy, RandomPolicy, Situation, StaticRulesPolicy
from router.domain.registry import Registry
from tests.conftest import random_context

REGISTRY = Registry.from_yaml()


def situation(category="chat", models=None, truth=None, cost_weight=0.2):
    candidates = tuple(REGISTRY[m] for m in (models or REGISTRY.ids))
    return Situation(random_context(0, category=category), candidates, cost_weight, truth)


def test_always_premium_picks_the_baseline_or_the_dearest_allowed():
    policy = AlwaysModel(REGISTRY.baseline_model)
    assert policy.choose(situation()).model == "claude-opus-4"
    assert policy.choose(situation(models=["gpt-4o", "gpt-4o-mini"])).model == "gpt-4o"


def test_always_cheapest_picks_the_cheapest_candidate():
    assert AlwaysCheapest().choose(situation()).model == "gemini-2.0-flash"
    assert AlwaysCheapest().choose(situation(models=["o1", "claude-opus-4"])).model == "o1"


@pytest.mark.parametrize("category, model", [("standard_implementation", "kimi-k2"), ("documentation", "gemini-2.5-pro"),
                                             ("simple_query", "gemini-2.5-flash"), ("security_critical", "claude-opus-4")])
def test_static_rules_follow_seed_002s_tree(category, model):
    assert StaticRulesPolicy().choose(situation(category)).model == model


def test_static_rules_fall_back_to_the_listed_fallback_then_the_cheapest():
    assert StaticRulesPolicy().choose(situation("standard_implementation", ["gemini-2.5-pro", "gpt-4o"])).model \
        == "gemini-2.5-pro"
    assert StaticRulesPolicy().choose(situation("chat", ["gpt-4o", "gpt-4o-mini"])).model == "gpt-4o-mini"


def test_the_oracle_maximises_true_quality_minus_weighted_cost():
    truth = {"claude-opus-4": 0.99, "gpt-4o-mini": 0.98, "gpt-4o": 0.5}
    pick = OraclePolicy().choose(situation(models=list(truth), truth=truth, cost_weight=0.2))
    assert pick.model == "gpt-4o-mini"
    pick = OraclePolicy().choose(situation(models=list(truth), truth=truth, cost_weight=0.0))
    assert pick.model == "claude-opus-4"
    with pytest.raises(ValueError):
        OraclePolicy().choose(situation())


def test_random_is_uniform_and_logs_its_probability():
    policy = RandomPolicy(seed=1)
    picks = [policy.choose(situation(models=["gpt-4o", "o1"])) for _ in range(400)]
    assert all(p.probability == 0.5 for p in picks)
    assert 150 < sum(p.model == "o1" for p in picks) < 250
