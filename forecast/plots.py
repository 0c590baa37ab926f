"""Charts. Each takes plain data (and optionally the axes to draw on) and returns the figure.

Figures are built with matplotlib's object API, so no global pyplot state is touched:
the CLI saves them, the notebook displays them.

The models' next-day forecasts sit on average a few hundred USD from the naive forecast
("tomorrow's close = today's close") on a price axis that spans tens of thousands, so a
price panel alone cannot show who is ahead. The forecast charts therefore pair one short
price panel with two panels of the *difference* to naive:

- the cumulative excess error, ``cumsum(|actual - model| - |actual - naive|)`` in USD
  (below zero: the model has made fewer dollars of error than naive so far), and
- the rolling MAE ratio to naive (below 1: the model was ahead over that window).

Both series are computed in `metrics` (`cumulative_excess_error`, `rolling_mae_ratio`,
`period_mae_ratio`); this module only draws them. It holds the shared styling and axes helpers
and the single-model charts; `plots_summary` puts several runs side by side (comparison, backtest).

One colour per forecast everywhere (`COLOURS`, `colour`), and one per data split
(`SPLIT_COLOURS`), which never reuses a forecast's colour.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from .metrics import aligned, cumulative_excess_error, period_mae_ratio, rolling_mae_ratio
from .report import amount, decimals



def signed_amount(value: float, least: int = 0) -> str:
    """"+1,234" or "-0.0345": an amount with its sign, readable for any price range."""
    return f"{value:+,.{decimals(value, least)}f}"


class Money(Formatter):
    """Tick labels in dollars with as few decimals as show every tick exactly: "$90,000" steps on a BTC
    axis, "$0.05" steps on an XRP one (never a column of "$0"). `signed`: "+$5" / "−$5" / "$0"."""

    def __init__(self, signed: bool = False):
        self.signed = signed
        self.ticks: list[float] = []

    def set_locs(self, locs) -> None:
        """The axis hands over its tick positions before it asks for their labels."""
        self.ticks = [float(x) for x in locs if np.isfinite(x)]

    def decimals(self) -> int:
        locs = self.ticks
        for d in range(9):
            if all(abs(round(x, d) - x) <= 1e-9 * max(1.0, abs(x)) for x in locs):
                return d
        return 9

    def __call__(self, value, pos=None) -> str:
        d = self.decimals()
        if not self.signed:
            return f"${value:,.{d}f}"
        if round(value, d) == 0:
            return "$0"
        return f"{'+' if value > 0 else '−'}${abs(value):,.{d}f}"

#: One colour per forecast, used by every chart: the models, the naive forecast and the actual close.
COLOURS = {"actual": "black", "naive": "tab:gray", "gru": "tab:blue", "lstm": "tab:orange"}
#: The data splits (shaded periods, and the training / validation loss curves): no forecast's colour.
SPLIT_COLOURS = {"train": "tab:green", "validation": "tab:purple", "test": "tab:brown"}
#: The next-day target in the window chart.
TARGET_COLOUR = "tab:red"

_SPLIT_NAMES = {"train": "train", "training": "train", "val": "validation", "validation": "validation",
                "test": "test", "testing": "test"}
_SPLIT_LABELS = {"train": "training", "validation": "validation", "test": "test"}
_ZOOM_SHADE = "0.8"  # the days the price zoom shows, marked on the whole-range panels
_LOG_SCALE_DAYS = 1.5 * 365.25  # a full-range price panel longer than this gets a log y-scale
# Up to this many days the ratio panel shows a rolling ratio; beyond, one ratio per calendar month,
# quarter or year (the longest range each is used for): 11 years of a rolling 30-day ratio are a
# solid band of noise, a dozen yearly values can be read.
_ROLLING_MAX_DAYS = 2 * 365
_PERIODS = ((3 * 366, "M", "month"), (8 * 366, "Q", "quarter"), (np.inf, "Y", "year"))
_LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8,
           "frameon": False}
_LOSS_UNITS = {"huber": ("Huber loss", "scaled daily log return, training std = 1"),
               "mse": ("MSE", "squared scaled daily log return, training std = 1"),
               "mae": ("MAE", "scaled daily log return, training std = 1")}


def colour(label: str) -> str:
    """The colour of a forecast label: "GRU", "gru", "LSTM seed 43", "naive (tomorrow = today)", "actual".

    The label's first word picks the entry of `COLOURS`; an unknown label is an error rather
    than a colour that might collide with another forecast's.
    """
    word = re.match(r"[a-z]*", str(label).strip().lower()).group()
    try:
        return COLOURS[word]
    except KeyError:
        raise ValueError(f"no colour for {label!r}: labels start with one of {sorted(COLOURS)}") from None


# --- small drawing helpers -----------------------------------------------------------------------


def panels(ax, count: int, figsize, height_ratios=None, side_by_side=False) -> tuple[Figure, list[Axes]]:
    """`count` axes, stacked (or side by side): new ones on a new figure, or the given ones
    (an Axes when count is 1, else a sequence of exactly `count` axes)."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        shape = (1, count) if side_by_side else (count, 1)
        return fig, list(fig.subplots(*shape, squeeze=False, height_ratios=height_ratios).ravel())
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != count:
        raise ValueError(f"this chart draws {count} panel(s); got {len(axes)} axes")
    return axes[0].figure, axes


