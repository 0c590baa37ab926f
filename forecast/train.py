"""Training one model and saving everything needed to use, judge and reproduce it."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import runtime  # noqa: F401, I001  (before Keras: see runtime.py)

import keras
import numpy as np

from . import artifacts, evaluate, plots
from .data import Prices
from .errors import ModelError
from .models import build_model
from .windows import Dataset, build_dataset, scaling_to_dict


def settings(cfg) -> dict:
    """Everything in the config that changes the trained model (the data hash aside)."""
    return {
        "cell": cfg.cell, "window": cfg.window, "units": cfg.units, "scaling": cfg.scaling,
        "learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size, "loss": cfg.loss,
        "epochs": cfg.epochs, "patience": cfg.patience, "seed": cfg.seed,
        "val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction,
        "test_start": cfg.test_start.isoformat() if cfg.test_start else None,
    }


def verbosity(quiet: bool) -> int:
    """Keras progress: bars on a terminal, one line per epoch in a log, nothing when quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def predict_usd(model, scaling, X: np.ndarray) -> np.ndarray:
    """Next-day closes in USD for windows X (n, window) of USD closes."""
    z = model.predict(scaling.inputs(X), batch_size=1024, verbose=0)  # (n, 1)
    return scaling.to_usd(X, z)                                      # (n,)


@dataclass(frozen=True)
class TrainResult:
    model: keras.Model
    dataset: Dataset
    meta: dict                # what model.json holds
    metrics: dict             # what metrics.json holds: test split, model and naive
    history: dict             # loss and val_loss per epoch
    test_pred: np.ndarray     # (n_test,) predicted closes in USD
    directory: Path | None    # where it was saved


def fit(cfg, dataset: Dataset) -> tuple[keras.Model, dict, float]:
    """Trains on the training split; early stopping watches validation only, never test."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.cell, cfg.window, 1, cfg.units, cfg.learning_rate, cfg.loss)
    X_train, y_train = dataset.model_arrays("train")  # (n, window, 1), (n,)
    X_val, y_val = dataset.model_arrays("val")
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    started = time.perf_counter()
    history = model.fit(
        X_train, y_train, validation_data=(X_val, y_val), epochs=cfg.epochs,
        batch_size=cfg.batch_size, shuffle=True, callbacks=[stop], verbose=verbosity(cfg.quiet),
    )
    seconds = time.perf_counter() - started
    return model, {k: [float(v) for v in vs] for k, vs in history.history.items()}, seconds


def train(cfg, prices: Prices, save: bool = True, directory: Path | None = None) -> TrainResult:
    dataset = build_dataset(prices.close, cfg)
    model, history, seconds = fit(cfg, dataset)
    X_test, y_test, test_dates = dataset.part("test")
    test_pred = predict_usd(model, dataset.scaling, X_test)
    if not np.isfinite(test_pred).all():
        raise ModelError("training diverged (the model predicts non-finite prices); try a smaller --learning-rate")
    previous = X_test[:, -1]
    metrics = {
        "split": "test",
        "first_date": f"{test_dates[0]:%Y-%m-%d}",
        "last_date": f"{test_dates[-1]:%Y-%m-%d}",
        **evaluate.forecast_metrics(y_test, test_pred, previous),
    }
    epochs_run = len(history["loss"])
    meta = {
        "cell": cfg.cell,
        "window": cfg.window,
        "features": 1,
        "units": cfg.units,
        "params": int(model.count_params()),
        "scaling": scaling_to_dict(dataset.scaling),
        "settings": settings(cfg),
        "data": {
            "source": prices.source,
            "first_date": f"{prices.close.index[0]:%Y-%m-%d}",
            "last_date": f"{prices.close.index[-1]:%Y-%m-%d}",
            "rows": len(prices.close),
            "gap_days_filled": prices.filled_days,
            "sha256": prices.sha256(),
        },
        "split": dataset.split.describe(dataset.dates),
        "seed": cfg.seed,
        "epochs_run": epochs_run,
        "best_epoch": int(np.argmin(history["val_loss"])) + 1,
        "train_seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / epochs_run, 3),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": artifacts.versions(),
    }
    result = TrainResult(model, dataset, meta, metrics, history, test_pred, None)
    if not save:
        return result
    directory = directory or artifacts.run_dir(cfg.out, cfg.cell)
    save_run(directory, result, prices)
    return TrainResult(model, dataset, meta, metrics, history, test_pred, directory)


def save_run(directory: Path, result: TrainResult, prices: Prices) -> None:
    cell = result.meta["cell"].upper()
    X_test, y_test, dates = result.dataset.part("test")
    artifacts.save_model(directory, result.model, result.meta)
    artifacts.write_json(directory / artifacts.METRICS_FILE, result.metrics)
    title = (f"{cell} next-day forecast, test period "
             f"(MAE {result.metrics['mae']:,.0f} USD, naive {result.metrics['naive']['mae']:,.0f} USD)")
    artifacts.save_figure(directory / "forecast.png", plots.forecast_chart(
        dates, y_test, {cell: result.test_pred}, X_test[:, -1], title))
    artifacts.save_figure(directory / "history.png",
                          plots.history_chart(result.history, f"{cell} training ({result.meta['scaling']['name']} scaling)"))


def summary(result: TrainResult) -> str:
    m = result.metrics
    lines = [
        f"{result.meta['cell'].upper()}: test {m['first_date']}..{m['last_date']} ({m['days']} days)",
        f"  MAE  {m['mae']:>10,.2f} USD   naive {m['naive']['mae']:>10,.2f} USD   ratio {m['mae_ratio_vs_naive']:.3f}",
        f"  RMSE {m['rmse']:>10,.2f} USD   naive {m['naive']['rmse']:>10,.2f} USD   ratio {m['rmse_ratio_vs_naive']:.3f}",
        f"  MAPE {m['mape']:.2f}%   direction right {100 * m['directional_accuracy']:.1f}% of days",
        f"  {result.meta['epochs_run']} epochs (best {result.meta['best_epoch']}) in {result.meta['train_seconds']:.1f} s",
    ]
    if result.directory is not None:
        lines.append(f"  saved to {result.directory}/")
    return "\n".join(lines)
