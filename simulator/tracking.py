"""MLflow tracking in the embedded default store: mlruns/ (SQLite metadata, artifacts beside it)."""

from __future__ import annotations

import os
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
