"""Drop-in routing for the OpenAI and Anthropic Python clients.

`wrap_openai(clients, router, tenant=...)` gives an object whose `chat.completions.create(...)`
takes the same arguments as the OpenAI client's; `wrap_anthropic` does the same for
`messages.create(...)`. Each call asks the router first, among the models of the providers it has
clients for (`clients` maps provider → client; one client serves every provider, e.g. a gateway),
calls the chosen model through that provider's client, and returns the provider's own response.
A cache hit is answered with the SDK's own response type without calling anyone; a draft→review
plan is run as two calls, the reviewer reading the draft. `wrap_async_openai` and
`wrap_async_anthropic` do the same for AsyncOpenAI and AsyncAnthropic with an AsyncRouterClient.

The routing decision rides on `response.routing` (a dict): set beside the response's fields, so
`model_dump()`, `to_json()` and the like never carry it to whoever receives a forwarded body.

Around the call:
- a provider error is reported as the decision's feedback (learned as quality 0; it costs nothing
  unless tokens are reported), and the next model of the decision's fallback list is routed to and
  called, until one answers;
- `quality(answer, prompt, decision)` scores the answer. A score is sent as feedback, with tokens,
  latency and the answer (which the cache may keep), on a background thread: the response does not
  wait for it (`flush()` does). None means the rating comes later: `rate(decision_id, quality)`
  sends it then;
- a score below the quality bar (`escalate_below`, else the tenant's from the decision) escalates:
  the next stronger model is routed to and called, at most `max_escalations` times;
- a decision the wrapper cannot carry out (no client for its provider) is closed as not called, so
  it holds no budget and teaches the learner nothing.

With `stream=True` the caller gets the provider's stream: its own chunks, as they come (a cache hit
comes as a stream of the SDK's chunk types too). Feedback is sent when the stream ends, or is
closed or dropped early, with the tokens the provider reported (else those of the text received),
the latency and the time to the first chunk. An error before the first chunk falls back to the next
model; an error after it is fed back and raised, as the caller holds part of an answer. Streamed
answers do not escalate: the caller has read them.

The routing itself is RoutedChat's (router/client/routed_chat.py) and AsyncRoutedChat's
(router/client/async_routed_chat.py), over the steps of router/client/steps.py; this module dresses it as
the SDKs' clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from router.client import AsyncRouterClient, RouterClient
from router.client.async_routed_chat import AsyncRoutedChat
from router.client.routed_chat import PENDING_LIMIT, REVIEW_REQUEST, QualityCallback, RoutedChat
from router.client.shapes import AnthropicShape, OpenAIShape
from router.client.steps import Answer, Step

__all__ = ["PENDING_LIMIT", "REVIEW_REQUEST", "Answer", "AsyncRoutedChat", "QualityCallback", "RoutedChat", "Step",
           "wrap_anthropic", "wrap_async_anthropic", "wrap_async_openai", "wrap_openai"]


def wrap_openai(clients: Mapping[str, Any] | Any, router: RouterClient, tenant: str, **options: Any) -> Any:
    """An object with the OpenAI client's `chat.completions.create`, routed (see the module's text);
    `options` are RoutedChat's: models, quality, escalate_below, max_escalations, metadata."""
    routed = RoutedChat(OpenAIShape(), clients, router, tenant, **options)
    return SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=routed.create)),
                           rate=routed.rate, flush=routed.flush, routed=routed)


def wrap_anthropic(clients: Mapping[str, Any] | Any, router: RouterClient, tenant: str, **options: Any) -> Any:
    """An object with the Anthropic client's `messages.create`, routed (see the module's text)."""
    routed = RoutedChat(AnthropicShape(), clients, router, tenant, **options)
    return SimpleNamespace(messages=SimpleNamespace(create=routed.create), rate=routed.rate, flush=routed.flush,
                           routed=routed)


def wrap_async_openai(clients: Mapping[str, Any] | Any, router: AsyncRouterClient, tenant: str,
                      **options: Any) -> Any:
    """wrap_openai for AsyncOpenAI clients: `await wrapped.chat.completions.create(...)`."""
    routed = AsyncRoutedChat(OpenAIShape(), clients, router, tenant, **options)
    return SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=routed.create)),
                           rate=routed.rate, flush=routed.flush, routed=routed)


def wrap_async_anthropic(clients: Mapping[str, Any] | Any, router: AsyncRouterClient, tenant: str,
                         **options: Any) -> Any:
    """wrap_anthropic for AsyncAnthropic clients: `await wrapped.messages.create(...)`."""
    routed = AsyncRoutedChat(AnthropicShape(), clients, router, tenant, **options)
    return SimpleNamespace(messages=SimpleNamespace(create=routed.create), rate=routed.rate, flush=routed.flush,
                           routed=routed)
