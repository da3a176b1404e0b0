"""The OpenAI and Anthropic wrappers end to end: a real server, fake provider clients (no network).
A call is routed, made through the chosen provider's client, fed back and learned; a provider error
goes down the fallback list and is learned as a poor outcome; an answer below the bar escalates; a
rating may come later; a cached answer is served in the provider's shape without a call."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import grpc
import pytest
import yaml

from router.client import AsyncRouterClient
from router.client.process import ServerProcess
from router.client.wrappers import wrap_anthropic, wrap_async_anthropic, wrap_async_openai, wrap_openai
from router.domain.categories import CATEGORIES

pytestmark = pytest.mark.slow

PROVIDERS = ("anthropic", "deepseek", "google", "groq", "openai")
QUESTION = [{"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "What is the difference between a process and a thread?"}]


class FakeOpenAI:
    """chat.completions.create as the OpenAI client has it; its first `failures` calls fail."""

    def __init__(self, failures: int = 0):
        self.calls: list[dict] = []
        self.failures = failures
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **params):
        self.calls.append(params)
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"{params['model']} is down")
        message = SimpleNamespace(role="assistant", content=f"answer from {params['model']}")
        return SimpleNamespace(model=params["model"], choices=[SimpleNamespace(index=0, message=message)],
                               usage=SimpleNamespace(prompt_tokens=40, completion_tokens=120))


class FakeAnthropic:
    def __init__(self):
        self.calls: list[dict] = []
        self.messages = SimpleNamespace(create=self._create)

    def _create(self, **params):
        self.calls.append(params)
        return SimpleNamespace(model=params["model"], content=[SimpleNamespace(type="text", text="from claude")],
                               usage=SimpleNamespace(input_tokens=30, output_tokens=90))


PLAN = "kimi-k2+claude-opus-4"
# A tenant that marks every category complex, with a rule that always takes the draft→review plan.
PLANNING_TENANT = {"draft_review": list(CATEGORIES), "rules": [
    {"id": "plan-it", "conditions": [{"field": "prompt", "op": "contains", "value": "thread"}],
     "action": {"type": "route", "model": PLAN}}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrappers")
    (root / "config.yaml").write_text(yaml.safe_dump({"tenants": {"w-plan": PLANNING_TENANT}}))
    with ServerProcess(root / "data", root / "config.yaml") as running:
        yield running


@pytest.fixture
def router(server):
    with server.client() as client:
        yield client


def start_small(router, tenant: str) -> None:
    """A route rule gives the tenant's first answer to gpt-4o-mini, so escalations have room to climb."""
    router.put_rule(tenant, {"id": "start-small", "action": {"type": "route", "model": "gpt-4o-mini"},
                             "conditions": [{"field": "prompt", "op": "contains", "value": "thread"}]})


def settled(router, tenant: str, wrapped=None) -> list[dict]:
    """The tenant's settled calls, once `wrapped` has sent all its feedback."""
    if wrapped is not None:
        wrapped.flush(timeout=30)
    return list(router.export_ledger(tenant, 0, time.time() + 1))


def test_a_call_is_routed_made_through_the_chosen_provider_and_learned(router):
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    wrapped = wrap_openai(fakes, router, "w-learn", quality=lambda answer, prompt, decision: 0.9)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=300)
    chosen = response.routing
    [call] = fakes[chosen["provider"]].calls
    assert call["model"] == chosen["model"] and call["messages"] == QUESTION and call["max_tokens"] == 300
    assert response.choices[0].message.content == f"answer from {chosen['model']}"
    [entry] = settled(router, "w-learn", wrapped)
    assert (entry["decision_id"], entry["quality"], entry["input_tokens"], entry["output_tokens"]) == \
        (chosen["decision_id"], 0.9, 40, 120)


def test_a_provider_error_is_fed_back_and_the_next_fallback_answers(router):
    gateway = FakeOpenAI(failures=1)  # one client for every provider, as a gateway is
    wrapped = wrap_openai(gateway, router, "w-fallback", quality=lambda *_: 0.8)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=300)
    failed, answered = response.routing["history"]
    first_model = gateway.calls[0]["model"]
    entries = {e["decision_id"]: e for e in settled(router, "w-fallback", wrapped)}
    assert entries[failed]["model"] == first_model and entries[failed]["error"]
    assert entries[failed]["quality"] == 0.0  # learned as a poor outcome
    assert response.routing["decision_id"] == answered and response.routing["reason"] == "only_model_allowed"
    assert gateway.calls[1]["model"] == response.routing["model"] != first_model
    assert entries[answered]["quality"] == 0.8 and not entries[answered]["error"]


def test_an_answer_below_the_bar_escalates_to_a_stronger_model(router):
    start_small(router, "w-escalate")
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    scores = iter([0.3, 0.5, 0.95])
    wrapped = wrap_openai(fakes, router, "w-escalate", models=("gpt-4o-mini", "gpt-4o", "o1"),
                          quality=lambda *_: next(scores), escalate_below=0.7, max_escalations=3)
    response = wrapped.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert [c["model"] for c in fakes["openai"].calls] == ["gpt-4o-mini", "gpt-4o", "o1"]
    assert response.routing["reason"] == "escalation" and len(response.routing["history"]) == 3
    wrapped.flush(timeout=30)
    stats = router.stats("w-escalate")["total"]
    assert (stats["escalations"], stats["settled"]) == (2, 3)


def test_escalations_stop_at_the_limit(router):
    start_small(router, "w-limit")
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    wrapped = wrap_openai(fakes, router, "w-limit", quality=lambda *_: 0.1, escalate_below=0.7, max_escalations=1)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert len(response.routing["history"]) == 2
    assert sum(len(f.calls) for f in fakes.values()) == 2


