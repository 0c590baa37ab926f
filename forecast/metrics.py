"""Next-day error in USD, beside the naive forecast "tomorrow's close = today's close".

Small pure functions over aligned arrays of the same target days: `actual` closes,
`predicted` closes and `previous` closes (the last close of each window, which is also
the naive forecast). `score` gathers them, intervals included, into one typed result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    root_mean_squared_error,
)

from .intervals import IntervalMetrics, interval_metrics


def mae(actual, predicted) -> float:
    return float(mean_absolute_error(actual, predicted))


def rmse(actual, predicted) -> float:
    return float(root_mean_squared_error(actual, predicted))


def mape(actual, predicted) -> float:
    """In percent."""
    return float(100 * mean_absolute_percentage_error(actual, predicted))


def directional_accuracy(actual, predicted, previous) -> float:
    """Share of days where the predicted move from `previous` has the sign of the actual move."""
    actual, predicted, previous = map(np.asarray, (actual, predicted, previous))
    return float(np.mean(np.sign(predicted - previous) == np.sign(actual - previous)))


def beats_naive(actual, predicted, previous) -> float:
    """Share of days on which the model's absolute error is smaller than the naive one's."""
    actual, predicted, previous = map(np.asarray, (actual, predicted, previous))
    return float(np.mean(np.abs(actual - predicted) < np.abs(actual - previous)))


def ratio(model: float, naive: float) -> float:
    """model / naive; NaN where the naive forecast is exact on every day (flat prices)."""
    return model / naive if naive else math.nan


@dataclass(frozen=True)
class ErrorMetrics:
    mae: float   # USD
    rmse: float  # USD
    mape: float  # %


def error_metrics(actual, predicted) -> ErrorMetrics:
    return ErrorMetrics(mae(actual, predicted), rmse(actual, predicted), mape(actual, predicted))


@dataclass(frozen=True)
class Forecast:
    """One model's next-day forecasts for a run of target days, with the naive forecast beside them."""

    dates: pd.DatetimeIndex   # (n,) target days
    point: np.ndarray         # (n,) predicted closes, USD
    previous: np.ndarray      # (n,) the close before each target day: the naive forecast
    volatility: np.ndarray    # (n,) trailing std of daily log returns, known the day before
    bands: dict[float, tuple[np.ndarray, np.ndarray]]        # level % -> (lower, upper), USD
    naive_bands: dict[float, tuple[np.ndarray, np.ndarray]]  # the same for the naive forecast


@dataclass(frozen=True)
class ForecastMetrics:
    first_date: str
    last_date: str
    days: int
    mae: float                      # USD
    rmse: float                     # USD
    mape: float                     # %
    directional_accuracy: float     # share of days the predicted move has the actual move's sign
    mae_ratio_vs_naive: float       # below 1: better than "tomorrow = today"
    rmse_ratio_vs_naive: float
    beats_naive_share: float        # share of days with a smaller absolute error than naive's
    naive: ErrorMetrics
    intervals: dict[float, IntervalMetrics]        # level % -> how the model's intervals held
    naive_intervals: dict[float, IntervalMetrics]  # the same for the naive forecast's


SCALAR_METRICS = ("mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive",
                  "rmse_ratio_vs_naive", "beats_naive_share")


def score(actual, forecast: Forecast) -> ForecastMetrics:
    """Everything reported for one model on one set of target days, naive included."""
    actual = np.asarray(actual, dtype="float64")
    point, previous = forecast.point, forecast.previous
    model, naive = error_metrics(actual, point), error_metrics(actual, previous)

    def held(point_, bands):
        return {lv: interval_metrics(actual, point_, lo, hi, lv, forecast.volatility) for lv, (lo, hi) in bands.items()}

    return ForecastMetrics(
        first_date=f"{forecast.dates[0]:%Y-%m-%d}",
        last_date=f"{forecast.dates[-1]:%Y-%m-%d}",
        days=len(actual),
        mae=model.mae, rmse=model.rmse, mape=model.mape,
        directional_accuracy=directional_accuracy(actual, point, previous),
        mae_ratio_vs_naive=ratio(model.mae, naive.mae),
        rmse_ratio_vs_naive=ratio(model.rmse, naive.rmse),
        beats_naive_share=beats_naive(actual, point, previous),
        naive=naive,
        intervals=held(point, forecast.bands),
        naive_intervals=held(previous, forecast.naive_bands),
    )


@dataclass(frozen=True)
class Evaluation:
    actual: np.ndarray        # (n,) closes on forecast.dates, USD
    forecast: Forecast
    metrics: ForecastMetrics


def score_forecast(actual, forecast: Forecast) -> Evaluation:
    actual = np.asarray(actual, dtype="float64")
    return Evaluation(actual=actual, forecast=forecast, metrics=score(actual, forecast))


@dataclass(frozen=True)
class DMTest:
    statistic: float  # negative: the first forecast has the smaller loss
    p_value: float    # two-sided
    days: int