class _SpanDateFormatter(ConciseDateFormatter):
    """ConciseDateFormatter whose labels and offset (the year under the axis) come from the ticks
    inside the view. Matplotlib formats every tick the locator returns, one past the view's end
    included, and ConciseDateFormatter takes its offset from the last of them: an Oct-Dec 2025
    panel was labelled "2026-Jan". Here the offset names the span shown: its year ("2025"), its
    years ("2025–2026"), its month when the ticks name no month, nothing when the ticks are years."""

    _span: str | None = None  # the offset, set by format_ticks

    def format_ticks(self, values):
        lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (-np.inf, np.inf)
        inside = [i for i, v in enumerate(values) if lo <= v <= hi]
        if not inside:
            self._span = None
            return super().format_ticks(values)
        labels = [""] * len(values)
        for i, label in zip(inside, super().format_ticks([values[i] for i in inside])):
            labels[i] = label
        shown = [labels[i] for i in inside]
        # The days shown: the view less the half day of padding each side (see dates_axis).
        if np.isfinite(lo) and np.isfinite(hi):
            first, last = num2date(lo + 0.5), num2date(max(hi - 0.5, lo + 0.5))
        else:
            first, last = num2date(values[inside[0]]), num2date(values[inside[-1]])
        if all(re.fullmatch(r"\d{4}", label) for label in shown):
            self._span = ""  # the ticks are years: they say it all
        elif first.year != last.year:
            self._span = f"{first:%Y}–{last:%Y}"
        elif any(re.search(r"[A-Za-z]|\d{4}", label) for label in shown) or first.month != last.month:
            self._span = f"{first:%Y}"
        else:  # only day numbers on the ticks
            self._span = f"{first:%Y-%b}"
        return labels

    def get_offset(self) -> str:
        return super().get_offset() if self._span is None else self._span


