"""The Vowpal Wabbit quality learner: it learns q̂(model | context); cost is applied by the policy.

Quality is what is unknown, so that is all VW learns (`--cb_adf --cb_type dm`: a regression on
the chosen model's outcome, crossed context × model features). Cost is known per request, so λ
can change per request, and a price change acts at once. VW learns the residual of quality
over the registry's prior for (model, category): a cold start routes by the seeds' table, not
by chance.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import vowpalwabbit

from router.registry import ModelSpec
from router.types import Context


def shared_line(context: Context) -> str:
    """Context features: category, complexity, size, and the prompt embedding."""
    embedding = " ".join(f"{i}:{v:.5f}" for i, v in enumerate(context.embedding))
    size = np.log1p(context.input_tokens + context.output_tokens)
    return (
        f"shared |c cat_{context.category} cx:{context.complexity:.4f} size:{size:.4f} "
        f"|e {embedding}"
    )


def action_line(model: ModelSpec, label: str = "") -> str:
    """Model features: its id, and its tier and provider so that a new model is not a blank."""
    return f"{label}|a m_{model.id} tier_{model.tier} prov_{model.provider}"


class QualityLearner:
    """One long-lived VW workspace behind a lock: VW is not thread-safe."""

    def __init__(self, vw_args: str, model_path: Path | None = None):
        self._vw_args = vw_args
        args = f"{vw_args} --quiet"
        if model_path is not None:
            # A saved model carries its options; passing the learning ones again would clash.
            args = f"-i {model_path} --quiet"
        self._vw = vowpalwabbit.Workspace(args)
        self._lock = threading.Lock()
        self.updates = 0

    def predict(self, context: Context, models: list[ModelSpec]) -> np.ndarray:
        """Expected quality of each model for this context, clipped to [0, 1]."""
        lines = [shared_line(context)] + [action_line(m) for m in models]
        with self._lock:
            residual_costs = self._vw.predict(lines)
        priors = np.array([m.prior(context.category) for m in models])
        return np.clip(priors - np.asarray(residual_costs), 0.0, 1.0)

    def learn(self, context: Context, model: ModelSpec, quality: float, probability: float) -> None:
        """One observed outcome of the chosen model; VW minimises cost, so cost = −residual."""
        cost = -(quality - model.prior(context.category))
        lines = [shared_line(context), action_line(model, f"0:{cost:.6f}:{probability:.6f} ")]
        with self._lock:
            self._vw.learn(lines)
            self.updates += 1

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous snapshot intact."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        with self._lock:
            self._vw.save(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def close(self) -> None:
        with self._lock:
            self._vw.finish()
