"""backtest --refit warm: fold k of a (cell, seed) starts from fold k-1's trained weights. The first
fold equals the cold one, later ones differ and really start from the weights before them; task names
chain, cold names stay as they were; a resumed chain starts at its first unusable task from the weights
read back (checked by their sha256); and the engines' `after` hook that queues a chain's
next fold."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from forecast import backtest, backtest_task, engines, train
from forecast.__main__ import build_parser, main
from forecast.backtest_plan import REFITS, BacktestSettings, make_folds
from forecast.backtest_task import Trained, make_task, plan, weights_bytes, weights_from
from forecast.config import Config
from forecast.csv_source import load_csv
from forecast.errors import ConfigError

from .backtest_helpers import TINY, WINDOW, metrics_only, run_cli, stdout_of, task_records
from .conftest import REAL_CSV, random_walk
from .test_engines import FakeRay

WARM = [*TINY, "--refit", "warm"]   # 2 folds x 2 cells x 2 seeds: 4 chains of 2 tasks
RUN_LINK = backtest_task.run_link


@pytest.fixture(scope="module")
def prices_csv(backtest_prices):
    return backtest_prices


@pytest.fixture(scope="module")
def cold(tiny_serial):
    """The cold tiny backtest (conftest; seeds 42 and 43): its task files are the warm run's first fold."""
    return tiny_serial[0]


@pytest.fixture(scope="module")
def warm(prices_csv, tmp_path_factory):
    """One uninterrupted warm run, shared read-only, with the weights every fit started from recorded:
    its folder, its stderr and [(cell, seed, initial weights or None)] in call order."""
    out = tmp_path_factory.mktemp("warm") / "out"
    starts, fit = [], train.fit

    def recording(cfg, train_xy, val_xy=None, epochs=None, initial=None):
        starts.append((cfg.cell, cfg.seed, initial))
        return fit(cfg, train_xy, val_xy, epochs, initial=initial)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "fit", recording)
        code, _, stderr = run_cli(["backtest", "--csv", str(prices_csv), *WARM, "--out", str(out)])
    assert code == 0, stderr
    return out, stderr, starts


def tasks_of(out) -> dict:
    """(fold origin, cell, seed) -> (task file path, weights file path)."""
    found = {}
    for path in (out / "backtest" / "tasks").glob("*.json"):
        record = json.loads(path.read_text())
        found[record["dates"][0], record["cell"], record["seed"]] = (path, path.with_suffix(".weights.npz"))
    return found


TIMING = ("train_seconds", "content_sha256")  # the hash seals the training time too


def numbers(record: dict) -> dict:
    """A task file without its identity (name, key, weights hash) and its timing: what it forecast."""
    return {k: v for k, v in record.items() if k not in {*TIMING, "name", "key", "weights_sha256"}}


def strip_timing(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in TIMING}


def linking(monkeypatch):
    """Counts the warm trainings (where backtest() calls run_link), each by its task's name."""
    calls = []

    def run(cfg, close, table, data, link):
        calls.append(link.task.name)
        return RUN_LINK(cfg, close, table, data, link)

    monkeypatch.setattr(backtest, "run_link", run)
    return calls


FOLD_1, FOLD_2 = "2021-05-19", "2021-05-25"   # the tiny backtest's fold origins


# --- settings and names -------------------------------------------------------------------------

