"""The reports of a backtest over several training windows: backtest.json, backtest.md and the
terminal text, each a table of every coin under every window and what it says about history
(does either cell, and LSTM more than GRU, gain from training on more days?), then every coin and
window's own backtest report; and the summary chart's inputs.

Every window of a coin forecasts the same out-of-sample days (the folds' origins do not depend on
the window), so its ratios to naive compare directly.
"""

from __future__ import annotations

import numpy as np

from .backtest import DM_ALPHA, Backtest, GridBacktest, WindowsBacktest
from .backtest_plan import window_name
from .config import CELLS
from .report import _fmt, _label, inputs_of, p_value
from .report_backtest import backtest_markdown, backtest_record, band_level, engine_record, engine_sentence


def window_key(days: int | None) -> str:
    """A window in JSON keys and chart file names: "expanding" or "365d"."""
    return "expanding" if days is None else f"{days}d"


def _ratio(b: Backtest, cell: str) -> float:
    return b.cells[cell].spread("mae_ratio_vs_naive").mean


def _epochs(b: Backtest, cell: str) -> float:
    return float(np.mean([e for fr in b.folds for e in fr.cells[cell].epochs_run]))


def _train_seconds(b: Backtest, cell: str) -> float:
    return float(sum(sum(fr.cells[cell].train_seconds) for fr in b.folds))


def history_sentences(w: WindowsBacktest) -> list[str]:
    """Per coin: the window with each cell's lowest MAE ratio, and how each cell's ratio changes from
    the shortest window to the longest; across coins, GRU below LSTM per window. Facts only: with
    one seed a difference is not judged against a seed spread."""
    shortest, longest = w.windows[0], w.windows[-1]
    lines = []
    for coin, by_window in w.runs.items():
        best = {c: min(by_window, key=lambda days: _ratio(by_window[days], c)) for c in CELLS}
        change = {c: _ratio(by_window[longest], c) - _ratio(by_window[shortest], c) for c in CELLS}
        gap = {days: _ratio(b, "lstm") - _ratio(b, "gru") for days, b in by_window.items()}
        # compared as printed (4 decimals): a gap of 0.00001 is no direction
        gru_change, lstm_change = round(change["gru"], 4), round(change["lstm"], 4)
        more = ("the longer history changed both by the same amount" if lstm_change == gru_change
                else "the longer history favoured LSTM more than GRU" if lstm_change < gru_change
                else "the longer history did not favour LSTM more than GRU")
        lines.append(
            f"{coin}: lowest MAE / naive for GRU with {window_name(best['gru'])} "
            f"({_ratio(by_window[best['gru']], 'gru'):.4f}), for LSTM with {window_name(best['lstm'])} "
            f"({_ratio(by_window[best['lstm']], 'lstm'):.4f}). From {window_name(shortest)} to "
            f"{window_name(longest)} GRU's ratio changed by {change['gru']:+.4f} and LSTM's by "
            f"{change['lstm']:+.4f} (negative: lower error with more history): {more}. LSTM's ratio minus "
            f"GRU's: " + ", ".join(f"{gap[days]:+.4f} ({window_name(days)})" for days in by_window) + ".")
    n = len(w.runs)
    if n > 1:
        lines.append("GRU's MAE below LSTM's: " + "; ".join(
            f"{window_name(days)} on {sum(_ratio(bw[days], 'gru') < _ratio(bw[days], 'lstm') for bw in w.runs.values())} "
            f"of {n} coins" for days in w.windows) + ".")
    lines.append(
        f"Diebold-Mariano GRU vs LSTM significant at {DM_ALPHA:.0%} (first seed): "
        + "; ".join(f"{window_name(days)} on {sum(bw[days].dm['gru_vs_lstm'].p_value < DM_ALPHA for bw in w.runs.values())} "
                    f"of {n} coin{'s' if n > 1 else ''}" for days in w.windows) + ".")
    return lines


