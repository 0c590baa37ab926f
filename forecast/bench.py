"""Inference time of GRU and LSTM models, measured so that the comparison is fair.

`run_bench` times FRESH models on made-up inputs: what the cells cost, not what they learnt.
`time_models` holds the inference loops and takes any models, so `compare` times TRAINED ones with it.

How the numbers are made honest:
- both models are timed INTERLEAVED call by call, and which one goes first alternates each round,
  so machine drift (other jobs, CPU clocks) hits both equally;
- every path is warmed up (tracing, XLA compilation, caches) with untimed calls first;
- a timed call includes what a user pays to get a number: numpy in, numpy out;
- medians and 95th percentiles, never means: a few slow calls from a shared machine skew a mean;
- the "fast path" (a tf.function with a fixed input signature, with or without XLA) is chosen per
  input shape by a short untimed trial on this machine, and the choice is reported;
- training is timed the same way: one epoch of each model in turn, the first (tracing, XLA
  compilation) untimed, with and without XLA.
"""

from __future__ import annotations

from . import runtime  # noqa: F401, I001  (before TensorFlow: see runtime.py)

import functools
import gc
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from .models import CELLS, build_model

log = logging.getLogger("forecast.bench")

WARMUP = 10          # untimed calls per path and model before a batch-1 timing
WARMUP_BATCH = 3     # untimed calls per path and model before a full-batch timing (each is slower)
TRIAL_CALLS = 20     # untimed interleaved calls per candidate when choosing XLA or not, batch 1
TRIAL_BATCH = 5      # the same at full batch

Fn = Callable[[np.ndarray], np.ndarray]


# --- callables that are timed ---------------------------------------------------------

def fast_path(model, window: int, batch: int, jit: bool, features: int = 1) -> Fn:
    """The model inside a tf.function traced once for a fixed shape, so no call re-traces or
    goes through Keras' predict machinery (data adapters, callbacks, a new iterator per call).
    The result is converted to numpy inside the call: a user needs the number, not a tensor."""
    spec = tf.TensorSpec((batch, window, features), tf.float32)  # (batch, window, features)
    # A partial, not a lambda: TensorFlow counts traces per code object and would warn about
    # "retracing" when several models are traced on purpose, each exactly once.
    graph = tf.function(functools.partial(_infer, model), input_signature=[spec], jit_compile=jit)
    return lambda x: graph(x).numpy()  # (batch, 1)


def _infer(model, x):
    return model(x, training=False)  # (batch, window, features) -> (batch, 1)


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


@dataclass(frozen=True)
class Percentiles:
    p50: float  # ms: the typical call
    p95: float  # ms: the slow tail


def percentiles_ms(ns: np.ndarray) -> Percentiles:
    """Median and 95th percentile in milliseconds: the typical call and the slow tail."""
    p50, p95 = np.percentile(ns, [50, 95]) / 1e6
    return Percentiles(float(p50), float(p95))


@dataclass(frozen=True)
class FastPathChoice:
    jit_compile: bool      # XLA or a plain tf.function
    trial_xla_ms: float    # trial p50 summed over the models
    trial_plain_ms: float


def choose_fast_paths(models: dict, window: int, batch: int, calls: int, warmup: int,
                      features: int = 1) -> tuple[dict[str, Fn], FastPathChoice]:
    """Traces each model with XLA (jit_compile=True) and without, times both for a few untimed
    trial calls, and keeps the faster for all models (one choice, so the comparison between models
    stays like for like). Which is faster depends on the shape: XLA removes per-op dispatch, which
    dominates one window, but its recurrent loop can be slower than TensorFlow's kernels on a batch."""
    x = _inputs(batch, window, seed=0, features=features)  # (batch, window, features)
    candidates = {(name, jit): fast_path(m, window, batch, jit, features) for name, m in models.items()
                  for jit in (True, False)}
    times = time_interleaved({f"{n}|{j}": f for (n, j), f in candidates.items()}, x, calls, warmup)
    trial = {jit: float(sum(np.median(times[f"{n}|{jit}"]) for n in models)) / 1e6 for jit in (True, False)}
    jit = trial[True] <= trial[False]
    log.info("batch %d: %s is faster here (trial p50 summed: XLA %.3f ms, plain %.3f ms)",
             batch, "XLA" if jit else "plain tf.function", trial[True], trial[False])
    return {name: candidates[(name, jit)] for name in models}, FastPathChoice(jit, trial[True], trial[False])


