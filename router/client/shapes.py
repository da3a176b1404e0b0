"""How each provider's client is called and how its answers read, for the client wrappers.

A shape knows one provider's request (its messages, its output cap, its stream flag), its response
and its stream chunks (the answer's text, the tokens used), and builds the SDK's own types for an
answer the router's cache gives, whole or as a stream, so a caller cannot tell a cached answer from
a called one by its type. The SDKs are imported only when a cached answer is built.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from router.domain.types import ChatMessage

Usage = tuple[int | None, int | None]  # (input tokens, output tokens); None: not reported


class Shape(Protocol):
    def prompt(self, params: dict) -> tuple[ChatMessage, ...]: ...

    def with_prompt(self, params: dict, prompt: tuple[ChatMessage, ...]) -> dict:
        """The request with `prompt`'s texts (as `prompt` reads them, in order) in place of its messages'
        where those were plain strings; content blocks (images, files) are left as they were."""
        ...

    def max_tokens(self, params: dict) -> int | None: ...

    def call(self, client: Any, model: str, params: dict) -> Any:
        """The client's call (a coroutine for an async client)."""
        ...

    def text(self, response: Any) -> str: ...

    def usage(self, response: Any) -> Usage: ...

    def cached(self, text: str, model: str, decision_id: str) -> Any:
        """A response of this provider's type carrying a cached answer."""
        ...

    def stream_params(self, params: dict) -> dict:
        """The caller's streaming request, asking the provider to report tokens at the end."""
        ...

    def chunk_text(self, chunk: Any) -> str: ...

    def chunk_usage(self, chunk: Any) -> Usage:
        """Tokens a chunk reports (a later report replaces an earlier one)."""
        ...

    def shown(self, chunk: Any, params: dict) -> bool:
        """Whether the caller would have got this chunk from the provider (some exist only because
        the wrapper asked for the tokens)."""
        ...

    def cached_stream(self, text: str, model: str, decision_id: str) -> list[Any]:
        """The chunks of this provider's stream carrying a cached answer."""
        ...


def streaming(params: dict) -> bool:
    return bool(params.get("stream"))


class OpenAIShape:
    def prompt(self, params: dict) -> tuple[ChatMessage, ...]:
        return tuple(ChatMessage(_role(m["role"]), _plain(m.get("content"))) for m in params["messages"])

    def with_prompt(self, params: dict, prompt: tuple[ChatMessage, ...]) -> dict:
        return {**params, "messages": _with_texts(params["messages"], prompt)}

    def max_tokens(self, params: dict) -> int | None:
        return params.get("max_completion_tokens") or params.get("max_tokens")

    def call(self, client: Any, model: str, params: dict) -> Any:
        return client.chat.completions.create(**{**params, "model": model})

    def text(self, response: Any) -> str:
        return response.choices[0].message.content or ""

    def usage(self, response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        return (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)

    def cached(self, text: str, model: str, decision_id: str) -> Any:
        from openai.types.chat import ChatCompletion

        return ChatCompletion.model_validate({
            "id": f"banditroute-cache-{decision_id}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "usage": _NO_OPENAI_TOKENS,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        })

    def stream_params(self, params: dict) -> dict:
        options = dict(params.get("stream_options") or {})
        return {**params, "stream_options": {**options, "include_usage": True}}

    def chunk_text(self, chunk: Any) -> str:
        return "".join(choice.delta.content or "" for choice in chunk.choices if choice.delta is not None)

    def chunk_usage(self, chunk: Any) -> Usage:
        return self.usage(chunk)

    def shown(self, chunk: Any, params: dict) -> bool:
        # The usage-only last chunk comes only to a caller that asked for it.
        asked = bool((params.get("stream_options") or {}).get("include_usage"))
        return asked or bool(chunk.choices) or getattr(chunk, "usage", None) is None

    def cached_stream(self, text: str, model: str, decision_id: str) -> list[Any]:
        from openai.types.chat import ChatCompletionChunk

        common = {"id": f"banditroute-cache-{decision_id}", "object": "chat.completion.chunk",
                  "created": int(time.time()), "model": model}
        deltas = [({"role": "assistant", "content": text}, None), ({}, "stop")]
        chunks = [{**common, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                  for delta, finish in deltas]
        chunks.append({**common, "choices": [], "usage": _NO_OPENAI_TOKENS})
        return [ChatCompletionChunk.model_validate(chunk) for chunk in chunks]


class AnthropicShape:
    def prompt(self, params: dict) -> tuple[ChatMessage, ...]:
        system = _plain(params.get("system"))
        turns = tuple(ChatMessage(_role(m["role"]), _plain(m.get("content"))) for m in params["messages"])
        return ((ChatMessage("system", system),) if system else ()) + turns

    def with_prompt(self, params: dict, prompt: tuple[ChatMessage, ...]) -> dict:
        changed = dict(params)
        if _plain(params.get("system")):
            if isinstance(params["system"], str):
                changed["system"] = prompt[0].content
            prompt = prompt[1:]
        changed["messages"] = _with_texts(params["messages"], prompt)
        return changed

    def max_tokens(self, params: dict) -> int | None:
        return params.get("max_tokens")

    def call(self, client: Any, model: str, params: dict) -> Any:
        return client.messages.create(**{**params, "model": model})

    def text(self, response: Any) -> str:
        return "".join(block.text for block in response.content if getattr(block, "type", "text") == "text")

    def usage(self, response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        return (usage.input_tokens, usage.output_tokens) if usage is not None else (None, None)

    def cached(self, text: str, model: str, decision_id: str) -> Any:
        from anthropic.types import Message

        return Message.model_validate(_anthropic_message(model, decision_id, [{"type": "text", "text": text}]))

    def stream_params(self, params: dict) -> dict:
        return params  # message_start and message_delta always carry the tokens

    def chunk_text(self, chunk: Any) -> str:
        if chunk.type == "content_block_delta" and chunk.delta.type == "text_delta":
            return chunk.delta.text
        return ""

    def chunk_usage(self, chunk: Any) -> Usage:
        if chunk.type == "message_start":
            return self.usage(chunk.message)
        if chunk.type == "message_delta":  # output_tokens so far; input_tokens once more, or None
            return getattr(chunk.usage, "input_tokens", None), chunk.usage.output_tokens
        return None, None

    def shown(self, chunk: Any, params: dict) -> bool:
        return True

    def cached_stream(self, text: str, model: str, decision_id: str) -> list[Any]:
        from anthropic.types import RawMessageStreamEvent
        from pydantic import TypeAdapter

        events = [
            {"type": "message_start", "message": _anthropic_message(model, decision_id, [], stop_reason=None)},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": 0}},
            {"type": "message_stop"},
        ]
        adapter = TypeAdapter(RawMessageStreamEvent)
        return [adapter.validate_python(event) for event in events]


_NO_OPENAI_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _anthropic_message(model: str, decision_id: str, content: list[dict], stop_reason: str | None = "end_turn"):
    return {"id": f"banditroute-cache-{decision_id}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}


def _with_texts(messages: list, prompt: tuple[ChatMessage, ...]) -> list:
    return [{**m, "content": p.content} if isinstance(m.get("content"), str) else m for m, p in zip(messages, prompt)]


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
