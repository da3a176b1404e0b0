"""The wrappers around the real `openai` and `anthropic` SDKs, against a local OpenAI-/Anthropic-
compatible HTTP server (tests/fake_providers.py) and a real router: whole answers and streams,
cache hits in the SDKs' own types, fallbacks before a stream's first chunk, errors after it, streams
closed early or given up on, and what the ledger charges for each."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import openai
import pytest
import yaml
from anthropic import Anthropic, AsyncAnthropic
from anthropic.types import Message, RawMessageStreamEvent
from fake_providers import INPUT_TOKENS, OUTPUT_TOKENS, FakeProviders, answer_text
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from router.client import AsyncRouterClient
from router.client.process import ServerProcess
from router.client.wrappers import wrap_anthropic, wrap_async_anthropic, wrap_async_openai, wrap_openai
from router.domain.tokens import estimate_tokens

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the difference between a process and a thread?"}]
# A question of its own for a second call that must reach the provider: the first call's answer, rated on a
# background thread, may already be in the cache when the second call routes.
ANOTHER_QUESTION = [{"role": "user", "content": "Name three sorting algorithms and their worst-case running times."}]
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "o1")


DEDUP_TENANT = "twins"  # its identical requests in flight follow the first
TERSE_TENANT = "terse"  # a rule compresses its prompts


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    place = tmp_path_factory.mktemp("sdk")
    config = place / "config.yaml"
    config.write_text(yaml.safe_dump({"tenants": {
        DEDUP_TENANT: {"dedup_seconds": 60},
        TERSE_TENANT: {"rules": [{"id": "terse", "action": {"type": "compress_prompt", "level": "medium"}}]}}}))
    with ServerProcess(place / "data", config) as running:
        yield running


@pytest.fixture
def router(server):
    with server.client() as client:
        yield client


@pytest.fixture
def providers():
    fake = FakeProviders()
    yield fake
    fake.close()


def openai_client(providers: FakeProviders) -> OpenAI:
    # No SDK retries: each upstream call the test counts is one the wrapper made.
    return OpenAI(base_url=providers.openai_url, api_key="test", max_retries=0)


def anthropic_client(providers: FakeProviders) -> Anthropic:
    return Anthropic(base_url=providers.anthropic_url, api_key="test", max_retries=0)


def first_to(router, tenant: str, model: str, fallback: str = "gpt-4o") -> None:
    """A route rule sends the tenant's first choice to `model`, then to `fallback`, so the test knows
    who answers."""
    router.put_rule(tenant, {"id": "first", "action": {"type": "route", "model": model, "fallback": fallback},
                             "conditions": [{"field": "prompt", "op": "contains", "value": "thread"}]})


def mini_then_4o(router, providers: FakeProviders, tenant: str, behaviour: str, quality: float):
    """A wrapper whose first call goes to gpt-4o-mini, which behaves as told, with gpt-4o to fall back to."""
    first_to(router, tenant, "gpt-4o-mini")
    providers.behaviour["gpt-4o-mini"] = behaviour
    return wrap_openai(openai_client(providers), router, tenant, models=OPENAI_MODELS[:2], quality=lambda *_: quality)


def ledger(router, tenant: str, wrapped=None) -> dict:
    """The tenant's settled calls by decision id, once `wrapped` has sent all its feedback."""
    if wrapped is not None:
        wrapped.flush(timeout=30)
    return {e["decision_id"]: e for e in router.export_ledger(tenant, 0, time.time() + 1)}


def test_a_whole_answer_is_the_sdks_type_and_its_body_leaves_the_routing_out(router, providers):
    wrapped = wrap_openai(openai_client(providers), router, "sdk-whole", quality=lambda *_: 0.9)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=300)
    assert isinstance(response, ChatCompletion)
    decision_id = response.routing["decision_id"]
    assert response.choices[0].message.content == answer_text(response.routing["model"])
    for body in (response.model_dump(), response.to_dict(), response.model_dump_json(), response.to_json()):
        assert "routing" not in body and decision_id not in str(body)
    entry = ledger(router, "sdk-whole", wrapped)[decision_id]
    assert (entry["input_tokens"], entry["output_tokens"], entry["quality"]) == (INPUT_TOKENS, OUTPUT_TOKENS, 0.9)


