"""forecast-backtest: the spend forecast against naive forecasts at rolling origins, on spend with a
trend and a weekly cycle."""

import json

import numpy as np
import pytest

from simulator.forecast_backtest import (MIN_TRAIN_DAYS, WEEKLY_FACTORS, backtest, cut_days, run_backtest,
                                         synthetic_spend, traffic_spend)


@pytest.mark.parametrize("seed", [1, 2])
def test_on_a_trend_and_a_weekly_cycle_the_forecast_beats_the_last_value(seed):
    score = backtest(synthetic_spend(70, seed), horizon=7, origins=4, name="synthetic")

    assert score.origins == 4
    assert score.method == "ets-damped-trend-weekly"
    assert score.mape["forecast"] < score.mape["last-value"]


def test_origins_leave_four_weeks_of_history_and_a_full_horizon_after_them():
    cuts = cut_days(days=120, horizon=7, origins=12)

    assert len(cuts) == 12
    assert cuts[0] == MIN_TRAIN_DAYS and cuts[-1] == 120 - 7
    assert cuts == sorted(set(cuts))


def test_a_series_too_short_for_one_origin_is_refused():
    with pytest.raises(ValueError, match="no origin"):
        cut_days(days=MIN_TRAIN_DAYS + 6, horizon=7, origins=3)


def test_the_synthetic_series_has_its_weekly_cycle():
    spend = synthetic_spend(28, seed=3, trend=0.0, noise_sd=0.0)

    assert spend[:7] == pytest.approx(40.0 * np.array(WEEKLY_FACTORS))


def test_the_simulated_ledger_spends_less_at_weekends():
    spend = np.array(traffic_spend(28, seed=1).spend)

    assert len(spend) == 28
    weekdays, weekends = spend.reshape(4, 7)[:, :5], spend.reshape(4, 7)[:, 5:]
    assert weekends.mean() < 0.7 * weekdays.mean()


def test_the_command_prints_writes_its_json_and_plots_the_last_origin(tmp_path, capsys):
    json_path, plot_path = tmp_path / "backtest.json", tmp_path / "backtest.png"

    result = run_backtest(days=MIN_TRAIN_DAYS + 7, horizon=7, origins=1, seed=5, json_path=json_path,
                          plot_path=plot_path)

    assert [score.series for score in result.scores] == ["synthetic", "traffic"]
    document = json.loads(json_path.read_text())
    assert document["scores"][1]["mape"]["forecast"] == result.scores[1].mape["forecast"]
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "naive (week)" in capsys.readouterr().out
