"""backtest's reports, on a backtest aggregated from task results made by hand."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, metrics, regimes, report, report_backtest
from forecast.jsonio import dumps


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
    days = backtest.breakdown(a, pd.Series(a.actual, index=a.dates), np.zeros(6), 30)
    inputs = report_backtest.backtest_chart_inputs(SimpleNamespace(**vars(a), seeds=seeds, breakdown=days))
    assert inputs["ratio"]["GRU"] == pytest.approx([1.02, 1.0])
    assert inputs["ratio_low"]["GRU"] == pytest.approx([1.0, 0.5]) and inputs["ratio_high"]["GRU"] == pytest.approx([1.05, 2.0])
    assert inputs["seeds"] == 3
    # seed-mean |error| − naive's per day: fold 1 (10 + 10.1 + 10.5) / 3 − 10 = 0.2, fold 2 (5 + 5 + 20) / 3 − 10 = 0
    assert inputs["excess"]["GRU"] == pytest.approx([0.2, 0.4, 0.6, 0.6, 0.6, 0.6])
    # one calendar year, all six days: the seed ratios 0.75, 0.755, 1.525 (below); LSTM 10 USD off like naive
    assert inputs["years"] == [2024] and list(inputs["close"]) == [100.0] * 3 + [200.0] * 3
    assert inputs["year_ratio"]["GRU"] == pytest.approx([1.01]) and inputs["year_ratio"]["LSTM"] == pytest.approx([1.0])
    assert inputs["year_low"]["GRU"] == pytest.approx([0.75]) and inputs["year_high"]["GRU"] == pytest.approx([1.525])
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


def hand_breakdown():
    """Four days, actual 100, naive 10 USD off: 2024-12-30..2025-01-02 in folds of 3 and 1 days (the
    second fold counts in 2025); bull, bull, bull, bear; GRU 1, 2, 3 and 6 USD off (seed 42) and 5
    every day (seed 43), LSTM exact."""
    actual = np.full(4, 100.0)
    labels = regimes.DayLabels(
        year=np.array([2024, 2024, 2025, 2025]), trend_return=np.array([0.2, 0.2, 0.2, -0.2]),
        trend=np.array(["bull"] * 3 + ["bear"], dtype=object), volatility=np.array([0.01, 0.02, 0.03, 0.04]),
        volatility_tercile=np.array(["calm", "calm", "middle", "volatile"], dtype=object),
        volatility_cuts=(0.02, 0.03), volatility_returns=30)
    points = {"gru": (actual + [-1, 2, -3, 6], actual + 5), "lstm": (actual, actual)}
    return regimes.breakdown(labels, actual, actual - 10, points, [3, 1], {"gru": [True, False], "lstm": [True, True]})


def test_chart_inputs_per_year_come_from_the_by_year_groups():
    """hand_breakdown's years: GRU in 2024 1 and 2 USD off (seed 42: ratio 0.15) and 5 (0.5), in 2025
    3 and 6 (0.45) and 5 (0.5); LSTM exact (0)."""
    b = SimpleNamespace(folds=(), cells={c: SimpleNamespace(excess=np.zeros(4)) for c in ("gru", "lstm")},
                        dates=pd.date_range("2024-12-30", periods=4), actual=np.full(4, 100.0),
                        breakdown=hand_breakdown(), seeds=(42, 43))
    inputs = report_backtest.backtest_chart_inputs(b)
    assert inputs["years"] == [2024, 2025]
    assert inputs["year_ratio"]["GRU"] == pytest.approx([0.325, 0.475])
    assert inputs["year_low"]["GRU"] == pytest.approx([0.15, 0.45])
    assert inputs["year_high"]["GRU"] == pytest.approx([0.5, 0.5])
    assert list(inputs["year_ratio"]["LSTM"]) == [0.0, 0.0]


def test_by_year_and_regime_tables_and_the_power_sentence():
    """2025's two days: GRU 3 and 6 USD off (MAE ratio 0.45, RMSE sqrt(22.5) / 10 = 0.474) and 5 (0.5), no
    DM test; one fold, GRU behind naive in it, LSTM ahead. The bear day: GRU 6 and 5 USD off (0.6 and 0.5).
    Power: d = 1, 2, 3, 6, sd sqrt(14 / 3) = 2.16 USD, detectable 2.8016 * 2.16 / 2 = 3.03 USD, 30.3%
    of naive's 10."""
    b = SimpleNamespace(breakdown=hand_breakdown(), seeds=(42, 43))
    assert report_backtest.power_sentence(b) == (
        "With 4 days and the measured spread of daily loss differences (std of |GRU error| - |LSTM error| 2.16 USD, "
        "seed 42), a GRU-LSTM MAE difference below 3.03 USD (30.3% of naive's MAE) could not be told apart from zero "
        "at 5% (two-sided; the smallest difference this run detects with 80% power).")
    lines = report_backtest.regimes_markdown(b, " (mean ± std over seeds)")
    assert lines[0] == "## By year (mean ± std over seeds)"
    na = "n/a (under 3 days)"
    assert (f"| 2025 | 2 | 1 | 0 | 1 | 10.0 | 0.475 ± 0.035 | 0.000 ± 0.000 | 0.487 ± 0.018 | 0.000 ± 0.000 | "
            f"{na} | {na} | {na} |") in lines
    assert ("- trend: log(close[t-1] / close[t-91]), the 90-day log return known the day before: bull above +0.10, "
            "bear below -0.10, sideways from -0.10 to +0.10 (both included); unknown: fewer than 91 closes before "
            "the day.") in lines
    assert any(line.startswith("- volatility: the std of the last 30 daily log returns") and
               line.endswith(": calm up to 2.00%, middle up to 3.00%, volatile above.") for line in lines)
    bear = next(line for line in lines if line.startswith("| trend: bear"))
    assert bear == (f"| trend: bear (below -0.10) | 1 | 10.0 | 0.550 ± 0.071 | 0.000 ± 0.000 | 0.550 ± 0.071 | "
                    f"0.000 ± 0.000 | {na} | {na} | {na} |")
    assert [line.split(" |")[0] for line in lines if line.startswith("| trend") or line.startswith("| volatility")] == [
        "| trend: bull (above +0.10)", "| trend: bear (below -0.10)", "| volatility: calm third",
        "| volatility: middle third", "| volatility: volatile third"]


