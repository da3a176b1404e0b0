"""Replay of real labelled data: stream prompts through the router with bandit feedback only.

Only the chosen model's quality is revealed, as in production. λ is swept to trace quality
against the share of calls to the strong model, and each source is scored with RouteLLM's
metrics. Every routed prompt counts, exploration included.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from router.domain.registry import Registry
from router.domain.types import ChatMessage, Constraints, FeedbackRequest, RouteRequest
from simulator.datasets import LabelledPrompt
from simulator.routellm_metrics import apgr, cpt, curve, oracle_points, random_points
from simulator.routers import RouterUnderTest
from simulator.runs import progress

# Where to start the sweep; more values of λ are then placed where the curve moves most.
DEFAULT_COST_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
DEFAULT_EXTRA_POINTS = 8
EXTRA_POINTS_PER_ROUND = 2
# Each λ is one Python thread's work: one process per core.
DEFAULT_WORKERS = min(EXTRA_POINTS_PER_ROUND, os.cpu_count() or 1)
# The data has no token counts: one fixed answer length per source (a letter for MMLU, worked
# arithmetic for GSM8K, an essay for MT-Bench).
OUTPUT_TOKENS = {"mmlu": 10, "gsm8k": 200, "mt_bench": 500}
DEFAULT_OUTPUT_TOKENS = 300
TENANT = "replay"


def replay_registry() -> Registry:
    return Registry.from_yaml(Path(__file__).with_name("replay_models.yaml"))


@dataclass(frozen=True)
class Routed:
    row: LabelledPrompt
    model: str


def route_request(row: LabelledPrompt, cost_weight: float) -> RouteRequest:
    """The row's prompt, restricted to the models the row has a quality for."""
    return RouteRequest(
        tenant_id=TENANT,
        messages=(ChatMessage("user", row.prompt),),
        cost_weight=cost_weight,
        constraints=Constraints(allowed_models=tuple(row.quality),
                                expected_output_tokens=OUTPUT_TOKENS.get(row.source, DEFAULT_OUTPUT_TOKENS)),
    )


def stream(router: RouterUnderTest, rows: list[LabelledPrompt], cost_weight: float, desc: str,
           show_progress: bool = True) -> list[Routed]:
    """Route every row once, in the given order, feeding back only the chosen model's quality."""
    routed = []
    for row in progress(rows, show_progress, desc=desc, unit="prompt", leave=False):
        request = route_request(row, cost_weight)
        decision = router.route(request)
        router.feedback(FeedbackRequest(decision.decision_id, row.quality[decision.model],
                                        output_tokens=request.constraints.expected_output_tokens))
        routed.append(Routed(row, decision.model))
    return routed


def shuffled(rows: list[LabelledPrompt], seed: int) -> list[LabelledPrompt]:
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in order]


def sweep(make_router: Callable[[Path], RouterUnderTest], rows: list[LabelledPrompt], seed: int,
          cost_weights: tuple[float, ...], extra_points: int = 0, strong_model: str = "",
          workers: int = 1) -> dict[float, list[Routed]]:
    """One fresh router per λ (a new data directory: nothing learned carries over) on the same order.

    After the given values, `extra_points` more are placed, EXTRA_POINTS_PER_ROUND at a time,
    between the neighbouring values of λ whose shares of calls to `strong_model` differ most: a
    fixed grid leaves long straight chords exactly where the curve bends, and the area under a
    chord undercounts. With `workers` > 1 the values of a round run in parallel processes, so
    `make_router` must then be picklable; the results do not depend on `workers`.
    """
    order = shuffled(rows, seed)
    runs: dict[float, list[Routed]] = {}
    todo = list(cost_weights)
    with progress(total=len(todo) + extra_points, desc="λ sweep", unit="λ") as bar, _runner(workers) as run:
        while todo:
            for cost_weight, routed in zip(todo, run(make_router, order, todo)):
                runs[cost_weight] = routed
                bar.update()
            todo = _widest_gaps(runs, strong_model, min(EXTRA_POINTS_PER_ROUND, extra_points))
            extra_points -= len(todo)
    return runs


