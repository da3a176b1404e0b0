"""Training the security detector (router/reading/detector.py) from labelled prompts, reproducibly.

The examples: the project's own hand-written prompts (learners/security_data/train.jsonl: security
work phrased as ordinary features, explicit security work, hard negatives, ordinary requests) and,
when ../shared/data sits beside the checkout, its security set and routing prompts (all label 0).
A fixed 30% of each shared source, chosen by a hash of the text, is held out and never trained on;
learners/security_data/heldout.jsonl is never read here at all.

Settings are chosen by cross-validation over groups: a shared source's fold holds out a whole source
or MMLU subject, so the figures say how the detector meets a subject it has not seen. The score is
calibrated by Platt scaling on the out-of-fold scores, then the model is fitted on everything.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.reading.detector import NGRAM_BITS, SecurityDetector, ngram_ids
from router.reading.vectors import Embedder

DATA_DIR = Path(__file__).resolve().parent / "security_data"
TRAIN_FILE = DATA_DIR / "train.jsonl"
HELDOUT_SHARE = 0.3  # of each shared source, never trained on
FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    group: str  # where it comes from: "own:implicit", "cyberseceval-frr", "mmlu:anatomy", ...


def read_jsonl(path: Path, group_field: str, prefix: str = "") -> list[Example]:
    """`{"text", "label", <group_field>}` lines; the group is the field's value (a source's part before
    "/", so HumanEval's numbered ids make one group)."""
    examples = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                examples.append(Example(row["text"], int(row["label"]), prefix + str(row[group_field]).split("/")[0]))
    return examples


def own_examples(path: Path = TRAIN_FILE) -> list[Example]:
    return read_jsonl(path, "kind", "own:")


def shared_examples(data_dir: Path) -> list[Example]:
    """The shared security set and the routing prompts (none a security task)."""
    examples = read_jsonl(data_dir / "security_dev.jsonl", "source")
    with (data_dir / "routing_dev.csv").open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            group = f"mmlu:{row['subject']}" if row["source"] == "mmlu" else row["source"]
            examples.append(Example(row["prompt"], 0, group))
    return examples


def held_out(example: Example) -> bool:
    """Whether a shared example is in the fixed held-out share (by its text, so any copy agrees)."""
    return zlib.crc32(example.text.encode()) % 1000 < HELDOUT_SHARE * 1000


def split_shared(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """(trainable, held out) parts of the shared examples."""
    examples = list(examples)
    return [e for e in examples if not held_out(e)], [e for e in examples if held_out(e)]


def features(texts: list[str], embedder: Embedder, batch: int = 256):
    """The detector's inputs: the unit embedding, then the hashed n-gram indicators (sparse)."""
    from scipy import sparse

    embeddings = np.vstack([embedder.embed(texts[i:i + batch]) for i in range(0, len(texts), batch)])
    rows, cols = [], []
    for i, text in enumerate(texts):
        ids = ngram_ids(text)
        rows += [i] * len(ids)
        cols += ids.tolist()
    grams = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                              shape=(len(texts), 1 << NGRAM_BITS))
    return sparse.hstack([sparse.csr_matrix(embeddings), grams]).tocsr()


# Per embedding space: the regularisation and whether the hashed n-grams join the embedding. Chosen
# by the cross-validation below (`banditroute security-train --json` reports it): the static table
# blurs meaning, so words help it; MiniLM's vectors alone gave fewer false flags on general questions
# (GSM8K 0% against 2.0%, MT-Bench 0% against 1.7%) for 1.7 points less recall on implicit requests.
SETTINGS = {"static": {"C": 1.0, "ngrams": True}, "minilm": {"C": 1.0, "ngrams": False}}


def fold_of(example: Example) -> int:
    """Routing prompts fold by source or MMLU subject (a whole subject held out at a time, as the
    detector will meet unseen subjects); the rest by a hash of the text."""
    routing = example.group.startswith("mmlu:") or example.group in ("gsm8k", "mt_bench")
    return zlib.crc32((example.group if routing else example.text).encode()) % FOLDS


def fit_scores(X, y: np.ndarray, C: float):
    """A balanced L2 logistic regression (its coefficients and intercept)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=SEED).fit(X, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def out_of_fold_scores(X, y: np.ndarray, folds: np.ndarray, C: float) -> np.ndarray:
    scores = np.zeros(len(y))
    for fold in range(FOLDS):
        test = folds == fold
        weights, bias = fit_scores(X[~test], y[~test], C)
        scores[test] = X[test] @ weights + bias
    return scores


def platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: the 1-D logistic fit that turns scores into probabilities."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def train(examples: list[Example], embedder: Embedder, embedding: str) -> tuple[SecurityDetector, np.ndarray]:
    """The detector fitted on all `examples`, and each example's out-of-fold probability."""
    C, ngrams = SETTINGS[embedding]["C"], SETTINGS[embedding]["ngrams"]
    X = features([e.text for e in examples], embedder)
    if not ngrams:
        X = X[:, :embedder.dim]
    y = np.array([e.label for e in examples])
    oof = out_of_fold_scores(X, y, np.array([fold_of(e) for e in examples]), C)
    a, b = platt(oof, y)
    weights, bias = fit_scores(X, y, C)
    dims = embedder.dim
    ngram_weights = weights[dims:] if ngrams else np.zeros(1 << NGRAM_BITS, dtype=np.float32)
    detector = SecurityDetector(embedding, weights[:dims], ngram_weights, bias, (a, b))
    return detector, 1 / (1 + np.exp(-(a * oof + b)))


def flag_rates(probabilities: np.ndarray, examples: list[Example], threshold: float) -> dict[str, dict]:
    """Per group: how many examples, and the share at or above the threshold."""
    groups: dict[str, list[float]] = {}
    for example, probability in zip(examples, probabilities):
        groups.setdefault(example.group, []).append(probability)
    return {group: {"n": len(values), "flagged_share": float(np.mean(np.array(values) >= threshold))}
            for group, values in sorted(groups.items())}


def default_shared_dir() -> Path | None:
    """../shared/data beside the checkout, when it is there."""
    path = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return path if (path / "security_dev.jsonl").exists() else None


def training_examples(shared_dir: Path | None) -> list[Example]:
    """The project's own examples, and the trainable part of the shared ones when given."""
    examples = own_examples()
    if shared_dir is not None:
        examples += split_shared(shared_examples(shared_dir))[0]
    return examples


def train_all(out_dir: Path, shared_dir: Path | None, threshold: float) -> dict:
    """Train and save a detector per embedding space; their cross-validated flag rates by group."""
    from router.reading.detector import packaged_name
    from router.reading.minilm import load_embedder

    examples = training_examples(shared_dir)
    report = {"examples": len(examples), "shared_data": str(shared_dir) if shared_dir else None,
              "threshold": threshold, "detectors": {}}
    for embedding in ("static", "minilm"):
        detector, oof = train(examples, load_embedder(embedding), embedding)
        path = out_dir / packaged_name(embedding)
        detector.save(path)
        report["detectors"][embedding] = {"path": str(path), **SETTINGS[embedding],
                                          "cross_validated": flag_rates(oof, examples, threshold)}
    return report
