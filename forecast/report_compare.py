"""The reports of `compare` and `bench`: comparison.json, comparison.md, the terminal text, the
comparison chart's inputs, the speed tables and notes. Statistics come from compare and metrics
(means and spreads over seeds) and from bench; what they mean, from verdicts.
"""

from __future__ import annotations

import dataclasses

from . import verdicts
from .bench import Bench, InferenceTiming, ModelTiming, gru_over_lstm, predict_over_fast
from .compare import Comparison
from .config import Config
from .interval_methods import METHODS, MethodMetrics
from .jsonio import jsonable, level_key
from .metrics import SCALAR_METRICS, ForecastMetrics
from .report import (
    BAND_LEVEL, _band_inputs, _fmt, _label, _level, _p, _pair_name, dm_record, interval_notes, interval_record,
    interval_spreads, interval_table, methods_record, methods_table, metric_spreads, metrics_table, spread_record,
    inputs_of, verdict,
)
from .verdicts import Pace

# --- speed -----------------------------------------------------------------------------------


def speed_notes(gru: ModelTiming, lstm: ModelTiming, train_ratio: float | None,
                train_ratio_xla: float | None = None) -> list[str]:
    """What the GRU/LSTM time ratios say, each sentence only where its number supports it."""
    notes = []
    one = verdicts.times(gru.latency_ms.p50, lstm.latency_ms.p50)
    full = verdicts.times(gru.us_per_window_full_batch, lstm.us_per_window_full_batch)
    if verdicts.about_same_speed(one):
        notes.append(f"At batch 1 GRU and LSTM cost about the same ({one:.2f}x): per-call overhead "
                     "(Python, dispatch, copying the result back) outweighs the cells' arithmetic.")
    else:
        notes.append(f"At batch 1 GRU takes {one:.2f}x LSTM's time per call.")
    pace = verdicts.full_batch_pace(full)
    if pace is Pace.FASTER:
        notes.append(f"With a full batch GRU takes {full:.2f}x LSTM's time per window: the smaller arithmetic "
                     f"({gru.params:,} against {lstm.params:,} parameters, 3 gate blocks against 4) shows.")
    elif pace is Pace.SLOWER:
        notes.append(f"With a full batch GRU takes {full:.2f}x LSTM's time per window, despite fewer parameters.")
    else:
        notes.append(f"With a full batch GRU and LSTM cost about the same per window ({full:.2f}x).")
    return notes + training_note(train_ratio, train_ratio_xla)


def training_note(train_ratio: float | None, train_ratio_xla: float | None = None) -> list[str]:
    """What the GRU/LSTM training-time ratio (or, with XLA's too, both) says."""
    notes = []
    ratios = ([("Training", train_ratio)] if train_ratio_xla is None
              else [("Training without XLA", train_ratio), ("Training with XLA", train_ratio_xla)])
    for label, r in ratios:
        if r is None:
            continue
        if verdicts.about_same_speed(r):
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
    return f"| {label} | {show(gv)} | {show(lv)} | {verdicts.times(g_num, l_num):.2f} |"


def _fast_path(choice) -> str:
    kind = "tf.function with jit_compile=True (XLA)" if choice.jit_compile else "tf.function without XLA"
    return f"{kind}, fixed input signature, output converted to numpy in the timed call"


def timing_record(t: InferenceTiming) -> dict:
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
            record["ratios"]["gru_over_lstm"]["train_seconds_per_epoch"] = verdicts.times(g[False], l[False])
            record["ratios"]["gru_over_lstm"]["train_seconds_per_epoch_xla"] = verdicts.times(g[True], l[True])
    return record


def bench_table(b: Bench) -> str:
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
        train_ratio = verdicts.times(s["gru"][False], s["lstm"][False])
        train_ratio_xla = verdicts.times(s["gru"][True], s["lstm"][True])
        lines += [
            f"| training, s per epoch ({b.training.rows:,} windows, batch {b.training.batch_size}) "
            f"| {s['gru'][False]:.3f} | {s['lstm'][False]:.3f} | {train_ratio:.2f} |",
            f"| training with XLA (jit_compile=True), s per epoch | {s['gru'][True]:.3f} | {s['lstm'][True]:.3f} "
            f"| {train_ratio_xla:.2f} |",
        ]
    lines += ["", *speed_notes(g, l, train_ratio, train_ratio_xla)]
    if b.training is not None:
        s = b.training.seconds_per_epoch
        gain = {cell: verdicts.times(v[False], v[True]) for cell, v in s.items()}
        lines.append("XLA makes a training epoch " + ", ".join(
            f"{_label(c)} {x:.2f}x {'faster' if verdicts.speeds_up(x) else 'slower'}" for c, x in gain.items())
            + " here.")
    return "\n".join(lines)


