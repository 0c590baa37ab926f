"""Using a saved model (the predict and evaluate commands): the next day's close with its
intervals, or the next-day errors over any range of days."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from . import saved_model
from .prices import Prices
from .sources import load_prices
from .errors import DataError, TooLittleData
from .metrics import Evaluation, Forecast, score_forecast
from .model_info import ModelInfo, TestSummary, TrainedModel
from .inference import forecast, method_widths
from .interval_methods import PREDICT_METHODS, method_metrics, window_sigma
from .intervals import band
from .windows import input_windows, latest_window, target_days, windowed

log = logging.getLogger(__name__)


def load_for(cfg, min_extra_rows: int = 0, own_source: bool = False) -> tuple[TrainedModel, Path, Prices]:
    """The saved model of cfg.cell, its folder, and prices long enough for its window: from cfg's
    source, or with `own_source` (no --csv or --ticker given) from the one the model was trained on."""
    directory = saved_model.run_dir(cfg.out, cfg.cell)
    saved = saved_model.load_model(directory, cfg.cell)
    if own_source:
        cfg = model_source(cfg, saved.info)
    window = saved.info.window
    try:
        prices = load_prices(cfg, min_rows=window + min_extra_rows)
    except TooLittleData as e:
        raise TooLittleData(f"{e} (the saved {cfg.cell.upper()} model looks back {window} days)") from None
    return saved, directory, prices


def model_source(cfg, info: ModelInfo):
    """cfg reading the prices the model was trained on: the same CSV (if it is still there) or the
    same Yahoo symbol; --start, --end and the cache folder stay as given."""
    if info.data.csv is None:
        return cfg.replace(csv=None, ticker=info.data.ticker)
    csv = Path(info.data.csv)
    if not csv.exists():
        raise DataError(f"the {info.cell.upper()} model was trained on {csv}, which is not there any more; "
                        "pass --csv PATH")
    return cfg.replace(csv=csv)  # the output's first line names it


@dataclass(frozen=True)
class NextDay:
    cell: str
    source: str
    last_date: str
    last_close: float
    date: str                                     # the day forecast: last_date + 1
    predicted_close: float
    change_pct: float
    intervals: dict[float, tuple[float, float]]   # level % -> (lower, upper) USD, drawn by `method`
    test: TestSummary | None                      # how these settings did on held-out test days
    trained_until: str                            # the last day the weights saw
    method: str                                   # the interval method of `intervals`
    sigma: float                                  # today's EWMA sigma of daily log returns
    usual_sigma: float                            # the calibration days' median sigma
    third: int                                    # 0 calm, 1 middle, 2 volatile: today's sigma among the calibration days'
    methods: dict[str, dict[float, tuple[float, float]]]  # every method predict can draw -> its intervals
    inputs: tuple[str, ...] = ("close",)          # what the model read of each day of the window
    calibrated: tuple[str, str] | None = None     # first and last calibration (validation) day of the intervals
    adapted_days: int = 0                         # days since the calibration whose close ACI's level has read
    aci_gamma: float = 0.005                      # ACI's step

    @property
    def calibration_age_days(self) -> int | None:
        """Days from the last calibration day to the day forecast: how old the intervals' evidence is."""
        if self.calibrated is None:
            return None
        return (date.fromisoformat(self.date) - date.fromisoformat(self.calibrated[1])).days


