"""The reports of `backtest`: backtest.json, backtest.md, the terminal text and the backtest chart's
inputs. Statistics come from backtest, metrics and regimes (means and spreads over seeds, folds ahead
of naive, the days by year and market regime, the power of the GRU-vs-LSTM test); what they mean, from
verdicts.
"""

from __future__ import annotations

import numpy as np

from . import regimes, verdicts
from .backtest import Backtest, FoldResult
from .engines import Engine
from .intervals import IntervalMetrics
from .jsonio import jsonable, level_key
from .metrics import DMTest
from .regimes import Group
from .report_intervals import choice_sentence, intervals_markdown, intervals_record
from .report import (
    BAND_LEVEL, _fmt, _label, _level, _p, _pair_name, amount, decimals, dm_record, interval_notes, interval_record, interval_table,
    inputs_of, naive_record, over_seeds_record, p_value, spread_record, verdict,
)
from .verdicts import Folds


def _window_kind(b: Backtest) -> str:
    days = b.options.train_days
    return "expanding (every day before the origin)" if days is None else f"rolling (the last {days} days before the origin)"


def _refit_kind(b: Backtest) -> str:
    """Said only of warm refits: a cold backtest's report stays as it was."""
    return (", each from the same cell and seed's weights trained on the fold before (warm; the first fold "
            "from fresh weights)") if b.options.refit == "warm" else ""


def backtest_verdict(b: Backtest) -> list[str]:
    """report.verdict on all out-of-sample days (seed-mean MAE ratios, DM of the first seed), then
    facts about the folds and seeds, each sentence only where its numbers hold."""
    cells = b.cells
    lines = verdict({c: r.spread("mae_ratio_vs_naive").mean for c, r in cells.items()},
                    {c: b.dm[f"{c}_vs_naive"] for c in cells}, b.dm["gru_vs_lstm"])
    folds = len(b.folds)
    for cell in cells:
        ahead = b.folds_ahead(cell)
        said = verdicts.folds_ahead(ahead, folds)
        if said is Folds.NONE:
            lines.append(f"{_label(cell)} was behind naive in every one of the {folds} folds.")
        elif said is Folds.ALL:
            lines.append(f"{_label(cell)} was ahead of naive in every one of the {folds} folds.")
        else:
            lines.append(f"{_label(cell)} was ahead of naive in {ahead} of {folds} folds.")
    if verdicts.seeds_measured(len(b.seeds)):
        for pair in b.dm:
            unsettled = verdicts.seed_dependent([t[pair].p_value for t in b.dm_by_seed.values()])
            if unsettled is not None:
                low, high = unsettled
                lines.append(f"The {_pair_name(pair)} test depends on the seed: DM p from {p_value(low)} to "
                             f"{p_value(high)} over seeds {', '.join(map(str, b.seeds))}; read it as not settled.")
    return lines


def _fold_cell_record(fr: FoldResult, cell: str) -> dict:
    c = fr.cells[cell]
    return {
        **over_seeds_record(c),
        "beats_naive": fr.beats_naive(cell),
        "epochs_run": list(c.epochs_run), "best_epoch": list(c.best_epoch), "train_seconds": list(c.train_seconds),
    }


def engine_record(e: Engine) -> dict:
    return {"name": e.name, "workers": e.workers, "address": e.address, "cpu_count": e.cpu_count,
            "versions": e.versions}


def engine_sentence(e: Engine, trained: int, tasks: int, wall_seconds: float) -> str:
    """backtest.md's line on how the run ran."""
    return (f"Engine: {e.name}, {e.workers} worker{'s' if e.workers != 1 else ''}"
            + (f" on the cluster at {e.address}" if e.address else "")
            + f", {e.cpu_count} CPUs here; {trained} of {tasks} trainings run now, {tasks - trained} read back; "
              f"wall time {wall_seconds:,.0f} s.")


def band_level(levels: list[float]) -> float:
    """The interval level a report's one-level tables show: the charts' BAND_LEVEL if it was run."""
    return BAND_LEVEL if BAND_LEVEL in levels else levels[0]