def _inputs(batch: int, window: int, seed: int, features: int = 1) -> np.ndarray:
    """Random windows on the scale of the model inputs (daily log ratios, a few percent)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.03, size=(batch, window, features)).astype(np.float32)  # (batch, window, features)


@dataclass(frozen=True)
class ModelTiming:
    params: int
    latency_ms: Percentiles               # one window, fast path
    predict_latency_ms: Percentiles       # one window, model.predict
    full_batch_ms: Percentiles            # `batch` windows in one fast-path call
    throughput_windows_per_s: float
    us_per_window_full_batch: float
    fast_vs_predict_max_abs_diff: float   # the fast path computes what predict computes


@dataclass(frozen=True)
class InferenceTiming:
    models: dict[str, ModelTiming]
    window: int
    calls: int                # timed calls per path and model at batch 1
    batch: int                # windows per full-batch call
    warmup: int
    full_batch_rounds: int
    fast_path_batch_1: FastPathChoice
    fast_path_full_batch: FastPathChoice
    tensorflow: str
    cpu_count: int


def time_models(models: dict, window: int, calls: int, batch: int, warmup: int = WARMUP,
                features: int = 1) -> InferenceTiming:
    """Latency at batch 1 (fast path and predict) and throughput at `batch` windows per call, for
    any models taking (batch, window, features) float32: fresh ones from `run_bench`, trained ones
    from `compare`."""
    rounds = max(10, calls // 10)
    one = _inputs(1, window, seed=1, features=features)       # (1, window, features)
    full = _inputs(batch, window, seed=2, features=features)  # (batch, window, features)

    log.info("choosing the fast path for batch 1 and batch %d (XLA or not, short trial)...", batch)
    fast_1, choice_1 = choose_fast_paths(models, window, 1, TRIAL_CALLS, warmup, features)
    fast_b, choice_b = choose_fast_paths(models, window, batch, TRIAL_BATCH, WARMUP_BATCH, features)
    diffs = {n: _max_abs_diff(fast_1[n], m, one) for n, m in models.items()}

    log.info("timing %d calls per path and model at batch 1: fast path...", calls)
    fast_ns = time_interleaved(fast_1, one, calls, warmup)
    log.info("timing %d calls per model at batch 1: model.predict (slow, ~0.1 s a call)...", calls)
    predict_ns = time_interleaved({n: predict_path(m) for n, m in models.items()}, one, calls, warmup)
    log.info("timing %d rounds at batch %d: fast path...", rounds, batch)
    batch_ns = time_interleaved(fast_b, full, rounds, WARMUP_BATCH)

    return InferenceTiming(
        models={name: _model_stats(models[name], fast_ns[name], predict_ns[name], batch_ns[name], batch, diffs[name])
                for name in models},
        window=window, calls=calls, batch=batch, warmup=warmup, full_batch_rounds=rounds,
        fast_path_batch_1=choice_1, fast_path_full_batch=choice_b,
        tensorflow=tf.__version__, cpu_count=os.cpu_count() or 1,
    )


def _max_abs_diff(fast: Fn, model, x: np.ndarray) -> float:
    """The fast path must compute what predict computes, or its speed means nothing."""
    return float(np.max(np.abs(fast(x) - model.predict(x, verbose=0))))


def _model_stats(model, fast_ns, predict_ns, batch_ns, batch: int, diff: float) -> ModelTiming:
    median_s = float(np.median(batch_ns)) / 1e9
    return ModelTiming(
        params=int(model.count_params()),
        latency_ms=percentiles_ms(fast_ns),
        predict_latency_ms=percentiles_ms(predict_ns),
        full_batch_ms=percentiles_ms(batch_ns),
        throughput_windows_per_s=batch / median_s,
        us_per_window_full_batch=median_s / batch * 1e6,
        fast_vs_predict_max_abs_diff=diff,
    )


# --- training ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingTiming:
    seconds_per_epoch: dict[str, dict[bool, float]]  # cell -> {jit_compile: median s per epoch}
    rows: int                                        # training windows per epoch
    batch_size: int
    epochs: int                                      # timed epochs per model, after one untimed


def time_training(cells: tuple[str, ...], window: int, units: int, rows: int, batch_size: int,
                  epochs: int, seed: int) -> TrainingTiming:
    """Seconds per epoch of Keras' fit for each cell, with and without XLA, on made-up windows:
    one epoch of each model in turn (the order rotating), the first untimed (tracing, compiling)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(rows, window, 1)).astype(np.float32)  # (rows, window, 1), unit scale
    y = rng.normal(0.0, 1.0, size=rows).astype(np.float32)              # (rows,)
    models = {}
    for cell in cells:
        for jit in (False, True):
            keras.utils.set_random_seed(seed)
            models[(cell, jit)] = build_model(cell, window, 1, units, jit_compile=jit)
    log.info("timing training: %d epochs of %d windows per cell, with and without XLA...", epochs, rows)
    fns = {key: functools.partial(_one_epoch, m, y=y, batch_size=batch_size) for key, m in models.items()}
    ns = time_interleaved(fns, x, epochs, warmup=1)
    return TrainingTiming(
        seconds_per_epoch={cell: {jit: float(np.median(ns[(cell, jit)])) / 1e9 for jit in (False, True)}
                           for cell in cells},
        rows=rows, batch_size=batch_size, epochs=epochs,
    )