def test_a_stream_passes_the_providers_chunks_through_and_is_fed_back_when_it_ends(router, providers):
    wrapped = wrap_openai(openai_client(providers), router, "sdk-stream", quality=lambda *_: 0.9)
    stream = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True)
    assert stream.response.status_code == 200  # the SDK stream's own attributes stay within reach
    chunks = list(stream)
    model = stream.routing["model"]
    assert providers.models_called() == [model]  # one upstream call, not one per fallback
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert all(c.choices for c in chunks)  # the usage chunk the wrapper asked for is not the caller's
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer_text(model)
    entry = ledger(router, "sdk-stream", wrapped)[stream.routing["decision_id"]]
    assert (entry["input_tokens"], entry["output_tokens"], entry["quality"], entry["error"]) == \
        (INPUT_TOKENS, OUTPUT_TOKENS, 0.9, False)
    assert 0 < entry["time_to_first_token_ms"] <= entry["latency_ms"]


def test_a_caller_that_asks_for_the_usage_chunk_gets_it(router, providers):
    wrapped = wrap_openai(openai_client(providers), router, "sdk-usage", quality=lambda *_: 0.9)
    stream = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True,
                                             stream_options={"include_usage": True})
    *_, last = stream
    assert last.choices == [] and last.usage.completion_tokens == OUTPUT_TOKENS


def test_an_error_before_the_first_chunk_falls_back_and_the_failed_call_costs_nothing(router, providers):
    wrapped = mini_then_4o(router, providers, "sdk-fail-first", "fail-first", quality=0.8)
    stream = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert providers.models_called() == ["gpt-4o-mini", "gpt-4o"] and text == answer_text("gpt-4o")
    failed, answered = stream.routing["history"]
    entries = ledger(router, "sdk-fail-first", wrapped)
    assert entries[failed]["error"] and entries[failed]["cost_usd"] == 0.0 and entries[failed]["quality"] == 0.0
    assert not entries[answered]["error"] and entries[answered]["cost_usd"] > 0


def test_a_call_every_model_refuses_raises_and_its_spend_is_zero(router, providers):
    for model in OPENAI_MODELS:
        providers.behaviour[model] = "down"
    wrapped = wrap_openai(openai_client(providers), router, "sdk-down", models=OPENAI_MODELS, quality=lambda *_: 1)
    with pytest.raises(openai.InternalServerError):
        wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert sorted(providers.models_called()) == sorted(OPENAI_MODELS)  # each model once, then no more
    entries = ledger(router, "sdk-down", wrapped).values()
    assert len(entries) == 3 and all(e["error"] and e["cost_usd"] == 0.0 for e in entries)
    assert router.stats("sdk-down")["total"]["spend_usd"] == 0.0


def test_an_error_mid_stream_is_raised_fed_back_and_not_retried(router, providers):
    wrapped = mini_then_4o(router, providers, "sdk-fail-mid", "fail-mid", quality=1.0)
    stream = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="failed mid-answer"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received and providers.models_called() == ["gpt-4o-mini"]
    [entry] = ledger(router, "sdk-fail-mid", wrapped).values()
    assert entry["error"] and entry["output_tokens"] == estimate_tokens("".join(received))


def test_a_stream_closed_early_is_fed_back_with_what_it_gave(router, providers):
    seen = []
    wrapped = wrap_openai(openai_client(providers), router, "sdk-early",
                          quality=lambda answer, *_: seen.append(answer) or 0.5)
    with wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True) as stream:
        received = [next(stream).choices[0].delta.content for _ in range(3)]
    [entry] = ledger(router, "sdk-early", wrapped).values()
    assert seen == ["".join(received)] and entry["quality"] == 0.5 and not entry["error"]
    assert entry["output_tokens"] == estimate_tokens("".join(received)) < OUTPUT_TOKENS
    assert entry["time_to_first_token_ms"] is not None


def test_a_cache_hit_is_the_sdks_own_type_whole_and_streamed(router, providers):
    wrapped = wrap_openai(openai_client(providers), router, "sdk-cache", quality=lambda *_: 0.95)
    question = [{"role": "user", "content": "Who wrote the novel Dune, and when was it published?"}]
    first = wrapped.chat.completions.create(model="gpt-4o", messages=question)
    wrapped.flush(timeout=30)  # the answer is cached once its feedback is in
    hit = wrapped.chat.completions.create(model="gpt-4o", messages=question)
    assert hit.routing["cache_hit"] and isinstance(hit, ChatCompletion)
    assert hit.choices[0].message.content == first.choices[0].message.content
    assert "routing" not in hit.model_dump() and hit.to_dict()["choices"][0]["message"]["role"] == "assistant"
    streamed = wrapped.chat.completions.create(model="gpt-4o", messages=question, stream=True)
    chunks = list(streamed)
    assert streamed.routing["cache_hit"] and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == first.choices[0].message.content
    assert len(providers.calls) == 1