Runner = Callable[[Callable[[Path], RouterUnderTest], list[LabelledPrompt], list[float]], Iterator[list[Routed]]]


@contextmanager
def _runner(workers: int) -> Iterator[Runner]:
    """Runs of several values of λ, in this process or spread over `workers` processes; in order."""
    if workers <= 1:
        yield lambda make_router, order, weights: (_one_run(make_router, order, w) for w in weights)
        return
    # spawn, not fork: a forked child of a process that has run torch can hang in its thread pool.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread_each) as pool:
        # Per-prompt progress bars from several processes would overwrite each other.
        yield lambda make_router, order, weights: pool.map(
            partial(_one_run, make_router, order, show_progress=False), weights)


def _one_thread_each() -> None:
    """A worker process keeps to one core: two BLAS or OpenMP threads in each of two processes on
    two cores slowed a λ from 15 s to 24 s (measured on the dev data)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _one_run(make_router: Callable[[Path], RouterUnderTest], order: list[LabelledPrompt],
             cost_weight: float, show_progress: bool = True) -> list[Routed]:
    with tempfile.TemporaryDirectory(prefix="banditroute-replay-") as tmp:
        router = make_router(Path(tmp))
        try:
            return stream(router, order, cost_weight, f"λ={cost_weight:.4g}", show_progress)
        finally:
            router.close()


def _widest_gaps(runs: dict[float, list[Routed]], model: str, count: int) -> list[float]:
    """Midpoints of the `count` pairs of neighbouring values of λ whose shares of `model` differ most."""
    weights = sorted(runs)
    shares = [np.mean([r.model == model for r in runs[w]]) for w in weights]
    gaps = [abs(a - b) for a, b in zip(shares, shares[1:])]
    widest = sorted(range(len(gaps)), key=lambda i: gaps[i], reverse=True)[:count]
    return [round((weights[i] + weights[i + 1]) / 2, 6) for i in sorted(widest)]


def source_report(runs: dict[float, list[Routed]], source: str, weak: str, strong: str) -> dict:
    """RouteLLM's metrics for one source: the router's curve beside random's and the oracle's."""
    rows = [r.row for r in next(iter(runs.values())) if r.row.source == source]
    weak_q = np.array([r.quality[weak] for r in rows])
    strong_q = np.array([r.quality[strong] for r in rows])
    points = []
    for cost_weight, routed in runs.items():
        mine = [r for r in routed if r.row.source == source]
        share = sum(r.model == strong for r in mine) / len(mine)
        quality = float(np.mean([r.row.quality[r.model] for r in mine]))
        points.append((cost_weight, share, quality))
    router_curve = curve([(s, q) for _, s, q in points], weak_q.mean(), strong_q.mean())
    oracle_curve = curve(oracle_points(weak_q, strong_q), weak_q.mean(), strong_q.mean())
    random_curve = curve(random_points(weak_q, strong_q), weak_q.mean(), strong_q.mean())
    return {
        "prompts": len(rows),
        "weak_quality": float(weak_q.mean()),
        "strong_quality": float(strong_q.mean()),
        "apgr": apgr(router_curve),
        "cpt50": cpt(router_curve, 0.5),
        "cpt80": cpt(router_curve, 0.8),
        "random_apgr": apgr(random_curve),
        "oracle_apgr": apgr(oracle_curve),
        "points": [
            {"cost_weight": w, "strong_share": s, "quality": q, "pgr": (q - weak_q.mean()) / (strong_q.mean() - weak_q.mean())}
            for w, s, q in sorted(points, key=lambda p: p[1])
        ],
        "curve": [vars(p) for p in router_curve],
        "oracle_curve": [vars(p) for p in oracle_curve],
    }


def replay_report(runs: dict[float, list[Routed]], registry: Registry) -> dict:
    strong = registry.baseline_model
    weak = next(m for m in registry.ids if m != strong)
    sources = sorted({r.row.source for r in next(iter(runs.values()))})
    return {
        "weak_model": weak,
        "strong_model": strong,
        "cost_weights": list(runs),
        "sources": {s: source_report(runs, s, weak, strong) for s in sources},
    }


REPLAY_COLUMNS = [
    ("prompts", "prompts", "d"),
    ("apgr", "APGR", ".3f"),
    ("cpt50", "CPT(50%)", ".1%"),
    ("cpt80", "CPT(80%)", ".1%"),
    ("oracle_apgr", "oracle APGR", ".3f"),
    ("weak_quality", "weak q", ".3f"),
    ("strong_quality", "strong q", ".3f"),
]


def run_replay(data: Path, seed: int, json_path: Path, cost_weights: tuple[float, ...],
               model_map: dict[str, str], embedding: str | None = None, addr: str | None = None,
               config: Path | None = None, extra_points: int = DEFAULT_EXTRA_POINTS,
               workers: int = DEFAULT_WORKERS) -> int:
    """The replay command: sweep λ over the data, print the table, write the JSON and plot, track in MLflow.

    Each λ needs a learner that has seen nothing, which a running server cannot give twice: with
    `addr`, one λ is replayed against it (start it fresh, on the replay registry, with
    learner.seed = seed, to get the in-process result).
    """
    from router.client import RouterClient
    from simulator.datasets import load_labelled_csv
    from simulator.plots import pgr_curves
    from simulator.routers import RemoteRouter
    from simulator.runs import (FreshLocalRouter, benchmark_settings, embed_ahead, plot_path, print_table,
                                shared_reader, write_json)

    rows = load_labelled_csv(data, model_map)
    registry = replay_registry()
    unknown = sorted({m for r in rows for m in r.quality} - set(registry.ids))
    if unknown:
        raise SystemExit(f"{data}: quality columns {', '.join(unknown)} are not replay models "
                         f"({', '.join(registry.ids)}); map them with --model COLUMN=MODEL")
    settings = benchmark_settings(config, embedding)
    if addr and (len(cost_weights) != 1 or extra_points):
        raise SystemExit("with --addr, give exactly one value to --cost-weights and --extra-points 0: "
                         "every λ needs a fresh learner")
    if addr:
        runs = sweep(lambda tmp: RemoteRouter(RouterClient(addr)), rows, seed, cost_weights)
    else:
        embed_ahead(shared_reader(settings), [route_request(r, 0.0) for r in rows])
        runs = sweep(FreshLocalRouter(settings, seed, registry), rows, seed, cost_weights, extra_points,
                     registry.baseline_model, workers)
    report = {"data": str(data), "seed": seed, "embedding": settings.embedding, "learner": settings.learner.model_dump(),
              "driven": f"gRPC at {addr}" if addr else "in process", **replay_report(runs, registry)}
    write_json(json_path, report)
    plot = pgr_curves(report, plot_path(json_path, "pgr"))
    track_replay(report, json_path, plot)
    print_table(f"replay --data {data} --seed {seed} ({len(runs)} values of λ, bandit feedback only)",
                report["sources"], REPLAY_COLUMNS)
    print(f"\nJSON: {json_path}; plot: {plot}")
    return 0


# The figures of each policy logged per source as `<policy>.<source>.<figure>`: figure → its key in the report.
REPLAY_METRICS = {"bandit": {"apgr": "apgr", "cpt50": "cpt50", "cpt80": "cpt80"},
                  "random": {"apgr": "random_apgr"}, "oracle": {"apgr": "oracle_apgr"}}


def track_replay(report: dict, json_path: Path, plot: Path) -> None:
    from simulator.tracking import git_tags, policy_metrics, start_experiment

    mlflow = start_experiment("replay")
    with mlflow.start_run(run_name=f"{Path(report['data']).stem}-seed{report['seed']}", tags=git_tags()):
        mlflow.log_params({"policy": "bandit", "data": report["data"], "seed": report["seed"],
                           "cost_weights": ",".join(map(str, report["cost_weights"])),
                           "models": f"{report['weak_model']},{report['strong_model']}"})
        mlflow.log_metrics(policy_metrics({
            policy: {f"{source}.{name}": figures[key] for source, figures in report["sources"].items()
                     for name, key in keys.items()}
            for policy, keys in REPLAY_METRICS.items()}))
        mlflow.log_artifact(str(json_path))
        mlflow.log_artifact(str(plot))
