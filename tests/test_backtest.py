"""backtest: fold bounds, task names, resume, serial == Ray, the CLI and its errors, and the
aggregated numbers against hand computation from the task results and the raw series."""

import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import time
import types
from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, metrics
from forecast.__main__ import main
from forecast.backtest import BacktestSettings, fold_dataset, make_folds, make_task, plan
from forecast.config import Config
from forecast.csv_source import load_csv
from forecast.errors import ConfigError, DataError, ModelError, TooLittleData
from forecast.windows import WindowScaling, make_windows

from .conftest import random_walk, write_yahoo_csv

WINDOW, SEEDS, FOLDS, STEP = 5, 2, 2, 6
# Tiny trainings without XLA: its compilation is most of a one-epoch training (3-4x slower with it);
# the XLA path is trained in test_cli's real-prices run and the notebook test.
TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
        "--seeds", "2", "--folds", "2", "--step", "6", "--no-jit-compile"]
TASKS = FOLDS * 2 * SEEDS
RUN_TASK = backtest.run_task


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


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    return write_yahoo_csv(tmp_path_factory.mktemp("prices") / "prices.csv", random_walk(150, seed=7))


@pytest.fixture(scope="module")
def serial(prices_csv, tmp_path_factory):
    """One uninterrupted tiny backtest through the CLI with --json, shared read-only."""
    out = tmp_path_factory.mktemp("serial") / "out"
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(out), "--json"])
    assert code == 0, stderr
    return out, stdout, stderr


def task_files(out):
    return sorted((out / "backtest" / "tasks").glob("*.json"))


def task_records(out) -> dict:
    """(fold origin, cell, seed) -> the task's result file."""
    records = [json.loads(p.read_text()) for p in task_files(out)]
    return {(r["dates"][0], r["cell"], r["seed"]): r for r in records}


def metrics_only(record: dict) -> dict:
    """backtest.json without what legitimately differs between two runs of the same backtest:
    how it ran (engine, timings, task counts) and the command line."""
    drop = {"command", "engine", "tasks", "wall_seconds", "train_seconds"}
    r = {k: v for k, v in record.items() if k not in drop}
    r["folds"] = [{k: ({kk: vv for kk, vv in v.items() if kk != "train_seconds"} if k in ("gru", "lstm") else v)
                   for k, v in f.items() if k != "train_seconds"} for f in record["folds"]]
    return r


def counting(monkeypatch, fail_at=None, error=KeyboardInterrupt):
    """Replaces run_task with a counter that raises `error` at call `fail_at`."""
    calls = []

    def run(cfg, task, close, data):
        calls.append(task.name)
        if len(calls) == fail_at:
            raise error() if isinstance(error, type) else error
        return RUN_TASK(cfg, task, close, data)

    monkeypatch.setattr(backtest, "run_task", run)
    return calls


# --- folds ---------------------------------------------------------------------------------

DAYS = pd.date_range("2022-01-01", periods=120, freq="D")  # target days, positions 0..119


def test_default_folds_are_consecutive_and_end_at_the_data_end():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20))
    # 120 days, 2 folds of 20: origins at positions 80 and 100.
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(80, 100), (100, 120)]
    assert [(f.test.first, f.test.last, f.test.days) for f in folds] == [
        ("2022-03-22", "2022-04-10", 20), ("2022-04-11", "2022-04-30", 20)]


def test_validation_is_the_last_15_percent_before_the_origin():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20))
    # Origin 80: 80 days before it, 12 (15%) for validation, the last ones; origin 100: 15 of 100.
    assert [(f.split.train, f.split.val) for f in folds] == [
        (slice(0, 68), slice(68, 80)), (slice(0, 85), slice(85, 100))]
    for f in folds:
        assert pd.Timestamp(f.val.last) + pd.Timedelta(days=1) == pd.Timestamp(f.test.first)
        assert f.train.last < f.val.first <= f.val.last < f.test.first


def test_no_target_day_in_two_folds_and_none_used_at_or_after_its_origin():
    folds = make_folds(DAYS, BacktestSettings(folds=4, step=7))
    out_of_sample = np.concatenate([np.arange(120)[f.split.test] for f in folds])
    assert len(out_of_sample) == len(set(out_of_sample)) == 28
    assert out_of_sample.tolist() == list(range(92, 120))
    for f in folds:
        origin = f.split.test.start
        assert f.split.train.stop <= origin and f.split.val.stop == origin


def test_train_days_keeps_exactly_that_many_days():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=40))
    # Origins 80 and 100: target days 40..79 and 60..99; validation 6 (15% of 40), the last.
    assert [(f.split.train, f.split.val) for f in folds] == [
        (slice(40, 74), slice(74, 80)), (slice(60, 94), slice(94, 100))]
    assert [f.train.days + f.val.days for f in folds] == [40, 40]


def test_first_test_and_the_partial_last_fold():
    # From position 93 (2022-04-04): folds of 10 at 93, 103 and a last one of 7 days (kept: >= 3).
    folds = make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 4), step=10))
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(93, 103), (103, 113), (113, 120)]
    # From position 98: 98, 108, and 118..119 has only 2 days: dropped.
    folds = make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 9), step=10))
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(98, 108), (108, 118)]