def test_the_anthropic_sdk_is_routed_to_its_own_models_whole_and_streamed(router, providers):
    wrapped = wrap_anthropic({"anthropic": anthropic_client(providers)}, router, "sdk-claude", quality=lambda *_: 0.9)
    whole = wrapped.messages.create(model="claude-opus-4", max_tokens=300, messages=QUESTION)
    assert isinstance(whole, Message) and whole.content[0].text == answer_text(whole.routing["model"])
    stream = wrapped.messages.create(model="claude-opus-4", max_tokens=300, messages=ANOTHER_QUESTION, stream=True)
    events = list(stream)
    event_type = TypeAdapter(RawMessageStreamEvent)
    assert [type(e) for e in events] == [type(event_type.validate_python(e.model_dump())) for e in events]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == answer_text(stream.routing["model"])
    assert {whole.routing["provider"], stream.routing["provider"]} == {"anthropic"}
    entries = ledger(router, "sdk-claude", wrapped)
    for response in (whole, stream):
        entry = entries[response.routing["decision_id"]]
        assert (entry["input_tokens"], entry["output_tokens"]) == (INPUT_TOKENS, OUTPUT_TOKENS)


def test_clients_for_one_provider_are_only_routed_to_its_models(router, providers):
    wrapped = wrap_openai({"openai": openai_client(providers)}, router, "sdk-one-provider", quality=lambda *_: 0.9)
    prompts = ["Prove that the square root of 2 is irrational.", "Write a haiku about autumn.",
               "Summarise the causes of the French revolution.", "Translate 'good morning' into German.",
               "Write a Python function that merges two sorted lists."]
    for prompt in prompts:
        response = wrapped.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
        assert response.routing["provider"] == "openai"
    assert set(providers.models_called()) <= set(OPENAI_MODELS)


def test_a_wrapper_whose_clients_reach_no_allowed_model_is_refused_before_anything_is_logged(router, providers):
    wrapped = wrap_openai({"anthropic": anthropic_client(providers)}, router, "sdk-none", models=("gpt-4o-mini",))
    with pytest.raises(grpc.RpcError) as refused:
        wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "allowed_providers" in refused.value.details()
    assert not ledger(router, "sdk-none") and not providers.calls


def test_the_async_sdks_stream_fall_back_and_answer_alike(server, router, providers):
    first_to(router, "sdk-async", "gpt-4o-mini")
    providers.behaviour["gpt-4o-mini"] = "fail-first"

    async def ask():
        async with AsyncRouterClient(server.addr, api_key=server.dev_key) as async_router:
            gpt = wrap_async_openai(AsyncOpenAI(base_url=providers.openai_url, api_key="t", max_retries=0),
                                    async_router, "sdk-async", models=OPENAI_MODELS[:2], quality=lambda *_: 0.7)
            stream = await gpt.chat.completions.create(model="gpt-4o", messages=QUESTION, stream=True)
            async with stream:
                text = "".join([c.choices[0].delta.content or "" async for c in stream])
            claude = wrap_async_anthropic(
                {"anthropic": AsyncAnthropic(base_url=providers.anthropic_url, api_key="t", max_retries=0)},
                async_router, "sdk-async", quality=lambda *_: 0.7)
            message = await claude.messages.create(model="claude-opus-4", max_tokens=100, messages=QUESTION)
            await gpt.flush(timeout=30)
            await claude.flush(timeout=30)
            return stream, text, message

    stream, text, message = asyncio.run(ask())
    assert text == answer_text("gpt-4o") and isinstance(message, Message)
    failed, answered = stream.routing["history"]
    entries = ledger(router, "sdk-async")
    assert entries[failed]["error"] and entries[failed]["cost_usd"] == 0.0
    assert entries[answered]["quality"] == 0.7 and entries[answered]["time_to_first_token_ms"] is not None
    assert entries[message.routing["decision_id"]]["output_tokens"] == OUTPUT_TOKENS


def test_a_call_given_up_on_closes_its_decision_at_no_cost(server, router, providers):
    providers.behaviour.update({model: "slow" for model in OPENAI_MODELS})

    async def give_up():
        async with AsyncRouterClient(server.addr, api_key=server.dev_key) as async_router:
            gpt = wrap_async_openai(AsyncOpenAI(base_url=providers.openai_url, api_key="t", max_retries=0),
                                    async_router, "sdk-give-up", models=OPENAI_MODELS, quality=lambda *_: 1.0)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(gpt.chat.completions.create(model="gpt-4o", messages=QUESTION), 1.0)
            await gpt.flush(timeout=30)

    asyncio.run(give_up())
    [entry] = ledger(router, "sdk-give-up").values()
    assert entry["not_called"] and entry["cost_usd"] == 0.0 and entry["settled_unix"] > 0
    assert router.stats("sdk-give-up")["total"]["spend_usd"] == 0.0


