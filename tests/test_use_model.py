"""Saved models in use: the load round trip, the next day's forecast and errors over a range."""

import json
import math
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecast import inference, publish, report_use_model, saved_model, train, use_model
from forecast.config import Config
from forecast.csv_source import load_csv
from forecast.errors import DataError
from tests.conftest import random_walk, write_yahoo_csv

WINDOW = 5


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_yahoo_csv(tmp_path_factory.mktemp("prices") / "prices.csv", random_walk(120))


@pytest.fixture(scope="module", params=["gru", "lstm"])
def trained(request, tmp_path_factory, csv_path):
    """One saved run per cell, trained on the CSV the tests then predict from (read only)."""
    cfg = Config(cell=request.param, csv=csv_path, window=WINDOW, units=4, epochs=2, batch_size=16,
                 patience=1, quiet=True, jit_compile=False, out=tmp_path_factory.mktemp(f"out-{request.param}"))
    result = train.train(cfg, load_csv(csv_path))
    publish.save_trained(cfg.out, result)
    return cfg, result


def test_load_round_trip(trained):
    cfg, result = trained
    directory = saved_model.run_dir(cfg.out, cfg.cell)
    saved = saved_model.load_model(directory)
    assert saved.info == result.info
    assert saved.history is None and saved.test is None
    for loaded, original in zip(saved.model.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(loaded, original)
    from_disk = inference.forecast_scored(saved, *_test_windows(cfg, result))
    # The trained model predicts through XLA (jit_compile), the loaded one without: float32 round-off.
    np.testing.assert_allclose(from_disk.forecast.point, result.test.forecast.point, rtol=1e-7, atol=0)
    assert from_disk.metrics.intervals.keys() == result.test.metrics.intervals.keys()


def _test_windows(cfg, result):
    close = load_csv(cfg.csv).close.to_numpy()
    days = result.info.split["test"].days
    X = np.array([close[i - WINDOW:i] for i in range(len(close) - days, len(close))])
    return X, close[-days:], pd.date_range(result.info.split["test"].first, periods=days)


def test_next_day(trained, csv_path):
    cfg, result = trained
    close = load_csv(csv_path).close
    forecast = use_model.next_day(cfg.replace(interval_method="fixed"))

    assert forecast.cell == cfg.cell
    assert forecast.source == str(csv_path)
    assert forecast.last_date == "2021-04-30"
    assert forecast.date == "2021-05-01"  # the last date + 1 day
    assert forecast.last_close == close.iloc[-1]
    # By hand: the model's output in scaled log-return units, back to USD.
    last = close.to_numpy()[-WINDOW:]
    scale = result.info.scaling.scale
    z = result.model.predict((np.log(last / last[-1]) / scale)[None, :, None].astype("float32"), verbose=0)[0, 0]
    assert forecast.predicted_close == pytest.approx(last[-1] * np.exp(float(z) * scale), rel=1e-7)
    assert forecast.change_pct == pytest.approx(100 * (forecast.predicted_close / close.iloc[-1] - 1))
    q = result.info.calibration.model[80.0]
    assert forecast.intervals[80.0] == pytest.approx((forecast.predicted_close * np.exp(-q),
                                                      forecast.predicted_close * np.exp(q)))
    assert forecast.test == result.info.test
    json.dumps(report_use_model.next_day_record(forecast))  # plain JSON (an unbounded 95% interval included)
    default = use_model.next_day(cfg)  # aci: it held on the 2018-2025 backtest and long after calibration
    assert default.method == "aci" and default.intervals == forecast.methods["aci"]
    assert default.predicted_close == forecast.predicted_close


def test_next_day_says_how_old_the_calibration_is(trained):
    """115 target days 2021-01-06..2021-04-30: 81 training, 17 validation (2021-03-28..2021-04-13), 17
    test; the day forecast, 2021-05-01, is 18 days after the last validation day."""
    cfg, result = trained
    forecast = use_model.next_day(cfg)
    assert (forecast.calibrated, forecast.calibration_age_days) == (("2021-03-28", "2021-04-13"), 18)
    lines = report_use_model.next_day_text(forecast).splitlines()
    assert lines[-2] == ("  calibrated  on 2021-03-28..2021-04-13 (validation days), 18 days before the day forecast; "
                         "aci adapted over the 17 days since")
    assert report_use_model.next_day_record(forecast)["calibration"] == {
        "first_date": "2021-03-28", "last_date": "2021-04-13", "days_before_forecast": 18,
        "meaning": "the validation days every interval method was calibrated on, and how many days the last of "
                   "them lies before the day forecast"}
    earlier = use_model.next_day(cfg.replace(end=date(2021, 4, 11)))  # the day forecast, 2021-04-12, is a validation day
    assert earlier.calibration_age_days == -1
    assert "(validation days), 1 day after the day forecast; aci at its nominal level (no day since)" in \
        report_use_model.next_day_text(earlier)
    assert earlier.adapted_days == 0 and earlier.intervals == earlier.methods["scaled"]  # alpha never moved


def test_predict_draws_aci_over_the_days_since_the_calibration(trained, csv_path):
    """By hand: ACI's level runs over the 17 days after the calibration whose close is known
    (2021-04-14..2021-04-30), starting at alpha 0.2; each day's q is the ceil(18 (1 - alpha))-th of the 17
    sorted validation scores (|log error| / sigma; unbounded past the 17th), the band point * exp(+-q sigma),
    and alpha moves by gamma (0.2 - missed). Tomorrow's band is q(alpha after the 17 days) x tomorrow's sigma.
    gamma 0.3 moves alpha by 0.06 after a day inside: past one rank (1/18) at every step."""
    cfg, result = trained
    r = use_model.next_day(cfg.replace(aci_gamma=0.3))
    assert (r.method, r.adapted_days, r.aci_gamma) == ("aci", 17, 0.3)
    close = load_csv(csv_path).close.to_numpy()
    scale, vc = result.info.scaling.scale, result.info.volatility
    scores = sorted(vc.scores["model"])

    def point(window):
        z = result.model.predict((np.log(window / window[-1]) / scale)[None, :, None].astype("float32"), verbose=0)
        return window[-1] * np.exp(float(z[0, 0]) * scale)

    def sigma(window):
        var = vc.train_variance
        for a, b in zip(window, window[1:]):
            var = 0.94 * var + 0.06 * np.log(b / a) ** 2
        return np.sqrt(var)

    def q(alpha):
        rank = math.ceil(round(18 * (1 - alpha), 9))
        return math.inf if alpha <= 0 or rank > 17 else 0.0 if alpha >= 1 else scores[rank - 1]

    alpha, ranks = 0.2, set()
    for i in range(len(close) - 17, len(close)):  # 2021-04-14..2021-04-30
        window = close[i - WINDOW:i]
        width = q(alpha) * sigma(window)
        ranks.add(math.ceil(round(18 * (1 - alpha), 9)))
        alpha += 0.3 * (0.2 - (abs(np.log(close[i] / point(window))) > width))
    last = close[-WINDOW:]
    width = q(alpha) * sigma(last)
    assert len(ranks) > 1  # the level did move: this is not the scaled band
    assert r.intervals[80.0] == pytest.approx((point(last) * np.exp(-width), point(last) * np.exp(width)), rel=1e-6)
    assert r.intervals == r.methods["aci"]


def test_next_day_from_an_earlier_end(trained):
    cfg, _ = trained
    forecast = use_model.next_day(cfg.replace(end=date(2021, 2, 28)))
    assert (forecast.last_date, forecast.date) == ("2021-02-28", "2021-03-01")


def test_evaluate_the_test_split_again(trained):
    """The saved model over the test days reproduces the metrics saved at training time."""
    cfg, result = trained
    test = result.info.split["test"]
    got = use_model.evaluate_range(cfg, date.fromisoformat(test.first), date.fromisoformat(test.last))
    assert got.chart is None  # computing writes nothing: publish draws the chart
    got = publish.with_evaluate_chart(cfg.out, got)
    metrics = got.evaluation.metrics

    assert (metrics.first_date, metrics.last_date, metrics.days) == (test.first, test.last, 17)
    assert got.model_saw_until == result.info.split["val"].last
    for key in ("mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive"):
        assert getattr(metrics, key) == pytest.approx(getattr(result.test.metrics, key), rel=1e-6)
    assert metrics.naive == result.test.metrics.naive

    chart = cfg.out / "reports" / f"evaluate_{cfg.cell}_{test.first}_{test.last}.png"
    assert got.chart == chart and chart.read_bytes().startswith(b"\x89PNG")
    text = report_use_model.evaluate_text(got)
    assert f"target days {test.first}..{test.last} (17 days)" in text
    assert "| naive (tomorrow = today) |" in text
    assert "not out-of-sample" not in text  # the test days follow validation
    assert text.endswith(f"chart: {chart}")


def test_evaluate_notes_overlap_with_training(trained):
    cfg, _ = trained
    got = use_model.evaluate_range(cfg, date(2021, 1, 10), date(2021, 1, 20))
    assert got.evaluation.metrics.days == 11
    assert "note: the range overlaps the days the model was trained or early-stopped on (up to 2021-04-13)" \
        in report_use_model.evaluate_text(got)


def test_evaluate_a_read_only_model_skips_the_chart_with_a_warning(trained, tmp_path, caplog):
    cfg, _ = trained
    blocked = tmp_path / "out"
    shutil.copytree(cfg.out / cfg.cell, blocked / cfg.cell)
    (blocked / "reports").write_text("a file where the reports folder would go")
    got = publish.with_evaluate_chart(blocked, use_model.evaluate_range(cfg.replace(out=blocked), date(2021, 4, 1), None))
    assert got.chart is None and got.evaluation.metrics.days == 30
    assert "chart not written: cannot save" in caplog.text


def test_range_windows(trained, csv_path):
    cfg, result = trained
    prices = load_csv(csv_path)
    X, y, dates, F = use_model.range_windows(WINDOW, prices, date(2021, 4, 1), None)
    assert list(dates) == list(pd.date_range("2021-04-01", "2021-04-30")) and F is None
    np.testing.assert_array_equal(y, prices.close.loc["2021-04-01":].to_numpy())
    np.testing.assert_array_equal(X[:, -1], prices.close.loc["2021-03-31":"2021-04-29"].to_numpy())
    np.testing.assert_array_equal(X[0], prices.close.loc["2021-03-27":"2021-03-31"].to_numpy())
    # With the high beside the close, each window's highs relative to its own last close, on the same days.
    _, _, _, F = use_model.range_windows(WINDOW, prices, date(2021, 4, 1), None, ("close", "high"))
    high = prices.table["high"]
    np.testing.assert_allclose(F[0, :, 0], np.log(high.loc["2021-03-27":"2021-03-31"].to_numpy() / X[0, -1]))
    np.testing.assert_allclose(F[-1, :, 0], np.log(high.loc["2021-04-25":"2021-04-29"].to_numpy() / X[-1, -1]))


@pytest.mark.parametrize(("since", "until", "message"), [
    (date(2030, 1, 1), None, "no target days between 2030-01-01 and the end: "
                             "with a 5-day window the data allow 2021-01-06..2021-04-30"),
    (None, date(2021, 1, 5), "no target days between the start and 2021-01-05: "
                             "with a 5-day window the data allow 2021-01-06..2021-04-30"),
    (date(2021, 3, 2), date(2021, 3, 1), "no target days between 2021-03-02 and 2021-03-01: "
                                         "with a 5-day window the data allow 2021-01-06..2021-04-30"),
    (date(2021, 3, 1), date(2021, 3, 1), "only 1 target day in the range; need at least 2 to evaluate"),
])
def test_evaluate_empty_ranges(trained, since, until, message):
    cfg, _ = trained
    with pytest.raises(DataError) as info:
        use_model.evaluate_range(cfg, since, until)
    assert str(info.value) == message
