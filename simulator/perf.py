"""`banditroute perf`: where Route's time goes and how much load one server takes, in one run.

Measured here, in this order: the raw embedding forward (MiniLM, the floor a full transformer pass
per request would set, and the static table the service routes with), Route in process, Route
over gRPC one call at a time and in RouteBatch calls, Route throughput at 8 and 32 concurrent
clients, Feedback per second (one a call, and in batches), the server's resident memory, and
semantic-cache lookups at 10,000 and 100,000 entries. Prompts of at most 64 tokens, as the speed
goals are stated; every Route a cache miss (distinct prompts).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from router.client.process import ServerProcess
from simulator.simulate import route_request
from simulator.traffic import SyntheticPrompt, distinct_prompts

WARMUP = 20
LOAD_CLIENTS = (8, 32)
# Distinct prompts per second of each load: more than one server routes, so no Route is a repeat.
LOAD_PROMPTS_PER_S = 700
# Feedbacks per FeedbackBatch call in the batched burst: what a callback grading in bulk might send.
FEEDBACK_BATCH = 100
# Prompts per RouteBatch call, and how many calls one client sends, each prompt unseen.
ROUTE_BATCH = 100
ROUTE_BATCHES = 10


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def time_calls(call, items, desc: str) -> list[float]:
    timings = []
    # disable=None: a bar on a terminal only, not thousands of lines in a log.
    for item in tqdm(items, desc=desc, unit="call", leave=False, disable=None):
        start = time.perf_counter()
        call(item)
        timings.append(time.perf_counter() - start)
    return timings


def run_perf(requests: int, json_path: Path | None, load_seconds: float = 15.0,
             cache_sizes: tuple[int, ...] = (10_000, 100_000), feedbacks: int = 2000) -> int:
    per_load = int(LOAD_PROMPTS_PER_S * load_seconds)
    batched = ROUTE_BATCH * ROUTE_BATCHES
    everything = distinct_prompts(requests + WARMUP + per_load * len(LOAD_CLIENTS) + batched, seed=11,
                                  max_input_tokens=64)
    prompts, rest = everything[:requests + WARMUP], everything[requests + WARMUP:]
    loads = [rest[i * per_load:(i + 1) * per_load] for i in range(len(LOAD_CLIENTS))]
    in_batches = rest[len(LOAD_CLIENTS) * per_load:]
    figures: dict = {"requests": requests, "mean_input_tokens": float(np.mean([p.input_tokens for p in prompts]))}
    figures.update(embedding_floors(prompts))
    figures["route_in_process_ms"] = route_in_process(prompts)
    figures.update(server_figures(prompts, loads, in_batches, load_seconds, feedbacks))
    figures["cache_lookup"] = cache_lookups(cache_sizes)
    figures["route_over_embedding_p50"] = figures["route_grpc_ms"]["p50"] / figures["embedding_forward_ms"]["p50"]
    print(report(figures))
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2))
    return 0


def embedding_floors(prompts: list[SyntheticPrompt]) -> dict:
    from router.reading.minilm import load_embedder

    floors = {}
    for kind, key in (("minilm", "embedding_forward_ms"), ("static", "static_embedding_ms")):
        embedder = load_embedder(kind)
        for prompt in prompts[:WARMUP]:
            embedder.embed([prompt.text])
        floors[key] = percentiles_ms(time_calls(lambda p: embedder.embed([p.text]), prompts[WARMUP:], f"{kind} embedding"))
    return floors


def route_in_process(prompts: list[SyntheticPrompt]) -> dict:
    """The service alone, as the server runs it (the default settings), without gRPC."""
    from router.config import Settings
    from router.reading.reader import build_reader
    from router.service import open_service

    with tempfile.TemporaryDirectory(prefix="banditroute-perf-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        service = open_service(settings, build_reader(settings.embedding, settings.security_recheck_above))
        try:
            for prompt in prompts[:WARMUP]:
                service.route(route_request(prompt, None))
            return percentiles_ms(time_calls(lambda p: service.route(route_request(p, None)), prompts[WARMUP:],
                                             "Route in process"))
        finally:
            service.close()


def server_figures(prompts: list[SyntheticPrompt], loads: list[list[SyntheticPrompt]],
                   in_batches: list[SyntheticPrompt], load_seconds: float, feedbacks: int) -> dict:
    """Route over gRPC at one client (one at a time, and `in_batches` in RouteBatch calls),
    throughput under load, Feedback/s and memory, from one server.

    Each load gets prompts the server has not seen; `distinct` says how many Routes it could send
    before repeating one (a repeat finds its MiniLM vector remembered)."""
    from simulator.loadtest import Acknowledgements, run_feedback_burst, run_loadtest

    figures = {}
    with tempfile.TemporaryDirectory(prefix="banditroute-perf-") as tmp:
        with ServerProcess(Path(tmp)) as server, server.client() as client:
            for prompt in prompts[:WARMUP]:
                client.route(route_request(prompt, None))
            figures["route_grpc_ms"] = percentiles_ms(
                time_calls(lambda p: client.route(route_request(p, None)), prompts[WARMUP:], "Route over gRPC"))
            figures["route_batched_1_client"] = route_batches(client, in_batches)
            acks = Acknowledgements()
            for clients, load_prompts in zip(LOAD_CLIENTS, loads):
                load = run_loadtest(server.addr, clients, 0, load_seconds, feedback_share=0, api_key=server.dev_key,
                                    acks=acks, prompts=load_prompts).rpcs["Route"]
                figures[f"route_{clients}_clients"] = {"per_s": load.ok_per_s, **load.latency_ms,
                                                       "errors": sum(load.errors.values()),
                                                       "routes": load.ok, "distinct": len(load_prompts)}
            bursts = (("feedback_8_clients", 1, acks.routed[:feedbacks]),
                      ("feedback_batched_8_clients", FEEDBACK_BATCH, acks.routed[feedbacks:2 * feedbacks]))
            for key, batch, ids in bursts:
                burst = run_feedback_burst(server.addr, ids, 8, batch=batch, api_key=server.dev_key)
                figures[key] = {"per_s": burst.ok_per_s, **burst.latency_ms, "errors": sum(burst.errors.values()),
                                "batch": batch}
            figures["server_rss_mb"] = rss_mb(server.process.pid)
    return figures


def route_batches(client, prompts: list[SyntheticPrompt]) -> dict:
    """RouteBatch calls of ROUTE_BATCH prompts from one client: prompts routed a second, each call's
    time, and the prompts refused."""
    seconds, errors = [], 0
    for i in range(0, len(prompts), ROUTE_BATCH):
        batch = [route_request(p, None) for p in prompts[i:i + ROUTE_BATCH]]
        start = time.perf_counter()
        outcomes = client.route_batch(batch)
        seconds.append(time.perf_counter() - start)
        errors += sum("code" in outcome for outcome in outcomes)
    return {"per_s": len(prompts) / sum(seconds), "batch": ROUTE_BATCH, "errors": errors, **percentiles_ms(seconds)}


def cache_lookups(sizes: tuple[int, ...]) -> dict:
    from router.reading.minilm import load_embedder
    from simulator.cache_eval import lookup_scaling

    return lookup_scaling(list(sizes), load_embedder("static")) if sizes else {}


def rss_mb(pid: int) -> float:
    """A process's resident memory now, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(f: dict) -> str:
    lines = [f"\n{'':30}{'p50':>9}{'p95':>9}{'p99':>9}  ms ({f['requests']} prompts of <= 64 tokens, "
             f"{f['mean_input_tokens']:.0f} on average)"]
    for label, key in (("MiniLM forward (the floor)", "embedding_forward_ms"), ("static embedding", "static_embedding_ms"),
                       ("Route in process", "route_in_process_ms"), ("Route over gRPC, 1 client", "route_grpc_ms")):
        lines.append(f"{label:30}{f[key]['p50']:>9.2f}{f[key]['p95']:>9.2f}{f[key]['p99']:>9.2f}")
    lines.append(f"Route over gRPC p50 / MiniLM forward p50: {f['route_over_embedding_p50']:.2f}")
    for key, label in [("route_batched_1_client", f"Route, {ROUTE_BATCH} a call")] + \
            [(f"route_{c}_clients", f"Route, {c} clients") for c in LOAD_CLIENTS] + \
            [("feedback_8_clients", "Feedback, 8 clients"),
             ("feedback_batched_8_clients", f"Feedback, {FEEDBACK_BATCH} a call")]:
        load = f[key]
        repeats = load.get("routes", 0) - load.get("distinct", 0)
        lines.append(f"{label:30}{load['per_s']:>8.1f}/s  p50 {load.get('p50', float('nan')):.1f}  "
                     f"p99 {load.get('p99', float('nan')):.1f} ms  errors {load['errors']}"
                     + (f"  ({repeats} repeated prompts)" if repeats > 0 else ""))
    lines.append(f"{'server resident memory':30}{f['server_rss_mb']:>8.0f} MB")
    for size, c in f["cache_lookup"].items():
        lines.append(f"cache lookup at {size:>8} entries  p50 {c['lookup_p50_ms']:.3f}  p99 {c['lookup_p99_ms']:.3f} ms"
                     f"  (+{c['rss_added_mb']:.0f} MB resident)")
    return "\n".join(lines)