def dates_axis(ax, first=None, last=None) -> None:
    """Concise date ticks whose labels and offset name the span shown; with `first` and `last`
    (the first and last day drawn) the axis spans exactly those days, half a day wider each side,
    so no tick falls on a day that has no data (an Oct-Dec panel gets no "Jan" tick)."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_SpanDateFormatter(locator))
    if first is not None and last is not None:
        half = pd.Timedelta(hours=12)
        ax.set_xlim(pd.Timestamp(first) - half, pd.Timestamp(last) + half)


def legend(ax, **kw) -> None:
    """Legends go outside the axes, on the right, so they never cover data."""
    ax.legend(**{**_LEGEND, **kw})


def figure_title(fig, axes: list[Axes], title: str, owned: bool) -> None:
    if owned:
        fig.suptitle(title, fontsize=12)
    else:  # someone else's figure: the title goes on the first panel
        axes[0].set_title(f"{title}\n{axes[0].get_title()}", fontsize=10)


def _spans(spans) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """[(split name, first, last)] from {"training": (first, last)} or Split.describe()'s
    {"train": {"first": ..., "last": ...}}."""
    out = []
    for name, span in (spans or {}).items():
        first, last = (span["first"], span["last"]) if isinstance(span, dict) else span
        out.append((_SPLIT_NAMES[str(name).strip().lower()], pd.Timestamp(first), pd.Timestamp(last)))
    return out


def _shade_spans(ax, spans, first: pd.Timestamp, last: pd.Timestamp, label: bool) -> None:
    """Shades each split where it overlaps first..last (half a day wider each side, so a
    one-day overlap still shows)."""
    half = pd.Timedelta(hours=12)
    for name, start, end in _spans(spans):
        lo, hi = max(start, first), min(end, last)
        if lo > hi:
            continue
        ax.axvspan(lo - half, hi + half, color=SPLIT_COLOURS[name], alpha=0.13, lw=0, zorder=0,
                   label=f"{_SPLIT_LABELS[name]} days {start:%Y-%m-%d}..{end:%Y-%m-%d}" if label else None)


def _mark_zoom(ax, dates: pd.DatetimeIndex, k: int, label: str | None) -> None:
    if k < len(dates):
        ax.axvspan(dates[-k] - pd.Timedelta(hours=12), dates[-1] + pd.Timedelta(hours=12),
                   color=_ZOOM_SHADE, alpha=0.35, lw=0, zorder=0, label=label)


# --- forecast charts ------------------------------------------------------------------------------


def _price_zoom(ax, dates, actual, forecasts, naive, bands, band_level, k, note="") -> None:
    """The last `k` days: naive as a wide grey band under everything (it is the actual line one
    day late, and a thin line would vanish under the model lines), the models as points on
    top (filled circles, hollow diamonds, ...), the actual close as a black line. Interval
    bands: dashed edges in the forecast's colour, filled too when there is only one."""
    tail = slice(len(dates) - k, None)
    d = dates[tail]
    for name, (lo, hi) in (bands or {}).items():
        inside = np.mean((actual >= lo) & (actual <= hi))
        c = colour(name)
        if len(bands) == 1:  # several fills would mix into a colour that is no forecast's
            ax.fill_between(d, lo[tail], hi[tail], color=c, alpha=0.10, lw=0, zorder=1)
        ax.plot(d, lo[tail], color=c, lw=0.6, ls=(0, (4, 3)), alpha=0.8, zorder=1,
                label=f"{name} {band_level:g}% interval (actual inside on {inside:.0%} of {len(dates)} days)")
        ax.plot(d, hi[tail], color=c, lw=0.6, ls=(0, (4, 3)), alpha=0.8, zorder=1)
    ax.plot(d, naive[tail], color=colour("naive"), lw=6, alpha=0.45, solid_capstyle="butt", zorder=2,
            label="naive forecast (tomorrow = today)")
    # Forecasts as points: a line through them would cover the naive band and the other cell.
    styles = iter([{"marker": "o", "ms": 4.5}, {"marker": "D", "ms": 4.5, "mfc": "none", "mew": 1.2},
                   {"marker": "^", "ms": 4.5}, {"marker": "v", "ms": 4.5}])
    for name, values in forecasts.items():
        ax.plot(d, values[tail], color=colour(name), ls="none", zorder=3, label=f"{name} forecast",
                **next(styles, {"marker": "o", "ms": 4.5}))
    ax.plot(d, actual[tail], color=colour("actual"), lw=1.3, zorder=4, label="actual close")
    ax.yaxis.set_major_formatter(Money())
    ax.set_ylabel("close (USD)")
    what = f"last {k} of {len(dates)} days" if k < len(dates) else f"all {k} days"
    ax.set_title(f"{what}: next-day forecasts{note}", fontsize=10)
    ax.grid(alpha=0.3)
    dates_axis(ax, d[0], d[-1])
    legend(ax)


