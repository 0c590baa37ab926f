"""What a trained model is: its Keras model beside everything needed to use, judge and reproduce
it (ModelInfo, which saved_model writes to and reads from model.json). Types only: nothing here
trains, loads TensorFlow or reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .interval_methods import VolCalibration
from .intervals import Calibration
from .metrics import Evaluation, ForecastMetrics
from .windows import MinMaxScaling, WindowScaling


@dataclass(frozen=True)
class Span:
    first: str  # first target day, YYYY-MM-DD
    last: str   # last target day
    days: int

    @classmethod
    def of(cls, dates: pd.DatetimeIndex) -> Span:
        return cls(f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}", len(dates))


@dataclass(frozen=True)
class DataInfo:
    source: str           # "Yahoo Finance BTC-USD" or the CSV path
    first_date: str
    last_date: str
    rows: int
    gap_days_filled: int
    sha256: str           # Prices.sha256(): the exact dates and closes
    # Where the prices came from, so that predict and evaluate can default to it: exactly one is set
    # in a saved model (both None where no source applies, e.g. a backtest's folds).
    csv: str | None = None     # the price file's absolute path
    ticker: str | None = None  # the Yahoo Finance symbol


@dataclass(frozen=True)
class TestSummary:
    """The held-out test result a saved model carries, so `predict` can say how good it is."""

    first_date: str
    last_date: str
    days: int
    mae: float
    naive_mae: float
    mae_ratio_vs_naive: float

    @classmethod
    def of(cls, m: ForecastMetrics) -> TestSummary:
        return cls(m.first_date, m.last_date, m.days, m.mae, m.naive.mae, m.mae_ratio_vs_naive)


@dataclass(frozen=True)
class ModelInfo:
    """What model.json holds: everything needed to use, judge and reproduce a model."""

    cell: str
    window: int
    units: int
    params: int
    scaling: WindowScaling | MinMaxScaling
    calibration: Calibration      # interval q's from the held-out run's validation days
    volatility: VolCalibration    # the volatility-following methods' calibration, on the same days
    settings: dict                # Config.model_settings() it was trained with
    data: DataInfo
    split: dict[str, Span]        # train / val / test of the held-out run
    trained_on: Span              # target days the saved weights were fitted on (or chosen by)
    seed: int
    epochs_run: int
    best_epoch: int
    refit_epochs: int | None      # with --all-data: epochs of the refit on every day
    train_seconds: float
    seconds_per_epoch: float
    test: TestSummary | None       # the held-out test result of these settings
    trained_at: str
    versions: dict[str, str]

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the model reads of each day (config.INPUTS), in its channel order."""
        return ("close",) + tuple(getattr(self.scaling, "extra", ()))


@dataclass(frozen=True)
class TrainedModel:
    model: object                          # keras.Model
    info: ModelInfo
    history: dict[str, list[float]] | None = None  # per-epoch losses; None when loaded from disk
    test: Evaluation | None = None         # the held-out test evaluation; None when loaded from disk
    path: Path | None = None               # the model.keras it was loaded from; None when just trained
    val_point: object = None               # (n_val,) numpy forecasts of the validation days, USD; None when loaded
    methods: dict | None = None            # (method, "model"/"naive", level) -> MethodMetrics on the test days; None when loaded
