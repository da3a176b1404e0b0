"""Off-policy estimators: hand-computed values, unbiasedness and coverage on a known bandit, leak-free
cross-fitting, validation, and sane output on any valid log."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learners.ope import BanditLog, cross_fitted_reward_model, dm, dr, estimate_all, ips, snips

Z_975 = 1.959963984540054  # norm.ppf(0.975)


# Four events over three actions, each with its own allowed set.
TINY = BanditLog(
    allowed=np.array([[True, True, False], [True, True, True], [False, True, True], [True, False, True]]),
    chosen=np.array([0, 2, 1, 2]),
    propensity=np.array([0.5, 0.25, 0.8, 0.5]),
    reward=np.array([1.0, 0.0, 2.0, 6.0]),
    features=np.zeros((4, 1)),
)
TINY_TARGET = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.4, 0.6], [0.75, 0.0, 0.25]])
TINY_Q_HAT = np.array([[0.5, 1.0, 0.0], [1.0, 2.0, 0.5], [3.0, 1.0, 2.0], [2.0, 0.0, 4.0]])
# w = target[i, chosen] / propensity = [1/0.5, 0.5/0.25, 0.4/0.8, 0.25/0.5] = [2, 2, 0.5, 0.5]


def test_ips_by_hand():
    estimate = ips(TINY, TINY_TARGET)
    # w·r = [2·1, 2·0, 0.5·2, 0.5·6] = [2, 0, 1, 3]; mean = 6/4
    assert estimate.value == pytest.approx(1.5)
    # deviations from 1.5: [0.5, −1.5, −0.5, 1.5]; sample variance = (0.25+2.25+0.25+2.25)/3 = 5/3
    half_width = Z_975 * np.sqrt(5 / 3) / np.sqrt(4)
    assert (estimate.low, estimate.high) == pytest.approx((1.5 - half_width, 1.5 + half_width))
    # ESS = (Σw)² / Σw² = 5² / (4 + 4 + 0.25 + 0.25) = 25 / 8.5
    assert estimate.ess == pytest.approx(25 / 8.5)
    assert (estimate.estimator, estimate.n, estimate.max_weight, estimate.clipped) == ("IPS", 4, 2.0, 0)


def test_snips_by_hand():
    estimate = snips(TINY, TINY_TARGET)
    # Σw·r / Σw = 6 / 5
    assert estimate.value == pytest.approx(1.2)
    # delta method: w·(r − 1.2)/mean(w), mean(w) = 1.25 → [−0.32, −1.92, 0.32, 1.92] (mean 0)
    # sample variance = (0.1024 + 3.6864 + 0.1024 + 3.6864)/3 = 7.5776/3
    half_width = Z_975 * np.sqrt(7.5776 / 3) / np.sqrt(4)
    assert (estimate.low, estimate.high) == pytest.approx((1.2 - half_width, 1.2 + half_width))


def test_dm_and_dr_by_hand_with_a_given_reward_model():
    # Σ_a target·q̂ per event: [1·0.5, 0.5·1 + 0.5·0.5, 0.4·1 + 0.6·2, 0.75·2 + 0.25·4]
    #                        = [0.5, 0.75, 1.6, 2.5]
    assert dm(TINY, TINY_TARGET, TINY_Q_HAT).value == pytest.approx((0.5 + 0.75 + 1.6 + 2.5) / 4)
    # residuals r − q̂[chosen] = [1 − 0.5, 0 − 0.5, 2 − 1, 6 − 4] = [0.5, −0.5, 1, 2]
    # w·residual = [1, −1, 0.5, 1]; per event DM + that = [1.5, −0.25, 2.1, 3.5]
    estimate = dr(TINY, TINY_TARGET, TINY_Q_HAT)
    assert estimate.value == pytest.approx((1.5 - 0.25 + 2.1 + 3.5) / 4)
    assert estimate.ess == pytest.approx(25 / 8.5)


def test_clip_by_hand():
    # w = [2, 2, 0.5, 0.5] capped at 1.5 → [1.5, 1.5, 0.5, 0.5]: two changed
    estimate = ips(TINY, TINY_TARGET, clip=1.5)
    # w·r = [1.5, 0, 1, 3] → 5.5 / 4; ESS = 4² / (2.25 + 2.25 + 0.25 + 0.25) = 16 / 5
    assert estimate.value == pytest.approx(5.5 / 4)
    assert estimate.ess == pytest.approx(16 / 5)
    assert (estimate.max_weight, estimate.clipped) == (1.5, 2)
    # DR clips the same weights: w·residual = [0.75, −0.75, 0.5, 1] → per event [1.25, 0, 2.1, 3.5]
    assert dr(TINY, TINY_TARGET, TINY_Q_HAT, clip=1.5).value == pytest.approx((1.25 + 0 + 2.1 + 3.5) / 4)


def test_estimate_all_gives_the_four_estimators_in_order():
    estimates = estimate_all(TINY, TINY_TARGET, reward_model=TINY_Q_HAT)
    assert [e.estimator for e in estimates] == ["IPS", "SNIPS", "DR", "DM"]
    assert [e.value for e in estimates] == pytest.approx([1.5, 1.2, 6.85 / 4, 5.35 / 4])


# A known contextual bandit: Bernoulli rewards with p = sigmoid(x·θ_a), a softmax logging policy over
# each event's allowed actions, and a deterministic target that prefers other actions.
D, K = 5, 4
THETA, LOGGING, PREFERENCE = np.random.default_rng(2024).normal(size=(3, K, D))


def contexts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    features = rng.normal(size=(n, D))
    allowed = rng.random((n, K)) < 0.75
    allowed[:, 0] = True
    return features, allowed


def softmax_policy(features: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    logits = np.where(allowed, 0.5 * features @ LOGGING.T, -np.inf)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def greedy_target(features: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    best = np.argmax(np.where(allowed, features @ PREFERENCE.T, -np.inf), axis=1)
    return np.eye(K)[best]


def expected_rewards(features: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-features @ THETA.T))


def logged_bandit(seed: int, n: int) -> tuple[BanditLog, np.ndarray]:
    """A log drawn from the softmax policy, and the greedy target's probabilities on it."""
    rng = np.random.default_rng(seed)
    features, allowed = contexts(rng, n)
    probs = softmax_policy(features, allowed)
    chosen = np.argmax(probs.cumsum(axis=1) > rng.random((n, 1)), axis=1)
    rows = np.arange(n)
    reward = (rng.random(n) < expected_rewards(features)[rows, chosen]).astype(float)
    log = BanditLog(allowed, chosen, probs[rows, chosen], reward, features)
    return log, greedy_target(features, allowed)