def test_a_rating_that_comes_later_is_sent_by_decision_id(router):
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    wrapped = wrap_openai(fakes, router, "w-later", quality=lambda *_: None)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert not any(e["settled_unix"] for e in settled(router, "w-later", wrapped))
    wrapped.rate(response.routing["decision_id"], 0.75)
    [entry] = settled(router, "w-later", wrapped)
    assert entry["quality"] == 0.75 and entry["output_tokens"] == 120
    with pytest.raises(KeyError, match="awaits no rating"):
        wrapped.rate(response.routing["decision_id"], 0.75)


def test_a_cached_answer_is_served_in_the_providers_shape_without_a_call(router):
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    wrapped = wrap_openai(fakes, router, "w-cache", quality=lambda *_: 0.95)
    question = [{"role": "user", "content": "Who wrote the novel Dune, and when was it published?"}]
    first = wrapped.chat.completions.create(model="gpt-4o", messages=question)
    wrapped.flush(timeout=30)  # the answer is cached once its feedback is in
    calls = sum(len(f.calls) for f in fakes.values())
    again = wrapped.chat.completions.create(model="gpt-4o", messages=question)
    assert again.routing["cache_hit"] and sum(len(f.calls) for f in fakes.values()) == calls
    assert again.choices[0].message.content == first.choices[0].message.content


def test_the_anthropic_wrapper_reads_its_system_blocks_and_usage(router):
    claude = FakeAnthropic()
    wrapped = wrap_anthropic({"anthropic": claude}, router, "w-anthropic", models=("claude-3-5-haiku", "claude-opus-4"),
                             quality=lambda answer, prompt, decision: 0.9 if prompt[0].role == "system" else 0.0)
    response = wrapped.messages.create(model="claude-opus-4", max_tokens=200,
                                       system=[{"type": "text", "text": "You are terse."}],
                                       messages=[{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}])
    assert response.content[0].text == "from claude" and claude.calls[0]["model"] == response.routing["model"]
    [entry] = settled(router, "w-anthropic", wrapped)
    assert (entry["quality"], entry["input_tokens"], entry["output_tokens"]) == (0.9, 30, 90)


def test_a_plan_is_run_as_a_draft_then_a_review_of_it(router, registry):
    fakes = {p: FakeOpenAI() for p in PROVIDERS}
    wrapped = wrap_openai(fakes, router, "w-plan", quality=lambda *_: 0.9)
    response = wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert response.routing["model"] == PLAN
    [draft], [review] = fakes["groq"].calls, fakes["anthropic"].calls
    assert (draft["model"], review["model"]) == ("kimi-k2", "claude-opus-4")
    assert review["messages"][:2] == QUESTION and review["messages"][2] == {
        "role": "assistant", "content": "answer from kimi-k2"}
    assert response.choices[0].message.content == "answer from claude-opus-4"
    [entry] = settled(router, "w-plan", wrapped)
    both = registry["kimi-k2"].cost(40, 120) + registry["claude-opus-4"].cost(40, 120)
    assert entry["cost_usd"] == pytest.approx(both)


def test_clients_for_an_unknown_provider_are_a_clear_error(router):
    wrapped = wrap_openai({"nobody": FakeOpenAI()}, router, "w-none", models=("gpt-4o-mini",))
    with pytest.raises(grpc.RpcError, match=r"unknown provider\(s\) \['nobody'\]") as refused:
        wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


class FakeAsyncOpenAI(FakeOpenAI):
    """AsyncOpenAI's shape: create is a coroutine."""

    def __init__(self, failures: int = 0):
        super().__init__(failures)
        sync_create = self._create

        async def create(**params):
            await asyncio.sleep(0)
            return sync_create(**params)

        self.chat = SimpleNamespace(completions=SimpleNamespace(create=create))


def test_the_async_wrapper_routes_falls_back_and_feeds_back_alike(server, router):
    gateway = FakeAsyncOpenAI(failures=1)

    async def ask():
        async with AsyncRouterClient(server.addr, api_key=server.dev_key) as async_router:
            wrapped = wrap_async_openai(gateway, async_router, "w-async", quality=lambda *_: 0.7)
            response = await wrapped.chat.completions.create(model="gpt-4o", messages=QUESTION)
            await wrapped.flush(timeout=30)
            return response

    response = asyncio.run(ask())
    failed, answered = response.routing["history"]
    assert response.choices[0].message.content == f"answer from {response.routing['model']}"
    entries = {e["decision_id"]: e for e in settled(router, "w-async")}
    assert entries[failed]["error"] and entries[answered]["quality"] == 0.7


def test_the_async_anthropic_wrapper_rates_later(server, router):
    claude = FakeAnthropic()
    sync_create = claude.messages.create

    async def create(**params):
        return sync_create(**params)

    claude.messages = SimpleNamespace(create=create)

    async def ask():
        async with AsyncRouterClient(server.addr, api_key=server.dev_key) as async_router:
            wrapped = wrap_async_anthropic({"anthropic": claude}, async_router, "w-async-later",
                                           models=("claude-3-5-haiku",))
            response = await wrapped.messages.create(model="claude-3-5-haiku", max_tokens=100,
                                                     messages=[{"role": "user", "content": "Hello"}])
            await wrapped.rate(response.routing["decision_id"], 0.6)
            await wrapped.flush(timeout=30)
            return response

    response = asyncio.run(ask())
    [entry] = settled(router, "w-async-later")
    assert (entry["decision_id"], entry["quality"], entry["output_tokens"]) == \
        (response.routing["decision_id"], 0.6, 90)
