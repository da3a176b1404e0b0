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

from learners.memory import NeighbourMemory
from router.config import LearnerSettings
from router.domain.registry import ModelSpec
from router.domain.types import Context

# The projection is part of the model's meaning: a fixed seed keeps it identical across restarts.
PROJECTION_SEED = 20251122


class ContextEncoder:
    """Context features for VW: category, complexity, size, and the prompt embedding.

    The embedding enters twice. A random projection to a few dimensions (Johnson-Lindenstrauss:
    distances survive) gives the linear part; the signs of the same projections, grouped into
    buckets of `bucket_bits` bits, are locality-sensitive hashes: prompts in the same bucket share
    a learned offset, which lets a linear learner pick up local structure (a subject, a template)
    as quickly as a nearest-neighbour method would. Fewer dense features also make each example
    several times cheaper to build.
    """

    def __init__(self, embedding_dim: int, projection_dims: int, bucket_bits: int):
        self.projection = None
        self.bucket_bits = bucket_bits
        if projection_dims:
            rng = np.random.default_rng(PROJECTION_SEED)
            self.projection = rng.normal(size=(projection_dims, embedding_dim)) / np.sqrt(projection_dims)
            self._powers = 1 << np.arange(bucket_bits) if bucket_bits else None

    def shared_line(self, context: Context) -> str:
        vector = context.embedding if self.projection is None else self.projection @ context.embedding
        dense = " ".join(map("{}:{:.4f}".format, range(len(vector)), vector.tolist()))
        size = np.log1p(context.input_tokens + context.output_tokens)
        line = f"shared |c cat_{context.category} cx:{context.complexity:.4f} size:{size:.4f} |e {dense}"
        if self.projection is not None and self.bucket_bits:
            line += " |h " + " ".join(self._buckets(vector))
        return line

    def _buckets(self, vector: np.ndarray) -> list[str]:
        n_tables = len(vector) // self.bucket_bits
        signs = (vector[: n_tables * self.bucket_bits] > 0).reshape(n_tables, self.bucket_bits)
        return [f"t{t}_{code}" for t, code in enumerate((signs @ self._powers).tolist())]


def action_line(model: ModelSpec, label: str = "") -> str:
    """Model features: its id, and its tier and provider so that a new model is not a blank."""
    return f"{label}|a m_{model.id} tier_{model.tier} prov_{model.provider}"


class QualityLearner:
    """One long-lived VW workspace behind a lock: VW is not thread-safe."""

    def __init__(self, vw_args: str, encoder: ContextEncoder, model_path: Path | None = None,
                 memory: NeighbourMemory | None = None):
        self.encoder = encoder
        self.memory = memory
        args = f"{vw_args} --quiet"
        if model_path is not None:
            # A saved model carries its options; passing the learning ones again would clash.
            args = f"-i {model_path} --quiet"
        self._vw = vowpalwabbit.Workspace(args)
        self._lock = threading.Lock()
        self.updates = 0

    @classmethod
    def from_settings(cls, settings: LearnerSettings, embedding_dim: int, model_path: Path | None = None) -> QualityLearner:
        encoder = ContextEncoder(embedding_dim, settings.projection_dims, settings.bucket_bits)
        memory = None
        if settings.neighbours:
            memory = NeighbourMemory(embedding_dim, settings.neighbours, settings.neighbour_prior_weight,
                                     settings.neighbour_sharpness, settings.neighbour_capacity)
        return cls(settings.vw_args, encoder, model_path, memory)

    def predict(self, context: Context, models: list[ModelSpec]) -> np.ndarray:
        """Expected quality of each model for this context, in [0, 1]."""
        lines = [self.encoder.shared_line(context)] + [action_line(m) for m in models]
        priors = np.array([m.prior(context.category) for m in models])
        with self._lock:
            estimates = np.clip(priors - np.asarray(self._vw.predict(lines)), 0.0, 1.0)
            if self.memory is not None:
                estimates = self.memory.blend(context.embedding, [m.id for m in models], estimates)
        return estimates

    def learn(self, context: Context, model: ModelSpec, quality: float, probability: float) -> None:
        """One observed outcome of the chosen model; VW minimises cost, so cost = −residual."""
        cost = -(quality - model.prior(context.category))
        lines = [self.encoder.shared_line(context), action_line(model, f"0:{cost:.6f}:{probability:.6f} ")]
        with self._lock:
            self._vw.learn(lines)
            self.updates += 1
            self._remember(context, model, quality)

    def remember(self, context: Context, model: ModelSpec, quality: float) -> None:
        """An outcome the VW snapshot already holds: only the neighbour memory needs it again."""
        with self._lock:
            self._remember(context, model, quality)

    def _remember(self, context: Context, model: ModelSpec, quality: float) -> None:
        if self.memory is not None:
            self.memory.add(model.id, context.embedding, quality)

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
