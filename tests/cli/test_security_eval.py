"""security-eval on a tiny hand-written file, end to end in process; security-train's table and help only
(training takes minutes)."""

import json

import pytest

from router.cli.main import main
from router.cli.security_eval import CURVE_THRESHOLDS, training_table

# Two lines name a security task outright (the rule flags them whatever the threshold), one asks for
# security work in ordinary words, three are ordinary; label 2 shows that any integer label is counted.
EXPLICIT = ["Audit this Flask login view for SQL injection vulnerabilities.",
            "Write a threat model for our payment API before the launch."]
LINES = [
    *({"text": text, "label": 1, "kind": "explicit"} for text in EXPLICIT),
    {"text": "Add an endpoint that takes a filename from the query string and returns that file from disk.",
     "label": 1},
    {"text": "What is the capital of Australia?", "label": 0},
    {"text": "Write a haiku about autumn leaves.", "label": 0},
    {"text": "Summarise the plot of Pride and Prejudice in three sentences.", "label": 0},
    {"text": "Convert 5 miles to kilometres.", "label": 2},
]


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text("\n".join(json.dumps(line) for line in LINES) + "\n\n")  # a blank line is skipped
    config = tmp_path / "config.yaml"
    config.write_text("security_recheck_above: 2\n")  # no MiniLM second look: the static reader only
    return data, config, tmp_path


def test_security_eval_counts_flags_per_label_and_source(files, capsys):
    data, config, tmp = files
    out, png = tmp / "eval.json", tmp / "curve.png"
    assert main(["security-eval", "--data", str(data), "--json", str(out), "--config", str(config),
                 "--threshold", "0.4", "--curve", str(png)]) == 0
    report = json.loads(out.read_text())
    assert report["threshold"] == 0.4 and report["data"] == str(data)
    assert {label: row["n"] for label, row in report["by_label"].items()} == {"0": 3, "1": 3, "2": 1}
    for row in report["by_label"].values():
        assert 0 <= row["flagged"] <= row["n"] and row["flagged_share"] == row["flagged"] / row["n"]
    # No hints are sent; exactly the two explicit lines hold a security term; every flag has one source.
    assert report["by_source"]["hint"] == 0 and report["by_source"]["rule"] == len(EXPLICIT)
    assert sum(report["by_source"].values()) == sum(row["flagged"] for row in report["by_label"].values())
    assert report["by_label"]["1"]["flagged"] >= len(EXPLICIT)
    assert report["second_looks"] == 0

    assert png.stat().st_size > 0
    assert [point["threshold"] for point in report["curve"]] == list(CURVE_THRESHOLDS)
    for label in report["by_label"]:
        shares = [point["flagged_share"][label] for point in report["curve"]]
        assert shares == sorted(shares, reverse=True), label  # a higher threshold never flags more
    # Rule flags do not depend on the threshold: label 1 keeps at least its two explicit lines throughout.
    assert min(point["flagged_share"]["1"] for point in report["curve"]) >= len(EXPLICIT) / 3
    printed = capsys.readouterr().out
    assert "flags by source: hint 0, rule 2" in printed and "threshold 0.4" in printed


def test_the_default_threshold_is_the_default_tenants(files):
    from router.config import Settings

    data, config, tmp = files
    out = tmp / "eval.json"
    assert main(["security-eval", "--data", str(data), "--json", str(out), "--config", str(config)]) == 0
    report = json.loads(out.read_text())
    assert report["threshold"] == Settings().tenant("").security_threshold
    assert "curve" not in report


@pytest.mark.parametrize("bad", ['{"text": "fine", "label": "high"}', '{"label": 1}', '{"text": "x", "label": 1.5}',
                                 "not json"])
def test_a_bad_line_exits_2_naming_the_line(files, capsys, bad):
    data, config, _ = files
    data.write_text(json.dumps(LINES[0]) + "\n" + bad + "\n")
    assert main(["security-eval", "--data", str(data), "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "line 2" in error and str(data) in error and len(error.strip().splitlines()) == 1


def test_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["security-eval", "--data", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


def test_training_table_sums_mmlu_subjects_into_one_row():
    rates = {"gsm8k": {"n": 10, "flagged_share": 0.1}, "mmlu:anatomy": {"n": 30, "flagged_share": 0.0},
             "mmlu:computer_security": {"n": 10, "flagged_share": 0.4}, "own:implicit": {"n": 4, "flagged_share": 1.0}}
    report = {"examples": 54, "threshold": 0.3, "detectors": {
        name: {"path": f"/x/{name}.npz", "cross_validated": rates} for name in ("static", "minilm")}}
    table = training_table(report)
    mmlu = next(line for line in table.splitlines() if line.startswith("mmlu"))
    assert mmlu.split() == ["mmlu", "40", "10.0%", "10.0%"]  # 4 of 40 flagged
    assert "mmlu:" not in table and "own:implicit" in table and "/x/minilm.npz" in table


@pytest.mark.parametrize("command, option", [("security-eval", "--curve"), ("security-train", "--shared-data")])
def test_help_works(command, option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and option in capsys.readouterr().out
