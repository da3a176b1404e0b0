"""compression-eval: its checks by hand, the measurement on a tiny CSV, a skip without the data, and the
real routing_dev.csv (a slice of it) when ../shared/data is beside the checkout."""

import csv
import json
from pathlib import Path

import pytest

from router.client.compression import LEVELS
from router.domain.types import ChatMessage
from simulator.compression_eval import (SOURCES, VARIANTS, evaluate, flags, print_compression_report,
                                        run_compression_eval)
from simulator.datasets import load_labelled_csv

ROUTING_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing_dev.csv"
ROWS = [
    ("mt_bench", "writing", "Draft a short  note to my team.\n\n\n\nIt must not exceed 50 words."),
    ("mt_bench", "coding", "Explain this code:\n```python\nfor i in range(3):\n    print(i  *  2)\n```"),
    ("mt_bench", "reasoning", "Alice is 3 years older than Bob. Bob is not 10. What can we say about Alice?"),
    ("gsm8k", "grade_school_math", "Tom has 5 apples.  He eats 2. How many are left?"),
    ("gsm8k", "grade_school_math", "A train travels 60 miles per hour for 2.5 hours. How far does it go?"),
    ("gsm8k", "grade_school_math", "Sara saves $1,200 a year without fail. How much after 3 years?"),
    ("gsm8k", "grade_school_math", "There are no cats and 4 dogs. How many legs in total?"),
    ("mmlu", "anatomy", "Which bone is the longest?\nA. femur\nB. tibia\nAnswer:"),
]


def write_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "source", "subject", "prompt", "mixtral-8x7b-instruct", "gpt-4-1106-preview"])
        for i, (source, subject, prompt) in enumerate(ROWS):
            writer.writerow([f"{source}/{subject}/{i}", source, subject, prompt, 0.5, 1.0])
    return path


def test_each_check_raises_its_own_flag():
    before = (ChatMessage("user", "It is not 5. Keep it.\n```\nx = 1\n```"), ChatMessage("user", "Why 7?"))
    cases = {
        "numbers_lost": (ChatMessage("user", "Keep it.\n```\nx = 1\n```"), before[1]),
        "code_changed": (ChatMessage("user", "It is not 5. Keep it."), before[1]),
        "question_changed": (before[0], ChatMessage("user", "Why?")),
    }
    assert not any(flags(before, before, "Why 7?")[name] for name in cases)
    for name, after in cases.items():
        raised = flags(before, after, "Why 7?")
        assert raised[name] and raised["meaning_flagged"], name
    assert flags(before, cases["numbers_lost"], "Why 7?")["negations_lost"]  # "It is not 5." carried both


def test_compression_eval_reports_every_source_variant_and_level(tmp_path, capsys):
    json_path = tmp_path / "eval.json"
    report = run_compression_eval(write_csv(tmp_path / "dev.csv"), json_path)
    assert not report.skipped
    assert [(c.source, c.variant, c.level) for c in report.cells] == [
        (s, v, lvl) for s in SOURCES for v in VARIANTS for lvl in LEVELS]
    assert {c.conversations for c in report.cells if c.source == "gsm8k"} == {4}  # mmlu is left out
    for cell in report.cells:
        assert cell.tokens_after <= cell.tokens_before
        assert cell.question_changed == cell.code_changed == 0.0
    pasted = [c for c in report.cells if c.variant == "pasted context"]
    for source in SOURCES:
        light, medium, aggressive = [c.saving for c in pasted if c.source == source]
        assert 0 < light <= medium <= aggressive  # the construction has whitespace, filler and repeats
    writing = [c for c in report.cells if c.source == "mt_bench" and c.variant == "prompt alone"]
    assert all(c.changed > 0 for c in writing)  # the first prompt's blank lines, before its question
    document = json.loads(json_path.read_text())
    assert len(document["cells"]) == len(report.cells) and "saving" in document["cells"][0]
    print_compression_report(report, json_path)
    out = capsys.readouterr().out
    assert "gsm8k · pasted context · aggressive" in out and "pasted context:" in out


def test_a_missing_data_file_is_skipped_with_a_message(tmp_path, capsys):
    json_path = tmp_path / "eval.json"
    report = run_compression_eval(tmp_path / "absent.csv", json_path)
    assert report.skipped and not report.cells and not json_path.exists()
    print_compression_report(report)
    assert "skipped" in capsys.readouterr().out


@pytest.mark.skipif(not ROUTING_DEV.exists(), reason="../shared/data is not beside this checkout")
def test_on_the_real_prompts_the_question_and_the_code_survive():
    rows = load_labelled_csv(ROUTING_DEV)
    prompts = {source: [r.prompt for r in rows if r.source == source][:12] for source in SOURCES}
    for cell in evaluate(prompts):
        assert cell.conversations == 12
        assert cell.question_changed == cell.code_changed == 0.0
        if cell.variant == "prompt alone":
            assert cell.meaning_flagged == 0.0
