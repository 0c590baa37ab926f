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
from scipy.special import logsumexp
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


# The inputs beside the close (config.INPUTS), each from its columns' windows (n, window) and the
# window's last close (n, 1) to the input (n, window). Each window holds the days up to the day
# before its target, as the close's does, so no input reads the day it forecasts.
FEATURES = {
    "open": lambda col, last: np.log(col["open"] / last),
    "high": lambda col, last: np.log(col["high"] / last),
    "low": lambda col, last: np.log(col["low"] / last),
    "range": lambda col, last: np.log(col["high"] / col["low"]),
    "volume": lambda col, last: _log_over_mean(col["volume"]),
}
assert tuple(FEATURES) == config.INPUTS[1:]


def _log_over_mean(volume: np.ndarray) -> np.ndarray:
    """log(v / mean(v)) over each window (row), in log space: log v - (logsumexp(log v) - log n).
    The same numbers on any real volumes; two of 1.7e308 in a window would make the mean inf (and
    the input -inf on every day) the plain way."""
    logs = np.log(volume)
    return logs - (logsumexp(logs, axis=1, keepdims=True) - np.log(volume.shape[1]))


def input_windows(close: pd.Series, table: pd.DataFrame | None, inputs: tuple[str, ...],
                  window: int) -> np.ndarray | None:
    """The inputs after the close for every window, scale-free: (n, window, k) for the k inputs
    after "close" in `inputs`, None for the close alone. `table` holds their columns on the close's days."""
    if not inputs[1:]:
        return None
    last = make_windows(close.to_numpy(), window)[0][:, -1:]  # (n, 1)
    columns = {c: make_windows(table[c].to_numpy(dtype="float64"), window)[0] for c in table.columns}  # each (n, window)
    return _stack(columns, last, inputs)


