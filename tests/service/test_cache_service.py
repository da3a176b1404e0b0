"""The semantic cache inside Route and Feedback, in process and over gRPC."""

from __future__ import annotations

import grpc
import pytest

from router.domain.types import ChatMessage, FeedbackRequest, Reason
from tests.conftest import user_request

QUESTION = "What is the default port of PostgreSQL?"


def answered(service, text: str = QUESTION, quality: float = 0.95, response: str | None = "5432.", **fields):
    decision = service.route(user_request(text, **fields))
    service.feedback(FeedbackRequest(decision.decision_id, quality, response_text=response))
    return decision


def test_a_good_answer_is_served_to_the_next_asker_and_not_learned_from(make_service):
    service = make_service()
    first = answered(service)
    updates = service.learner.updates
    again = service.route(user_request(QUESTION))
    assert again.cache is not None and again.reason == Reason.CACHE_HIT
    assert again.cache.answer == "5432." and again.cache.similarity == 1.0
    assert again.model == first.model and again.estimated_cost_usd == 0.0
    assert again.cache.cost_saved_usd == pytest.approx(first.estimated_cost_usd)
    logged, _ = service.decision_log.decision(again.decision_id)
    assert logged.cache.entry_id == again.cache.entry_id
    service.feedback(FeedbackRequest(again.decision_id, 1.0))
    assert service.learner.updates == updates


@pytest.mark.parametrize("quality, response, error", [(0.5, "5432.", False), (0.95, None, False), (0.95, "5432.", True)])
def test_a_poor_failed_or_missing_answer_is_never_cached(make_service, quality, response, error):
    service = make_service()
    decision = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(decision.decision_id, quality, error=error, response_text=response))
    assert service.route(user_request(QUESTION)).cache is None


def test_a_security_task_is_never_answered_from_the_cache(make_service):
    service = make_service()
    text = "Audit this login form for SQL injection and XSS vulnerabilities."
    answered(service, text, response="Use parameterised queries ...")
    decision = service.route(user_request(text))
    assert decision.security and decision.cache is None


def test_poor_feedback_on_a_served_answer_evicts_it(make_service):
    service = make_service()
    answered(service)
    served = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(served.decision_id, 0.1))
    assert service.route(user_request(QUESTION)).cache is None


def test_bypass_asks_a_model_and_the_fresh_answer_replaces_the_old(make_service):
    service = make_service()
    answered(service, response="5432 (old)")
    fresh = service.route(user_request(QUESTION, bypass_cache=True))
    assert fresh.cache is None
    service.feedback(FeedbackRequest(fresh.decision_id, 0.9, response_text="5432."))
    assert service.route(user_request(QUESTION)).cache.answer == "5432."


def test_another_tenant_or_system_prompt_does_not_see_the_answer(make_service):
    service = make_service()
    answered(service)
    assert service.route(user_request(QUESTION, tenant="globex")).cache is None
    pirate = user_request(QUESTION)
    pirate = type(pirate)(tenant_id="acme", messages=(ChatMessage("system", "Talk like a pirate."),) + pirate.messages)
    assert service.route(pirate).cache is None


def test_cached_answers_survive_a_restart(make_service, tmp_path):
    answered(make_service(tmp_path))
    # make_service closes nothing until teardown: a second service on the same directory is a restart
    # after the first one's writes, which SQLite has already made durable.
    restarted = make_service(tmp_path)
    assert restarted.route(user_request(QUESTION)).cache.answer == "5432."


def test_the_cache_can_be_switched_off(make_service):
    service = make_service(cache={"enabled": False})
    answered(service)
    assert service.route(user_request(QUESTION)).cache is None


def test_invalidate_cache_over_grpc_and_a_corrupt_cache_file_does_not_stop_the_server(tmp_path):
    from router.client.process import ServerProcess
    from router.domain.types import RouteRequest

    data = tmp_path / "data"
    data.mkdir()
    (data / "cache.sqlite").write_bytes(b"not a database at all" * 50)
    config = tmp_path / "server.yaml"
    config.write_text("security_recheck_above: 2\n")
    with ServerProcess(data, config) as server, server.client() as client:
        request = RouteRequest("acme", (ChatMessage("user", QUESTION),))
        first = client.route(request)
        client.feedback(FeedbackRequest(first["decision_id"], 0.9, response_text="5432."))
        served = client.route(request)
        assert served["cache_hit"] and served["cached_response"] == "5432." and served["reason"] == "cache_hit"
        assert client.invalidate_cache("acme") == 1
        assert not client.route(request)["cache_hit"]
        with pytest.raises(grpc.RpcError) as refused:
            client.invalidate_cache(" ")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(data.glob("cache.sqlite.corrupt-*"))
