"""Drop-in routing for the OpenAI and Anthropic Python clients.

`wrap_openai(clients, router, tenant=...)` gives an object whose `chat.completions.create(...)`
takes the same arguments as the OpenAI client's; `wrap_anthropic` does the same for
`messages.create(...)`. Each call asks the router first, calls the chosen model through the client
of its provider (`clients` maps provider → client; one client serves every provider, e.g. a
gateway), and returns the provider's own response with the routing decision in `response.routing`.
A cache hit is answered in the provider's response shape without calling anyone; a draft→review
plan is run as two calls, the reviewer reading the draft. `wrap_async_openai` and
`wrap_async_anthropic` do the same for AsyncOpenAI and AsyncAnthropic with an AsyncRouterClient.

Around the call:
- a provider error is reported as the decision's feedback (learned as quality 0), and the next
  model of the decision's fallback list is routed to and called, until one answers;
- `quality(answer, prompt, decision)` scores the answer. A score is sent as feedback, with tokens,
  latency and the answer (which the cache may keep), on a background thread: the response does not
  wait for it (`flush()` does). None means the rating comes later: `rate(decision_id, quality)`
  sends it then;
- a score below the quality bar (`escalate_below`, else the tenant's from the decision) escalates:
  the next stronger model is routed to and called, at most `max_escalations` times.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Protocol

import grpc

from router.client import AsyncRouterClient, RouterClient
from router.types import ChatMessage, Constraints, FeedbackRequest, Metadata, RouteRequest

log = logging.getLogger(__name__)

# (answer text, the prompt's messages, the decision) → quality in [0, 1], or None: rated later.
QualityCallback = Callable[[str, Sequence[ChatMessage], dict], "float | None"]
PENDING_LIMIT = 10_000  # answers awaiting a later rating; beyond it the oldest are left to expire
REVIEW_REQUEST = ("Review the draft answer above: correct its mistakes, complete what it misses, and reply with "
                  "the final answer only.")


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


@dataclass(frozen=True)
class _Route:
    request: RouteRequest


@dataclass(frozen=True)
class _Call:
    client: Any
    model: str
    params: dict


@dataclass(frozen=True)
class _Feedback:
    request: FeedbackRequest


Step = _Route | _Call | _Feedback  # what the routing of one call asks its driver to do, in order


@dataclass(frozen=True)
class _Done:
    value: Any  # what the flow returned: the response


def _advance(flow: Generator[Step, Any, Any], result: Any = None, error: Exception | None = None) -> Step | _Done:
    """Give the flow the last step's result (or throw it the step's error): its next step, or _Done."""
    try:
        return flow.throw(error) if error is not None else flow.send(result)
    except StopIteration as done:
        return _Done(done.value)


def _attempt(carry_out: Callable[[Step], Any], step: Step) -> tuple[Any, Exception | None]:
    try:
        return carry_out(step), None
    except Exception as exc:  # a provider's error, or the router's: the flow decides what it means
        return None, exc


async def _attempt_async(carry_out: Callable[[Step], Any], step: Step) -> tuple[Any, Exception | None]:
    try:
        return await carry_out(step), None
    except Exception as exc:
        return None, exc


class RoutedChat:
    """The routing around one kind of client (`shape` knows its call and its response), for blocking
    clients. The steps of a call are written once, in `_flow`, free of I/O: it yields what to do
    (route, call a model, send feedback) and is sent the results, or thrown the errors. `create`
    carries them out here, AsyncRoutedChat's with await."""

    def __init__(self, shape: Shape, clients: Mapping[str, Any] | Any, router: Any, tenant: str,
                 models: Sequence[str] = (), quality: QualityCallback | None = None,
                 escalate_below: float | None = None, max_escalations: int = 2, metadata: Metadata = Metadata()):
        self.shape = shape
        self.clients = clients
        self.router = router
        self.tenant = tenant
        self.models = tuple(models)
        self.quality = quality
        self.escalate_below = escalate_below
        self.max_escalations = max_escalations
        self.metadata = metadata
        self._pending: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()  # one wrapper may serve many threads of a backend
        # Feedback leaves on one background thread: the caller's answer need not wait for it (caching
        # an answer costs the server a MiniLM read). Python joins the thread at exit.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="banditroute-feedback")
        self._sent: list[Future] = []

    def create(self, **params: Any) -> Any:
        """The provider's response to `params`, from the model the router chose, with `.routing`."""
        flow = self._flow(params)
        step = _advance(flow)
        while not isinstance(step, _Done):
            step = _advance(flow, *_attempt(self._carry_out, step))
        return step.value

    def _carry_out(self, step: Step) -> Any:
        if isinstance(step, _Route):
            return self.router.route(step.request)
        if isinstance(step, _Call):
            return self.shape.call(step.client, step.model, step.params)
        future = self._sender.submit(self.router.feedback, step.request)
        future.add_done_callback(_log_failure)
        with self._lock:
            self._sent = [f for f in self._sent if not f.done()] + [future]
        return None

    def rate(self, decision_id: str, quality: float) -> None:
        """A rating that came after the call (the quality callback returned None): send it."""
        self._carry_out(self._rating(decision_id, quality))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every feedback sent so far has been answered (one the server refused is logged)."""
        with self._lock:
            sent = list(self._sent)
        wait(sent, timeout)

    def _rating(self, decision_id: str, quality: float) -> _Feedback:
        with self._lock:
            answer = self._pending.pop(decision_id, None)
        if answer is None:
            raise KeyError(f"decision {decision_id!r} awaits no rating here (rated already, or never made)")
        return self._feedback(decision_id, quality, answer)

    def _flow(self, params: dict) -> Generator[Step, Any, Any]:
        """Route, call (down the fallbacks on a provider error), rate, escalate while the answer falls short."""
        request = RouteRequest(
            self.tenant, self.shape.prompt(params),
            constraints=Constraints(self.models, expected_output_tokens=self.shape.max_tokens(params)),
            metadata=self.metadata, requested_model=str(params.get("model", "")),
        )
        decision = yield _Route(request)
        history = [decision]
        for escalations in range(self.max_escalations + 1):
            response, answer, decision = yield from self._answer(request, decision, params, history)
            score = self._score(decision, request.messages, answer)
            if score is not None:
                yield self._feedback(decision["decision_id"], score, answer)
            if escalations == self.max_escalations or not self._falls_short(score, decision):
                break
            try:
                decision = yield _Route(replace(request, escalate_from=decision["decision_id"]))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                break  # no allowed model is stronger
            history.append(decision)
        response.routing = {**decision, "history": [d["decision_id"] for d in history]}
        return response

    def _answer(self, request: RouteRequest, decision: dict, params: dict,
                history: list[dict]) -> Generator[Step, Any, tuple[Any, Answer, dict]]:
        """Call the decision's model; on a provider error, report it and go down the fallback list."""
        fallbacks = list(decision["fallback_models"])
        while True:
            if decision["cache_hit"]:
                text = decision["cached_response"]
                return self.shape.cached(text, decision["model"]), Answer(text, None, None, 0.0, True), decision
            clients = [self._client(step["provider"], step["model"]) for step in _steps(decision)]
            start = time.perf_counter()
            try:
                response, answer = yield from self._call(decision, clients, params)
            except Exception:
                latency_ms = (time.perf_counter() - start) * 1000
                yield _Feedback(FeedbackRequest(decision["decision_id"], None, latency_ms=latency_ms, error=True))
                if not fallbacks:
                    raise
                only = replace(request.constraints, allowed_models=(fallbacks.pop(0),))
                decision = yield _Route(replace(request, constraints=only))
                history.append(decision)
                continue
            return response, replace(answer, latency_ms=(time.perf_counter() - start) * 1000), decision

    def _call(self, decision: dict, clients: list[Any], params: dict) -> Generator[Step, Any, tuple[Any, Answer]]:
        """One model's response, or a plan's: the drafter answers, the reviewer reads the draft and
        gives the final answer (its response is the one returned)."""
        steps = _steps(decision)
        if len(steps) == 1:
            response = yield _Call(clients[0], steps[0]["model"], params)
            return response, Answer(self.shape.text(response), *self.shape.usage(response), 0.0)
        draft = yield _Call(clients[0], steps[0]["model"], params)
        review = yield _Call(clients[1], steps[1]["model"], _review_params(params, self.shape.text(draft)))
        review_in, review_out = self.shape.usage(review)
        return review, Answer(self.shape.text(review), *self.shape.usage(draft), 0.0,
                              review_input_tokens=review_in, review_output_tokens=review_out)

    def _client(self, provider: str, model: str) -> Any:
        if not isinstance(self.clients, Mapping):
            return self.clients
        if provider not in self.clients:
            raise ValueError(f"the router chose {model} of provider {provider!r}, and no client was given for it "
                             f"(clients for: {', '.join(self.clients)}); give one, or pass models= with the models "
                             "your clients reach")
        return self.clients[provider]

    def _score(self, decision: dict, prompt: Sequence[ChatMessage], answer: Answer) -> float | None:
        """The quality callback's score; without one, the answer waits for `rate`."""
        score = self.quality(answer.text, prompt, decision) if self.quality is not None else None
        if score is None:
            with self._lock:
                self._pending[decision["decision_id"]] = answer
                while len(self._pending) > PENDING_LIMIT:
                    self._pending.popitem(last=False)
        return score

    def _feedback(self, decision_id: str, quality: float, answer: Answer) -> _Feedback:
        return _Feedback(FeedbackRequest(
            decision_id, quality, answer.input_tokens, answer.output_tokens, answer.latency_ms,
            response_text=None if answer.from_cache else answer.text or None,
            review_input_tokens=answer.review_input_tokens, review_output_tokens=answer.review_output_tokens))

    def _falls_short(self, score: float | None, decision: dict) -> bool:
        bar = self.escalate_below if self.escalate_below is not None else decision["quality_bar"]
        return score is not None and bar is not None and score < bar


