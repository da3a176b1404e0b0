"""`banditroute loadtest`: drive a running server with many concurrent clients over gRPC.

One asyncio process on one channel: each of C client tasks routes a synthetic prompt, then with
probability `feedback_share` rates the decision in a second, separately timed call. Closed loop
(rps 0) sends as fast as each client gets answers; open loop (rps > 0) follows a fixed schedule
across all clients, so a slow server shows as latency, not as a lower offered rate.

Coordinated omission, open loop: slot i is due at start + i/rps and the next free client takes
it. Route latency counts from the slot, not from the moment a client got round to sending, so
the wait for a free client is in the figures. A Route sent more than LATE_AFTER_S after its slot
counts as `late` (every client was busy); slots that fell due during the run but that no client
reached before it ended count as `unsent`. Feedback is a follow-up, not scheduled: its latency
counts from its own send.

Every acknowledged call is recorded (decision ids whose Route returned OK; each Feedback that
returned OK with what it reported), so a crash test can check that they all survive a restart.
Clients count errors by status code and keep going until the run ends, also when the server is
gone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
import numpy as np
from tqdm import tqdm

from router.client import auth_metadata, status_name
from router.client.clients import channel_options, channel_target
from router.domain.types import ChatMessage, RouteRequest
from router.generated import router_pb2, router_pb2_grpc
from router.transport import wire
from simulator.traffic import SyntheticPrompt, distinct_prompts

ROUTE, FEEDBACK = "Route", "Feedback"
# Distinct prompts per run by default, cycled: enough variety for the classifier and the bandit, cheap
# to build. A repeat is cheaper for the server (its MiniLM vector is remembered), so a benchmark of
# cache misses passes as many prompts as it will send.
PROMPT_POOL = 1000
# Open loop: a Route sent later than this after its slot had to wait for a free client.
LATE_AFTER_S = 0.010
# Closed loop: a client pauses this long after a failed call, so a dead server is not spun on.
ERROR_PAUSE_S = 0.05
# How often the progress bar and the stop flag are looked at.
TICK_S = 0.1
# A restarted server gets traffic again within a second (gRPC's default backoff grows to 2 min).
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)]


@dataclass(frozen=True)
class FeedbackAck:
    """A Feedback the server acknowledged: what it must have logged for the decision."""

    decision_id: str
    quality: float
    input_tokens: int
    output_tokens: int


@dataclass
class Acknowledgements:
    """Every call that returned OK. Filled while the run goes on, so another thread may look."""

    routed: list[str] = field(default_factory=list)  # decision ids whose Route returned OK
    feedback: list[FeedbackAck] = field(default_factory=list)


@dataclass
class RpcFigures:
    sent: int
    ok: int
    ok_per_s: float
    latency_ms: dict[str, float]  # p50, p95, p99, max over the OK calls; empty when there were none
    errors: dict[str, int]  # gRPC status code name -> count


@dataclass
class LoadReport:
    addr: str  # the address, or several separated by commas
    clients: int
    target_rps: float  # 0: closed loop
    feedback_share: float
    planned_s: float
    duration_s: float  # from the first send until the last answer (the run may have been stopped early)
    rpcs: dict[str, RpcFigures]
    scheduled: int  # open loop: slots that fell due during the run
    late: int  # open loop: Routes sent more than LATE_AFTER_S after their slot
    unsent: int  # open loop: slots no client reached before the run ended
    acks: Acknowledgements

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        mode = f"open loop at {self.target_rps:g} rps" if self.target_rps else "closed loop"
        lines = [f"loadtest {self.addr}: {self.clients} clients, {mode}, {self.duration_s:.1f} s, "
                 f"feedback share {self.feedback_share:g}",
                 f"{'RPC':10}{'sent':>9}{'ok':>9}{'ok/s':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}  errors"]
        for name, f in self.rpcs.items():
            latency = "".join(f"{f.latency_ms[k]:>9.1f}" if f.latency_ms else f"{'-':>9}"
                              for k in ("p50", "p95", "p99", "max"))
            errors = ", ".join(f"{code} {n}" for code, n in sorted(f.errors.items())) or "-"
            lines.append(f"{name:10}{f.sent:>9}{f.ok:>9}{f.ok_per_s:>9.1f}{latency}  {errors}")
        lines.append("latency in ms over the OK calls")
        if self.target_rps:
            lines.append(f"{self.scheduled} slots due, {self.late} sent over {LATE_AFTER_S * 1000:g} ms late, "
                         f"{self.unsent} unsent; Route latency counts from each call's slot")
        return "\n".join(lines)


def run_loadtest(addr: str | Sequence[str], clients: int, rps: float, duration: float, *, feedback_share: float = 0.5,
                 api_key: str | None = None, tenant: str = "loadtest", deadline: float = 5.0, seed: int = 0,
                 progress: bool = False, stop: threading.Event | None = None,
                 acks: Acknowledgements | None = None, prompts: list[SyntheticPrompt] | None = None) -> LoadReport:
    """Load `addr` for `duration` seconds (or until `stop` is set); `acks`, when given, is filled live.
    Several addresses (a list, or separated by commas) are replicas that the one channel spreads the
    calls over with gRPC's round_robin.

    The clients cycle through `prompts`, by default PROMPT_POOL distinct ones drawn with `seed`."""
    if clients < 1:
        raise ValueError("clients must be >= 1")
    if rps < 0 or duration <= 0 or deadline <= 0:
        raise ValueError("rps must be >= 0, duration and deadline > 0")
    if not 0 <= feedback_share <= 1:
        raise ValueError("feedback_share must be in [0, 1]")
    requests = _requests(prompts if prompts is not None else distinct_prompts(PROMPT_POOL, seed), tenant)
    load = _Load(addr, clients, rps, duration, feedback_share, api_key, requests, deadline, seed,
                 stop or threading.Event(), acks if acks is not None else Acknowledgements())
    return asyncio.run(load.run(progress))


def loadtest_command(addr: str, clients: int, rps: float, duration: float, feedback_share: float,
                     api_key: str | None, json_path: Path | None, distinct: int = PROMPT_POOL) -> int:
    """The CLI's body: run with a progress bar, print the table, write the JSON; 1 if no Route succeeded."""
    report = run_loadtest(addr, clients, rps, duration, feedback_share=feedback_share, api_key=api_key,
                          progress=sys.stderr.isatty(), prompts=distinct_prompts(distinct, seed=0))
    print(report.table())
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict(), indent=2))
    return 0 if report.rpcs[ROUTE].ok else 1