def test_fold_errors():
    with pytest.raises(TooLittleData, match=r"^too little data for the backtest: the first fold needs 17 target days "
                                            r"before its origin, it has 0; use fewer --folds, a smaller --step, "
                                            r"a later --first-test or more data$"):
        make_folds(DAYS, BacktestSettings(folds=4, step=30))
    with pytest.raises(TooLittleData, match=r"^too little data for the backtest: the first fold needs 100 target days "
                                            r"before its origin, it has 80;"):
        make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=100))
    with pytest.raises(DataError, match=r"^--first-test 2022-05-01 is after the last target day 2022-04-30$"):
        make_folds(DAYS, BacktestSettings(first_test=date(2022, 5, 1)))
    with pytest.raises(TooLittleData, match=r"^--first-test 2022-04-29 leaves 2 target days up to 2022-04-30; "
                                            r"a fold needs at least 3$"):
        make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 29)))
    with pytest.raises(ConfigError, match=r"^--train-days 10 is too few: 3 training and 3 validation days "
                                          r"\(the last 15%\) need at least 17$"):
        make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=10))


def test_settings_check_themselves():
    assert BacktestSettings().folds == 12 and BacktestSettings(first_test=date(2024, 1, 1)).folds is None
    with pytest.raises(ConfigError, match=r"^give folds or first_test, not both$"):
        BacktestSettings(folds=3, first_test=date(2024, 1, 1))
    with pytest.raises(ConfigError, match=r"^step must be a whole number of at least 3, got 2$"):
        BacktestSettings(step=2)
    with pytest.raises(ConfigError, match=r"^workers must be a whole number of at least 1, got 0$"):
        BacktestSettings(workers=0)
    assert (BacktestSettings().engine, BacktestSettings(workers=2).engine,
            BacktestSettings(address="h:1").engine) == ("serial", "ray", "ray")


def test_scaling_sees_only_training_rows():
    """The fold's scaling is the std of its training days' log returns, by hand from the raw series,
    and closes at or after the origin cannot move it or the training inputs."""
    close = random_walk(120 + WINDOW, seed=1)
    fold = make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20))[0]  # train 0..67, val 68..79
    raw = close.to_numpy()
    by_hand = np.std(np.log(raw[WINDOW:WINDOW + 68] / raw[WINDOW - 1:WINDOW + 67]))

    def dataset(values):
        X, y = make_windows(values, WINDOW)
        return fold_dataset(X, y, close.index[WINDOW:], fold, "window")

    d = dataset(raw)
    assert isinstance(d.scaling, WindowScaling) and d.scaling.scale == pytest.approx(by_hand, rel=1e-12)
    assert len(d.y) == 100 and d.dates[-1] == pd.Timestamp(fold.test.last)  # nothing after the fold
    changed = raw.copy()
    changed[WINDOW + 80:] *= 3  # every close from the origin's target day on
    e = dataset(changed)
    assert e.scaling == d.scaling
    for part in ("train", "val"):
        np.testing.assert_array_equal(e.model_arrays(part)[0], d.model_arrays(part)[0])
        np.testing.assert_array_equal(e.model_arrays(part)[1], d.model_arrays(part)[1])


# --- tasks: names are a pure function of what the result depends on ------------------------

def test_task_names():
    close = random_walk(120 + WINDOW, seed=1)
    cfg = Config(window=WINDOW, units=4)
    folds = make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20))
    name = make_task(cfg, folds[0], "gru", 42, close).name
    assert name.startswith("2021-03-27_gru_seed42_")  # target position 80 is close[85]: 2021-01-01 + 85 days
    same = [
        make_task(cfg.replace(out="elsewhere", quiet=not cfg.quiet, cache_dir="x"), folds[0], "gru", 42, close),
        make_task(cfg, folds[0], "gru", 42, close.where(close.index < close.index[WINDOW + 100], close * 2)),
    ]
    assert [t.name for t in same] == [name, name]  # closes after the fold's last day are not read
    later = close.copy()
    later.iloc[WINDOW + 85] *= 1.01  # a close inside the fold
    other = [
        make_task(cfg.replace(units=5), folds[0], "gru", 42, close),
        make_task(cfg.replace(learning_rate=0.002), folds[0], "gru", 42, close),
        make_task(cfg, folds[1], "gru", 42, close),
        make_task(cfg, make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20, train_days=60))[0],
                  "gru", 42, close),
        make_task(cfg, folds[0], "gru", 42, later),
        make_task(cfg, folds[0], "gru", 43, close),
        make_task(cfg, folds[0], "lstm", 42, close),
    ]
    names = [t.name for t in other]
    assert name not in names and len(set(names)) == len(names)


def test_plan_order_is_fold_cell_seed():
    close = random_walk(120 + WINDOW, seed=1)
    folds = make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20))
    tasks = plan(Config(window=WINDOW), folds, (42, 43), close)
    assert [(t.fold.index, t.cell, t.seed) for t in tasks] == [
        (0, "gru", 42), (0, "gru", 43), (0, "lstm", 42), (0, "lstm", 43),
        (1, "gru", 42), (1, "gru", 43), (1, "lstm", 42), (1, "lstm", 43)]


# --- the CLI ---------------------------------------------------------------------------------

