"""The router under test, in this process or behind a running server: same calls, same results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc

from router.client import RouterClient
from router.domain.errors import ResourceExhausted
from router.domain.types import FeedbackRequest, RouteRequest
from router.service import RouterService


@dataclass(frozen=True)
class Routed:
    decision_id: str
    model: str
    security: bool
    probability: float
    cached_response: str | None = None  # the semantic cache's answer, on a hit
    cache_similarity: float = 0.0


class RouterUnderTest(Protocol):
    def route(self, request: RouteRequest) -> Routed: ...

    def feedback(self, request: FeedbackRequest) -> None: ...

    def close(self) -> None: ...


class InProcessRouter:
    def __init__(self, service: RouterService):
        self.service = service

    def route(self, request: RouteRequest) -> Routed:
        d = self.service.route(request)
        if d.cache is None:
            return Routed(d.decision_id, d.model, d.security, d.probability)
        return Routed(d.decision_id, d.model, d.security, d.probability, d.cache.answer, d.cache.similarity)

    def feedback(self, request: FeedbackRequest) -> None:
        self.service.feedback(request)

    def close(self) -> None:
        self.service.close()


class RemoteRouter:
    def __init__(self, client: RouterClient):
        self.client = client

    def route(self, request: RouteRequest) -> Routed:
        try:
            d = self.client.route(request)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise ResourceExhausted(exc.details()) from exc
            raise
        cached = d["cached_response"] if d["cache_hit"] else None
        return Routed(d["decision_id"], d["model"], d["security"], d["probability"], cached, d["cache_similarity"])

    def feedback(self, request: FeedbackRequest) -> None:
        self.client.feedback(request)

    def close(self) -> None:
        self.client.close()