@pytest.fixture(scope="module")
def true_target_value() -> float:
    # Monte Carlo over 300,000 contexts: its error (~6e-4) is a fifth of the IPS mean's standard error below.
    features, allowed = contexts(np.random.default_rng(99), 300_000)
    return float(np.mean(np.sum(greedy_target(features, allowed) * expected_rewards(features), axis=1)))


def test_the_logging_policy_as_target_gets_the_logged_mean_reward():
    rng = np.random.default_rng(5)
    features, allowed = contexts(rng, 500)
    probs = softmax_policy(features, allowed)
    chosen = np.argmax(probs.cumsum(axis=1) > rng.random((500, 1)), axis=1)
    log = BanditLog(allowed, chosen, probs[np.arange(500), chosen], rng.normal(size=500), features)
    assert ips(log, probs).value == pytest.approx(log.reward.mean(), rel=1e-12, abs=1e-15)
    assert snips(log, probs).value == pytest.approx(log.reward.mean(), rel=1e-12, abs=1e-15)
    assert ips(log, probs).ess == 500


def test_ips_is_unbiased_and_dr_covers_and_beats_it(true_target_value):
    runs = [logged_bandit(seed, 1000) for seed in range(200)]
    ips_values = np.array([ips(log, target).value for log, target in runs])
    dr_estimates = [dr(log, target) for log, target in runs]
    dr_values = np.array([e.value for e in dr_estimates])

    standard_error = ips_values.std(ddof=1) / np.sqrt(len(runs))
    assert abs(ips_values.mean() - true_target_value) < 3 * standard_error
    coverage = np.mean([e.low <= true_target_value <= e.high for e in dr_estimates])
    assert 0.85 <= coverage <= 0.99
    assert np.mean(np.abs(dr_values - true_target_value)) < np.mean(np.abs(ips_values - true_target_value))


