"""A backtest over several sets of inputs (repeated --inputs): one run per set, each the one-set run's
own tasks and numbers, the DM tests between sets of the same cell and seed, the sentences, and the
CLI's rules."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from forecast import backtest, metrics, report_inputs
from forecast.backtest import InputsBacktest
from forecast.backtest_plan import BacktestSettings
from forecast.errors import ConfigError
from forecast.metrics import DMTest

from .backtest_helpers import FOLDS, STEP, TINY, metrics_only, run_cli, tiny_config
from .test_backtest_coins import _usage_error

SET_TASKS = FOLDS * 2 * 2   # per set of inputs: folds x cells x seeds 42 and 43
OTHER = "close,high,volume"


@pytest.fixture(scope="module")
def prices_csv(backtest_prices):
    return backtest_prices


@pytest.fixture(scope="module")
def inputs_run(prices_csv, tiny_serial, tmp_path_factory):
    """Over the tiny serial backtest's folder (conftest: the close alone, seeds 42 and 43), two sets of
    inputs: the close's tasks are read back, the close, high and volume's trained."""
    out = tmp_path_factory.mktemp("inputs") / "out"
    shutil.copytree(tiny_serial[0] / "backtest", out / "backtest")
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--inputs", "close",
                                    "--inputs", OTHER, "--out", str(out), "--json"])
    assert code == 0, stderr
    return out, json.loads(stdout), stderr


def test_files_tasks_and_progress(inputs_run):
    out, record, stderr = inputs_run
    assert record == json.loads((out / "backtest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [
        "backtest", "backtest-close+high+volume.png", "backtest-close.png", "backtest.json", "backtest.md",
        "backtest.png"]
    assert len(list((out / "backtest" / "tasks").glob("*.json"))) == 2 * SET_TASKS
    assert record["coins"] == ["prices"] and record["inputs"] == ["close", OTHER]
    assert record["tasks"] == {"total": 2 * SET_TASKS, "trained": SET_TASKS, "read_back": SET_TASKS}
    assert stderr.splitlines()[0] == (f"INFO: resuming inputs close: 8 of 8 tasks already finished in "
                                      f"{out / 'backtest' / 'tasks'}")
    progress = [line for line in stderr.splitlines() if line.startswith("INFO: [")]
    assert [line.split(":")[1].strip() for line in progress] == [f"[{k}/16] inputs {OTHER}" for k in range(9, 17)]
    runs = record["runs"]["prices"]
    assert runs[OTHER]["settings"]["inputs"] == ["close", "high", "volume"] and "inputs" not in runs["close"]["settings"]
    assert runs["close"]["folds"][0]["test"] == runs[OTHER]["folds"][0]["test"]  # the same days
    # The text (on stderr with --json) ends with what ran and what was written; each set's report names its inputs.
    assert stderr.splitlines()[-2].startswith("8 of 16 trainings run now (serial, 1 worker), wall time ")
    assert stderr.splitlines()[-1] == (f"written: {out / 'backtest.json'}, {out / 'backtest.md'}, {out / 'backtest.png'}, "
                                       f"{out / 'backtest-close.png'}, {out / 'backtest-close+high+volume.png'}")
    markdown = (out / "backtest.md").read_text()
    assert "inputs close, 4 units" in markdown and f"inputs {OTHER}, 4 units" in markdown


@pytest.mark.parametrize("inputs", ["close", OTHER])
def test_each_set_is_the_one_set_run(inputs_run, prices_csv, tmp_path, inputs):
    """A one-set run over the same task files trains nothing and reports that set's numbers."""
    out, record, _ = inputs_run
    alone = tmp_path / "alone"
    shutil.copytree(out / "backtest", alone / "backtest")
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *TINY, "--inputs", inputs,
                                    "--out", str(alone), "--json", "--quiet"])
    assert (code, stderr) == (0, "")
    single = json.loads(stdout)
    assert single["tasks"]["trained"] == 0
    assert metrics_only(single) == metrics_only({**record["runs"]["prices"][inputs], "command": None})