def backtest_record(b: Backtest) -> dict:
    """backtest.json: settings, engine, every fold and cell, all days together, DM tests, verdict."""
    o = b.options
    overall = {"first_date": f"{b.dates[0]:%Y-%m-%d}", "last_date": f"{b.dates[-1]:%Y-%m-%d}", "days": len(b.dates),
               "naive": naive_record(b.naive)}
    for cell, r in b.cells.items():
        overall[cell] = {
            **over_seeds_record(r),
            "intervals_first_seed": {level_key(lv): interval_record(i) for lv, i in r.metrics[0].intervals.items()},
            "folds_beating_naive": r.folds_beating_naive,
            "folds_beating_naive_by_seed": list(r.folds_beating_naive_by_seed),
        }
    return {
        "command": b.command,
        "data": jsonable(b.data),
        "settings": b.settings,
        "backtest": {"seeds": list(b.seeds), "folds": len(b.folds), "step": o.step,
                     "first_test": None if o.first_test is None else o.first_test.isoformat(),
                     "train_days": o.train_days, "training_window": _window_kind(b),
                     **({"refit": o.refit} if o.refit != "cold" else {}),  # only where not today's default
                     "validation": "the last val_fraction of the training days before each origin: "
                                   "early stopping and interval calibration"},
        "engine": engine_record(b.engine),
        "tasks": {"total": b.tasks, "trained": b.trained, "read_back": b.tasks - b.trained,
                  "directory": str(b.directory)},
        "wall_seconds": b.wall_seconds,
        "train_seconds": b.train_seconds,
        "overall": overall,
        "dm_test": {"loss": "squared error; negative statistic: the first forecast is more accurate",
                    **{pair: dm_record(t) for pair, t in b.dm.items()}, "seed": b.seeds[0]},
        "dm_test_by_seed": [{"seed": s, **{pair: dm_record(t) for pair, t in tests.items()}}
                            for s, tests in b.dm_by_seed.items()],
        "folds": [{
            "fold": fr.fold.number,
            **{name: jsonable(getattr(fr.fold, name)) for name in ("train", "val", "test")},
            "days": fr.fold.test.days,
            "naive": naive_record(fr.naive),
            **{cell: _fold_cell_record(fr, cell) for cell in fr.cells},
            "train_seconds": fr.train_seconds,
        } for fr in b.folds],
        "verdict": backtest_verdict(b),
        **regimes_record(b),
        "interval_methods": intervals_record(b.intervals),
    }


# --- by year, by market regime, power ------------------------------------------------------------

FOLD_YEAR_RULE = "a fold counts in the year holding most of its days (the earlier year on a tie)"
TREND_RULE = (f"log(close[t-1] / close[t-{regimes.TREND_DAYS + 1}]), the {regimes.TREND_DAYS}-day log return "
              f"known the day before: bull above +{regimes.TREND_THRESHOLD:.2f}, bear below "
              f"-{regimes.TREND_THRESHOLD:.2f}, sideways from -{regimes.TREND_THRESHOLD:.2f} to "
              f"+{regimes.TREND_THRESHOLD:.2f} (both included); {regimes.UNKNOWN}: fewer than "
              f"{regimes.TREND_DAYS + 1} closes before the day")
TREND_NAMES = {"bull": f"bull (above +{regimes.TREND_THRESHOLD:.2f})", "sideways": "sideways",
               "bear": f"bear (below -{regimes.TREND_THRESHOLD:.2f})",
               regimes.UNKNOWN: f"{regimes.UNKNOWN} (under {regimes.TREND_DAYS + 1} closes before)"}


def _volatility_rule(b: Backtest) -> str:
    n = b.breakdown.labels.volatility_returns
    return (f"the std of the last {n} daily log returns in each day's window, known the day before; thirds of "
            "the backtest's own days by rank (ties by position), as the interval tables' calm / middle / volatile days")


