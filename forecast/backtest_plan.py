"""The backtest's fold plan: its settings, and where each fold's training, validation and
out-of-sample days lie on the series' target-day axis.

A fold is a run of `step` target days starting at its origin. Its models train on the target days
before the origin (all of them, or the last `train_days`), early-stopped and calibrated on the last
15% of those, exactly as `train` does (train.train_dataset). Nothing here trains, reads or writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, TooLittleData
from .model_info import Span
from .validate import whole_problem
from .windows import Dataset, Split, fit_scaling

DEFAULT_FOLDS = 12
MIN_FOLD_DAYS = 3        # days per fold, at least: --step below is refused, a shorter last partial fold dropped
MIN_SPLIT_DAYS = 3       # training and validation days before an origin, at least (as windows.split_targets)
REFITS = ("cold", "warm")  # how fold k's models start: fresh weights, or fold k-1's trained ones (same cell and seed)


@dataclass(frozen=True)
class BacktestSettings:
    """How the backtest runs; the model and training settings stay in Config."""

    seeds: int = 3                    # seeds per cell and fold, from Config.seed on
    folds: int | None = None          # folds ending at the data end; None: DEFAULT_FOLDS, or up to the end from first_test
    first_test: date | None = None    # first out-of-sample day; folds follow each other up to the data end
    step: int = 30                    # out-of-sample target days per fold, each forecast one step ahead
    train_days: int | None = None     # keep only the last N target days before each origin (rolling); None: all (expanding)
    workers: int = 1                  # 1: in this process, without Ray; more: a local Ray with this many workers
    address: str | None = None        # an existing Ray cluster ("host:6379"); then Ray places the tasks
    refit: str = "cold"               # one of REFITS: each fold from fresh weights, or from the previous fold's
    windows: tuple = ()               # several training windows in one run, each a train_days value; (): train_days alone

    def __post_init__(self):
        if self.folds is None and self.first_test is None:
            object.__setattr__(self, "folds", DEFAULT_FOLDS)
        for problem in _problems(self):
            raise ConfigError(problem)

    @property
    def engine(self) -> str:
        return "ray" if self.address or self.workers > 1 else "serial"

    def per_window(self) -> tuple[BacktestSettings, ...]:
        """One settings per training window, shortest first and expanding last: the order the
        windows' reports compare them in (more history further down)."""
        return tuple(replace(self, train_days=days, windows=()) for days in sorted(self.windows, key=window_order))


def window_order(days: int | None) -> float:
    """Training windows by how much history they keep: expanding (None) keeps the most."""
    return float("inf") if days is None else days


def window_name(days: int | None) -> str:
    return "expanding" if days is None else f"rolling {days} days"


def _problems(s: BacktestSettings):
    def whole(name, low):
        value = getattr(s, name)
        if value is not None:  # None: not given (folds, train_days); whole_problem would refuse it
            return whole_problem(name, value, low)

    return [p for p in (
        whole("seeds", 1),
        whole("folds", 1),
        s.folds is not None and s.first_test is not None and "give folds or first_test, not both",
        whole("step", MIN_FOLD_DAYS),
        whole("train_days", 2 * MIN_SPLIT_DAYS),
        whole("workers", 1),
        s.address is not None and not (isinstance(s.address, str) and s.address.strip())
        and f"address must name a Ray cluster (host:port), got {s.address!r}",
        s.refit not in REFITS and f"refit must be one of {', '.join(REFITS)}, got {s.refit!r}",
        *_window_problems(s),
    ) if p]


def _window_problems(s: BacktestSettings) -> list:
    if not s.windows:
        return []
    if not isinstance(s.windows, tuple) or len(s.windows) < 2:
        return [f"windows must be a tuple of at least 2 training windows, got {s.windows!r}"]
    if s.train_days is not None:
        return ["give train_days or windows, not both"]
    twice = next((w for k, w in enumerate(s.windows) if w in s.windows[:k]), False)
    return [twice is not False and f"training window {window_name(twice)} is given twice",
            *(whole_problem("train_days", w, 2 * MIN_SPLIT_DAYS) for w in s.windows if w is not None)]


