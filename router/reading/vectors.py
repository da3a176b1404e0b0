"""What every embedding shares: its dimension, the Embedder interface, unit rows, and the cache
directory where what is computed once from the packaged model is kept."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

EMBEDDING_DIM = 384


class Embedder(Protocol):
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        ...


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length; an all-zero row (a text with no known token) stays zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def cache_dir() -> Path:
    """Where what is computed once from the packaged model is kept (the user's cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "banditroute"
