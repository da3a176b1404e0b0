"""`banditroute scaling` end to end on tiny settings against the session's PostgreSQL server, and its
histogram quantile on a histogram made by hand."""

import json
import math

import pytest

from simulator.probes import histogram_quantile, staleness
from simulator.scaling import Plan, run_scaling


def test_a_quantile_is_interpolated_within_the_bucket_it_falls_in():
    # 10 at or below 0.1 s, 80 more up to 1 s, 10 more up to 2 s: cumulative counts by upper bound.
    buckets = {0.1: 10, 1.0: 90, 2.0: 100, math.inf: 100}
    assert histogram_quantile(buckets, 0.05) == pytest.approx(0.05)  # half-way through the first, from 0
    assert histogram_quantile(buckets, 0.5) == pytest.approx(0.1 + 0.9 * 40 / 80)
    assert histogram_quantile(buckets, 0.99) == pytest.approx(1.0 + 1.0 * 9 / 10)
    assert histogram_quantile(buckets, 1.0) == pytest.approx(2.0)


def test_a_quantile_past_the_last_finite_bound_is_that_bound_and_an_empty_histogram_has_none():
    assert histogram_quantile({0.5: 1, 1.0: 1, math.inf: 10}, 0.99) == 1.0
    assert histogram_quantile({0.5: 0, math.inf: 0}, 0.5) is None
    with pytest.raises(ValueError):
        histogram_quantile({math.inf: 1}, 0)


def test_staleness_counts_only_what_was_observed_between_two_readings():
    before = {0.1: 5, 1.0: 5, math.inf: 5}
    after = {0.1: 5, 1.0: 15, math.inf: 15}
    grown = staleness(after, before)
    assert grown["observed"] == 10
    assert grown["p50_s"] == pytest.approx(0.1 + 0.9 * 5 / 10)


@pytest.mark.slow
def test_scaling_measures_sqlite_and_replicas_on_one_postgresql(postgres_server, tmp_path, capsys):
    feedbacks = 60
    # Two replicas only: one replica on PostgreSQL is the same measurement, one server fewer to start.
    assert run_scaling(postgres_server, 2, Plan(clients=2, seconds=1, feedbacks=feedbacks, idle_seconds=0.5),
                       tmp_path / "scaling.json", counts=(2,)) == 0
    figures = json.loads((tmp_path / "scaling.json").read_text())
    assert [(c["storage"], c["replicas"]) for c in figures["configurations"]] == [("SQLite", 1), ("PostgreSQL", 2)]
    assert figures["postgresql"]["server"] == "given"
    for c in figures["configurations"]:
        assert c["route"]["routes"] > 0 and c["route"]["errors"] == 0
        # round_robin: every replica took a share of the load, and together all of it.
        each = c["route"]["each_replica"]
        assert len(each) == c["replicas"] and all(n > 0 for n in each) and sum(each) == c["route"]["routes"]
        assert c["cpu_s_per_route"]["servers"] > 0
        assert c["feedback"]["accepted"] == feedbacks and c["feedback"]["errors"] == 0
        replicas = c["staleness"]["replicas"]
        assert len(replicas) == c["replicas"] == len(c["server_rss_mb"])
        # Every replica learns every feedback, its own and the others'.
        assert all(r["observed"] == feedbacks and r["p99_s"] is not None for r in replicas)
        caught_up = c["caught_up"]
        assert caught_up["seconds"] is not None
        assert caught_up["learned_seq"] == [caught_up["log_seq"]] * c["replicas"]
        assert caught_up["log_seq"] >= feedbacks
    for c in figures["configurations"][1:]:
        assert c["cpu_s_per_route"]["database"] > 0  # the session's server runs on this machine
        writes = c["database_per_route"]
        assert writes["rows_written"] > 0 and writes["transactions"] > 0 and writes["wal_bytes"] > 0
    assert figures["configurations"][0]["database_per_route"] is None
    table = capsys.readouterr().out
    assert "PostgreSQL x2" in table and "staleness p99 ms, worst replica" in table
