"""`banditroute perf`: Route latency over gRPC beside the raw embedding forward, in one run."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from router.client import RouterClient
from router.process import ServerProcess
from simulator.simulate import route_request
from simulator.traffic import TrafficGenerator

WARMUP = 20


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def time_calls(call, items, desc: str) -> list[float]:
    timings = []
    for item in tqdm(items, desc=desc, unit="call"):
        start = time.perf_counter()
        call(item)
        timings.append(time.perf_counter() - start)
    return timings


def run_perf(requests: int, json_path: Path | None) -> int:
    from router.embedding import load_embedder

    prompts = [p for p in TrafficGenerator(seed=11).stream(requests * 3) if p.input_tokens <= 64][:requests]
    with tempfile.TemporaryDirectory(prefix="banditroute-perf-") as tmp:
        with ServerProcess(Path(tmp)) as server, server.client() as client:
            for prompt in prompts[:WARMUP]:
                client.route(route_request(prompt, None))
            route = time_calls(lambda p: client.route(route_request(p, None)), prompts, "Route over gRPC")
    floors = {}
    for kind in ("minilm", "static"):
        embedder = load_embedder(kind)
        for prompt in prompts[:WARMUP]:
            embedder.embed([prompt.text])
        floors[kind] = time_calls(lambda p: embedder.embed([p.text]), prompts, f"{kind} embedding")
    figures = {
        "requests": len(prompts),
        "mean_input_tokens": float(np.mean([p.input_tokens for p in prompts])),
        "route_grpc_ms": percentiles_ms(route),
        "embedding_forward_ms": percentiles_ms(floors["minilm"]),
        "static_embedding_ms": percentiles_ms(floors["static"]),
    }
    figures["route_over_embedding_p50"] = figures["route_grpc_ms"]["p50"] / figures["embedding_forward_ms"]["p50"]
    print(f"\n{'':26}{'p50':>9}{'p95':>9}{'p99':>9}  (ms, {len(prompts)} prompts of ≤64 tokens, 1 client)")
    for label, key in (("Route over gRPC", "route_grpc_ms"), ("MiniLM forward alone", "embedding_forward_ms"),
                       ("static embedding alone", "static_embedding_ms")):
        f = figures[key]
        print(f"{label:26}{f['p50']:>9.2f}{f['p95']:>9.2f}{f['p99']:>9.2f}")
    print(f"Route p50 / MiniLM forward p50: {figures['route_over_embedding_p50']:.2f} (the service embeds with the "
          "static table and re-reads with MiniLM only when security is in doubt)")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2))
    return 0
