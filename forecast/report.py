"""Every report the tool makes, from typed results: terminal text, markdown, JSON records and
the inputs of each chart. Nothing here computes a statistic; interpretations are printed only
where the numbers support them, never as fixed sentences.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .jsonio import jsonable, level_key
from .metrics import SCALAR_METRICS, DMTest, ErrorMetrics, ForecastMetrics, Spread
from .intervals import IntervalMetrics

if TYPE_CHECKING:
    from .bench import Bench, InferenceTiming, ModelTiming
    from .compare import Comparison
    from .prices import Prices
    from .model_info import TrainedModel
    from .use_model import NextDay, RangeEvaluation

ALPHA = 0.05      # significance level of every test reported
SAME_SPEED = 0.1  # GRU/LSTM time ratios within 1 +- this read as "about the same"
BAND_LEVEL = 80   # the interval level charts shade


def _label(cell: str) -> str:
    return cell.upper()


def _level(level: float) -> str:
    return f"{level:g}%"


def p_value(p: float | None) -> str:
    """A p-value as every report prints it: three decimals, "< 0.001" below that (never "0.000",
    which reads as impossible), "n/a" when there is none."""
    if p is None or math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float | None) -> str:
    """A p-value inside a sentence: "p = 0.014", "p < 0.001"."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


NO_RATIO = "no ratio: naive's error is 0"  # a ratio to naive's error when naive was exact on every day


def fmt_ratio(value: float, digits: int = 4) -> str:
    """A ratio to naive's error for a table or a parenthesis; NaN (naive exact on every day: flat
    prices) reads "n/a (naive's error is 0)", never "nan"."""
    return "n/a (naive's error is 0)" if math.isnan(value) else f"{value:.{digits}f}"


def ratio_words(value: float, digits: int = 3) -> str:
    """"ratio 1.012  (worse than naive)", or NO_RATIO."""
    return NO_RATIO if math.isnan(value) else f"ratio {value:.{digits}f}  ({versus_naive(value)})"


def times_naive(value: float) -> str:
    """"1.012x naive's (worse than naive)", or NO_RATIO: never "nanx naive's"."""
    return NO_RATIO if math.isnan(value) else f"{value:.3f}x naive's ({versus_naive(value)})"


def versus_naive(ratio: float) -> str:
    """What an MAE ratio to the naive forecast means, in words."""
    if math.isnan(ratio):
        return NO_RATIO
    if ratio > 1:
        return "worse than naive"
    if ratio < 1:
        return "better than naive"
    return "the same as naive"


# --- data --------------------------------------------------------------------------------

def data_record(p: Prices) -> dict:
    """`data --json`: what `data` prints (Prices.summary), as one object."""
    c = p.close
    return {
        "source": p.source, "rows": len(c),
        "first_date": f"{c.index[0]:%Y-%m-%d}", "last_date": f"{c.index[-1]:%Y-%m-%d}", "last_close": float(c.iloc[-1]),
        "gaps": {"filled_days": p.filled_days, "runs": [[str(a), str(b)] for a, b in p.gaps]},
        "cache": None if p.cache is None else str(p.cache),
    }


# --- metrics -----------------------------------------------------------------------------

def interval_record(m: IntervalMetrics) -> dict:
    calm, middle, volatile = m.coverage_by_volatility
    return {
        "coverage": m.coverage, "kupiec_p_value": m.kupiec_p_value,
        "mean_width_usd": m.mean_width, "mean_width_pct": m.mean_width_pct, "winkler_usd": m.winkler,
        "coverage_by_volatility": {"calm": calm, "middle": middle, "volatile": volatile},
        "unbounded": m.unbounded,
    }


def metrics_record(m: ForecastMetrics, **first) -> dict:
    """The JSON of one model on one set of days (metrics.json, evaluate --json): `first` keys
    lead, then the model's numbers, then the naive forecast's on the same days."""
    return {
        **first,
        "first_date": m.first_date, "last_date": m.last_date,
        "mae": m.mae, "rmse": m.rmse, "mape": m.mape,
        "directional_accuracy": m.directional_accuracy,
        "mae_ratio_vs_naive": m.mae_ratio_vs_naive, "rmse_ratio_vs_naive": m.rmse_ratio_vs_naive,
        "beats_naive_share": m.beats_naive_share,
        "days": m.days,
        "intervals": {level_key(lv): interval_record(i) for lv, i in m.intervals.items()},
        "naive": {"mae": m.naive.mae, "rmse": m.naive.rmse, "mape": m.naive.mape,
                  "intervals": {level_key(lv): interval_record(i) for lv, i in m.naive_intervals.items()}},
    }


def metrics_table(rows: dict[str, ForecastMetrics], naive: ErrorMetrics) -> str:
    """Markdown table: one row per model, then the naive forecast on the same days."""
    lines = ["| forecast | MAE (USD) | RMSE (USD) | MAPE | direction right | MAE / naive | RMSE / naive | beats naive |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m.mae:,.2f} | {m.rmse:,.2f} | {m.mape:.3f}% | "
            f"{100 * m.directional_accuracy:.1f}% | {fmt_ratio(m.mae_ratio_vs_naive)} | "
            f"{fmt_ratio(m.rmse_ratio_vs_naive)} | {100 * m.beats_naive_share:.1f}% of days |"
        )
    lines.append(f"| naive (tomorrow = today) | {naive.mae:,.2f} | {naive.rmse:,.2f} | "
                 f"{naive.mape:.3f}% | n/a | 1 | 1 | n/a |")
    return "\n".join(lines)


def _width(m: IntervalMetrics, unit: str = "") -> str:
    return "unbounded" if m.unbounded else f"{m.mean_width:,.0f}{unit} ({m.mean_width_pct:.2f}%)"


