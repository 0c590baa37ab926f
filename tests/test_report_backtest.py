"""backtest's reports, on a backtest aggregated from task results made by hand."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, metrics, report, report_backtest


def test_backtest_over_three_seeds_reports_the_mean_not_the_median():
    """Two folds of 3 days, naive 10 USD off every day. GRU is 10, 10.1 and 10.5 USD off on fold 1
    (ratios 1.00, 1.01, 1.05: mean 1.02, median 1.01) and 5, 5 and 20 on fold 2 (0.5, 0.5, 2: mean
    1.0, median 0.5). All six days: MAE 7.5, 7.55, 15.25 (ratios 0.75, 0.755, 1.525: mean 1.01,
    median 0.755). Neither fold is beaten by the seed mean (1.02 and 1.0 are not below 1); the
    median would count fold 2."""
    seeds = (42, 43, 44)
    folds = backtest.make_folds(pd.date_range("2024-01-01", periods=40), backtest.BacktestSettings(folds=2, step=3))
    off = {"gru": ((10.0, 10.1, 10.5), (5.0, 5.0, 20.0)), "lstm": ((10.0, 10.0, 10.0), (10.0, 10.0, 10.0))}
    results = {}
    for f in folds:
        actual, previous = (100.0, 90.0) if f.index == 0 else (200.0, 190.0)
        for cell, errors in off.items():
            for seed, e in zip(seeds, errors[f.index]):
                point = np.full(3, actual + e)
                forecast = metrics.Forecast(
                    dates=pd.date_range(f.test.first, periods=3), point=point, previous=np.full(3, previous),
                    volatility=np.zeros(3), bands={80.0: (point - 1, point + 1)},
                    naive_bands={80.0: (np.full(3, previous - 1), np.full(3, previous + 1))})
                results[f.index, cell, seed] = backtest.TaskResult(cell, seed, np.full(3, actual), forecast, 1, 1, 0.0)
    a = backtest.aggregate(folds, seeds, results)
    inputs = report_backtest.backtest_chart_inputs(SimpleNamespace(**vars(a), seeds=seeds))
    assert inputs["ratio"]["GRU"] == pytest.approx([1.02, 1.0])
    assert inputs["ratio_low"]["GRU"] == pytest.approx([1.0, 0.5]) and inputs["ratio_high"]["GRU"] == pytest.approx([1.05, 2.0])
    assert inputs["seeds"] == 3
    # seed-mean |error| − naive's per day: fold 1 (10 + 10.1 + 10.5) / 3 − 10 = 0.2, fold 2 (5 + 5 + 20) / 3 − 10 = 0
    assert inputs["excess"]["GRU"] == pytest.approx([0.2, 0.4, 0.6, 0.6, 0.6, 0.6])
    overall = report.over_seeds_record(a.cells["gru"])["mae_ratio_vs_naive"]
    assert overall["values"] == pytest.approx([0.75, 0.755, 1.525]) and overall["mean"] == pytest.approx(1.01)
    assert overall["std"] == pytest.approx(((0.26 ** 2 + 0.255 ** 2 + 0.515 ** 2) / 2) ** 0.5)
    assert a.cells["gru"].folds_beating_naive == 0.0
    assert [fr.beats_naive("gru") for fr in a.folds] == [False, False]


def test_backtest_verdict_says_how_many_folds_and_which_tests_depend_on_the_seed():
    """GRU behind naive in all 3 folds, LSTM ahead in all; over seeds 42 and 43 the GRU vs LSTM test
    and the LSTM vs naive test are significant for one seed only."""
    def cell(ratio):
        return SimpleNamespace(spread=lambda metric: metrics.Spread(ratio, None, (ratio,)))

    def dm(statistic, p):
        return metrics.DMTest(statistic, p, 30)

    by_seed = {42: {"gru_vs_lstm": dm(-2.0, 0.01), "gru_vs_naive": dm(1.0, 0.3), "lstm_vs_naive": dm(1.0, 0.3)},
               43: {"gru_vs_lstm": dm(-1.0, 0.2), "gru_vs_naive": dm(1.0, 0.4), "lstm_vs_naive": dm(1.0, 0.04)}}
    b = SimpleNamespace(cells={"gru": cell(1.02), "lstm": cell(0.98)}, dm=by_seed[42], dm_by_seed=by_seed,
                        folds=(1, 2, 3), seeds=(42, 43), folds_ahead={"gru": 0, "lstm": 3}.get)
    assert report_backtest.backtest_verdict(b) == [
        "GRU does not beat the naive forecast (MAE ratio 1.0200, DM p = 0.300).",
        "LSTM has a slightly lower MAE than the naive forecast (ratio 0.9800), but the difference is not "
        "significant (DM p = 0.300).",
        "GRU is significantly more accurate than LSTM (DM p = 0.010).",
        "GRU was behind naive in every one of the 3 folds.",
        "LSTM was ahead of naive in every one of the 3 folds.",
        "The GRU vs LSTM test depends on the seed: DM p from 0.010 to 0.200 over seeds 42, 43; read it as not settled.",
        "The LSTM vs naive test depends on the seed: DM p from 0.040 to 0.300 over seeds 42, 43; read it as not settled.",
    ]
    one = SimpleNamespace(**{**vars(b), "seeds": (42,), "dm_by_seed": {42: by_seed[42]},
                             "folds_ahead": {"gru": 1, "lstm": 2}.get})
    assert report_backtest.backtest_verdict(one)[3:] == ["GRU was ahead of naive in 1 of 3 folds.",
                                                          "LSTM was ahead of naive in 2 of 3 folds."]