class AsyncRoutedChat(RoutedChat):
    """The same routing for asyncio clients (AsyncOpenAI, AsyncAnthropic) and an AsyncRouterClient.
    Feedback is sent as a task of the running loop; the answer does not wait for it."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Task] = set()

    async def create(self, **params: Any) -> Any:
        flow = self._flow(params)
        step = _advance(flow)
        while not isinstance(step, _Done):
            step = _advance(flow, *await _attempt_async(self._carry_out, step))
        return step.value

    async def _carry_out(self, step: Step) -> Any:
        if isinstance(step, _Route):
            return await self.router.route(step.request)
        if isinstance(step, _Call):
            return await self.shape.call(step.client, step.model, step.params)
        task = asyncio.create_task(self.router.feedback(step.request))
        task.add_done_callback(_log_failure)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    async def rate(self, decision_id: str, quality: float) -> None:
        await self._carry_out(self._rating(decision_id, quality))

    async def flush(self, timeout: float | None = None) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


class Shape(Protocol):
    """How one provider's client is called and how its answers read."""

    def prompt(self, params: dict) -> tuple[ChatMessage, ...]: ...

    def max_tokens(self, params: dict) -> int | None: ...

    def call(self, client: Any, model: str, params: dict) -> Any: ...

    def text(self, response: Any) -> str: ...

    def usage(self, response: Any) -> tuple[int | None, int | None]: ...

    def cached(self, text: str, model: str) -> Any:
        """A response of this provider's shape carrying a cached answer."""
        ...


