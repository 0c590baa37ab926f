"""Using a saved model: the next day's close, or next-day error over any range of days."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from . import artifacts, evaluate, plots
from .data import Prices, load_prices
from .errors import DataError, ModelError, TooLittleData
from .train import predict_usd
from .windows import make_windows, scaling_from_dict as _scaling_from_dict


def scaling_from_dict(meta_scaling: dict):
    try:
        return _scaling_from_dict(meta_scaling)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"model.json has an unusable scaling {meta_scaling!r} ({e}); retrain the model") from None


def load_for(cfg, min_extra_rows: int = 0):
    """The saved model of cfg.cell and prices long enough for its window."""
    saved = artifacts.load_model(artifacts.run_dir(cfg.out, cfg.cell))
    window = saved.meta["window"]
    try:
        prices = load_prices(cfg, min_rows=window + min_extra_rows)
    except TooLittleData as e:
        raise TooLittleData(f"{e} (the saved {cfg.cell.upper()} model looks back {window} days)") from None
    return saved, prices


def next_day(cfg) -> dict:
    saved, prices = load_for(cfg)
    window = saved.meta["window"]
    scaling = scaling_from_dict(saved.meta["scaling"])
    X = prices.close.to_numpy()[-window:][np.newaxis, :]  # (1, window)
    predicted = float(predict_usd(saved.model, scaling, X)[0])
    last_day = prices.close.index[-1].date()
    last_close = float(X[0, -1])
    return {
        "cell": saved.meta["cell"],
        "source": prices.source,
        "last_date": last_day.isoformat(),
        "last_close": last_close,
        "date": (last_day + timedelta(days=1)).isoformat(),
        "predicted_close": predicted,
        "change_pct": 100 * (predicted / last_close - 1),
    }


def range_forecasts(saved, prices: Prices, since: date | None, until: date | None):
    """Every target day in [since, until], each predicted from its own previous `window` days."""
    window = saved.meta["window"]
    X, y = make_windows(prices.close.to_numpy(), window)  # (n, window), (n,)
    dates = prices.close.index[window:]
    keep = np.ones(len(dates), dtype=bool)
    if since:
        keep &= dates >= pd.Timestamp(since)
    if until:
        keep &= dates <= pd.Timestamp(until)
    if not keep.any():
        first, last = dates[0], dates[-1]
        raise DataError(
            f"no target days between {since or 'the start'} and {until or 'the end'}: with a "
            f"{window}-day window the data allow {first:%Y-%m-%d}..{last:%Y-%m-%d}"
        )
    X, y, dates = X[keep], y[keep], dates[keep]
    predicted = predict_usd(saved.model, scaling_from_dict(saved.meta["scaling"]), X)
    return dates, y, predicted, X[:, -1]


def evaluate_range(cfg, since: date | None, until: date | None) -> tuple[str, dict]:
    saved, prices = load_for(cfg, min_extra_rows=1)
    dates, actual, predicted, previous = range_forecasts(saved, prices, since, until)
    if len(dates) < 2:
        raise DataError(f"only {len(dates)} target day in the range; need at least 2 to evaluate")
    metrics = {
        "cell": saved.meta["cell"],
        "source": prices.source,
        "first_date": f"{dates[0]:%Y-%m-%d}",
        "last_date": f"{dates[-1]:%Y-%m-%d}",
        # The last day that shaped the weights: early stopping watched validation up to here.
        "model_saw_until": saved.meta["split"]["val"]["last"],
        **evaluate.forecast_metrics(actual, predicted, previous),
    }
    cell = saved.meta["cell"].upper()
    chart = saved.directory / f"evaluate_{metrics['first_date']}_{metrics['last_date']}.png"
    artifacts.save_figure(chart, plots.forecast_chart(
        dates, actual, {cell: predicted}, previous,
        f"{cell} next-day forecast {metrics['first_date']}..{metrics['last_date']} (MAE {metrics['mae']:,.0f} USD)"))
    seen = saved.meta["split"]
    overlap = (dates[0] <= pd.Timestamp(seen["val"]["last"])) and (dates[-1] >= pd.Timestamp(seen["train"]["first"]))
    text = "\n".join([
        f"{cell} on {prices.source}, target days {metrics['first_date']}..{metrics['last_date']} ({metrics['days']} days)",
        evaluate.metrics_table({cell: metrics}),
        *(["note: the range overlaps the model's training or validation days; those errors are not out-of-sample"]
          if overlap else []),
        f"chart: {chart}",
    ])
    return text, metrics
