"""The routing around a blocking client: RoutedChat, its flow (the steps of a call, free of I/O) and
the driver that carries them out. The wrappers (router/client/wrappers.py) say what it does around a call."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

import grpc

from router.client.compression import compress
from router.client.shapes import Shape, streaming
from router.client.steps import (Answer, AwaitLeader, Call, Done, Feedback, Route, Step, Streamed, advance, attempt,
                                 leader_polls, track)
from router.client.streams import NO_CHUNK, Opened, RoutedStream, Tally, cached_opened
from router.domain.tokens import estimate_tokens
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, Metadata, RouteRequest

log = logging.getLogger(__name__)

# (answer text, the prompt's messages, the decision) → quality in [0, 1], or None: rated later.
QualityCallback = Callable[[str, Sequence[ChatMessage], dict], "float | None"]
PENDING_LIMIT = 10_000  # answers awaiting a later rating; beyond it the oldest are left to expire
# How long a request that follows an identical one in flight waits for its answer before calling itself.
LEADER_WAIT_SECONDS = 120.0
SERVED_BY_LEADER = "served_by_leader"  # set in `.routing` when the answer was an identical request's
REVIEW_REQUEST = ("Review the draft answer above: correct its mistakes, complete what it misses, and reply with "
                  "the final answer only.")


class RoutedChat:
    """The routing around one kind of client (`shape` knows its call and its response), for blocking
    clients. The steps of a call are written once, in `_flow`, free of I/O: it yields what to do
    (route, call a model, send feedback) and is sent the results, or thrown the errors. `create`
    carries them out here, AsyncRoutedChat's with await."""

    def __init__(self, shape: Shape, clients: Mapping[str, Any] | Any, router: Any, tenant: str,
                 models: Sequence[str] = (), quality: QualityCallback | None = None,
                 escalate_below: float | None = None, max_escalations: int = 2, metadata: Metadata = Metadata(),
                 leader_wait_seconds: float = LEADER_WAIT_SECONDS):
        self.shape = shape
        self.clients = clients
        self.router = router
        self.tenant = tenant
        self.models = tuple(models)
        self.quality = quality
        self.escalate_below = escalate_below
        self.max_escalations = max_escalations
        self.metadata = metadata
        self.leader_wait_seconds = leader_wait_seconds
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
        step = advance(flow)
        try:
            while not isinstance(step, Done):
                result, error = attempt(self._carry_out, step)
                track(unsettled, step, result)
                step = advance(flow, result, error)
        except BaseException:
            self._release(unsettled)
            raise
        return self._hand_over(step.value, params)

    def _hand_over(self, value: Any, params: dict) -> Any:
        """The flow's response; a streamed one becomes a routed stream, which feeds back as it ends."""
        if not isinstance(value, Streamed):
            return value
        source = value.source
        opened = self._replayed(source) if isinstance(source, list) else source
        return _with_routing(self._stream_type(opened, self.shape, params, self._stream_end(value)), value.routing)

    _stream_type = RoutedStream
    _replayed = staticmethod(cached_opened)

    def _carry_out(self, step: Step) -> Any:
        if isinstance(step, Route):
            return self.router.route(step.request)
        if isinstance(step, Call):
            return self._open(step) if step.stream else self.shape.call(step.client, step.model, step.params)
        if isinstance(step, AwaitLeader):
            return self._await_leader(step)
        self._send(step.request)
        return None

    def _await_leader(self, step: AwaitLeader) -> str | None:
        for pause in leader_polls(step.wait_seconds):
            answer = self.router.leader_answer(step.decision_id)
            if answer["state"] != "waiting":
                return answer["answer"] if answer["state"] == "answered" else None
            time.sleep(pause)
        return None

    def _open(self, step: Call) -> Opened:
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
        future.add_done_callback(log_failure)
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

    def _rating(self, decision_id: str, quality: float) -> Feedback:
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
        decision = yield Route(request)
        params = self._compressed(params, decision)
        history = [decision]
        if streaming(params):
            return (yield from self._stream(request, decision, params, history))
        for escalations in range(self.max_escalations + 1):
            response, answer, decision = yield from self._answer(request, decision, params, history)
            if decision.get(SERVED_BY_LEADER):
                break  # the router closed the follower: there is nothing to rate or escalate
            score = self._score(decision, request.messages, answer)
            if score is not None:
                yield self._feedback(decision["decision_id"], score, answer)
            if escalations == self.max_escalations or not self._falls_short(score, decision):
                break
            try:
                decision = yield Route(replace(request, escalate_from=decision["decision_id"]))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                break  # no allowed model is stronger
            history.append(decision)
        return _with_routing(response, _routing(decision, history))

    def _compressed(self, params: dict, decision: dict) -> dict:
        """The request shortened at the level a compress_prompt rule gave (the router never gives one
        for a security task): the system prompt and the last question are kept as they are."""
        level = decision.get("compress_level")
        if not level:
            return params
        return self.shape.with_prompt(params, compress(self.shape.prompt(params), level).messages)

    def _stream(self, request: RouteRequest, decision: dict, params: dict,
                history: list[dict]) -> Generator[Step, Any, Streamed]:
        """Open the chosen model's stream (down the fallbacks while none gives a first chunk)."""
        opened, draft, decision = yield from self._answer(request, decision, params, history)
        if decision["cache_hit"] or decision.get(SERVED_BY_LEADER):
            chunks = self.shape.cached_stream(draft.text, decision["model"], decision["decision_id"])
            return Streamed(chunks, decision, request.messages, None, _routing(decision, history))
        return Streamed(opened, decision, request.messages, draft, _routing(decision, history))

    def _answer(self, request: RouteRequest, decision: dict, params: dict,
                history: list[dict]) -> Generator[Step, Any, tuple[Any, Answer | None, dict]]:
        """Call the decision's model; on a provider error, report it and go down the fallback list.
        A stream gives back the opened stream and a plan's draft, if any."""
        fallbacks = list(decision["fallback_models"])
        while True:
            text = (yield AwaitLeader(decision["decision_id"], self.leader_wait_seconds)) if decision.get("duplicate_of") \
                else None
            if text is not None:
                decision = {**decision, SERVED_BY_LEADER: True}
                response = None if streaming(params) else self.shape.cached(text, decision["model"],
                                                                             decision["decision_id"])
                return response, Answer(text, None, None, 0.0, True), decision
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
                yield Feedback(FeedbackRequest(decision["decision_id"], None, latency_ms=latency_ms, error=True))
                if not fallbacks:
                    raise
                only = replace(request.constraints, allowed_models=(fallbacks.pop(0),))
                decision = yield Route(replace(request, constraints=only))
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
            draft = yield Call(clients[0], steps[0]["model"], _whole(params))
            draft_answer = Answer(self.shape.text(draft), *self.shape.usage(draft), 0.0)
        last_params = _review_params(params, draft_answer.text) if draft_answer else params
        if streaming(params):
            opened = yield Call(clients[-1], steps[-1]["model"], self.shape.stream_params(last_params), stream=True)
            return opened, draft_answer
        response = yield Call(clients[-1], steps[-1]["model"], last_params)
        usage = self.shape.usage(response)
        if draft_answer is None:
            return response, Answer(self.shape.text(response), *usage, 0.0)
        return response, replace(draft_answer, text=self.shape.text(response), review_input_tokens=usage[0],
                                 review_output_tokens=usage[1])

    def _stream_end(self, streamed: Streamed) -> Callable[[Tally, Exception | None, bool], None]:
        """What to feed back when a routed stream ends: its answer's rating (now or later), or its error."""
        decision_id = streamed.decision["decision_id"]

        def feed_back(tally: Tally, error: Exception | None, complete: bool) -> None:
            if streamed.decision.get(SERVED_BY_LEADER):
                return  # the router closed the follower when it served the leader's answer
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

    def _feedback(self, decision_id: str, quality: float, answer: Answer) -> Feedback:
        return Feedback(FeedbackRequest(
            decision_id, quality, answer.input_tokens, answer.output_tokens, answer.latency_ms,
            response_text=None if answer.from_cache else answer.text or None,
            review_input_tokens=answer.review_input_tokens, review_output_tokens=answer.review_output_tokens,
            time_to_first_token_ms=answer.first_chunk_ms))

    def _falls_short(self, score: float | None, decision: dict) -> bool:
        bar = self.escalate_below if self.escalate_below is not None else decision["quality_bar"]
        return score is not None and bar is not None and score < bar


def log_failure(future: Future | asyncio.Task) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("feedback was not taken: %s", future.exception())


def _steps(decision: dict) -> list[dict]:
    """The calls a decision asks for: its model, or a plan's drafter and reviewer."""
    return decision["plan"] or [{"model": decision["model"], "provider": decision["provider"]}]


def _review_params(params: dict, draft: str) -> dict:
    """The review call: the same request, with the draft as the assistant's turn and the ask to finish it."""
    turns = [{"role": "assistant", "content": draft}, {"role": "user", "content": REVIEW_REQUEST}]
    return {**params, "messages": [*params["messages"], *turns]}


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


def _streamed_answer(tally: Tally, streamed: Streamed, complete: bool) -> Answer:
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
