"""What the backtest tests share (test_backtest_plan, test_backtest_task, test_engines and
test_backtest): the tiny settings, the CLI run, reading task files back, and a counting run_task."""

import contextlib
import io
import json

from forecast import backtest, backtest_task
from forecast.__main__ import main
from forecast.config import Config

from .conftest import random_walk, write_yahoo_csv

WINDOW, SEEDS, FOLDS, STEP = 5, 2, 2, 6
# Tiny trainings without XLA: its compilation is most of a one-epoch training (3-4x slower with it);
# the XLA path is trained in test_cli's real-prices run and the notebook test.
TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
        "--seeds", "2", "--folds", "2", "--step", "6", "--no-jit-compile"]
TASKS = FOLDS * 2 * SEEDS
ONE_SEED = [*TINY[:TINY.index("--seeds")], "--seeds", "1", *TINY[TINY.index("--seeds") + 2:]]
RUN_TASK = backtest_task.run_task


def tiny_config(csv, out, **changes) -> Config:
    settings = dict(csv=csv, out=out, window=WINDOW, units=4, epochs=2, batch_size=16, patience=1, quiet=True,
                    jit_compile=False)
    return Config(**{**settings, **changes})


def run_cli(argv) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured (module fixtures cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def write_prices(tmp_path_factory):
    """The price file every backtest test reads (each test module's prices_csv fixture)."""
    return write_yahoo_csv(tmp_path_factory.mktemp("prices") / "prices.csv", random_walk(150, seed=7))


def task_files(out):
    return sorted((out / "backtest" / "tasks").glob("*.json"))


def task_records(out) -> dict:
    """(fold origin, cell, seed) -> the task's result file."""
    records = [json.loads(p.read_text()) for p in task_files(out)]
    return {(r["dates"][0], r["cell"], r["seed"]): r for r in records}


def stdout_of(out) -> str:
    return (out / "backtest.json").read_text()


def metrics_only(record: dict) -> dict:
    """backtest.json without what legitimately differs between two runs of the same backtest:
    how it ran (engine, timings, task counts) and the command line."""
    drop = {"command", "engine", "tasks", "wall_seconds", "train_seconds"}
    r = {k: v for k, v in record.items() if k not in drop}
    r["folds"] = [{k: ({kk: vv for kk, vv in v.items() if kk != "train_seconds"} if k in ("gru", "lstm") else v)
                   for k, v in f.items() if k != "train_seconds"} for f in record["folds"]]
    return r


def counting(monkeypatch, fail_at=None, error=KeyboardInterrupt):
    """Replaces run_task (where backtest() calls it) with a counter that raises `error` at call `fail_at`."""
    calls = []

    def run(cfg, close, table, data, task):
        calls.append(task.name)
        if len(calls) == fail_at:
            raise error() if isinstance(error, type) else error
        return RUN_TASK(cfg, close, table, data, task)

    monkeypatch.setattr(backtest, "run_task", run)
    return calls
