"""Every interval method on a backtest's folds (issue 20): each fold's bands calibrated on its own
validation days (the forecasts its task file keeps), then judged on its out-of-sample days, per fold
and over all folds together, for each cell (the first seed) and the naive forecast.

Everything but the forecasts comes from the price file: the closes, the EWMA sigma of each day
(from its window, seeded with the fold's training days' variance) and the GARCH(1,1)-t sigma
(fitted on the fold's training days, filtered forward with those parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .backtest_plan import Fold
from .backtest_task import FoldDays, TaskResult
from .config import CELLS
from .interval_methods import (ACI_GAMMA, PREDICT_METHODS, Days, MethodMetrics, garch_for, method_metrics,
                               widths_by_method, window_sigma)
from .verdicts import MethodChoice, choose_method

FORECASTS = (*CELLS, "naive")


@dataclass(frozen=True)
class MethodResult:
    method: str
    forecast: str                     # a cell or "naive"
    level: float
    overall: MethodMetrics            # every fold's days together
    folds: tuple[MethodMetrics, ...]  # fold by fold
    widths: np.ndarray                # (n,) half-width of the band on every day, log units (inf: unbounded)


@dataclass(frozen=True)
class BacktestIntervals:
    seed: int                                # the seed whose forecasts the cells' rows are
    gamma: float                             # ACI's step
    levels: tuple[float, ...]
    results: dict[tuple[str, str, float], MethodResult]   # (method, forecast, level) -> how it held
    dates: pd.DatetimeIndex                  # (n,) every out-of-sample day
    actual: np.ndarray                       # (n,) their closes
    points: dict[str, np.ndarray]            # forecast -> (n,) its point forecasts
    sigma: np.ndarray                        # (n,) the EWMA sigma of each day
    choice: MethodChoice                     # the method `predict` should show, by verdicts.choose_method

    def get(self, method: str, forecast: str, level: float) -> MethodResult:
        return self.results[method, forecast, level]


def fold_inputs(close: np.ndarray, fold: Fold, d: FoldDays, window: int) -> tuple[Days, Days]:
    """The fold's validation days and out-of-sample days as Days of the naive forecast (a cell's
    replaces the point): closes, EWMA sigma and GARCH-t sigma, all from the price file. The GARCH is
    fitted on the returns of the training closes only. Close position of target day j: j + window."""
    start, stop = fold.split.train.start, fold.split.test.stop
    closes = close[start:stop + window]  # (n,): target j's close is at j + window - start
    val_garch, test_garch = garch_for(closes, fold.split.train.stop + window - start,
                                      *(np.arange(p.start, p.stop) + window - start for p in (fold.split.val, fold.split.test)))
    return (Days(d.val_previous, d.val_actual, window_sigma(d.val_windows, d.train_variance), val_garch),
            Days(d.previous, d.actual, window_sigma(d.windows, d.train_variance), test_garch))


def backtest_intervals(close: pd.Series, folds: tuple[Fold, ...], days: dict[int, FoldDays],
                       results: dict[tuple[int, str, int], TaskResult], seed: int, levels: tuple[float, ...],
                       window: int, gamma: float = ACI_GAMMA) -> BacktestIntervals:
    """Every method, forecast and level on every fold, then over all folds."""
    values = close.to_numpy(dtype="float64")
    widths: dict[tuple, list[np.ndarray]] = {}
    per_fold: dict[tuple, list[MethodMetrics]] = {}
    points: dict[str, list[np.ndarray]] = {f: [] for f in FORECASTS}
    sigmas = []
    for fold in folds:
        d = days[fold.index]
        naive_cal, naive_out = fold_inputs(values, fold, d, window)
        sigmas.append(naive_out.sigma)
        for forecast in FORECASTS:
            run = None if forecast == "naive" else results[fold.index, forecast, seed]
            cal = naive_cal if run is None else replace(naive_cal, point=run.val_point)
            out = naive_out if run is None else replace(naive_out, point=run.forecast.point)
            points[forecast].append(out.point)
            for (method, level), w in widths_by_method(cal, out, levels, gamma).items():
                widths.setdefault((method, forecast, level), []).append(w)
                per_fold.setdefault((method, forecast, level), []).append(
                    method_metrics(d.actual, out.point, w, level, d.volatility))
    actual = np.concatenate([days[f.index].actual for f in folds])
    volatility = np.concatenate([days[f.index].volatility for f in folds])
    joined = {f: np.concatenate(p) for f, p in points.items()}
    found = {}
    for (method, forecast, level), parts in widths.items():
        w = np.concatenate(parts)
        found[method, forecast, level] = MethodResult(
            method, forecast, level, method_metrics(actual, joined[forecast], w, level, volatility),
            tuple(per_fold[method, forecast, level]), w)
    choice = choose_method({k: r.overall for k, r in found.items()}, PREDICT_METHODS, CELLS, levels)
    return BacktestIntervals(seed=seed, gamma=gamma, levels=tuple(levels), results=found, choice=choice,
                             dates=pd.DatetimeIndex(np.concatenate([days[f.index].dates.values for f in folds])),
                             actual=actual, points=joined, sigma=np.concatenate(sigmas))