def run_feedback_burst(addr: str | Sequence[str], decision_ids: list[str], clients: int, *, batch: int = 1,
                       api_key: str | None = None, deadline: float = 5.0) -> RpcFigures:
    """Feedback for each of `decision_ids` once, from `clients` concurrent clients, as fast as the
    server answers: how many feedbacks a second it takes (several addresses: round_robin over them).
    With `batch` > 1, each call is a FeedbackBatch of that many; `ok` counts feedbacks, the latency is
    per call."""
    return asyncio.run(_feedback_burst(addr, decision_ids, clients, batch, auth_metadata(api_key), deadline))


async def _feedback_burst(addr: str | Sequence[str], decision_ids: list[str], clients: int, batch: int,
                          metadata: tuple, deadline: float) -> RpcFigures:
    tally, ids = _Tally(), iter(decision_ids)  # one iterator shared by the clients: each id is sent once

    async def send(stub: router_pb2_grpc.RouterStub, requests: list[router_pb2.FeedbackRequest]) -> int:
        """How many of `requests` the server learned."""
        if batch == 1:
            await stub.Feedback(requests[0], timeout=deadline, metadata=metadata)
            return 1
        answer = await stub.FeedbackBatch(router_pb2.FeedbackBatchRequest(feedbacks=requests), timeout=deadline,
                                          metadata=metadata)
        tally.errors.update(status_name(o.code) for o in answer.outcomes if o.code)
        return sum(1 for o in answer.outcomes if o.code == 0)

    async def client(stub: router_pb2_grpc.RouterStub) -> None:
        while chunk := list(itertools.islice(ids, batch)):
            requests = [router_pb2.FeedbackRequest(decision_id=i, quality=0.8, output_tokens=200) for i in chunk]
            tally.sent += len(requests)
            start = time.perf_counter()
            try:
                learned = await send(stub, requests)
            except grpc.aio.AioRpcError as exc:
                tally.errors[exc.code().name] += len(requests)
                continue
            tally.passed(time.perf_counter() - start, learned)

    async with _channel(addr) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        start = time.perf_counter()
        await asyncio.gather(*(client(stub) for _ in range(clients)))
        return tally.figures(time.perf_counter() - start)