def _group_record(g: Group) -> dict:
    return {
        "days": g.days,
        **({"folds": g.folds} if g.folds is not None else {}),
        "naive": {"mae": g.naive_mae, "rmse": g.naive_rmse},
        **{cell: {"mae_ratio_vs_naive": spread_record(c.mae_ratio), "rmse_ratio_vs_naive": spread_record(c.rmse_ratio),
                  **({"folds_ahead_of_naive": c.folds_ahead} if c.folds_ahead is not None else {})}
           for cell, c in g.cells.items()},
        "dm_test": None if g.dm is None else {pair: dm_record(t) for pair, t in g.dm.items()},
    }


def regimes_record(b: Backtest) -> dict:
    """backtest.json's by_year, by_regime and power: per group days, naive's errors, each cell's
    ratios over seeds, DM of the first seed (null under regimes.MIN_DM_DAYS days)."""
    r, p = b.breakdown, b.breakdown.power
    return {
        "by_year": {"folds": FOLD_YEAR_RULE, "dm_seed": b.seeds[0],
                    "groups": {g.name: _group_record(g) for g in r.by_year}},
        "by_regime": {
            "dm_seed": b.seeds[0],
            "trend": {"rule": TREND_RULE, "days": regimes.TREND_DAYS, "threshold_log_return": regimes.TREND_THRESHOLD,
                      "groups": {g.name: _group_record(g) for g in r.by_trend}},
            "volatility": {"rule": _volatility_rule(b), "returns": r.labels.volatility_returns,
                           "cuts": {"calm_up_to": r.labels.volatility_cuts[0],
                                    "middle_up_to": r.labels.volatility_cuts[1]},
                           "groups": {g.name: _group_record(g) for g in r.by_volatility}},
        },
        "power": {"loss_difference": "|GRU error| - |LSTM error| per day, USD", "seed": b.seeds[0], "days": p.days,
                  "alpha": p.alpha, "power": p.power, "sd_usd": p.sd, "detectable_mae_difference_usd": p.detectable,
                  "naive_mae_usd": p.naive_mae, "detectable_pct_of_naive_mae": p.pct_of_naive},
    }


def power_sentence(b: Backtest) -> str:
    p = b.breakdown.power
    if np.isnan(p.detectable):
        return f"With {p.days} day{'s' if p.days != 1 else ''}, the power of the GRU vs LSTM test cannot be measured."
    pct = "n/a" if np.isnan(p.pct_of_naive) else f"{p.pct_of_naive:.1f}%"
    return (f"With {p.days} days and the measured spread of daily loss differences (std of |GRU error| - "
            f"|LSTM error| {amount(p.sd)} USD, seed {b.seeds[0]}), a GRU-LSTM MAE difference below "
            f"{amount(p.detectable)} USD "
            f"({pct} of naive's MAE) could not be told apart from zero at {p.alpha:.0%} (two-sided; the smallest "
            f"difference this run detects with {p.power:.0%} power).")


def _dm_cell(t: DMTest | None) -> str:
    if t is None:
        return f"n/a (under {regimes.MIN_DM_DAYS} days)"
    return "n/a (identical losses)" if np.isnan(t.p_value) else f"{t.statistic:.2f} (p {p_value(t.p_value)})"


def _group_row(name: str, g: Group, year: bool) -> str:
    gru, lstm = g.cells["gru"], g.cells["lstm"]
    folds = (f" {g.folds} | {gru.folds_ahead} | {lstm.folds_ahead} |") if year else ""
    return (f"| {name} | {g.days} |{folds} {amount(g.naive_mae, 0)} | {_fmt(gru.mae_ratio, 3)} | {_fmt(lstm.mae_ratio, 3)} | "
            f"{_fmt(gru.rmse_ratio, 3)} | {_fmt(lstm.rmse_ratio, 3)} | "
            + " | ".join(_dm_cell(None if g.dm is None else g.dm[pair]) for pair in ("gru_vs_lstm", "gru_vs_naive",
                                                                                    "lstm_vs_naive")) + " |")


