"""Training on a small made-up series: what train returns, what save_run writes, seeds,
the all-data refit, and saves that fail or are killed part way."""

import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from tests.conftest import random_walk

from forecast import publish, saved_model, train
from forecast.config import Config
from forecast.prices import Prices
from forecast.errors import SaveError
from forecast.inference import predict_usd

FILES = {"model.keras", "model.json", "metrics.json", "forecast.png", "history.png"}
DAYS, WINDOW = 120, 5


def small_config(cell: str, out: Path, **changes) -> Config:
    settings = dict(window=WINDOW, units=4, epochs=2, batch_size=16, patience=1, quiet=True, jit_compile=False)
    return Config(cell=cell, out=out, **{**settings, **changes})


@pytest.fixture(scope="module")
def prices() -> Prices:
    return Prices(close=random_walk(DAYS), source="random walk")


@pytest.fixture(scope="module", params=["gru", "lstm"])
def trained(request, tmp_path_factory, prices):
    """One training run per cell, saved to <out>/<cell>, shared by this module's tests (read only)."""
    cfg = small_config(request.param, tmp_path_factory.mktemp(f"train-{request.param}"))
    result = train.train(cfg, prices)
    directory = publish.save_trained(cfg.out, result)
    return cfg, result, directory


@pytest.fixture(scope="module")
def other_seed(trained, prices):
    """The same run with another seed, not saved."""
    cfg, _, _ = trained
    return train.train(cfg.replace(seed=cfg.seed + 1), prices)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def windows(close, first: str, last: str):
    """Windows and targets of the target days first..last, built from the raw series by hand."""
    position = {d: i for i, d in enumerate(close.index.strftime("%Y-%m-%d"))}
    rows = range(position[first], position[last] + 1)
    X = np.array([close.to_numpy()[i - WINDOW:i] for i in rows])
    return X, close.to_numpy()[list(rows)]


def test_train_writes_nothing(tmp_path, prices):
    cfg = small_config("gru", tmp_path / "out", epochs=1)
    train.train(cfg, prices)
    assert not cfg.out.exists()