def test_json_is_the_only_stdout_and_the_three_files_are_written(serial):
    out, stdout, stderr = serial
    record = json.loads(stdout)  # exactly one JSON object, nothing else
    assert record == json.loads((out / "backtest.json").read_text())
    assert (out / "backtest.md").read_text().startswith("# Rolling-origin backtest")
    assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["backtest", "backtest.json", "backtest.md", "backtest.png"]
    assert len(task_files(out)) == TASKS
    assert "{" not in stderr  # --json: the JSON on stdout only; progress and the summary on stderr
    assert record["engine"]["name"] == "serial" and record["engine"]["workers"] == 1
    assert record["tasks"] == {"total": 8, "trained": 8, "read_back": 0,
                               "directory": str(out / "backtest" / "tasks")}
    assert set(record["engine"]["versions"]) >= {"tensorflow", "keras", "python"}


def test_a_shorter_last_fold_is_named_in_the_report(prices_csv, tmp_path):
    """--first-test with days left over: the prices end on 2021-05-30, so folds of 6 days from
    2021-05-22 leave a last fold of 3 days (2021-05-28..30)."""
    tiny = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
            "--seeds", "1", "--step", "6", "--first-test", "2021-05-22"]
    code, _, stderr = run_cli(["backtest", "--csv", str(prices_csv), *tiny, "--out", str(tmp_path), "--quiet"])
    assert code == 0, stderr
    assert "2 folds of 6 target days (the last 3), 2021-05-22..2021-05-30 (9 out-of-sample days)" \
        in (tmp_path / "backtest.md").read_text()


def test_progress_lines_and_quiet(serial, prices_csv, tmp_path):
    out, _, _ = serial
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    task_files(copy)[0].unlink()
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(copy)])
    assert code == 0
    lines = stderr.splitlines()
    assert lines[0] == f"INFO: resuming: 7 of 8 tasks already finished in {copy / 'backtest' / 'tasks'}"
    assert len(lines) == 2 and lines[1].startswith("INFO: [8/8] fold 1 (")
    assert " epochs in " in lines[1] and "; elapsed " in lines[1] and lines[1].endswith(" left")
    assert stdout.startswith("backtest: 2 folds, ") and "written: " in stdout
    # The retrained task finished last, yet the numbers are the same: aggregation goes by (fold, cell, seed).
    assert metrics_only(json.loads(stdout_of(copy))) == metrics_only(json.loads(stdout_of(out)))
    task_files(copy)[-1].unlink()
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(copy), "--quiet"])
    assert (code, stderr) == (0, "")
    assert stdout.startswith("backtest: 2 folds, ")


def stdout_of(out) -> str:
    return (out / "backtest.json").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--folds", "3", "--first-test", "2021-05-01"], "argument --first-test: not allowed with argument --folds"),
    (["--step", "0"], "argument --step: a fold needs at least 3 days, got 0"),
    (["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["--test-start", "2021-05-01"], "unrecognized arguments: --test-start 2021-05-01"),  # folds instead
])
def test_usage_errors(capsys, prices_csv, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["backtest", "--csv", str(prices_csv), *argv])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] in (f"python -m forecast backtest: error: {message}",
                                                        f"python -m forecast: error: {message}")


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_wrong_address_is_one_line_and_fails_fast(capsys, monkeypatch, prices_csv, tmp_path, how):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path)]
    if how == "flag":
        argv += ["--address", "127.0.0.1:1"]
    else:
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    started = time.perf_counter()
    assert main(argv) == 1
    assert time.perf_counter() - started < 30
    assert capsys.readouterr().err == "error: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused\n"


def test_address_that_is_not_host_port(capsys, monkeypatch, prices_csv, tmp_path):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--address", "nowhere"]) == 1
    assert capsys.readouterr().err == ("error: cannot use Ray address 'nowhere': expected host:port, "
                                       "e.g. 10.0.0.5:6379\n")


def test_local_ray_that_cannot_start(capsys, monkeypatch, prices_csv, tmp_path):
    import ray

    def refuse(**kwargs):
        raise RuntimeError("no room for the object store\nsecond line")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", refuse)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--workers", "2"]) == 1
    assert capsys.readouterr().err == "error: cannot start a local Ray with 2 workers: no room for the object store\n"


def test_local_ray_that_does_not_start_in_time_names_the_timeout(capsys, monkeypatch, prices_csv, tmp_path):
    import ray

    def slow(**kwargs):  # what Ray 2.60 raises when its raylet has not registered in time
        raise Exception("The current node timed out during startup. This could happen because some of the "
                        "raylet failed to startup or the GCS has become overloaded.")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", slow)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--workers", "2"]) == 1
    assert capsys.readouterr().err == ("error: a local Ray with 2 workers did not start within 120 s (the machine is "
                                       "busy?); try again, or --workers 1\n")


