"""Training one model: fit with early stopping on validation, calibrate its intervals on the
same validation days, judge it once on the test days, and (with --all-data) refit it on
every day. `train` writes nothing: the caller saves what it returns (artifacts.save_run).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from datetime import datetime, timezone

from . import runtime  # noqa: I001  (before Keras: see runtime.py)

import keras
import numpy as np

from . import intervals
from .interval_methods import (Days, MethodMetrics, calibrate_volatility, garch_for, mean_square_return, method_metrics,
                               widths_by_method, window_sigma)
from .intervals import log_scores, trailing_volatility
from .jsonio import level_key
from .prices import Prices
from .errors import DataError, ModelError
from .model_info import DataInfo, ModelInfo, Span, TestSummary, TrainedModel
from .inference import forecast_scored, predict_usd
from .models import build_model
from .windows import Dataset, build_dataset, fit_scaling

log = logging.getLogger(__name__)


def verbosity(quiet: bool) -> int:
    """Keras progress: bars on a terminal, one line per epoch in a log, nothing when quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def fit(cfg, train_xy, val_xy=None, epochs: int | None = None,
        initial: list[np.ndarray] | None = None) -> tuple[keras.Model, dict, float]:
    """A fresh model of cfg's cell fitted on (inputs (n, window, len(cfg.inputs)), targets (n,)). With `val_xy`,
    early stopping watches its loss and restores the best weights; without, it runs `epochs`. With
    `initial` (model.get_weights() of a model of the same settings) it starts from those weights
    instead of its seed's; the seed still draws the shuffling, as for a fresh model."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.cell, cfg.window, len(cfg.inputs), cfg.units, cfg.learning_rate, cfg.loss, cfg.jit_compile)
    if initial is not None:  # after the build, so that the seed's draws are those of a fresh model
        model.set_weights(initial)
    callbacks = [] if val_xy is None else [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    ]
    started = time.perf_counter()
    history = model.fit(
        *train_xy, validation_data=val_xy, epochs=epochs or cfg.epochs, batch_size=cfg.batch_size,
        shuffle=True, callbacks=callbacks, verbose=verbosity(cfg.quiet),
    )
    seconds = time.perf_counter() - started
    return model, {k: [float(v) for v in vs] for k, vs in history.history.items()}, seconds


def _finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise ModelError("training diverged (the model predicts non-finite prices); try a smaller --learning-rate")


def train(cfg, prices: Prices) -> TrainedModel:
    """Trains on the training split (early stopping on validation only, never test), calibrates
    intervals on validation, evaluates on test; with cfg.all_data, returns the refit model."""
    dataset = build_dataset(prices.close, cfg, prices.columns(cfg.inputs))
    check_calibration_days(dataset, cfg.levels, prices.source)
    return train_dataset(cfg, dataset, data_info(prices, cfg))


def check_calibration_days(dataset: Dataset, levels, source: str) -> None:
    """DataError, before any training, where the validation days leave no usable interval: a close
    that does not move on so many of them that a level's conformal q is 0 (an interval of no width,
    which predict refuses). Constant or nearly constant prices: a delisted coin, a filled stretch."""
    X_val, y_val, dates = dataset.part("val")
    naive = log_scores(y_val, X_val[:, -1])  # (n_val,): 0 where the close equals the day before's
    still = naive == 0
    for level in sorted(levels):
        if intervals.conformal_quantile(naive, level) == 0:  # the naive forecast's interval: no width
            raise DataError(
                f"{source}: the close does not move on {int(still.sum())} of the {len(still)} validation days "
                f"({dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}), so the {level_key(level)}% interval calibrated on them "
                "would have no width; train on prices that move (other --start/--end or --test-start)")


def train_dataset(cfg, dataset: Dataset, data: DataInfo, initial: list[np.ndarray] | None = None) -> TrainedModel:
    """`train` on a dataset already split and scaled (a backtest fold builds its own): the same
    fitting, calibration on its validation days and evaluation on its test days. `data` describes
    the prices the dataset was built from; `initial`, weights to start from (a warm backtest fold:
    the previous fold's), as fit takes them."""
    model, history, seconds = fit(cfg, dataset.model_arrays("train"), dataset.model_arrays("val"), initial=initial)
    X_val, y_val, _ = dataset.part("val")
    val_point = predict_usd(model, dataset.scaling, X_val, dataset.extra("val"))  # (n_val,)
    _finite(val_point)
    split = {name: Span.of(dataset.part(name)[2]) for name in ("train", "val", "test")}
    epochs_run = len(history["loss"])
    info = ModelInfo(
        cell=cfg.cell,
        window=cfg.window,
        units=cfg.units,
        params=int(model.count_params()),
        scaling=dataset.scaling,
        calibration=intervals.calibrate(y_val, val_point, X_val[:, -1], cfg.levels,
                                        split["val"].first, split["val"].last),
        volatility=calibrate_volatility(y_val, val_point, X_val[:, -1], X_val, cfg.levels,
                                        mean_square_return(*dataset.part("train")[:2])),
        settings=cfg.model_settings(),
        data=data,
        split=split,
        trained_on=Span(split["train"].first, split["val"].last, split["train"].days + split["val"].days),
        seed=cfg.seed,
        epochs_run=epochs_run,
        best_epoch=int(np.argmin(history["val_loss"])) + 1,
        refit_epochs=None,
        train_seconds=round(seconds, 3),
        seconds_per_epoch=round(seconds / epochs_run, 3),
        test=None,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=runtime.versions(),
    )
    held_out = TrainedModel(model, info, history, val_point=val_point)
    test = forecast_scored(held_out, *dataset.part("test"), F=dataset.extra("test"))
    _finite(test.forecast.point)
    info = dataclasses.replace(info, test=TestSummary.of(test.metrics))
    methods = judge_methods(dataset, info.volatility.train_variance, val_point, test.forecast.point, cfg.levels)
    if cfg.all_data:
        model, info = refit_all(cfg, dataset, info)
    return TrainedModel(model, info, history, test, val_point=val_point, methods=methods)


def judge_methods(dataset: Dataset, train_variance: float, val_point: np.ndarray, test_point: np.ndarray,
                  levels) -> dict[tuple[str, str, float], MethodMetrics]:
    """Every interval method calibrated on the validation days and judged on the test days, for the
    model and the naive forecast: (method, "model" or "naive", level) -> how it held. The GARCH
    baseline is fitted on the training days' returns only."""
    (X_val, y_val, _), (X_test, y_test, _) = dataset.part("val"), dataset.part("test")
    split, window = dataset.split, dataset.X.shape[1]
    closes = np.concatenate([dataset.X[0], dataset.y])  # (window + n,): target i's close is at window + i
    garch = garch_for(closes, window + split.train.stop, *(np.arange(p.start, p.stop) + window for p in (split.val, split.test)))
    sigma = [window_sigma(X, train_variance) for X in (X_val, X_test)]  # (n_val,), (n_test,)
    volatility, found = trailing_volatility(X_test), {}
    for who, cal_point, point in (("model", val_point, test_point), ("naive", X_val[:, -1], X_test[:, -1])):
        cal, out = Days(cal_point, y_val, sigma[0], garch[0]), Days(point, y_test, sigma[1], garch[1])
        for (method, level), widths in widths_by_method(cal, out, levels).items():
            found[method, who, level] = method_metrics(y_test, point, widths, level, volatility)
    return found


def refit_all(cfg, dataset: Dataset, info: ModelInfo) -> tuple[keras.Model, ModelInfo]:
    """The same settings fitted on every target day, for the number of epochs early stopping
    chose: the model `predict` should use once the settings have been judged on the test days.
    The scaling is refitted on all days too (they are all training days now); the intervals keep
    the held-out calibration, since no unseen days are left to calibrate on."""
    X, y, dates, F = dataset.X, dataset.y, dataset.dates, dataset.F
    scaling = fit_scaling(cfg.scaling, X, y, F, cfg.inputs)
    log.info("refitting %s on all %d target days for %d epochs", cfg.cell.upper(), len(y), info.best_epoch)
    model, _, seconds = fit(cfg, (scaling.inputs(X, F), scaling.targets(X, y)), epochs=info.best_epoch)
    _finite(predict_usd(model, scaling, X[-1:], None if F is None else F[-1:]))
    return model, dataclasses.replace(
        info, scaling=scaling, trained_on=Span.of(dates), refit_epochs=info.best_epoch,
        train_seconds=round(info.train_seconds + seconds, 3),
    )


def data_info(prices: Prices, cfg=None) -> DataInfo:
    """What the prices were; with `cfg` (the settings that loaded them) also where they came from,
    the CSV as an absolute path, so that predict and evaluate find it from any folder."""
    close = prices.close
    csv = None if cfg is None or cfg.csv is None else os.path.abspath(cfg.csv)
    return DataInfo(
        source=prices.source,
        first_date=f"{close.index[0]:%Y-%m-%d}",
        last_date=f"{close.index[-1]:%Y-%m-%d}",
        rows=len(close),
        gap_days_filled=prices.filled_days,
        sha256=prices.sha256(("close",) if cfg is None else cfg.inputs),
        csv=csv,
        ticker=None if cfg is None or csv is not None else cfg.ticker,
    )

