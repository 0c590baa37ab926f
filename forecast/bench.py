"""Inference time of GRU and LSTM models, measured so that the comparison is fair.

`run_bench` times FRESH models (no data, no training): what the cells cost, not what they learnt.
`time_models` holds the timing loops and takes any models, so `compare` times TRAINED ones with it.

How the numbers are made honest:
- both models are timed INTERLEAVED call by call, and which one goes first alternates each round,
  so machine drift (other jobs, CPU clocks) hits both equally;
- every path is warmed up (tracing, XLA compilation, caches) with untimed calls first;
- a timed call includes what a user pays to get a number: numpy in, numpy out;
- medians and 95th percentiles, never means: a few slow calls from a shared machine skew a mean;
- the "fast path" (a tf.function with a fixed input signature, with or without XLA) is chosen per
  input shape by a short untimed trial on this machine, and the choice is reported.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from typing import Callable

import numpy as np

log = logging.getLogger("forecast.bench")

WARMUP = 10          # untimed calls per path and model before a batch-1 timing
WARMUP_BATCH = 3     # untimed calls per path and model before a full-batch timing (each is slower)
TRIAL_CALLS = 20     # untimed interleaved calls per candidate when choosing XLA or not, batch 1
TRIAL_BATCH = 5      # the same at full batch
GRU_OVER_LSTM_THEORY = 0.75  # 3 gate blocks against 4: the arithmetic per step
RESERVED = ("settings", "ratios", "targets")  # keys of time_models' result that are not models

Fn = Callable[[np.ndarray], np.ndarray]


# --- callables that are timed ---------------------------------------------------------

def fast_path(model, window: int, batch: int, jit: bool) -> Fn:
    """The model inside a tf.function traced once for a fixed shape, so no call re-traces or
    goes through Keras' predict machinery (data adapters, callbacks, a new iterator per call).
    The result is converted to numpy inside the call: a user needs the number, not a tensor."""
    import tensorflow as tf

    spec = tf.TensorSpec((batch, window, 1), tf.float32)  # (batch, window, features=1)
    # A partial, not a lambda: TensorFlow counts traces per code object and would warn about
    # "retracing" when several models are traced on purpose, each exactly once.
    graph = tf.function(functools.partial(_infer, model), input_signature=[spec], jit_compile=jit)
    return lambda x: graph(x).numpy()  # (batch, 1)


def _infer(model, x):
    return model(x, training=False)  # (batch, window, 1) -> (batch, 1)


def predict_path(model) -> Fn:
    """What most code does: Keras' predict, the baseline the fast path has to beat."""
    return lambda x: model.predict(x, verbose=0)  # (batch, 1)


# --- timing loops ---------------------------------------------------------------------

def time_interleaved(fns: dict[str, Fn], x: np.ndarray, calls: int, warmup: int) -> dict[str, np.ndarray]:
    """Nanoseconds of `calls` calls of each function on the same input, interleaved call by call.
    The order rotates every round (with two functions: alternates which goes first), so neither
    always runs on a cache the other just warmed or right after a garbage collection."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name](x)
    gc.collect()  # collect the warm-up's garbage now, not during the timed calls
    times = {name: np.empty(calls, dtype=np.int64) for name in names}
    for i in range(calls):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter_ns()
            fns[name](x)
            times[name][i] = time.perf_counter_ns() - start
    return times


def percentiles_ms(ns: np.ndarray) -> dict[str, float]:
    """Median and 95th percentile in milliseconds: the typical call and the slow tail."""
    p50, p95 = np.percentile(ns, [50, 95]) / 1e6
    return {"p50": float(p50), "p95": float(p95)}


def choose_fast_paths(models: dict, window: int, batch: int, calls: int, warmup: int) -> tuple[dict[str, Fn], dict]:
    """Traces each model with XLA (jit_compile=True) and without, times both for a few untimed
    trial calls, and keeps the faster for all models (one choice, so the comparison between models
    stays like for like). Which is faster depends on the shape: XLA removes per-op dispatch, which
    dominates one window, but its recurrent loop can be slower than TensorFlow's kernels on a batch."""
    x = _inputs(batch, window, seed=0)  # (batch, window, 1)
    candidates = {(name, jit): fast_path(m, window, batch, jit) for name, m in models.items() for jit in (True, False)}
    times = time_interleaved({f"{n}|{j}": f for (n, j), f in candidates.items()}, x, calls, warmup)
    trial = {jit: float(sum(np.median(times[f"{n}|{jit}"]) for n in models)) / 1e6 for jit in (True, False)}
    jit = trial[True] <= trial[False]
    choice = {
        "jit_compile": jit,
        "trial_p50_ms_summed_over_models": {"xla": trial[True], "plain": trial[False]},
    }
    log.info("batch %d: %s is faster here (trial p50 summed: XLA %.3f ms, plain %.3f ms)",
             batch, "XLA" if jit else "plain tf.function", trial[True], trial[False])
    return {name: candidates[(name, jit)] for name in models}, choice