@pytest.mark.parametrize("preset", [None, "300"])
def test_a_local_ray_gets_120_s_to_start(monkeypatch, tmp_path, preset):
    """Ray 2.60 polls ray._private.services.get_node for its raylet for 30 s, and waits for its GCS
    RAY_gcs_server_port_wait_time_s (default 30): during a local start the first keeps asking for up
    to 120 s, the second is 120 unless the user set it; both are as before afterwards."""
    from ray._private import services

    lookups = []

    def lookup(gcs_address, node_id):  # the raylet registers at the 4th look
        lookups.append((gcs_address, node_id))
        if len(lookups) < 4:
            raise RuntimeError("node info not available yet")
        return {"node_id": node_id}

    seen = {}

    def init(**kwargs):  # as Node.__init__ does, through the module attribute
        seen["wait"] = os.environ.get("RAY_gcs_server_port_wait_time_s")
        seen["node"] = services.get_node("127.0.0.1:1", "n1")

    if preset is None:
        monkeypatch.delenv("RAY_gcs_server_port_wait_time_s", raising=False)
    else:
        monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", preset)
    monkeypatch.setattr(services, "get_node", lookup)
    fake_ray = types.SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None,
                                     cluster_resources=lambda: {"CPU": 2.0})
    assert backtest.start_ray(fake_ray, BacktestSettings(workers=2), tmp_path) == (2, None)
    assert seen == {"wait": preset or "120", "node": {"node_id": "n1"}} and len(lookups) == 4
    assert services.get_node is lookup and os.environ.get("RAY_gcs_server_port_wait_time_s") == preset
    # It does give up: here after 0.3 s, with Ray's own error.
    lookups.clear()

    def never(*args):
        lookups.append(args)
        raise RuntimeError("no")

    monkeypatch.setattr(services, "get_node", never)
    started = time.monotonic()
    with backtest.patient_start(0.3), pytest.raises(RuntimeError, match="^no$"):
        services.get_node("127.0.0.1:1", "n1")
    assert 0.3 <= time.monotonic() - started < 5 and len(lookups) >= 2


def test_failed_task_is_one_line_and_finished_results_stay(capsys, monkeypatch, prices_csv, tmp_path):
    calls = counting(monkeypatch, fail_at=2, error=ModelError("training diverged (the model predicts non-finite "
                                                              "prices); try a smaller --learning-rate"))
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: task fold 1 (2021-05-19..2021-05-24), GRU, seed 43 failed: training diverged (the model predicts "
        "non-finite prices); try a smaller --learning-rate")
    assert len(calls) == 2 and [p.name.split("_")[:3] for p in task_files(tmp_path)] == [["2021-05-19", "gru", "seed42"]]
    assert not (tmp_path / "backtest.json").exists()


def test_a_task_failing_in_a_ray_worker_is_one_line(capsys, monkeypatch, prices_csv, tmp_path):
    """A real exception raised inside a Ray worker process (a learning rate that makes every training
    diverge), not a fake in this process: Ray's wrapper is unwrapped to the domain error's one line."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["backtest", "--csv", str(prices_csv), *TINY, "--learning-rate", "1e30", "--out", str(tmp_path),
            "--workers", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"error: task fold [12] \(2021-\d\d-\d\d\.\.2021-\d\d-\d\d\), (GRU|LSTM), seed 4[23] "
                        r"failed: training diverged \(the model predicts non-finite prices\); try a smaller "
                        r"--learning-rate", err[-1]), err[-1]
    assert err[:-1] == ["INFO: Ray: local, 2 CPUs for 8 tasks"]  # nothing from Ray, no traceback
    assert not (tmp_path / "backtest.json").exists()


# --- resume -----------------------------------------------------------------------------------

def test_resume_after_a_killed_run(serial, monkeypatch, prices_csv, tmp_path):
    """Ctrl-C at the 4th training: 3 results stay; the rerun trains only the 5 missing ones and
    ends with exactly the numbers of the uninterrupted run."""
    out = tmp_path / "out"
    calls = counting(monkeypatch, fail_at=4)
    code, _, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(out), "--quiet"])
    assert code == 130 and stderr == "error: interrupted; files already saved are intact\n"
    assert len(task_files(out)) == 3 and not (out / "backtest.json").exists()
    finished = {p.name: p.read_text() for p in task_files(out)}
    calls = counting(monkeypatch)
    code, stdout, _ = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(out), "--json"])
    assert code == 0 and len(calls) == 5
    assert not set(calls) & {name.removesuffix(".json") for name in finished}
    assert {p.name: p.read_text() for p in task_files(out) if p.name in finished} == finished
    record, uninterrupted = json.loads(stdout), json.loads(stdout_of(serial[0]))
    assert record["tasks"]["trained"] == 5 and record["tasks"]["read_back"] == 3
    assert metrics_only(record) == metrics_only(uninterrupted)


# --- task files are checked before they are used ----------------------------------------------

# The smallest backtest with two levels, one of them (99%) unbounded on ~20 validation days: 6 tasks,
# without XLA (its compilation is most of a one-epoch training here: 3-4x slower with it).
SMALL = ["--window", "5", "--units", "4", "--epochs", "1", "--folds", "3", "--step", "3", "--seeds", "1",
         "--level", "80", "--level", "99", "--no-jit-compile"]
EDITED = "2021-05-25_lstm_seed42_"   # the file edited below: fold 2 (2021-05-25..27), LSTM


@pytest.fixture(scope="module")
def small(prices_csv, tmp_path_factory):
    """One clean run of SMALL, shared read-only: its folder and its backtest.json."""
    out = tmp_path_factory.mktemp("small") / "out"
    code, _, stderr = run_cli(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"])
    assert (code, stderr) == (0, "")
    return out, json.loads(stdout_of(out))


def replaying(monkeypatch, clean):
    """Replaces run_task with the clean run's result for the same task, so that a test of the checks
    does not pay for a training (the real one is trained again where a test says `real`)."""
    calls = []

    def run(cfg, task, close, data):
        calls.append(task.name)
        return json.loads((clean / "backtest" / "tasks" / f"{task.name}.json").read_text())

    monkeypatch.setattr(backtest, "run_task", run)
    return calls


def reseal(record: dict) -> dict:
    """The content hash a task file carries, by the rule README states: sha256 of the canonical JSON
    (sorted keys, separators "," and ":", no spaces) of every field but the hash itself."""
    body = {k: v for k, v in record.items() if k != "content_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return body | {"content_sha256": hashlib.sha256(text.encode()).hexdigest()}


def shift_dates(r):
    r["dates"] = [f"{pd.Timestamp(d) + pd.Timedelta(days=1):%Y-%m-%d}" for d in r["dates"]]


def scale_point(r, factor=1.001, day=1):
    r["point"][day] *= factor


def narrow_99(r):
    """99% model band set inside the 80% one, still a band point * exp(+-q): q = half of 80%'s."""
    q = np.log(r["intervals"]["80"]["model"]["upper"][0] / r["point"][0]) / 2
    r["intervals"]["99"]["model"] = {"lower": [p * np.exp(-q) for p in r["point"]],
                                     "upper": [p * np.exp(q) for p in r["point"]]}