def test_refit_is_checked_and_the_cli_offers_the_same_names(capsys, prices_csv):
    assert REFITS == ("cold", "warm") and BacktestSettings().refit == "cold"
    with pytest.raises(ConfigError, match=r"^refit must be one of cold, warm, got 'hot'$"):
        BacktestSettings(refit="hot")
    assert [build_parser().parse_args(["backtest", *argv]).refit for argv in ([], ["--refit", "warm"])] == ["cold", "warm"]
    with pytest.raises(SystemExit) as e:
        main(["backtest", "--csv", str(prices_csv), "--refit", "bad"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == \
        "python -m forecast backtest: error: argument --refit: invalid choice: 'bad' (choose from 'cold', 'warm')"
    assert "(choose from 'cold', 'warm')" == f"(choose from {', '.join(map(repr, REFITS))})"  # the CLI's names are REFITS


# A task's name covers its settings, its fold's bounds and the bytes of the closes it reads, as the
# price file gives them. The series here is the embedded snapshot's first 125 days read from the CSV:
# a synthetic walk (30000 * exp(cumsum(...))) would differ in its last bits between CPUs, whose vector
# exp (numpy's AVX-512 code or not) rounds differently, and so would its hash (issue 31).
NAMES_SCRIPT = """
import sys
from forecast.backtest_plan import BacktestSettings, make_folds
from forecast.backtest_task import plan
from forecast.config import Config
from forecast.csv_source import load_csv
close = load_csv(sys.argv[1]).close.iloc[:125]
folds = make_folds(close.index[5:], BacktestSettings(folds=2, step=20))
print(" ".join(t.name for t in plan(Config(window=5, units=4), folds, (42, 43), close)))
"""
PINNED_NAMES = [
    "2014-12-11_gru_seed42_e2463af78023c2c3", "2014-12-11_gru_seed43_3cd5fbd6a7dabe67",
    "2014-12-11_lstm_seed42_2598b1254e34a005", "2014-12-11_lstm_seed43_bb25ab11b9738ffe",
    "2014-12-31_gru_seed42_ce4bfa9e6e6009ab", "2014-12-31_gru_seed43_f92f9d873bc93943",
    "2014-12-31_lstm_seed42_67a93517e10e8d0c", "2014-12-31_lstm_seed43_d2a35d10ea7424e3"]


def test_cold_task_names_are_the_ones_existing_task_files_carry():
    """Pinned: a cold task's key, and so its name, changes only with the task file's layout (schema 3,
    which keeps the validation days' forecasts, renamed every task once; warm refits did not)."""
    close = load_csv(REAL_CSV).close.iloc[:125]
    folds = make_folds(close.index[5:], BacktestSettings(folds=2, step=20))
    assert [t.name for t in plan(Config(window=5, units=4), folds, (42, 43), close)] == PINNED_NAMES
    assert [t.name for t in plan(Config(window=5, units=4), folds, (42, 43), close, "cold")] == PINNED_NAMES


@pytest.mark.parametrize("environment", [
    {},
    # numpy on the baseline x86-64 instructions only: no AVX2, no AVX-512 (a name must not follow the CPU)
    {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR", "PYTHONHASHSEED": "7"},
    {"TF_ENABLE_ONEDNN_OPTS": "0", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "12345"},
])
def test_task_names_are_the_same_in_a_fresh_process_whatever_its_environment(environment):
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "PYTHONHASHSEED")}
    done = subprocess.run([sys.executable, "-c", NAMES_SCRIPT, str(REAL_CSV)], env=env | environment,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == PINNED_NAMES


def test_a_warm_task_names_the_one_before_it():
    """Rolling 60-day folds: a close only the first fold reads leaves the second fold's cold task as it
    was, and changes its warm task (which starts from the first fold's weights)."""
    close = random_walk(120 + WINDOW, seed=1)
    cfg = Config(window=WINDOW, units=4)
    folds = make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20, train_days=60))
    tasks = plan(cfg, folds, (42, 43), close, "warm")
    first = {(t.cell, t.seed): t for t in tasks if t.fold.index == 0}
    for t in tasks:
        assert t.key["refit"] == "warm" and t.warm and t.chain == (t.cell, t.seed)
        assert t.key["after"] == (None if t.fold.index == 0 else first[t.cell, t.seed].name)
        cold = make_task(cfg, t.fold, t.cell, t.seed, close)
        assert {k: v for k, v in t.key.items() if k not in ("refit", "after")} == cold.key and not cold.warm
        assert t.name.startswith(f"{t.fold.test.first}_{t.cell}_seed{t.seed}_") and t.name != cold.name
    assert folds[1].split.train.start == 40   # target position 20 (close[25]) is read by the first fold only
    changed = close.copy()
    changed.iloc[WINDOW + 20] *= 1.01
    again = plan(cfg, folds, (42, 43), changed, "warm")
    assert all(a.name != b.name for a, b in zip(tasks, again))  # every fold of every chain
    assert [t.name for t in plan(cfg, folds[1:], (42,), changed)] == [t.name for t in plan(cfg, folds[1:], (42,), close)]


