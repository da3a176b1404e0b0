"""Candidates and the bandit: the safety floor is never violated, probabilities are a distribution."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners.bandit import BanditPolicy
from learners.exploration import inverse_gap_probabilities
from learners.policies import Choice, Situation
from learners.vw_bandit import QualityLearner
from router.config import LearnerSettings
from router.decide.candidates import candidate_models, reason_for
from router.domain.categories import CATEGORIES
from router.domain.errors import InvalidArgument
from router.domain.registry import Registry
from router.domain.types import Constraints, Reason
from tests.conftest import random_context

REGISTRY = Registry.from_yaml()
BANDIT = BanditPolicy(QualityLearner.from_settings(LearnerSettings(), 384), LearnerSettings())


def route(context, security: bool, cost_weight: float, constraints: Constraints) -> Choice:
    """The decision path of Route after classification: candidates, floor, then the bandit."""
    candidates = candidate_models(REGISTRY, context, security, constraints)
    return BANDIT.choose(Situation(context, tuple(candidates), cost_weight))

contexts = st.builds(
    random_context,
    seed=st.integers(0, 10_000),
    category=st.sampled_from(CATEGORIES),
    input_tokens=st.integers(1, 150_000),
    output_tokens=st.integers(1, 8_000),
)
allowed_sets = st.lists(st.sampled_from(REGISTRY.ids), unique=True, max_size=len(REGISTRY))
cost_weights = st.floats(0, 100, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(context=contexts, cost_weight=cost_weights, allowed=allowed_sets)
def test_a_security_task_only_ever_gets_a_premium_model(context, cost_weight, allowed):
    try:
        choice = route(context, True, cost_weight, Constraints(allowed_models=tuple(allowed)))
    except InvalidArgument:
        # Refusing is the only way out when the constraints leave no premium model.
        eligible = allowed or REGISTRY.ids
        assert not any(REGISTRY[m].tier == "premium" and REGISTRY[m].fits(context.input_tokens, context.output_tokens)
                       for m in eligible)
        return
    assert REGISTRY[choice.model].tier == "premium"
    assert all(REGISTRY[m].tier == "premium" for m in choice.ranking)


@settings(max_examples=300, deadline=None)
@given(context=contexts, cost_weight=cost_weights, allowed=allowed_sets, security=st.booleans())
def test_probabilities_form_a_distribution_and_the_chosen_one_is_logged(context, cost_weight, allowed, security):
    try:
        choice = route(context, security, cost_weight, Constraints(allowed_models=tuple(allowed)))
    except InvalidArgument:
        return
    assert 0 < choice.probability <= 1
    assert all(0 < p <= 1 for p in choice.probabilities)
    assert sum(choice.probabilities) == pytest.approx(1.0)
    assert choice.probability in choice.probabilities
    assert choice.model in choice.ranking and len(choice.ranking) == len(choice.probabilities)


@settings(max_examples=500, deadline=None)
@given(
    scores=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=15),
    gamma=st.floats(0, 1e6, allow_nan=False),
    floor=st.floats(0, 0.09),
)
def test_inverse_gap_weighting_is_a_distribution_favouring_the_best(scores, gamma, floor):
    probabilities = inverse_gap_probabilities(np.array(scores), gamma, floor)
    assert probabilities.sum() == pytest.approx(1.0)
    assert (probabilities > 0).all()
    assert (probabilities >= min(floor, 1 / len(scores)) - 1e-12).all()
    assert probabilities[int(np.argmax(scores))] == pytest.approx(probabilities.max())


def test_larger_gaps_and_larger_gamma_mean_less_exploration():
    near = inverse_gap_probabilities(np.array([1.0, 0.99]), gamma=100)
    far = inverse_gap_probabilities(np.array([1.0, 0.5]), gamma=100)
    assert far[1] < near[1]
    assert inverse_gap_probabilities(np.array([1.0, 0.5]), gamma=1000)[1] < far[1]


def test_a_single_allowed_model_is_chosen_with_certainty():
    choice = route(random_context(1), False, 0.3, Constraints(allowed_models=("gpt-4o",)))
    assert (choice.model, choice.probability) == ("gpt-4o", 1.0)


def test_the_reason_says_why_there_was_no_choice():
    assert reason_for(True, 2) == Reason.SAFETY_FLOOR
    assert reason_for(True, 1) == Reason.SAFETY_FLOOR
    assert reason_for(False, 1) == Reason.ONLY_MODEL_ALLOWED
    assert reason_for(False, 3) == Reason.BANDIT


def test_a_model_whose_context_window_is_too_small_is_never_chosen():
    context = random_context(2, input_tokens=100_000)  # deepseek-chat holds 64k
    for _ in range(50):
        choice = route(context, False, 0.0, Constraints(allowed_models=("deepseek-chat", "gpt-4o-mini")))
        assert choice.model == "gpt-4o-mini"


def test_constraints_no_model_can_meet_are_refused_naming_the_field():
    with pytest.raises(InvalidArgument, match="constraints.max_cost_usd"):
        route(random_context(3), False, 0.3, Constraints(max_cost_usd=1e-12))
    with pytest.raises(InvalidArgument, match="messages"):
        route(random_context(4, input_tokens=2_000_000), False, 0.3, Constraints())
    with pytest.raises(InvalidArgument, match="security task needs a premium model"):
        route(random_context(5), True, 0.3, Constraints(allowed_models=("gpt-4o-mini",)))


def test_with_a_large_cost_weight_the_cheap_models_win():
    counts = {}
    for seed in range(200):
        model = route(random_context(seed), False, 50.0, Constraints()).model
        counts[model] = counts.get(model, 0) + 1
    budget_share = sum(n for m, n in counts.items() if REGISTRY[m].tier == "budget") / 200
    assert budget_share > 0.8
