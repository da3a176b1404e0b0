"""The security detector: how likely a prompt is security work, from its embedding and its words.

A logistic model over two views of the prompt: its sentence embedding (what it is about, in any
wording) and hashed word unigrams and bigrams (the cues an embedding blurs: "upload", "query
string", "password"). Its score is calibrated (Platt scaling on held-out folds), so the output is a
probability that a threshold per tenant can read. It is trained by `banditroute security-train`
from labelled prompts (learners/security_training.py); the weights ship with the package, one file
per embedding space, and inference is a dot product: no download, no model run of its own.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

NGRAM_BITS = 12  # 4,096 hashed n-gram slots: collisions cost little at this vocabulary's size
NGRAM_CHARS = 4000  # the head of a prompt holds its ask; the words of a long paste say little more
_WORD = re.compile(r"[a-z0-9_]+")


def ngram_ids(text: str) -> np.ndarray:
    """The hashed slots of a text's lower-cased word unigrams and bigrams, each once, sorted. CRC-32,
    not Python's salted hash, so a slot is the same in training and in every process."""
    words = _WORD.findall(text[:NGRAM_CHARS].lower())
    grams = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
    return np.unique(np.array([zlib.crc32(g.encode()) & ((1 << NGRAM_BITS) - 1) for g in grams], dtype=np.int64))


@dataclass(frozen=True)
class SecurityDetector:
    embedding: str  # the embedding space the weights read: "static" or "minilm"
    embedding_weights: np.ndarray
    ngram_weights: np.ndarray
    bias: float
    platt: tuple[float, float]  # p = sigmoid(a·score + b)

    def probability(self, text: str, embedding: np.ndarray) -> float:
        """The calibrated probability that `text` (whose unit-norm embedding is given) is security work."""
        score = float(np.dot(self.embedding_weights, embedding)) + float(self.ngram_weights[ngram_ids(text)].sum())
        a, b = self.platt
        return _sigmoid(a * (score + self.bias) + b)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, embedding=np.array(self.embedding), embedding_weights=self.embedding_weights,
                            ngram_weights=self.ngram_weights, bias=self.bias, platt=np.array(self.platt))

    @classmethod
    def load(cls, path: Path) -> SecurityDetector:
        with np.load(path) as saved:
            return cls(str(saved["embedding"]), saved["embedding_weights"].astype(np.float32),
                       saved["ngram_weights"].astype(np.float32), float(saved["bias"]),
                       (float(saved["platt"][0]), float(saved["platt"][1])))


def packaged_name(embedding: str) -> str:
    return f"security_detector_{embedding}.npz"


def packaged_path(embedding: str) -> Path:
    return Path(str(resources.files("router.reading").joinpath(packaged_name(embedding))))


def load_detector(embedding: str) -> SecurityDetector:
    """The detector shipped with the package for this embedding space."""
    detector = SecurityDetector.load(packaged_path(embedding))
    if detector.embedding != embedding:
        raise ValueError(f"{packaged_path(embedding)} holds weights for the {detector.embedding!r} embedding")
    return detector


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
