"""backtest_intervals: every interval method on the tiny backtest's folds, recomputed by hand from
the task files (the validation forecasts) and the price file (closes, windows), and the report."""

import json

import numpy as np
import pytest

from forecast import backtest, intervals
from forecast.backtest_intervals import FORECASTS
from forecast.backtest_plan import BacktestSettings
from forecast.csv_source import load_csv
from forecast.interval_methods import METHODS, PREDICT_METHODS, mean_square_return, window_sigma
from forecast.windows import windowed

from .backtest_helpers import FOLDS, SEEDS, STEP, WINDOW, task_records, tiny_config


@pytest.fixture(scope="module")
def result(tiny_serial, backtest_prices):
    """The tiny backtest again through the API: every task read back, nothing trained."""
    out = tiny_serial[0]
    b = backtest.backtest(tiny_config(backtest_prices, out), BacktestSettings(seeds=SEEDS, folds=FOLDS, step=STEP))
    assert b.trained == 0
    return b


def test_fixed_is_the_band_the_task_files_hold(result, tiny_serial):
    """The same validation days give the same q as the band training stored: two paths, one number."""
    records = task_records(tiny_serial[0])
    seed = result.seeds[0]
    for lv in result.intervals.levels:
        for cell in ("gru", "lstm"):
            stored = []
            for fr in result.folds:
                r = records[fr.fold.test.first, cell, seed]
                upper, point = np.array(r["intervals"][f"{lv:g}"]["model"]["upper"], dtype=float), np.array(r["point"])
                stored.append(np.log(upper / point))
            np.testing.assert_allclose(result.intervals.get("fixed", cell, lv).widths, np.concatenate(stored))


def test_scaled_by_hand_from_the_price_file_and_the_validation_forecasts(result, tiny_serial, backtest_prices):
    close = load_csv(backtest_prices).close
    X, y, dates = windowed(close, WINDOW)
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    records = task_records(tiny_serial[0])
    level, seed, expected = 80.0, result.seeds[0], []
    for fr in result.folds:
        split = fr.fold.split
        tv = mean_square_return(X[split.train], y[split.train])
        r = records[fr.fold.test.first, "gru", seed]
        assert r["validation"]["dates"] == [f"{d:%Y-%m-%d}" for d in dates[split.val]]
        scores = np.abs(np.log(y[split.val] / np.array(r["validation"]["point"]))) / window_sigma(X[split.val], tv)
        q = intervals.conformal_quantile(scores, level)
        expected.append(q * window_sigma(X[split.test], tv))
    np.testing.assert_allclose(result.intervals.get("scaled", "gru", level).widths, np.concatenate(expected))


def test_every_method_forecast_and_level_over_all_days_and_per_fold(result):
    bi = result.intervals
    days = sum(fr.fold.test.days for fr in result.folds)
    assert sorted(bi.results) == sorted((m, f, lv) for m in METHODS for f in FORECASTS for lv in bi.levels)
    for r in bi.results.values():
        assert r.overall.days == days and len(r.folds) == FOLDS and len(r.widths) == days
        assert [m.days for m in r.folds] == [fr.fold.test.days for fr in result.folds]
        inside = [m.coverage * m.days for m in r.folds]
        assert r.overall.coverage == pytest.approx(sum(inside) / days)  # the folds' days together
    # the naive forecast's fixed band is the one the backtest always reported
    for lv in bi.levels:
        assert bi.get("fixed", "naive", lv).overall.coverage == result.naive.naive_intervals[lv].coverage
    assert bi.choice.chosen in PREDICT_METHODS  # garch-t is a baseline, never drawn by predict
    assert "garch-t" not in PREDICT_METHODS and "aci" in PREDICT_METHODS


def test_the_report_and_the_json(tiny_serial, result):
    out, stdout, _ = tiny_serial
    record = json.loads(stdout)["interval_methods"]
    assert record["seed"] == result.seeds[0] and record["aci_gamma"] == 0.005
    assert set(record["methods"]) == set(METHODS)
    assert set(record["methods"]["scaled"]) == {"gru", "lstm", "naive"}
    gru80 = record["methods"]["scaled"]["gru"]["80"]
    assert gru80["coverage"] == result.intervals.get("scaled", "gru", 80.0).overall.coverage
    assert len(gru80["folds"]) == FOLDS
    assert record["choice"]["chosen"] == result.intervals.choice.chosen
    markdown = (out / "backtest.md").read_text()
    assert "## Interval methods (issue 20), seed 42" in markdown
    assert "### The backtest's pick" in markdown
