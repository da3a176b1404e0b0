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
from typing import Any

import grpc

from router.client import AsyncRouterClient, RouterClient
from router.client.shapes import AnthropicShape, OpenAIShape, Shape, streaming
from router.client.streams import (NO_CHUNK, AsyncRoutedStream, Opened, RoutedStream, Tally, cached_opened,
                                   cached_opened_async)
from router.domain.tokens import estimate_tokens
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, Metadata, RouteRequest

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
    first_chunk_ms: float | None = None  # a streamed answer


@dataclass(frozen=True)
class _Route:
    request: RouteRequest


@dataclass(frozen=True)
class _Call:
    client: Any
    model: str
    params: dict
    stream: bool = False  # open the provider's stream and wait for its first chunk (an Opened)


@dataclass(frozen=True)
class _Feedback:
    request: FeedbackRequest


Step = _Route | _Call | _Feedback  # what the routing of one call asks its driver to do, in order


@dataclass(frozen=True)
class _Done:
    value: Any  # what the flow returned: the response


@dataclass(frozen=True)
class _Streamed:
    """A streamed answer, for the driver to hand over as a routed stream: the provider's opened
    stream, or a cached answer's chunks."""

    source: Opened | list[Any]
    decision: dict
    prompt: tuple[ChatMessage, ...]
    draft: Answer | None  # a plan's draft, called before its review was streamed
    routing: dict


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
        """The provider's response to `params` (its stream with stream=True), from the model the
        router chose, with `.routing`."""
        flow, unsettled = self._flow(params), set()
        step = _advance(flow)
        try:
            while not isinstance(step, _Done):
                result, error = _attempt(self._carry_out, step)
                _track(unsettled, step, result)
                step = _advance(flow, result, error)
        except BaseException:
            self._release(unsettled)
            raise
        return self._hand_over(step.value, params)

    def _hand_over(self, value: Any, params: dict) -> Any:
        """The flow's response; a streamed one becomes a routed stream, which feeds back as it ends."""
        if not isinstance(value, _Streamed):
            return value
        source = value.source
        opened = self._replayed(source) if isinstance(source, list) else source
        return _with_routing(self._stream_type(opened, self.shape, params, self._stream_end(value)), value.routing)

    _stream_type = RoutedStream
    _replayed = staticmethod(cached_opened)

    def _carry_out(self, step: Step) -> Any:
        if isinstance(step, _Route):
            return self.router.route(step.request)
        if isinstance(step, _Call):
            return self._open(step) if step.stream else self.shape.call(step.client, step.model, step.params)
        self._send(step.request)
        return None

    def _open(self, step: _Call) -> Opened:
        """Call for a stream and wait for its first chunk (an error before it may still fall back)."""
        started = time.perf_counter()
        stream = self.shape.call(step.client, step.model, step.params)
        chunks = iter(stream)
        try:
            first = next(chunks, NO_CHUNK)
        except BaseException:
            stream.close()
            raise
        return Opened(stream, chunks, first, started, time.perf_counter())

    def _release(self, unsettled: set[str]) -> None:
        """Close the decisions a call routed but gave up on before feeding back (no client for the
        provider, an interrupt, a cancellation): they cost nothing, teach nothing, hold no budget."""
        for decision_id in unsettled:
            self._send(FeedbackRequest(decision_id, None, not_called=True))

    def _send(self, request: FeedbackRequest) -> None:
        future = self._sender.submit(self.router.feedback, request)
        future.add_done_callback(_log_failure)
        with self._lock:
            self._sent = [f for f in self._sent if not f.done()] + [future]

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
        providers = tuple(self.clients) if isinstance(self.clients, Mapping) else ()
        request = RouteRequest(
            self.tenant, self.shape.prompt(params),
            constraints=Constraints(self.models, expected_output_tokens=self.shape.max_tokens(params),
                                    allowed_providers=providers),
            metadata=self.metadata, requested_model=str(params.get("model", "")),
        )
        decision = yield _Route(request)
        history = [decision]
        if streaming(params):
            return (yield from self._stream(request, decision, params, history))
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
        return _with_routing(response, _routing(decision, history))

    def _stream(self, request: RouteRequest, decision: dict, params: dict,
                history: list[dict]) -> Generator[Step, Any, _Streamed]:
        """Open the chosen model's stream (down the fallbacks while none gives a first chunk)."""
        opened, draft, decision = yield from self._answer(request, decision, params, history)
        if decision["cache_hit"]:
            chunks = self.shape.cached_stream(decision["cached_response"], decision["model"], decision["decision_id"])
            return _Streamed(chunks, decision, request.messages, None, _routing(decision, history))
        return _Streamed(opened, decision, request.messages, draft, _routing(decision, history))

    def _answer(self, request: RouteRequest, decision: dict, params: dict,
                history: list[dict]) -> Generator[Step, Any, tuple[Any, Answer | None, dict]]:
        """Call the decision's model; on a provider error, report it and go down the fallback list.
        A stream gives back the opened stream and a plan's draft, if any."""
        fallbacks = list(decision["fallback_models"])
        while True:
            if decision["cache_hit"]:
                text = decision["cached_response"]
                response = None if streaming(params) else self.shape.cached(text, decision["model"],
                                                                             decision["decision_id"])
                return response, Answer(text, None, None, 0.0, True), decision
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
            if answer is not None and not streaming(params):
                answer = replace(answer, latency_ms=(time.perf_counter() - start) * 1000)
            return response, answer, decision

    def _call(self, decision: dict, clients: list[Any],
              params: dict) -> Generator[Step, Any, tuple[Any, Answer | None]]:
        """One model's response, or a plan's: the drafter answers, the reviewer reads the draft and
        gives the final answer (its response is the one returned). Streamed, only the last call
        streams: the answer is the opened stream's, so none is given back but a plan's draft."""
        steps = _steps(decision)
        draft, draft_answer = None, None
        if len(steps) == 2:
            draft = yield _Call(clients[0], steps[0]["model"], _whole(params))
            draft_answer = Answer(self.shape.text(draft), *self.shape.usage(draft), 0.0)
        last_params = _review_params(params, draft_answer.text) if draft_answer else params
        if streaming(params):
            opened = yield _Call(clients[-1], steps[-1]["model"], self.shape.stream_params(last_params), stream=True)
            return opened, draft_answer
        response = yield _Call(clients[-1], steps[-1]["model"], last_params)
        usage = self.shape.usage(response)
        if draft_answer is None:
            return response, Answer(self.shape.text(response), *usage, 0.0)
        return response, replace(draft_answer, text=self.shape.text(response), review_input_tokens=usage[0],
                                 review_output_tokens=usage[1])

    def _stream_end(self, streamed: _Streamed) -> Callable[[Tally, Exception | None, bool], None]:
        """What to feed back when a routed stream ends: its answer's rating (now or later), or its error."""
        decision_id = streamed.decision["decision_id"]

        def feed_back(tally: Tally, error: Exception | None, complete: bool) -> None:
            answer = _streamed_answer(tally, streamed, complete)
            if error is not None:
                self._send(FeedbackRequest(
                    decision_id, None, answer.input_tokens, answer.output_tokens, answer.latency_ms, error=True,
                    time_to_first_token_ms=answer.first_chunk_ms, review_input_tokens=answer.review_input_tokens,
                    review_output_tokens=answer.review_output_tokens))
                return
            score = self._score(streamed.decision, streamed.prompt, answer)
            if score is not None:
                self._send(self._feedback(decision_id, score, answer).request)

        return feed_back

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
            review_input_tokens=answer.review_input_tokens, review_output_tokens=answer.review_output_tokens,
            time_to_first_token_ms=answer.first_chunk_ms))

    def _falls_short(self, score: float | None, decision: dict) -> bool:
        bar = self.escalate_below if self.escalate_below is not None else decision["quality_bar"]
        return score is not None and bar is not None and score < bar


