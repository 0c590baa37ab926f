"""Training on a small made-up series: saved files, their contents, seeds and atomic saves."""

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from tests.conftest import random_walk

from forecast import artifacts, train
from forecast.config import Config
from forecast.data import Prices
from forecast.windows import scaling_from_dict

FILES = {"model.keras", "model.json", "metrics.json", "forecast.png", "history.png"}
DAYS, WINDOW = 120, 5


def small_config(cell: str, out: Path, **changes) -> Config:
    settings = dict(window=WINDOW, units=4, epochs=2, batch_size=16, patience=1, quiet=True)
    return Config(cell=cell, out=out, **{**settings, **changes})


@pytest.fixture(scope="module")
def prices() -> Prices:
    return Prices(close=random_walk(DAYS), source="random walk")


@pytest.fixture(scope="module", params=["gru", "lstm"])
def trained(request, tmp_path_factory, prices):
    """One saved training run per cell, shared by the tests of this module (read only)."""
    cfg = small_config(request.param, tmp_path_factory.mktemp(f"train-{request.param}"))
    return cfg, train.train(cfg, prices)


@pytest.fixture(scope="module")
def other_seed(trained, prices):
    """The same run with another seed, not saved."""
    cfg, _ = trained
    return train.train(cfg.replace(seed=cfg.seed + 1), prices, save=False)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_writes_all_files_and_nothing_else(trained):
    cfg, result = trained
    assert result.directory == cfg.out / cfg.cell
    assert set(os.listdir(result.directory)) == FILES  # no temp files left behind either
    for name in ("forecast.png", "history.png"):
        assert (result.directory / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_model_json(trained, prices):
    cfg, result = trained
    meta = read_json(result.directory / "model.json")
    assert meta == {"schema": artifacts.SCHEMA, **result.meta, "model_sha256": meta["model_sha256"]}
    assert meta["schema"] == 1
    assert (meta["cell"], meta["window"], meta["features"], meta["units"]) == (cfg.cell, WINDOW, 1, 4)
    assert meta["model_sha256"] == artifacts.file_sha256(result.directory / "model.keras")

    # The scaling with its fitted parameter: the std of the training targets' log returns.
    X_train, y_train, _ = result.dataset.part("train")
    assert meta["scaling"]["name"] == "window"
    assert meta["scaling"]["params"]["scale"] == pytest.approx(np.std(np.log(y_train / X_train[:, -1])))
    assert scaling_from_dict(meta["scaling"]) == result.dataset.scaling

    close = prices.close
    assert meta["data"]["source"] == "random walk"
    assert meta["data"]["first_date"] == "2021-01-01"
    assert meta["data"]["last_date"] == f"{close.index[-1]:%Y-%m-%d}" == "2021-04-30"
    assert meta["data"]["rows"] == DAYS
    assert meta["data"]["sha256"] == prices.sha256()

    # 115 target days, 70/15/15 in time order: 81 train, 17 validation, 17 test.
    split = meta["split"]
    assert [split[k]["days"] for k in ("train", "val", "test")] == [81, 17, 17]
    assert split["train"]["first"] == f"{close.index[WINDOW]:%Y-%m-%d}"
    assert split["test"]["first"] == f"{close.index[-17]:%Y-%m-%d}"
    assert split["test"]["last"] == "2021-04-30"

    assert meta["seed"] == 42 == meta["settings"]["seed"]
    assert 1 <= meta["epochs_run"] <= 2 == meta["settings"]["epochs"]
    assert meta["epochs_run"] == len(result.history["loss"]) == len(result.history["val_loss"])
    assert 1 <= meta["best_epoch"] <= meta["epochs_run"]
    assert meta["train_seconds"] > 0
    assert meta["params"] == result.model.count_params()
    assert {"forecast", "python", "tensorflow", "keras", "numpy", "pandas"} <= set(meta["versions"])
    assert meta["versions"]["keras"] == keras.__version__


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
    cfg, result = trained
    metrics = read_json(result.directory / "metrics.json")
    assert metrics == result.metrics
    assert {"mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive", "naive"} <= set(metrics)
    assert set(metrics["naive"]) == {"mae", "rmse", "mape"}
    assert (metrics["first_date"], metrics["last_date"], metrics["days"]) == ("2021-04-14", "2021-04-30", 17)

    expected = naive_metrics(prices.close, "2021-04-14", "2021-04-30")
    assert metrics["naive"] == pytest.approx(expected, rel=1e-12)

    actual = prices.close.loc["2021-04-14":].to_numpy()
    predicted = result.test_pred
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(actual - predicted)), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((actual - predicted) ** 2)), rel=1e-12)
    assert metrics["mae_ratio_vs_naive"] == pytest.approx(metrics["mae"] / expected["mae"], rel=1e-12)
    assert 0 <= metrics["directional_accuracy"] <= 1