# --- compare ---------------------------------------------------------------------------------

METRIC_ROWS = (("MAE (USD)", "mae", 2, 1), ("RMSE (USD)", "rmse", 2, 1), ("MAPE (%)", "mape", 3, 1),
               ("direction right (%)", "directional_accuracy", 1, 100), ("MAE / naive", "mae_ratio_vs_naive", 4, 1))

# The sections of comparison_markdown, in the order it writes them.
COMPARISON_SECTIONS = ("about", "errors", "seeds", "intervals", "dm", "speed", "verdict")


def seeds_note(seeds: int) -> str:
    """How to read the verdict against the seeds: the seeds table exists only with several seeds."""
    if verdicts.seeds_measured(seeds):
        return ("Read these with the seeds table: a difference between the cells smaller than the spread "
                "between seeds of one cell is not a difference between cells.")
    return ("With one seed per cell, how much these numbers move with the seed is not measured: a small "
            "difference between the cells may be seed noise (more seeds measure it).")


def comparison_verdict(c: Comparison) -> list[str]:
    return verdict({cell: r.mean("mae_ratio_vs_naive") for cell, r in c.cells.items()},
                   {cell: c.dm[f"{cell}_vs_naive"] for cell in c.cells}, c.dm["gru_vs_lstm"])


def _mean_metrics(c: Comparison, cell: str) -> dict[str, float]:
    return {m: c.cells[cell].mean(m) for m in SCALAR_METRICS}


def _mean_row(c: Comparison, cell: str) -> ForecastMetrics:
    """A metrics row of seed means, for the table."""
    return dataclasses.replace(c.cells[cell].runs[0].test.metrics, **_mean_metrics(c, cell))


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
    timing = None if c.timing is None else timing_record(c.timing)
    for cell, result in c.cells.items():
        t = None if c.timing is None else c.timing.models[cell]
        record[cell] = {
            **_mean_metrics(c, cell),
            "params": result.runs[0].trained.info.params,
            # null where inference was not timed (--calls 0)
            "latency_ms": t and jsonable(t.latency_ms), "predict_latency_ms": t and jsonable(t.predict_latency_ms),
            "throughput_windows_per_s": t and t.throughput_windows_per_s,
            "us_per_window_full_batch": t and t.us_per_window_full_batch,
            "train_seconds_per_epoch": float(c.cells[cell].seconds_per_epoch),
            "epochs_run": [r.trained.info.epochs_run for r in result.runs],
            "reused_saved_model": [r.reused for r in result.runs],
            "seeds": metric_spreads(result),
            "intervals": interval_spreads(result),
            "interval_methods_first_seed": methods_record(result.runs[0].methods or {}),
        }
    record["paired_difference_gru_minus_lstm"] = {m: spread_record(c.paired(m)) for m in SCALAR_METRICS}
    record["dm_test"] = {
        "loss": "squared error; negative statistic: the first forecast is more accurate",
        **{pair: dm_record(t) for pair, t in c.dm.items()}, "seed": c.seeds[0],
    }
    if verdicts.seeds_measured(len(c.seeds)):
        record["dm_test_gru_vs_lstm_by_seed"] = [{"seed": s, **dm_record(t["gru_vs_lstm"])} for s, t in c.dm_by_seed.items()]
        record["dm_test_by_seed"] = [{"seed": s, **{pair: dm_record(x) for pair, x in t.items()}}
                                     for s, t in c.dm_by_seed.items()]
    record["timing"] = timing and {k: v for k, v in timing.items() if k not in c.cells}
    return record


def _method_rows(c: Comparison, method: str, level: float) -> list[tuple[str, MethodMetrics]]:
    """The first seed's GRU and LSTM, then naive's, for one method and level."""
    runs = {cell: r.runs[0].methods for cell, r in c.cells.items()}
    return [*((_label(cell), m[method, "model", level]) for cell, m in runs.items()),
            ("naive", runs["gru"][method, "naive", level])]