def shorten_all(r):
    for key in ("dates", "point", "actual", "previous"):
        r[key] = r[key][:2]
    for iv in r["intervals"].values():
        for bounds in iv.values():
            for end in bounds:
                bounds[end] = bounds[end][:2]


def set_value(path, value):
    def edit(r):
        target = r
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(target[path[-1]])
    return edit


REAL = {"point", "nan-point", "truncated"}  # trained again for real; the other cases replay the clean result


@pytest.mark.parametrize("edit, sealed, reason", [
    (scale_point, False, "content hash mismatch"),
    (set_value(["intervals", "80", "model", "upper", 2], lambda v: v * 1.5), False, "content hash mismatch"),
    # Resealed by hand: the hash then matches, and the values must fail a rule on their own.
    (scale_point, True, "the 80% model interval does not fit its forecast"),
    (set_value(["intervals", "80", "naive", "lower", 0], lambda v: v * 0.99), True,
     "the 80% naive interval does not fit its forecast"),
    (narrow_99, True, "the 99% model interval is narrower than a lower level's"),
    (shift_dates, True, "its dates are not the fold's days 2021-05-25..2021-05-27"),
    (set_value(["intervals"], lambda iv: {"80": iv["80"]}), True, "interval levels 80 instead of 80, 99"),
    (set_value(["point", 0], lambda v: math.nan), True, "point holds a value that is not a finite number"),
    (set_value(["intervals", "80", "model", "lower", 1], lambda v: math.nan), True,
     "the 80% model interval's lower holds a value that is not a finite number"),
    (set_value(["point"], lambda v: v[:2]), True, "point has 2 values, the fold has 3 days"),
    (shorten_all, True, "its dates are not the fold's days 2021-05-25..2021-05-27"),
    (set_value(["epochs_run"], lambda v: 5), True, "epochs 5 (best 1) outside 1..1"),
    (set_value(["seed"], lambda v: 43), True, "made by another task"),
], ids=["point", "upper", "point-resealed", "naive-band-resealed", "levels-not-nested", "dates-shifted",
        "level-dropped", "nan-point", "nan-lower", "point-shortened", "all-shortened", "epochs", "other-seed"])
def test_a_task_file_that_fails_its_check_is_trained_again(small, capsys, monkeypatch, prices_csv, tmp_path, request,
                                                            edit, sealed, reason):
    """One task file edited (its old hash kept, or resealed): that task alone is trained again, one
    warning line names the file and why, and every number equals the clean run's."""
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    (path,) = (out / "backtest" / "tasks").glob(f"{EDITED}*.json")
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(reseal(record) if sealed else record))
    calls = counting(monkeypatch) if request.node.callspec.id in REAL else replaying(monkeypatch, small[0])
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == f"WARNING: task file {path} failed its check ({reason}); training it again\n"
    assert calls == [path.stem]
    rerun = json.loads(stdout_of(out))
    assert rerun["tasks"]["trained"] == 1 and rerun["tasks"]["read_back"] == 5
    assert metrics_only(rerun) == metrics_only(small[1])
    assert reseal(json.loads(path.read_text())) == json.loads(path.read_text())  # rewritten, sealed


@pytest.mark.parametrize("content, reason", [
    (b'{"name": "truncated', "not valid JSON"),
    (b"\xff\xfe garbage \x00", "not valid JSON"),
    (b"[1, 2, 3]", "not a task result"),
], ids=["truncated", "binary", "a-list"])
def test_a_task_file_that_is_not_one_is_trained_again(small, capsys, monkeypatch, prices_csv, tmp_path, request,
                                                      content, reason):
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    (path,) = (out / "backtest" / "tasks").glob(f"{EDITED}*.json")
    path.write_bytes(content)
    calls = counting(monkeypatch) if request.node.callspec.id in REAL else replaying(monkeypatch, small[0])
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == f"WARNING: task file {path} failed its check ({reason}); training it again\n"
    assert calls == [path.stem]
    rerun = json.loads(stdout_of(out))
    assert rerun["tasks"]["trained"] == 1 and metrics_only(rerun) == metrics_only(small[1])


def test_another_tasks_file_under_this_name_is_trained_again(small, capsys, monkeypatch, prices_csv, tmp_path):
    """The fold's GRU result, intact and sealed, copied over its LSTM result."""
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    tasks = out / "backtest" / "tasks"
    (path,) = tasks.glob(f"{EDITED}*.json")
    (gru,) = tasks.glob(EDITED.replace("lstm", "gru") + "*.json")
    shutil.copyfile(gru, path)
    calls = replaying(monkeypatch, small[0])
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == (f"WARNING: task file {path} failed its check (made by another task); "
                                       "training it again\n")
    assert calls == [path.stem] and metrics_only(json.loads(stdout_of(out))) == metrics_only(small[1])