@dataclass(frozen=True)
class Fold:
    index: int      # 0-based, in time order
    split: Split    # positions on the whole series' target-day axis: training, validation, the fold's days
    train: Span
    val: Span
    test: Span      # the out-of-sample days; test.first is the origin

    @property
    def number(self) -> int:
        return self.index + 1

    def bounds(self) -> dict[str, list[str]]:
        return {name: [s.first, s.last] for name, s in (("train", self.train), ("val", self.val), ("test", self.test))}


def fold_split(start: int, origin: int, stop: int, val_fraction: float) -> Split:
    """Target days start..origin-1 split in time order, the last `val_fraction` of them for validation
    (early stopping and interval calibration); origin..stop-1 are the fold's out-of-sample days."""
    n_val = round((origin - start) * val_fraction)
    return Split(slice(start, origin - n_val), slice(origin - n_val, origin), slice(origin, stop))


def days_before(val_fraction: float) -> int:
    """The fewest target days before an origin that leave MIN_SPLIT_DAYS for training and for validation."""
    n = 2 * MIN_SPLIT_DAYS
    while round(n * val_fraction) < MIN_SPLIT_DAYS or n - round(n * val_fraction) < MIN_SPLIT_DAYS:
        n += 1
    return n


def make_folds(dates: pd.DatetimeIndex, s: BacktestSettings, val_fraction: float = 0.15) -> tuple[Fold, ...]:
    """The folds over target days `dates`: the last `folds` x `step` days, or consecutive folds from
    `first_test` to the end (a last partial fold is kept if it has at least MIN_FOLD_DAYS days)."""
    n = len(dates)
    if s.first_test is not None:
        first = int(np.searchsorted(dates.values, np.datetime64(pd.Timestamp(s.first_test))))
        if first >= n:
            raise DataError(f"--first-test {s.first_test} is after the last target day {dates[-1]:%Y-%m-%d}")
        origins = [o for o in range(first, n, s.step) if min(o + s.step, n) - o >= MIN_FOLD_DAYS]
        if not origins:
            raise TooLittleData(f"--first-test {s.first_test} leaves {n - first} target days up to "
                                f"{dates[-1]:%Y-%m-%d}; a fold needs at least {MIN_FOLD_DAYS}")
    else:
        first = n - s.folds * s.step
        origins = [first + k * s.step for k in range(s.folds)]
    need = days_before(val_fraction)
    if s.train_days is not None and s.train_days < need:
        raise ConfigError(f"--train-days {s.train_days} is too few: {MIN_SPLIT_DAYS} training and {MIN_SPLIT_DAYS} "
                          f"validation days (the last {val_fraction:.0%}) need at least {need}")
    need = max(need, s.train_days or 0)
    if origins[0] < need:  # later folds have at least as many days before them
        has = max(origins[0], 0)
        raise TooLittleData(
            f"too little data for the backtest: the first fold needs {need} target days before its origin, "
            f"it has {has}; use fewer --folds, a smaller --step, a later --first-test or more data"
        )
    folds = []
    for k, origin in enumerate(origins):
        start = 0 if s.train_days is None else origin - s.train_days
        split = fold_split(start, origin, min(origin + s.step, n), val_fraction)
        folds.append(Fold(k, split, *(Span.of(dates[p]) for p in (split.train, split.val, split.test))))
    return tuple(folds)


def fold_dataset(X: np.ndarray, y: np.ndarray, dates: pd.DatetimeIndex, fold: Fold, scaling: str,
                 F: np.ndarray | None = None, inputs: tuple[str, ...] = ("close",)) -> Dataset:
    """The fold's rows only, from its first training day to its last out-of-sample day, with the
    scaling fitted on its training rows: nothing at or after the origin reaches the fit. F: every
    window's inputs after the close (windows.input_windows), None for the close alone."""
    lo, hi = fold.split.train.start, fold.split.test.stop
    split = Split(*(slice(p.start - lo, p.stop - lo) for p in (fold.split.train, fold.split.val, fold.split.test)))
    X, y, dates = X[lo:hi], y[lo:hi], dates[lo:hi]  # (m, window), (m,), (m,): the fold's target days
    F = None if F is None else F[lo:hi]             # (m, window, k)
    train = split.train
    return Dataset(X=X, y=y, dates=dates, split=split, F=F,
                   scaling=fit_scaling(scaling, X[train], y[train], None if F is None else F[train], inputs))