def next_day(cfg, own_source: bool = False) -> NextDay:
    saved, _, prices = load_for(cfg, own_source=own_source)
    info = saved.info
    X, F = latest_window(prices.close, prices.columns(info.inputs), info.inputs, info.window)  # (1, window), (1, window, k)
    last_day = prices.close.index[-1].date()
    # ACI's run: every day since the calibration whose close is known, then tomorrow (its close NaN)
    Xr, yr, dates, Fr = windows_between(info.window, prices, after_calibration(info), None, info.inputs)
    Xr, yr, Fr = np.concatenate([Xr, X]), np.append(yr, np.nan), None if F is None else np.concatenate([Fr, F])
    dates = dates.append(pd.DatetimeIndex([last_day + timedelta(days=1)]))
    run = forecast(saved, Xr, dates, "fixed", Fr)  # the model's forecasts, once; every method's bands below
    centres = {"model": run.point, "naive": run.previous}
    methods = {m: {lv: band(run.point[-1:], w[-1:]) for lv, w in method_widths(saved, Xr, m, centres, yr,
                                                                                 cfg.aci_gamma)["model"].items()}
               for m in PREDICT_METHODS}
    vc = saved.info.volatility
    predicted, last_close = float(run.point[-1]), float(X[0, -1])
    sigma = float(window_sigma(X, vc.train_variance)[0])
    return NextDay(
        cell=saved.info.cell,
        source=prices.source,
        last_date=last_day.isoformat(),
        last_close=last_close,
        date=(last_day + timedelta(days=1)).isoformat(),
        predicted_close=predicted,
        change_pct=100 * (predicted / last_close - 1),
        intervals=_first_day(methods[cfg.interval_method]),
        test=saved.info.test,
        trained_until=saved.info.trained_on.last,
        method=cfg.interval_method, sigma=sigma, usual_sigma=vc.median_sigma, third=int(vc.group([sigma])[0]),
        methods={m: _first_day(bands) for m, bands in methods.items()},
        inputs=info.inputs,
        calibrated=(info.calibration.first_date, info.calibration.last_date),
        adapted_days=len(yr) - 1, aci_gamma=cfg.aci_gamma,
    )


def _first_day(bands: dict) -> dict[float, tuple[float, float]]:
    return {lv: (float(lo[0]), float(hi[0])) for lv, (lo, hi) in bands.items()}


def windows_between(window: int, prices: Prices, since: date | None, until: date | None,
                    inputs: tuple[str, ...] = ("close",)):
    """Every target day in [since, until] whose close the prices hold (none, where there is none),
    each with its own previous `window` days: X (n, window), y (n,), target days (n,), and the inputs
    after the close (n, window, k) or None."""
    if len(prices.close) <= window:  # one window at most: no target day with a known close
        k = len(inputs) - 1
        return (np.empty((0, window)), np.empty(0), pd.DatetimeIndex([]), None if k == 0 else np.empty((0, window, k)))
    X, y, dates = windowed(prices.close, window)  # (n, window), (n,), (n,)
    F = input_windows(prices.close, prices.columns(inputs), inputs, window)  # (n, window, k) or None
    keep = np.ones(len(dates), dtype=bool)
    if since:
        keep &= dates >= pd.Timestamp(since)
    if until:
        keep &= dates <= pd.Timestamp(until)
    return X[keep], y[keep], dates[keep], None if F is None else F[keep]


def range_windows(window: int, prices: Prices, since: date | None, until: date | None,
                  inputs: tuple[str, ...] = ("close",)):
    """windows_between, refusing a range without a target day."""
    found = windows_between(window, prices, since, until, inputs)
    if not len(found[2]):
        days = target_days(prices.close.index, window)
        raise DataError(
            f"no target days between {since or 'the start'} and {until or 'the end'}: with a "
            f"{window}-day window the data allow {days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}"
        )
    return found


@dataclass(frozen=True)
class RangeEvaluation:
    cell: str
    source: str
    evaluation: Evaluation
    info: ModelInfo                  # the saved model's description: its split, the days it saw
    seen_days: int                   # days of the range the model was trained or early-stopped on
    chart: Path | None               # where publish wrote the chart; None before, or if it could not be written
    method: str = "fixed"            # the interval method of evaluation's bands
    methods: dict | None = None      # (method, "model"/"naive", level) -> MethodMetrics: every method predict can draw, and ACI
    aci_gamma: float | None = None   # ACI's step in `methods`

    @property
    def model_saw_until(self) -> str:
        """The last day that shaped the weights or chose the epoch."""
        return self.info.trained_on.last

    @property
    def overlap(self) -> bool:
        """The range includes days the model saw: in sample, not out-of-sample."""
        return self.seen_days > 0

    @property
    def sample(self) -> str:
        return "in-sample" if self.overlap else "out-of-sample"


