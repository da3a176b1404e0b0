"""Replicas on one PostgreSQL database act as one service: each learns every feedback in the log's order and
so holds the same policy, and each takes, when it follows, the cache entries, rules, budgets and models the
others changed. Here the replicas are services in one process on a real PostgreSQL server; `follow` is
what a replica's server runs several times a second (tests/e2e/test_replicas_e2e.py runs them as processes)."""

from __future__ import annotations

import numpy as np
import pytest

from router.domain.model_documents import model_document
from router.domain.types import Constraints, FeedbackRequest, Reason
from tests.conftest import random_context, user_request

QUESTION = "What is the default port of PostgreSQL?"
PROMPTS = [f"Summarise chapter {n} of the handbook in three lines." for n in range(40)]


@pytest.fixture
def replicas(make_service, postgres_database, tmp_path):
    """Three services on one database, each with its own data directory (its learner's snapshots)."""
    return [make_service(tmp_path / name, storage=postgres_database) for name in "abc"]


def predictions(service, seeds=range(5)) -> np.ndarray:
    models = [service.registry[m] for m in ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku")]
    return np.array([service.learner.predict(random_context(seed), models) for seed in seeds])


def test_feedback_taken_by_any_replica_is_learned_by_all_in_one_order(replicas):
    a, b, c = replicas
    for n, prompt in enumerate(PROMPTS):
        routed_on, fed_back_on = replicas[n % 3], replicas[(n + 1) % 3]  # a decision of one, answered on another
        decision = routed_on.route(user_request(prompt))
        fed_back_on.feedback(FeedbackRequest(decision.decision_id, quality=(n % 5) / 4))
    for replica in replicas:
        replica.follow()
    last = a.decision_log.last_feedback_seq()
    assert [r.feedback_loop.learned_seq for r in replicas] == [last] * 3
    assert [r.learner.updates for r in replicas] == [a.learner.updates] * 3
    np.testing.assert_array_equal(predictions(a), predictions(b))
    np.testing.assert_array_equal(predictions(a), predictions(c))
    assert not np.allclose(predictions(a), predictions(a, seeds=range(5, 10)))  # it did learn something


def test_a_replica_started_later_rebuilds_the_same_policy_from_the_log(replicas, make_service, postgres_database,
                                                                     tmp_path):
    a, b, _ = replicas
    for n, prompt in enumerate(PROMPTS[:12]):
        decision = a.route(user_request(prompt))
        b.feedback(FeedbackRequest(decision.decision_id, quality=0.9 if n % 2 else 0.2))
    a.follow()
    late = make_service(tmp_path / "late", storage=postgres_database)
    assert late.feedback_loop.learned_seq == a.feedback_loop.learned_seq
    np.testing.assert_array_equal(predictions(late), predictions(a))


def test_a_replica_restarted_after_a_feedback_it_does_not_learn_stands_at_the_logs_last(make_service, tmp_path):
    service = make_service()
    decision = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(decision.decision_id, 0.95, response_text="5432."))
    served = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(served.decision_id, 0.9))  # a cache hit's: nothing for the policy to learn
    restarted = make_service()  # beside it, as after a crash: no last snapshot, the log replayed from its start
    assert restarted.feedback_loop.learned_seq == restarted.decision_log.last_feedback_seq() == 2


def test_an_answer_cached_through_one_replica_is_served_by_another_and_invalidation_reaches_all(replicas):
    a, b, c = replicas
    decision = a.route(user_request(QUESTION))
    a.feedback(FeedbackRequest(decision.decision_id, 0.95, response_text="5432."))
    assert b.route(user_request(QUESTION)).cache is None  # b has not followed yet
    b.follow()
    hit = b.route(user_request(QUESTION))
    assert hit.reason == Reason.CACHE_HIT and hit.cache.answer == "5432."
    assert b.route(user_request(QUESTION, tenant="globex")).cache is None  # another tenant's cache stays its own
    c.follow()
    assert c.invalidate_cache("acme") == 1
    for replica in (a, b):
        assert replica.follow().uncached == 1
        assert replica.route(user_request(QUESTION)).cache is None


def test_a_poor_rating_of_a_served_hit_moves_every_replicas_learned_threshold(make_minilm_service, postgres_database,
                                                                            tmp_path):
    a, b = (make_minilm_service(tmp_path / name, storage=postgres_database) for name in "ab")
    decision = a.route(user_request("How do I reverse a list in Python?"))
    a.feedback(FeedbackRequest(decision.decision_id, 0.95, response_text="Use reversed()."))
    b.follow()
    served = b.route(user_request("How can I reverse a Python list?"))
    assert served.cache is not None and served.cache.similarity < 1.0
    b.feedback(FeedbackRequest(served.decision_id, 0.1))  # a poor answer for this question: the match was wrong
    a.follow()
    assert a.cache.threshold_floor("acme") == b.cache.threshold_floor("acme") > served.cache.similarity


def test_rules_budgets_and_models_changed_on_one_replica_act_on_the_others_once_they_follow(replicas):
    a, b, c = replicas
    a.put_rule("acme", {"id": "cheap-chat", "conditions": [{"field": "team", "op": "eq", "value": "support"}],
                        "action": {"type": "route", "model": "gpt-4o-mini"}})
    b.set_budgets("acme", [{"daily_usd": 5.0}])
    dearer = {**model_document(a.registry["gpt-4o"]), "input_per_1m": 25.0, "output_per_1m": 100.0}
    c.put_model(dearer)
    for replica in replicas:
        replica.follow()
    for replica in replicas:
        assert [state.rule.id for state in replica.rule_states("acme")] == ["cheap-chat"]
        assert [status.limit.usd for status in replica.budgets.statuses("acme", replica.clock())] == [5.0]
        assert replica.registry["gpt-4o"].output_per_1m == 100.0
        decision = replica.route(user_request(PROMPTS[0], constraints=Constraints(allowed_models=("gpt-4o",))))
        tokens = decision.estimated_input_tokens, decision.estimated_output_tokens
        assert decision.estimated_cost_usd == pytest.approx((tokens[0] * 25.0 + tokens[1] * 100.0) / 1e6)
    b.delete_rule("acme", "cheap-chat")
    a.retire_model("claude-3-5-haiku")
    for replica in (a, c):  # a takes its own change again: harmless, the same registry
        assert set(replica.follow().documents) == {"rules", "models"}
        assert replica.rule_states("acme") == [] and "claude-3-5-haiku" not in replica.registry
