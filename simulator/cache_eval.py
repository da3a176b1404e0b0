"""cache-eval: the semantic cache against labelled question pairs (GPTCache's QQP benchmark format).

Every text_a is stored as a cached prompt of one tenant; every text_b is looked up. A label-1 query
should hit its own partner; a label-0 query should hit nothing: its partner is a different question,
usually on the same topic, which is exactly where a cache serves wrong answers.
"""

from __future__ import annotations

import ctypes
import gc
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from router.cache.entries import Prompt
from router.cache.guard import DEFAULT_THRESHOLD
from router.cache.semantic import SemanticCache, conversation_key, scope_of
from router.config import CacheSettings
from router.config.check import check_config
from router.domain.types import ChatMessage
from router.reading.vectors import Embedder
from router.storage.sqlite.cache_entries import CacheStore
from simulator.traffic import TrafficGenerator

TENANT = "cache-eval"
# Any cacheable category: the evaluation measures matching, not the TTL table.
CATEGORY = "simple_query"


@dataclass(frozen=True)
class Pair:
    text_a: str
    text_b: str
    label: int


def load_pairs(path: Path) -> list[Pair]:
    doc = json.loads(path.read_text())
    if not isinstance(doc, list):
        raise ValueError(f"{path}: expected a JSON list of {{text_a, text_b, label}}")
    pairs = []
    for i, item in enumerate(doc):
        try:
            pair = Pair(str(item["text_a"]), str(item["text_b"]), int(item["label"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: item {i} is not {{text_a, text_b, label}}: {exc}") from exc
        if pair.label not in (0, 1):
            raise ValueError(f"{path}: item {i} has label {pair.label}; labels are 0 or 1")
        pairs.append(pair)
    return pairs


def scores(hits: list[int | None], pairs: list[Pair]) -> dict:
    """hits[i]: the index of the pair whose text_a query i hit, or None."""
    duplicates = [i for i, p in enumerate(pairs) if p.label == 1]
    different = [i for i, p in enumerate(pairs) if p.label == 0]
    right = sum(hits[i] == i for i in duplicates)
    served = sum(h is not None for h in hits)
    # A hit is right only when a duplicate query finds its own partner.
    return {
        "duplicate_recall": right / len(duplicates) if duplicates else 0.0,
        "false_hit_rate": sum(hits[i] is not None for i in different) / len(different) if different else 0.0,
        "precision": right / served if served else 1.0,
        "hits": served,
    }


def evaluate(pairs: list[Pair], router_embedder: Embedder, precise: Embedder, settings: CacheSettings,
             data_dir: Path) -> dict:
    """Store every text_a, look up every text_b; the guard's scores beside plain cosine's."""
    threshold = settings.similarity_threshold
    a_router, a_precise = _embed(router_embedder, [p.text_a for p in pairs]), _embed(precise, [p.text_a for p in pairs])
    b_router, b_precise = _embed(router_embedder, [p.text_b for p in pairs]), _embed(precise, [p.text_b for p in pairs])
    cache = SemanticCache(settings, CacheStore(data_dir / "cache.sqlite"), precise)
    try:
        entry_pair = {}
        for i, pair in enumerate(tqdm(pairs, desc="storing text_a", unit="entry", leave=False, disable=None)):
            entry = _store(cache, f"a{i}", _prompt(pair.text_a, a_router[i], a_precise[i]))
            entry_pair[entry.entry_id] = i
        hits, latencies = [], []
        for i, pair in enumerate(tqdm(pairs, desc="looking up text_b", unit="query", leave=False, disable=None)):
            query = _prompt(pair.text_b, b_router[i], b_precise[i])
            start = time.perf_counter()
            hit, _ = cache.lookup(query, threshold)
            latencies.append((time.perf_counter() - start) * 1000)
            hits.append(entry_pair[hit.entry.entry_id] if hit else None)
        entries = cache.size()
    finally:
        cache.close()
    # Plain cosine: the nearest stored prompt by MiniLM cosine, served when at least the threshold.
    similarities = b_precise @ a_precise.T
    nearest = similarities.argmax(axis=1)
    plain = [int(j) if similarities[i, j] >= threshold else None for i, j in enumerate(nearest)]
    return {
        "pairs": len(pairs),
        "threshold": threshold,
        "guarded": scores(hits, pairs),
        "plain_cosine": scores(plain, pairs),
        "lookup_ms": {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99))},
        "entries": entries,
        "vector_bytes": int(a_router.nbytes + a_precise.nbytes),
    }


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return np.asarray(embedder.embed(texts), dtype=np.float32)


def _prompt(text: str, vector: np.ndarray, precise: np.ndarray) -> Prompt:
    return Prompt(TENANT, scope_of(TENANT, ""), conversation_key((ChatMessage("user", text),)), text, vector, precise)


def _store(cache: SemanticCache, decision_id: str, prompt: Prompt):
    cache.remember(decision_id, prompt)
    return cache.store_answer(decision_id, f"answer {decision_id}", CATEGORY, "gpt-4o")


def lookup_scaling(sizes: list[int], embedder: Embedder, queries: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Lookup latency and resident memory with one tenant's cache holding each of `sizes` entries.

    Entries are the distinct prompts of a synthetic traffic stream; the queries are the prompts
    that follow them in the stream, the generator's own mix of repeats, paraphrases and new ones.
    Both vectors of a prompt are its `embedder` vector: this measures the search, not MiniLM.
    """
    results = {}
    for size in sizes:
        stored, asked = _stream_split(size, queries, seed)
        vectors = _embed(embedder, stored)
        with tempfile.TemporaryDirectory(prefix="banditroute-cache-scale-") as tmp:
            before = _rss_mb()
            cache = SemanticCache(CacheSettings(capacity_per_tenant=size), CacheStore(Path(tmp) / "cache.sqlite"))
            start = time.perf_counter()
            for i, text in enumerate(tqdm(stored, desc=f"filling {size:,}", unit="entry", leave=False, disable=None)):
                _store(cache, f"d{i}", _prompt(text, vectors[i], vectors[i]))
            fill_seconds = time.perf_counter() - start
            latencies, hits = [], 0
            for text, vector in zip(asked, _embed(embedder, asked)):
                t = time.perf_counter()
                hit, _ = cache.lookup(_prompt(text, vector, vector), DEFAULT_THRESHOLD)
                latencies.append((time.perf_counter() - t) * 1000)
                hits += hit is not None
            results[f"{size:,}"] = {
                "entries": cache.size(),
                "hit_rate": hits / len(asked),
                "lookup_p50_ms": float(np.percentile(latencies, 50)),
                "lookup_p99_ms": float(np.percentile(latencies, 99)),
                "rss_added_mb": _rss_mb() - before,
                "fill_seconds": fill_seconds,
            }
            cache.close()
    return results


def _stream_split(size: int, queries: int, seed: int) -> tuple[list[str], list[str]]:
    """The first `size` distinct texts of a synthetic stream, then the next `queries` prompts."""
    stored, seen, asked = [], set(), []
    for prompt in TrafficGenerator(seed).stream(10 * (size + queries)):
        if len(stored) < size:
            if prompt.text not in seen:
                seen.add(prompt.text)
                stored.append(prompt.text)
        elif len(asked) < queries:
            asked.append(prompt.text)
        else:
            break
    return stored, asked


def _rss_mb() -> float:
    """Resident memory now (not the peak), from /proc, once freed heap has gone back to the system:
    the benchmark's own garbage would otherwise count as the cache's."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


SCALE_COLUMNS = [
    ("entries", "entries", "d"),
    ("hit_rate", "hit rate", ".1%"),
    ("lookup_p50_ms", "p50 ms", ".3f"),
    ("lookup_p99_ms", "p99 ms", ".3f"),
    ("rss_added_mb", "RSS +MB", ".0f"),
    ("fill_seconds", "fill s", ".1f"),
]


EVAL_COLUMNS = [
    ("duplicate_recall", "dup. recall", ".1%"),
    ("false_hit_rate", "false hits", ".1%"),
    ("precision", "precision", ".1%"),
    ("hits", "hits", "d"),
]


def run_cache_eval(pairs_path: Path, json_path: Path, config: Path | None = None,
                   threshold: float | None = None, scale: list[int] | None = None) -> int:
    """The cache-eval command: print the table, write the JSON."""
    from simulator.runs import benchmark_reader, print_table, write_json

    settings = check_config(config).settings
    cache_settings = settings.cache
    if threshold is not None:
        cache_settings = cache_settings.model_copy(update={"similarity_threshold": threshold})
    reader = benchmark_reader(settings)
    pairs = load_pairs(pairs_path)
    with tempfile.TemporaryDirectory(prefix="banditroute-cache-eval-") as tmp:
        report = evaluate(pairs, reader.embedder, reader.precise_embedder, cache_settings, Path(tmp))
    report["data"] = str(pairs_path)
    if scale:
        report["scaling"] = lookup_scaling(scale, reader.embedder)
    write_json(json_path, report)
    print_table(f"cache-eval --pairs {pairs_path} ({report['pairs']} pairs, threshold {report['threshold']})",
                {"guarded cache": report["guarded"], "plain cosine": report["plain_cosine"]}, EVAL_COLUMNS)
    print(f"\nlookup p50 {report['lookup_ms']['p50']:.3f} ms, p99 {report['lookup_ms']['p99']:.3f} ms "
          f"(embeddings computed beforehand) over {report['entries']} entries")
    if scale:
        print_table("lookup at scale (synthetic traffic, routing embedding)", report["scaling"],
                    SCALE_COLUMNS)
    print(f"JSON: {json_path}")
    return 0
