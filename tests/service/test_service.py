"""Route and Feedback in process: logging, rewards, exactly-once learning, restarts."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.errors import AlreadyExists, InvalidArgument, NotFound
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest
from tests.conftest import new_service, user_request

PROMPTS = [
    "Write a Python function that merges two sorted lists.",
    "What is the capital of Portugal?",
    "Summarize the main causes of the French Revolution in three bullet points.",
    "Our checkout page throws a 500 error when the cart is empty; here is the stack trace.",
    "Write a haiku about autumn rain.",
]


def test_a_routed_decision_is_in_the_log_before_the_answer_returns(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPTS[0]))
    logged, context = service.decision_log.decision(decision.decision_id)
    assert logged == decision
    assert context.embedding.shape == (384,)
    assert decision.model in decision.candidates
    assert decision.estimated_cost_usd == pytest.approx(
        service.registry[decision.model].cost(decision.estimated_input_tokens, decision.estimated_output_tokens))


def test_lambda_comes_from_the_request_then_the_tenant_then_the_default(make_service):
    service = make_service(default_cost_weight=0.4, tenants={"frugal": {"cost_weight": 2.0}})
    assert service.route(user_request("hi", tenant="acme")).cost_weight == 0.4
    assert service.route(user_request("hi", tenant="frugal")).cost_weight == 2.0
    assert service.route(user_request("hi", tenant="frugal", cost_weight=0.0)).cost_weight == 0.0


def test_reward_is_quality_minus_lambda_times_normalised_cost(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPTS[2], cost_weight=0.5))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.8, input_tokens=400, output_tokens=600))
    registry = service.registry
    costs = {m: registry[m].cost(400, 600) for m in decision.candidates}
    assert record.actual_cost_usd == pytest.approx(costs[decision.model])
    assert record.reward == pytest.approx(0.8 - 0.5 * costs[decision.model] / max(costs.values()))


def test_an_error_is_learned_as_quality_zero(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPTS[1]))
    record = service.feedback(FeedbackRequest(decision.decision_id, None, error=True))
    assert record.quality == 0.0 and record.error


def test_a_failed_call_without_token_counts_costs_nothing_and_frees_its_budget(make_service):
    service = make_service(tenants={"acme": {"budgets": [{"daily_usd": 100.0}]}})
    decision = service.route(user_request(PROMPTS[1]))
    [status] = service.budgets.statuses("acme", service.clock())
    assert status.reserved == pytest.approx(decision.estimated_cost_usd) and status.reserved > 0
    record = service.feedback(FeedbackRequest(decision.decision_id, None, error=True))
    assert record.error and record.actual_cost_usd == 0.0 and record.quality == 0.0
    [status] = service.budgets.statuses("acme", service.clock())
    assert (status.spent, status.reserved) == (0.0, 0.0)
    [entry] = service.ledger("acme", 0, service.clock() + 1)
    assert entry.error and entry.cost_usd == 0.0


def test_a_failed_call_with_token_counts_costs_what_they_cost(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPTS[1]))
    record = service.feedback(FeedbackRequest(decision.decision_id, None, input_tokens=100, output_tokens=7,
                                              error=True))
    assert record.actual_cost_usd == pytest.approx(service.registry[decision.model].cost(100, 7))


def test_a_decision_closed_as_not_called_costs_nothing_and_teaches_nothing(make_service, tmp_path):
    service = make_service(data_dir=tmp_path / "d", tenants={"acme": {"budgets": [{"daily_usd": 100.0}]}})
    decision = service.route(user_request(PROMPTS[2]))
    updates = service.learner.updates
    record = service.feedback(FeedbackRequest(decision.decision_id, None, not_called=True))
    assert record.not_called and record.actual_cost_usd == 0.0 and service.learner.updates == updates
    [status] = service.budgets.statuses("acme", service.clock())
    assert (status.spent, status.reserved) == (0.0, 0.0)
    [entry] = service.ledger("acme", 0, service.clock() + 1)
    assert entry.not_called and entry.settled and entry.cost_usd == 0.0
    assert service.stats("acme", 0, service.clock() + 1).total.mean_quality is None
    service.close()
    reopened = make_service(data_dir=tmp_path / "d")  # crash replay learns it no more than the first time
    assert reopened.learner.updates == updates


def test_feedback_is_learned_once_and_a_second_one_is_refused(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPTS[3]))
    service.feedback(FeedbackRequest(decision.decision_id, 0.9))
    updates = service.learner.updates
    with pytest.raises(AlreadyExists):
        service.feedback(FeedbackRequest(decision.decision_id, 0.1))
    assert service.learner.updates == updates


def test_feedback_for_an_unknown_decision_is_not_found(make_service):
    with pytest.raises(NotFound):
        make_service().feedback(FeedbackRequest("no-such-decision", 0.5))


def test_a_refused_request_stores_nothing(make_service):
    service = make_service()
    with pytest.raises(InvalidArgument):
        service.route(user_request("hi", cost_weight=-1.0))
    assert list(service.decision_log.feedback_after(0)) == []
    count = service.decision_log._db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    assert count == 0


@pytest.mark.parametrize("snapshot_every", [1_000, 4])
def test_a_restart_after_a_crash_rebuilds_the_learner_exactly(make_service, tmp_path, snapshot_every):
    """Snapshot (if any) plus replay of the feedback logged after it equals never having stopped."""
    crashed = make_service(tmp_path / "data", learner={"snapshot_every": snapshot_every})
    rng = np.random.default_rng(0)
    for i in range(10):
        decision = crashed.route(user_request(PROMPTS[i % len(PROMPTS)]))
        crashed.feedback(FeedbackRequest(decision.decision_id, float(rng.uniform())))
    # No close(): the process "dies" here, with no final snapshot.
    restarted = make_service(tmp_path / "data", learner={"snapshot_every": snapshot_every})
    assert restarted.learner.updates == crashed.learner.updates == 10
    _, context = crashed.decision_log.decision(decision.decision_id)
    models = list(crashed.registry)
    np.testing.assert_allclose(restarted.learner.predict(context, models), crashed.learner.predict(context, models),
                               atol=1e-6)


def test_feedback_for_a_decision_made_before_a_restart_is_accepted_once(make_service, tmp_path):
    first = make_service(tmp_path / "data")
    answered = first.route(user_request(PROMPTS[0]))
    pending = first.route(user_request(PROMPTS[1]))
    first.feedback(FeedbackRequest(answered.decision_id, 0.7))
    first.close()
    second = make_service(tmp_path / "data")
    assert second.feedback(FeedbackRequest(pending.decision_id, 0.9)).quality == 0.9
    with pytest.raises(AlreadyExists):
        second.feedback(FeedbackRequest(answered.decision_id, 0.9))


def test_a_feedback_batch_learns_the_good_ones_and_refuses_each_bad_one_alone(make_service):
    service = make_service()
    first, second = (service.route(user_request(p)).decision_id for p in PROMPTS[:2])
    outcomes = service.feedback_batch([
        FeedbackRequest(first, 0.9),
        FeedbackRequest("no-such-decision", 0.5),
        FeedbackRequest(second, 1.5),
        FeedbackRequest(second, 0.4, output_tokens=50),
        FeedbackRequest(first, 0.1),
    ])
    assert [type(o).__name__ for o in outcomes] == [
        "FeedbackRecord", "NotFound", "InvalidArgument", "FeedbackRecord", "AlreadyExists"]
    assert service.learner.updates == 2
    assert [(r.decision_id, r.quality) for _, _, _, r in service.decision_log.feedback_after(0)] == [(first, 0.9), (second, 0.4)]


def test_a_route_batch_decides_each_prompt_as_route_would_and_refuses_each_bad_one_alone(make_service):
    service = make_service()
    requests = [user_request(PROMPTS[0]), user_request("hi", cost_weight=-1.0),
                user_request("Check this login form for SQL injection", task_hint="security"), user_request(PROMPTS[1])]
    outcomes = service.route_batch(requests)
    assert [type(o).__name__ for o in outcomes] == ["Decision", "InvalidArgument", "Decision", "Decision"]
    assert outcomes[2].security and service.registry[outcomes[2].model].tier == "premium"
    for decision in (outcomes[0], outcomes[2], outcomes[3]):
        assert service.decision_log.decision(decision.decision_id)[0] == decision
    alone = service.route(requests[3])
    assert (alone.category, alone.candidates) == (outcomes[3].category, outcomes[3].candidates)


@pytest.mark.parametrize("size", [0, 4])
def test_a_feedback_batch_empty_or_over_the_limit_is_refused_whole(make_service, size):
    service = make_service(limits={"max_batch": 3})
    decision = service.route(user_request(PROMPTS[0]))
    with pytest.raises(InvalidArgument, match=r"feedbacks: must be in \[1, 3\]"):
        service.feedback_batch([FeedbackRequest(decision.decision_id, 0.5)] * size)
    assert service.learner.updates == 0


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory, fake_embedder, fake_classifier, registry):
    """One service for all of a property test's examples: one per example would be slow."""
    data_dir = tmp_path_factory.mktemp("shared")
    service = new_service(data_dir, fake_embedder, fake_classifier, registry)
    yield service
    service.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(min_size=1, max_size=300).filter(lambda t: t.strip()),
    system=st.sampled_from(["", "You are a helpful assistant.", "You review code."]),
    cost_weight=st.floats(0, 50, allow_nan=False),
)
def test_any_request_hinted_security_gets_a_premium_model(shared_service, text, system, cost_weight):
    service = shared_service
    messages = ((ChatMessage("system", system),) if system else ()) + (ChatMessage("user", text),)
    decision = service.route(RouteRequest("acme", messages, cost_weight=cost_weight, task_hint="security"))
    assert decision.security
    assert service.registry[decision.model].tier == "premium"
    assert all(service.registry[m].tier == "premium" for m in decision.fallbacks)