def test_by_year_by_regime_and_power_in_json():
    b = SimpleNamespace(breakdown=hand_breakdown(), seeds=(42, 43))
    record = json.loads(dumps(report_backtest.regimes_record(b)))
    assert list(record) == ["by_year", "by_regime", "power"]
    years = record["by_year"]["groups"]
    assert list(years) == ["2024", "2025"] and [y["days"] for y in years.values()] == [2, 2]
    assert [y["folds"] for y in years.values()] == [1, 1]
    ahead = [(y["gru"]["folds_ahead_of_naive"], y["lstm"]["folds_ahead_of_naive"]) for y in years.values()]
    assert ahead == [(1, 1), (0, 1)]
    assert years["2025"]["dm_test"] is None  # 2 days: no DM test (null), said n/a in backtest.md
    trend = record["by_regime"]["trend"]
    assert (trend["days"], trend["threshold_log_return"], list(trend["groups"])) == (90, 0.1, ["bull", "bear"])
    bull = trend["groups"]["bull"]
    assert bull["gru"]["mae_ratio_vs_naive"]["values"] == pytest.approx([0.2, 0.5])
    assert "folds_ahead_of_naive" not in bull["gru"] and "folds" not in bull
    actual = np.full(3, 100.0)
    expected = metrics.dm_tests(actual, {"gru": actual + [-1, 2, -3], "lstm": actual, "naive": actual - 10})
    assert bull["dm_test"] == json.loads(dumps({pair: report.dm_record(t) for pair, t in expected.items()}))
    assert bull["dm_test"]["lstm_vs_naive"]["p_value"] is None  # a constant loss difference: no DM p-value
    volatility = record["by_regime"]["volatility"]
    assert volatility["cuts"] == {"calm_up_to": 0.02, "middle_up_to": 0.03} and volatility["returns"] == 30
    assert [g["days"] for g in volatility["groups"].values()] == [2, 1, 1]
    power = record["power"]
    assert [power[k] for k in ("seed", "days", "alpha", "power", "naive_mae_usd")] == [42, 4, 0.05, 0.8, 10]
    assert power["sd_usd"] == pytest.approx((14 / 3) ** 0.5)
    assert power["detectable_mae_difference_usd"] == pytest.approx(3.0260, abs=1e-4)
    assert power["detectable_pct_of_naive_mae"] == pytest.approx(30.260, abs=1e-3)
