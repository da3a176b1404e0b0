"""What the simulate and replay commands share: a local service, output files, MLflow, tables."""

from __future__ import annotations

import json
from pathlib import Path

from router.config import Settings
from router.registry import Registry
from router.service import RouterService, open_service
from router.embedding import load_embedder
from router.reading import PromptReader, build_reader
from simulator.embedding_cache import CachedEmbedder

EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def benchmark_settings(config: Path | None, embedding: str | None) -> Settings:
    """The service's settings from a config file (defaults otherwise), --embedding taking precedence."""
    return Settings.load(config, embedding=embedding)


def benchmark_reader(settings: Settings) -> PromptReader:
    """Prompts read as the service would read them; MiniLM's vectors are kept on disk between runs."""
    return build_reader(settings.embedding, settings.security_recheck_gap,
                        lambda: CachedEmbedder(load_embedder("minilm"), EMBEDDING_MODEL))


def local_service(data_dir: Path, reader: PromptReader, seed: int, registry: Registry | None = None,
                  settings: Settings | None = None) -> RouterService:
    """A fresh service for a benchmark run: its own log, nothing learned, exploration seeded.

    The log is not fsynced per write: a benchmark that dies is simply run again.
    """
    settings = settings or Settings()
    settings = settings.model_copy(update={
        "data_dir": data_dir, "sqlite_synchronous": "NORMAL",
        "learner": settings.learner.model_copy(update={"seed": seed}),
    })
    return open_service(settings, reader, registry)


def write_json(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def plot_path(json_path: Path, name: str) -> Path:
    return json_path.with_name(f"{json_path.stem}-{name}.png")


def print_table(title: str, rows: dict[str, dict], columns: list[tuple[str, str, str]]) -> None:
    """rows: name → figures; columns: (key, heading, format)."""
    print(f"\n{title}")
    print(f"{'':18}" + "".join(f"{heading:>14}" for _, heading, _ in columns))
    for name, figures in rows.items():
        print(f"{name:18}" + "".join(f"{format(figures[key], fmt):>14}" for key, _, fmt in columns))
