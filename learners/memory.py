"""A memory of recent outcomes per model, searched by prompt similarity.

A linear learner spreads what it learns over the whole space, so a pocket of prompts where the
cheap model fails (one MMLU subject, one request template) takes many mistakes to carve out.
The memory corrects the learner's estimate with what actually happened to the k most similar
prompts sent to the same model: q̂ = (Σ wᵢ·qᵢ + m·q̂_learner) / (Σ wᵢ + m), wᵢ = max(sᵢ, 0)^p.
Far from any memory the weights vanish and the learner's estimate stands; near many, the
neighbours decide. It is the nearest-neighbour router's idea, fed by bandit feedback only.
"""

from __future__ import annotations

import numpy as np


class NeighbourMemory:
    def __init__(self, dim: int, k: int, prior_weight: float, sharpness: float, capacity: int):
        self.dim = dim
        self.k = k
        self.prior_weight = prior_weight
        self.sharpness = sharpness
        self.capacity = capacity
        self._vectors: dict[str, np.ndarray] = {}
        self._quality: dict[str, np.ndarray] = {}
        self._added: dict[str, int] = {}

    def add(self, model_id: str, vector: np.ndarray, quality: float) -> None:
        """Remember one outcome; past capacity the oldest is overwritten (a ring)."""
        if model_id not in self._vectors:
            self._vectors[model_id] = np.zeros((self.capacity, self.dim), dtype=np.float32)
            self._quality[model_id] = np.zeros(self.capacity, dtype=np.float32)
            self._added[model_id] = 0
        slot = self._added[model_id] % self.capacity
        self._vectors[model_id][slot] = vector
        self._quality[model_id][slot] = quality
        self._added[model_id] += 1

    def blend(self, vector: np.ndarray, model_ids: list[str], estimates: np.ndarray) -> np.ndarray:
        """Each model's estimate pulled towards the outcomes of its nearest remembered prompts."""
        blended = np.array(estimates, dtype=np.float64)
        for i, model_id in enumerate(model_ids):
            size = min(self._added.get(model_id, 0), self.capacity)
            if not size:
                continue
            similarities = self._vectors[model_id][:size] @ vector
            nearest = np.argpartition(-similarities, self.k - 1)[: self.k] if size > self.k else np.arange(size)
            weights = np.maximum(similarities[nearest], 0.0) ** self.sharpness
            quality = self._quality[model_id][:size][nearest]
            blended[i] = (weights @ quality + self.prior_weight * estimates[i]) / (weights.sum() + self.prior_weight)
        return blended