def interval_table(rows: dict[str, dict[float, IntervalMetrics]]) -> str:
    """Markdown table: per forecast and level, coverage, Kupiec's p, width, Winkler score, and
    coverage on the calm, middle and volatile third of the days."""
    lines = ["| forecast | level | coverage | Kupiec p | mean width, USD (%) | Winkler (USD) "
             "| coverage calm / middle / volatile days |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, by_level in rows.items():
        for lv, m in by_level.items():
            winkler = "unbounded" if m.unbounded else f"{m.winkler:,.0f}"
            lines.append(
                f"| {name} | {_level(lv)} | {100 * m.coverage:.1f}% | {p_value(m.kupiec_p_value)} | {_width(m)} | "
                f"{winkler} | {' / '.join(f'{100 * c:.1f}%' for c in m.coverage_by_volatility)} |")
    return "\n".join(lines)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def interval_notes(rows: dict[str, dict[float, IntervalMetrics]]) -> list[str]:
    """Sentences only where the numbers call for one: rejected coverage, unbounded intervals,
    a volatile third of the days covered clearly less than the calm third. One sentence per level
    and finding, naming every forecast it holds for (GRU, LSTM and naive often share one: the same
    sentence three times read as three findings)."""
    notes = []
    for lv in dict.fromkeys(lv for by_level in rows.values() for lv in by_level):
        found = {name: by_level[lv] for name, by_level in rows.items() if lv in by_level}
        unbounded = [name for name, m in found.items() if m.unbounded]
        bounded = {name: m for name, m in found.items() if not m.unbounded}
        if len(unbounded) == 1:
            notes.append(f"{unbounded[0]}'s {_level(lv)} interval is unbounded: too few validation days to calibrate it.")
        elif unbounded:
            notes.append(f"The {_level(lv)} intervals of {_and(unbounded)} are unbounded: too few validation days "
                         "to calibrate them.")
        for side in ("under", "over"):
            off = {name: m for name, m in bounded.items()
                   if m.kupiec_p_value < ALPHA and (m.coverage < lv / 100) == (side == "under")}
            if len(off) == 1:
                (name, m), = off.items()
                notes.append(f"{name}'s {_level(lv)} interval {side}-covers: {100 * m.coverage:.1f}% of days "
                             f"(Kupiec {p_is(m.kupiec_p_value)}).")
            elif off:
                notes.append(f"The {_level(lv)} intervals {side}-cover: " + _and(
                    [f"{name} on {100 * m.coverage:.1f}% of days (Kupiec {p_is(m.kupiec_p_value)})"
                     for name, m in off.items()]) + ".")
        narrow = {name: m.coverage_by_volatility for name, m in bounded.items()
                  if m.coverage_by_volatility[0] - m.coverage_by_volatility[2] > 0.05}
        if len(narrow) == 1:
            (name, (calm, _, volatile)), = narrow.items()
            notes.append(f"{name}'s {_level(lv)} interval covers {100 * volatile:.1f}% of the most volatile third "
                         f"of days against {100 * calm:.1f}% of the calmest: it is too narrow when markets move.")
        elif narrow:
            notes.append(f"The {_level(lv)} intervals are too narrow when markets move: on the most volatile third "
                         "of days against the calmest, " + _and(
                             [f"{name} covers {100 * volatile:.1f}% against {100 * calm:.1f}%"
                              for name, (calm, _, volatile) in narrow.items()]) + ".")
    return notes


def coverage_notes(name: str, by_level: dict[float, IntervalMetrics]) -> list[str]:
    """interval_notes for one forecast."""
    return interval_notes({name: by_level})


# --- train -------------------------------------------------------------------------------

def train_summary(trained: TrainedModel, directory=None) -> str:
    info, m = trained.info, trained.test.metrics
    lines = [
        f"{_label(info.cell)}: test {m.first_date}..{m.last_date} ({m.days} days)",
        f"  MAE  {m.mae:>10,.2f} USD   naive {m.naive.mae:>10,.2f} USD   "
        f"{ratio_words(m.mae_ratio_vs_naive)}",
        f"  RMSE {m.rmse:>10,.2f} USD   naive {m.naive.rmse:>10,.2f} USD   "
        f"{ratio_words(m.rmse_ratio_vs_naive)}",
        f"  MAPE {m.mape:.2f}%   direction right {100 * m.directional_accuracy:.1f}% of days",
        *(f"  {_level(lv)} interval: held on {100 * i.coverage:.1f}% of days (naive's: "
          f"{100 * m.naive_intervals[lv].coverage:.1f}%), mean width {_width(i, ' USD')}"
          for lv, i in m.intervals.items()),
        f"  {info.epochs_run} epochs (best {info.best_epoch}) in {info.train_seconds:.1f} s",
    ]
    if info.refit_epochs is not None:
        epochs = f"{info.refit_epochs} epoch{'s' if info.refit_epochs != 1 else ''}"
        lines.append(f"  then refit on all {info.trained_on.days:,} target days ({info.trained_on.first}.."
                     f"{info.trained_on.last}) for {epochs}: the saved model, for predict")
    if directory is not None:
        lines.append(f"  saved to {directory}/")
    return "\n".join(lines)


def train_record(trained: TrainedModel, directory) -> dict:
    """`train --json`: metrics.json's content (the held-out test result), led by the cell and
    where the run was saved, followed by how training went."""
    info = trained.info
    return {
        "cell": info.cell, "saved_to": str(directory),
        **metrics_record(trained.test.metrics, split="test"),
        "epochs_run": info.epochs_run, "best_epoch": info.best_epoch, "train_seconds": info.train_seconds,
        "refit_epochs": info.refit_epochs, "trained_on": info.trained_on,
    }


def _band_inputs(forecast, label: str) -> tuple[dict, float]:
    """The band a chart shades: BAND_LEVEL if it was calibrated, else the lowest level."""
    if not forecast.bands:
        return {}, BAND_LEVEL
    level = BAND_LEVEL if BAND_LEVEL in forecast.bands else min(forecast.bands)
    lo, hi = forecast.bands[level]
    return ({} if np.isinf(hi).any() else {label: (lo, hi)}), level


def train_chart_inputs(trained: TrainedModel) -> dict:
    ev, name = trained.test, _label(trained.info.cell)
    m = ev.metrics
    bands, level = _band_inputs(ev.forecast, name)
    return dict(
        dates=ev.forecast.dates, actual=ev.actual, forecasts={name: ev.forecast.point}, naive=ev.forecast.previous,
        title=f"{name} next-day forecast, test period (MAE {m.mae:,.0f} USD, naive {m.naive.mae:,.0f} USD)",
        bands=bands, band_level=level,
    )


def history_chart_inputs(trained: TrainedModel) -> dict:
    info = trained.info
    return dict(history=trained.history,
                title=f"{_label(info.cell)} training ({info.scaling.name} scaling)",
                loss=info.settings.get("loss", "huber"), best_epoch=info.best_epoch)


# --- predict and evaluate ------------------------------------------------------------------

def next_day_record(r: NextDay) -> dict:
    return {
        "cell": r.cell, "source": r.source, "last_date": r.last_date, "last_close": r.last_close,
        "date": r.date, "predicted_close": r.predicted_close, "change_pct": r.change_pct,
        "intervals": {level_key(lv): {"lower": lo, "upper": hi} for lv, (lo, hi) in r.intervals.items()},
        "test": None if r.test is None else {
            "first_date": r.test.first_date, "last_date": r.test.last_date, "days": r.test.days,
            "mae": r.test.mae, "naive_mae": r.test.naive_mae, "mae_ratio_vs_naive": r.test.mae_ratio_vs_naive},
        "trained_until": r.trained_until,
    }


def next_day_text(r: NextDay) -> str:
    lines = [
        f"{r.source}: next-day forecast by {_label(r.cell)}",
        f"  last close  {r.last_date}  {r.last_close:>12,.2f} USD",
        f"  forecast    {r.date}  {r.predicted_close:>12,.2f} USD  ({r.change_pct:+.2f}%)",
    ]
    for lv, (lo, hi) in r.intervals.items():
        shown = "unbounded (too few validation days to calibrate)" if math.isinf(hi) else f"{lo:,.2f} .. {hi:,.2f} USD"
        lines.append(f"  {_level(lv):<4} range  {shown}")
    if r.test is not None:
        t = r.test
        lines.append(f"  context     on held-out test days {t.first_date}..{t.last_date} its MAE was "
                     f"{t.mae:,.2f} USD, {times_naive(t.mae_ratio_vs_naive)}")
    return "\n".join(lines)


def evaluate_record(r: RangeEvaluation) -> dict:
    return metrics_record(r.evaluation.metrics, cell=r.cell, source=r.source, sample=r.sample,
                          days_in_sample=r.seen_days, model_saw_until=r.model_saw_until)


def _sample_text(r: RangeEvaluation) -> str:
    """Whether the model saw these days, in words: in-sample errors flatter a model."""
    if r.overlap:
        return (f"in sample: the model was trained or early-stopped on {r.seen_days} of them "
                f"(its training data end on {r.model_saw_until})")
    if r.evaluation.metrics.last_date < r.info.trained_on.first:  # older prices than it was trained on
        return f"out of sample: before the model's training data, which begin on {r.info.trained_on.first}"
    return f"out of sample: after the model's training data, which end on {r.model_saw_until}"


def evaluate_text(r: RangeEvaluation) -> str:
    m, name = r.evaluation.metrics, _label(r.cell)
    lines = [
        f"{name} on {r.source}, target days {m.first_date}..{m.last_date} ({m.days} days), {_sample_text(r)}",
        metrics_table({name: m}, m.naive),
        "",
        interval_table({name: m.intervals, "naive": m.naive_intervals}),
        *(f"note: {n}" for n in coverage_notes(name, m.intervals)),
    ]
    if r.overlap:
        lines.append("note: the range overlaps the days the model was trained or early-stopped on "
                     f"(up to {r.model_saw_until}); those errors are not out-of-sample")
    if r.chart is not None:
        lines.append(f"chart: {r.chart}")
    return "\n".join(lines)


def evaluate_chart_inputs(r: RangeEvaluation) -> dict:
    ev, m, name = r.evaluation, r.evaluation.metrics, _label(r.cell)
    bands, level = _band_inputs(ev.forecast, name)
    split = r.info.split
    spans = {"training": (split["train"].first, split["train"].last),
             "validation": (split["val"].first, split["val"].last)}
    if r.info.refit_epochs is not None:  # refit on every day: all of them are training days
        spans = {"training": (r.info.trained_on.first, r.info.trained_on.last)}
    return dict(
        dates=ev.forecast.dates, actual=ev.actual, forecasts={name: ev.forecast.point}, naive=ev.forecast.previous,
        title=f"{name} next-day forecast {m.first_date}..{m.last_date}, {r.sample.replace('-', ' ')} "
              f"(MAE {m.mae:,.0f} USD, naive {m.naive.mae:,.0f} USD)",
        bands=bands, band_level=level, spans=spans, full_range=True,
    )


# --- significance and verdicts --------------------------------------------------------------

def _p(test: DMTest) -> str:
    return "n/a (identical losses)" if math.isnan(test.p_value) else p_value(test.p_value)


def _dm_p(test: DMTest) -> str:
    """ "DM p = 0.012", "DM p < 0.001", "DM p = n/a (identical losses)", for sentences."""
    return f"DM p = {_p(test)}" if math.isnan(test.p_value) else f"DM {p_is(test.p_value)}"


def verdict(mae_ratio: dict[str, float], vs_naive: dict[str, DMTest], between: DMTest) -> list[str]:
    """Plain words for what the numbers say, including when nothing beats 'tomorrow = today'.
    `mae_ratio` and `vs_naive` are keyed by cell; `between` tests the first cell against the second."""
    lines = []
    for cell, ratio in mae_ratio.items():
        dm, name = vs_naive[cell], _label(cell)
        significant = dm.p_value < ALPHA  # False for NaN
        if math.isnan(ratio):
            lines.append(f"{name} cannot be measured against the naive forecast ({NO_RATIO}: the prices never moved).")
        elif significant and dm.statistic < 0:
            lines.append(f"{name} beats the naive forecast significantly (MAE ratio {ratio:.4f}, {_dm_p(dm)}).")
        elif significant:
            lines.append(f"{name} is significantly worse than the naive forecast (MAE ratio {ratio:.4f}, {_dm_p(dm)}).")
        elif ratio < 1:
            lines.append(f"{name} has a slightly lower MAE than the naive forecast (ratio {ratio:.4f}), "
                         f"but the difference is not significant ({_dm_p(dm)}).")
        else:
            lines.append(f"{name} does not beat the naive forecast (MAE ratio {ratio:.4f}, {_dm_p(dm)}).")
    first, second = (_label(c) for c in mae_ratio)
    if between.p_value < ALPHA:
        better, worse = (first, second) if between.statistic < 0 else (second, first)
        lines.append(f"{better} is significantly more accurate than {worse} ({_dm_p(between)}).")
    else:
        lines.append(f"{first} and {second} are not significantly different ({_dm_p(between)}): "
                     "on this data the choice of cell does not matter for accuracy.")
    if all(r >= 1 for r in mae_ratio.values()):
        lines.append("Neither model beats 'tomorrow = today': daily closes are close to a random walk.")
    return lines


def seeds_note(seeds: int) -> str:
    """How to read the verdict against the seeds: the seeds table exists only with several seeds."""
    if seeds > 1:
        return ("Read these with the seeds table: a difference between the cells smaller than the spread "
                "between seeds of one cell is not a difference between cells.")
    return ("With one seed per cell, how much these numbers move with the seed is not measured: a small "
            "difference between the cells may be seed noise (more seeds measure it).")


def comparison_verdict(c: Comparison) -> list[str]:
    return verdict({cell: r.mean("mae_ratio_vs_naive") for cell, r in c.cells.items()},
                   {cell: c.dm[f"{cell}_vs_naive"] for cell in c.cells}, c.dm["gru_vs_lstm"])


# --- speed -----------------------------------------------------------------------------------

def speed_notes(gru: ModelTiming, lstm: ModelTiming, train_ratio: float | None,
                train_ratio_xla: float | None = None) -> list[str]:
    """What the GRU/LSTM time ratios say, each sentence only where its number supports it."""
    notes = []
    one = gru.latency_ms.p50 / lstm.latency_ms.p50
    full = gru.us_per_window_full_batch / lstm.us_per_window_full_batch
    if abs(one - 1) < SAME_SPEED:
        notes.append(f"At batch 1 GRU and LSTM cost about the same ({one:.2f}x): per-call overhead "
                     "(Python, dispatch, copying the result back) outweighs the cells' arithmetic.")
    else:
        notes.append(f"At batch 1 GRU takes {one:.2f}x LSTM's time per call.")
    if full < 1 - SAME_SPEED:
        notes.append(f"With a full batch GRU takes {full:.2f}x LSTM's time per window: the smaller arithmetic "
                     f"({gru.params:,} against {lstm.params:,} parameters, 3 gate blocks against 4) shows.")
    elif full > 1 + SAME_SPEED:
        notes.append(f"With a full batch GRU takes {full:.2f}x LSTM's time per window, despite fewer parameters.")
    else:
        notes.append(f"With a full batch GRU and LSTM cost about the same per window ({full:.2f}x).")
    ratios = ([("Training", train_ratio)] if train_ratio_xla is None
              else [("Training without XLA", train_ratio), ("Training with XLA", train_ratio_xla)])
    for label, r in ratios:
        if r is None:
            continue
        if abs(r - 1) < SAME_SPEED:
            notes.append(f"{label}: about the same time per epoch ({r:.2f}x).")
        else:
            notes.append(f"{label}: GRU takes {r:.2f}x LSTM's time per epoch.")
    return notes


def _speed_rows(g: ModelTiming, l: ModelTiming, batch: int) -> list[tuple]:
    return [
        ("parameters", g.params, l.params, "{:,}"),
        ("latency p50 / p95, one window, fast path (ms)", (g.latency_ms.p50, g.latency_ms.p95),
         (l.latency_ms.p50, l.latency_ms.p95), "{:.3f} / {:.3f}"),
        ("latency p50 / p95, one window, model.predict (ms)", (g.predict_latency_ms.p50, g.predict_latency_ms.p95),
         (l.predict_latency_ms.p50, l.predict_latency_ms.p95), "{:.1f} / {:.1f}"),
        (f"throughput, batch {batch} (windows/s)", g.throughput_windows_per_s, l.throughput_windows_per_s, "{:,.0f}"),
        (f"µs per window, batch {batch}", g.us_per_window_full_batch, l.us_per_window_full_batch, "{:.2f}"),
    ]


def _row(label, gv, lv, fmt) -> str:
    g_num, l_num = (v[0] if isinstance(v, tuple) else v for v in (gv, lv))
    show = (lambda v: fmt.format(*v)) if isinstance(gv, tuple) else fmt.format
    return f"| {label} | {show(gv)} | {show(lv)} | {g_num / l_num:.2f} |"


def _fast_path(choice) -> str:
    kind = "tf.function with jit_compile=True (XLA)" if choice.jit_compile else "tf.function without XLA"
    return f"{kind}, fixed input signature, output converted to numpy in the timed call"


def timing_record(t: InferenceTiming) -> dict:
    from .bench import gru_over_lstm, predict_over_fast

    record = {name: jsonable(m) for name, m in t.models.items()}
    record["settings"] = {
        "window": t.window, "calls": t.calls, "batch": t.batch, "warmup": t.warmup,
        "full_batch_rounds": t.full_batch_rounds,
        "fast_path": {"batch_1": _fast_path(t.fast_path_batch_1), "full_batch": _fast_path(t.fast_path_full_batch),
                      "chosen_by": "the faster of XLA and plain tf.function in a short untimed trial on this machine",
                      "trial_batch_1": jsonable(t.fast_path_batch_1),
                      "trial_full_batch": jsonable(t.fast_path_full_batch)},
        "interleaved": "call by call, alternating which model goes first each round",
        "tensorflow": t.tensorflow, "cpu_count": t.cpu_count,
    }
    if {"gru", "lstm"} <= set(t.models):
        g, l = t.models["gru"], t.models["lstm"]
        record["ratios"] = {"gru_over_lstm": gru_over_lstm(g, l),
                            "predict_over_fast": {"gru": predict_over_fast(g), "lstm": predict_over_fast(l)}}
    return record


def bench_record(b: Bench) -> dict:
    record = timing_record(b.inference)
    record["settings"] = {"units": b.units, "seed": b.seed, **record["settings"]}
    if b.training is not None:
        t = b.training
        record["training"] = {
            "seconds_per_epoch": {cell: {"plain": s[False], "xla": s[True]} for cell, s in t.seconds_per_epoch.items()},
            "rows": t.rows, "batch_size": t.batch_size, "timed_epochs": t.epochs,
        }
        if {"gru", "lstm"} <= set(t.seconds_per_epoch):
            g, l = t.seconds_per_epoch["gru"], t.seconds_per_epoch["lstm"]
            record["ratios"]["gru_over_lstm"]["train_seconds_per_epoch"] = g[False] / l[False]
            record["ratios"]["gru_over_lstm"]["train_seconds_per_epoch_xla"] = g[True] / l[True]
    return record


def bench_table(b: Bench) -> str:
    from .bench import predict_over_fast

    t = b.inference
    g, l = t.models["gru"], t.models["lstm"]
    lines = [
        f"Inference of fresh models: window {t.window}, {b.units} units, TensorFlow {t.tensorflow}, "
        f"{t.cpu_count} CPUs; {t.calls} timed calls per path at batch 1, {t.full_batch_rounds} at batch {t.batch}, "
        f"after {t.warmup} untimed warm-up calls; GRU and LSTM interleaved call by call.",
        f"fast path, batch 1: {_fast_path(t.fast_path_batch_1)}",
        f"fast path, batch {t.batch}: {_fast_path(t.fast_path_full_batch)}",
        "",
        "| | GRU | LSTM | GRU/LSTM |",
        "|---|---:|---:|---:|",
        *(_row(*r) for r in _speed_rows(g, l, t.batch)),
        f"| model.predict / fast path, p50 | {predict_over_fast(g):.0f}x | {predict_over_fast(l):.0f}x | – |",
    ]
    train_ratio = train_ratio_xla = None
    if b.training is not None:
        s = b.training.seconds_per_epoch
        train_ratio = s["gru"][False] / s["lstm"][False]
        train_ratio_xla = s["gru"][True] / s["lstm"][True]
        lines += [
            f"| training, s per epoch ({b.training.rows:,} windows, batch {b.training.batch_size}) "
            f"| {s['gru'][False]:.3f} | {s['lstm'][False]:.3f} | {train_ratio:.2f} |",
            f"| training with XLA (jit_compile=True), s per epoch | {s['gru'][True]:.3f} | {s['lstm'][True]:.3f} "
            f"| {train_ratio_xla:.2f} |",
        ]
    lines += ["", *speed_notes(g, l, train_ratio, train_ratio_xla)]
    if b.training is not None:
        s = b.training.seconds_per_epoch
        gain = {cell: v[False] / v[True] for cell, v in s.items()}
        lines.append("XLA makes a training epoch " + ", ".join(
            f"{_label(c)} {x:.2f}x {'faster' if x >= 1 else 'slower'}" for c, x in gain.items()) + " here.")
    return "\n".join(lines)


# --- compare ---------------------------------------------------------------------------------

METRIC_ROWS = (("MAE (USD)", "mae", 2, 1), ("RMSE (USD)", "rmse", 2, 1), ("MAPE (%)", "mape", 3, 1),
               ("direction right (%)", "directional_accuracy", 1, 100), ("MAE / naive", "mae_ratio_vs_naive", 4, 1))


def _fmt(spread: Spread, digits: int, scale: float = 1) -> str:
    if math.isnan(spread.mean):
        return "n/a"  # a ratio to a naive error of 0
    mean = f"{spread.mean * scale:,.{digits}f}"
    return mean if spread.std is None else f"{mean} ± {spread.std * scale:,.{digits}f}"


def _spread_record(s: Spread) -> dict:
    return {"mean": s.mean, "std": s.std, "values": list(s.values)}


def _dm_record(t: DMTest) -> dict:
    return {"statistic": t.statistic, "p_value": t.p_value, "days": t.days}


def _mean_metrics(c: Comparison, cell: str) -> dict[str, float]:
    return {m: c.cells[cell].mean(m) for m in SCALAR_METRICS}


INTERVAL_MEASURES = ("coverage", "kupiec_p_value", "mean_width", "mean_width_pct", "winkler")


def _interval_spreads(c: Comparison, cell: str) -> dict:
    """Per level, each interval measure as mean, std and values over the seeds."""
    runs = c.cells[cell].runs
    return {level_key(lv): {
        key: _spread_record(Spread.of(getattr(r.test.metrics.intervals[lv], key) for r in runs))
        for key in INTERVAL_MEASURES
    } for lv in runs[0].test.metrics.intervals}


def comparison_record(c: Comparison) -> dict:
    """comparison.json: everything, in the layout earlier versions wrote, intervals added."""

    first = {cell: r.runs[0] for cell, r in c.cells.items()}
    record = {
        "command": c.command, "data": jsonable(c.data), "split": jsonable(c.split), "settings": c.settings,
        "seeds": list(c.seeds),
        "naive": {"mae": c.naive.mae, "rmse": c.naive.rmse, "mape": c.naive.mape,
                  "intervals": {level_key(lv): interval_record(i)
                                for lv, i in first["gru"].test.metrics.naive_intervals.items()}},
    }
    timing = timing_record(c.timing)
    for cell, result in c.cells.items():
        t = c.timing.models[cell]
        record[cell] = {
            **_mean_metrics(c, cell),
            "params": t.params,
            "latency_ms": jsonable(t.latency_ms), "predict_latency_ms": jsonable(t.predict_latency_ms),
            "throughput_windows_per_s": t.throughput_windows_per_s,
            "us_per_window_full_batch": t.us_per_window_full_batch,
            "train_seconds_per_epoch": float(sum(r.trained.info.seconds_per_epoch for r in result.runs) / len(result.runs)),
            "epochs_run": [r.trained.info.epochs_run for r in result.runs],
            "reused_saved_model": [r.reused for r in result.runs],
            "seeds": {m: _spread_record(result.spread(m)) for m in SCALAR_METRICS},
            "intervals": _interval_spreads(c, cell),
        }
    record["paired_difference_gru_minus_lstm"] = {m: _spread_record(c.paired(m)) for m in SCALAR_METRICS}
    record["dm_test"] = {
        "loss": "squared error; negative statistic: the first forecast is more accurate",
        **{pair: _dm_record(t) for pair, t in c.dm.items()}, "seed": c.seeds[0],
    }
    if len(c.seeds) > 1:
        record["dm_test_gru_vs_lstm_by_seed"] = [{"seed": s, **_dm_record(t["gru_vs_lstm"])} for s, t in c.dm_by_seed.items()]
        record["dm_test_by_seed"] = [{"seed": s, **{pair: _dm_record(x) for pair, x in t.items()}}
                                     for s, t in c.dm_by_seed.items()]
    record["timing"] = {k: v for k, v in timing.items() if k not in c.cells}
    return record


def comparison_markdown(c: Comparison, *, heading_level: int | None = 1,
                        sections: tuple[str, ...] | None = None) -> str:
    """comparison.md: the tables a person reads, in COMPARISON_SECTIONS order.

    `heading_level` is the markdown level of the title ("# ..."); each section's heading is one
    level below it. None: no markdown headings at all, for display inside a document that has
    its own outline (the notebook): the title is left out and section titles become bold lines.
    `sections` picks some of COMPARISON_SECTIONS (default: all), always in that order.
    """
    unknown = set(sections or ()) - set(COMPARISON_SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; valid: {', '.join(COMPARISON_SECTIONS)}")
    wanted = set(COMPARISON_SECTIONS if sections is None else sections)
    if heading_level is not None and not 1 <= heading_level <= 5:
        raise ValueError(f"heading_level must be 1..5 or None, got {heading_level!r}")

    def heading(text: str, depth: int) -> str:
        if heading_level is None:
            return f"**{text}**"
        return "#" * (heading_level + depth) + " " + text

    g, l = c.cells["gru"], c.cells["lstm"]
    s, split, seeds = c.settings, c.split, c.seeds
    first = {cell: r.runs[0].test.metrics for cell, r in c.cells.items()}
    mean_rows = {_label(cell): _mean_row(c, cell) for cell in c.cells}
    parts: dict[str, list[str]] = {}
    parts["about"] = [
        *([heading("GRU vs LSTM: next-day BTC close", 0), ""] if heading_level is not None else []),
        f"Made by `{c.command}`.",
        "",
        f"Data: {c.data.source}, {c.data.first_date}..{c.data.last_date} ({c.data.rows} days). "
        f"Test period {split['test'].first}..{split['test'].last} ({split['test'].days} days); "
        f"training {split['train'].first}..{split['train'].last}, "
        f"validation (early stopping, interval calibration) {split['val'].first}..{split['val'].last}.",
        f"Settings: window {s['window']}, {s['scaling']} scaling, {s['units']} units, loss {s['loss']}, "
        f"seeds {', '.join(map(str, seeds))}.",
        "",
    ]
    parts["errors"] = [
        heading("Next-day error on the test period (USD)" + (" — mean over seeds" if len(seeds) > 1 else ""), 1),
        "",
        metrics_table(mean_rows, c.naive),
        "",
    ]
    parts["seeds"] = [] if len(seeds) < 2 else [
        heading(f"Seeds: mean ± std over {len(seeds)} seeds, and the paired difference", 1),
        "",
        "| metric | GRU | LSTM | GRU − LSTM (paired) |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {_fmt(g.spread(m), d, k)} | {_fmt(l.spread(m), d, k)} | {_fmt(c.paired(m), d, k)} |"
          for name, m, d, k in METRIC_ROWS),
        "",
    ]
    parts["intervals"] = [
        heading(f"Prediction intervals on the test period (seed {seeds[0]})", 1),
        "",
        "Split conformal, calibrated on the validation days; naive gets its intervals the same way.",
        "",
        interval_table({"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals,
                        "naive": first["gru"].naive_intervals}),
        "",
        *(f"- {n}" for n in interval_notes({"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals,
                                            "naive": first["gru"].naive_intervals})),
        "",
    ]
    parts["dm"] = [
        heading(f"Is the difference real? Diebold-Mariano (squared error, HLN small-sample correction, "
                f"seed {seeds[0]})", 1),
        "",
        "| pair | statistic | p-value |",
        "|---|---:|---:|",
        *(f"| {pair.replace('_vs_', ' vs ').replace('gru', 'GRU').replace('lstm', 'LSTM')} "
          f"| {t.statistic:.3f} | {_p(t)} |" for pair, t in c.dm.items()),
        "",
        "A negative statistic means the first forecast has the smaller loss.",
        "",
    ]
    parts["speed"] = [
        heading("Speed (this machine)", 1),
        "",
        "| | GRU | LSTM | GRU / LSTM |",
        "|---|---:|---:|---:|",
        *(_row(*r) for r in _speed_rows(c.timing.models["gru"], c.timing.models["lstm"], c.timing.batch)),
        _row("training (s per epoch, with validation)", _train_s(c, "gru"), _train_s(c, "lstm"), "{:.2f}"),
        "",
        *speed_notes(c.timing.models["gru"], c.timing.models["lstm"], _train_s(c, "gru") / _train_s(c, "lstm")),
        "",
    ]
    parts["verdict"] = [
        heading("What this means", 1),
        "",
        *(f"- {v}" for v in comparison_verdict(c)),
        "",
        seeds_note(len(seeds)),
        "",
    ]
    lines = [line for name in COMPARISON_SECTIONS if name in wanted for line in parts[name]]
    return "\n".join(lines)


def _train_s(c: Comparison, cell: str) -> float:
    runs = c.cells[cell].runs
    return sum(r.trained.info.seconds_per_epoch for r in runs) / len(runs)


def _mean_row(c: Comparison, cell: str) -> ForecastMetrics:
    """A metrics row of seed means, for the table."""
    import dataclasses

    return dataclasses.replace(c.cells[cell].runs[0].test.metrics, **_mean_metrics(c, cell))


def comparison_text(c: Comparison, out) -> str:
    g, l = (c.timing.models[cell] for cell in ("gru", "lstm"))
    return "\n".join([
        metrics_table({_label(cell): _mean_row(c, cell) for cell in c.cells}, c.naive),
        "",
        *comparison_verdict(c),
        "",
        f"latency p50 (fast path): GRU {g.latency_ms.p50:.3f} ms, LSTM {l.latency_ms.p50:.3f} ms",
        f"written: {out / 'comparison.json'}, {out / 'comparison.md'}, {out / 'comparison.png'}",
    ])


def comparison_chart_inputs(c: Comparison) -> dict:
    first = {cell: r.runs[0].test.forecast for cell, r in c.cells.items()}
    bands = {}
    level = BAND_LEVEL
    for cell, f in first.items():
        b, level = _band_inputs(f, _label(cell))
        bands.update(b)
    return dict(
        dates=c.dates, actual=c.actual, forecasts={_label(cell): f.point for cell, f in first.items()},
        naive=c.previous,
        mae_ratio={_label(cell): r.mean("mae_ratio_vs_naive") for cell, r in c.cells.items()},
        mae_ratio_std={_label(cell): r.spread("mae_ratio_vs_naive").std for cell, r in c.cells.items()},
        seeds=len(c.seeds), seed_shown=c.seeds[0],
        dm_p_vs_naive={_label(cell): c.dm[f"{cell}_vs_naive"].p_value for cell in c.cells},
        dm_p_between=c.dm["gru_vs_lstm"].p_value,
        us_per_window={_label(cell): c.timing.models[cell].us_per_window_full_batch for cell in c.cells},
        train_s_per_epoch={_label(cell): _train_s(c, cell) for cell in c.cells},
        bands=bands,
    )


# The sections of comparison_markdown, in the order it writes them.
COMPARISON_SECTIONS = ("about", "errors", "seeds", "intervals", "dm", "speed", "verdict")


def training_summary(trained: TrainedModel, directory=None) -> str:
    """What training did, without the test result (the comparison reports that, once)."""
    info = trained.info
    saved = f"; saved to {directory}/" if directory is not None else ""
    epochs = f"{info.epochs_run} epoch" + ("s" if info.epochs_run != 1 else "")
    return (f"{_label(info.cell)}: {info.params:,} parameters, {epochs} "
            f"(best {info.best_epoch}, its weights kept) in {info.train_seconds:.1f} s "
            f"({info.seconds_per_epoch:.2f} s per epoch){saved}")


# --- backtest ----------------------------------------------------------------------------------

if TYPE_CHECKING:
    from .backtest import Backtest, FoldResult


def backtest_progress(done: int, total: int, task: str, epochs: int, seconds: float,
                      elapsed: str, remaining: str) -> str:
    """One line per finished task."""
    return (f"[{done}/{total}] {task}: {epochs} epochs in {seconds:.1f} s; "
            f"elapsed {elapsed}, about {remaining} left")


def _pair_name(pair: str) -> str:
    return pair.replace("_vs_", " vs ").replace("gru", "GRU").replace("lstm", "LSTM")


def _window_kind(b: Backtest) -> str:
    days = b.options.train_days
    return "expanding (every day before the origin)" if days is None else f"rolling (the last {days} days before the origin)"


def backtest_verdict(b: Backtest) -> list[str]:
    """report.verdict on all out-of-sample days (seed-mean MAE ratios, DM of the first seed), then
    facts about the folds and seeds, each sentence only where its numbers hold."""
    cells = b.cells
    lines = verdict({c: r.spread("mae_ratio_vs_naive").mean for c, r in cells.items()},
                    {c: b.dm[f"{c}_vs_naive"] for c in cells}, b.dm["gru_vs_lstm"])
    folds = len(b.folds)
    for cell in cells:
        ahead = b.folds_ahead(cell)
        if ahead == 0:
            lines.append(f"{_label(cell)} was behind naive in every one of the {folds} folds.")
        elif ahead == folds:
            lines.append(f"{_label(cell)} was ahead of naive in every one of the {folds} folds.")
        else:
            lines.append(f"{_label(cell)} was ahead of naive in {ahead} of {folds} folds.")
    if len(b.seeds) > 1:
        for pair in b.dm:
            ps = [t[pair].p_value for t in b.dm_by_seed.values()]
            if any(p < ALPHA for p in ps) and not all(p < ALPHA for p in ps):
                lines.append(f"The {_pair_name(pair)} test depends on the seed: DM p from {p_value(min(ps))} to "
                             f"{p_value(max(ps))} over seeds {', '.join(map(str, b.seeds))}; read it as not settled.")
    return lines


def _over_seeds_record(r) -> dict:
    """A backtest cell's metrics (a FoldCell or CellBacktest) as mean, std and values over seeds."""
    return {
        **{m: _spread_record(r.spread(m)) for m in SCALAR_METRICS},
        "intervals": {level_key(lv): {k: _spread_record(r.interval(lv, k)) for k in INTERVAL_MEASURES}
                      for lv in r.metrics[0].intervals},
    }


def _fold_cell_record(fr: FoldResult, cell: str) -> dict:
    c = fr.cells[cell]
    return {
        **_over_seeds_record(c),
        "beats_naive": fr.beats_naive(cell),
        "epochs_run": list(c.epochs_run), "best_epoch": list(c.best_epoch), "train_seconds": list(c.train_seconds),
    }


def _naive_record(m: ForecastMetrics) -> dict:
    return {"mae": m.naive.mae, "rmse": m.naive.rmse, "mape": m.naive.mape,
            "intervals": {level_key(lv): interval_record(i) for lv, i in m.naive_intervals.items()}}


def backtest_record(b: Backtest) -> dict:
    """backtest.json: settings, engine, every fold and cell, all days together, DM tests, verdict."""
    from .backtest import tasks_dir

    o = b.options
    overall = {"first_date": f"{b.dates[0]:%Y-%m-%d}", "last_date": f"{b.dates[-1]:%Y-%m-%d}", "days": len(b.dates),
               "naive": _naive_record(b.naive)}
    for cell, r in b.cells.items():
        overall[cell] = {
            **_over_seeds_record(r),
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
                     "validation": "the last val_fraction of the training days before each origin: "
                                   "early stopping and interval calibration"},
        "engine": {"name": b.engine.name, "workers": b.engine.workers, "address": b.engine.address,
                   "cpu_count": b.engine.cpu_count, "versions": b.engine.versions},
        "tasks": {"total": b.tasks, "trained": b.trained, "read_back": b.tasks - b.trained,
                  "directory": str(tasks_dir(b.out))},
        "wall_seconds": b.wall_seconds,
        "train_seconds": float(sum(fr.train_seconds for fr in b.folds)),
        "overall": overall,
        "dm_test": {"loss": "squared error; negative statistic: the first forecast is more accurate",
                    **{pair: _dm_record(t) for pair, t in b.dm.items()}, "seed": b.seeds[0]},
        "dm_test_by_seed": [{"seed": s, **{pair: _dm_record(t) for pair, t in tests.items()}}
                            for s, tests in b.dm_by_seed.items()],
        "folds": [{
            "fold": fr.fold.number,
            **{name: jsonable(getattr(fr.fold, name)) for name in ("train", "val", "test")},
            "days": fr.fold.test.days,
            "naive": _naive_record(fr.naive),
            **{cell: _fold_cell_record(fr, cell) for cell in fr.cells},
            "train_seconds": fr.train_seconds,
        } for fr in b.folds],
        "verdict": backtest_verdict(b),
    }


