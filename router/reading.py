"""Reading a prompt: embed it and classify it, fast, with a precise second look where safety needs one.

The static embedding costs microseconds but blurs meaning; the full MiniLM is precise but costs
tens of milliseconds on two cores. Security recall is the one thing a blur must not cost, so a
prompt whose fast verdict is "not security" by a small margin is read again by the full model,
and that verdict stands. The fast embedding is the one the learner sees either way, so its
features stay in one space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from router.classifier import Classification, Classifier
from router.embedding import Embedder


@dataclass
class PromptReader:
    embedder: Embedder
    classifier: Classifier
    precise: PromptReader | None = None
    # Re-read when security_critical trails the winning category by less than this.
    recheck_gap: float = 0.0
    rechecks: int = 0

    def read(self, text: str, rules_text: str, task_hint: str) -> tuple[np.ndarray, Classification]:
        """`text` is embedded (the conversation); `rules_text` is what keyword rules read (system prompt too)."""
        embedding = self.embedder.embed([text])[0]
        classified = self.classifier.classify(rules_text, embedding, task_hint)
        if self.precise is not None and not classified.security and classified.security_gap < self.recheck_gap:
            self.rechecks += 1
            _, classified = self.precise.read(text, rules_text, task_hint)
        return embedding, classified


def build_reader(embedding: str, recheck_gap: float,
                 load_minilm: Callable[[], Embedder] | None = None) -> PromptReader:
    """The configured reader: the static table with a MiniLM second look, or MiniLM alone.

    `load_minilm` lets a benchmark substitute a MiniLM whose vectors are cached on disk.
    """
    from router.embedding import load_embedder

    load_minilm = load_minilm or (lambda: load_embedder("minilm"))
    embedder = load_minilm() if embedding == "minilm" else load_embedder(embedding)
    reader = PromptReader(embedder, Classifier(embedder))
    if embedding == "static" and recheck_gap > 0:
        precise = load_minilm()
        reader.precise = PromptReader(precise, Classifier(precise))
        reader.recheck_gap = recheck_gap
    return reader