def _inputs(batch: int, window: int, seed: int) -> np.ndarray:
    """Random windows on the scale of the model inputs (daily log ratios, a few percent)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.03, size=(batch, window, 1)).astype(np.float32)  # (batch, window, 1)


def time_models(models: dict, window: int, calls: int, batch: int, warmup: int = WARMUP) -> dict:
    """Latency at batch 1 (fast path and predict) and throughput at `batch` windows per call, for
    any models taking (batch, window, 1) float32: fresh ones from `run_bench`, trained ones from
    `compare`. Returns one dict per model name, plus "settings", and "ratios" and "targets" when
    the models are named "gru" and "lstm"."""
    if clash := [n for n in models if n in RESERVED]:
        raise ValueError(f"model names {clash} clash with the result keys {RESERVED}")
    rounds = max(10, calls // 10)
    one, full = _inputs(1, window, seed=1), _inputs(batch, window, seed=2)  # (1, window, 1), (batch, window, 1)

    log.info("choosing the fast path for batch 1 and batch %d (XLA or not, short trial)...", batch)
    fast_1, choice_1 = choose_fast_paths(models, window, 1, TRIAL_CALLS, warmup)
    fast_b, choice_b = choose_fast_paths(models, window, batch, TRIAL_BATCH, WARMUP_BATCH)
    diffs = {n: _max_abs_diff(fast_1[n], m, one) for n, m in models.items()}

    log.info("timing %d calls per path and model at batch 1: fast path...", calls)
    fast_ns = time_interleaved(fast_1, one, calls, warmup)
    log.info("timing %d calls per model at batch 1: model.predict (slow, ~0.1 s a call)...", calls)
    predict_ns = time_interleaved({n: predict_path(m) for n, m in models.items()}, one, calls, warmup)
    log.info("timing %d rounds at batch %d: fast path...", rounds, batch)
    batch_ns = time_interleaved(fast_b, full, rounds, WARMUP_BATCH)

    result = {
        name: _model_stats(models[name], fast_ns[name], predict_ns[name], batch_ns[name], batch, diffs[name])
        for name in models
    }
    result["settings"] = _timing_settings(window, calls, batch, warmup, rounds, choice_1, choice_b)
    if {"gru", "lstm"} <= set(models):
        result["ratios"] = ratios(result["gru"], result["lstm"])
        result["targets"] = targets(result["ratios"])
    return result


def _max_abs_diff(fast: Fn, model, x: np.ndarray) -> float:
    """The fast path must compute what predict computes, or its speed means nothing."""
    return float(np.max(np.abs(fast(x) - model.predict(x, verbose=0))))


def _model_stats(model, fast_ns, predict_ns, batch_ns, batch: int, diff: float) -> dict:
    """One model's numbers, JSON-ready: plain floats and ints."""
    median_s = float(np.median(batch_ns)) / 1e9
    return {
        "params": int(model.count_params()),
        "latency_ms": percentiles_ms(fast_ns),
        "predict_latency_ms": percentiles_ms(predict_ns),
        "full_batch_ms": percentiles_ms(batch_ns),
        "throughput_windows_per_s": batch / median_s,
        "us_per_window_full_batch": median_s / batch * 1e6,
        "fast_vs_predict_max_abs_diff": diff,
    }


def _describe(choice: dict) -> str:
    kind = "tf.function with jit_compile=True (XLA)" if choice["jit_compile"] else "tf.function without XLA"
    return f"{kind}, fixed input signature, output converted to numpy in the timed call"


def _timing_settings(window, calls, batch, warmup, rounds, choice_1, choice_b) -> dict:
    import tensorflow as tf

    return {
        "window": window,
        "calls": calls,
        "batch": batch,
        "warmup": warmup,
        "warmup_full_batch": WARMUP_BATCH,
        "full_batch_rounds": rounds,
        "fast_path": {
            "batch_1": _describe(choice_1),
            "full_batch": _describe(choice_b),
            "chosen_by": "the faster of XLA and plain tf.function in a short untimed trial on this machine",
            "trial_batch_1": choice_1,
            "trial_full_batch": choice_b,
        },
        "interleaved": "call by call, alternating which model goes first each round",
        "tensorflow": tf.__version__,
        "cpu_count": os.cpu_count(),
    }


# --- ratios and targets ---------------------------------------------------------------

def ratios(gru: dict, lstm: dict) -> dict:
    """Ratios from one run's numbers, so both sides saw the same machine state."""
    return {
        "gru_over_lstm": {
            "latency_p50": gru["latency_ms"]["p50"] / lstm["latency_ms"]["p50"],
            "predict_p50": gru["predict_latency_ms"]["p50"] / lstm["predict_latency_ms"]["p50"],
            "us_per_window_full_batch": gru["us_per_window_full_batch"] / lstm["us_per_window_full_batch"],
        },
        "predict_over_fast": {
            "gru": gru["predict_latency_ms"]["p50"] / gru["latency_ms"]["p50"],
            "lstm": lstm["predict_latency_ms"]["p50"] / lstm["latency_ms"]["p50"],
        },
    }


