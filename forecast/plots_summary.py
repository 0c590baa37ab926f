"""The charts that put several runs side by side: GRU vs LSTM vs naive (`comparison_chart`, with
`ratio_chart` and the speed panels) and the walk-forward backtest's folds (`backtest_chart`).

They draw with the shared styling and helpers of `plots` (colours, formatters, axes, and the
forecast chart's three panels) and, like every chart, take plain data and return the figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from .metrics import aligned
from .plots import (
    Money,
    _LOG_SCALE_DAYS,
    colour,
    dates_axis,
    figure_title,
    forecast_inputs,
    forecast_panels,
    legend,
    panels,
    signed_amount,
)


def _fmt_p(p) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _fmt_ratio(ratio, digits: int = 4) -> str:
    """A ratio to naive's error; NaN (naive exact on every day) is said, never printed as "nan"."""
    return f"{ratio:.{digits}f}" if np.isfinite(ratio) else "n/a (naive's error is 0)"


# --- comparison ---------------------------------------------------------------------------------


def ratio_chart(ratios: dict, errors: dict | None = None, ax=None, *, seeds: int | None = None,
                dm_p_vs_naive: dict[str, float] | None = None, dm_p_between: float | None = None,
                dm_seed: int | None = None) -> Figure:
    """Each model's test MAE relative to the naive forecast's, as points around the line at 1
    (points, not bars: the axis is zoomed to show ~1% gaps).

    `errors` (std over `seeds` seeds, None or 0 for none) are drawn as error bars;
    `dm_p_vs_naive` (per model) and `dm_p_between` (first vs second model) are Diebold-Mariano
    p-values written beside the points and in the title (computed on seed `dm_seed`'s
    forecasts, if given).
    """
    fig, (ax,) = panels(ax, 1, (5.5, 4))
    errors, dm = errors or {}, dm_p_vs_naive or {}
    names = list(ratios)
    for i, name in enumerate(names):
        err = errors.get(name) or 0.0
        ax.errorbar([i], [ratios[name]], yerr=[err], fmt="o", ms=9, capsize=7, elinewidth=1.5,
                    color=colour(name), zorder=3)
        text = _fmt_ratio(ratios[name]) + (f" ± {err:.4f}" if err else "")
        if name in dm:
            text += f"\nDM vs naive: p {_fmt_p(dm[name])}"
        # Beyond the end of the bar away from the naive line, centred: beside the point the label ran
        # into the next cell's bar, on the other side it crossed the line at 1.
        above = not ratios[name] < 1
        ax.annotate(text, (i, ratios[name] + (err if above else -err)), xytext=(0, 6 if above else -6),
                    textcoords="offset points", va="bottom" if above else "top", ha="center", fontsize=8)
    ax.axhline(1.0, color=colour("naive"), lw=1.5, zorder=1)
    ax.annotate("naive = 1", (1, 1), xycoords=("axes fraction", "data"), xytext=(-3, -3),
                textcoords="offset points", ha="right", va="top", fontsize=8, color=colour("naive"))
    finite = [abs(v - 1) + (errors.get(k) or 0) for k, v in ratios.items() if np.isfinite(v)]
    spread = max(max(finite, default=0), 0.01)
    ax.set_ylim(1 - 1.8 * spread, 1 + 1.8 * spread)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("test MAE / naive MAE")
    bars = f"mean ± std over {seeds} seeds" if seeds and seeds > 1 else "one seed, no spread"
    lines = ["MAE relative to naive (below 1 beats naive)", bars]
    if dm_p_between is not None and len(names) >= 2:
        on = f" (DM tests on seed {dm_seed})" if dm_seed is not None else ""
        lines.append(f"{names[0]} vs {names[1]}: DM p {_fmt_p(dm_p_between)}{on}")
    ax.set_title("\n".join(lines), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _speed_panel(ax, values: dict[str, float], title: str, unit: str, fmt: str) -> None:
    names = list(values)
    bars = ax.bar(range(len(names)), [values[n] for n in names], 0.6, color=[colour(n) for n in names])
    ax.bar_label(bars, labels=[f"{values[n]:{fmt}} {unit}" for n in names], padding=2, fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(unit)
    ax.margins(y=0.18)
    if len(names) == 2 and values[names[1]]:
        ax.set_xlabel(f"{names[0]} / {names[1]} = {values[names[0]] / values[names[1]]:.2f}×", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def comparison_chart(dates, actual, forecasts: dict[str, np.ndarray], naive, *, mae_ratio: dict[str, float],
                     mae_ratio_std: dict[str, float | None], seeds: int, seed_shown: int,
                     dm_p_vs_naive: dict[str, float], dm_p_between: float, us_per_window: dict[str, float] | None,
                     train_s_per_epoch: dict[str, float], bands=None, zoom_days: int = 90,
                     rolling_days: int = 30, band_level: float = 80, inputs: str | None = None) -> Figure:
    """GRU vs LSTM vs naive at a glance (`inputs`: the set the models read, named in the title where
    a comparison over inputs draws one chart per set).

    Rows: the forecast chart's three panels on the test days (price zoom of seed `seed_shown`'s
    forecasts, cumulative excess error, rolling MAE ratio; see `forecast_chart`), then the
    test MAE / naive MAE per cell (error bars: std over `seeds` seeds; Diebold-Mariano
    p-values vs naive and between the cells) beside the speed of the cells: microseconds per
    window with the whole test set in one batch (None: not timed), and training seconds per epoch.
    """
    dates, actual, forecasts, naive, bands = forecast_inputs(dates, actual, forecasts, naive, bands)
    fig = Figure(figsize=(13, 15), layout="constrained")
    grid = fig.add_gridspec(4, 3, height_ratios=[1.3, 1.0, 0.9, 1.15], width_ratios=[1.5, 1, 1])
    axes = [fig.add_subplot(grid[row, :]) for row in range(3)]
    shown = (f" of seed {seed_shown} (as in the two panels below); the bottom-left MAE ratios are the mean "
             f"of {seeds} seeds" if seeds > 1 else f" of seed {seed_shown} (as in the two panels below)")
    forecast_panels(axes, dates, actual, forecasts, naive, bands, band_level, zoom_days, rolling_days, None,
                    full=False, share=True, note=shown)
    ratio_chart(mae_ratio, mae_ratio_std, ax=fig.add_subplot(grid[3, 0]), seeds=seeds,
                dm_p_vs_naive=dm_p_vs_naive, dm_p_between=dm_p_between, dm_seed=seed_shown)
    inference = fig.add_subplot(grid[3, 1])
    if us_per_window is None:  # compare --calls 0
        inference.set_axis_off()
        inference.text(0.5, 0.5, "inference not timed\n(--calls 0)", ha="center", va="center", fontsize=10,
                       transform=inference.transAxes)
    else:
        _speed_panel(inference, us_per_window, "inference: time per window\n(whole test set in one batch)", "µs",
                     ",.1f")
    _speed_panel(fig.add_subplot(grid[3, 2]), train_s_per_epoch, "training: time per epoch", "s", ",.2f")
    fig.suptitle(f"{' vs '.join(forecasts)} vs naive (tomorrow = today), test days "
                 f"{dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}" + (f", inputs {inputs}" if inputs else ""), fontsize=12)
    return fig


# --- backtest -------------------------------------------------------------------------------------


# Up to this many folds the ratio panel shows one ratio per fold; beyond, with more than one calendar
# year, one per year: 98 monthly folds of eight years drew a comb nobody could read.
_FOLDS_SHOWN = 24
_YEAR_LINE = {"color": "0.45", "lw": 0.9, "zorder": 0}  # the year boundaries, on every backtest panel
_BACKDROP = "0.82"  # the log-price backdrop: light enough to sit behind every line


def _backtest_validated(starts, ends, dates, ratio, ratio_low, ratio_high, excess, close, years, yearly):
    if len(ends) != len(starts) or not (ends > starts).all() or (starts[1:] != ends[:-1]).any():
        raise ValueError("fold_starts and fold_ends must give consecutive folds, each ending on or after its start")
    for name in ratio:
        colour(name)
        for what, table in (("ratio", ratio), ("ratio_low", ratio_low), ("ratio_high", ratio_high)):
            if len(aligned(table[name])[0]) != len(starts):
                raise ValueError(f"{what}[{name!r}] has {len(table[name])} values for {len(starts)} folds")
    for name, values in excess.items():
        colour(name)
        if len(values) != len(dates):
            raise ValueError(f"excess[{name!r}] has {len(values)} values for {len(dates)} dates")
    if close is not None:
        close = np.asarray(close, dtype="float64")
        if len(close) != len(dates):
            raise ValueError(f"close has {len(close)} values for {len(dates)} dates")
        if not (np.isfinite(close) & (close > 0)).all():
            raise ValueError("close must be positive and finite")
    if years is None:
        if any(t is not None for t in yearly.values()):
            raise ValueError("year_ratio, year_low and year_high need years")
        return close
    expected = sorted({int(y) for y in dates.year})
    if list(years) != expected:
        raise ValueError(f"years must be the calendar years of the dates in order, {expected}; got {list(years)}")
    for what, table in yearly.items():
        if table is None or set(table) != set(ratio):
            raise ValueError(f"{what} must hold one array per cell of ratio ({', '.join(ratio)})")
        for name, values in table.items():
            if len(values) != len(years):
                raise ValueError(f"{what}[{name!r}] has {len(values)} values for {len(years)} years")
    return close


def _year_spans(dates: pd.DatetimeIndex, years) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Each year's first day and the day after its last, within `dates`."""
    first = pd.DatetimeIndex([dates[dates.year == y][0] for y in years])
    return first, pd.DatetimeIndex([dates[dates.year == y][-1] for y in years]) + pd.Timedelta(days=1)


def _years_axis(ax, dates: pd.DatetimeIndex) -> None:
    """Years axis: a major tick (and a line) on each 1 January inside the days, the year's name in the
    middle of its days, the first and last day exactly at the axis' ends (half a day of padding)."""
    years = sorted(set(dates.year))
    first, after = _year_spans(dates, years)
    ax.set_xticks([d for d in first if d != dates[0]])
    ax.set_xticklabels([])
    ax.set_xticks(first + (after - first) / 2, [str(y) for y in years], minor=True)
    ax.tick_params(axis="x", which="minor", length=0)
    half = pd.Timedelta(hours=12)
    ax.set_xlim(dates[0] - half, dates[-1] + half)


def _backdrop(ax, dates, close) -> list:
    """The closes on a right axis behind the panel's data, on a log scale over more than
    _LOG_SCALE_DAYS; returns the legend handle."""
    twin = ax.twinx()
    log = (dates[-1] - dates[0]).days > _LOG_SCALE_DAYS  # as the forecast chart's price panel
    (handle,) = twin.plot(dates, close, color=_BACKDROP, lw=1.0,
                          label=f"close (right axis{', log scale' if log else ''})")
    floor = close.min() / 1.5 if log else close.min() - 0.3 * np.ptp(close)
    twin.fill_between(dates, close, floor, color=_BACKDROP, alpha=0.25, lw=0)
    if log:
        twin.set_yscale("log")
        twin.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        twin.yaxis.set_minor_formatter(NullFormatter())
    twin.set_ylim(floor, close.max() * 1.15 if log else close.max() + 0.1 * np.ptp(close))
    twin.yaxis.set_major_formatter(Money())
    twin.tick_params(axis="y", labelsize=7, colors="0.5")
    ax.set_zorder(twin.get_zorder() + 1)  # the panel's lines over the backdrop
    ax.patch.set_visible(False)
    return [handle]


def _fold_ratios(top, starts, ends, ratio, ratio_low, ratio_high, seeds, count) -> None:
    """One ratio per fold: a step across its days, a marker (with the seed spread) mid-fold."""
    edges, days = starts.append(ends[-1:]), (ends - starts).days
    # Each cell's error bars sit a little off the fold's middle, so two cells' bars do not overlap.
    offsets = (np.arange(len(ratio)) - (len(ratio) - 1) / 2) * days.min() / 6
    for name, offset in zip(ratio, offsets):
        c, mean = colour(name), np.asarray(ratio[name], dtype="float64")
        low, high = np.asarray(ratio_low[name], dtype="float64"), np.asarray(ratio_high[name], dtype="float64")
        top.step(edges, np.append(mean, mean[-1]), where="post", color=c, lw=1.3)
        finite = mean[np.isfinite(mean)]
        median = f"median fold {_fmt_ratio(np.median(finite) if len(finite) else np.nan, 3)}"
        if seeds > 1:
            top.errorbar(starts + (ends - starts) / 2 + pd.Timedelta(days=offset), mean,
                         yerr=[mean - low, high - mean], fmt="o", ms=5, capsize=3, elinewidth=1.2, color=c,
                         label=f"{name}: mean over {count}seeds, bars seed min..max\n({median})")
        else:
            top.plot(starts + (ends - starts) / 2, mean, "o", ms=5, color=c, label=f"{name}: one seed ({median})")
    top.set_ylabel("fold MAE / naive MAE")
    sizes = f"{days[0]}-day fold" if (days == days[0]).all() else "fold"
    top.set_title(f"MAE relative to naive per {sizes}: below 1 = model ahead of naive", fontsize=10)


def _year_ratios(top, dates, years, yearly, seeds, count) -> None:
    """One ratio per calendar year: a marker (with the seed spread and its value) in the middle of the
    year's days, the cells side by side."""
    mean_of, low_of, high_of = yearly.values()
    first, after = _year_spans(dates, years)
    # The cells' markers a quarter of each year's days apart (a partial year's closer together).
    offsets = (np.arange(len(mean_of)) - (len(mean_of) - 1) / 2) / 4 / max(len(mean_of) - 1, 1)
    for k, (name, offset) in enumerate(zip(mean_of, offsets)):
        c, mean = colour(name), np.asarray(mean_of[name], dtype="float64")
        low, high = np.asarray(low_of[name], dtype="float64"), np.asarray(high_of[name], dtype="float64")
        x = first + (after - first) * (0.5 + offset)
        over = f"mean over {count}seeds, bars seed min..max" if seeds > 1 else "one seed"
        top.errorbar(x, mean, yerr=[mean - low, high - mean] if seeds > 1 else None, fmt="o", ms=6, capsize=4,
                     elinewidth=1.4, color=c, label=f"{name}: year's MAE ratio, {over}")
        # The value beside its marker, on the outer side: the first cell's to the left, the others' to
        # the right (above the bars they ran into each other when two cells were close).
        left = k == 0 and len(mean_of) > 1
        for xi, m in zip(x, mean):
            top.annotate(f"{m:.3f}", (xi, m), xytext=(-8 if left else 8, 0), textcoords="offset points",
                         ha="right" if left else "left", va="center", fontsize=7, color=c)
    top.margins(y=0.15)
    top.set_ylabel("year's MAE / naive MAE")
    top.set_title("MAE relative to naive per calendar year (all the year's out-of-sample days): "
                  "below 1 = model ahead of naive", fontsize=10)


def backtest_chart(fold_starts, fold_ends, ratio: dict[str, np.ndarray], ratio_low: dict[str, np.ndarray],
                   ratio_high: dict[str, np.ndarray], dates, excess: dict[str, np.ndarray], *, close=None,
                   years=None, year_ratio: dict[str, np.ndarray] | None = None,
                   year_low: dict[str, np.ndarray] | None = None, year_high: dict[str, np.ndarray] | None = None,
                   seeds: int | None = None, coin: str | None = None, ax=None) -> Figure:
    """Walk-forward backtest (of `coin`, if named): where, over the whole span, each cell gains or loses against naive and
    against the other cell.

    Top, the MAE / naive MAE (mean over `seeds` seeds; with more than one seed the seed spread
    low..high as error bars; line at 1 = naive), at one of two grains:

    - per calendar year when `years` (the dates' calendar years, in order) are given with
      `year_ratio`, `year_low` and `year_high` (one value per year and cell), they span more than
      one year and there are more than _FOLDS_SHOWN (24) folds: a marker with its value mid-year
      (98 monthly folds drawn one by one are unreadable).
    - otherwise per fold (a year of monthly folds, a few folds): `ratio`, `ratio_low`,
      `ratio_high` per fold, a step across each fold's days, `fold_starts` to `fold_ends` (first
      and last day, consecutive folds; a last fold may be shorter), a marker mid-fold.

    Middle: cumulative ``|model error| - |naive error|`` over all out-of-sample `dates` (`excess`
    is already cumulated, one array per cell). Bottom, with two cells or more: the first minus
    the second of them, cumulative ``|first error| - |second error|``, shaded in the colour of the
    cell ahead so far. Behind every panel, with `close` (the closes on `dates`): the closes (right
    axis; log scale over more than 1.5 years). Year boundaries are lines; fold boundaries are
    dotted when folds are drawn. Over more than one calendar year the dates axis names the years
    (in the middle of each); otherwise it is a concise dates axis. `ax`, if given, is a sequence
    of as many axes as panels (2 or 3). `seeds` None: more than one where some fold's low and high
    differ.
    """
    starts = pd.DatetimeIndex(fold_starts)
    ends = pd.DatetimeIndex(fold_ends) + pd.Timedelta(days=1)  # exclusive: a fold covers its last day
    dates = pd.DatetimeIndex(dates)
    yearly = {"year_ratio": year_ratio, "year_low": year_low, "year_high": year_high}
    close = _backtest_validated(starts, ends, dates, ratio, ratio_low, ratio_high, excess, close, years, yearly)
    pair = list(excess)[:2] if len(excess) >= 2 else None
    fig, axes = panels(ax, 3 if pair else 2, (12.5, 11 if pair else 7.5), [1.1, 1.0, 0.8] if pair else [1.0, 1.0])
    top, middle = axes[:2]
    count = "" if seeds is None else f"{seeds} "
    if seeds is None:
        seeds = 2 if any(np.any(np.asarray(ratio_low[n]) != np.asarray(ratio_high[n])) for n in ratio) else 1
    by_year = years is not None and len(years) > 1 and len(starts) > _FOLDS_SHOWN
    if by_year:
        _year_ratios(top, dates, years, yearly, seeds, count)
    else:
        _fold_ratios(top, starts, ends, ratio, ratio_low, ratio_high, seeds, count)
    top.axhline(1, color=colour("naive"), lw=1.5, label="naive (= 1)")
    for name, values in excess.items():
        values = np.asarray(values, dtype="float64")
        middle.plot(dates, values, color=colour(name), lw=1.4, label=f"{name}: {signed_amount(values[-1])} USD in total")
    middle.axhline(0, color=colour("naive"), lw=1.5, label="naive (= 0)")
    middle.set_title(f"cumulative |model error| − |naive error| over the {len(dates)} out-of-sample days: "
                     f"below 0 = model ahead of naive", fontsize=10)
    if pair:
        a, b = pair
        gap = np.asarray(excess[a], dtype="float64") - np.asarray(excess[b], dtype="float64")  # (n,)
        bottom = axes[2]
        bottom.fill_between(dates, gap, 0, where=gap <= 0, color=colour(a), alpha=0.35, lw=0,
                            label=f"{a} ahead of {b} so far")
        bottom.fill_between(dates, gap, 0, where=gap >= 0, color=colour(b), alpha=0.35, lw=0,
                            label=f"{b} ahead of {a} so far")
        bottom.plot(dates, gap, color="0.15", lw=1.1, label=f"difference: {signed_amount(gap[-1])} USD in total")
        bottom.axhline(0, color="0.15", lw=0.8)
        bottom.set_title(f"cumulative |{a} error| − |{b} error| (seed means): below 0 = {a} ahead of {b}",
                         fontsize=10)
    years_shown = len(set(dates.year)) > 1
    edges = starts.append(ends[-1:])
    for i, x in enumerate(axes):
        handles = _backdrop(x, dates, close) if close is not None else []
        if i > 0:
            x.yaxis.set_major_formatter(Money(signed=True))
            x.set_ylabel("USD, summed over days")
        if not by_year:
            for edge in edges:
                x.axvline(edge, color="0.6", lw=0.6, ls=":", zorder=0)
        for first in (_year_spans(dates, sorted(set(dates.year)))[0][1:] if years_shown else []):
            x.axvline(first, **_YEAR_LINE)
        x.grid(axis="y", alpha=0.3)
        if years_shown:
            _years_axis(x, dates)
        else:
            dates_axis(x, edges[0], edges[-1] - pd.Timedelta(days=1))  # the folds' first to last day
        own = x.get_legend_handles_labels()[0]
        legend(x, handles=own + handles, **({"bbox_to_anchor": (1.07, 1.0)} if handles else {}))
        if ax is None and i > 0:
            x.sharex(top)
    days = (ends - starts).days
    sizes = (f"{days[0]} days" if (days[:-1] == days[0]).all() else f"{days.min()}-{days.max()} days")
    if days[-1] != days[0] and (days[:-1] == days[0]).all():
        sizes += f" (the last {days[-1]})"
    figure_title(fig, axes, f"walk-forward backtest{'' if coin is None else ' of ' + coin}: {len(starts)} folds of {sizes}, "
                 f"{edges[0]:%Y-%m-%d}..{edges[-1] - pd.Timedelta(days=1):%Y-%m-%d}", ax is None)
    return fig


# --- several coins --------------------------------------------------------------------------------


def coins_chart(coins: list[str], ratio: dict[str, list[float]], ratio_low: dict[str, list[float]],
                ratio_high: dict[str, list[float]], *, seeds: int | None = None, per: str = "coin",
                days: str = "all out-of-sample days", ax=None) -> Figure:
    """A multi-coin backtest at a glance: per coin, each cell's MAE over all out-of-sample days relative
    to naive's (mean over `seeds` seeds, the seed min..max as error bars), side by side around the
    line at 1 = naive. Points, not bars: the gaps are ~1%. `per` names what a position is (a coin, or a
    coin and training window); `days`, the days the ratios are over (a comparison's test days)."""
    for name in ratio:
        colour(name)
        for what, table in (("ratio", ratio), ("ratio_low", ratio_low), ("ratio_high", ratio_high)):
            if len(table[name]) != len(coins):
                raise ValueError(f"{what}[{name!r}] has {len(table[name])} values for {len(coins)} coins")
    fig, (ax,) = panels(ax, 1, (max(6.0, 1.6 * len(coins) + 2), 4.5))
    offsets = np.linspace(-0.15, 0.15, len(ratio)) if len(ratio) > 1 else [0.0]
    reach = [0.01]
    for offset, name in zip(offsets, ratio):
        mean = np.asarray(ratio[name], dtype=float)                 # (coins,)
        low, high = np.asarray(ratio_low[name], dtype=float), np.asarray(ratio_high[name], dtype=float)
        x = np.arange(len(coins)) + offset
        ax.errorbar(x, mean, yerr=[np.maximum(mean - low, 0), np.maximum(high - mean, 0)], fmt="o", ms=8,
                    capsize=5, color=colour(name), label=name, zorder=3)
        for xi, m in zip(x, mean):
            if np.isfinite(m):
                ax.annotate(f"{m:.3f}", (xi, m), xytext=(7, 0), textcoords="offset points", va="center",
                            fontsize=7, color=colour(name))
        reach += [abs(v - 1) for v in (*low, *high) if np.isfinite(v)]
    ax.axhline(1.0, color=colour("naive"), lw=1.5, zorder=1, label="naive (tomorrow = today)")
    spread = max(reach)
    ax.set_ylim(1 - 1.5 * spread, 1 + 1.5 * spread)
    ax.set_xlim(-0.6, len(coins) - 0.4)
    ax.set_xticks(range(len(coins)), coins)
    ax.set_ylabel(f"MAE / naive MAE, {days}")
    bars = f"mean over {seeds} seeds, bars: seed min..max" if seeds and seeds > 1 else "one seed"
    ax.set_title(f"MAE relative to naive per {per} (below 1 beats naive)\n{bars}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    legend(ax)
    return fig


METHOD_COLOURS = {"fixed": "tab:gray", "scaled": "tab:green", "mondrian": "tab:purple", "aci": "tab:olive",
                  "gauss": "tab:cyan", "garch-t": "tab:pink"}


def interval_methods_chart(dates, actual, point, bands: dict[str, tuple[np.ndarray, np.ndarray]], cell: str,
                           level: float, coverage: dict[float, dict[str, tuple]], tolerance: dict[float, float],
                           ax=None) -> Figure:
    """Top: `cell`'s forecast with the `level`% bands of two methods over a stretch of days (the
    backtest's most volatile); below it the same bands as half-widths in % of the forecast beside
    each day's actual error, so a miss is a dot above its method's line. Then one panel per level:
    every method's coverage on the calm, middle and volatile third of the days, against nominal and
    its tolerance."""
    levels = list(coverage)
    fig, axes = panels(ax, 2 + len(levels), (11, 6.5 + 2.6 * len(levels)), height_ratios=[1.4, 1] + [1] * len(levels))
    top, widths = axes[0], axes[1]
    error = 100 * np.abs(actual / point - 1)  # (n,) the day's actual error, % of the forecast
    for k, (method, (lower, upper)) in enumerate(bands.items()):
        c = METHOD_COLOURS[method]
        missed = (actual < lower) | (actual > upper)
        label = f"{method} {level:g}% band: {int(missed.sum())} of {len(actual)} days missed"
        if k == 0:  # the first as an outline, so that the second, filled, stays visible under it
            top.step(dates, lower, where="mid", color=c, lw=1.2, ls="--", label=label)
            top.step(dates, upper, where="mid", color=c, lw=1.2, ls="--")
        else:
            top.fill_between(dates, lower, upper, color=c, alpha=0.3, step="mid", lw=0, label=label)
        widths.step(dates, 100 * (upper / point - 1), where="mid", color=c, lw=1.6, ls="--" if k == 0 else "-",
                    label=f"{method}: upper half-width")
    top.plot(dates, actual, color=colour("actual"), lw=1.3, label="actual close")
    top.plot(dates, point, color=colour(cell), lw=1, label=f"{cell} forecast")
    top.yaxis.set_major_formatter(Money())
    top.set_ylabel("close (USD)")
    top.set_title(f"{cell}'s {level:g}% bands over the {len(dates)} most volatile consecutive out-of-sample days "
                  f"({dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d})", fontsize=10)
    widths.plot(dates, error, "o", color=colour("actual"), ms=3, label="|actual / forecast - 1|: above a line, a miss")
    widths.set_ylabel("% of the forecast")
    widths.set_title("each band's half-width beside the day's actual error", fontsize=10)
    for a_ in (top, widths):
        dates_axis(a_, dates[0], dates[-1])
        legend(a_)
    thirds = np.arange(3)
    for ax_, lv in zip(axes[2:], levels):
        methods = list(coverage[lv])
        width = 0.8 / len(methods)
        for k, method in enumerate(methods):
            ax_.bar(thirds + (k - (len(methods) - 1) / 2) * width, [100 * v for v in coverage[lv][method]],
                    width, color=METHOD_COLOURS[method], label=method)
        nominal, tol = lv, 100 * tolerance[lv]
        ax_.axhspan(nominal - tol, nominal + tol, color="0.85", zorder=0, label=f"{nominal:g}% ± {tol:g} points")
        ax_.axhline(nominal, color="black", lw=1, ls="--")
        ax_.set_xticks(thirds, ["calm third", "middle third", "volatile third"])
        lowest = min(min(v) for v in coverage[lv].values())
        ax_.set_ylim(max(0, min(nominal - 25, 100 * lowest - 5)), 100)
        ax_.set_ylabel(f"{lv:g}% coverage (%)")
        ax_.set_title(f"{lv:g}% intervals: {cell}'s coverage per third of the days by trailing volatility, all folds",
                      fontsize=10)
        legend(ax_)
    figure_title(fig, axes, "Which interval holds when markets move?", ax is None)
    return fig
