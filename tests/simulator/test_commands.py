"""The demo and the latency benchmark run end to end on tiny sizes (their figures are not judged here)."""

import json
import subprocess
import sys

import pytest

from router.cli.main import main
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
    assert run_perf(requests=25, json_path=tmp_path / "perf.json", load_seconds=1, cache_sizes=(200,),
                    feedbacks=20) == 0
    figures = json.loads((tmp_path / "perf.json").read_text())
    assert figures["requests"] == 25
    for key in ("route_grpc_ms", "route_in_process_ms", "embedding_forward_ms", "static_embedding_ms"):
        assert 0 < figures[key]["p50"] <= figures[key]["p99"]
    for key in ("route_8_clients", "route_32_clients", "feedback_8_clients", "feedback_batched_8_clients",
                "route_batched_1_client"):
        assert figures[key]["per_s"] > 0 and figures[key]["errors"] == 0
    for key in ("route_8_clients", "route_32_clients"):
        assert figures[key]["routes"] <= figures[key]["distinct"]  # every Route a prompt seen for the first time
    assert figures["server_rss_mb"] > 0 and figures["cache_lookup"]["200"]["entries"] == 200
    out = capsys.readouterr().out
    assert "Route over gRPC p50 / MiniLM forward p50" in out and "Feedback, 8 clients" in out


@pytest.mark.parametrize("flag, value, says", [("--clients", "0", "must be >= 1, not 0"),
                                               ("--distinct", "-5", "must be >= 1, not -5"),
                                               ("--clients", "many", "expected a whole number, got 'many'")])
def test_loadtest_refuses_counts_below_one_by_name(flag, value, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["loadtest", flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: {says}" in capsys.readouterr().err


SERVER_ONLY = """
import sys
from importlib.abc import MetaPathFinder

class ServerOnlyInstall(MetaPathFinder):
    # What `pip install banditroute` without the [bench] extra leaves out.
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("mlflow", "matplotlib", "pyarrow"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name.partition(".")[0])

sys.meta_path.insert(0, ServerOnlyInstall())
from router.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_benchmark_command_without_the_bench_extra_names_the_extra_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", SERVER_ONLY, "forecast-backtest", "--days", "40", "--origins", "1",
                           "--json", str(tmp_path / "out.json"), "--plot", str(tmp_path / "out.png")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "banditroute: this command needs matplotlib, which the server install leaves out: "
        "pip install 'banditroute[bench]' (make demo and make bench install it)")
