"""Reading a prompt: embed it and classify it, fast, with a precise second look where safety needs one.

The static embedding costs microseconds but blurs meaning; the full MiniLM is precise but costs
milliseconds. Security recall is the one thing a blur must not cost, so a prompt to which the fast
security detector gives any real chance (`recheck_above`) is read again by the full model and its
detector, and that verdict stands; the rest (most general questions) never pay for MiniLM. A hint
or an explicit security term needs no second look. The fast embedding is the one the learner sees
either way, so its features stay in one space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from router.reading.classifier import Classification, Classifier
from router.reading.vectors import Embedder


@dataclass(frozen=True)
class Reading:
    embedding: np.ndarray  # what the learner sees: the fast embedding
    classification: Classification
    # The most precise embedder's vector (`PromptReader.precise_embedder`), when this read computed
    # it: the semantic cache compares these and need not compute it again.
    precise: np.ndarray | None = None


@dataclass
class PromptReader:
    embedder: Embedder
    classifier: Classifier
    precise: PromptReader | None = None
    # Re-read when the fast detector's security probability is at least this (above 1: never).
    recheck_above: float = 2.0
    rechecks: int = 0

    def read(self, text: str, rules_text: str, task_hint: str) -> Reading:
        """`text` is embedded (the conversation); `rules_text` is what keyword rules read (system prompt too)."""
        return self.read_many([(text, rules_text, task_hint)])[0]

    def read_many(self, prompts: list[tuple[str, str, str]]) -> list[Reading]:
        """Many (text, rules_text, task_hint) prompts, embedded as one batch; those that need a
        second look get it as one batch too."""
        embeddings = self.embedder.embed([text for text, _, _ in prompts])
        readings = [Reading(embedding, self.classifier.classify(rules_text, embedding, task_hint),
                            precise=embedding if self.precise is None else None)
                    for (_, rules_text, task_hint), embedding in zip(prompts, embeddings)]
        again = [i for i, reading in enumerate(readings) if self._needs_second_look(reading.classification)]
        if again:
            self.rechecks += len(again)
            for i, second in zip(again, self.precise.read_many([prompts[i] for i in again])):
                readings[i] = Reading(readings[i].embedding, second.classification, second.embedding)
        return readings

    @property
    def precise_embedder(self) -> Embedder:
        """The most precise embedder this reader holds: MiniLM when it has it."""
        return self.precise.embedder if self.precise is not None else self.embedder

    def second_look_texts(self, prompts: list[tuple[str, str, str]]) -> list[str]:
        """Of (text, rules_text, task_hint) triples, the texts `read` would hand to the precise model.

        A benchmark embeds these in batches up front, through a caching precise embedder.
        """
        return [text for text, rules_text, task_hint in prompts
                if self._needs_second_look(self.classifier.classify(rules_text, self.embedder.embed([text])[0], task_hint))]

    def _needs_second_look(self, classified: Classification) -> bool:
        return (self.precise is not None and not (classified.hinted or classified.ruled)
                and classified.security_probability >= self.recheck_above)


def build_reader(embedding: str, recheck_above: float,
                 load_minilm: Callable[[], Embedder] | None = None) -> PromptReader:
    """The configured reader: the static table with a MiniLM second look, or MiniLM alone; each with
    the security detector trained for its embedding.

    `load_minilm` lets a benchmark substitute a MiniLM whose vectors are cached on disk.
    """
    from router.reading.detector import load_detector
    from router.reading.minilm import load_embedder

    load_minilm = load_minilm or (lambda: load_embedder("minilm"))
    embedder = load_minilm() if embedding == "minilm" else load_embedder(embedding)
    reader = PromptReader(embedder, Classifier(embedder, detector=load_detector(embedding)))
    if embedding == "static" and recheck_above <= 1:
        precise = load_minilm()
        reader.precise = PromptReader(precise, Classifier(precise, detector=load_detector("minilm")))
        reader.recheck_above = recheck_above
    return reader