class AsyncRoutedChat(RoutedChat):
    """The same routing for asyncio clients (AsyncOpenAI, AsyncAnthropic) and an AsyncRouterClient.
    Feedback is sent as a task of the running loop; the answer does not wait for it."""

    _stream_type = AsyncRoutedStream
    _replayed = staticmethod(cached_opened_async)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Task] = set()

    async def create(self, **params: Any) -> Any:
        flow, unsettled = self._flow(params), set()
        step = _advance(flow)
        try:
            while not isinstance(step, _Done):
                result, error = await _attempt_async(self._carry_out, step)
                _track(unsettled, step, result)
                step = _advance(flow, result, error)
        except BaseException:  # cancelled too (asyncio.wait_for's timeout): nothing may stay open
            self._release(unsettled)
            raise
        return self._hand_over(step.value, params)

    async def _carry_out(self, step: Step) -> Any:
        if isinstance(step, _Route):
            return await self.router.route(step.request)
        if isinstance(step, _Call):
            if step.stream:
                return await self._open(step)
            return await self.shape.call(step.client, step.model, step.params)
        self._send(step.request)
        return None

    async def _open(self, step: _Call) -> Opened:
        started = time.perf_counter()
        stream = await self.shape.call(step.client, step.model, step.params)
        chunks = aiter(stream)
        try:
            first = await anext(chunks, NO_CHUNK)
        except BaseException:
            await stream.close()
            raise
        return Opened(stream, chunks, first, started, time.perf_counter())

    def _send(self, request: FeedbackRequest) -> None:
        task = asyncio.get_running_loop().create_task(self.router.feedback(request))
        task.add_done_callback(_log_failure)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def rate(self, decision_id: str, quality: float) -> None:
        await self._carry_out(self._rating(decision_id, quality))

    async def flush(self, timeout: float | None = None) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


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


