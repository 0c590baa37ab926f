"""Closes -> 60-day windows -> chronological train/validation/test split -> scaled model inputs.

Each target day belongs to exactly one split. A window may look back into days of an
earlier split (that is known history), but fitted statistics only ever see training rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.preprocessing import MinMaxScaler

from . import config
from .errors import DataError

MIN_TARGETS = 20  # target days below which a 70/15/15 split leaves a split too small to mean anything


def rows_needed(window: int) -> int:
    """Daily closes needed for one window plus a minimal train/validation/test period."""
    return window + MIN_TARGETS


def make_windows(close: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Window i is close[i : i+window]; its target is close[i+window], the next day."""
    close = np.asarray(close, dtype="float64")
    if len(close) <= window:
        raise DataError(f"need more than {window} closes for one {window}-day window, got {len(close)}")
    X = sliding_window_view(close[:-1], window)  # (n, window), a view: no copy
    y = close[window:]                            # (n,)
    return X, y


def target_days(days: pd.DatetimeIndex, window: int) -> pd.DatetimeIndex:
    """The day each window forecasts: window i's last close is on days[i + window - 1], its target
    the next day, days[i + window]. The one rule every stage uses."""
    return days[window:]


def windowed(close: pd.Series, window: int) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Every window of a daily close series with its target and target day:
    X (n, window), y (n,), dates (n,)."""
    X, y = make_windows(close.to_numpy(), window)  # (n, window), (n,)
    return X, y, target_days(close.index, window)


@dataclass(frozen=True)
class Split:
    train: slice   # positions in the target-day axis
    val: slice
    test: slice

    def parts(self):
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self, target_dates: pd.DatetimeIndex) -> dict[str, dict[str, str | int]]:
        return {
            name: {
                "first": f"{target_dates[s][0]:%Y-%m-%d}",
                "last": f"{target_dates[s][-1]:%Y-%m-%d}",
                "days": s.stop - s.start,
            }
            for name, s in self.parts().items()
        }


def split_targets(
    target_dates: pd.DatetimeIndex,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    test_start: date | None = None,
) -> Split:
    """Chronological split of target days: train, then validation, then test. Nothing shuffled."""
    n = len(target_dates)
    if test_start is not None:
        n_pre = int(np.searchsorted(target_dates.values, np.datetime64(pd.Timestamp(test_start))))
        if n_pre >= n:
            raise DataError(f"--test-start {test_start} is after the last target day {target_dates[-1]:%Y-%m-%d}")
        # Keep validation the same share of the pre-test days as in the default 70/15 split.
        n_val = round(n_pre * val_fraction / (1 - test_fraction))
        n_train = n_pre - n_val
    else:
        n_test = round(n * test_fraction)
        n_val = round(n * val_fraction)
        n_train = n - n_val - n_test
    split = Split(slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n))
    for name, s in split.parts().items():
        if s.stop - s.start < 3:  # fewer cannot carry a metric with a spread, nor a DM test
            raise DataError(
                f"the {name} split has {max(s.stop - s.start, 0)} target days; "
                f"need more data or another --test-start"
            )
    return split


# --- scaling ------------------------------------------------------------------------------
# Both scalings map USD windows (n, window) to model inputs (n, window, 1) and targets (n,),
# and model outputs back to USD. Their parameters are fitted on training rows only.

@dataclass(frozen=True)
class WindowScaling:
    """Scale-free: every window relative to its own last close, in log ratios.

    The target is the next day's log return. Dividing by the training std of those returns
    gives the network unit-scale numbers; a model trained this way stays valid at prices it
    never saw, which a level-scaled model does not.
    """

    scale: float  # std of the training targets' daily log returns

    name = "window"

    def __post_init__(self):
        # A daily log-return std is a few percent; 0, a negative, NaN or a huge value (an edited
        # model.json) would turn every forecast into nan or inf dollars.
        if not _finite_number(self.scale) or not 0 < self.scale <= 1:
            raise ValueError(f"scale must be a number in (0, 1], got {self.scale!r}")

    @classmethod
    def fit(cls, X_train: np.ndarray, y_train: np.ndarray) -> WindowScaling:
        returns = np.log(y_train / X_train[:, -1])
        scale = float(np.std(returns)) or 1.0  # flat prices: any unit will do
        if scale > 1:
            raise DataError(f"the training days' daily log returns have a std of {scale:.3g}: these are not daily closes")
        return cls(scale=scale)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        z = np.log(X / X[:, -1:]) / self.scale  # (n, window), last column is 0
        return z[..., np.newaxis].astype("float32")  # (n, window, 1)

    def targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.log(y / X[:, -1]) / self.scale).astype("float32")

    def to_usd(self, X: np.ndarray, z: np.ndarray) -> np.ndarray:
        return X[:, -1] * np.exp(np.asarray(z, dtype="float64").reshape(-1) * self.scale)

    def params(self) -> dict:
        return {"scale": self.scale}


@dataclass(frozen=True)
class MinMaxScaling:
    """The classic tutorial scaling: price levels mapped to [0, 1] by the training min and max.

    Kept for comparison: prices above the training maximum map above 1, where the model has
    never been, and its errors grow (2024-25 BTC prices exceed the 2014-23 maximum).
    """

    low: float   # training minimum, USD
    high: float  # training maximum, USD

    name = "minmax"

    def __post_init__(self):
        if not (_finite_number(self.low) and _finite_number(self.high) and 0 < self.low <= self.high):
            raise ValueError(f"low and high must be prices with 0 < low <= high, got {self.low!r} and {self.high!r}")

    @classmethod
    def fit(cls, X_train: np.ndarray, y_train: np.ndarray) -> MinMaxScaling:
        seen = np.concatenate([X_train.ravel(), y_train])[:, np.newaxis]
        scaler = MinMaxScaler().fit(seen)
        return cls(low=float(scaler.data_min_[0]), high=float(scaler.data_max_[0]))

    def _scaler(self) -> MinMaxScaler:
        # Fitting on [low, high] rebuilds exactly the scaler fitted on the training rows.
        return MinMaxScaler().fit([[self.low], [self.high]])

    def inputs(self, X: np.ndarray) -> np.ndarray:
        z = self._scaler().transform(X.reshape(-1, 1)).reshape(X.shape)
        return z[..., np.newaxis].astype("float32")  # (n, window, 1)

    def targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._scaler().transform(np.reshape(y, (-1, 1))).reshape(-1).astype("float32")

    def to_usd(self, X: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self._scaler().inverse_transform(np.reshape(z, (-1, 1)).astype("float64")).reshape(-1)

    def params(self) -> dict:
        return {"low": self.low, "high": self.high}


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


SCALINGS = {"window": WindowScaling, "minmax": MinMaxScaling}
assert tuple(SCALINGS) == config.SCALINGS


def get_scaling(name: str):
    try:
        return SCALINGS[name]
    except KeyError:
        raise ValueError(f"unknown scaling {name!r}; valid: {', '.join(SCALINGS)}") from None


def scaling_from_dict(d: dict):
    """The scaling a model.json describes; ValueError naming what is wrong with it."""
    if not isinstance(d, dict) or not isinstance(d.get("params"), dict):
        raise ValueError(f"not a scaling: {d!r}")
    try:
        return get_scaling(d.get("name"))(**d["params"])
    except TypeError as e:  # missing or unknown parameters
        raise ValueError(str(e)) from None


def scaling_to_dict(s) -> dict:
    return {"name": s.name, "params": s.params()}


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray                   # (n, window) closes in USD, window i = close[i : i+window]
    y: np.ndarray                   # (n,) next-day closes in USD
    dates: pd.DatetimeIndex         # (n,) target days
    split: Split
    scaling: WindowScaling | MinMaxScaling

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
        s = self.split.parts()[name]
        return self.X[s], self.y[s], self.dates[s]

    def model_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        X, y, _ = self.part(name)
        return self.scaling.inputs(X), self.scaling.targets(X, y)  # (n, window, 1), (n,)


def build_dataset(close: pd.Series, cfg) -> Dataset:
    """Windows, chronological split and a scaling fitted on the training split only."""
    X, y, dates = windowed(close, cfg.window)  # (n, window), (n,), (n,)
    split = split_targets(dates, cfg.val_fraction, cfg.test_fraction, cfg.test_start)
    scaling = get_scaling(cfg.scaling).fit(X[split.train], y[split.train])
    return Dataset(X=X, y=y, dates=dates, split=split, scaling=scaling)