def test_a_snapshot_is_written_every_n_logged_feedbacks(make_service, tmp_path):
    service = make_service(tmp_path / "data", learner={"snapshot_every": 3})
    for i in range(7):
        decision = service.route(user_request(PROMPTS[i % len(PROMPTS)]))
        service.feedback(FeedbackRequest(decision.decision_id, 0.5))
    names = sorted(p.name for p in (tmp_path / "data" / "snapshots").glob("learner-*.vw"))
    assert [n.split("-")[1] for n in names] == ["000000000003", "000000000006"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_however_feedback_is_batched_each_decision_is_learned_once(shared_service, data):
    """Feedback sent as any mix of batches and single calls, with repeats, is learned once per
    decision, and every repeat is refused as already answered."""
    service = shared_service
    decisions = [service.route(user_request(p)).decision_id for p in PROMPTS[:3]]
    sent = data.draw(st.lists(st.sampled_from(decisions), min_size=1, max_size=12))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sent)), max_size=4)))
    updates = service.learner.updates
    outcomes = []
    for start, end in zip([0, *cuts], [*cuts, len(sent)]):
        if end > start:
            outcomes += service.feedback_batch([FeedbackRequest(d, 0.6) for d in sent[start:end]])
    assert service.learner.updates - updates == len(set(sent))
    first_of_each = {sent.index(d) for d in set(sent)}
    assert all(isinstance(o, AlreadyExists) == (i not in first_of_each) for i, o in enumerate(outcomes))
