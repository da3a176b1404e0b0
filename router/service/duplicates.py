"""Identical requests in flight, on the follower's side: a request that followed another (routing.py's
`follow`) asks what became of it, and is served the leader's answer (which the leader's feedback handed
over: feedback.py's `answer_followers`) and closed at no cost, or told to call the model itself."""

from __future__ import annotations

from dataclasses import dataclass

from router.domain.errors import AlreadyExists, FailedPrecondition, NotFound
from router.domain.types import FeedbackRequest
from router.service.core import Core
from router.service.feedback import FeedbackLoop


class LeaderState:
    WAITING = "waiting"  # the leader has not answered yet: ask again
    ANSWERED = "answered"  # its answer is served; the follower is closed at no cost
    CALL_YOURSELF = "call_yourself"  # it failed, fell short, or its claim lapsed: call the model yourself


@dataclass(frozen=True)
class LeaderAnswer:
    state: str  # a LeaderState
    leader_id: str
    answer: str = ""  # set when answered


def answer_follower(core: Core, feedback_loop: FeedbackLoop, decision_id: str, tenant_id: str | None) -> LeaderAnswer:
    """What the decision `decision_id` followed has become. Answered: the follower is closed as a call
    never made (costs nothing, teaches nothing), so asking twice gives the same answer."""
    found = core.decision_log.decisions([decision_id]).get(decision_id)
    if found is None or tenant_id is not None and found[0].tenant_id != tenant_id:
        raise NotFound(f"decision {decision_id!r} is not in the log")
    leader_id = found[0].duplicate_of
    if not leader_id:
        raise FailedPrecondition(f"decision {decision_id!r} follows no other decision: call its model")
    claim = core.in_flight.claim_of(leader_id, core.clock())
    if claim is None or claim.answered and claim.answer is None:
        return LeaderAnswer(LeaderState.CALL_YOURSELF, leader_id)
    if not claim.answered:
        return LeaderAnswer(LeaderState.WAITING, leader_id)
    outcome, = feedback_loop.feedback([FeedbackRequest(decision_id, None, not_called=True)], tenant_id)
    if isinstance(outcome, Exception) and not isinstance(outcome, AlreadyExists):
        raise outcome
    return LeaderAnswer(LeaderState.ANSWERED, leader_id, claim.answer)