def after_calibration(info: ModelInfo) -> date:
    """The day after the last calibration day: where ACI's run of days starts."""
    return date.fromisoformat(info.calibration.last_date) + timedelta(days=1)


def forecast_from(f: Forecast, k: int) -> Forecast:
    """`f` without its first k days."""
    cut = lambda bands: {lv: (lo[k:], hi[k:]) for lv, (lo, hi) in bands.items()}  # noqa: E731
    return Forecast(dates=f.dates[k:], point=f.point[k:], previous=f.previous[k:], volatility=f.volatility[k:],
                    bands=cut(f.bands), naive_bands=cut(f.naive_bands))


def after_training(info: ModelInfo, prices: Prices) -> date:
    """The first day after the model's training data, when the prices hold at least 2 target days
    from then on: the range `evaluate` uses by default, out of sample."""
    first = date.fromisoformat(info.trained_on.last) + timedelta(days=1)
    end = prices.close.index[-1].date()
    later = int((target_days(prices.close.index, info.window) >= pd.Timestamp(first)).sum())
    if later < 2:
        what = "no target days" if later == 0 else f"only 1 target day ({end})"
        raise DataError(
            f"{what} after the {info.cell.upper()} model's training data (which end on {info.trained_on.last}; "
            f"the prices end on {end}): out-of-sample evaluation needs at least 2; --in-sample evaluates it "
            "on the days it was trained on, --since/--until on any days"
        )
    return first


def evaluate_range(cfg, since: date | None = None, until: date | None = None, *,
                   in_sample: bool = False, own_source: bool = False) -> RangeEvaluation:
    """The saved model's next-day errors on target days since..until; with neither given, on the
    days after its training data (out of sample), or with `in_sample` on every day the prices allow.
    ACI's run starts the day after the calibration (or at the range, if that is earlier), as predict's
    does, so each day's band is the one predict would have drawn that day."""
    saved, _, prices = load_for(cfg, min_extra_rows=1, own_source=own_source)
    if since is None and until is None and not in_sample:
        since = after_training(saved.info, prices)
    X, y, dates, F = range_windows(saved.info.window, prices, since, until, saved.info.inputs)
    if len(dates) < 2:
        raise DataError(f"only {len(dates)} target day in the range; need at least 2 to evaluate")
    run_since = min(dates[0].date(), after_calibration(saved.info))
    X, y, run_dates, F = range_windows(saved.info.window, prices, run_since, until, saved.info.inputs)
    k = len(run_dates) - len(dates)  # (n_run,) = k days before the range, then the range
    whole = forecast(saved, X, run_dates, cfg.interval_method, F, y, cfg.aci_gamma)
    evaluation = score_forecast(y[k:], forecast_from(whole, k))
    f, centres = evaluation.forecast, {"model": whole.point, "naive": whole.previous}
    methods = {(m, who, lv): method_metrics(y[k:], centres[who][k:], w[k:], lv, f.volatility)
               for m in PREDICT_METHODS for who, by_level in method_widths(saved, X, m, centres, y, cfg.aci_gamma).items()
               for lv, w in by_level.items()}
    seen = saved.info.trained_on
    seen_days = int(((dates >= pd.Timestamp(seen.first)) & (dates <= pd.Timestamp(seen.last))).sum())
    return RangeEvaluation(
        cell=saved.info.cell, source=prices.source, evaluation=evaluation,
        info=saved.info, seen_days=seen_days, chart=None, method=cfg.interval_method, methods=methods,
        aci_gamma=cfg.aci_gamma,
    )