def _row_record(b: Backtest) -> dict:
    return {
        "train_days": b.options.train_days,
        **{f"{c}_mae_ratio_vs_naive": _ratio(b, c) for c in CELLS},
        "lstm_minus_gru": _ratio(b, "lstm") - _ratio(b, "gru"),
        "dm_gru_vs_lstm": {"statistic": b.dm["gru_vs_lstm"].statistic, "p_value": b.dm["gru_vs_lstm"].p_value},
        "folds_ahead_of_naive": {c: b.folds_ahead(c) for c in CELLS},
        "mean_epochs": {c: _epochs(b, c) for c in CELLS},
        "train_seconds": {c: _train_seconds(b, c) for c in CELLS},
    }


def grid_head(g: GridBacktest, name: str, keys: list[str]) -> dict:
    """The first fields of a grid run's backtest.json: command, coins, its variants under `name`,
    engine, tasks and wall time."""
    return {
        "command": g.command,
        "coins": g.coins,
        name: keys,
        "engine": engine_record(g.engine),
        "tasks": {"total": g.tasks, "trained": g.trained, "read_back": g.tasks - g.trained},
        "wall_seconds": g.wall_seconds,
    }


def windows_record(w: WindowsBacktest) -> dict:
    """backtest.json of a run over training windows: the table and sentences, then every coin and
    window's backtest.json as `runs[coin][window_key]`."""
    return {
        **grid_head(w, "windows", [window_key(d) for d in w.windows]),
        "summary": {
            "rule": "MAE ratios: seed means over all out-of-sample days; DM tests of the first seed",
            "rows": {coin: {window_key(d): _row_record(b) for d, b in bw.items()} for coin, bw in w.runs.items()},
            "dm_alpha": DM_ALPHA,
            "verdict": history_sentences(w),
        },
        "runs": {coin: {window_key(d): {k: v for k, v in backtest_record(b).items() if k not in ("command", "engine")}
                        for d, b in bw.items()} for coin, bw in w.runs.items()},
    }


def section_name(w: WindowsBacktest, coin: str, days: int | None) -> str:
    return window_name(days) if len(w.runs) == 1 else f"{coin}, {window_name(days)}"


def _coverage(b: Backtest, cell: str) -> str:
    return f"{100 * b.cells[cell].interval(band_level(list(b.naive.naive_intervals)), 'coverage').mean:.1f}%"


def _row(coin: str, b: Backtest) -> str:
    r = {c: b.cells[c].spread("mae_ratio_vs_naive") for c in CELLS}
    dm = b.dm["gru_vs_lstm"]
    return (f"| {coin} | {window_name(b.options.train_days)} | {_fmt(r['gru'], 4)} | {_fmt(r['lstm'], 4)} | "
            f"{_ratio(b, 'lstm') - _ratio(b, 'gru'):+.4f} | {dm.statistic:.2f} (p {p_value(dm.p_value)}) | "
            f"{b.folds_ahead('gru')} / {b.folds_ahead('lstm')} | {_coverage(b, 'gru')} / {_coverage(b, 'lstm')} | "
            f"{_epochs(b, 'gru'):.1f} / {_epochs(b, 'lstm'):.1f} | "
            f"{_train_seconds(b, 'gru'):,.0f} / {_train_seconds(b, 'lstm'):,.0f} |")


