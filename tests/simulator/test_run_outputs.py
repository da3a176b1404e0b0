"""What a benchmark run leaves for people to read: MLflow runs that open well, plots with titles and
one colour per policy and model, and the demo's tables with whole model names."""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from matplotlib.colors import to_hex
from mlflow.tracking import MlflowClient

from simulator import plots
from simulator.datasets import LabelledPrompt
from simulator.demo import Tally, print_report
from simulator.replay import Routed, replay_registry, replay_report, track_replay
from simulator.routers import InProcessRouter
from simulator.runs import local_service, write_json
from simulator.simulate import BANDIT, draw, simulate, track
from simulator.tracking import git_tags

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_FIGURES = ("cost_usd", "mean_quality", "savings_vs_premium", "quality_vs_premium", "regret_vs_oracle",
                   "safety_violations", "unflagged_security", "refused")


@pytest.fixture(scope="module")
def simulation(tmp_path_factory, static_reader):
    """A short run of the outage scenario: its events mark the plots over time."""
    service = local_service(tmp_path_factory.mktemp("simulate"), static_reader, 4)
    try:
        return simulate(service, InProcessRouter(service), "outage", 160, 4)
    finally:
        service.close()


@pytest.fixture(scope="module")
def replayed() -> dict:
    """A replay report of ten made-up prompts of one source, at three values of λ."""
    registry = replay_registry()
    strong = registry.baseline_model
    weak = next(m for m in registry.ids if m != strong)
    rows = [LabelledPrompt(str(i), "mmlu", "maths", f"question {i}", {weak: float(i % 2), strong: 1.0})
            for i in range(10)]
    runs = {0.0: [Routed(r, strong) for r in rows], 0.5: [Routed(r, strong if i < 5 else weak)
                                                          for i, r in enumerate(rows)],
            1.0: [Routed(r, weak) for r in rows]}
    return {"data": "made-up.csv", "seed": 1, **replay_report(runs, registry)}


@pytest.fixture
def saved_figures(monkeypatch) -> dict:
    """Every figure simulator.plots saves, by file name (a closed figure can still be read)."""
    saved = {}
    save = plots._save

    def keep(fig, path: Path) -> Path:
        saved[Path(path).name] = fig
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


