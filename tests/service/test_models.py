"""Models administered at run time: a price change acts on the very next Route, a new model starts from its
tier's prior, a retired model is chosen no more but its decisions settle, every change survives a restart,
and a bad document is refused naming its field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.domain.categories import QUALITY_COLUMN
from router.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from router.domain.model_documents import model_document, tier_prior
from router.domain.types import Constraints, FeedbackRequest
from tests.conftest import random_context, user_request

NEW_MODEL = {"id": "acme-7b", "provider": "acme", "tier": "mid", "input_per_1m": 0.1, "output_per_1m": 0.3,
             "context_window": 32_000, "max_output_tokens": 4_000}
PROMPT = "What is the capital of Portugal?"


def only(model: str) -> Constraints:
    return Constraints(allowed_models=(model,))


def test_a_price_change_acts_on_the_very_next_route(make_service):
    service = make_service()
    before = service.route(user_request(PROMPT, constraints=only("gpt-4o")))
    dearer = {**model_document(service.registry["gpt-4o"]), "input_per_1m": 25.0, "output_per_1m": 100.0}
    service.put_model(dearer)
    after = service.route(user_request(PROMPT, constraints=only("gpt-4o")))
    tokens = after.estimated_input_tokens, after.estimated_output_tokens
    assert after.estimated_cost_usd == pytest.approx((tokens[0] * 25.0 + tokens[1] * 100.0) / 1e6)
    assert after.estimated_cost_usd == pytest.approx(10 * before.estimated_cost_usd)


def test_a_new_model_starts_from_its_tiers_prior_and_can_be_chosen(make_service):
    service = make_service()
    expected = tier_prior(service.registry, "mid")
    model = service.put_model(NEW_MODEL)
    assert model.quality_prior == expected
    context = random_context(0, category="chat")
    assert service.learner.predict(context, [model])[0] == pytest.approx(expected[QUALITY_COLUMN["chat"]])
    decision = service.route(user_request(PROMPT, constraints=only("acme-7b")))
    assert decision.model == "acme-7b" and decision.provider == "acme"
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.9, input_tokens=1000, output_tokens=1000))
    assert record.actual_cost_usd == pytest.approx((1000 * 0.1 + 1000 * 0.3) / 1e6)


def test_a_retired_model_is_chosen_no_more_but_its_decisions_settle(make_service):
    service = make_service()
    decision = service.route(user_request(PROMPT, constraints=only("gpt-4o")))
    service.retire_model("gpt-4o")
    assert "gpt-4o" not in service.registry
    for _ in range(20):
        assert service.route(user_request(PROMPT)).model != "gpt-4o"
    with pytest.raises(InvalidArgument):
        service.route(user_request(PROMPT, constraints=only("gpt-4o")))
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.8, input_tokens=500, output_tokens=500))
    assert record.actual_cost_usd == pytest.approx(decision.estimated_cost_usd)  # priced as estimated


def test_the_baseline_and_unknown_models_cannot_be_retired(make_service):
    service = make_service()
    with pytest.raises(FailedPrecondition, match="baseline_model"):
        service.retire_model(service.registry.baseline_model)
    with pytest.raises(NotFound):
        service.retire_model("no-such-model")


def test_models_put_and_retired_survive_a_restart(make_service, tmp_path):
    service = make_service(tmp_path)
    new = service.put_model(NEW_MODEL)
    service.put_model({**model_document(service.registry["gpt-4o"]), "output_per_1m": 12.5})
    service.retire_model("o1")
    service.close()
    restarted = make_service(tmp_path)
    assert restarted.registry["acme-7b"] == new
    assert restarted.registry["gpt-4o"].output_per_1m == 12.5
    assert "o1" not in restarted.registry


BAD_FIELDS = st.sampled_from([
    ("tier", "gold"), ("input_per_1m", -1.0), ("output_per_1m", float("nan")), ("context_window", 0),
    ("max_output_tokens", 10_000_000), ("provider", "plan"), ("id", ""), ("id", "bad id"),
    ("quality_prior", {"coding": 1.5}), ("quality_prior", {"astrology": 0.5}), ("colour", "blue"),
])


def test_a_bad_document_is_refused_naming_its_field_and_changes_nothing(make_service):
    service = make_service()
    before = service.registry

    @settings(max_examples=30, deadline=None)
    @given(bad=BAD_FIELDS)
    def refused(bad):
        field, value = bad
        with pytest.raises(InvalidArgument) as refusal:
            service.put_model({**NEW_MODEL, field: value})
        assert refusal.value.field.startswith(f"model.{field}")
        assert service.registry is before

    refused()