def windows_markdown(w: WindowsBacktest) -> str:
    first = w.all[0]
    s, seeds = first.settings, first.seeds
    level = f"{band_level(list(first.naive.naive_intervals)):g}%"
    lines = [
        "# Rolling-origin backtest over training windows: GRU vs LSTM vs naive, next-day close",
        "",
        f"Made by `{w.command}`.",
        "",
        f"Coins: {', '.join(w.coins)}. Training windows: {', '.join(window_name(d) for d in w.windows)}: at each "
        f"fold's origin both cells are refit on that many target days before it (expanding: all of them). "
        f"Every window of a coin has the same folds and out-of-sample days "
        f"({first.dates[0]:%Y-%m-%d}..{first.dates[-1]:%Y-%m-%d} for {w.coins[0]}). Settings: window "
        f"{s['window']}, {s['scaling']} scaling, inputs {inputs_of(s)}, {s['units']} units, loss {s['loss']}, seeds "
        f"{', '.join(map(str, seeds))}.",
        engine_sentence(w.engine, w.trained, w.tasks, w.wall_seconds),
        "",
        "## Every coin under every training window" + (" (MAE ratios: mean ± std over seeds)" if len(seeds) > 1 else ""),
        "",
        f"DM: statistic (p), squared error, seed {seeds[0]}; a negative statistic favours GRU. Training time: every "
        "task's own measure, read-back tasks included.",
        "",
        "| coin | training window | GRU MAE / naive | LSTM MAE / naive | LSTM − GRU | DM GRU vs LSTM | "
        f"folds ahead of naive GRU / LSTM | {level} coverage GRU / LSTM | epochs per training GRU / LSTM | "
        "training time GRU / LSTM (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(coin, b) for coin, bw in w.runs.items() for b in bw.values()),
        "",
        *(f"- {line}" for line in history_sentences(w)),
        "",
    ]
    sections = [backtest_markdown(b, coin=section_name(w, coin, d)) for coin, bw in w.runs.items()
                for d, b in bw.items()]
    return "\n".join(lines) + "\n" + "\n".join(sections)


def windows_text(w: WindowsBacktest, charts: list[str]) -> str:
    """The terminal summary: one row per coin and window, then what they say."""
    rows = [f"{'':<12}{'window':<22}{'GRU MAE / naive':>18}{'LSTM MAE / naive':>18}{'DM GRU vs LSTM p':>18}"]
    for coin, bw in w.runs.items():
        for d, b in bw.items():
            rows.append(f"{coin:<12}{window_name(d):<22}{_fmt(b.cells['gru'].spread('mae_ratio_vs_naive'), 4):>18}"
                        f"{_fmt(b.cells['lstm'].spread('mae_ratio_vs_naive'), 4):>18}"
                        f"{p_value(b.dm['gru_vs_lstm'].p_value):>18}")
    seeds = len(w.all[0].seeds)
    return "\n".join([
        f"backtest of {len(w.runs)} coin{'s' if len(w.runs) > 1 else ''} under {len(w.windows)} training windows, "
        f"{seeds} seed{'s' if seeds > 1 else ''} per cell and fold",
        *rows,
        "",
        *history_sentences(w),
        "",
        *grid_tail(w, charts),
    ])


def grid_tail(g: GridBacktest, charts: list[str]) -> list[str]:
    """The last lines of a grid run's terminal text: its trainings and engine, and the files written."""
    return [f"{g.trained} of {g.tasks} trainings run now ({g.engine.name}, {g.engine.workers} "
            f"worker{'s' if g.engine.workers != 1 else ''}), wall time {g.wall_seconds:,.0f} s",
            f"written: {g.out / 'backtest.json'}, {g.out / 'backtest.md'}, {', '.join(charts)}"]


def chart_name(w: WindowsBacktest, coin: str, days: int | None) -> str:
    """backtest-<window>.png, or backtest-<coin>-<window>.png with several coins."""
    return f"backtest-{window_key(days)}.png" if len(w.runs) == 1 else f"backtest-{coin}-{window_key(days)}.png"


def windows_chart_inputs(w: WindowsBacktest) -> dict:
    """plots_summary.coins_chart, one position per coin and window: each cell's seed-mean MAE ratio
    and its seed min..max."""
    def pick(what: str) -> dict:
        return {_label(c): [getattr(b.cells[c].spread("mae_ratio_vs_naive"), what) for b in w.all] for c in CELLS}

    names = [window_name(d) if len(w.runs) == 1 else f"{coin}\n{window_name(d)}"
             for coin, bw in w.runs.items() for d in bw]
    return dict(coins=names, ratio=pick("mean"), ratio_low=pick("low"), ratio_high=pick("high"),
                seeds=len(w.all[0].seeds), per="training window" if len(w.runs) == 1 else "coin and training window")
