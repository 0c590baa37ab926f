"""Charts. Each takes data (and optionally the axes to draw on) and returns the figure.

Figures are built with matplotlib's object API, so no global pyplot state is touched:
the CLI saves them, the notebook displays them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

USD = FuncFormatter(lambda v, _: f"${v:,.0f}")
COLOURS = {"actual": "black", "naive": "tab:gray", "gru": "tab:blue", "lstm": "tab:orange"}


def _axes(ax, nrows=1, ncols=1, figsize=(10, 4), **kw):
    if ax is not None:
        first = ax if nrows * ncols == 1 else ax[0]  # one axes, or a sequence of them
        return first.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=True, **kw)


def _lines(ax, dates, actual, predictions: dict, naive):
    ax.plot(dates, actual, color=COLOURS["actual"], lw=1.4, label="actual")
    ax.plot(dates, naive, color=COLOURS["naive"], lw=1, ls="--", label="naive (tomorrow = today)")
    for name, values in predictions.items():
        ax.plot(dates, values, color=COLOURS.get(name.split()[0].lower()), lw=1.1, label=name)
    ax.yaxis.set_major_formatter(USD)
    ax.grid(alpha=0.3)


def forecast_chart(dates, actual, predictions: dict, naive, title: str, zoom_days: int = 90, ax=None) -> Figure:
    """Actual vs predicted vs naive over the whole period (top) and its last `zoom_days` (bottom).

    `predictions` maps a label ("GRU", "LSTM") to next-day closes on `dates`; `ax`, if given,
    is a pair of axes.
    """
    fig, (full, zoom) = _axes(ax, 2, 1, figsize=(11, 7))
    dates = pd.DatetimeIndex(dates)
    _lines(full, dates, actual, predictions, naive)
    full.set_title(title)
    full.legend(loc="upper left", fontsize=8)
    tail = slice(max(len(dates) - zoom_days, 0), None)
    _lines(zoom, dates[tail], np.asarray(actual)[tail],
           {k: np.asarray(v)[tail] for k, v in predictions.items()}, np.asarray(naive)[tail])
    zoom.set_title(f"last {min(zoom_days, len(dates))} days")
    return fig


def history_chart(history: dict, title: str = "training", ax=None) -> Figure:
    """Training and validation loss per epoch, with the restored (best) epoch marked."""
    fig, ax = _axes(ax, figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="validation loss")
        best = int(np.argmin(history["val_loss"]))
        ax.axvline(best + 1, color="gray", ls=":", label=f"best epoch ({best + 1}), weights restored")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def ratio_chart(ratios: dict, errors: dict | None = None, ax=None) -> Figure:
    """Each model's MAE relative to the naive forecast's, as points (std over seeds as error
    bars) around the line at 1: points, not bars, because the axis is zoomed to show ~1% gaps."""
    fig, ax = _axes(ax, figsize=(5, 4))
    errors = errors or {}
    names = list(ratios)
    for i, name in enumerate(names):
        ax.errorbar([i], [ratios[name]], yerr=[errors.get(name) or 0], fmt="o", ms=9, capsize=6,
                    color=COLOURS.get(name.lower(), "tab:green"))
        ax.annotate(f"{ratios[name]:.4f}", (i, ratios[name]), xytext=(12, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.axhline(1.0, color=COLOURS["naive"], ls="--", lw=1, label="naive forecast = 1")
    spread = max(max(abs(v - 1) + (errors.get(k) or 0) for k, v in ratios.items()), 0.01)
    ax.set_ylim(1 - 2 * spread, 1 + 2 * spread)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("MAE / naive MAE")
    ax.set_title("test MAE relative to naive (below 1 beats naive)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def latency_chart(latency_ms: dict[str, dict[str, float]], ax=None) -> Figure:
    """Per model, one window's latency by each path ({"GRU": {"fast path": 0.3, "model.predict": 50}})."""
    fig, ax = _axes(ax, figsize=(5, 4))
    models = list(latency_ms)
    paths = list(next(iter(latency_ms.values())))
    width = 0.8 / len(paths)
    for k, path in enumerate(paths):
        x = np.arange(len(models)) + (k - (len(paths) - 1) / 2) * width
        values = [latency_ms[m][path] for m in models]
        bars = ax.bar(x, values, width, label=path, color=("tab:green", "tab:gray", "tab:purple")[k % 3])
        ax.bar_label(bars, labels=[f"{v:.3g} ms" for v in values], padding=2, fontsize=8)
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_yscale("log")
    ax.set_ylabel("ms per call (log scale)")
    ax.set_title("latency, one window (p50)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def comparison_chart(dates, actual, predictions: dict, naive, mae_ratio: dict, latency_ms: dict,
                     mae_ratio_std: dict | None = None, zoom_days: int = 90) -> Figure:
    """The comparison at a glance: the last `zoom_days` of forecasts, error vs naive, and latency."""
    fig = Figure(figsize=(12, 8), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    top = fig.add_subplot(grid[0, :])
    tail = slice(max(len(dates) - zoom_days, 0), None)
    _lines(top, pd.DatetimeIndex(dates)[tail], np.asarray(actual)[tail],
           {k: np.asarray(v)[tail] for k, v in predictions.items()}, np.asarray(naive)[tail])
    top.set_title(f"next-day forecasts, last {min(zoom_days, len(dates))} days of the test period")
    top.legend(loc="upper left", fontsize=8)
    ratio_chart(mae_ratio, mae_ratio_std, ax=fig.add_subplot(grid[1, 0]))
    latency_chart(latency_ms, ax=fig.add_subplot(grid[1, 1]))
    return fig


def price_chart(close: pd.Series, split_dates: dict | None = None, ax=None) -> Figure:
    """Daily closes on a log scale, with the train / validation / test periods shaded.

    `split_dates` is Split.describe(): {"train": {"first": ..., "last": ...}, ...}.
    """
    fig, ax = _axes(ax, figsize=(11, 4))
    ax.plot(close.index, close.values, color=COLOURS["actual"], lw=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(USD)
    for (name, span), colour in zip((split_dates or {}).items(), ("tab:blue", "tab:orange", "tab:red")):
        ax.axvspan(pd.Timestamp(span["first"]), pd.Timestamp(span["last"]), color=colour, alpha=0.12,
                   label=f"{name}: {span['first']}..{span['last']}")
    if split_dates:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title("daily close (log scale)")
    ax.grid(alpha=0.3)
    return fig


def window_chart(dates, window_usd, target_usd, window_scaled, target_scaled, ax=None) -> Figure:
    """One training example: the window and next-day target in USD (left) and as the model sees them (right)."""
    fig, (usd, scaled) = _axes(ax, 1, 2, figsize=(11, 3.5))
    dates = pd.DatetimeIndex(dates)  # window days + the target day
    usd.plot(dates[:-1], window_usd, marker=".", lw=1, label="window")
    usd.plot(dates[-1:], [target_usd], "o", color="tab:red", label="target (next day)")
    usd.yaxis.set_major_formatter(USD)
    usd.set_title("in USD")
    scaled.plot(np.arange(-len(window_scaled) + 1, 1), np.ravel(window_scaled), marker=".", lw=1, label="input")
    scaled.plot([1], [target_scaled], "o", color="tab:red", label="target")
    scaled.set_xlabel("days relative to the window's last day")
    scaled.set_title("model input and target (scaled)")
    for a in (usd, scaled):
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    usd.tick_params(axis="x", labelrotation=30)
    return fig
