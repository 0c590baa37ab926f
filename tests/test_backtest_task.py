"""backtest_task: task names are a pure function of what the result depends on, the plan's order,
and task files checked before they are read back (a file that fails is trained again, and the closes
it is judged on come from the price file)."""

import hashlib
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from forecast import backtest
from forecast.__main__ import main
from forecast.backtest_plan import BacktestSettings, make_folds
from forecast.backtest_task import make_task, plan
from forecast.config import Config

from .backtest_helpers import WINDOW, counting, metrics_only, run_cli, stdout_of, task_records, write_prices
from .conftest import random_walk


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    return write_prices(tmp_path_factory)


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

    def run(cfg, close, table, data, task):
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
    (set_value(["point", 1], lambda v: 10**400), True, "point holds a value that is not a finite number"),
    (set_value(["intervals", "80", "model", "lower", 1], lambda v: math.nan), True,
     "the 80% model interval's lower holds a value that is not a finite number"),
    (set_value(["point"], lambda v: v[:2]), True, "point has 2 values, the fold has 3 days"),
    (shorten_all, True, "its dates are not the fold's days 2021-05-25..2021-05-27"),
    (set_value(["epochs_run"], lambda v: 5), True, "epochs 5 (best 1) outside 1..1"),
    (set_value(["seed"], lambda v: 43), True, "made by another task"),
    (set_value(["validation", "point", 0], lambda v: -v), True, "the validation point holds a forecast at or below zero"),
    (set_value(["validation", "point"], lambda v: v[1:]), True, "the validation point has 20 values, the fold has 21 validation days"),
    (set_value(["validation", "dates"], lambda v: v[1:] + ["2099-01-01"]), True, "its validation dates are not the fold's 2021-05-04..2021-05-24"),
    (set_value(["validation"], lambda v: None), True, "its validation dates are not the fold's 2021-05-04..2021-05-24"),
    (set_value(["validation", "point", 0], lambda v: v * 1.01), False, "content hash mismatch"),
], ids=["point", "upper", "point-resealed", "naive-band-resealed", "levels-not-nested", "dates-shifted",
        "level-dropped", "nan-point", "huge-point", "nan-lower", "point-shortened", "all-shortened", "epochs", "other-seed",
        "validation-negative", "validation-shortened", "validation-dates", "validation-missing", "validation-point"])
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