def _channel(addr: str | Sequence[str]) -> grpc.aio.Channel:
    """One channel to `addr`. Several addresses get round_robin, so every replica takes a share of the
    calls (gRPC's default, pick_first, would send them all to one), and no retries: a load test counts
    each failed call."""
    target = channel_target(addr)
    several = target.startswith(("ipv4:", "ipv6:")) and "," in target
    options = CHANNEL_OPTIONS + (channel_options(1, round_robin=True) if several else [])
    return grpc.aio.insecure_channel(target, options=options)


def _shown(addr: str | Sequence[str]) -> str:
    return addr if isinstance(addr, str) else ",".join(addr)


@dataclass
class _Tally:
    sent: int = 0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, OK calls only
    errors: Counter = field(default_factory=Counter)

    def passed(self, latency: float, items: int = 1) -> None:
        """A call answered OK in `latency` seconds, carrying `items` that were accepted."""
        self.latencies.append(latency)
        self.ok += items

    def figures(self, duration: float) -> RpcFigures:
        latency = {}
        if self.latencies:
            ms = np.asarray(self.latencies) * 1000
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(ms.max())}
        return RpcFigures(self.sent, self.ok, self.ok / duration, latency, dict(self.errors))


@dataclass(frozen=True)
class _Prompt:
    request: router_pb2.RouteRequest
    input_tokens: int
    output_tokens: int


def _requests(prompts: list[SyntheticPrompt], tenant: str) -> list[_Prompt]:
    """Synthetic prompts as protobuf messages, built once so the clients only send."""
    requests = []
    for p in prompts:
        messages = ((ChatMessage("system", p.system),) if p.system else ()) + (ChatMessage("user", p.text),)
        request = wire.route_request_to_pb(RouteRequest(tenant_id=tenant, messages=messages))
        requests.append(_Prompt(request, p.input_tokens, p.output_tokens))
    return requests


class _Schedule:
    """When each client may send next: at once (closed loop) or at the next free slot (open loop)."""

    def __init__(self, start: float, end: float, rps: float, done: asyncio.Event):
        self.start, self.end, self.rps, self.done = start, end, rps, done
        self.taken = 0

    async def next_send(self) -> float | None:
        """The time the call counts from, after waiting for it; None once the run is over."""
        if self.done.is_set():
            return None
        if not self.rps:
            return time.perf_counter()
        due = self._due(self.taken)
        if due >= self.end:
            return None
        self.taken += 1
        wait = due - time.perf_counter()
        if wait > 0 and await _done_within(self.done, wait):
            self.taken -= 1  # stopped before this slot fell due
            return None
        return due

    def due_before(self, end: float) -> int:
        """How many slots fell due before `end`, counted with the same arithmetic as `next_send`."""
        if not self.rps:
            return 0
        n = max(0, math.ceil((end - self.start) * self.rps))
        while n > 0 and self._due(n - 1) >= end:
            n -= 1
        while self._due(n) < end:
            n += 1
        return n

    def _due(self, slot: int) -> float:
        return self.start + slot / self.rps