def test_save_run_writes_the_run_and_nothing_else(trained):
    cfg, _, directory = trained
    assert directory == cfg.out / cfg.cell
    assert set(os.listdir(directory)) == FILES
    assert os.listdir(cfg.out) == [cfg.cell]  # no staging folder or temp file left beside it
    for name in ("forecast.png", "history.png"):
        assert (directory / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_model_json(trained, prices):
    cfg, result, directory = trained
    meta = read_json(directory / "model.json")
    assert meta["schema"] == 5
    assert (meta["cell"], meta["window"], meta["features"], meta["units"]) == (cfg.cell, WINDOW, 1, 4)
    assert meta["model_sha256"] == saved_model.file_sha256(directory / "model.keras")

    # The scaling with its fitted parameter: the std of the training targets' log returns.
    X_train, y_train = windows(prices.close, meta["split"]["train"]["first"], meta["split"]["train"]["last"])
    assert meta["scaling"] == {"name": "window", "params": {"scale": pytest.approx(np.std(np.log(y_train / X_train[:, -1])))}}

    assert meta["data"] == {"source": "random walk", "first_date": "2021-01-01", "last_date": "2021-04-30",
                            "rows": DAYS, "gap_days_filled": 0, "sha256": prices.sha256(),
                            "csv": None, "ticker": "BTC-USD"}  # no --csv: the default symbol
    # 115 target days, 70/15/15 in time order: 81 train, 17 validation, 17 test.
    assert meta["split"] == {
        "train": {"first": "2021-01-06", "last": "2021-03-27", "days": 81},
        "val": {"first": "2021-03-28", "last": "2021-04-13", "days": 17},
        "test": {"first": "2021-04-14", "last": "2021-04-30", "days": 17},
    }
    assert meta["trained_on"] == {"first": "2021-01-06", "last": "2021-04-13", "days": 98}
    assert meta["settings"] == cfg.model_settings() and meta["settings"]["seed"] == 42
    assert 1 <= meta["epochs_run"] <= 2 == meta["settings"]["epochs"]
    assert meta["epochs_run"] == len(result.history["loss"]) == len(result.history["val_loss"])
    assert meta["best_epoch"] == int(np.argmin(result.history["val_loss"])) + 1
    assert meta["refit_epochs"] is None
    assert meta["params"] == result.model.count_params()
    assert meta["versions"]["keras"] == keras.__version__


def test_intervals_are_calibrated_on_the_validation_days(trained, prices):
    """q for level L is the ceil((n+1)L)-th smallest |log(actual/predicted)| of the n = 17
    validation days: the 15th at 80% (ceil(14.4)) and unbounded at 95% (ceil(17.1) = 18 > 17)."""
    _, result, directory = trained
    meta = read_json(directory / "model.json")["intervals"]
    assert (meta["first_date"], meta["last_date"], meta["days"]) == ("2021-03-28", "2021-04-13", 17)
    X_val, y_val = windows(prices.close, "2021-03-28", "2021-04-13")
    z = result.model.predict(np.log(X_val / X_val[:, -1:])[..., None] / result.info.scaling.scale, verbose=0)
    predicted = X_val[:, -1] * np.exp(z[:, 0] * result.info.scaling.scale)
    model_scores = np.sort(np.abs(np.log(y_val / predicted)))
    naive_scores = np.sort(np.abs(np.log(y_val / X_val[:, -1])))
    assert meta["model"]["80"] == pytest.approx(model_scores[14], rel=1e-5)
    assert meta["naive"]["80"] == pytest.approx(naive_scores[14], rel=1e-12)
    assert meta["model"]["95"] is None and meta["naive"]["95"] is None
    # What every volatility q is computed from, day by day in date order (and checked when read):
    # errors as above, and the EWMA sigma by hand, started at the training closes' mean square return.
    v = meta["volatility"]
    np.testing.assert_allclose(v["errors"]["model"], np.abs(np.log(y_val / predicted)), atol=1e-6)  # float32 forecasts
    np.testing.assert_allclose(v["errors"]["naive"], np.abs(np.log(y_val / X_val[:, -1])), rtol=1e-12)
    closes = prices.close.loc[:"2021-03-27"].to_numpy()
    assert v["train_variance"] == pytest.approx(np.mean(np.diff(np.log(closes)) ** 2), rel=1e-12)
    for x, sigma in zip(X_val, v["sigma"]):
        var = v["train_variance"]
        for a, b in zip(x, x[1:]):
            var = 0.94 * var + 0.06 * np.log(b / a) ** 2
        assert sigma == pytest.approx(np.sqrt(var), rel=1e-12)


def naive_metrics(close, first: str, last: str) -> dict:
    """Computed from the raw series: the forecast for each day is the previous day's close."""
    actual = close.loc[first:last].to_numpy()
    naive = close.shift(1).loc[first:last].to_numpy()
    error = actual - naive
    return {
        "mae": np.mean(np.abs(error)),
        "rmse": np.sqrt(np.mean(error ** 2)),
        "mape": 100 * np.mean(np.abs(error) / np.abs(actual)),
    }


def test_metrics_json(trained, prices):
    _, result, directory = trained
    metrics = read_json(directory / "metrics.json")
    assert (metrics["split"], metrics["first_date"], metrics["last_date"], metrics["days"]) == (
        "test", "2021-04-14", "2021-04-30", 17)

    expected = naive_metrics(prices.close, "2021-04-14", "2021-04-30")
    assert {k: metrics["naive"][k] for k in expected} == pytest.approx(expected, rel=1e-12)

    actual = prices.close.loc["2021-04-14":].to_numpy()
    predicted = result.test.forecast.point
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(actual - predicted)), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((actual - predicted) ** 2)), rel=1e-12)
    assert metrics["mae_ratio_vs_naive"] == pytest.approx(metrics["mae"] / expected["mae"], rel=1e-12)

    # The 80% interval on the test days, from the saved q by hand.
    q = read_json(directory / "model.json")["intervals"]["model"]["80"]
    inside = np.abs(np.log(actual / predicted)) <= q
    got = metrics["intervals"]["80"]
    assert got["coverage"] == pytest.approx(inside.mean())
    assert got["mean_width_usd"] == pytest.approx(np.mean(predicted * (np.exp(q) - np.exp(-q))))
    assert metrics["intervals"]["95"]["unbounded"] is True and metrics["intervals"]["95"]["mean_width_usd"] is None


def test_summary(trained):
    from forecast import report

    cfg, result, directory = trained
    lines = report.train_summary(result, directory).splitlines()
    m = result.test.metrics
    assert lines[0] == f"{cfg.cell.upper()}: test 2021-04-14..2021-04-30 (17 days)"
    word = "worse" if m.mae_ratio_vs_naive > 1 else "better"
    assert lines[1].endswith(f"ratio {m.mae_ratio_vs_naive:.3f}  ({word} than naive)")
    assert lines[-1] == f"  saved to {directory}/"


