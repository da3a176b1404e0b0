"""The router under test, in this process or behind a running server: same calls, same results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from router.client import RouterClient
from router.service import RouterService
from router.types import FeedbackRequest, RouteRequest


@dataclass(frozen=True)
class Routed:
    decision_id: str
    model: str
    security: bool
    probability: float


class RouterUnderTest(Protocol):
    def route(self, request: RouteRequest) -> Routed: ...

    def feedback(self, request: FeedbackRequest) -> None: ...

    def close(self) -> None: ...


class InProcessRouter:
    def __init__(self, service: RouterService):
        self.service = service

    def route(self, request: RouteRequest) -> Routed:
        d = self.service.route(request)
        return Routed(d.decision_id, d.model, d.security, d.probability)

    def feedback(self, request: FeedbackRequest) -> None:
        self.service.feedback(request)

    def close(self) -> None:
        self.service.close()


class RemoteRouter:
    def __init__(self, client: RouterClient):
        self.client = client

    def route(self, request: RouteRequest) -> Routed:
        d = self.client.route(request)
        return Routed(d["decision_id"], d["model"], d["security"], d["probability"])

    def feedback(self, request: FeedbackRequest) -> None:
        self.client.feedback(request)

    def close(self) -> None:
        self.client.close()