def regimes_markdown(b: Backtest, pm: str) -> list[str]:
    """The "By year" and "By market regime" sections; `pm` says the ratios are over seeds, if they are."""
    r, seed = b.breakdown, b.seeds[0]
    calm, middle = (f"{100 * v:.2f}%" for v in r.labels.volatility_cuts)
    ratios = ("naive MAE (USD) | GRU MAE / naive | LSTM MAE / naive | GRU RMSE / naive | LSTM RMSE / naive | "
              f"DM GRU vs LSTM (seed {seed}) | DM GRU vs naive | DM LSTM vs naive |")
    return [
        f"## By year{pm}",
        "",
        f"Days in their calendar year; {FOLD_YEAR_RULE}, and is ahead of naive when its seed-mean MAE is below "
        f"naive's. DM: statistic (p), squared error; a negative statistic favours the first forecast; n/a under "
        f"{regimes.MIN_DM_DAYS} days.",
        "",
        f"| year | days | folds | GRU folds ahead of naive | LSTM folds ahead of naive | {ratios}",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_group_row(g.name, g, year=True) for g in r.by_year),
        "",
        f"## By market regime{pm}",
        "",
        "Each day is labelled from closes known the day before it, by thresholds fixed before the run:",
        "",
        f"- trend: {TREND_RULE}.",
        f"- volatility: {_volatility_rule(b)}: calm up to {calm}, middle up to {middle}, volatile above.",
        "",
        "A regime with no days is left out.",
        "",
        f"| regime | days | {ratios}",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_group_row(f"trend: {TREND_NAMES[g.name]}", g, year=False) for g in r.by_trend),
        *(_group_row(f"volatility: {g.name} third", g, year=False) for g in r.by_volatility),
        "",
    ]


def _coverages(spreads: dict[float, float]) -> str:
    return " / ".join(f"{100 * v:.1f}%" for v in spreads.values())


def _last_fold(b: Backtest) -> str:
    last = b.folds[-1].fold.test.days
    return f" (the last {last})" if last != b.options.step else ""


def backtest_markdown(b: Backtest, coin: str | None = None) -> str:
    """backtest.md; with `coin`, that coin's section of a multi-coin report: its name as the title,
    every heading one level down, the command, engine and wall time left to the report's head."""
    text = _backtest_markdown(b)
    if coin is None:
        return text
    lines = text.split("\n")
    lines[:4] = [f"# {coin}", ""]  # the title, blank, "Made by", blank
    engine = next(k for k, line in enumerate(lines) if line.startswith("Engine: "))
    lines[engine] = (f"Trainings: {b.trained} of {b.tasks} run now, {b.tasks - b.trained} read back; "
                     f"{b.train_seconds:,.0f} s of training in all (each task's own measure). The engine and the "
                     "wall time are the whole run's, at the head of the report.")
    return "\n".join("#" + line if line.startswith("#") else line for line in lines)