def test_same_seed_same_predictions(trained, prices):
    cfg, result, _ = trained
    again = train.train(cfg, prices)
    np.testing.assert_allclose(again.test.forecast.point, result.test.forecast.point, rtol=0, atol=1e-6)
    assert again.history.keys() == result.history.keys()
    for key, values in result.history.items():
        assert again.history[key] == pytest.approx(values), key


def test_other_seed_other_predictions(trained, other_seed):
    _, result, _ = trained
    assert np.max(np.abs(other_seed.test.forecast.point - result.test.forecast.point)) > 1e-3
    assert other_seed.info.seed == result.info.seed + 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_all_data_refits_on_every_day_with_the_best_epoch_count(tmp_path, prices, cell):
    cfg = small_config(cell, tmp_path, epochs=3, patience=3)
    held_out = train.train(cfg, prices)
    refit = train.train(cfg.replace(all_data=True), prices)
    info = refit.info
    assert info.refit_epochs == held_out.info.best_epoch
    assert (info.trained_on.first, info.trained_on.last, info.trained_on.days) == ("2021-01-06", "2021-04-30", 115)
    assert info.settings["all_data"] is True
    # Judged as the held-out run: the same test numbers, from the same held-out model.
    assert refit.test.metrics == held_out.test.metrics
    # The scaling was refitted on all target days.
    X, y = windows(prices.close, "2021-01-06", "2021-04-30")
    assert info.scaling.scale == pytest.approx(np.std(np.log(y / X[:, -1])))
    # A new model: its forecasts differ from the held-out model's.
    X_test, _ = windows(prices.close, "2021-04-14", "2021-04-30")
    assert np.max(np.abs(predict_usd(refit.model, info.scaling, X_test) - held_out.test.forecast.point)) > 1e-3


# --- saves that fail or are killed part way -------------------------------------------------

def fail_in_keras_save(monkeypatch):
    """The Keras save writes half a file, then the user presses Ctrl-C."""
    def save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt
    monkeypatch.setattr(keras.Model, "save", save)
    return KeyboardInterrupt


def fail_in_charts(monkeypatch):
    """The disk fills up while the charts are written, after the new model is complete."""
    from matplotlib.figure import Figure

    def savefig(self, *args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Figure, "savefig", savefig)
    return SaveError


def fail_in_swap(monkeypatch):
    """The rename that swaps the new run in fails (the old one was already moved aside)."""
    real = os.rename

    def rename(src, dst):
        if ".new-" in str(src):
            raise OSError(13, "Permission denied", str(src))
        return real(src, dst)
    monkeypatch.setattr(os, "rename", rename)
    return SaveError


@pytest.mark.parametrize("failure", [fail_in_keras_save, fail_in_charts, fail_in_swap])
def test_a_failed_save_keeps_the_previous_run_whole(trained, other_seed, tmp_path, monkeypatch, failure):
    cfg, _, saved = trained
    directory = tmp_path / cfg.cell
    shutil.copytree(saved, directory)
    before = {name: (directory / name).read_bytes() for name in FILES}

    with monkeypatch.context() as patch:
        error = failure(patch)
        with pytest.raises(error) as info:
            publish.save_run(directory, other_seed)
    if error is SaveError:
        assert str(info.value).startswith(f"cannot save {directory}: ")

    assert os.listdir(tmp_path) == [cfg.cell]  # no staging folder left
    assert {name: (directory / name).read_bytes() for name in FILES} == before

    # The same save, uninterrupted, does replace the run: the check above is not vacuous.
    publish.save_run(directory, other_seed)
    assert os.listdir(tmp_path) == [cfg.cell]
    assert saved_model.load_model(directory).info == other_seed.info


def test_the_next_run_cleans_up_after_a_killed_one(trained, other_seed, tmp_path):
    """A kill leaves a half-built staging folder, or (between the two renames of the swap) the
    previous run moved aside and no run in place; a dead process id marks both as leftovers."""
    cfg, result, saved = trained
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    shutil.copytree(saved, tmp_path / f".{cfg.cell}.old-{dead}-x")
    (tmp_path / f".{cfg.cell}.new-{dead}-y").mkdir()
    (tmp_path / f".{cfg.cell}.new-{dead}-y" / "model.keras").write_bytes(b"half")

    restored = saved_model.load_model(tmp_path / cfg.cell)  # reading puts the moved-aside run back
    assert restored.info == result.info
    assert os.listdir(tmp_path) == [cfg.cell]

    (tmp_path / f".{cfg.cell}.new-{dead}-z").mkdir()
    publish.save_run(tmp_path / cfg.cell, other_seed)
    assert os.listdir(tmp_path) == [cfg.cell]