def diebold_mariano(actual, pred_a, pred_b, h: int = 1, power: int = 2) -> DMTest:
    """Diebold-Mariano test of equal accuracy with the Harvey-Leybourne-Newbold correction.

    Loss |error|**power (2: squared error, as R's forecast::dm.test). A negative statistic
    means `pred_a` has the smaller loss. Two-sided p-value from Student's t with n-1 df.
    """
    actual, pred_a, pred_b = (np.asarray(v, dtype="float64") for v in (actual, pred_a, pred_b))
    d = np.abs(actual - pred_a) ** power - np.abs(actual - pred_b) ** power
    n = len(d)
    if n < 3:
        raise ValueError(f"the Diebold-Mariano test needs at least 3 days, got {n}")
    centred = d - d.mean()
    # Long-run variance of the mean loss difference: autocovariances up to lag h-1.
    gamma = [np.dot(centred[k:], centred[: n - k]) / n for k in range(h)]
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    if variance <= 0:
        return DMTest(statistic=math.nan, p_value=math.nan, days=n)
    dm = d.mean() / math.sqrt(variance)
    correction = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    statistic = dm * correction
    p_value = 2 * stats.t.sf(abs(statistic), df=n - 1)
    return DMTest(statistic=float(statistic), p_value=float(p_value), days=n)


def dm_by_seed(actual, base, other) -> tuple[DMTest, ...]:
    """Diebold-Mariano of each seed's `other` forecasts against the same seed's `base` forecasts, all
    on the same days (`base` and `other`: one (n,) array per seed, in seed order); a negative statistic:
    `other` has the smaller loss."""
    if len(base) != len(other):
        raise ValueError(f"one forecast per seed on each side, got {len(base)} and {len(other)}")
    return tuple(diebold_mariano(actual, theirs, ours) for ours, theirs in zip(base, other))


# The pairs every comparison and backtest tests, first forecast first: a negative DM statistic favours it.
PAIRS = (("gru", "lstm"), ("gru", "naive"), ("lstm", "naive"))


def dm_tests(actual, forecasts: dict[str, np.ndarray]) -> dict[str, DMTest]:
    """Diebold-Mariano for every pair in PAIRS; `forecasts` holds "gru", "lstm" and "naive"."""
    return {f"{a}_vs_{b}": diebold_mariano(actual, forecasts[a], forecasts[b]) for a, b in PAIRS}


@dataclass(frozen=True)
class Spread:
    """One number over several seeds."""

    mean: float
    std: float | None        # sample std (ddof=1) over seeds; None for one seed
    values: tuple[float, ...]

    @classmethod
    def of(cls, values) -> Spread:
        values = tuple(float(v) for v in values)
        return cls(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None, values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


class OverSeeds:
    """One model's numbers on the same days under several seeds, as mean and spread: the one
    over-seeds summary of compare and backtest. Subclasses hold `metrics`, one ForecastMetrics per seed."""

    metrics: tuple[ForecastMetrics, ...]

    def spread(self, metric: str) -> Spread:
        return Spread.of(getattr(m, metric) for m in self.metrics)

    def interval(self, level: float, measure: str) -> Spread:
        return Spread.of(getattr(m.intervals[level], measure) for m in self.metrics)


# --- over time: the series the charts show ---


def aligned(*arrays) -> list[np.ndarray]:
    """The arrays as flat float64 arrays; ValueError unless they all have the same length."""
    arrays = [np.asarray(a, dtype="float64").ravel() for a in arrays]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"arrays must have the same length, got {[len(a) for a in arrays]}")
    return arrays


def cumulative_excess_error(actual, predicted, naive) -> np.ndarray:
    """Running total of ``|actual - predicted| - |actual - naive|`` in USD, one value per day.

    Below zero the model has so far made fewer dollars of absolute error than the naive
    forecast; the last value is ``days * (model MAE - naive MAE)``.
    """
    actual, predicted, naive = aligned(actual, predicted, naive)
    return np.cumsum(np.abs(actual - predicted) - np.abs(actual - naive))


def rolling_mae_ratio(actual, predicted, naive, days: int = 30) -> np.ndarray:
    """Model MAE / naive MAE over the trailing `days` days, one value per day.

    NaN for the first ``days - 1`` positions (an incomplete window) and where the naive
    forecast's MAE over the window is 0 (a flat stretch of prices).
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    actual, predicted, naive = aligned(actual, predicted, naive)
    model_mae = pd.Series(np.abs(actual - predicted)).rolling(days).mean()
    naive_mae = pd.Series(np.abs(actual - naive)).rolling(days).mean()
    return (model_mae / naive_mae.where(naive_mae > 0)).to_numpy()


def period_mae_ratio(dates, actual, predicted, naive, freq: str = "Y"):
    """Model MAE / naive MAE per calendar period of `dates` ("M" month, "Q" quarter, "Y" year).

    Returns (first day, last day, ratio) of each period that has days, in time order; a first or
    last period covers only the days it has. NaN where naive's MAE over the period is 0.
    """
    dates = pd.DatetimeIndex(dates)
    actual, predicted, naive = aligned(actual, predicted, naive)
    if len(dates) != len(actual):
        raise ValueError(f"arrays must have the same length, got {[len(dates), len(actual)]}")
    frame = pd.DataFrame({"model": np.abs(actual - predicted), "naive": np.abs(actual - naive), "day": dates})
    groups = frame.groupby(dates.to_period(freq).to_numpy(), sort=True)
    model, naive_mae = groups["model"].mean(), groups["naive"].mean()
    ratio = (model / naive_mae.where(naive_mae > 0)).to_numpy()
    return pd.DatetimeIndex(groups["day"].min()), pd.DatetimeIndex(groups["day"].max()), ratio