def test_clipping_caps_the_weights_and_counts_them():
    log, target = logged_bandit(1, 2000)
    weights = target[np.arange(log.n), log.chosen] / log.propensity
    unclipped, clipped = ips(log, target), ips(log, target, clip=3.0)
    assert unclipped.max_weight == weights.max() > 3.0
    assert clipped.max_weight == 3.0
    assert clipped.clipped == np.count_nonzero(weights > 3.0) > 0
    assert unclipped.clipped == 0


def test_a_target_that_never_agrees_with_the_log_has_no_effective_samples():
    target = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert ips(TINY, target).value == 0.0
    estimate = snips(TINY, target)
    assert np.isnan(estimate.value) and estimate.ess == 0.0


def test_one_event_has_an_unbounded_interval():
    log = BanditLog(np.array([[True]]), np.array([0]), np.array([1.0]), np.array([0.3]), np.zeros((1, 0)))
    estimate = ips(log, np.array([[1.0]]))
    assert (estimate.value, estimate.low, estimate.high) == (0.3, -np.inf, np.inf)


# Cross-fitting


def small_log(seed: int, n: int = 200) -> BanditLog:
    rng = np.random.default_rng(seed)
    return BanditLog(
        allowed=np.ones((n, 3), dtype=bool),
        chosen=rng.integers(0, 3, n),
        propensity=np.full(n, 1 / 3),
        reward=rng.normal(size=n),
        features=rng.normal(size=(n, 2)),
    )


@pytest.mark.parametrize("row", [0, 37, 199])
def test_a_rows_own_reward_never_reaches_its_prediction(row):
    log = small_log(3)
    before = cross_fitted_reward_model(log)
    reward = log.reward.copy()
    reward[row] = 1e6
    after = cross_fitted_reward_model(BanditLog(log.allowed, log.chosen, log.propensity, reward, log.features))
    np.testing.assert_array_equal(after[row], before[row])
    # ...while the models of the other folds did see it.
    assert np.any(after != before)


def test_cross_fitting_is_deterministic_in_its_seed():
    log = small_log(4)
    np.testing.assert_array_equal(cross_fitted_reward_model(log, seed=1), cross_fitted_reward_model(log, seed=1))
    assert np.any(cross_fitted_reward_model(log, seed=1) != cross_fitted_reward_model(log, seed=2))


def test_the_ridge_fits_a_line_and_does_not_penalise_the_intercept():
    rng = np.random.default_rng(6)
    n = 600
    x = rng.normal(size=(n, 1))
    line = 2.0 + 3.0 * x[:, 0]
    log = BanditLog(np.ones((n, 1), dtype=bool), np.zeros(n, dtype=int), np.ones(n),
                    line + rng.normal(scale=0.01, size=n), x)
    inside = np.abs(x[:, 0]) < 2  # away from the ends, where predictions are clipped to the rewards seen
    assert cross_fitted_reward_model(log, ridge=1e-6)[inside, 0] == pytest.approx(line[inside], abs=0.05)
    # An enormous penalty flattens the slope towards the mean reward (about 2), not towards zero.
    assert cross_fitted_reward_model(log, ridge=1e12)[:, 0] == pytest.approx(log.reward.mean(), abs=0.05)


