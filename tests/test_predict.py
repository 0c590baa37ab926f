"""Saved models in use: the load round trip, the next day's forecast and errors over a range."""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecast import artifacts, predict, train
from forecast.config import Config
from forecast.data_csv import load_csv
from forecast.errors import DataError
from forecast.windows import scaling_from_dict
from tests.conftest import random_walk, write_yahoo_csv

WINDOW = 5


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_yahoo_csv(tmp_path_factory.mktemp("prices") / "prices.csv", random_walk(120))


@pytest.fixture(scope="module", params=["gru", "lstm"])
def trained(request, tmp_path_factory, csv_path):
    """One saved run per cell, trained on the CSV the tests then predict from (read only)."""
    cfg = Config(cell=request.param, csv=csv_path, window=WINDOW, units=4, epochs=2, batch_size=16,
                 patience=1, quiet=True, out=tmp_path_factory.mktemp(f"out-{request.param}"))
    return cfg, train.train(cfg, load_csv(csv_path))


def test_load_round_trip(trained):
    cfg, result = trained
    saved = artifacts.load_model(artifacts.run_dir(cfg.out, cfg.cell))
    assert saved.directory == result.directory
    assert saved.meta == json.loads((result.directory / "model.json").read_text())
    assert saved.meta["scaling"] == result.meta["scaling"]
    for loaded, original in zip(saved.model.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(loaded, original)

    X_test, _, _ = result.dataset.part("test")
    inputs = result.dataset.scaling.inputs(X_test)
    np.testing.assert_array_equal(saved.model.predict(inputs, verbose=0), result.model.predict(inputs, verbose=0))
    from_disk = train.predict_usd(saved.model, scaling_from_dict(saved.meta["scaling"]), X_test)
    np.testing.assert_allclose(from_disk, result.test_pred, rtol=0, atol=1e-6)


def test_next_day(trained, csv_path):
    cfg, result = trained
    close = load_csv(csv_path).close
    forecast = predict.next_day(cfg)

    assert forecast["cell"] == cfg.cell
    assert forecast["source"] == str(csv_path)
    assert forecast["last_date"] == "2021-04-30"
    assert forecast["date"] == "2021-05-01"  # the last date + 1 day
    assert forecast["last_close"] == close.iloc[-1]
    last_window = close.to_numpy()[-WINDOW:][np.newaxis, :]
    expected = train.predict_usd(result.model, result.dataset.scaling, last_window)[0]
    assert forecast["predicted_close"] == pytest.approx(expected, rel=1e-9)
    assert forecast["change_pct"] == pytest.approx(100 * (forecast["predicted_close"] / close.iloc[-1] - 1))
    json.dumps(forecast)  # plain Python types only


def test_next_day_from_an_earlier_end(trained):
    cfg, _ = trained
    forecast = predict.next_day(cfg.replace(end=date(2021, 2, 28)))
    assert (forecast["last_date"], forecast["date"]) == ("2021-02-28", "2021-03-01")


def test_evaluate_the_test_split_again(trained):
    """The saved model over the test days reproduces the metrics saved at training time."""
    cfg, result = trained
    test = result.meta["split"]["test"]
    text, metrics = predict.evaluate_range(cfg, date.fromisoformat(test["first"]), date.fromisoformat(test["last"]))

    assert (metrics["first_date"], metrics["last_date"], metrics["days"]) == (test["first"], test["last"], 17)
    assert metrics["model_saw_until"] == result.meta["split"]["val"]["last"]
    for key in ("mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive"):
        assert metrics[key] == pytest.approx(result.metrics[key], rel=1e-6)
    assert metrics["naive"] == pytest.approx(result.metrics["naive"], rel=1e-12)

    chart = result.directory / f"evaluate_{test['first']}_{test['last']}.png"
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert f"target days {test['first']}..{test['last']} (17 days)" in text
    assert "| naive (tomorrow = today) |" in text
    assert "not out-of-sample" not in text  # the test days follow validation
    assert text.endswith(f"chart: {chart}")


def test_evaluate_notes_overlap_with_training(trained):
    cfg, _ = trained
    text, metrics = predict.evaluate_range(cfg, date(2021, 1, 10), date(2021, 1, 20))
    assert metrics["days"] == 11
    assert "note: the range overlaps the model's training or validation days" in text


def test_range_forecasts(trained, csv_path):
    cfg, result = trained
    saved = artifacts.load_model(result.directory)
    prices = load_csv(csv_path)
    dates, actual, predicted, previous = predict.range_forecasts(saved, prices, date(2021, 4, 1), None)
    assert list(dates) == list(pd.date_range("2021-04-01", "2021-04-30"))
    np.testing.assert_array_equal(actual, prices.close.loc["2021-04-01":].to_numpy())
    np.testing.assert_array_equal(previous, prices.close.loc["2021-03-31":"2021-04-29"].to_numpy())
    # Other batch composition than at training time: float32 round-off only.
    np.testing.assert_allclose(predicted[-17:], result.test_pred, rtol=1e-7)


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
        predict.evaluate_range(cfg, since, until)
    assert str(info.value) == message