def _track(unsettled: set[str], step: Step, result: Any) -> None:
    """Keep the ids of the decisions routed but not yet fed back."""
    if isinstance(step, _Route) and result is not None:
        unsettled.add(result["decision_id"])
    elif isinstance(step, _Feedback):
        unsettled.discard(step.request.decision_id)


def _routing(decision: dict, history: list[dict]) -> dict:
    return {**decision, "history": [d["decision_id"] for d in history]}


def _with_routing(response: Any, routing: dict) -> Any:
    """The response with `.routing` set beside its fields: an SDK's pydantic model leaves an
    attribute set this way out of model_dump() and to_json(), so a forwarded body never carries it."""
    object.__setattr__(response, "routing", routing)
    return response


def _whole(params: dict) -> dict:
    """A request's parameters for a call that does not stream (a plan's draft)."""
    return {k: v for k, v in params.items() if k not in ("stream", "stream_options")}


def _streamed_answer(tally: Tally, streamed: _Streamed, complete: bool) -> Answer:
    """What a routed stream gave: the tokens the provider reported, else (closed early, or the
    provider never said) the output counted from the text received and the input left to the
    decision's estimate. A plan's tokens are the draft's, with the stream's as the review's."""
    reported = complete and tally.output_tokens is not None
    output_tokens = tally.output_tokens if reported else (estimate_tokens(tally.text) if tally.text else 0)
    if streamed.decision["cache_hit"]:
        return Answer(tally.text, None, None, tally.latency_ms, True, first_chunk_ms=tally.first_chunk_ms)
    if streamed.draft is not None:
        return replace(streamed.draft, text=tally.text, latency_ms=tally.latency_ms,
                       review_input_tokens=tally.input_tokens, review_output_tokens=output_tokens,
                       first_chunk_ms=tally.first_chunk_ms)
    return Answer(tally.text, tally.input_tokens, output_tokens, tally.latency_ms,
                  first_chunk_ms=tally.first_chunk_ms)

