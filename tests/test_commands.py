"""The demo and the latency benchmark run end to end on tiny sizes (their figures are not judged here)."""

import json

import pytest

from simulator.demo import run_demo
from simulator.perf import run_perf

pytestmark = pytest.mark.slow


def test_the_demo_routes_learns_reports_and_stops_cleanly(capsys):
    assert run_demo(requests=60, seed=3, cost_weight=None, data_dir=None) == 0
    out = capsys.readouterr().out
    for heading in ("What it routed", "What it learned", "What it saved", "server stopped with exit code 0"):
        assert heading in out
    assert "security-flagged prompts given a non-premium model: 0" in out


def test_perf_prints_and_writes_its_figures(tmp_path, capsys):
    assert run_perf(requests=25, json_path=tmp_path / "perf.json") == 0
    figures = json.loads((tmp_path / "perf.json").read_text())
    assert figures["requests"] == 25
    for key in ("route_grpc_ms", "embedding_forward_ms", "static_embedding_ms"):
        assert 0 < figures[key]["p50"] <= figures[key]["p99"]
    assert "Route p50 / MiniLM forward p50" in capsys.readouterr().out