def _price_full(ax, dates, actual, spans, k) -> None:
    """The actual close over the whole range, as context. The forecasts are not drawn here: over
    years a forecast a few hundred USD off lies under the actual line, so its legend entry would
    point at nothing; the zoom and the difference panels below tell them apart."""
    ax.plot(dates, actual, color=colour("actual"), lw=0.9, label="actual close")
    years = (dates[-1] - dates[0]).days / 365.25
    if (dates[-1] - dates[0]).days > _LOG_SCALE_DAYS:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("close (USD, log scale)")
    else:
        ax.set_ylabel("close (USD)")
    ax.yaxis.set_major_formatter(Money())
    _shade_spans(ax, spans, dates[0], dates[-1], label=True)
    _mark_zoom(ax, dates, k, f"last {k} days (next panel)")
    ax.set_title(f"actual close, all {len(dates)} days ({years:.1f} years); the forecasts lie on it at this "
                 "scale: the panels below tell them apart", fontsize=10)
    ax.grid(alpha=0.3)
    dates_axis(ax, dates[0], dates[-1])
    legend(ax)


def _excess_panel(ax, dates, actual, forecasts, naive, spans, k, zoom_label) -> None:
    naive_mae = np.mean(np.abs(actual - naive))
    for name, values in forecasts.items():
        excess = cumulative_excess_error(actual, values, naive)
        mae = np.mean(np.abs(actual - values))
        ax.plot(dates, excess, color=colour(name), lw=1.4,
                label=f"{name}: {signed_amount(excess[-1])} USD in total\n"
                      f"(MAE {amount(mae, 0)} vs naive {amount(naive_mae, 0)} USD)")
    ax.axhline(0, color=colour("naive"), lw=1.5, label="naive (= 0)")
    _shade_spans(ax, spans, dates[0], dates[-1], label=False)
    _mark_zoom(ax, dates, k, zoom_label)
    ax.yaxis.set_major_formatter(Money(signed=True))
    ax.set_ylabel("USD, summed over days")
    ax.set_title(f"cumulative |model error| − |naive error| over the {len(dates)} days: "
                 f"below 0 = model ahead of naive", fontsize=10)
    ax.grid(alpha=0.3)
    dates_axis(ax, dates[0], dates[-1])
    legend(ax)


def _period(days: int) -> tuple[str, str] | None:
    """The calendar period the ratio panel aggregates over for a range of `days` days: None (a
    rolling window) up to _ROLLING_MAX_DAYS, then month, quarter or year (a few dozen values at most)."""
    if days <= _ROLLING_MAX_DAYS:
        return None
    return next((freq, name) for most, freq, name in _PERIODS if days <= most)