@pytest.mark.parametrize("field", ["actual", "previous"])
def test_actual_and_previous_closes_come_from_the_price_file(small, capsys, monkeypatch, prices_csv, tmp_path,
                                                             field):
    """A task file keeps the actual and previous closes for people to read; the backtest takes both from
    the price file. Doubled and resealed: the file passes its check and nothing changes."""
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    for path in (out / "backtest" / "tasks").glob("*.json"):
        record = json.loads(path.read_text())
        record[field] = [2 * v for v in record[field]]
        path.write_text(json.dumps(reseal(record)))
    calls = counting(monkeypatch)
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and calls == []
    rerun = json.loads(stdout_of(out))
    assert rerun["tasks"]["trained"] == 0 and metrics_only(rerun) == metrics_only(small[1])


def test_a_plausible_forecast_resealed_is_the_one_edit_no_check_sees(small, capsys, monkeypatch, prices_csv,
                                                                      tmp_path):
    """A forecast moved 0.1% together with its bands (the same q around the new point), and the hash
    recomputed: a hash proves only that the file is what some writer sealed, and these values are as
    plausible as a trained model's. This is the one edit that is read back, and it shows in the report."""
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    (path,) = (out / "backtest" / "tasks").glob(f"{EDITED}*.json")
    record = json.loads(path.read_text())
    record["point"][1] *= 1.001
    for end in ("lower", "upper"):
        record["intervals"]["80"]["model"][end][1] *= 1.001   # the 99% band is unbounded: 0 and null
    path.write_text(json.dumps(reseal(record)))
    calls = counting(monkeypatch)
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and calls == []
    rerun = json.loads(stdout_of(out))
    assert rerun["tasks"]["trained"] == 0
    assert rerun["overall"]["lstm"]["mae"] != small[1]["overall"]["lstm"]["mae"]
    assert rerun["overall"]["gru"] == small[1]["overall"]["gru"]


