"""MLflow tracking in the embedded default store: mlruns/ (SQLite metadata, artifacts beside it)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def tracking_root() -> Path:
    return Path(os.environ.get("BANDITROUTE_MLRUNS", "mlruns")).resolve()


def start_experiment(name: str, root: Path | None = None):
    """Point MLflow at the store (MLFLOW_TRACKING_URI wins if set) and select the experiment."""
    import mlflow

    root = root or tracking_root()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=(root / "artifacts" / name).as_uri())
    mlflow.set_experiment(name)
    # MLflow 3's UI opens an experiment without this tag in its GenAI view (traces, judges), where
    # these runs' metrics and charts are a click away; tagged, it opens on the runs table.
    mlflow.set_experiment_tag("mlflow.experimentKind", "custom_model_development")
    return mlflow


def log_curve(mlflow, key: str, values, every: int = 1) -> None:
    """A metric over the stream, one point per `every` steps, in one batch."""
    from mlflow.entities import Metric

    run_id = mlflow.active_run().info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(values[i]), now, i + 1) for i in range(every - 1, len(values), every)]
    client = mlflow.tracking.MlflowClient()
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def policy_metrics(policies: dict[str, dict]) -> dict[str, float]:
    """Each policy's figures as `<policy>.<figure>` metrics of the parent run: the MLflow UI's runs table
    and charts show a run's own metrics, not its nested runs'. Breakdowns such as model shares stay in
    the JSON artifact."""
    return {f"{policy}.{key}": value for policy, figures in policies.items() for key, value in figures.items()
            if isinstance(value, (int, float))}


def git_tags(source: Path = Path(__file__)) -> dict[str, str]:
    """The commit of the code that made a run (`mlflow.source.git.commit`, which the UI shows as the
    run's source version) and whether tracked files had uncommitted changes; nothing unless `source`
    is tracked in a git checkout (a copy installed inside one, in its .venv, is not), or without git.
    MLflow infers a commit from the script that started the process, which for the `banditroute`
    entry point or a notebook's kernel is not this code."""
    source = source.resolve()

    def git(*args: str) -> str:
        # --no-optional-locks: status would otherwise refresh the index, a write beside other git users.
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=source.parent, capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", source.name)
        commit = git("rev-parse", "HEAD")
        # Untracked files are left out: run outputs such as runs/*.json would mark every checkout dirty.
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit, "git_dirty": str(dirty).lower()}