def test_summary(trained):
    cfg, result = trained
    text = train.summary(result)
    assert text.startswith(f"{cfg.cell.upper()}: test 2021-04-14..2021-04-30 (17 days)")
    for word in ("MAE", "RMSE", "ratio", "MAPE", "naive"):
        assert word in text
    assert text.endswith(f"saved to {result.directory}/")


def test_same_seed_same_predictions(trained, prices):
    cfg, result = trained
    again = train.train(cfg, prices, save=False)
    assert again.directory is None
    np.testing.assert_allclose(again.test_pred, result.test_pred, rtol=0, atol=1e-6)
    assert again.history.keys() == result.history.keys()
    for key, values in result.history.items():
        assert again.history[key] == pytest.approx(values), key


def test_other_seed_other_predictions(trained, other_seed):
    _, result = trained
    assert np.max(np.abs(other_seed.test_pred - result.test_pred)) > 1e-3
    assert other_seed.meta["seed"] == result.meta["seed"] + 1
    assert other_seed.directory is None  # save=False
    assert set(os.listdir(result.directory)) == FILES


# --- atomic saves -------------------------------------------------------------------------

def fail_in_keras_save(monkeypatch):
    """The Keras save writes half a file to its temp path, then the user presses Ctrl-C."""
    def save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt
    monkeypatch.setattr(keras.Model, "save", save)
    return KeyboardInterrupt


def fail_in_rename(monkeypatch):
    """The disk fills up just as the finished temp file is renamed into place."""
    def replace(src, dst):
        raise OSError(28, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", replace)
    return OSError


@pytest.mark.parametrize("failure", [fail_in_keras_save, fail_in_rename])
def test_interrupted_save_keeps_previous_model(trained, other_seed, prices, tmp_path, monkeypatch, failure):
    cfg, result = trained
    directory = tmp_path / cfg.cell
    shutil.copytree(result.directory, directory)
    before = {name: (directory / name).read_bytes() for name in FILES}
    X_test, _, _ = result.dataset.part("test")

    with monkeypatch.context() as patch:
        error = failure(patch)
        with pytest.raises(error):
            train.save_run(directory, other_seed, prices)

    assert set(os.listdir(directory)) == FILES  # no temp file left
    assert {name: (directory / name).read_bytes() for name in FILES} == before
    saved = artifacts.load_model(directory)
    assert saved.meta == read_json(result.directory / "model.json")
    np.testing.assert_allclose(
        train.predict_usd(saved.model, scaling_from_dict(saved.meta["scaling"]), X_test),
        result.test_pred, rtol=0, atol=1e-6,
    )

    # The same save, uninterrupted, does replace the model: the check above is not vacuous.
    train.save_run(directory, other_seed, prices)
    assert set(os.listdir(directory)) == FILES
    saved = artifacts.load_model(directory)
    np.testing.assert_allclose(
        train.predict_usd(saved.model, scaling_from_dict(saved.meta["scaling"]), X_test),
        other_seed.test_pred, rtol=0, atol=1e-6,
    )
