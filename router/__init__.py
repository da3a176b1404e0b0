"""banditroute's decision service: route a prompt to a model, learn from feedback.

The public API, importable from here: `from router import RouterClient, wrap_openai`. Each name is
imported when first used, so `import router` alone loads nothing (a client does not pay for the
server's packages, nor the server for the clients').
"""

import importlib

_EXPORTS = {
    "open_service": "router.service", "RouterService": "router.service", "Settings": "router.config",
    "RouterClient": "router.client", "AsyncRouterClient": "router.client",
    "wrap_openai": "router.client.wrappers", "wrap_anthropic": "router.client.wrappers",
    "wrap_async_openai": "router.client.wrappers", "wrap_async_anthropic": "router.client.wrappers",
    "Registry": "router.domain.registry", "ModelSpec": "router.domain.registry",
    **{name: "router.domain.types" for name in (
        "ChatMessage", "Constraints", "Metadata", "RouteRequest", "Decision", "FeedbackRequest", "FeedbackRecord",
        "LedgerEntry")},
    "RouterError": "router.domain.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'router' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
