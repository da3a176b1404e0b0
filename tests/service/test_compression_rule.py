"""compress_prompt, a rule action: the router names a compression level, the client wrappers shorten the
prompt so before calling; never for a security task, whose prompt reaches its premium model whole."""

from __future__ import annotations

import pytest

from router.domain.errors import InvalidArgument
from router.domain.types import Metadata
from tests.conftest import user_request

RULE = {"id": "shorter", "conditions": [{"field": "team", "op": "eq", "value": "docs"}],
        "action": {"type": "compress_prompt", "level": "medium"}}


def test_a_matching_request_is_told_the_level_and_the_rule_is_counted_as_applied(make_service):
    service = make_service()
    service.put_rule("acme", RULE)
    decision = service.route(user_request("Summarise this changelog for the release notes.",
                                          metadata=Metadata(team="docs")))
    assert decision.compress_level == "medium"
    other = service.route(user_request("Summarise this changelog for the release notes."))
    assert other.compress_level == ""
    state, = service.rule_states("acme")
    assert (state.counts.matched, state.counts.applied) == (1, 1)


def test_a_security_task_is_never_compressed(make_service):
    service = make_service()
    service.put_rule("acme", RULE)
    decision = service.route(user_request("Review this login handler for SQL injection.", task_hint="security",
                                          metadata=Metadata(team="docs")))
    assert decision.security and decision.compress_level == ""
    state, = service.rule_states("acme")
    assert (state.counts.matched, state.counts.applied) == (1, 0)


@pytest.mark.parametrize("action, message", [
    ({"type": "compress_prompt"}, "needs level"),
    ({"type": "compress_prompt", "level": "extreme"}, "unknown level"),
    ({"type": "route", "model": "gpt-4o", "level": "light"}, "does not belong to a route action"),
])
def test_a_compress_rule_needs_a_known_level_and_only_it_takes_one(make_service, action, message):
    with pytest.raises(InvalidArgument, match=message):
        make_service().put_rule("acme", {"id": "r", "action": action})