def test_identical_calls_in_flight_reach_the_provider_once_and_both_get_its_answer(router, providers):
    """Two threads ask the same question while the model is slow: the second call's decision follows the
    first's, and its wrapper waits for that answer instead of paying for the same call."""
    providers.behaviour.update({m: "slow" for m in OPENAI_MODELS[:2]})
    wrapped = wrap_openai(openai_client(providers), router, DEDUP_TENANT, models=OPENAI_MODELS[:2],
                          quality=lambda *_: 0.9)
    question = [{"role": "user", "content": "Explain what a write-ahead log is for, in two sentences."}]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(wrapped.chat.completions.create, model="gpt-4o", messages=question)
        time.sleep(1.0)  # well inside the first call's three slow seconds
        second = pool.submit(wrapped.chat.completions.create, model="gpt-4o", messages=question)
        responses = [first.result(), second.result()]
    assert len(providers.calls) == 1
    assert isinstance(responses[1], ChatCompletion)
    assert [r.choices[0].message.content for r in responses] == [answer_text(providers.models_called()[0])] * 2
    assert responses[1].routing["duplicate_of"] == responses[0].routing["decision_id"]
    assert responses[1].routing["served_by_leader"] and not responses[0].routing.get("served_by_leader")
    entries = ledger(router, DEDUP_TENANT, wrapped)
    follower = entries[responses[1].routing["decision_id"]]
    assert follower["duplicate_of"] == responses[0].routing["decision_id"] and follower["not_called"]
    assert router.stats(DEDUP_TENANT)["total"]["deduplicated"] == 1


def test_an_async_stream_that_follows_an_identical_call_streams_its_answer(server, providers):
    providers.behaviour.update({m: "slow" for m in OPENAI_MODELS[:2]})
    question = [{"role": "user", "content": "What does fsync guarantee, in one sentence?"}]

    async def both() -> list[tuple[str, dict]]:
        async with AsyncRouterClient(server.addr, api_key=server.dev_key) as router:
            wrapped = wrap_async_openai(AsyncOpenAI(base_url=providers.openai_url, api_key="test", max_retries=0),
                                        router, DEDUP_TENANT, models=OPENAI_MODELS[:2], quality=lambda *_: 0.9)

            async def streamed_text() -> tuple[str, dict]:
                stream = await wrapped.chat.completions.create(model="gpt-4o", messages=question, stream=True)
                text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
                return text, stream.routing

            first = asyncio.create_task(streamed_text())
            await asyncio.sleep(1.0)  # well inside the first call's three slow seconds
            return await asyncio.gather(first, streamed_text())

    (text_a, routing_a), (text_b, routing_b) = asyncio.run(both())
    assert len(providers.calls) == 1 and text_a == text_b == answer_text(providers.models_called()[0])
    assert routing_b["duplicate_of"] == routing_a["decision_id"] and routing_b["served_by_leader"]


def test_a_compress_rule_shortens_what_the_provider_is_sent_but_not_the_question_or_its_code(router, providers):
    wrapped = wrap_openai(openai_client(providers), router, TERSE_TENANT, models=OPENAI_MODELS[:2],
                          quality=lambda *_: 0.9)
    context = "Our deploy script copies the build to the servers and restarts them one by one."
    code = "```sh\nrsync -a build/   web1:/srv/app\n```"
    question = f"Why  does  it  stop 2 servers at once?\n{code}"
    messages = [{"role": "system", "content": "You are a  terse  SRE."},
                {"role": "user", "content": f"Hello!   I hope this message finds you well.\n\n\n\n{context}"},
                {"role": "assistant", "content": "Sure. What happens?"},
                {"role": "user", "content": question}]
    response = wrapped.chat.completions.create(model="gpt-4o", messages=messages)
    assert response.routing["compress_level"] == "medium"
    sent = providers.calls[0]["messages"]
    assert sent[0]["content"] == messages[0]["content"]  # the system prompt as it was
    assert sent[-1]["content"] == question  # the question, and its code, as they were
    assert context in sent[1]["content"] and len(sent[1]["content"]) < len(messages[1]["content"])