def comparison_markdown(c: Comparison, *, heading_level: int | None = 1,
                        sections: tuple[str, ...] | None = None, title: str = "GRU vs LSTM: next-day BTC close") -> str:
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
    intervals = {"GRU": first["gru"].intervals, "LSTM": first["lstm"].intervals, "naive": first["gru"].naive_intervals}
    many = verdicts.seeds_measured(len(seeds))
    parts: dict[str, list[str]] = {}
    parts["about"] = [
        *([heading(title, 0), ""] if heading_level is not None else []),
        f"Made by `{c.command}`.",
        "",
        f"Data: {c.data.source}, {c.data.first_date}..{c.data.last_date} ({c.data.rows} days). "
        f"Test period {split['test'].first}..{split['test'].last} ({split['test'].days} days); "
        f"training {split['train'].first}..{split['train'].last}, "
        f"validation (early stopping, interval calibration) {split['val'].first}..{split['val'].last}.",
        f"Settings: window {s['window']}, {s['scaling']} scaling, inputs {inputs_of(s)}, {s['units']} units, loss {s['loss']}, "
        f"seeds {', '.join(map(str, seeds))}.",
        "",
    ]
    parts["errors"] = [
        heading("Next-day error on the test period (USD)" + (" — mean over seeds" if many else ""), 1),
        "",
        metrics_table(mean_rows, c.naive),
        "",
    ]
    parts["seeds"] = [] if not many else [
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
        interval_table(intervals),
        "",
        *(f"- {n}" for n in interval_notes(intervals)),
        "",
    ] + ([] if g.runs[0].methods is None else [
        f"Every interval method (issue 20), calibrated on the same validation days; width and scores in % of "
        f"the forecast; the default, {Config().interval_method}, was chosen on the 2018-2025 backtest and on models "
        "used years after their calibration, not here:",
        "",
        methods_table([(f"{method} {_level(lv)}", name, m) for lv in first['gru'].intervals for method in METHODS
                       for name, m in _method_rows(c, method, lv)]),
        "",
    ])
    parts["dm"] = [
        heading(f"Is the difference real? Diebold-Mariano (squared error, HLN small-sample correction, "
                f"seed {seeds[0]})", 1),
        "",
        "| pair | statistic | p-value |",
        "|---|---:|---:|",
        *(f"| {_pair_name(pair)} | {t.statistic:.3f} | {_p(t)} |" for pair, t in c.dm.items()),
        "",
        "A negative statistic means the first forecast has the smaller loss.",
        "",
    ]
    gru_s, lstm_s = c.cells["gru"].seconds_per_epoch, c.cells["lstm"].seconds_per_epoch
    training = _row("training (s per epoch, with validation)", gru_s, lstm_s, "{:.2f}")
    train_ratio = verdicts.times(gru_s, lstm_s)
    if c.timing is None:
        params = [r.runs[0].trained.info.params for r in (g, l)]
        speed = [_row("parameters", *params, "{:,}"), training,
                 "", "Inference was not timed (`--calls 0`).", *training_note(train_ratio)]
    else:
        tg, tl = c.timing.models["gru"], c.timing.models["lstm"]
        speed = [*(_row(*r) for r in _speed_rows(tg, tl, c.timing.batch)), training,
                 "", *speed_notes(tg, tl, train_ratio)]
    parts["speed"] = [heading("Speed (this machine)", 1), "", "| | GRU | LSTM | GRU / LSTM |", "|---|---:|---:|---:|",
                      *speed, ""]
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


def comparison_text(c: Comparison, out) -> str:
    if c.timing is None:
        latency = "latency: not timed (--calls 0)"
    else:
        g, l = (c.timing.models[cell] for cell in ("gru", "lstm"))
        latency = f"latency p50 (fast path): GRU {g.latency_ms.p50:.3f} ms, LSTM {l.latency_ms.p50:.3f} ms"
    return "\n".join([
        metrics_table({_label(cell): _mean_row(c, cell) for cell in c.cells}, c.naive),
        "",
        *comparison_verdict(c),
        "",
        latency,
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
        us_per_window=None if c.timing is None else {
            _label(cell): c.timing.models[cell].us_per_window_full_batch for cell in c.cells},
        train_s_per_epoch={_label(cell): c.cells[cell].seconds_per_epoch for cell in c.cells},
        bands=bands,
    )