def targets(r: dict) -> dict:
    """The issue's goals, checked on this run: reported, never assumed."""
    return {
        "fast_vs_predict_at_least_50x": bool(min(r["predict_over_fast"].values()) >= 50),
        "gru_faster_per_window_full_batch": bool(r["gru_over_lstm"]["us_per_window_full_batch"] < 1),
    }


# --- the bench command ----------------------------------------------------------------

def run_bench(window: int = 60, units: int = 16, calls: int = 200, batch: int = 610, seed: int = 42) -> dict:
    """Builds a fresh GRU and LSTM model (same seed, same shapes) and times both."""
    import keras
    import tensorflow as tf

    from .models import CELLS, build_model

    keras.utils.set_random_seed(seed)
    log.info("building fresh models: window %d, %d units (TensorFlow %s, %s CPUs)",
             window, units, tf.__version__, os.cpu_count())
    models = {cell: build_model(cell, window, 1, units) for cell in CELLS}
    result = time_models(models, window, calls, batch)
    result["settings"] = {"units": units, "seed": seed, **result["settings"]}
    return result


NOTE_BATCH_1 = (
    "note: at batch 1 per-call overhead (Python, dispatching the graph, copying the result back) "
    "dominates, so GRU and LSTM cost about the same per call; GRU's smaller arithmetic (3 gate "
    "blocks against 4, about 3/4) can only show at large batches."
)


def bench_table(result: dict) -> str:
    """The result as a markdown table a person reads, then the targets and the batch-1 note."""
    g, l, s = result["gru"], result["lstm"], result["settings"]
    r = result["ratios"]
    b = s["batch"]
    rows = [
        ("parameters", g["params"], l["params"], "{:,}"),
        ("latency p50, fast path (ms)", g["latency_ms"]["p50"], l["latency_ms"]["p50"], "{:.3f}"),
        ("latency p95, fast path (ms)", g["latency_ms"]["p95"], l["latency_ms"]["p95"], "{:.3f}"),
        ("model.predict p50 (ms)", g["predict_latency_ms"]["p50"], l["predict_latency_ms"]["p50"], "{:.2f}"),
        ("model.predict p95 (ms)", g["predict_latency_ms"]["p95"], l["predict_latency_ms"]["p95"], "{:.2f}"),
        ("predict / fast path, p50", r["predict_over_fast"]["gru"], r["predict_over_fast"]["lstm"], "{:.0f}x", False),
        (f"throughput, batch {b} (windows/s)", g["throughput_windows_per_s"], l["throughput_windows_per_s"], "{:,.0f}"),
        (f"µs per window, batch {b}", g["us_per_window_full_batch"], l["us_per_window_full_batch"], "{:.2f}"),
    ]
    lines = [
        f"Inference of fresh models: window {s['window']}, {s['units']} units, TensorFlow {s['tensorflow']}, "
        f"{s['cpu_count']} CPUs; {s['calls']} timed calls per path at batch 1, {s['full_batch_rounds']} at batch {b}, "
        f"after {s['warmup']} untimed warm-up calls; GRU and LSTM interleaved call by call.",
        f"fast path, batch 1: {s['fast_path']['batch_1']}",
        f"fast path, batch {b}: {s['fast_path']['full_batch']}",
        "",
        "| | GRU | LSTM | GRU/LSTM |",
        "|---|---:|---:|---:|",
    ]
    for label, gv, lv, fmt, *ratio in rows:
        gl = f"{gv / lv:.2f}" if ratio != [False] else "–"  # a ratio of speed-ups says nothing
        lines.append(f"| {label} | {fmt.format(gv)} | {fmt.format(lv)} | {gl} |")
    lines += ["", *target_lines(result), "", NOTE_BATCH_1]
    return "\n".join(lines)


def target_lines(result: dict) -> list[str]:
    """One line per target with the measured number and whether this run met it."""
    r, t, b = result["ratios"], result["targets"], result["settings"]["batch"]
    met = {True: "met", False: "NOT met"}
    per_window = r["gru_over_lstm"]["us_per_window_full_batch"]
    return [
        f"fast path vs predict at batch 1: GRU {r['predict_over_fast']['gru']:.0f}x, "
        f"LSTM {r['predict_over_fast']['lstm']:.0f}x faster (target >= 50x for both): "
        f"{met[t['fast_vs_predict_at_least_50x']]}",
        f"GRU time per window at batch {b}: {per_window:.2f}x LSTM's "
        f"(target < 1, theory {GRU_OVER_LSTM_THEORY}): {met[t['gru_faster_per_window_full_batch']]}",
    ]