def _ratio_panel(ax, dates, actual, forecasts, naive, spans, k, rolling_days) -> None:
    period = _period(len(dates))
    if period is not None:
        _period_ratio_panel(ax, dates, actual, forecasts, naive, *period)
    else:
        # A window as long as the range would leave one point; short ranges get a shorter window.
        days = rolling_days if len(dates) >= 2 * rolling_days else max(len(dates) // 3, 2)
        for name, values in forecasts.items():
            ax.plot(dates, rolling_mae_ratio(actual, values, naive, days), color=colour(name), lw=1.2, label=name)
        ax.set_ylabel(f"{days}-day MAE / naive MAE")
        shorter = f" (range too short for {rolling_days} days)" if days != rolling_days else ""
        ax.set_title(f"rolling {days}-day MAE relative to naive{shorter}: below 1 = model ahead of naive",
                     fontsize=10)
    ax.axhline(1, color=colour("naive"), lw=1.5, label="naive (= 1)")
    _shade_spans(ax, spans, dates[0], dates[-1], label=False)
    _mark_zoom(ax, dates, k, None)
    ax.grid(alpha=0.3)
    dates_axis(ax, dates[0], dates[-1])
    legend(ax)


def _period_ratio_panel(ax, dates, actual, forecasts, naive, freq: str, name: str) -> None:
    """One MAE ratio per calendar period, as a step across the period's days with a point in its middle."""
    for label, values in forecasts.items():
        first, last, ratio = period_mae_ratio(dates, actual, values, naive, freq)
        edges = first.append(last[-1:] + pd.Timedelta(days=1))
        ax.step(edges, np.append(ratio, ratio[-1]), where="post", color=colour(label), lw=1.2, label=label)
        ax.plot(first + (last + pd.Timedelta(days=1) - first) / 2, ratio, "o", ms=3.5, color=colour(label))
    ax.set_ylabel(f"MAE / naive MAE per {name}")
    ax.set_title(f"MAE relative to naive per calendar {name}: below 1 = model ahead of naive "
                 f"({len(dates):,} days: too long for a readable rolling ratio)", fontsize=10)


def forecast_inputs(dates, actual, forecasts, naive, bands):
    dates = pd.DatetimeIndex(dates)
    actual, naive = aligned(actual, naive)
    forecasts = {name: aligned(values)[0] for name, values in forecasts.items()}
    bands = {name: aligned(lo, hi) for name, (lo, hi) in (bands or {}).items()}
    if not forecasts:
        raise ValueError("forecasts is empty: give at least one model's predictions")
    lengths = {len(dates), len(actual), len(naive), *map(len, forecasts.values()),
               *(len(lo) for lo, _ in bands.values())}
    if len(lengths) != 1:
        raise ValueError(f"dates, actual, naive, forecasts and bands must be aligned; got lengths {sorted(lengths)}")
    if len(dates) < 2:
        raise ValueError(f"a forecast chart needs at least 2 days, got {len(dates)}")
    for name in (*forecasts, *bands):
        colour(name)  # unknown labels fail before anything is drawn
    return dates, actual, forecasts, naive, bands


def forecast_chart(dates, actual, forecasts: dict[str, np.ndarray], naive, title: str, *,
                   bands: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, band_level: float = 80,
                   zoom_days: int = 90, rolling_days: int = 30, spans: dict[str, tuple] | None = None,
                   full_range: bool = False, ax=None) -> Figure:
    """Next-day forecasts against the actual close and the naive forecast, and the difference to naive.

    Panels, top to bottom:

    0. (only with ``full_range=True`` and more than 1.5 times `zoom_days` days; with fewer the
       zoom shows every day) all days: the actual close (the forecasts would lie under it),
       log y-scale when the range spans more than 1.5 years, `spans` shaded, the zoomed days marked;
    1. the last `zoom_days` days (all if fewer): actual close (line), forecasts (points), the
       naive forecast as a wide grey band underneath, and `bands` (lower, upper) at
       `band_level` percent as dashed edges in the forecast's colour (filled when only one);
    2. cumulative ``|model error| - |naive error|`` over all days, one line per forecast
       (below zero: the model is ahead of naive);
    3. the rolling `rolling_days`-day MAE ratio to naive (below 1: the model is ahead); a range
       shorter than twice that gets a window of a third of its days, said in the panel title; a
       range longer than two years gets one ratio per calendar month, quarter or year instead
       (`period_mae_ratio`).

    `forecasts` maps a label ("GRU", "LSTM", "GRU seed 43") to predicted closes; `naive` is the
    previous day's close; all arrays are aligned on `dates`. `spans` ({"training": (first, last),
    "validation": (first, last)}, or Split.describe()'s dicts) are shaded in every panel where
    they overlap the range. `ax`, if given, is a sequence of 3 axes, or 4 when the full-range
    panel is drawn (``full_range`` and more than `zoom_days` days); `title` then goes on the
    first of them instead of the figure.
    """
    dates, actual, forecasts, naive, bands = forecast_inputs(dates, actual, forecasts, naive, bands)
    if full_range and len(dates) <= 1.5 * zoom_days:
        zoom_days = len(dates)  # a whole-range panel would repeat the zoom with a few days more
    full = full_range and len(dates) > zoom_days
    ratios = [1.3, 1.3, 1.0, 0.9] if full else [1.3, 1.0, 0.9]
    fig, axes = panels(ax, len(ratios), (12, 3.1 * len(ratios)), ratios)
    forecast_panels(axes, dates, actual, forecasts, naive, bands, band_level, zoom_days, rolling_days,
                    spans, full, share=ax is None)
    figure_title(fig, axes, title, ax is None)
    return fig


def forecast_panels(axes, dates, actual, forecasts, naive, bands, band_level, zoom_days, rolling_days,
                    spans, full, share, note="") -> None:
    k = min(zoom_days, len(dates))
    if full:
        _price_full(axes[0], dates, actual, spans, k)
    zoom, excess, rolling = axes[-3:]
    _price_zoom(zoom, dates, actual, forecasts, naive, bands, band_level, k, note)
    _shade_spans(zoom, spans, dates[len(dates) - k], dates[-1], label=not full)
    _excess_panel(excess, dates, actual, forecasts, naive, spans, k,
                  None if full else f"last {k} days (price panel)")
    _ratio_panel(rolling, dates, actual, forecasts, naive, spans, k, rolling_days)
    if share:  # the whole-range panels share their dates axis
        rolling.sharex(excess)
        if full:
            axes[0].sharex(excess)


# --- training history -----------------------------------------------------------------------------


def _loss_label(loss: str) -> str:
    name, units = _LOSS_UNITS.get(loss.lower(), (f"{loss} loss", "scaled daily log return, training std = 1"))
    return f"{name}\n(" + units.replace(", ", ",\n") + ")"


def _wide(values: np.ndarray) -> bool:
    """A log scale pays off when values span more than a factor of 10 (and are all positive):
    then early epochs would flatten the later ones. Within one panel of a narrower range, a
    linear axis with enough decimals shows the changes best."""
    finite = values[np.isfinite(values)]
    return bool(len(finite) and (finite > 0).all() and finite.max() / finite.min() > 10)


def _digits(values: np.ndarray) -> int:
    """Decimals that tell the ticks of this range apart (losses can move in the 4th digit)."""
    finite = values[np.isfinite(values)]
    span = float(finite.max() - finite.min()) if len(finite) else 0.0
    return int(min(8, max(2, np.ceil(-np.log10(span)) + 1))) if span > 0 else 3


def history_chart(history: dict[str, list[float]], title: str = "training", *, loss: str = "huber",
                  best_epoch: int | None = None, ax=None) -> Figure:
    """Training and validation loss per epoch, each on its own panel (they sit at different
    levels: the validation period can be calmer than the training one; log scale where a panel
    spans more than a factor of 10), with the
    best epoch (1-based; default: the argmin of val_loss, the weights early stopping restores)
    marked on both.

    `ax`, if given, is one Axes (both curves on it, log scale) or a sequence of two (training
    above, validation below); without "val_loss" the chart has one panel.
    """
    train_loss = np.asarray(history["loss"], dtype="float64")
    val_loss = np.asarray(history["val_loss"], dtype="float64") if "val_loss" in history else None
    epochs = np.arange(1, len(train_loss) + 1)
    if best_epoch is None and val_loss is not None and len(val_loss):
        best_epoch = int(np.nanargmin(val_loss)) + 1
    curves = [("training loss", train_loss, SPLIT_COLOURS["train"])]
    if val_loss is not None:
        curves.append(("validation loss", val_loss, SPLIT_COLOURS["validation"]))
    one_axes = isinstance(ax, Axes) and len(curves) == 2
    fig, axes = panels(ax, 1 if one_axes else len(curves), (9, 2.6 * len(curves) + 0.6))
    groups = [(axes[0], curves)] if one_axes else [(a, [c]) for a, c in zip(axes, curves)]
    for a, group in groups:
        for label, values, c in group:
            best = label.startswith("validation") and best_epoch is not None and 1 <= best_epoch <= len(values)
            text = f"{label} (best {values[best_epoch - 1]:.4g})" if best else f"{label} (last {values[-1]:.4g})"
            a.plot(epochs, values, color=c, lw=1.5, marker="." if len(epochs) <= 60 else None, label=text)
            if best:
                a.plot([best_epoch], [values[best_epoch - 1]], marker="*", ms=13, ls="none", color=c,
                       markeredgecolor="black", zorder=5)
        if best_epoch is not None:
            a.axvline(best_epoch, color="0.3", ls=":", lw=1.2,
                      label=f"best epoch {best_epoch} of {len(epochs)} (weights restored)")
        shown = np.concatenate([values for _, values, _ in group])
        log = _wide(shown)
        a.set_yscale("log" if log else "linear")
        if not log and np.nanmin(shown) >= 0:
            # A linear loss axis starts at 0: zoomed to min..max, a validation loss flat to the
            # 4th digit filled the panel and its noise read as a trend. From 0, a real fall shows
            # and a flat curve looks flat. (A log axis, for losses spanning > 10x, cannot include 0.)
            a.set_ylim(0, None)
            shown = np.append(shown, 0.0)
        digits = _digits(shown)
        a.yaxis.set_major_formatter(FuncFormatter(lambda v, _, d=digits: f"{v:.{d}f}"))
        # On a log axis only the minor ticks at 2, 3 and 5 are labelled: all eight ran into each other.
        a.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _, d=digits: f"{v:.{d}f}" if v > 0 and f"{v:e}"[0] in "235" else ""))
        a.tick_params(axis="y", which="both", labelsize=8)
        a.grid(alpha=0.3, which="both")
        a.set_ylabel(_loss_label(loss), fontsize=8)
        a.set_title(" and ".join(label for label, _, _ in group) + (" (log scale)" if log else ""), fontsize=10)
        legend(a)
    for a in axes:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axes[-1].set_xlabel("epoch")
    if ax is None and len(axes) > 1:
        axes[1].sharex(axes[0])
    figure_title(fig, axes, title, ax is None)
    return fig