class OpenAIShape:
    def prompt(self, params: dict) -> tuple[ChatMessage, ...]:
        return tuple(ChatMessage(_role(m["role"]), _plain(m.get("content"))) for m in params["messages"])

    def max_tokens(self, params: dict) -> int | None:
        return params.get("max_completion_tokens") or params.get("max_tokens")

    def call(self, client: Any, model: str, params: dict) -> Any:
        return client.chat.completions.create(**{**params, "model": model})

    def text(self, response: Any) -> str:
        return response.choices[0].message.content or ""

    def usage(self, response: Any) -> tuple[int | None, int | None]:
        usage = getattr(response, "usage", None)
        return (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)

    def cached(self, text: str, model: str) -> Any:
        message = SimpleNamespace(role="assistant", content=text)
        return SimpleNamespace(id="banditroute-cache", object="chat.completion", model=model,
                               choices=[SimpleNamespace(index=0, message=message, finish_reason="stop")],
                               usage=SimpleNamespace(prompt_tokens=0, completion_tokens=0, total_tokens=0))


class AnthropicShape:
    def prompt(self, params: dict) -> tuple[ChatMessage, ...]:
        system = _plain(params.get("system"))
        turns = tuple(ChatMessage(_role(m["role"]), _plain(m.get("content"))) for m in params["messages"])
        return ((ChatMessage("system", system),) if system else ()) + turns

    def max_tokens(self, params: dict) -> int | None:
        return params.get("max_tokens")

    def call(self, client: Any, model: str, params: dict) -> Any:
        return client.messages.create(**{**params, "model": model})

    def text(self, response: Any) -> str:
        return "".join(block.text for block in response.content if getattr(block, "type", "text") == "text")

    def usage(self, response: Any) -> tuple[int | None, int | None]:
        usage = getattr(response, "usage", None)
        return (usage.input_tokens, usage.output_tokens) if usage is not None else (None, None)

    def cached(self, text: str, model: str) -> Any:
        return SimpleNamespace(id="banditroute-cache", type="message", role="assistant", model=model,
                               content=[SimpleNamespace(type="text", text=text)], stop_reason="end_turn",
                               usage=SimpleNamespace(input_tokens=0, output_tokens=0))


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


def _log_failure(future: Future | asyncio.Task) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("feedback was not taken: %s", future.exception())


def _steps(decision: dict) -> list[dict]:
    """The calls a decision asks for: its model, or a plan's drafter and reviewer."""
    return decision["plan"] or [{"model": decision["model"], "provider": decision["provider"]}]


def _review_params(params: dict, draft: str) -> dict:
    """The review call: the same request, with the draft as the assistant's turn and the ask to finish it."""
    turns = [{"role": "assistant", "content": draft}, {"role": "user", "content": REVIEW_REQUEST}]
    return {**params, "messages": [*params["messages"], *turns]}


def _role(role: str) -> str:
    """The router knows system, user and assistant turns; OpenAI's developer turn is a system one."""
    return {"developer": "system", "system": "system", "assistant": "assistant"}.get(role, "user")


def _plain(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") if isinstance(part, Mapping) else getattr(part, "text", "")
                     for part in content)
