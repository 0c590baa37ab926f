"""Where one backtest task's time goes: training epochs against everything around them.

Runs the production task, backtest_task.run_task, on a few folds of the default backtest (the last
--folds folds of the 30-day step, one seed, both cells) with every function it calls wrapped in a
timer (unittest.mock, only for this run): keras clear_session, windows.windowed,
backtest_plan.fold_dataset, the scaled model arrays, train.fit split into seed + build + compile, fit
setup, the first epoch (tracing and XLA compilation of the training and validation steps) and the
other epochs (an EarlyStopping subclass that also notes the time at each epoch's end), the
calibration predictions (validation days) and intervals, the evaluation (test days: its prediction
and its scoring) and the task record. Nothing in a task's numbers changes: at the end the last task
is run again with nothing wrapped, and its record must equal the timed one but for train_seconds.

Then what a task pays outside run_task, each measured here in the same run:
(a) a fresh Python process importing forecast.backtest_task with TensorFlow and Keras (what every
    new or replaced Ray worker pays; Ray replaces a worker after engines.MAX_CALLS trainings),
    beside a bare Python start and a bare `import ray`;
(b) a local Ray's start and shutdown (engines.start_ray with 2 workers, engines.shutdown), the first
    call on its fresh workers, warm calls, and the first call on the workers Ray starts when the
    first ones have made MAX_CALLS calls (engines.run_ray of a trivial package function,
    backtest_task.task_cfg, so that a worker imports what a task imports);
(c) writing a finished task's file and reading it back with its checks (write_finished,
    read_finished), and the planning a resumed run does per task (make_task, fold_days).
Printed: per phase the mean seconds per task and its share of the task's wall time, and an estimate
of the non-training overhead per task on Ray. Shares and ratios, never absolute speeds: they are
measured side by side in one run.

Measured on a BUSY 2-core machine (a long backtest, other agents' tests and Ray clusters beside it,
load average 11 to 22; absolute seconds are slow and noisy, the shares are what to read), defaults,
data/snapshot/btc-usd.csv, 4 tasks of 11-55 epochs: training epochs 91% of run_task's wall time, of
which epoch 1 took 16.6x a later epoch: tracing + XLA compilation is ~36% of a task. Predict's XLA
compilation (once per input shape: validation days, then test days) ~6%; clear_session 1%; windows,
fold datasets, records, task files and hashes below 0.1% each. On Ray, per task: a replaced worker's
imports (forecast + TensorFlow + Keras, and ray; every engines.MAX_CALLS = 8 tasks) ~4.6%, Ray's start
(20-31 s here), first calls and shutdown over the default 72 tasks ~3%. A first non-XLA predict (a plain
tf.function) was 4-17x faster than the compiling one but not bit-identical (up to 1.6e-7 in
the model's output), so it would change task files; TensorFlow's persistent XLA cache
(TF_XLA_FLAGS=--tf_xla_persistent_cache_directory) never hit across tasks (a new key per model).

Run from the project root:  python benchmarks/backtest_time.py [--csv PATH] [--folds 2] [--repeats 2] [--no-ray]
(PYTHONPATH=$PWD first where the installed forecast package is another checkout's.)
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from forecast.runtime import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from forecast import backtest_task, engines, inference, intervals, train, windows  # noqa: E402
from forecast.backtest_plan import BacktestSettings, make_folds  # noqa: E402
from forecast.config import Config  # noqa: E402
from forecast.errors import BacktestError  # noqa: E402
from forecast.sources import load_prices  # noqa: E402
from forecast.train import data_info  # noqa: E402
from forecast.windows import rows_needed, target_days  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """Start and end of the last call, and the seconds of all calls, per wrapped function."""

    def __init__(self):
        self.spent: dict[str, float] = defaultdict(float)
        self.last: dict[str, tuple[float, float]] = {}
        self.epoch_ends: list[float] = []
        self.train_begin = 0.0
        self.model = None   # the task's model and (scaling, X) of its calibration predict
        self.val = self.test = None

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                self.spent[name] += ended - started
                self.last[name] = (started, ended)
        return timed


CLOCK = Clock()  # the task being timed; TimedStopping writes into it


class TimedStopping(keras.callbacks.EarlyStopping):
    """train.fit's EarlyStopping, unchanged, that also notes when training begins and each epoch ends."""

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        CLOCK.train_begin = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        CLOCK.epoch_ends.append(time.perf_counter())