def test_weights_bytes_are_exact_and_the_same_for_the_same_weights():
    weights = [np.array([[0.1, -2.5e-8], [3.0, np.float32(1) / 3]], dtype="float32"), np.arange(3, dtype="float32")]
    data = weights_bytes(weights)
    back = weights_from(data)
    assert [w.dtype for w in back] == ["float32", "float32"] and [w.shape for w in back] == [(2, 2), (3,)]
    assert all(np.array_equal(a, b) for a, b in zip(back, weights))
    assert weights_bytes(back) == data   # no timestamp inside (np.savez writes the current time)
    assert data.startswith(b"PK")        # a zip: np.load reads it as an .npz


# --- the warm run ---------------------------------------------------------------------------------

def test_the_first_fold_is_the_cold_one_and_later_folds_differ(warm, cold):
    out, stderr, _ = warm
    lines = stderr.splitlines()
    assert len(lines) == 8 and all(line.startswith("INFO: [") for line in lines)
    warm_records, cold_records = task_records(out), task_records(cold)
    assert sorted(cold_records) == [(f, c, s) for f in (FOLD_1, FOLD_2) for c in ("gru", "lstm") for s in (42, 43)]
    for (origin, cell, seed), c in cold_records.items():
        w = warm_records[origin, cell, seed]
        if origin == FOLD_1:
            assert numbers(w) == numbers(c)
        else:
            assert w["point"] != c["point"]
        assert "weights_sha256" not in c and len(w["weights_sha256"]) == 64
    record = json.loads(stdout_of(out))
    assert record["backtest"]["refit"] == "warm" and "refit" not in json.loads(stdout_of(cold))["backtest"]
    assert ("each from the same cell and seed's weights trained on the fold before (warm; the first fold from "
            "fresh weights)") in (out / "backtest.md").read_text()
    assert "warm" not in (cold / "backtest.md").read_text()


def test_the_second_fold_starts_from_the_first_folds_weights(warm):
    """Serial order is fold by fold: four fresh starts, then each chain's second fold from exactly the
    weights its first fold's file holds (and whose sha256 its task file records)."""
    out, _, starts = warm
    files = tasks_of(out)
    assert [(cell, seed, initial is None) for cell, seed, initial in starts] == [
        ("gru", 42, True), ("gru", 43, True), ("lstm", 42, True), ("lstm", 43, True),
        ("gru", 42, False), ("gru", 43, False), ("lstm", 42, False), ("lstm", 43, False)]
    for cell, seed, initial in starts[4:]:
        path, weights = files[FOLD_1, cell, seed]
        saved = weights_from(weights.read_bytes())
        assert len(initial) == len(saved) and all(np.array_equal(a, b) for a, b in zip(initial, saved))
        assert json.loads(files[FOLD_2, cell, seed][0].read_text())["key"]["after"] == path.stem


def test_resume_mid_chain_trains_from_the_weights_read_back(warm, monkeypatch, prices_csv, tmp_path):
    """A chain stopped after its first fold resumes at the second, from the first fold's weights file;
    a chain whose first task file is gone starts again there, its second fold trained again too. Every
    file ends as the uninterrupted run's: the weights byte for byte, the task files but for the time."""
    out = tmp_path / "out"
    shutil.copytree(warm[0], out)
    files = tasks_of(out)
    for path in files[FOLD_2, "gru", 43]:
        path.unlink()
    files[FOLD_1, "lstm", 42][0].unlink()   # its weights file stays, without a task file to vouch for it
    calls = linking(monkeypatch)
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *WARM, "--out", str(out), "--json"])
    assert code == 0
    assert stderr.splitlines()[0] == f"INFO: resuming: 5 of 8 tasks already finished in {out / 'backtest' / 'tasks'}"
    assert calls == [files[k][0].stem for k in ((FOLD_2, "gru", 43), (FOLD_1, "lstm", 42), (FOLD_2, "lstm", 42))]
    clean = tasks_of(warm[0])
    for k, (path, weights) in tasks_of(out).items():
        assert weights.read_bytes() == clean[k][1].read_bytes()
        if path.stem in calls:
            assert strip_timing(json.loads(path.read_text())) == strip_timing(json.loads(clean[k][0].read_text()))
        else:
            assert path.read_bytes() == clean[k][0].read_bytes()
    assert metrics_only(json.loads(stdout)) == metrics_only(json.loads(stdout_of(warm[0])))


