"""A local OpenAI- and Anthropic-compatible HTTP server, for driving the real SDKs in tests.

It answers POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic) as those APIs do,
whole or as server-sent events, with "answer from <model>" and fixed token counts. What each model
does is set per model in `behaviour`: "ok", "down" (HTTP 503 before anything), "fail-first" (the
stream's first event is an error), "fail-mid" (an error after two chunks), "slow" (waits before
answering). Every request is kept in `calls`. Loopback only.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INPUT_TOKENS, OUTPUT_TOKENS = 40, 120
SLOW_SECONDS = 3.0


def answer_text(model: str) -> str:
    return f"answer from {model}"


def pieces(text: str) -> list[str]:
    """The text in the chunks a stream sends: word by word."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class FakeProviders:
    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, body: dict) -> None:
        with self._lock:
            self.calls.append(body)

    def models_called(self) -> list[str]:
        with self._lock:
            return [c["model"] for c in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(providers: FakeProviders) -> type[BaseHTTPRequestHandler]:
    """The request handler class of one FakeProviders: ProviderHandler bound to it."""
    return type("Handler", (ProviderHandler,), {"providers": providers})


class ProviderHandler(BaseHTTPRequestHandler):
    """Answers a POST as the provider its path names, the way `providers.behaviour` sets for its model."""

    protocol_version = "HTTP/1.1"
    providers: FakeProviders

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def _answer(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.providers.record(body)
        behaviour = self.providers.behaviour.get(body["model"], "ok")
        if behaviour == "slow":
            time.sleep(SLOW_SECONDS)
        if behaviour == "down":
            self._json(503, {"error": {"message": f"{body['model']} is overloaded", "type": "overloaded"}})
        elif self.path.endswith("/chat/completions"):
            self._openai(body, behaviour)
        elif self.path.endswith("/messages"):
            self._anthropic(body, behaviour)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _openai(self, body: dict, behaviour: str) -> None:
        model, text = body["model"], answer_text(body["model"])
        common = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            self._json(200, openai_completion(common, text))
            return
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        error = {"error": {"message": f"{model} failed mid-answer", "type": "server_error"}}
        self._sse(openai_stream_events(common, text, with_usage), behaviour, (None, error))
        self._send_line("data: [DONE]\n\n")

    def _anthropic(self, body: dict, behaviour: str) -> None:
        model, text = body["model"], answer_text(body["model"])
        message = anthropic_message(model)
        if not body.get("stream"):
            self._json(200, {**message, "content": [{"type": "text", "text": text}]})
            return
        error = ("error", {"type": "error", "error": {"type": "api_error", "message": f"{model} failed"}})
        self._sse(anthropic_stream_events(message, text), behaviour, error)

    def _sse(self, events: list[tuple[str | None, dict]], behaviour: str, error: tuple[str | None, dict]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        if behaviour == "fail-first":
            events = [error]
        elif behaviour == "fail-mid":
            events = events[:3] + [error]
        for name, data in events:
            self._send_line((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n")
        self.close_connection = True

    def _send_line(self, line: str) -> None:
        self.wfile.write(line.encode())
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --- what the providers answer ---------------------------------------------------------------------


def openai_usage() -> dict:
    return {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}


def openai_completion(common: dict, text: str) -> dict:
    """A whole chat completion; `common` holds its id, creation time and model."""
    return {**common, "object": "chat.completion", "usage": openai_usage(), "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def openai_stream_events(common: dict, text: str, with_usage: bool) -> list[tuple[None, dict]]:
    """The chunks of a streamed chat completion, unnamed: the role, the text word by word, the
    finish, and the usage when the request asked for it."""
    chunk = {**common, "object": "chat.completion.chunk"}
    events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    events += [{**chunk, "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces(text)]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if with_usage:
        events.append({**chunk, "choices": [], "usage": openai_usage()})
    return [(None, e) for e in events]


def anthropic_message(model: str) -> dict:
    """An Anthropic message without its content."""
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}}


def anthropic_stream_events(message: dict, text: str) -> list[tuple[str, dict]]:
    """The named events of a streamed Anthropic message: its start, the text word by word, its stop."""
    start = {**message, "content": [], "stop_reason": None,
             "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": p}}) for p in pieces(text)]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": OUTPUT_TOKENS}}),
               ("message_stop", {"type": "message_stop"})]
    return events