def test_the_dm_tests_pair_each_seed_with_itself(inputs_run, prices_csv):
    """DM of the other set against the close: per cell and seed, that seed's forecasts of both sets on
    the same days; a negative statistic when the other set's squared errors are smaller on average."""
    out, record, _ = inputs_run
    s = BacktestSettings(seeds=2, folds=FOLDS, step=STEP)
    r = backtest.backtest_inputs(tiny_config(prices_csv, out, patience=1), s, {"prices": None},
                                 [("close",), ("close", "high", "volume")], progress=lambda line: None)
    assert r.trained == 0
    base, other = r.runs["prices"][("close",)], r.runs["prices"][("close", "high", "volume")]
    for cell in ("gru", "lstm"):
        rows = record["summary"]["rows"]["prices"][OTHER][cell]["dm_vs_first_inputs_by_seed"]
        assert [row["seed"] for row in rows] == [42, 43]
        for k, row in enumerate(rows):
            theirs, ours = other.cells[cell].points[k], base.cells[cell].points[k]
            d = (base.actual - theirs) ** 2 - (base.actual - ours) ** 2   # (n,) loss differences
            assert np.sign(row["statistic"]) == np.sign(d.mean())
            assert row["p_value"] == metrics.diebold_mariano(base.actual, theirs, ours).p_value
        assert record["summary"]["rows"]["prices"]["close"][cell]["dm_vs_first_inputs_by_seed"] is None
    # Seeds are not mixed: seed 43's forecasts of the other set against seed 42's of the close give another test.
    mixed = metrics.diebold_mariano(base.actual, other.cells["gru"].points[1], base.cells["gru"].points[0])
    assert mixed.p_value != r.dm["prices"]["gru"][("close", "high", "volume")][1].p_value


def _stub(ratios: dict[str, float], naive_p: dict[str, float]) -> SimpleNamespace:
    """A Backtest as the report reads it: each cell's seed-mean MAE ratio and its DM test against naive."""
    return SimpleNamespace(
        cells={c: SimpleNamespace(spread=lambda what, v=v: SimpleNamespace(mean=v)) for c, v in ratios.items()},
        dm={f"{c}_vs_naive": DMTest(statistic=-1.0 if ratios[c] < 1 else 1.0, p_value=p, days=30)
            for c, p in naive_p.items()})


def test_the_verdict_by_hand():
    close, hl = ("close",), ("close", "high", "low")
    t = lambda s, p: DMTest(statistic=s, p_value=p, days=30)  # noqa: E731
    r = InputsBacktest(
        runs={"btc": {close: _stub({"gru": 1.0052, "lstm": 1.0089}, {"gru": 0.4, "lstm": 0.2}),
                      hl: _stub({"gru": 0.99996, "lstm": 1.0201}, {"gru": 0.03, "lstm": 0.5})}},
        dm={"btc": {"gru": {hl: (t(-2.5, 0.012), t(-1.0, 0.3), t(0.5, 0.6))},
                    "lstm": {hl: (t(3.1, 0.002), t(2.2, 0.04), t(1.0, 0.0004))}}},
        command="", engine=None, wall_seconds=0.0, out=Path("."))
    assert report_inputs.verdict(r) == [
        "btc, GRU: MAE / naive close 1.0052; close,high,low 1.0000 (DM against close, by seed: p 0.012 / 0.300 / "
        "0.600). Lowest: close,high,low.",
        "btc, LSTM: MAE / naive close 1.0089; close,high,low 1.0201 (DM against close, by seed: p 0.002 / 0.040 / "
        "< 0.001). Lowest: close.",
        "Against close, over 6 Diebold-Mariano tests (each coin, cell, seed and set of close,high,low): 1 found the "
        "other inputs more accurate at 5%, 3 less accurate: btc GRU close,high,low.",
        "Below naive's MAE (seed mean): btc GRU close,high,low (1.0000); of those, significantly better than naive "
        "by DM (first seed, 5%): btc GRU close,high,low.",
    ]


def test_refusals(prices_csv, tmp_path, capsys):
    s = BacktestSettings(seeds=1, folds=FOLDS, step=STEP)
    cfg = tiny_config(prices_csv, tmp_path)
    with pytest.raises(ConfigError) as e:
        backtest.backtest_inputs(cfg, s, {"prices": None}, [("close",)])
    assert str(e.value) == "a backtest over inputs needs at least 2 different sets of them, got close"
    with pytest.raises(ConfigError) as e:
        backtest.backtest_inputs(cfg, BacktestSettings(seeds=1, folds=FOLDS, step=STEP, windows=(30, None)),
                                 {"prices": None}, [("close",), ("close", "low")])
    assert str(e.value) == "compare several training windows or several sets of inputs in one run, not both"
    code, out, err = _usage_error(["backtest", "--csv", str(prices_csv), "--inputs", "low", "--inputs", "close,low"])
    assert (code, out) == (2, "") and err.splitlines()[-1].endswith("error: --inputs close,low is given twice")
    # A price file without a column an input reads: one line, exit 1, before any training.
    close_only = tmp_path / "close.csv"
    close_only.write_text("Date,Close\n" + "".join(
        f"{line.split(',')[0]},{line.split(',')[4]}\n" for line in prices_csv.read_text().splitlines()[1:]))
    code, out, err = run_cli(["backtest", "--csv", str(close_only), *TINY, "--inputs", "close", "--inputs", "volume",
                              "--out", str(tmp_path / "out")])
    assert (code, out, err) == (1, "", f"error: {close_only} cannot give the input 'volume': no 'Volume' column; "
                                       "it supports close\n")
    assert not (tmp_path / "out").exists()
