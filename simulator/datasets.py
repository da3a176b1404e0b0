"""Real labelled routing data: prompts with each model's measured answer quality.

The format is that of ../shared/data/routing_dev.csv: `id, source, subject, prompt`, then one
quality column in [0, 1] per model. The data stays where it is: read, never copied.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# Where the shared evaluation data sits beside a checkout; absent on a user's fresh clone.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ROUTING_DEV = SHARED_DATA / "routing_dev.csv"
CACHE_PAIRS_DEV = SHARED_DATA / "cache_pairs_dev.json"
_FIXED_COLUMNS = ("id", "source", "subject", "prompt")


@dataclass(frozen=True)
class LabelledPrompt:
    id: str
    source: str
    subject: str
    prompt: str
    quality: dict[str, float]  # model id → quality of its answer


def load_labelled_csv(path: Path, model_map: dict[str, str] | None = None) -> list[LabelledPrompt]:
    """Rows of a routing CSV; `model_map` renames quality columns to registry model ids."""
    model_map = model_map or {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _FIXED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        model_columns = [c for c in reader.fieldnames if c not in _FIXED_COLUMNS]
        if len(model_columns) < 2:
            raise ValueError(f"{path}: needs a quality column for at least two models")
        return [_row(row, model_columns, model_map, path) for row in reader]


def _row(row: dict, model_columns: list[str], model_map: dict[str, str], path: Path) -> LabelledPrompt:
    quality = {}
    for column in model_columns:
        value = float(row[column])
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: row {row['id']}: {column} = {value} is outside [0, 1]")
        quality[model_map.get(column, column)] = value
    return LabelledPrompt(row["id"], row["source"], row["subject"], row["prompt"], quality)
