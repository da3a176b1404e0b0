"""Bad input is refused with a message naming the field, before anything is stored."""

import math

import pytest

from router.config import Settings
from router.errors import InvalidArgument
from router.registry import Registry
from router.types import ChatMessage, Constraints, FeedbackRequest, RouteRequest
from router.validation import validate_feedback, validate_route
from tests.conftest import user_request

REGISTRY = Registry.from_yaml()
SETTINGS = Settings(max_prompt_chars=1000)


@pytest.mark.parametrize(
    "request_, field",
    [
        (user_request("hi", tenant=""), "tenant_id"),
        (RouteRequest("acme", ()), "messages"),
        (RouteRequest("acme", (ChatMessage("system", "be brief"),)), "messages"),
        (RouteRequest("acme", (ChatMessage("user", "   "),)), "messages"),
        (RouteRequest("acme", (ChatMessage("robot", "hi"),)), "messages[0].role"),
        (user_request("x" * 1001), "messages"),
        (user_request("hi", cost_weight=-0.1), "cost_weight"),
        (user_request("hi", cost_weight=math.nan), "cost_weight"),
        (user_request("hi", constraints=Constraints(allowed_models=("gpt-5-ultra",))), "constraints.allowed_models"),
        (user_request("hi", constraints=Constraints(max_cost_usd=0.0)), "constraints.max_cost_usd"),
        (user_request("hi", constraints=Constraints(expected_output_tokens=-5)), "constraints.expected_output_tokens"),
    ],
)
def test_a_bad_route_request_names_its_field(request_, field):
    with pytest.raises(InvalidArgument) as raised:
        validate_route(request_, SETTINGS, REGISTRY)
    assert raised.value.field == field
    assert str(raised.value).startswith(field)


def test_the_prompt_limit_counts_every_message():
    request = RouteRequest("acme", (ChatMessage("system", "s" * 600), ChatMessage("user", "u" * 600)))
    with pytest.raises(InvalidArgument, match="1200 characters; the maximum is 1000"):
        validate_route(request, SETTINGS, REGISTRY)


def test_a_good_request_passes():
    validate_route(user_request("hello", cost_weight=0.0, constraints=Constraints(("gpt-4o",), 1.0, 10)),
                   SETTINGS, REGISTRY)


@pytest.mark.parametrize(
    "request_, field",
    [
        (FeedbackRequest("", 0.5), "decision_id"),
        (FeedbackRequest("d", None), "quality"),
        (FeedbackRequest("d", 1.5), "quality"),
        (FeedbackRequest("d", -0.01), "quality"),
        (FeedbackRequest("d", math.inf), "quality"),
        (FeedbackRequest("d", 0.5, input_tokens=-1), "input_tokens"),
        (FeedbackRequest("d", 0.5, output_tokens=-1), "output_tokens"),
        (FeedbackRequest("d", 0.5, latency_ms=-3), "latency_ms"),
    ],
)
def test_bad_feedback_names_its_field(request_, field):
    with pytest.raises(InvalidArgument) as raised:
        validate_feedback(request_)
    assert raised.value.field == field


def test_an_error_report_needs_no_quality():
    validate_feedback(FeedbackRequest("d", None, error=True))