def latest_window(close: pd.Series, table: pd.DataFrame | None, inputs: tuple[str, ...],
                  window: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The window ending on the last day, the one that forecasts the day after it: X (1, window) of
    closes and its inputs after the close, (1, window, k) or None, as input_windows gives them."""
    X = close.to_numpy(dtype="float64")[-window:][np.newaxis, :]  # (1, window)
    if not inputs[1:]:
        return X, None
    columns = {c: table[c].to_numpy(dtype="float64")[-window:][np.newaxis, :] for c in table.columns}  # each (1, window)
    return X, _stack(columns, X[:, -1:], inputs)


def _stack(columns: dict[str, np.ndarray], last: np.ndarray, inputs: tuple[str, ...]) -> np.ndarray:
    for name in inputs[1:]:
        if name not in FEATURES:
            raise ValueError(f"unknown input {name!r}; valid: {', '.join(config.INPUTS)}")
    return np.stack([FEATURES[name](columns, last) for name in inputs[1:]], axis=-1)  # (n, window, k)


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

    scale: float                     # std of the training targets' daily log returns
    extra: tuple[str, ...] = ()      # the inputs after the close (input_windows), in channel order
    center: tuple[float, ...] = ()   # each one's mean over the training windows
    spread: tuple[float, ...] = ()   # each one's std over the training windows

    name = "window"

    def __post_init__(self):
        for name in ("extra", "center", "spread"):  # lists as read from model.json
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        # A daily log-return std is a few percent; 0, a negative, NaN or a huge value (an edited
        # model.json) would turn every forecast into nan or inf dollars.
        if not _finite_number(self.scale) or not 0 < self.scale <= 1:
            raise ValueError(f"scale must be a number in (0, 1], got {self.scale!r}")
        extra = self.extra
        if not (isinstance(extra, tuple) and all(isinstance(n, str) for n in extra)
                and list(extra) == sorted(set(extra) & set(FEATURES), key=config.INPUTS.index)):
            raise ValueError(f"extra must name inputs of {', '.join(FEATURES)} once each, in that order; got {extra!r}")
        for name in ("center", "spread"):
            values = getattr(self, name)
            if not (isinstance(values, tuple) and len(values) == len(extra) and all(map(_finite_number, values))):
                raise ValueError(f"{name} must hold one finite number per extra input, got {values!r}")
        if not all(v > 0 for v in self.spread):
            raise ValueError(f"spread must be positive, got {self.spread!r}")

    @classmethod
    def fit(cls, X_train: np.ndarray, y_train: np.ndarray, F_train: np.ndarray | None = None,
            extra: tuple[str, ...] = ()) -> WindowScaling:
        returns = np.log(y_train / X_train[:, -1])
        scale = float(np.std(returns)) or 1.0  # flat prices: any unit will do
        if scale > 1:
            raise DataError(f"the training days' daily log returns have a std of {scale:.3g}: these are not daily closes")
        if not extra:
            return cls(scale=scale)
        center = F_train.mean(axis=(0, 1))  # (k,)
        spread = F_train.std(axis=(0, 1))   # (k,)
        return cls(scale=scale, extra=tuple(extra), center=tuple(map(float, center)),
                   spread=tuple(float(v) or 1.0 for v in spread))  # a constant input: any unit will do

    def inputs(self, X: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
        z = np.log(X / X[:, -1:]) / self.scale  # (n, window), last column is 0
        z = z[..., np.newaxis].astype("float32")  # (n, window, 1)
        if not self.extra:
            return z
        if F is None or F.shape != (*X.shape, len(self.extra)):
            raise ValueError(f"the model reads close,{','.join(self.extra)}: windows of shape {(*X.shape, len(self.extra))} "
                             f"beside the closes, got {None if F is None else F.shape}")
        other = (F - np.asarray(self.center)) / np.asarray(self.spread)  # (n, window, k)
        return np.concatenate([z, other.astype("float32")], axis=-1)      # (n, window, 1 + k)

    def targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.log(y / X[:, -1]) / self.scale).astype("float32")

    def to_usd(self, X: np.ndarray, z: np.ndarray) -> np.ndarray:
        return X[:, -1] * np.exp(np.asarray(z, dtype="float64").reshape(-1) * self.scale)

    def params(self) -> dict:
        if not self.extra:  # what a close-only model.json has always held
            return {"scale": self.scale}
        return {"scale": self.scale, "extra": list(self.extra), "center": list(self.center), "spread": list(self.spread)}


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
    def fit(cls, X_train: np.ndarray, y_train: np.ndarray, F_train: np.ndarray | None = None,
            extra: tuple[str, ...] = ()) -> MinMaxScaling:
        if extra:  # Config refuses this; a scaling of price levels has no place for log ratios
            raise ValueError("the minmax scaling reads the close only")
        seen = np.concatenate([X_train.ravel(), y_train])[:, np.newaxis]
        scaler = MinMaxScaler().fit(seen)
        return cls(low=float(scaler.data_min_[0]), high=float(scaler.data_max_[0]))

    def _scaler(self) -> MinMaxScaler:
        # Fitting on [low, high] rebuilds exactly the scaler fitted on the training rows.
        return MinMaxScaler().fit([[self.low], [self.high]])

    def inputs(self, X: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
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
    F: np.ndarray | None = None     # (n, window, k) the inputs after the close (input_windows), if any

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
        s = self.split.parts()[name]
        return self.X[s], self.y[s], self.dates[s]

    def extra(self, name: str) -> np.ndarray | None:
        """The part's inputs after the close, (m, window, k); None for the close alone."""
        return None if self.F is None else self.F[self.split.parts()[name]]

    def model_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        X, y, _ = self.part(name)
        return self.scaling.inputs(X, self.extra(name)), self.scaling.targets(X, y)  # (n, window, 1 + k), (n,)


def fit_scaling(name: str, X: np.ndarray, y: np.ndarray, F: np.ndarray | None, inputs: tuple[str, ...]):
    """Scaling `name` fitted on these rows (training rows only) for a model reading `inputs`."""
    return get_scaling(name).fit(X, y, F, tuple(inputs[1:]))


def build_dataset(close: pd.Series, cfg, table: pd.DataFrame | None = None) -> Dataset:
    """Windows, chronological split and a scaling fitted on the training split only. `table` holds
    the columns cfg.inputs read beside the close (Prices.columns)."""
    X, y, dates = windowed(close, cfg.window)  # (n, window), (n,), (n,)
    F = input_windows(close, table, cfg.inputs, cfg.window)  # (n, window, k) or None
    split = split_targets(dates, cfg.val_fraction, cfg.test_fraction, cfg.test_start)
    train = split.train
    scaling = fit_scaling(cfg.scaling, X[train], y[train], None if F is None else F[train], cfg.inputs)
    return Dataset(X=X, y=y, dates=dates, split=split, scaling=scaling, F=F)