def _coverages(spreads: dict[float, float]) -> str:
    return " / ".join(f"{100 * v:.1f}%" for v in spreads.values())


def backtest_markdown(b: Backtest) -> str:
    s, o, seeds = b.settings, b.options, b.seeds
    levels = list(b.naive.naive_intervals)
    level_names = " / ".join(_level(lv) for lv in levels)
    many = len(seeds) > 1
    pm = " (mean ± std over seeds)" if many else ""
    first = {cell: r.metrics[0] for cell, r in b.cells.items()}
    band = BAND_LEVEL if BAND_LEVEL in levels else levels[0]
    lines = [
        "# Rolling-origin backtest: GRU vs LSTM vs naive, next-day BTC close",
        "",
        f"Made by `{b.command}`.",
        "",
        f"Data: {b.data.source}, {b.data.first_date}..{b.data.last_date} ({b.data.rows} days). "
        f"{len(b.folds)} folds of {o.step} target days{_last_fold(b)}, {b.dates[0]:%Y-%m-%d}..{b.dates[-1]:%Y-%m-%d} "
        f"({len(b.dates)} out-of-sample days). At each fold's origin both cells are refit on the target days "
        f"before it, {_window_kind(b)}; early stopping and interval calibration use the last "
        f"{s['val_fraction']:.0%} of those days; each fold day is forecast one step ahead from its own "
        f"{s['window']} previous closes.",
        f"Settings: window {s['window']}, {s['scaling']} scaling, {s['units']} units, loss {s['loss']}, "
        f"seeds {', '.join(map(str, seeds))}.",
        f"Engine: {b.engine.name}, {b.engine.workers} worker{'s' if b.engine.workers != 1 else ''}"
        + (f" on the cluster at {b.engine.address}" if b.engine.address else "")
        + f", {b.engine.cpu_count} CPUs here; {b.trained} of {b.tasks} trainings run now, "
          f"{b.tasks - b.trained} read back; wall time {b.wall_seconds:,.0f} s.",
        "",
        f"## All {len(b.dates)} out-of-sample days together{pm}",
        "",
        "| forecast | MAE (USD) | RMSE (USD) | MAE / naive | RMSE / naive | folds ahead of naive | "
        f"interval coverage {level_names} |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {_label(cell)} | {_fmt(r.spread('mae'), 2)} | {_fmt(r.spread('rmse'), 2)} | "
          f"{_fmt(r.spread('mae_ratio_vs_naive'), 4)} | {_fmt(r.spread('rmse_ratio_vs_naive'), 4)} | "
          f"{100 * r.folds_beating_naive:.0f}% | "
          f"{_coverages({lv: r.interval(lv, 'coverage').mean for lv in levels})} |"
          for cell, r in b.cells.items()),
        f"| naive (tomorrow = today) | {b.naive.naive.mae:,.2f} | {b.naive.naive.rmse:,.2f} | 1 | 1 | n/a | "
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
        f"## Prediction intervals on all out-of-sample days (seed {seeds[0]})",
        "",
        "Split conformal, calibrated at each origin on that fold's validation days; naive gets its intervals "
        "the same way.",
        "",
        interval_table({"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals,
                        "naive": b.naive.naive_intervals}),
        "",
        *(f"- {n}" for n in interval_notes({"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals,
                                            "naive": b.naive.naive_intervals})),
        "",
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
    return f"{100 * m.coverage:.0f}%, p {p_value(m.kupiec_p_value)}, {m.mean_width_pct:.1f}%, {m.winkler:,.0f}"