def test_nan_free_json_even_for_flat_prices(tmp_path):
    """Flat test days give NaN ratios (naive's MAE is 0); the JSON holds null there, never NaN."""
    flat = random_walk(DAYS)
    flat.iloc[-20:] = 100.0  # the 17 test days' closes and the one before them: naive is exact
    cfg = small_config("gru", tmp_path, epochs=1)
    result = train.train(cfg, Prices(close=flat, source="flat"))
    publish.save_run(tmp_path / "gru", result)
    metrics = json.loads((tmp_path / "gru" / "metrics.json").read_text())
    assert metrics["mae_ratio_vs_naive"] is None and math.isnan(result.test.metrics.mae_ratio_vs_naive)


def test_the_refit_runs_the_best_epoch_count_on_every_target_day(trained, prices, monkeypatch):
    """A made-up held-out result with best epoch 2 of 5: the refit must fit 2 epochs on all 115 days."""
    import dataclasses

    from forecast.windows import build_dataset

    cfg, result, _ = trained
    info = dataclasses.replace(result.info, epochs_run=5, best_epoch=2)
    calls = []
    real_fit = keras.Model.fit

    def fit(self, x, y, **kwargs):
        calls.append((len(x), kwargs["epochs"], kwargs.get("validation_data")))
        return real_fit(self, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    _, refit = train.refit_all(cfg, build_dataset(prices.close, cfg), info)
    assert calls == [(115, 2, None)]
    assert (refit.refit_epochs, refit.trained_on.days) == (2, 115)


# --- prices that leave no usable interval (issue 31) ------------------------------------------------
# 120 days, window 5: 115 target days, 81 training, 17 validation (2021-03-28..2021-04-13), 17 test.
# The 80% conformal q is the ceil(18 * 0.8) = 15th smallest of the 17 validation errors: it is 0,
# an interval of no width, once the close stays put on 15 of those days.

def _still_on(days: int):
    """random_walk(120) whose close does not move on the first `days` validation days."""
    close = random_walk(DAYS)
    first = 5 + 81  # position of the first validation target day
    close.iloc[first - 1:first + days] = close.iloc[first - 1]
    return close


@pytest.mark.parametrize(("still", "message"), [
    (17, "the close does not move on 17 of the 17 validation days (2021-03-28..2021-04-13), so the 80% interval calibrated on them"),
    (15, "the close does not move on 15 of the 17 validation days (2021-03-28..2021-04-13), so the 80% interval calibrated on them"),
])
def test_prices_that_leave_no_usable_interval_stop_train_before_anything_is_saved(tmp_path, capsys, still, message):
    from forecast.__main__ import main
    from tests.conftest import write_yahoo_csv

    csv = write_yahoo_csv(tmp_path / "p.csv", _still_on(still))
    (tmp_path / "out").mkdir()
    capsys.readouterr()
    code = main(["train", "--csv", str(csv), "--window", "5", "--units", "4", "--epochs", "1", "--no-jit-compile",
                 "--quiet", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, "", f"error: {csv}: {message} would have no width; train on prices that move "
                                        "(other --start/--end or --test-start)\n")
    assert os.listdir(tmp_path / "out") == []


def test_fourteen_still_days_of_seventeen_leave_an_interval(tmp_path):
    """One moving day more than the 80% rank needs: the q is that day's error, above 0 (95% needs 18 days, so
    it is unbounded, not 0)."""
    result = train.train(small_config("gru", tmp_path, epochs=1), Prices(close=_still_on(14), source="14 still"))
    assert result.info.calibration.naive[80.0] > 0 and math.isinf(result.info.calibration.naive[95.0])


def test_a_model_that_fails_the_read_checks_is_not_saved(trained, other_seed, tmp_path):
    """What predict would refuse is never written: the save checks model.json as a reader does."""
    import dataclasses

    cfg, _, saved = trained
    directory = tmp_path / cfg.cell
    shutil.copytree(saved, directory)
    before = {name: (directory / name).read_bytes() for name in FILES}
    cal = other_seed.info.calibration
    broken = dataclasses.replace(other_seed, info=dataclasses.replace(
        other_seed.info, calibration=dataclasses.replace(cal, model={**cal.model, 80.0: 0.0})))
    with pytest.raises(saved_model.ModelError) as info:
        publish.save_run(directory, broken)
    assert str(info.value) == (f"the trained {cfg.cell.upper()} model fails the checks predict makes (intervals.model.80 "
                               "is 0.0, expected a width above 0 (0 gives intervals whose low and high are equal)); "
                               "nothing was saved")
    assert os.listdir(tmp_path) == [cfg.cell]
    assert {name: (directory / name).read_bytes() for name in FILES} == before