def test_an_altered_or_missing_weights_file_trains_its_task_and_the_rest_of_its_chain(warm, monkeypatch, capsys,
                                                                                      prices_csv, tmp_path):
    """A first fold's weights changed (a valid file, other numbers): it and its chain's second fold are
    trained again; a last fold's weights gone: that task alone. One warning line each."""
    out = tmp_path / "out"
    shutil.copytree(warm[0], out)
    files = tasks_of(out)
    altered, missing = files[FOLD_1, "gru", 42][1], files[FOLD_2, "lstm", 43][1]
    weights = weights_from(altered.read_bytes())
    weights[0] = weights[0] * 1.5
    altered.write_bytes(weights_bytes(weights))
    missing.unlink()
    calls = linking(monkeypatch)
    assert main(["backtest", "--csv", str(prices_csv), *WARM, "--out", str(out), "--quiet"]) == 0
    again = "training its task and the later ones of its chain again"
    assert capsys.readouterr().err == (f"WARNING: weights file {altered} failed its check (sha256 mismatch); {again}\n"
                                       f"WARNING: weights file {missing} failed its check (missing); {again}\n")
    assert calls == [files[k][0].stem for k in ((FOLD_1, "gru", 42), (FOLD_2, "lstm", 43), (FOLD_2, "gru", 42))]
    clean = tasks_of(warm[0])
    assert all(w.read_bytes() == clean[k][1].read_bytes() for k, (_, w) in tasks_of(out).items())
    assert metrics_only(json.loads(stdout_of(out))) == metrics_only(json.loads(stdout_of(warm[0])))


def test_a_warm_task_file_without_its_weights_hash_is_trained_again(warm, monkeypatch, capsys, prices_csv, tmp_path):
    """The hash of the weights dropped and the file resealed: it fails its check (replayed, no training)."""
    out = tmp_path / "out"
    shutil.copytree(warm[0], out)
    path = tasks_of(out)[FOLD_2, "gru", 43][0]
    record = json.loads(path.read_text())
    del record["weights_sha256"]
    record["content_sha256"] = backtest_task.content_sha256(record)
    path.write_text(json.dumps(record))
    calls = []

    def replay(cfg, close, table, data, link):
        calls.append(link.task.name)
        clean = warm[0] / "backtest" / "tasks" / link.task.name
        return Trained(json.loads(clean.with_suffix(".json").read_text()),
                       clean.with_suffix(".weights.npz").read_bytes())

    monkeypatch.setattr(backtest, "run_link", replay)
    assert main(["backtest", "--csv", str(prices_csv), *WARM, "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == (f"WARNING: task file {path} failed its check (no sha256 of its weights); "
                                       "training it again\n")
    assert calls == [path.stem]


# --- serial == Ray: test_cluster.test_warm_chains_on_the_cluster_give_exactly_the_serial_files ------


# --- the engines' after hook ------------------------------------------------------------------------

def doubled(item: int) -> int:
    return 2 * item


def then(item: int, result: int) -> list[int]:
    """After item i (below 4): i + 10 and i + 20 wait for it; after those, nothing."""
    return [item + 10, item + 20] if item < 4 else []


def test_run_serial_queues_what_after_gives_at_the_end():
    done = list(engines.run_serial(doubled, (), [1, 2], str, then))
    assert done == [(1, 2), (2, 4), (11, 22), (21, 42), (12, 24), (22, 44)]
    assert list(engines.run_serial(doubled, (), [1, 2], str)) == [(1, 2), (2, 4)]


def test_run_ray_submits_what_after_gives_once_its_item_is_done():
    """The fake Ray runs a call when it is submitted: a follow-up that ran before its item had
    finished would come back before it."""
    ray = FakeRay()
    done = list(engines.run_ray(ray, 1, doubled, (), [1, 2, 3], str, then))
    assert sorted(done) == sorted((i, 2 * i) for i in (1, 2, 3, 11, 21, 12, 22, 13, 23))
    order = [item for item, _ in done]
    assert all(order.index(i) < order.index(i + 10) and order.index(i) < order.index(i + 20) for i in (1, 2, 3))
    assert ray.in_flight_max == engines.IN_FLIGHT_PER_CPU