async def _done_within(done: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(done.wait(), seconds)
    except TimeoutError:
        return False
    return True


class _Load:
    """One run: the clients, what they counted and what the server acknowledged."""

    def __init__(self, addr: str | Sequence[str], clients: int, rps: float, duration: float, feedback_share: float,
                 api_key: str | None, prompts: list[_Prompt], deadline: float, seed: int, stop: threading.Event,
                 acks: Acknowledgements):
        self.addr, self.clients, self.rps, self.duration = addr, clients, rps, duration
        self.feedback_share, self.deadline, self.seed, self.stop, self.acks = feedback_share, deadline, seed, stop, acks
        self.metadata = auth_metadata(api_key)
        self.prompts = prompts
        self.tallies = {ROUTE: _Tally(), FEEDBACK: _Tally()}
        self.late = 0
        self.next_prompt = 0

    async def run(self, progress: bool) -> LoadReport:
        done = asyncio.Event()
        async with _channel(self.addr) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            start = time.perf_counter()
            schedule = _Schedule(start, start + self.duration, self.rps, done)
            clients = [self._client(stub, schedule, random.Random(f"{self.seed}-{i}"))
                       for i in range(self.clients)]
            watch = self._watch(start, done, progress)
            ended, *_ = await asyncio.gather(watch, *clients)
            duration = time.perf_counter() - start
        scheduled = schedule.due_before(ended)
        return LoadReport(
            addr=_shown(self.addr), clients=self.clients, target_rps=self.rps, feedback_share=self.feedback_share,
            planned_s=self.duration, duration_s=duration,
            rpcs={name: tally.figures(duration) for name, tally in self.tallies.items()},
            scheduled=scheduled, late=self.late, unsent=scheduled - schedule.taken,
            acks=self.acks,
        )

    async def _watch(self, start: float, done: asyncio.Event, progress: bool) -> float:
        """Ends the run at its duration or when `stop` is set; returns when it ended."""
        end = start + self.duration
        with tqdm(total=self.duration, desc="loadtest", unit="s", disable=not progress,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}") as bar:
            while (now := time.perf_counter()) < end and not self.stop.is_set():
                await asyncio.sleep(min(TICK_S, end - now))
                bar.update(min(time.perf_counter(), end) - start - bar.n)
                bar.set_postfix_str(self._status(), refresh=False)
        # Read the clock before waking the clients: every slot they took fell due before it.
        ended = min(time.perf_counter(), end)
        done.set()
        return ended

    def _status(self) -> str:
        return "  ".join(f"{name} ok {t.ok} err {sum(t.errors.values())}"
                         for name, t in self.tallies.items())

    async def _client(self, stub: router_pb2_grpc.RouterStub, schedule: _Schedule, rng: random.Random) -> None:
        while (counts_from := await schedule.next_send()) is not None:
            if self.rps and time.perf_counter() - counts_from > LATE_AFTER_S:
                self.late += 1
            prompt = self._take_prompt()
            response = await self._call(ROUTE, stub.Route, prompt.request, counts_from)
            if response is None:
                if not self.rps:
                    await asyncio.sleep(ERROR_PAUSE_S)
                continue
            self.acks.routed.append(response.decision_id)
            if rng.random() < self.feedback_share:
                await self._feedback(stub, response.decision_id, prompt, rng)

    def _take_prompt(self) -> _Prompt:
        prompt = self.prompts[self.next_prompt % len(self.prompts)]
        self.next_prompt += 1
        return prompt

    async def _feedback(self, stub: router_pb2_grpc.RouterStub, decision_id: str, prompt: _Prompt,
                        rng: random.Random) -> None:
        ack = FeedbackAck(decision_id, rng.random(), prompt.input_tokens, prompt.output_tokens)
        request = router_pb2.FeedbackRequest(decision_id=decision_id, quality=ack.quality,
                                             input_tokens=ack.input_tokens, output_tokens=ack.output_tokens)
        if await self._call(FEEDBACK, stub.Feedback, request, time.perf_counter()) is not None:
            self.acks.feedback.append(ack)
        elif not self.rps:
            await asyncio.sleep(ERROR_PAUSE_S)

    async def _call(self, name: str, method, request, counts_from: float):
        """One timed call: the response, or None after counting its error."""
        tally = self.tallies[name]
        tally.sent += 1
        try:
            response = await method(request, timeout=self.deadline, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            tally.errors[exc.code().name] += 1
            return None
        tally.passed(time.perf_counter() - counts_from)
        return response
