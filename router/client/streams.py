"""A provider's stream as a routed call hands it to the caller.

The caller reads the provider's own chunks as they come; the stream tallies what passes (the text,
the tokens the provider reports, when the first chunk came) and tells the wrapper once, when the
stream ends, fails or is closed early (or dropped unread), so the call's feedback is sent then.
The wrapper reads the first chunk before handing the stream over: an error before it may still fall
back to another model, one after it may not, as the caller already holds part of an answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from router.client.shapes import Shape

log = logging.getLogger(__name__)


@dataclass
class Opened:
    """A stream whose first chunk has come: what the wrapper's driver gives its flow."""

    stream: Any  # the provider's stream object (closed with the routed one); None for a cached answer
    chunks: Iterator[Any] | AsyncIterator[Any]  # the rest of the chunks
    first: Any  # the first chunk; NO_CHUNK when the stream ended at once
    started: float  # perf_counter() when the call was made
    first_at: float  # perf_counter() when the first chunk came


NO_CHUNK = object()


@dataclass
class Tally:
    """What a stream has given so far."""

    started: float
    first_at: float
    parts: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    ended_at: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def latency_ms(self) -> float:
        return ((self.ended_at or time.perf_counter()) - self.started) * 1000

    @property
    def first_chunk_ms(self) -> float:
        return (self.first_at - self.started) * 1000

    def add(self, shape: Shape, chunk: Any) -> None:
        self.parts.append(shape.chunk_text(chunk))
        input_tokens, output_tokens = shape.chunk_usage(chunk)
        self.input_tokens = input_tokens if input_tokens is not None else self.input_tokens
        self.output_tokens = output_tokens if output_tokens is not None else self.output_tokens


# (the tally, the error that broke the stream or None, whether it ran to its end)
EndCallback = Callable[[Tally, Exception | None, bool], None]


class _RoutedStreamBase:
    """What the sync and async streams share: tallying, filtering and ending once."""

    def __init__(self, opened: Opened, shape: Shape, params: dict, on_end: EndCallback):
        self._stream = opened.stream
        self._chunks = opened.chunks
        self._first = opened.first
        self._shape = shape
        self._params = params
        self._on_end = on_end
        self._tally = Tally(opened.started, opened.first_at)
        self._ended = False

    def _take(self, chunk: Any) -> bool:
        """Tally a chunk; whether the caller gets it."""
        self._tally.add(self._shape, chunk)
        return self._shape.shown(chunk, self._params)

    def _pop_first(self) -> Any:
        first, self._first = self._first, None
        return first

    def _end(self, error: Exception | None, complete: bool) -> None:
        if self._ended:
            return
        self._ended = True
        self._tally.ended_at = time.perf_counter()
        self._on_end(self._tally, error, complete)

    def __getattr__(self, name: str) -> Any:
        # The provider's stream's own attributes (its HTTP response, for one) stay within reach.
        if name.startswith("_") or self.__dict__.get("_stream") is None:
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __del__(self) -> None:
        # Dropped unread (a loop left with break): its feedback is still sent.
        try:
            self._end(None, False)
        except Exception:  # the interpreter may be shutting down
            log.debug("feedback of a dropped stream was not sent", exc_info=True)


class RoutedStream(_RoutedStreamBase):
    """A blocking provider stream, chunk for chunk; `close()` or `with` ends it early."""

    def __iter__(self) -> RoutedStream:
        return self

    def __next__(self) -> Any:
        while True:
            chunk = self._pop_first() if self._first is not None else self._next_chunk()
            if chunk is NO_CHUNK:
                continue
            if self._take(chunk):
                return chunk

    def _next_chunk(self) -> Any:
        if self._ended:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self._end(None, True)
            raise
        except Exception as exc:
            self._end(exc, False)
            raise

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._end(None, False)

    def __enter__(self) -> RoutedStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncRoutedStream(_RoutedStreamBase):
    """An asyncio provider stream, chunk for chunk; `await close()` or `async with` ends it early."""

    def __aiter__(self) -> AsyncRoutedStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            chunk = self._pop_first() if self._first is not None else await self._next_chunk()
            if chunk is NO_CHUNK:
                continue
            if self._take(chunk):
                return chunk

    async def _next_chunk(self) -> Any:
        if self._ended:
            raise StopAsyncIteration
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            self._end(None, True)
            raise
        except Exception as exc:
            self._end(exc, False)
            raise

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
        self._end(None, False)

    async def __aenter__(self) -> AsyncRoutedStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def cached_opened(chunks: list[Any]) -> Opened:
    """A cached answer's chunks, as if streamed: the first at once."""
    now = time.perf_counter()
    return Opened(None, iter(chunks[1:]), chunks[0], now, now)


async def _aiter(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk


def cached_opened_async(chunks: list[Any]) -> Opened:
    now = time.perf_counter()
    return Opened(None, _aiter(chunks[1:]), chunks[0], now, now)