def _fold_row(fr: FoldResult, levels: list[float]) -> str:
    f, g, l = fr.fold, fr.cells["gru"], fr.cells["lstm"]
    return (f"| {f.number} | {f.test.first}..{f.test.last} ({f.test.days}) | {fr.naive.naive.mae:,.0f} | "
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
        f"{len(b.seeds)} seed{'s' if len(b.seeds) > 1 else ''} per cell; naive MAE {b.naive.naive.mae:,.2f} USD",
        *rows,
        "",
        *backtest_verdict(b),
        "",
        f"{b.trained} of {b.tasks} trainings run now ({b.engine.name}, {b.engine.workers} "
        f"worker{'s' if b.engine.workers != 1 else ''}), wall time {b.wall_seconds:,.0f} s",
        f"written: {out / 'backtest.json'}, {out / 'backtest.md'}, {out / 'backtest.png'}",
    ])


def _last_fold(b: Backtest) -> str:
    last = b.folds[-1].fold.test.days
    return f" (the last {last})" if last != b.options.step else ""


def backtest_chart_inputs(b: Backtest) -> dict:
    """plots.backtest_chart: per fold the seed-mean MAE ratio and its seed min..max; over all days
    each cell's cumulative seed-mean |error| minus naive's; the number of seeds (bars only with several)."""
    def per_fold(cell: str, pick) -> np.ndarray:
        return np.array([pick(fr.cells[cell].spread("mae_ratio_vs_naive")) for fr in b.folds])

    return dict(
        fold_starts=[fr.fold.test.first for fr in b.folds],
        fold_ends=[fr.fold.test.last for fr in b.folds],
        ratio={_label(c): per_fold(c, lambda s: s.mean) for c in b.cells},
        ratio_low={_label(c): per_fold(c, lambda s: min(s.values)) for c in b.cells},
        ratio_high={_label(c): per_fold(c, lambda s: max(s.values)) for c in b.cells},
        dates=b.dates,
        excess={_label(c): r.excess for c, r in b.cells.items()},
        seeds=len(b.seeds),
    )