def test_a_clean_resume_reads_every_file_back(small, capsys, monkeypatch, prices_csv, tmp_path):
    """Every file a run writes passes its check, an unbounded level (99% on ~20 validation days) included."""
    out = tmp_path / "out"
    shutil.copytree(small[0], out)
    assert all(r["intervals"]["99"]["model"]["upper"] == [None] * 3 for r in task_records(out).values())
    calls = counting(monkeypatch)
    assert main(["backtest", "--csv", str(prices_csv), *SMALL, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == "" and calls == []
    rerun = json.loads(stdout_of(out))
    assert rerun["tasks"]["trained"] == 0
    how = ("command", "tasks", "wall_seconds")  # the --out folder, what ran now, how long
    assert {k: v for k, v in rerun.items() if k not in how} == {k: v for k, v in small[1].items() if k not in how}


# --- the numbers, by hand from the task results and the raw series -----------------------------

def test_naive_is_the_previous_close_from_the_raw_series(serial, prices_csv):
    out = serial[0]
    close = load_csv(prices_csv).close
    for r in task_records(out).values():  # the copies in each task file, there for people to read
        dates = pd.DatetimeIndex(r["dates"])
        assert r["previous"] == close.shift(1).loc[dates].tolist()
        assert r["actual"] == close.loc[dates].tolist()
    result = backtest.backtest(tiny_config(prices_csv, out), BacktestSettings(seeds=SEEDS, folds=FOLDS, step=STEP))
    assert result.trained == 0  # every number below was read back, yet none of these from a task file
    assert result.actual.tolist() == close.loc[result.dates].tolist()
    assert result.previous.tolist() == close.shift(1).loc[result.dates].tolist()


def closes_on(prices_csv, dates) -> tuple[np.ndarray, np.ndarray]:
    """The closes on `dates` and the day before each (the naive forecast), from the price file."""
    close, dates = load_csv(prices_csv).close, pd.DatetimeIndex(dates)
    return close.loc[dates].to_numpy(), close.shift(1).loc[dates].to_numpy()


def concatenated(out, cell: str, seed: int, prices_csv):
    """All out-of-sample days of one cell and seed, folds in time order: dates, actual, point, previous
    (actual and previous from the price file)."""
    records = sorted((r for (_, c, s), r in task_records(out).items() if c == cell and s == seed),
                     key=lambda r: r["dates"][0])
    join = lambda key: np.concatenate([r[key] for r in records])  # noqa: E731
    dates = join("dates")
    actual, previous = closes_on(prices_csv, dates)
    return dates, actual, join("point"), previous


def test_dm_tests_use_the_right_pairs_and_the_first_seed(serial, prices_csv):
    record = json.loads(stdout_of(serial[0]))
    close = load_csv(prices_csv).close
    for k, seed in enumerate((42, 43)):
        dates, actual, gru, previous = concatenated(serial[0], "gru", seed, prices_csv)
        _, _, lstm, _ = concatenated(serial[0], "lstm", seed, prices_csv)
        assert len(dates) == FOLDS * STEP and (previous == close.shift(1).loc[pd.DatetimeIndex(dates)].to_numpy()).all()
        expected = {
            "gru_vs_lstm": metrics.diebold_mariano(actual, gru, lstm),
            "gru_vs_naive": metrics.diebold_mariano(actual, gru, previous),
            "lstm_vs_naive": metrics.diebold_mariano(actual, lstm, previous),
        }
        by_seed = record["dm_test_by_seed"][k]
        assert by_seed["seed"] == seed
        for pair, t in expected.items():
            assert by_seed[pair] == {"statistic": pytest.approx(t.statistic, rel=1e-9),
                                     "p_value": pytest.approx(t.p_value, rel=1e-9), "days": 12}
            if k == 0:
                assert record["dm_test"][pair] == by_seed[pair]
    assert record["dm_test"]["seed"] == 42
    assert record["dm_test_by_seed"][0] != record["dm_test_by_seed"][1]


def test_all_days_metrics_and_folds_beating_naive_by_hand(serial, prices_csv):
    out = serial[0]
    record = json.loads(stdout_of(out))
    records = task_records(out)
    origins = sorted({origin for origin, _, _ in records})
    for cell in ("gru", "lstm"):
        maes, rmses, ratios, coverage = [], [], [], []
        for seed in (42, 43):
            _, actual, point, previous = concatenated(out, cell, seed, prices_csv)
            maes.append(np.mean(np.abs(actual - point)))
            rmses.append(np.sqrt(np.mean((actual - point) ** 2)))
            ratios.append(maes[-1] / np.mean(np.abs(actual - previous)))
            lower = np.concatenate([records[o, cell, seed]["intervals"]["80"]["model"]["lower"] for o in origins])
            upper = np.concatenate([records[o, cell, seed]["intervals"]["80"]["model"]["upper"] for o in origins])
            coverage.append(np.mean((actual >= lower) & (actual <= upper)))
        overall = record["overall"][cell]
        assert overall["mae"]["values"] == pytest.approx(maes, rel=1e-12)
        assert overall["mae"]["mean"] == pytest.approx(np.mean(maes), rel=1e-12)
        assert overall["mae"]["std"] == pytest.approx(np.std(maes, ddof=1), rel=1e-9)
        assert overall["rmse"]["values"] == pytest.approx(rmses, rel=1e-12)
        assert overall["mae_ratio_vs_naive"]["values"] == pytest.approx(ratios, rel=1e-12)
        assert overall["intervals"]["80"]["coverage"]["values"] == pytest.approx(coverage, abs=1e-12)
        # A fold counts as beaten when the seed-mean MAE is below naive's MAE on that fold.
        ahead = []
        for o in origins:
            runs = [records[o, cell, s] for s in (42, 43)]
            actual, previous = closes_on(prices_csv, runs[0]["dates"])
            naive = np.mean(np.abs(actual - previous))
            ahead.append(np.mean([np.mean(np.abs(actual - r["point"])) for r in runs]) < naive)
        assert overall["folds_beating_naive"] == np.mean(ahead)
        k, name = sum(ahead), cell.upper()
        expected = (f"{name} was behind naive in every one of the 2 folds." if k == 0 else
                    f"{name} was ahead of naive in every one of the 2 folds." if k == 2 else
                    f"{name} was ahead of naive in 1 of 2 folds.")
        assert expected in record["verdict"]
        for f, o in zip(record["folds"], origins, strict=True):
            assert f["test"]["first"] == o and f[cell]["beats_naive"] == ahead[origins.index(o)]
    _, actual, _, previous = concatenated(out, "gru", 42, prices_csv)
    naive_mae = np.mean(np.abs(actual - previous))
    assert record["overall"]["naive"]["mae"] == pytest.approx(naive_mae, rel=1e-12)


def test_chart_inputs_per_fold(serial, prices_csv):
    from forecast import report_backtest

    cfg = tiny_config(prices_csv, serial[0])
    result = backtest.backtest(cfg, BacktestSettings(seeds=SEEDS, folds=FOLDS, step=STEP))  # all read back
    assert result.trained == 0
    inputs = report_backtest.backtest_chart_inputs(result)
    records = task_records(serial[0])
    origins = sorted({o for o, _, _ in records})
    assert inputs["fold_starts"] == origins
    assert [pd.Timestamp(o) + pd.Timedelta(days=STEP - 1) for o in origins] == list(pd.DatetimeIndex(inputs["fold_ends"]))
    for cell in ("gru", "lstm"):
        ratios = []
        for o in origins:
            actual, previous = closes_on(prices_csv, records[o, cell, 42]["dates"])
            ratios.append([np.mean(np.abs(actual - records[o, cell, s]["point"])) / np.mean(np.abs(actual - previous))
                           for s in (42, 43)])
        assert inputs["ratio"][cell.upper()] == pytest.approx([np.mean(r) for r in ratios], rel=1e-12)
        assert inputs["ratio_low"][cell.upper()] == pytest.approx([min(r) for r in ratios], rel=1e-12)
        assert inputs["ratio_high"][cell.upper()] == pytest.approx([max(r) for r in ratios], rel=1e-12)
        _, actual, p42, previous = concatenated(serial[0], cell, 42, prices_csv)
        p43 = concatenated(serial[0], cell, 43, prices_csv)[2]
        excess = np.cumsum((np.abs(actual - p42) + np.abs(actual - p43)) / 2 - np.abs(actual - previous))
        assert inputs["excess"][cell.upper()] == pytest.approx(excess, rel=1e-9, abs=1e-6)


# --- serial == Ray ------------------------------------------------------------------------------

@pytest.mark.slow
def test_ray_gives_exactly_the_serial_numbers(serial, monkeypatch, prices_csv, tmp_path):
    """The same tiny backtest on a local Ray with 2 workers (tasks finish out of order there):
    every metric and every task's forecast identical to the serial run's."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(out),
                                    "--workers", "2"])
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[0] == "INFO: Ray: local, 2 CPUs for 8 tasks"
    assert len(lines) == 1 + TASKS and all(line.startswith("INFO: [") for line in lines[1:])  # nothing from Ray
    record = json.loads((out / "backtest.json").read_text())
    assert record["engine"]["name"] == "ray" and record["engine"]["workers"] == 2
    assert record["engine"]["versions"]["ray"]
    assert metrics_only(record) == metrics_only(json.loads(stdout_of(serial[0])))
    timing = ("train_seconds", "content_sha256")  # the hash seals the training time too
    strip = lambda r: {k: v for k, v in r.items() if k not in timing}  # noqa: E731
    assert {k: strip(r) for k, r in task_records(out).items()} == \
           {k: strip(r) for k, r in task_records(serial[0]).items()}


def synthetic_result(dates, actual, previous, point) -> backtest.TaskResult:
    actual, previous, point = (np.asarray(v, dtype="float64") for v in (actual, previous, point))
    return backtest.TaskResult(
        cell="x", seed=0, actual=actual,
        forecast=metrics.Forecast(dates=dates, point=point, previous=previous, volatility=np.zeros(len(dates)),
                                   bands={80.0: (point * 0.9, point * 1.1)},
                                   naive_bands={80.0: (previous * 0.9, previous * 1.1)}),
        epochs_run=1, best_epoch=1, train_seconds=0.0)


def test_aggregate_by_hand():
    """Two folds of 3 days, naive 10 USD off every day. Fold 1: GRU 5 (seed 42) and 20 (43) off,
    LSTM 2 and 4; fold 2: GRU 0 and 5, LSTM 30 and 15. Seed-mean MAE ratios: GRU 1.25, 0.25;
    LSTM 0.3, 2.25: each beats naive in one fold of two, though GRU's seed 42 alone beats it in both."""
    folds = make_folds(pd.date_range("2024-01-01", periods=40), BacktestSettings(folds=2, step=3))
    points = {("gru", 42): (95, 200), ("gru", 43): (80, 205), ("lstm", 42): (102, 230), ("lstm", 43): (104, 215)}
    results = {}
    for f in folds:
        actual, previous = (100, 90) if f.index == 0 else (200, 190)
        for (cell, seed), p in points.items():
            results[f.index, cell, seed] = synthetic_result(pd.date_range(f.test.first, periods=3), [actual] * 3,
                                                            [previous] * 3, [p[f.index]] * 3)
    a = backtest.aggregate(folds, (42, 43), results)
    fold_results, cells, naive, dm, dm_by_seed, actual, previous = (
        a.folds, a.cells, a.naive, a.dm, a.dm_by_seed, a.actual, a.previous)
    assert [fr.beats_naive("gru") for fr in fold_results] == [False, True]
    assert [fr.beats_naive("lstm") for fr in fold_results] == [True, False]
    assert fold_results[0].cells["gru"].spread("mae_ratio_vs_naive").values == (0.5, 2.0)
    assert (cells["gru"].folds_beating_naive, cells["gru"].folds_beating_naive_by_seed) == (0.5, (1.0, 0.5))
    assert (cells["lstm"].folds_beating_naive, cells["lstm"].folds_beating_naive_by_seed) == (0.5, (0.5, 0.5))
    # All six days: GRU 2.5 and 12.5 USD MAE, LSTM 16 and 9.5; naive 10.
    assert naive.naive.mae == 10 and actual.tolist() == [100] * 3 + [200] * 3 and previous.tolist() == [90] * 3 + [190] * 3
    assert cells["gru"].spread("mae").values == (2.5, 12.5) and cells["lstm"].spread("mae").values == (16, 9.5)
    assert cells["gru"].spread("mae_ratio_vs_naive").values == (0.25, 1.25)
    assert cells["gru"].spread("rmse").values == pytest.approx((12.5 ** 0.5, (1275 / 6) ** 0.5))
    # 80% band = point +-10%: GRU seed 43 misses 100 on fold 1 (72..88); LSTM seed 42 misses 200 on
    # fold 2 (207..253); every other band holds its day.
    assert [cells["gru"].interval(80.0, "coverage").values, cells["lstm"].interval(80.0, "coverage").values] == [
        (1.0, 0.5), (0.5, 1.0)]
    assert cells["gru"].excess.tolist() == [2.5, 5, 7.5, 0, -7.5, -15]
    gru, lstm = np.array([95] * 3 + [200] * 3), np.array([102] * 3 + [230] * 3)
    assert dm == {"gru_vs_lstm": metrics.diebold_mariano(actual, gru, lstm),
                  "gru_vs_naive": metrics.diebold_mariano(actual, gru, previous),
                  "lstm_vs_naive": metrics.diebold_mariano(actual, lstm, previous)}
    assert dm_by_seed[42] == dm and dm_by_seed[43]["gru_vs_lstm"] == metrics.diebold_mariano(
        actual, np.array([80] * 3 + [205] * 3), np.array([104] * 3 + [215] * 3))
