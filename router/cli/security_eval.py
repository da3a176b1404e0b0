"""security-eval and security-train: the security flag measured on labelled prompts, and the detector retrained.

security-eval reads every text exactly as Route does (the configured reader, with its MiniLM second
look) and counts, per label, how many are flagged as security work at a threshold, and by what: the
caller's hint, an explicit security term (a rule) or the trained detector's probability. Hint and
rule flags do not depend on the threshold, so a curve over thresholds needs each text read once.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from router.reading.classifier import Classification, SecuritySource
from router.reading.reader import PromptReader

BATCH = 256  # texts embedded per call: the reader's batches, as a benchmark sends them
# The curve's thresholds, 0.05 to 0.95; rounded so the JSON says 0.15, not 0.15000000000000002.
CURVE_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 20))
SOURCES = (SecuritySource.HINT, SecuritySource.RULE, SecuritySource.DETECTOR)


@dataclass(frozen=True)
class Example:
    text: str
    label: int


def read_examples(path: Path) -> list[Example]:
    """`{"text", "label"}` JSON lines (other keys ignored, blank lines skipped); ValueError naming the
    first bad line."""
    examples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    raise ValueError('expected an object with "text" (a string) and "label" (an integer)')
                examples.append(Example(row["text"], _label(row.get("label"))))
            except ValueError as exc:  # json.JSONDecodeError is one
                raise ValueError(f"{path}: line {number}: {exc}") from None
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def _label(value: object) -> int:
    # A float or a bool would be truncated or read as 0/1 by int(): say so instead of miscounting.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f'"label" must be an integer, not {json.dumps(value)}')


def classify(examples: list[Example], reader: PromptReader, batch: int = BATCH) -> list[Classification]:
    """Each text read as Route reads a one-message conversation with no system prompt and no hint."""
    classifications = []
    for start in range(0, len(examples), batch):
        prompts = [(e.text, e.text, "") for e in examples[start:start + batch]]
        classifications += [reading.classification for reading in reader.read_many(prompts)]
    return classifications


def evaluate(labels: list[int], classifications: list[Classification], threshold: float) -> dict:
    """Per label: how many texts, how many flagged at `threshold`; and the flags by source."""
    sources = [c.security_source(threshold) for c in classifications]
    return {"by_label": _by_label(labels, [bool(s) for s in sources]),
            "by_source": {source: sources.count(source) for source in SOURCES},
            "threshold": threshold}


def curve(labels: list[int], classifications: list[Classification],
          thresholds: tuple[float, ...] = CURVE_THRESHOLDS) -> list[dict]:
    """The flagged share of each label at each threshold."""
    return [{"threshold": t,
             "flagged_share": {label: figures["flagged_share"] for label, figures in
                               _by_label(labels, [bool(c.security_source(t)) for c in classifications]).items()}}
            for t in thresholds]


def _by_label(labels: list[int], flagged: list[bool]) -> dict[str, dict]:
    # Keys are strings (JSON's), in the labels' numeric order.
    counts, hits = Counter(labels), Counter(label for label, hit in zip(labels, flagged) if hit)
    return {str(label): {"n": counts[label], "flagged": hits[label], "flagged_share": hits[label] / counts[label]}
            for label in sorted(counts)}


def eval_table(report: dict) -> str:
    """The report as text: per label, then the flags by source."""
    lines = [f"security-eval --data {report['data']} (threshold {report['threshold']})",
             f"{'label':>8}{'n':>8}{'flagged':>10}{'share':>9}"]
    lines += [f"{label:>8}{row['n']:>8}{row['flagged']:>10}{row['flagged_share']:>9.1%}"
              for label, row in report["by_label"].items()]
    lines.append("flags by source: " + ", ".join(f"{source} {n}" for source, n in report["by_source"].items()))
    return "\n".join(lines)


def plot_curve(report: dict, path: Path) -> Path:
    """The flagged share of each label against the threshold, the chosen threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    thresholds = [point["threshold"] for point in report["curve"]]
    for label in report["by_label"]:
        ax.plot(thresholds, [point["flagged_share"][label] for point in report["curve"]], marker=".",
                label=f"label {label}")
    ax.axvline(report["threshold"], color="black", linestyle=":", linewidth=1,
               label=f"threshold {report['threshold']}")
    ax.set_xlabel("security threshold (detector probability)")
    ax.set_ylabel("share flagged as security work")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Security flags by label across thresholds\n{Path(report['data']).name}")
    ax.grid(alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_security_eval(data: Path, json_path: Path | None, threshold: float | None, config: Path | None,
                      curve_path: Path | None) -> int:
    """The security-eval command: print the table; write the JSON and the curve's plot when asked."""
    from router.config.check import check_config
    from router.reading.reader import build_reader

    settings = check_config(config).settings
    threshold = settings.tenant("").security_threshold if threshold is None else threshold
    if not 0 < threshold <= 1:
        return _error(f"--threshold must be in (0, 1], not {threshold}")
    try:
        examples = read_examples(data)
    except (OSError, ValueError) as exc:
        return _error(str(exc))
    reader = build_reader(settings.embedding, settings.security_recheck_above)
    classifications = classify(examples, reader)
    labels = [e.label for e in examples]
    report = {**evaluate(labels, classifications, threshold), "data": str(data), "second_looks": reader.rechecks}
    if curve_path:
        report["curve"] = curve(labels, classifications)
        plot_curve(report, curve_path)
    print(eval_table(report))
    print(f"{reader.rechecks} of {len(examples)} texts given a second look by MiniLM")
    if json_path:
        write_json(json_path, report)
        print(f"JSON: {json_path}")
    if curve_path:
        print(f"curve: {curve_path}")
    return 0


def training_table(report: dict) -> str:
    """A train_all report as text: per group, its size and each detector's cross-validated flagged share.

    MMLU's subjects are summed into one row: dozens of rows of general questions would hide the rest.
    """
    detectors = {name: _mmlu_summed(figures["cross_validated"]) for name, figures in report["detectors"].items()}
    groups = next(iter(detectors.values()))  # every detector is cross-validated on the same examples
    width = max(len(group) for group in groups) + 2
    lines = [f"cross-validated flagged share at threshold {report['threshold']} ({report['examples']} examples)",
             f"{'group':{width}}{'n':>7}" + "".join(f"{name:>10}" for name in detectors)]
    lines += [f"{group:{width}}{row['n']:>7}" + "".join(f"{figures[group]['flagged_share']:>10.1%}"
                                                        for figures in detectors.values())
              for group, row in groups.items()]
    lines += [f"{name} detector: {figures['path']}" for name, figures in report["detectors"].items()]
    return "\n".join(lines)


def _mmlu_summed(rates: dict[str, dict]) -> dict[str, dict]:
    summed: dict[str, dict] = {}
    for group, row in rates.items():
        name = "mmlu" if group.startswith("mmlu:") else group
        total = summed.setdefault(name, {"n": 0, "flagged": 0.0})
        total["n"] += row["n"]
        total["flagged"] += row["flagged_share"] * row["n"]
    return {name: {"n": row["n"], "flagged_share": row["flagged"] / row["n"]} for name, row in summed.items()}


def run_security_train(shared_data: str | None, out_dir: Path | None, json_path: Path | None,
                       threshold: float | None) -> int:
    """The security-train command: train and save both detectors, print their cross-validated figures.

    `shared_data` None: the shared data beside the checkout when it is there; "none": the project's own
    examples only.
    """
    from learners.security_training import default_shared_dir, train_all
    from router.config import Settings
    from router.reading.detector import packaged_path

    threshold = Settings().tenant("").security_threshold if threshold is None else threshold
    if not 0 < threshold <= 1:
        return _error(f"--threshold must be in (0, 1], not {threshold}")
    if shared_data is None:
        shared_dir = default_shared_dir()
    elif shared_data.lower() == "none":
        shared_dir = None
    else:
        shared_dir = Path(shared_data)
        if not (shared_dir / "security_dev.jsonl").exists():
            return _error(f"{shared_dir} holds no security_dev.jsonl (give --shared-data none to train without it)")
    out_dir = out_dir or packaged_path("").parent
    if not out_dir.is_dir():
        return _error(f"--out-dir {out_dir} is not a directory")
    # train_all runs both embeddings in one call, so this one line stands for the two starts.
    print(f"training the static detector, then the MiniLM one (a few minutes), on the project's own examples"
          f"{f' and {shared_dir}' if shared_dir else ' only'}…", flush=True)
    report = train_all(out_dir, shared_dir, threshold)
    print(training_table(report))
    if json_path:
        write_json(json_path, report)
        print(f"JSON: {json_path}")
    return 0


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