def _backtest_markdown(b: Backtest) -> str:
    s, o, seeds = b.settings, b.options, b.seeds
    levels = list(b.naive.naive_intervals)
    level_names = " / ".join(_level(lv) for lv in levels)
    many = verdicts.seeds_measured(len(seeds))
    pm = " (mean ± std over seeds)" if many else ""
    first = {cell: r.metrics[0] for cell, r in b.cells.items()}
    intervals = {"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals, "naive": b.naive.naive_intervals}
    band = band_level(levels)
    lines = [
        "# Rolling-origin backtest: GRU vs LSTM vs naive, next-day BTC close",
        "",
        f"Made by `{b.command}`.",
        "",
        f"Data: {b.data.source}, {b.data.first_date}..{b.data.last_date} ({b.data.rows} days). "
        f"{len(b.folds)} folds of {o.step} target days{_last_fold(b)}, {b.dates[0]:%Y-%m-%d}..{b.dates[-1]:%Y-%m-%d} "
        f"({len(b.dates)} out-of-sample days). At each fold's origin both cells are refit on the target days "
        f"before it, {_window_kind(b)}{_refit_kind(b)}; early stopping and interval calibration use the last "
        f"{s['val_fraction']:.0%} of those days; each fold day is forecast one step ahead from its own "
        f"{s['window']} previous closes.",
        f"Settings: window {s['window']}, {s['scaling']} scaling, inputs {inputs_of(s)}, {s['units']} units, loss {s['loss']}, "
        f"seeds {', '.join(map(str, seeds))}.",
        engine_sentence(b.engine, b.trained, b.tasks, b.wall_seconds),
        "",
        f"## All {len(b.dates)} out-of-sample days together{pm}",
        "",
        "| forecast | MAE (USD) | RMSE (USD) | MAE / naive | RMSE / naive | folds ahead of naive | "
        f"interval coverage {level_names} |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {_label(cell)} | {_fmt(r.spread('mae'), decimals(r.spread('mae').mean, 2))} | "
          f"{_fmt(r.spread('rmse'), decimals(r.spread('rmse').mean, 2))} | "
          f"{_fmt(r.spread('mae_ratio_vs_naive'), 4)} | {_fmt(r.spread('rmse_ratio_vs_naive'), 4)} | "
          f"{100 * r.folds_beating_naive:.0f}% | "
          f"{_coverages({lv: r.interval(lv, 'coverage').mean for lv in levels})} |"
          for cell, r in b.cells.items()),
        f"| naive (tomorrow = today) | {amount(b.naive.naive.mae)} | {amount(b.naive.naive.rmse)} | 1 | 1 | n/a | "
        f"{_coverages({lv: b.naive.naive_intervals[lv].coverage for lv in levels})} |",
        "",
        f"## Diebold-Mariano on all out-of-sample days (squared error, HLN correction, seed {seeds[0]})",
        "",
        "| pair | statistic | p-value |" + ("".join(f" p, seed {x} |" for x in seeds[1:]) if many else ""),
        "|---|---:|---:|" + ("---:|" * (len(seeds) - 1) if many else ""),
        *(f"| {_pair_name(pair)} | {t.statistic:.3f} | {_p(t)} |"
          + ("".join(f" {_p(b.dm_by_seed[x][pair])} |" for x in seeds[1:]) if many else "")
          for pair, t in b.dm.items()),
        "",
        "A negative statistic means the first forecast has the smaller loss.",
        "",
        power_sentence(b),
        "",
        f"## Prediction intervals on all out-of-sample days (seed {seeds[0]})",
        "",
        "Split conformal, calibrated at each origin on that fold's validation days; naive gets its intervals "
        "the same way.",
        "",
        interval_table(intervals),
        "",
        *(f"- {n}" for n in interval_notes(intervals)),
        "",
        *intervals_markdown(b.intervals, band),
        *regimes_markdown(b, pm),
        "## Per fold" + (" (mean ± std over seeds)" if many else ""),
        "",
        f"| fold | days | naive MAE (USD) | GRU MAE / naive | LSTM MAE / naive | GRU RMSE / naive | LSTM RMSE / naive "
        f"| coverage {level_names}: GRU | LSTM | naive | training, all its runs (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_fold_row(fr, levels) for fr in b.folds),
        "",
        f"### {_level(band)} intervals per fold (seed {seeds[0]}): coverage, Kupiec p, mean width (% of the forecast), "
        "Winkler score (USD)",
        "",
        "| fold | GRU | LSTM | naive |",
        "|---|---:|---:|---:|",
        *(f"| {fr.fold.number} | {_fold_interval(fr.cells['gru'].metrics[0].intervals[band])} | "
          f"{_fold_interval(fr.cells['lstm'].metrics[0].intervals[band])} | "
          f"{_fold_interval(fr.naive.naive_intervals[band])} |" for fr in b.folds),
        "",
        "## What this means",
        "",
        *(f"- {v}" for v in backtest_verdict(b)),
        "",
    ]
    return "\n".join(lines)


def _fold_interval(m: IntervalMetrics) -> str:
    if m.unbounded:
        return f"{100 * m.coverage:.0f}%, unbounded"
    return f"{100 * m.coverage:.0f}%, p {p_value(m.kupiec_p_value)}, {m.mean_width_pct:.1f}%, {amount(m.winkler, 0)}"


