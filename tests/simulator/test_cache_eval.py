"""cache-eval: its scores by hand on a tiny pairs file, and the command end to end."""

import json

import pytest

from simulator.cache_eval import Pair, load_pairs, lookup_scaling, run_cache_eval, scores
from simulator.datasets import CACHE_PAIRS_DEV

PAIRS = [Pair("a0", "b0", 1), Pair("a1", "b1", 1), Pair("a2", "b2", 0), Pair("a3", "b3", 0)]


def test_scores_count_only_a_duplicates_own_partner_as_right():
    # Query 0 finds its partner, query 1 finds another entry, query 2 (not a duplicate) hits, 3 misses.
    figures = scores([0, 2, 3, None], PAIRS)
    assert figures == {"duplicate_recall": 0.5, "false_hit_rate": 0.5, "precision": pytest.approx(1 / 3), "hits": 3}


def test_a_malformed_pairs_file_is_refused_with_the_item_named(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"text_a": "x", "text_b": "y", "label": 1}, {"text_a": "x", "label": 0}]))
    with pytest.raises(ValueError, match="item 1"):
        load_pairs(path)


def test_cache_eval_reports_the_guard_beside_plain_cosine(tmp_path, capsys):
    pairs = [
        {"text_a": "How do I learn Python quickly?", "text_b": "What is the fastest way to learn Python?", "label": 1},
        {"text_a": "What happened in 2002?", "text_b": "What happened in 1992?", "label": 0},
        {"text_a": "Why do cats purr?", "text_b": "Why do cats purr?", "label": 1},
        {"text_a": "Is coffee bad for you?", "text_b": "Is tea bad for you?", "label": 0},
    ]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs))
    assert run_cache_eval(path, tmp_path / "eval.json") == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["pairs"] == 4 and report["entries"] == 4
    assert report["guarded"]["duplicate_recall"] >= 0.5  # the word-for-word repeat at least
    assert report["guarded"]["false_hit_rate"] == 0.0  # "2002" is not "1992"
    for key in ("guarded", "plain_cosine"):
        assert set(report[key]) == {"duplicate_recall", "false_hit_rate", "precision", "hits"}
    assert "plain cosine" in capsys.readouterr().out


def test_lookup_scaling_measures_each_size(static_reader):
    figures = lookup_scaling([50, 200], static_reader.embedder, queries=40)
    assert [f["entries"] for f in figures.values()] == [50, 200]
    assert all(0 < f["lookup_p50_ms"] <= f["lookup_p99_ms"] for f in figures.values())


@pytest.mark.skipif(not CACHE_PAIRS_DEV.exists(), reason="../shared/data is not beside this checkout")
def test_the_dev_pairs_load():
    pairs = load_pairs(CACHE_PAIRS_DEV)
    assert len(pairs) == 2000 and {p.label for p in pairs} == {0, 1}
