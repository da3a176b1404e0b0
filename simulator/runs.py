"""What the simulate and replay commands share: a local service, output files, MLflow, tables."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import TqdmWarning, tqdm

from router.config import Settings
from router.config.check import check_config
from router.domain.registry import Registry
from router.domain.types import RouteRequest
from router.reading.minilm import load_embedder
from router.reading.reader import PromptReader, build_reader
from router.service import RouterService, open_service
from simulator.embedding_cache import CachedEmbedder
from simulator.routers import InProcessRouter

EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def benchmark_settings(config: Path | None, embedding: str | None) -> Settings:
    """The service's settings from a config file (defaults otherwise), --embedding taking precedence."""
    return check_config(config, embedding=embedding).settings


def benchmark_reader(settings: Settings) -> PromptReader:
    """Prompts read as the service would read them; MiniLM's vectors are kept on disk between runs."""
    return build_reader(settings.embedding, settings.security_recheck_above,
                        lambda: CachedEmbedder(load_embedder("minilm"), EMBEDDING_MODEL))


_READERS: dict[tuple, PromptReader] = {}


def shared_reader(settings: Settings) -> PromptReader:
    """One benchmark reader per process and reading configuration: loading one takes seconds."""
    key = (settings.embedding, settings.security_recheck_above)
    if key not in _READERS:
        _READERS[key] = benchmark_reader(settings)
    return _READERS[key]


def embed_ahead(reader: PromptReader, requests: list[RouteRequest], every_prompt: bool = False,
                batch: int = 256) -> int:
    """Run MiniLM once, in length-sorted batches, over the prompts the reader will give it.

    That is every prompt when MiniLM is the reader's embedder or when `every_prompt` (the semantic
    cache compares MiniLM's vectors), else the ones it will re-read. One prompt at a time, these
    passes dominate a cold benchmark run; in batches they cost less, and later reads (in any
    process) find the vectors in the on-disk cache. Returns how many distinct prompts were embedded.
    """
    prompts = [(r.conversation_text, r.rules_text, r.task_hint) for r in requests]
    embedder = reader.precise_embedder
    if not isinstance(embedder, CachedEmbedder):
        return 0
    if every_prompt or reader.precise is None:
        texts = [text for text, _, _ in prompts]
    else:
        texts = reader.second_look_texts(prompts)
    texts = sorted(set(texts), key=len)
    for start in progress(range(0, len(texts), batch), desc="MiniLM, ahead of time", unit="batch", leave=False):
        embedder.embed(texts[start : start + batch])
    return len(texts)


def progress(iterable: Iterable | None = None, show: bool = True, **options) -> tqdm:
    """A tqdm progress bar, drawn only on a terminal: in a notebook or a log file every redraw would
    stay behind as a line of output."""
    return tqdm(iterable, disable=None if show else True, **options)


def without_progress_bars() -> None:
    """No progress bars from the libraries the simulator drives either (transformers loading MiniLM's
    weights, MLflow downloading artifacts), for a notebook: there a bar is a line per redraw. Call it
    before importing MLflow, whose import of tqdm.auto would warn that the notebook gets text bars."""
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # read at each download
    with warnings.catch_warnings():
        # Importing tqdm.auto in a kernel without ipywidgets warns that its bars will be text; none are left.
        warnings.simplefilter("ignore", TqdmWarning)
        from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()


def local_service(data_dir: Path, reader: PromptReader, seed: int, registry: Registry | None = None,
                  settings: Settings | None = None, clock: Callable[[], float] = time.time) -> RouterService:
    """A fresh service for a benchmark run: its own log, nothing learned, exploration seeded.

    The log is not fsynced per write: a benchmark that dies is simply run again.
    """
    settings = settings or Settings()
    settings = settings.model_copy(update={
        "data_dir": data_dir, "sqlite_synchronous": "NORMAL",
        "learner": settings.learner.model_copy(update={"seed": seed}),
    })
    return open_service(settings, reader, registry, clock)


@dataclass(frozen=True)
class FreshLocalRouter:
    """Makes a fresh in-process router in a given directory; picklable, so a worker process can
    make its own (with its own reader, loaded once per process)."""

    settings: Settings
    seed: int
    registry: Registry | None = None

    def __call__(self, data_dir: Path) -> InProcessRouter:
        reader = shared_reader(self.settings)
        return InProcessRouter(local_service(data_dir, reader, self.seed, self.registry, self.settings))


def write_json(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def plot_path(json_path: Path, name: str) -> Path:
    return json_path.with_name(f"{json_path.stem}-{name}.png")


def print_table(title: str, rows: dict[str, dict], columns: list[tuple[str, str, str]]) -> None:
    """rows: name → figures; columns: (key, heading, format)."""
    width = max([18] + [len(name) + 2 for name in rows])
    print(f"\n{title}")
    print(f"{'':{width}}" + "".join(f"{heading:>14}" for _, heading, _ in columns))
    for name, figures in rows.items():
        print(f"{name:{width}}" + "".join(f"{format(figures[key], fmt):>14}" for key, _, fmt in columns))