def timed_task(cfg, close, data, task) -> tuple[dict, dict[str, float], int]:
    """run_task with its callees timed: (its record, seconds per phase, epochs run)."""
    global CLOCK
    CLOCK = c = Clock()

    def keep_model(model, scaling, X):  # the calibration predict, kept to time a warm call afterwards
        c.model, c.val = model, (scaling, X)
        return train_predict(model, scaling, X)

    def keep_test(model, scaling, X):  # the evaluation's predict, kept likewise
        c.test = (scaling, X)
        return test_predict(model, scaling, X)

    train_predict = c.wrap("calibration predict", train.predict_usd)
    test_predict = c.wrap("predict_usd", inference.predict_usd)
    patches = [
        (keras.backend, "clear_session"), (backtest_task, "windowed"), (backtest_task, "fold_dataset"),
        (backtest_task, "task_record"), (windows.Dataset, "model_arrays"), (train, "fit"),
        (train, "build_model"), (intervals, "calibrate"), (train, "forecast_scored"),
    ]
    with ExitStack() as stack:
        for owner, name in patches:
            stack.enter_context(mock.patch.object(owner, name, c.wrap(name, getattr(owner, name))))
        stack.enter_context(mock.patch.object(train, "predict_usd", keep_model))
        stack.enter_context(mock.patch.object(inference, "predict_usd", keep_test))
        stack.enter_context(mock.patch.object(keras.callbacks, "EarlyStopping", TimedStopping))
        started = time.perf_counter()
        record = backtest_task.run_task(cfg, close, None, data, task)
        wall = time.perf_counter() - started
    fit_start, fit_end = c.last["fit"]
    build_end = c.last["build_model"][1]
    ends = c.epoch_ends
    phases = {
        "keras clear_session": c.spent["clear_session"],
        "windows.windowed": c.spent["windowed"],
        "fold_dataset (split, scaling fit)": c.spent["fold_dataset"],
        "model arrays (scaled inputs)": c.spent["model_arrays"],
        "fit: seed, build, compile": build_end - fit_start,
        "fit: setup before epoch 1": c.train_begin - build_end,
        "fit: epoch 1 (trace + XLA)": ends[0] - c.train_begin,
        "fit: epochs 2..n": ends[-1] - ends[0],
        "fit: end (best weights back)": fit_end - ends[-1],
        "calibration predict (val days)": c.spent["calibration predict"],
        "calibration intervals": c.spent["calibrate"],
        "evaluation predict (test days)": c.spent["predict_usd"],
        "evaluation scoring": c.spent["forecast_scored"] - c.spent["predict_usd"],
        "task_record": c.spent["task_record"],
    }
    phases["other (model info, checks)"] = wall - sum(phases.values())
    phases["task wall (run_task)"] = wall
    # The same two predicts once more, on the trained model: warm calls, no tracing or compiling.
    for name, (scaling, X) in (("calibration", c.val), ("evaluation", c.test)):
        started = time.perf_counter()
        inference.predict_usd(c.model, scaling, X)
        phases[f"(again, warm: {name} predict)"] = time.perf_counter() - started
    c.model = c.val = c.test = None
    return record, phases, len(ends)


TRAINING = ("fit: epoch 1 (trace + XLA)", "fit: epochs 2..n")


def task_phases(cfg, close, data, tasks) -> tuple[dict[str, list[float]], list[dict], list[int]]:
    print(f"{'task':38} {'epochs':>6} {'wall s':>7} {'epoch 1 s':>9} {'later s/epoch':>13}", flush=True)
    phases, records, epochs = defaultdict(list), [], []
    for task in tasks:
        record, p, n = timed_task(cfg, close, data, task)
        later = p["fit: epochs 2..n"] / (n - 1) if n > 1 else float("nan")
        print(f"{task.describe():38} {n:6d} {p['task wall (run_task)']:7.2f} "
              f"{p['fit: epoch 1 (trace + XLA)']:9.2f} {later:13.3f}", flush=True)
        for k, v in p.items():
            phases[k].append(v)
        records.append(record)
        epochs.append(n)
    return phases, records, epochs


