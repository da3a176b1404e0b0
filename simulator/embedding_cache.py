"""Embeddings computed once per text and kept on disk, so repeated benchmark runs are fast."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from router.reading.vectors import Embedder, cache_dir


def default_cache_path() -> Path:
    return cache_dir() / "embeddings.sqlite"


class CachedEmbedder:
    """Wraps an embedder; a text's vector is keyed by the model's name and the text's hash."""

    def __init__(self, embedder: Embedder, model_name: str, path: Path | None = None):
        self.embedder = embedder
        self.dim = embedder.dim
        self.model_name = model_name
        path = path or default_cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._memory: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memory]
        self._load(missing)
        todo = {k: t for k, t in zip(keys, texts) if k not in self._memory}
        if todo:
            vectors = self.embedder.embed(list(todo.values()))
            for key, vector in zip(todo, vectors):
                self._memory[key] = vector
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?)",
                    [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo, vectors)],
                )
        return np.stack([self._memory[k] for k in keys])

    def _load(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for key, blob in rows:
                self._memory[key] = np.frombuffer(blob, dtype=np.float32)

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).hexdigest()

    def close(self) -> None:
        self._db.close()
