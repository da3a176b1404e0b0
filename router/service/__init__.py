"""The decision service: Route, Feedback, expiry and replay after a crash, stats and administration.

`RouterService` and `open_service` (facade.py) are imported on first use, so that importing one of
this package's plain modules (the report's figures, which the wire format and the CLI read) does not
load the service with its learner.
"""

import importlib

__all__ = ["RouterService", "open_service"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'router.service' has no attribute {name!r}")
    return getattr(importlib.import_module("router.service.facade"), name)