# --- data charts ----------------------------------------------------------------------------------


def price_chart(close: pd.Series, split_dates: dict | None = None, ax=None) -> Figure:
    """Daily closes on a log scale, with the train / validation / test periods shaded.

    `split_dates` is Split.describe(): {"train": {"first": ..., "last": ...}, "val": ..., "test": ...}.
    """
    fig, (ax,) = panels(ax, 1, (11, 4))
    ax.plot(close.index, close.values, color=COLOURS["actual"], lw=1, label="daily close")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(Money())
    first, last = close.index[0], close.index[-1]
    _shade_spans(ax, split_dates, pd.Timestamp(first), pd.Timestamp(last), label=True)
    legend(ax)
    ax.set_title("daily close (log scale)")
    ax.grid(alpha=0.3)
    dates_axis(ax, first, last)
    return fig


def window_chart(dates, window_usd, target_usd, window_scaled, target_scaled, ax=None) -> Figure:
    """One training example: the window and next-day target in USD (left) and as the model sees them (right)."""
    fig, (usd, scaled) = panels(ax, 2, (11, 3.5), side_by_side=True)
    dates = pd.DatetimeIndex(dates)  # window days + the target day
    usd.plot(dates[:-1], window_usd, marker=".", lw=1, color=COLOURS["actual"], label="window (daily closes)")
    usd.plot(dates[-1:], [target_usd], "o", color=TARGET_COLOUR, label="target (next day's close)")
    usd.yaxis.set_major_formatter(Money())
    usd.set_title("in USD")
    dates_axis(usd, dates[0], dates[-1])
    scaled.plot(np.arange(-len(window_scaled) + 1, 1), np.ravel(window_scaled), marker=".", lw=1,
                color=COLOURS["actual"], label="input")
    scaled.plot([1], [target_scaled], "o", color=TARGET_COLOUR, label="target")
    scaled.set_xlabel("days relative to the window's last day")
    scaled.set_title("model input and target (scaled)")
    for a in (usd, scaled):
        a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, fontsize=8, frameon=False)
        a.grid(alpha=0.3)
    return fig