def _one_epoch(model, x, y, batch_size):
    model.fit(x, y, epochs=1, batch_size=batch_size, shuffle=True, verbose=0)


# --- ratios ---------------------------------------------------------------------------

def gru_over_lstm(gru: ModelTiming, lstm: ModelTiming) -> dict[str, float]:
    """GRU's cost as a multiple of LSTM's, from one run's numbers, so both saw the same machine state."""
    return {
        "latency_p50": gru.latency_ms.p50 / lstm.latency_ms.p50,
        "predict_p50": gru.predict_latency_ms.p50 / lstm.predict_latency_ms.p50,
        "us_per_window_full_batch": gru.us_per_window_full_batch / lstm.us_per_window_full_batch,
    }


def predict_over_fast(t: ModelTiming) -> float:
    return t.predict_latency_ms.p50 / t.latency_ms.p50


# --- the bench command ----------------------------------------------------------------

@dataclass(frozen=True)
class Bench:
    inference: InferenceTiming
    training: TrainingTiming | None
    units: int
    seed: int


def run_bench(window: int = 60, units: int = 16, calls: int = 200, batch: int = 610, seed: int = 42,
              train_epochs: int = 7, train_rows: int = 2900, batch_size: int = 64) -> Bench:
    """Builds a fresh GRU and LSTM model (same seed, same shapes) and times inference, then training."""
    keras.utils.set_random_seed(seed)
    log.info("building fresh models: window %d, %d units (TensorFlow %s, %s CPUs)",
             window, units, tf.__version__, os.cpu_count())
    models = {cell: build_model(cell, window, 1, units) for cell in CELLS}
    inference = time_models(models, window, calls, batch)
    training = None if train_epochs == 0 else time_training(
        tuple(CELLS), window, units, train_rows, batch_size, train_epochs, seed)
    return Bench(inference=inference, training=training, units=units, seed=seed)
