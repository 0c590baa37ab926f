"""A trained model with its scaling and metadata -> next-day forecasts in USD, with intervals.

The one path from a model to a number: train, predict, evaluate, compare and backtest all go
through `forecast` (or `predict_usd` for a bare model). Nothing here trains or loads TensorFlow
itself; the Keras model arrives ready.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ModelError
from .interval_methods import ACI_GAMMA, ONLINE, Days, aci_widths, saved_widths, window_sigma
from .intervals import band, trailing_volatility
from .metrics import Evaluation, Forecast, score_forecast
from .model_info import TrainedModel


def predict_usd(model, scaling, X: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
    """Next-day closes in USD for windows X (n, window) of USD closes; F (n, window, k), the inputs
    after the close (windows.input_windows) of a model that reads more than the close."""
    z = model.predict(scaling.inputs(X, F), batch_size=1024, verbose=0)  # (n, 1)
    return scaling.to_usd(X, z)                                         # (n,)


def forecast(trained: TrainedModel, X: np.ndarray, dates, method: str = "fixed", F: np.ndarray | None = None,
             actual: np.ndarray | None = None, gamma: float = ACI_GAMMA) -> Forecast:
    """The model's forecasts for windows X (n, window) whose target days are `dates`, with the
    bands of interval `method` (one of interval_methods.PREDICT_METHODS); F as predict_usd takes it.
    ACI reads the days in order: `actual` (n,) holds each day's close (NaN for a day still to come),
    and its run should start the day after the calibration ends, as predict's and evaluate's do."""
    X = np.asarray(X, dtype="float64")
    point = predict_usd(trained.model, trained.info.scaling, X, F)  # (n,)
    if trained.path is not None and not np.isfinite(point).all():
        # Training checks its own outputs ("training diverged"); a saved model that passed its hash
        # checks and still gives inf or NaN has weights that were edited and resealed.
        raise ModelError(f"{trained.path}: the model gives non-finite forecasts (corrupt weights?); "
                         "retrain the model (python -m forecast train)")
    previous = X[:, -1]                                          # (n,)
    widths = method_widths(trained, X, method, {"model": point, "naive": previous}, actual, gamma)
    return Forecast(
        dates=pd.DatetimeIndex(dates),
        point=point,
        previous=previous,
        volatility=trailing_volatility(X),
        bands={lv: band(point, w) for lv, w in widths["model"].items()},
        naive_bands={lv: band(previous, w) for lv, w in widths["naive"].items()},
    )


def method_widths(trained: TrainedModel, X: np.ndarray, method: str, centres: dict[str, np.ndarray] | None = None,
                  actual: np.ndarray | None = None, gamma: float = ACI_GAMMA) -> dict[str, dict[float, np.ndarray]]:
    """The half-widths (log units) of `method`'s bands on windows X (n, window): "model" and
    "naive" -> level -> (n,). ACI also needs each forecast's `centres` (n,) and the `actual` closes."""
    cal, vc = trained.info.calibration, trained.info.volatility
    if method == "fixed":  # needs no sigma: the one method a model without volatility calibration has
        return {who: {lv: np.full(len(X), q) for lv, q in qs.items()} for who, qs in (("model", cal.model), ("naive", cal.naive))}
    sigma = window_sigma(X, vc.train_variance)  # (n,)
    if method in ONLINE:
        if centres is None or actual is None:
            raise ValueError(f"{method} needs the forecasts and the actual closes of its run of days")
        return {who: {lv: aci_widths(vc.scores[who], Days(centres[who], np.asarray(actual, dtype="float64"), sigma), lv, gamma)
                      for lv in cal.levels} for who in ("model", "naive")}
    return {who: {lv: saved_widths(method, q, vc, who, sigma, lv) for lv, q in qs.items()}
            for who, qs in (("model", cal.model), ("naive", cal.naive))}


def forecast_scored(trained: TrainedModel, X: np.ndarray, y: np.ndarray, dates, method: str = "fixed",
                    F: np.ndarray | None = None, gamma: float = ACI_GAMMA) -> Evaluation:
    return score_forecast(y, forecast(trained, X, dates, method, F, y, gamma))
