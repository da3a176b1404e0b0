"""Test doubles shared by the suite: a fake embedder and a classifier on it, so that unit tests of the
service neither load MiniLM nor run it for every prompt (conftest's `make_service`).

`HashingEmbedder` is the one shared fake embedder. A text's vector is the signed sum of its hashed
lower-cased words and word bigrams (feature hashing), made unit length: equal texts give equal
vectors, texts sharing words are close (cosine about the share of features they have in common), and
unrelated texts are near orthogonal. It knows no meaning: a paraphrase in other words is far.

A classifier on it (`fake_classifier`) decides by the keyword rules, the task hint and exemplar word
overlap only: its security "detector" gives no probability, so a prompt is security work only when
hinted or when an explicit security term is in it. Tests whose assertions depend on MiniLM's sense of meaning (a
category found from wording alone, a semantic-cache hit between paraphrases, the trained detector's
verdict) use the real model: conftest's `make_minilm_service`, `embedder` and `classifier`.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from router.reading.vectors import EMBEDDING_DIM

_WORD = re.compile(r"\w+")
BIGRAM_WEIGHT = 0.5  # word order counts, but less than the words themselves
# Only a text's head is read, as MiniLM reads only its first 256 tokens: a huge prompt (the fuzz test
# sends 1.5 million characters) costs no more than a long one.
HEAD_CHARS = 4000


@lru_cache(maxsize=65_536)
def _slots(feature: str) -> tuple[int, float, int, float]:
    """Two (dimension, sign) slots per feature, from a stable hash (not Python's salted one), so a
    vector is the same in every process; two slots make a collision between two features rarer."""
    digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    a, b = int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")
    return a % EMBEDDING_DIM, (1.0 if a & 1 << 31 else -1.0), b % EMBEDDING_DIM, (1.0 if b & 1 << 31 else -1.0)


def _features(text: str) -> dict[str, float]:
    words = _WORD.findall(text.lower())
    if not words:
        # Punctuation, symbols or only spaces: the characters themselves, so every text has a unit vector.
        words = [char for char in text if not char.isspace()] or ["<empty>"]
    features: dict[str, float] = {}
    for word in words:
        features[word] = features.get(word, 0.0) + 1.0
    for first, second in zip(words, words[1:]):
        bigram = f"{first} {second}"
        features[bigram] = features.get(bigram, 0.0) + BIGRAM_WEIGHT
    return features


class HashingEmbedder:
    """A deterministic, model-free embedder: hashed word and word-bigram features, 384 dimensions,
    unit rows (router.reading.vectors.Embedder). Microseconds a text; thread-safe (no state but a
    cache of pure hashes)."""

    dim = EMBEDDING_DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            text = text[:HEAD_CHARS]
            vector = vectors[row]
            for feature, weight in _features(text).items():
                first, first_sign, second, second_sign = _slots(feature)
                vector[first] += first_sign * weight
                vector[second] += second_sign * weight
            norm = np.linalg.norm(vector)
            if norm == 0:  # every feature cancelled out (vanishingly rare): still a unit vector
                vector[_slots(text)[0]] = 1.0
            else:
                vector /= norm
        return vectors.astype(np.float32)


class NoDetector:
    """A security detector that never flags: with a fake embedding there is no trained one to trust,
    so only the caller's hint and the explicit security terms (router/reading/classifier.py) flag a prompt."""

    embedding = "fake"

    def probability(self, text: str, embedding: np.ndarray) -> float:
        return 0.0


def fake_classifier(embedder: HashingEmbedder):
    """The classifier the service's unit tests read prompts with (conftest's `fake_classifier`)."""
    from router.reading.classifier import Classifier

    return Classifier(embedder, detector=NoDetector())
