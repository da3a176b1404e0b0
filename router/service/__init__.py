"""The decision service: Route, Feedback, expiry and replay after a crash, stats and administration."""

from router.service.facade import RouterService, open_service

__all__ = ["RouterService", "open_service"]
