"""The steps of one routed call, as its flow (RoutedChat's) yields them to the driver that carries
them out (RoutedChat's blocking one, AsyncRoutedChat's with await), and the answer a model's call gave."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from router.client.streams import Opened
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest


@dataclass(frozen=True)
class Answer:
    """What one call to a model gave, as feedback reports it."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    from_cache: bool = False
    review_input_tokens: int | None = None  # a draft→review plan's review call
    review_output_tokens: int | None = None
    first_chunk_ms: float | None = None  # a streamed answer


@dataclass(frozen=True)
class Route:
    request: RouteRequest


@dataclass(frozen=True)
class Call:
    client: Any
    model: str
    params: dict
    stream: bool = False  # open the provider's stream and wait for its first chunk (an Opened)


@dataclass(frozen=True)
class Feedback:
    request: FeedbackRequest


@dataclass(frozen=True)
class AwaitLeader:
    """Wait for the answer of the decision a routed one follows (an identical request in flight): its
    text, or None when there is none to serve (the follower then calls its model)."""

    decision_id: str  # the follower's
    wait_seconds: float


Step = Route | Call | Feedback | AwaitLeader  # what the routing of one call asks its driver to do, in order


@dataclass(frozen=True)
class Done:
    value: Any  # what the flow returned: the response


@dataclass(frozen=True)
class Streamed:
    """A streamed answer, for the driver to hand over as a routed stream: the provider's opened
    stream, or a cached answer's chunks."""

    source: Opened | list[Any]
    decision: dict
    prompt: tuple[ChatMessage, ...]
    draft: Answer | None  # a plan's draft, called before its review was streamed
    routing: dict


def advance(flow: Generator[Step, Any, Any], result: Any = None, error: Exception | None = None) -> Step | Done:
    """Give the flow the last step's result (or throw it the step's error): its next step, or Done."""
    try:
        return flow.throw(error) if error is not None else flow.send(result)
    except StopIteration as done:
        return Done(done.value)


def attempt(carry_out: Callable[[Step], Any], step: Step) -> tuple[Any, Exception | None]:
    try:
        return carry_out(step), None
    except Exception as exc:  # a provider's error, or the router's: the flow decides what it means
        return None, exc


async def attempt_async(carry_out: Callable[[Step], Any], step: Step) -> tuple[Any, Exception | None]:
    try:
        return await carry_out(step), None
    except Exception as exc:
        return None, exc


def track(unsettled: set[str], step: Step, result: Any) -> None:
    """Keep the ids of the decisions routed but not yet fed back (a follower served its leader's answer
    was closed by the router)."""
    if isinstance(step, Route) and result is not None:
        unsettled.add(result["decision_id"])
    elif isinstance(step, Feedback):
        unsettled.discard(step.request.decision_id)
    elif isinstance(step, AwaitLeader) and result is not None:
        unsettled.discard(step.decision_id)


def leader_polls(wait_seconds: float) -> Iterator[float]:
    """The pauses between asking for a leader's answer: from 20 ms, doubling to half a second, until
    `wait_seconds` have passed."""
    deadline, pause = time.monotonic() + wait_seconds, 0.02
    while time.monotonic() + pause <= deadline:
        yield pause
        pause = min(pause * 2, 0.5)
