"""Identical requests in flight: with a tenant's dedup_seconds, a request identical to one still
unanswered follows it — told which decision leads, served its answer when it comes, closed at no cost —
instead of paying for the same call again. Concurrent identical requests elect one leader, in one
process and over replicas sharing PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.errors import FailedPrecondition, ResourceExhausted
from router.domain.types import Constraints, FeedbackRequest, Reason
from router.service.duplicates import LeaderState
from tests.conftest import Clock, user_request

QUESTION = "Summarise the attached incident report in five bullet points."
DEDUP = {"acme": {"dedup_seconds": 120}}


def test_an_identical_request_in_flight_follows_the_first_and_is_served_its_answer_at_no_cost(make_service):
    service = make_service(tenants=DEDUP)
    leader = service.route(user_request(QUESTION))
    follower = service.route(user_request(QUESTION))
    assert (follower.reason, follower.duplicate_of, follower.model) == (Reason.DUPLICATE, leader.decision_id,
                                                                       leader.model)
    assert service.leader_answer(follower.decision_id).state == LeaderState.WAITING
    service.feedback(FeedbackRequest(leader.decision_id, 0.9, 400, 200, response_text="Five bullets."))
    answer = service.leader_answer(follower.decision_id)
    assert (answer.state, answer.answer, answer.leader_id) == (LeaderState.ANSWERED, "Five bullets.",
                                                               leader.decision_id)
    assert service.leader_answer(follower.decision_id) == answer  # asking again changes nothing
    entries = {e.decision_id: e for e in service.ledger("acme", 0, 4e9)}
    assert entries[follower.decision_id].deduplicated and entries[follower.decision_id].cost_usd == 0
    assert entries[leader.decision_id].cost_usd > 0 and not entries[leader.decision_id].deduplicated
    assert service.learner.updates == 1  # the follower taught nothing
    # Answered, the leader is no longer in flight: the next identical request leads anew.
    assert service.route(user_request(QUESTION)).reason != Reason.DUPLICATE


def test_followers_call_the_model_themselves_when_the_leader_fails_or_falls_short(make_service):
    service = make_service(tenants={"acme": {"dedup_seconds": 120, "escalate_below": 0.7}})
    for outcome in (dict(quality=None, error=True), dict(quality=0.4, response_text="A poor answer.")):
        leader = service.route(user_request(QUESTION))
        follower = service.route(user_request(QUESTION))
        service.feedback(FeedbackRequest(leader.decision_id, **outcome))
        assert service.leader_answer(follower.decision_id).state == LeaderState.CALL_YOURSELF
        record = service.feedback(FeedbackRequest(follower.decision_id, 0.9, 400, 200))
        assert record.actual_cost_usd > 0  # it called, and paid


def test_only_identical_requests_of_one_tenant_with_dedup_follow(make_service):
    service = make_service(tenants={**DEDUP, "globex": {}})
    leader = service.route(user_request(QUESTION))
    others = [
        user_request(QUESTION + " Please."),  # another conversation
        user_request(QUESTION, constraints=Constraints(allowed_models=("gpt-4o-mini",))),  # other options
        user_request(QUESTION, bypass_cache=True),  # wants a fresh answer
        user_request(QUESTION, tenant="globex"),  # another tenant, which has dedup off
        user_request(QUESTION, tenant="globex"),
    ]
    assert [service.route(r).reason != Reason.DUPLICATE for r in others] == [True] * 5
    assert service.route(user_request(QUESTION)).duplicate_of == leader.decision_id
    with pytest.raises(FailedPrecondition, match="follows no other decision"):
        service.leader_answer(leader.decision_id)


def test_a_claim_lapses_after_dedup_seconds_and_its_followers_call_themselves(make_service):
    clock = Clock()
    service = make_service(tenants=DEDUP, clock=clock)
    leader = service.route(user_request(QUESTION))
    follower = service.route(user_request(QUESTION))
    assert follower.duplicate_of == leader.decision_id
    clock.now += 120
    assert service.leader_answer(follower.decision_id).state == LeaderState.CALL_YOURSELF
    assert service.route(user_request(QUESTION)).reason != Reason.DUPLICATE


def test_a_leader_refused_by_its_budget_leaves_no_claim_behind(make_service):
    service = make_service(tenants={"acme": {"dedup_seconds": 120, "budgets": [{"daily_usd": 1e-9}],
                                             "security_overdraft": False}})
    for _ in range(2):  # the second would follow a leader that was never logged, and wait for it in vain
        with pytest.raises(ResourceExhausted):
            service.route(user_request(QUESTION))


def route_at_once(services, requests) -> list:
    """Each request routed on its own thread (the services in turn), all let go together."""
    start = threading.Barrier(len(requests))

    def route(i: int):
        start.wait()
        return services[i % len(services)].route(requests[i])

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(route, range(len(requests))))


def assert_one_leader_each(decisions, prompts) -> None:
    """Every prompt has one leader; every other decision of it follows that leader, on its model."""
    for prompt in set(prompts):
        mine = [d for d, p in zip(decisions, prompts) if p == prompt]
        leaders = [d for d in mine if not d.duplicate_of]
        assert len(leaders) == 1
        assert all((d.duplicate_of, d.model) == (leaders[0].decision_id, leaders[0].model)
                   for d in mine if d is not leaders[0])


RUNS = itertools.count()  # the service outlives hypothesis's examples: each asks its own questions


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, 3), min_size=64, max_size=64))
def test_64_concurrent_requests_elect_one_leader_per_prompt_and_followers_pay_nothing(make_service, picks):
    service = make_service(tenants=DEDUP)
    run = next(RUNS)
    prompts = [f"{QUESTION} (run {run}, variant {pick})" for pick in picks]
    decisions = route_at_once([service], [user_request(p) for p in prompts])
    assert_one_leader_each(decisions, prompts)
    for leader in (d for d in decisions if not d.duplicate_of):
        service.feedback(FeedbackRequest(leader.decision_id, 0.9, response_text="answer"))
    answers = [service.leader_answer(d.decision_id) for d in decisions if d.duplicate_of]
    assert {a.state for a in answers} == {LeaderState.ANSWERED}
    paid = [e for e in service.ledger("acme", 0, 4e9)
            if e.decision_id in {d.decision_id for d in decisions} and e.cost_usd > 0]
    assert len(paid) == len(set(prompts))


def test_concurrent_requests_over_replicas_elect_one_leader_and_any_replica_serves_its_answer(
        make_service, postgres_database, tmp_path):
    replicas = [make_service(tmp_path / name, storage=postgres_database, tenants=DEDUP) for name in "abc"]
    prompts = [f"{QUESTION} (variant {i % 3})" for i in range(48)]
    decisions = route_at_once(replicas, [user_request(p) for p in prompts])
    assert_one_leader_each(decisions, prompts)
    for n, leader in enumerate(d for d in decisions if not d.duplicate_of):
        replicas[n % 3].feedback(FeedbackRequest(leader.decision_id, 0.9, response_text=f"answer {n}"))
    followers = [d for d in decisions if d.duplicate_of]
    states = {replicas[(i + 1) % 3].leader_answer(d.decision_id).state for i, d in enumerate(followers)}
    assert states == {LeaderState.ANSWERED}