def test_rarely_or_never_chosen_actions_fall_back_to_means():
    # Action 0 always earns 1, action 1 always 0, action 2 is never chosen.
    n = 100
    chosen = np.arange(n) % 2
    log = BanditLog(np.ones((n, 3), dtype=bool), chosen, np.full(n, 0.5), 1.0 - chosen,
                    np.random.default_rng(7).normal(size=(n, 2)))
    q_hat = cross_fitted_reward_model(log)
    np.testing.assert_allclose(q_hat[:, 0], 1.0)
    np.testing.assert_allclose(q_hat[:, 1], 0.0, atol=1e-12)
    # never chosen: the training folds' mean reward, near the overall 0.5
    assert np.all((q_hat[:, 2] > 0.4) & (q_hat[:, 2] < 0.6))
    # Too few events for a slope (d + 2 = 4 with d = 2): the action's mean in the training folds.
    few = BanditLog(log.allowed, np.where(np.arange(n) < 97, 0, 1), log.propensity,
                    np.where(np.arange(n) < 97, 0.0, 5.0), log.features)
    assert np.all(cross_fitted_reward_model(few)[:, 1] == 5.0)


# Validation


def tiny_with(**fields) -> dict:
    arrays = dict(allowed=TINY.allowed, chosen=TINY.chosen, propensity=TINY.propensity,
                  reward=TINY.reward, features=TINY.features)
    return arrays | fields


@pytest.mark.parametrize(
    "fields, message",
    [
        (tiny_with(propensity=np.array([0.5, 0.0, 0.8, 0.5])), "propensity"),
        (tiny_with(propensity=np.array([0.5, 1.5, 0.8, 0.5])), "propensity"),
        (tiny_with(chosen=np.array([2, 2, 1, 2])), "not allowed"),
        (tiny_with(chosen=np.array([0, 3, 1, 2])), "index"),
        (tiny_with(chosen=np.array([0.0, 2.0, 1.0, 2.0])), "chosen"),
        (tiny_with(reward=np.array([1.0, 0.0, 2.0])), "reward"),
        (tiny_with(reward=np.array([1.0, np.nan, 2.0, 6.0])), "finite"),
        (tiny_with(features=np.zeros((3, 1))), "features"),
        (tiny_with(allowed=TINY.allowed.astype(int)), "bool"),
    ],
)
def test_a_bad_log_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        BanditLog(**fields)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ips(TINY, TINY_TARGET[:3]), "shape"),
        (lambda: ips(TINY, np.full((4, 3), 1 / 3)), "outside the allowed"),
        (lambda: ips(TINY, TINY_TARGET * 0.9), "sum to 1"),
        (lambda: ips(TINY, TINY_TARGET, clip=0.0), "clip"),
        (lambda: ips(TINY, TINY_TARGET, level=1.0), "level"),
        (lambda: dr(TINY, TINY_TARGET, TINY_Q_HAT[:, :2]), "reward_model"),
        (lambda: cross_fitted_reward_model(TINY, folds=1), "folds"),
    ],
)
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# Any valid log


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 40),
    k=st.integers(1, 5),
    d=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
    clip=st.none() | st.floats(0.1, 20),
    scale=st.floats(1e-3, 1e3),
)
def test_every_estimate_is_finite_and_inside_its_interval(n, k, d, seed, clip, scale):
    rng = np.random.default_rng(seed)
    allowed = rng.random((n, k)) < 0.6
    chosen = rng.integers(0, k, n)
    allowed[np.arange(n), chosen] = True
    target = np.where(allowed, rng.random((n, k)) + 0.01, 0.0)
    log = BanditLog(allowed, chosen, rng.uniform(0.05, 1.0, n), scale * rng.normal(size=n), rng.normal(size=(n, d)))
    for estimate in estimate_all(log, target / target.sum(axis=1, keepdims=True), clip=clip):
        assert np.isfinite([estimate.value, estimate.low, estimate.high, estimate.ess, estimate.max_weight]).all()
        assert estimate.low <= estimate.value <= estimate.high
        assert 0 < estimate.ess <= n
