"""Feedback that never arrives: a decision older than feedback_wait_hours is expired, and learned with
the tenant's expired_quality where it has one, so nothing waits for feedback without bound."""

from __future__ import annotations

import time

import pytest

from router.domain.errors import AlreadyExists
from router.domain.types import FeedbackRequest
from router.transport.server import RunningServer
from tests.conftest import Clock, user_request

HOUR = 3600.0
PROMPTS = ["Write a haiku about autumn rain.", "What is the capital of Peru?", "Summarise the plot of Hamlet.",
           "Explain recursion to a child.", "Name three prime numbers above 50."]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def route_all(service, tenant: str = "acme") -> list[str]:
    return [service.route(user_request(text, tenant)).decision_id for text in PROMPTS]


def test_nothing_expires_before_the_wait_and_everything_after_it(make_service, clock):
    service = make_service(clock=clock, feedback_wait_hours=2)
    decisions = route_all(service)
    clock.now += 2 * HOUR - 1
    assert service.expire_overdue() == 0 and service.decision_log.awaiting_feedback() == len(decisions)
    clock.now += 2
    assert service.expire_overdue() == len(decisions)
    assert service.decision_log.awaiting_feedback() == 0
    assert service.expire_overdue() == 0  # once only


def test_without_an_expired_quality_nothing_is_learned_and_late_feedback_still_counts(make_service, clock):
    service = make_service(clock=clock, feedback_wait_hours=1)
    decisions = route_all(service)
    clock.now += 2 * HOUR
    service.expire_overdue()
    assert service.learner.updates == 0
    stats = service.stats("acme", 0, clock.now + 1)
    assert (stats.total.expired, stats.total.pending, stats.total.settled) == (len(decisions), 0, 0)
    service.feedback(FeedbackRequest(decisions[0], 0.8))
    assert service.learner.updates == 1
    assert service.stats("acme", 0, clock.now + 1).total.mean_quality == pytest.approx(0.8)


def test_with_an_expired_quality_it_is_learned_settled_and_late_feedback_is_refused(make_service, clock):
    service = make_service(clock=clock, feedback_wait_hours=1, tenants={"acme": {"expired_quality": 0.7}})
    decisions = route_all(service)
    answered = decisions.pop()
    service.feedback(FeedbackRequest(answered, 0.9))
    clock.now += 2 * HOUR
    assert service.expire_overdue() == len(decisions)
    assert service.learner.updates == 1 + len(decisions)
    entries = {e.decision_id: e for e in service.ledger("acme", 0, clock.now + 1)}
    assert all(entries[d].expired and entries[d].quality == 0.7 for d in decisions)
    assert not entries[answered].expired
    stats = service.stats("acme", 0, clock.now + 1).total
    assert stats.settled == len(PROMPTS) and stats.expired == len(decisions)
    assert stats.mean_quality == pytest.approx(0.9)  # an expiry is not a rating
    with pytest.raises(AlreadyExists, match="expired without feedback"):
        service.feedback(FeedbackRequest(decisions[0], 0.1))


def test_expired_learning_is_replayed_after_a_crash(make_service, tmp_path, clock):
    service = make_service(clock=clock, feedback_wait_hours=1, tenants={"acme": {"expired_quality": 0.7}})
    route_all(service)
    clock.now += 2 * HOUR
    service.expire_overdue()
    learned = service.learner.updates
    # A crash: the service is never closed, so no snapshot holds what it learned.
    restarted = make_service(clock=clock, feedback_wait_hours=1, tenants={"acme": {"expired_quality": 0.7}})
    assert restarted.learner.updates == learned


def test_each_tenant_expires_with_its_own_setting(make_service, clock):
    service = make_service(clock=clock, feedback_wait_hours=1, tenants={"acme": {"expired_quality": 0.5}})
    route_all(service, "acme"), route_all(service, "globex")
    clock.now += 2 * HOUR
    service.expire_overdue()
    assert service.learner.updates == len(PROMPTS)  # acme's only
    assert service.stats("globex", 0, clock.now + 1).total.expired == len(PROMPTS)


def test_the_running_server_expires_overdue_decisions_by_itself(make_service):
    service = make_service(feedback_wait_hours=0.0002, sqlite_synchronous="NORMAL", auth={"enabled": False})
    route_all(service)
    running = RunningServer(service, 0)  # checks every tenth of the wait: 72 ms
    try:
        deadline = time.monotonic() + 30
        while service.decision_log.awaiting_feedback() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.decision_log.awaiting_feedback() == 0
    finally:
        running.stop()
