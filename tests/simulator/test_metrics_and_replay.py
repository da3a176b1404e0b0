"""RouteLLM's metrics against hand computations, and the replay pipeline on a tiny CSV."""

import csv
import json

import numpy as np
import pytest

from simulator.datasets import ROUTING_DEV, load_labelled_csv
from simulator.replay import replay_registry, replay_report, sweep
from simulator.routellm_metrics import apgr, cpt, curve, oracle_points, random_points
from simulator.routers import InProcessRouter
from simulator.runs import local_service

WEAK, STRONG = "mixtral-8x7b-instruct", "gpt-4-1106-preview"
# Ten prompts: the strong model is right on 8, the weak one on 4; strong gains on rows 4, 5, 6, 9.
WEAK_Q = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
STRONG_Q = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1], dtype=float)


def test_the_oracle_recovers_the_whole_gap_with_forty_percent_strong_calls():
    # By hand: PGR = min(k, 4)/4 at share k/10, so the area is 0.2 up to 0.4 and 0.6 after it.
    points = curve(oracle_points(WEAK_Q, STRONG_Q), WEAK_Q.mean(), STRONG_Q.mean())
    assert [round(p.pgr, 4) for p in points] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1]
    assert apgr(points) == pytest.approx(0.8)
    assert cpt(points, 0.5) == pytest.approx(0.2)
    assert cpt(points, 0.8) == pytest.approx(0.32)  # 0.3 + (0.8 − 0.75)/0.25 · 0.1


def test_random_routing_scores_one_half():
    points = curve(random_points(WEAK_Q, STRONG_Q), WEAK_Q.mean(), STRONG_Q.mean())
    assert apgr(points) == pytest.approx(0.5)
    assert cpt(points, 0.5) == pytest.approx(0.5)


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "tiny.csv"
    prompts = ["What is 17 times 23?", "Name the capital of Australia.", "Is a tomato a fruit?",
               "Which is heavier, a kilo of feathers or a kilo of iron?", "Solve x^2 - 5x + 6 = 0.",
               "Who wrote Hamlet?", "What is the derivative of sin(x)?", "Translate 'cat' to French.",
               "How many legs does a spider have?", "What is the boiling point of water in Kelvin?"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "source", "subject", "prompt", WEAK, STRONG])
        for i, (text, w, s) in enumerate(zip(prompts, WEAK_Q, STRONG_Q)):
            writer.writerow([f"tiny/x/{i}", "tiny", "x", text, w, s])
    return path


def run_tiny_replay(tiny_csv, reader, seed):
    rows = load_labelled_csv(tiny_csv)
    registry = replay_registry()
    runs = sweep(lambda tmp: InProcessRouter(local_service(tmp, reader, seed, registry)), rows, seed, (0.0, 0.3, 5.0))
    return replay_report(runs, registry)


def test_replay_reports_routellm_metrics_and_is_reproducible(tiny_csv, static_reader):
    first = run_tiny_replay(tiny_csv, static_reader, seed=4)
    again = run_tiny_replay(tiny_csv, static_reader, seed=4)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    tiny = first["sources"]["tiny"]
    assert tiny["prompts"] == 10
    assert (tiny["weak_quality"], tiny["strong_quality"]) == (0.4, 0.8)
    assert tiny["oracle_apgr"] == pytest.approx(0.8)
    assert tiny["random_apgr"] == pytest.approx(0.5)
    assert 0 <= tiny["cpt50"] <= tiny["cpt80"] <= 1
    share = {p["cost_weight"]: p["strong_share"] for p in tiny["points"]}
    assert share[0.0] > share[5.0]  # a heavier cost weight sends fewer calls to the strong model


def test_a_csv_without_the_fixed_columns_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("prompt,a,b\nhi,1,0\n")
    with pytest.raises(ValueError, match="missing column"):
        load_labelled_csv(path)


@pytest.mark.skipif(not ROUTING_DEV.exists(), reason="the shared data is not beside this checkout")
def test_the_shared_routing_data_loads_with_its_documented_shape():
    rows = load_labelled_csv(ROUTING_DEV)
    assert len(rows) == 4039
    assert {r.source for r in rows} == {"mmlu", "gsm8k", "mt_bench"}
    mmlu = [r for r in rows if r.source == "mmlu"]
    assert np.mean([r.quality[STRONG] for r in mmlu]) == pytest.approx(0.839, abs=0.001)


@pytest.mark.slow
def test_replaying_against_a_running_server_gives_the_in_process_result(tiny_csv, static_reader, tmp_path):
    import yaml

    from router.client.process import ServerProcess
    from simulator.replay import replay_registry
    from simulator.routers import RemoteRouter

    rows, registry, seed = load_labelled_csv(tiny_csv), replay_registry(), 6
    local = sweep(lambda tmp: InProcessRouter(local_service(tmp, static_reader, seed, registry)), rows, seed, (0.2,))
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({"registry_path": "simulator/replay_models.yaml", "security_recheck_above": 2,
                                      "learner": {"seed": seed}}))
    with ServerProcess(tmp_path / "data", config) as server:
        remote = sweep(lambda tmp: RemoteRouter(server.client()), rows, seed, (0.2,))
    assert [r.model for r in remote[0.2]] == [r.model for r in local[0.2]]


def test_extra_points_go_where_the_share_jumps(tiny_csv, static_reader):
    rows, registry = load_labelled_csv(tiny_csv), replay_registry()
    runs = sweep(lambda tmp: InProcessRouter(local_service(tmp, static_reader, 1, registry)), rows, 1, (0.0, 5.0),
                 extra_points=2, strong_model=registry.baseline_model)
    assert len(runs) == 4 and 2.5 in runs  # the first bisection halves the only interval
    assert {1.25, 3.75} & set(runs)  # the second halves whichever half jumped more


def test_parallel_workers_give_the_sweep_one_process_gives(tiny_csv):
    from router.config import Settings
    from simulator.runs import FreshLocalRouter

    rows, registry = load_labelled_csv(tiny_csv), replay_registry()
    make_router = FreshLocalRouter(Settings(embedding="static", security_recheck_above=2), seed=3, registry=registry)

    def models(workers):
        runs = sweep(make_router, rows, 3, (0.0, 0.3, 5.0), extra_points=2, strong_model=registry.baseline_model,
                     workers=workers)
        return {w: [r.model for r in routed] for w, routed in runs.items()}

    assert models(2) == models(1)