def _fold_row(fr: FoldResult, levels: list[float]) -> str:
    f, g, l = fr.fold, fr.cells["gru"], fr.cells["lstm"]
    return (f"| {f.number} | {f.test.first}..{f.test.last} ({f.test.days}) | {amount(fr.naive.naive.mae, 0)} | "
            f"{_fmt(g.spread('mae_ratio_vs_naive'), 3)} | {_fmt(l.spread('mae_ratio_vs_naive'), 3)} | "
            f"{_fmt(g.spread('rmse_ratio_vs_naive'), 3)} | {_fmt(l.spread('rmse_ratio_vs_naive'), 3)} | "
            f"{_coverages({lv: g.interval(lv, 'coverage').mean for lv in levels})} | "
            f"{_coverages({lv: l.interval(lv, 'coverage').mean for lv in levels})} | "
            f"{_coverages({lv: fr.naive.naive_intervals[lv].coverage for lv in levels})} | "
            f"{fr.train_seconds:,.0f} |")


def backtest_text(b: Backtest) -> str:
    """The terminal summary."""
    out = b.out
    rows = [f"{'':<6}{'MAE / naive':>18}{'RMSE / naive':>18}{'folds ahead of naive':>22}"]
    for cell, r in b.cells.items():
        ahead = f"{b.folds_ahead(cell)} of {len(b.folds)}"
        rows.append(f"{_label(cell):<6}{_fmt(r.spread('mae_ratio_vs_naive'), 4):>18}"
                    f"{_fmt(r.spread('rmse_ratio_vs_naive'), 4):>18}{ahead:>22}")
    return "\n".join([
        f"backtest: {len(b.folds)} folds, {b.dates[0]:%Y-%m-%d}..{b.dates[-1]:%Y-%m-%d} ({len(b.dates)} days), "
        f"{len(b.seeds)} seed{'s' if len(b.seeds) > 1 else ''} per cell; naive MAE {amount(b.naive.naive.mae)} USD",
        *rows,
        "",
        *backtest_verdict(b),
        power_sentence(b),
        "Interval methods: " + choice_sentence(b.intervals).replace("**", "") + " (backtest.md, intervals.png)",
        "",
        f"{b.trained} of {b.tasks} trainings run now ({b.engine.name}, {b.engine.workers} "
        f"worker{'s' if b.engine.workers != 1 else ''}), wall time {b.wall_seconds:,.0f} s",
        f"written: {out / 'backtest.json'}, {out / 'backtest.md'}, {out / 'backtest.png'}, {out / 'intervals.png'}",
    ])


def backtest_chart_inputs(b: Backtest, coin: str | None = None) -> dict:
    """plots_summary.backtest_chart: per fold and per calendar year (regimes' by-year groups) the
    seed-mean MAE ratio and its seed min..max; over all days each cell's cumulative seed-mean |error|
    minus naive's and the closes; the number of seeds (bars only with several)."""
    def per_fold(cell: str, pick) -> np.ndarray:
        return np.array([pick(fr.cells[cell].spread("mae_ratio_vs_naive")) for fr in b.folds])

    def per_year(cell: str, pick) -> np.ndarray:
        return np.array([pick(g.cells[cell].mae_ratio) for g in b.breakdown.by_year])

    return dict(
        fold_starts=[fr.fold.test.first for fr in b.folds],
        fold_ends=[fr.fold.test.last for fr in b.folds],
        ratio={_label(c): per_fold(c, lambda s: s.mean) for c in b.cells},
        ratio_low={_label(c): per_fold(c, lambda s: s.low) for c in b.cells},
        ratio_high={_label(c): per_fold(c, lambda s: s.high) for c in b.cells},
        dates=b.dates,
        excess={_label(c): r.excess for c, r in b.cells.items()},
        close=b.actual,
        years=[int(g.name) for g in b.breakdown.by_year],
        year_ratio={_label(c): per_year(c, lambda s: s.mean) for c in b.cells},
        year_low={_label(c): per_year(c, lambda s: s.low) for c in b.cells},
        year_high={_label(c): per_year(c, lambda s: s.high) for c in b.cells},
        seeds=len(b.seeds),
        coin=coin,
    )