def same_but_timing(a: dict, b: dict) -> bool:
    drop = {"train_seconds", "content_sha256"}
    return {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def fresh_processes(repeats: int) -> dict[str, float]:
    """Mean wall seconds of a new Python process doing each thing, the kinds interleaved."""
    commands = {
        "bare Python start": "pass",
        "import forecast.backtest_task + TF + Keras": "from forecast import runtime; runtime.quiet_tensorflow(); "
                                                     "import forecast.backtest_task",
        "import ray": "import ray",
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    seconds = defaultdict(list)
    for _ in range(repeats):
        for name, code in commands.items():
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
            seconds[name].append(time.perf_counter() - started)
            if done.returncode:
                print(f"  ({name} failed: {done.stderr.decode(errors='replace').strip().splitlines()[-1:]})")
    return {name: statistics.mean(v) for name, v in seconds.items()}


def ray_costs(cfg, out: Path) -> dict[str, float]:
    """A local Ray of 2 workers: start, a first call on each fresh worker, warm calls, shutdown."""
    costs = {}
    started = time.perf_counter()
    ray = engines.import_ray()
    costs["import ray (driver)"] = time.perf_counter() - started
    started = time.perf_counter()
    engines.start_ray(ray, 2, None, out)
    costs["start_ray (2 workers)"] = time.perf_counter() - started
    try:
        # task_cfg(cfg, "gru", seed): trivial, but its unpickling imports forecast.backtest_task (Keras)
        # in the worker after _ray_call has loaded TensorFlow, exactly as a task's does.
        def calls(seeds):
            started = time.perf_counter()
            for _ in engines.run_ray(ray, 2, backtest_task.task_cfg, (cfg, "gru"), seeds, str):
                pass
            return time.perf_counter() - started

        warm = 2 * engines.MAX_CALLS - 2  # then each worker has made MAX_CALLS calls: Ray replaces both
        costs["2 first calls, 2 fresh workers"] = calls([42, 43])
        costs[f"warm call (mean of {warm}, 2 at once)"] = calls(range(44, 44 + warm)) / (warm / 2)
        # Ray may have started spare workers meanwhile: then these find one warm, and a replacement's
        # imports cost CPU beside the trainings instead of a wait (counted from (a) in the estimate).
        costs["2 calls after 2 x MAX_CALLS (replaced workers)"] = calls([100, 101])
    finally:
        started = time.perf_counter()
        engines.shutdown(ray)
        costs["shutdown"] = time.perf_counter() - started
    return costs


def file_costs(cfg, close, folds, tasks, records, repeats: int) -> dict[str, float]:
    """Per task: planning it (hash), its fold's days, writing its file, reading it back with the checks."""
    costs = defaultdict(float)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for _ in range(repeats):
            started = time.perf_counter()
            backtest_task.plan(cfg, folds, (cfg.seed,), close)
            costs["make_task (hash of settings, fold, closes)"] += (time.perf_counter() - started) / len(tasks)
            started = time.perf_counter()
            days = {f.index: backtest_task.fold_days(close, f, cfg.window) for f in folds}
            costs["fold_days (per fold, once per run)"] += (time.perf_counter() - started) / len(folds)
            for task, record in zip(tasks, records):
                started = time.perf_counter()
                backtest_task.write_finished(directory, task, record)
                costs["write_finished"] += time.perf_counter() - started
                started = time.perf_counter()
                back = backtest_task.read_finished(directory, task, days[task.fold.index])
                costs["read_finished (read + check_record)"] += time.perf_counter() - started
                assert back == record, f"{task.name}: read back differs"
    return {k: v / repeats / (1 if k.startswith(("make_task", "fold_days")) else len(tasks)) for k, v in costs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="data/snapshot/btc-usd.csv")
    parser.add_argument("--folds", type=int, default=2, help="the last N folds of the default backtest")
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per kind, and file round trips")
    parser.add_argument("--epochs", type=int, default=None, help="an epoch limit instead of Config's (a quick try)")
    parser.add_argument("--no-ray", action="store_true", help="skip (b), the local Ray")
    parser.add_argument("--ray-timeout", type=int, default=engines.START_TIMEOUT_S,
                        help="seconds a local Ray may take to start (default: engines.START_TIMEOUT_S)")
    args = parser.parse_args(argv)
    engines.START_TIMEOUT_S = args.ray_timeout  # start_ray reads it when it starts Ray
    cfg = Config(csv=Path(args.csv), quiet=True)
    if args.epochs:
        cfg = cfg.replace(epochs=args.epochs)
    run_started = time.perf_counter()

    started = time.perf_counter()
    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    load_seconds = time.perf_counter() - started
    close, data = prices.close, data_info(prices)
    default = BacktestSettings()
    folds = make_folds(target_days(close.index, cfg.window), default, cfg.val_fraction)[-args.folds:]
    tasks = backtest_task.plan(cfg, folds, (cfg.seed,), close)
    print(f"{args.csv}: {close.index[0]:%Y-%m-%d}..{close.index[-1]:%Y-%m-%d}; the last {len(folds)} of the default "
          f"backtest's {len(make_folds(target_days(close.index, cfg.window), default, cfg.val_fraction))} folds "
          f"({folds[0].test.first}..{folds[-1].test.last}), seed {cfg.seed}, both cells: {len(tasks)} tasks, "
          f"XLA {'on' if cfg.jit_compile else 'off'}, epochs <= {cfg.epochs}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start\n", flush=True)

    phases, records, epochs = task_phases(cfg, close, data, tasks)
    started = time.perf_counter()
    check = backtest_task.run_task(cfg, close, data, tasks[-1])
    check_wall = time.perf_counter() - started
    same = same_but_timing(check, records[-1])
    print(f"check: the last task again with nothing wrapped, run_task {check_wall:.2f} s (timed run "
          f"{phases['task wall (run_task)'][-1]:.2f} s); record equal but for train_seconds: {'yes' if same else 'NO'}\n")

    mean = {k: statistics.mean(v) for k, v in phases.items()}
    wall = mean["task wall (run_task)"]
    print(f"{'phase of run_task (in-process, TF default threads)':52} {'s/task':>7} {'share':>6} {'min':>6} {'max':>6}")
    for k, v in phases.items():
        share = "" if k.startswith("(") else f"{mean[k] / wall:6.1%}"
        print(f"{k:52} {mean[k]:7.3f} {share:>6} {min(v):6.2f} {max(v):6.2f}")
    training = sum(mean[k] for k in TRAINING)
    later_epoch = statistics.mean(p / (n - 1) for p, n in zip(phases["fit: epochs 2..n"], epochs) if n > 1)
    compile_excess = mean["fit: epoch 1 (trace + XLA)"] - later_epoch
    predict_compile = (mean["calibration predict (val days)"] - mean["(again, warm: calibration predict)"]
                       + mean["evaluation predict (test days)"] - mean["(again, warm: evaluation predict)"])
    print(f"\nepochs per task {statistics.mean(epochs):.1f}; training (all epochs) {training:.2f} s = "
          f"{training / wall:.1%} of the task; not training {wall - training:.2f} s = {1 - training / wall:.1%}")
    print(f"epoch 1 over a later epoch (tracing + XLA compile of the training and validation steps): "
          f"{compile_excess:.2f} s = {compile_excess / wall:.1%} of the task ({mean['fit: epoch 1 (trace + XLA)'] / later_epoch:.1f}x a later epoch)")
    print(f"calibration and evaluation predicts over the same calls warm (tracing + XLA compile of predict, "
          f"once per input shape): "
          f"{predict_compile:.2f} s = {predict_compile / wall:.1%}")

    print(f"\nprices loaded once per run (load_prices): {load_seconds:.3f} s")
    files = file_costs(cfg, close, folds, tasks, records, args.repeats)
    print(f"\n{'per task, outside run_task (in the driver)':52} {'s/task':>7} {'share':>6}")
    for k, v in files.items():
        print(f"{k:52} {v:7.4f} {v / wall:6.2%}")

    procs = fresh_processes(args.repeats)
    print(f"\n{'(a) a fresh Python process, mean of ' + str(args.repeats):52} {'s':>7} {'/task':>6}")
    for k, v in procs.items():
        print(f"{k:52} {v:7.2f} {v / engines.MAX_CALLS / wall:6.1%}   (per task: / MAX_CALLS {engines.MAX_CALLS})")

    per_task = {
        "read_finished / write_finished": files["write_finished"] + files["read_finished (read + check_record)"],
        f"a replaced worker's imports, (a) / MAX_CALLS {engines.MAX_CALLS}":
            (procs["import forecast.backtest_task + TF + Keras"] + procs["import ray"] - 2 * procs["bare Python start"])
            / engines.MAX_CALLS,
    }
    if not args.no_ray:
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory() as out:
                ray = ray_costs(cfg, Path(out))
        except BacktestError as e:  # a local Ray that does not start in time on a busy machine is a result too
            print(f"\n(b) a local Ray with 2 workers: failed after {time.perf_counter() - started:.0f} s: {e}")
            args.no_ray = True
    if not args.no_ray:
        print(f"\n{'(b) a local Ray with 2 workers':52} {'s':>7}")
        for k, v in ray.items():
            print(f"{k:52} {v:7.2f}")
        default_tasks = default.folds * 2 * default.seeds
        warm = next(v for k, v in ray.items() if k.startswith("warm call"))
        per_task |= {
            # Once per run: the start, the first workers (the runtime_env set up, the imports), the shutdown.
            f"Ray start, first calls, shutdown / {default_tasks} tasks":
                (ray["start_ray (2 workers)"] + ray["2 first calls, 2 fresh workers"] - warm + ray["shutdown"])
                / default_tasks,
            "a warm Ray call (scheduling, pickling)": warm,
        }
    per_task |= {
        "XLA compile: epoch 1 over a later epoch": compile_excess,
        "predict compile: both predicts over warm calls": predict_compile,
        "in run_task, neither epochs nor predictions": wall - training - mean["calibration predict (val days)"]
        - mean["evaluation predict (test days)"],
    }
    print(f"\n{'non-training overhead per task on Ray (estimate)':52} {'s/task':>7} {'share':>6}")
    for k, v in per_task.items():
        print(f"{k:52} {v:7.3f} {v / wall:6.1%}")
    total = sum(per_task.values())
    print(f"{'total':52} {total:7.3f} {total / wall:6.1%}   (of a mean task wall of {wall:.2f} s)")
    print(f"\nthis run: {time.perf_counter() - run_started:.0f} s, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
