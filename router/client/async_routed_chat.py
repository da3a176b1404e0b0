"""The routing around an asyncio client: RoutedChat's flow, carried out with await."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from router.client.routed_chat import RoutedChat, log_failure
from router.client.steps import AwaitLeader, Call, Done, Route, Step, advance, attempt_async, leader_polls, track
from router.client.streams import NO_CHUNK, AsyncRoutedStream, Opened, cached_opened_async
from router.domain.types import FeedbackRequest


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
        step = advance(flow)
        try:
            while not isinstance(step, Done):
                result, error = await attempt_async(self._carry_out, step)
                track(unsettled, step, result)
                step = advance(flow, result, error)
        except BaseException:  # cancelled too (asyncio.wait_for's timeout): nothing may stay open
            self._release(unsettled)
            raise
        return self._hand_over(step.value, params)

    async def _carry_out(self, step: Step) -> Any:
        if isinstance(step, Route):
            return await self.router.route(step.request)
        if isinstance(step, Call):
            if step.stream:
                return await self._open(step)
            return await self.shape.call(step.client, step.model, step.params)
        if isinstance(step, AwaitLeader):
            return await self._await_leader(step)
        self._send(step.request)
        return None

    async def _await_leader(self, step: AwaitLeader) -> str | None:
        for pause in leader_polls(step.wait_seconds):
            answer = await self.router.leader_answer(step.decision_id)
            if answer["state"] != "waiting":
                return answer["answer"] if answer["state"] == "answered" else None
            await asyncio.sleep(pause)
        return None

    async def _open(self, step: Call) -> Opened:
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
        task.add_done_callback(log_failure)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def rate(self, decision_id: str, quality: float) -> None:
        await self._carry_out(self._rating(decision_id, quality))

    async def flush(self, timeout: float | None = None) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
