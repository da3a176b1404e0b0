"""Escalation: a Route with escalate_from answers with the next stronger model the request allows,
never from the cache, only for the same tenant; the chain climbs strictly until nothing is stronger;
Stats counts escalations. (Seed 002's quality validator: upgrade when quality falls below a bar.)"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.errors import FailedPrecondition, NotFound
from router.domain.registry import TIERS
from router.domain.types import Constraints, FeedbackRequest
from tests.conftest import new_service, user_request

QUESTION = "Explain how a hash map handles collisions."


def strength(service, model_id: str, category: str) -> tuple:
    m = service.registry[model_id]
    return TIERS.index(m.tier), m.prior(category), m.output_per_1m


def test_escalation_climbs_to_the_strongest_model_then_refuses(make_service):
    service = make_service()
    decision = service.route(user_request(QUESTION, constraints=Constraints(allowed_models=("gemini-2.0-flash",))))
    chain = [decision]
    with pytest.raises(FailedPrecondition, match="nothing to escalate to"):
        while True:
            chain.append(service.route(user_request(QUESTION, escalate_from=chain[-1].decision_id)))
    category = chain[0].category
    strengths = [strength(service, d.model, category) for d in chain]
    assert strengths == sorted(set(strengths))  # strictly stronger at each step
    candidates = sorted(service.route(user_request(QUESTION, bypass_cache=True)).candidates,
                        key=lambda m: strength(service, m, category))
    assert [d.model for d in chain] == candidates[candidates.index(chain[0].model):]  # one step at a time
    assert all(d.reason == "escalation" and d.escalated_from == prev.decision_id and d.probability == 1.0
               for prev, d in zip(chain, chain[1:]))
    assert service.registry[chain[-1].model].tier == "premium"


def test_a_route_rule_picks_the_first_answer_and_an_escalation_goes_past_it(make_service):
    rule = {"id": "start-small", "conditions": [{"field": "prompt", "op": "contains", "value": "hash"}],
            "action": {"type": "route", "model": "gpt-4o-mini"}}
    service = make_service(tenants={"acme": {"rules": [rule]}})
    first = service.route(user_request(QUESTION))
    escalated = service.route(user_request(QUESTION, escalate_from=first.decision_id))
    assert (first.model, first.rule_id) == ("gpt-4o-mini", "start-small")
    assert strength(service, escalated.model, first.category) > strength(service, "gpt-4o-mini", first.category)


def test_an_escalation_is_never_answered_from_the_cache(make_service):
    service = make_service()
    first = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(first.decision_id, 0.95, response_text="Chaining or open addressing."))
    assert service.route(user_request(QUESTION)).cache is not None  # the answer is cached now
    escalated = service.route(user_request(QUESTION, escalate_from=first.decision_id))
    assert escalated.cache is None and escalated.reason == "escalation"


@pytest.mark.parametrize("escalate_from, tenant", [("no-such-decision", "acme"), ("ACME", "globex")])
def test_an_unknown_or_another_tenants_decision_is_not_found(make_service, escalate_from, tenant):
    service = make_service()
    acme = service.route(user_request(QUESTION)).decision_id
    with pytest.raises(NotFound, match="escalate_from"):
        service.route(user_request(QUESTION, tenant=tenant,
                                   escalate_from=acme if escalate_from == "ACME" else escalate_from))


def test_a_security_task_escalates_among_premium_models_only(make_service):
    service = make_service()
    prompt = "Audit this OAuth token validation for vulnerabilities."
    first = service.route(user_request(prompt, task_hint="security",
                                       constraints=Constraints(allowed_models=("o1",))))
    escalated = service.route(user_request(prompt, task_hint="security", escalate_from=first.decision_id))
    assert escalated.security and service.registry[escalated.model].tier == "premium"
    assert escalated.model == "claude-opus-4"


def test_stats_count_escalations_and_the_bar_comes_from_the_tenant(make_service):
    service = make_service(tenants={"acme": {"escalate_below": 0.7}})
    firsts = [service.route(user_request(f"{QUESTION} Case {i}.")) for i in range(4)]
    assert firsts[0].quality_bar == 0.7
    service.route(user_request(QUESTION, escalate_from=firsts[0].decision_id))
    total = service.stats("acme", 0, time.time() + 1).total
    assert (total.calls, total.escalations, total.escalation_rate) == (5, 1, 0.25)


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory, fake_embedder, fake_classifier, registry):
    service = new_service(tmp_path_factory.mktemp("escalation"), fake_embedder, fake_classifier, registry)
    yield service
    service.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.sampled_from(["gemini-2.0-flash", "gpt-4o-mini", "deepseek-chat", "kimi-k2", "gpt-4o", "o1"]),
       allowed=st.sets(st.sampled_from(["claude-3-5-haiku", "gemini-2.5-pro", "claude-sonnet-4", "claude-opus-4",
                                        "gemini-2.5-flash"]), min_size=1))
def test_an_escalation_is_always_stronger_and_within_what_the_request_allows(shared_service, start, allowed):
    service = shared_service
    first = service.route(user_request(QUESTION, constraints=Constraints(allowed_models=(start,))))
    request = user_request(QUESTION, escalate_from=first.decision_id,
                           constraints=Constraints(allowed_models=tuple(allowed)))
    stronger = [m for m in allowed if strength(service, m, first.category) > strength(service, start, first.category)]
    if not stronger:
        with pytest.raises(FailedPrecondition):
            service.route(request)
        return
    escalated = service.route(request)
    assert escalated.model == min(stronger, key=lambda m: strength(service, m, first.category))
    assert set(escalated.fallbacks) == set(stronger) - {escalated.model}