@pytest.fixture
def tracking_root(tmp_path, monkeypatch) -> Path:
    """The tracking store the run commands write to, here a temporary one."""
    monkeypatch.setenv("BANDITROUTE_MLRUNS", str(tmp_path / "mlruns"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "mlruns"


def tracked_runs(root: Path, experiment: str) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def head_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def title_of(fig) -> str:
    """A figure's title: its own, or the one panel's."""
    return fig.get_suptitle() or (fig.axes[0].get_title() if len(fig.axes) == 1 else "")


def test_the_parent_simulate_run_carries_every_policys_figures_and_the_code_commit(simulation, tmp_path,
                                                                                    tracking_root):
    json_path = write_json(tmp_path / "run.json", simulation.report)
    track(simulation, json_path, draw(simulation, json_path))
    runs = tracked_runs(tracking_root, "simulate")
    [parent] = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(runs) == 1 + len(simulation.report["policies"])
    for policy, figures in simulation.report["policies"].items():
        for figure in SUMMARY_FIGURES:
            assert parent.data.metrics[f"{policy}.{figure}"] == pytest.approx(figures[figure]), (policy, figure)
    assert parent.data.tags.get("mlflow.source.git.commit") == head_commit()
    if head_commit():
        assert parent.data.tags["git_dirty"] in {"true", "false"}
    # Tagged as model development, MLflow's UI opens the experiment on its runs table, not its GenAI view.
    experiment = MlflowClient(tracking_uri=f"sqlite:///{tracking_root / 'mlflow.db'}").get_experiment_by_name("simulate")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_replay_run_carries_each_policys_figures_per_source_and_the_code_commit(replayed, tmp_path,
                                                                                   tracking_root):
    json_path = write_json(tmp_path / "replay.json", replayed)
    track_replay(replayed, json_path, plots.pgr_curves(replayed, tmp_path / "replay-pgr.png"))
    [run] = tracked_runs(tracking_root, "replay")
    figures = replayed["sources"]["mmlu"]
    assert {key: run.data.metrics[key] for key in ("bandit.mmlu.apgr", "bandit.mmlu.cpt50", "bandit.mmlu.cpt80",
                                                   "random.mmlu.apgr", "oracle.mmlu.apgr")} == pytest.approx(
        {"bandit.mmlu.apgr": figures["apgr"], "bandit.mmlu.cpt50": figures["cpt50"],
         "bandit.mmlu.cpt80": figures["cpt80"], "random.mmlu.apgr": figures["random_apgr"],
         "oracle.mmlu.apgr": figures["oracle_apgr"]})
    assert run.data.tags.get("mlflow.source.git.commit") == head_commit()


def test_outside_a_git_checkout_or_without_git_a_run_has_no_commit_tags(tmp_path, monkeypatch):
    copy = tmp_path / "tracking.py"
    copy.write_text((ROOT / "simulator" / "tracking.py").read_text())
    assert git_tags(copy) == {}
    if head_commit():
        untracked = ROOT / ".venv" / "tracking.py"  # a copy installed in the checkout's venv: not its code
        assert git_tags(untracked) == {}
        assert git_tags()["mlflow.source.git.commit"] == head_commit()
    monkeypatch.setenv("PATH", str(tmp_path))  # no git to be found
    assert git_tags() == {}


def test_every_plot_of_simulate_and_replay_has_a_title(simulation, replayed, tmp_path, saved_figures):
    draw(simulation, tmp_path / "run.json")
    plots.pgr_curves(replayed, tmp_path / "replay-pgr.png")
    assert set(saved_figures) == {"run-cost-quality.png", "run-regret.png", "run-bandit-model-share.png",
                                  "replay-pgr.png"}
    for name, fig in saved_figures.items():
        assert title_of(fig).strip(), f"{name} has no title"
        if name.startswith("run-"):
            assert "outage" in title_of(fig), f"{name}'s title does not say which run it shows"


def test_each_policy_and_each_model_has_one_colour_in_every_plot(simulation, replayed, tmp_path, saved_figures):
    draw(simulation, tmp_path / "run.json")
    plots.pgr_curves(replayed, tmp_path / "replay-pgr.png")
    colours = defaultdict(set)  # name → the colours it was drawn in
    for fig in saved_figures.values():
        for ax in fig.axes:
            for line in ax.get_lines():  # the PGR curves' labels carry their APGR: "bandit (APGR 0.750)"
                colours[line.get_label().split(" (")[0]].add(to_hex(line.get_color()))
            for collection in ax.collections:  # the policies' points, the models' shares
                colours[collection.get_label()].add(to_hex(collection.get_facecolor()[0]))
    policies = list(simulation.report["policies"])
    for policy in policies + ["random"]:
        assert colours[policy] == {to_hex(plots.policy_colour(policy))}, policy
    assert len({plots.policy_colour(p) for p in policies}) == len(policies), "two policies share a colour"
    for model in set(simulation.traces[BANDIT].models):
        assert colours[model] == {to_hex(plots.model_colour(model))}, model
    assert plots.policy_colour("bandit λ=0.2") == plots.policy_colour("bandit")  # the notebooks' variants


def test_the_model_share_plot_stacks_the_models_largest_share_first(simulation, tmp_path, saved_figures):
    draw(simulation, tmp_path / "run.json")
    [ax] = saved_figures["run-bandit-model-share.png"].axes
    stacked = [collection.get_label() for collection in ax.collections]
    share = Counter(simulation.traces[BANDIT].models)
    assert set(stacked) == set(share)
    assert [share[m] for m in stacked] == sorted(share.values(), reverse=True)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == stacked


def test_the_demo_table_names_every_model_whole(registry, capsys):
    everywhere = {category: Counter(registry.ids) for category in ("chat", "security_critical")}
    tally = Tally(requests=2 * len(registry.ids), cost=1.0, premium_cost=4.0, quality=9.0, premium_quality=10.0,
                  models=Counter(registry.ids), by_category=everywhere)
    print_report(tally, tally, tally, Counter(), registry)
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("category"))
    assert header.split()[1:] == registry.ids
