"""A backtest over several training windows (repeated --train-days): one run per window, each the
one-window run's own tasks and numbers, the table across coins and windows, the sentences on what
more history changed, and the CLI's rules."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from forecast import backtest, report_windows
from forecast.backtest import WindowsBacktest
from forecast.backtest_plan import BacktestSettings
from forecast.errors import ConfigError

from .backtest_helpers import FOLDS, ONE_SEED, STEP, metrics_only, run_cli, tiny_config
from .test_backtest_coins import _usage_error

WINDOW_TASKS = FOLDS * 2   # per window: folds x cells x one seed


@pytest.fixture(scope="module")
def prices_csv(backtest_prices):
    return backtest_prices


@pytest.fixture(scope="module")
def windows_run(prices_csv, tiny_serial, tmp_path_factory):
    """Over the tiny serial backtest's folder (conftest: expanding, seeds 42 and 43), one seed under two
    windows: its expanding tasks of seed 42 are read back, the 30-day ones trained. Expanding given
    first, rolling 30 days second: the report puts the shorter window first."""
    out = tmp_path_factory.mktemp("windows") / "out"
    shutil.copytree(tiny_serial[0] / "backtest", out / "backtest")
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *ONE_SEED, "--train-days", "all",
                                    "--train-days", "30", "--out", str(out), "--json"])
    assert code == 0, stderr
    return out, json.loads(stdout), stderr


def test_files_tasks_and_progress(windows_run):
    out, record, stderr = windows_run
    assert record == json.loads((out / "backtest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [
        "backtest", "backtest-30d.png", "backtest-expanding.png", "backtest.json", "backtest.md", "backtest.png"]
    assert len(list((out / "backtest" / "tasks").glob("*.json"))) == 3 * WINDOW_TASKS   # and seed 43's expanding
    assert record["coins"] == ["prices"] and record["windows"] == ["30d", "expanding"]
    assert record["tasks"] == {"total": 2 * WINDOW_TASKS, "trained": WINDOW_TASKS, "read_back": WINDOW_TASKS}
    tasks = out / "backtest" / "tasks"
    assert stderr.splitlines()[0] == f"INFO: resuming expanding: 4 of 4 tasks already finished in {tasks}"
    progress = [line for line in stderr.splitlines() if line.startswith("INFO: [")]
    assert [line.split(":")[1].strip() for line in progress] == [f"[{k}/8] rolling 30 days" for k in range(5, 9)]
    runs = record["runs"]["prices"]
    assert [runs[w]["backtest"]["train_days"] for w in ("30d", "expanding")] == [30, None]
    before = {w: runs[w]["folds"][0]["train"]["days"] + runs[w]["folds"][0]["val"]["days"] for w in runs}
    assert before["30d"] == 30 and before["expanding"] > 30   # training and validation days before the origin
    assert runs["30d"]["folds"][0]["test"] == runs["expanding"]["folds"][0]["test"]


@pytest.mark.parametrize("window, argv", [("30d", ["--train-days", "30"]), ("expanding", [])])
def test_each_window_is_the_one_window_run(windows_run, prices_csv, tmp_path, window, argv):
    """A one-window run over the same task files trains nothing and reports that window's numbers."""
    out, record, _ = windows_run
    alone = tmp_path / "alone"
    shutil.copytree(out / "backtest", alone / "backtest")
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *ONE_SEED, *argv, "--out", str(alone),
                                    "--json", "--quiet"])
    assert (code, stderr) == (0, "")
    single = json.loads(stdout)
    assert single["tasks"]["trained"] == 0
    assert metrics_only(single) == metrics_only({**record["runs"]["prices"][window], "command": None})


def test_resume_trains_only_the_missing_task(windows_run, prices_csv, tmp_path):
    out, record, _ = windows_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    runs = record["runs"]["prices"]
    fold = runs["expanding"]["folds"][1]
    # both windows have a task on this fold's days: the expanding one is the one trained from the first day on
    missing = [p for p in (copy / "backtest" / "tasks").glob(f"{fold['test']['first']}_lstm_seed42_*.json")
               if json.loads(p.read_text())["key"]["fold"]["train"][0] == fold["train"]["first"]]
    assert len(missing) == 1
    missing[0].unlink()
    code, stdout, stderr = run_cli(["backtest", "--csv", str(prices_csv), *ONE_SEED, "--train-days", "30",
                                    "--train-days", "all", "--out", str(copy), "--json"])
    assert code == 0, stderr
    tasks = copy / "backtest" / "tasks"
    assert stderr.splitlines()[:2] == [f"INFO: resuming rolling 30 days: 4 of 4 tasks already finished in {tasks}",
                                       f"INFO: resuming expanding: 3 of 4 tasks already finished in {tasks}"]
    again = json.loads(stdout)
    assert again["tasks"] == {"total": 8, "trained": 1, "read_back": 7}
    assert (tasks / missing[0].name).is_file()
    for w in ("30d", "expanding"):
        assert metrics_only(again["runs"]["prices"][w]) == metrics_only(runs[w])


def test_the_table_is_each_runs_numbers(windows_run):
    out, record, _ = windows_run
    for w, row in record["summary"]["rows"]["prices"].items():
        overall = record["runs"]["prices"][w]["overall"]
        gru, lstm = (overall[c]["mae_ratio_vs_naive"]["mean"] for c in ("gru", "lstm"))
        assert (row["gru_mae_ratio_vs_naive"], row["lstm_mae_ratio_vs_naive"]) == (gru, lstm)
        assert row["lstm_minus_gru"] == lstm - gru
        assert row["mean_epochs"]["gru"] == np.mean([e for f in record["runs"]["prices"][w]["folds"]
                                                     for e in f["gru"]["epochs_run"]])
    markdown = (out / "backtest.md").read_text()
    assert markdown.startswith("# Rolling-origin backtest over training windows: GRU vs LSTM vs naive, next-day close\n")
    assert markdown.count("Made by `") == 1
    rows = [line for line in markdown.splitlines() if line.startswith("| prices |")]
    assert [r.split(" | ")[1] for r in rows] == ["rolling 30 days", "expanding"]
    assert "\n## rolling 30 days\n\nData: " in markdown and "\n## expanding\n\nData: " in markdown
    assert markdown.index("\n## rolling 30 days\n") < markdown.index("\n## expanding\n")
    assert markdown.count(f"\n### All {FOLDS * STEP} out-of-sample days together\n") == 2


# --- what more history changed, by hand ----------------------------------------------------------

def _run(gru: float, lstm: float, p_between: float):
    """What history_sentences reads of a Backtest: seed-mean MAE ratios, the GRU-vs-LSTM DM p-value."""
    def cell(ratio):
        return SimpleNamespace(spread={"mae_ratio_vs_naive": SimpleNamespace(mean=ratio)}.__getitem__)

    return SimpleNamespace(cells={"gru": cell(gru), "lstm": cell(lstm)},
                           dm={"gru_vs_lstm": SimpleNamespace(p_value=p_between)})


def test_history_sentences_by_hand():
    w = WindowsBacktest(runs={
        "A": {30: _run(1.010, 1.030, 0.01), None: _run(1.020, 1.015, 0.2)},
        "B": {30: _run(0.990, 0.995, 0.05), None: _run(0.980, 0.990, np.nan)},
        "C": {30: _run(1.0000, 1.0050, 0.5), None: _run(1.00261, 1.00760, 0.5)},
    }, command="", engine=None, wall_seconds=0.0, out=None)
    assert report_windows.history_sentences(w) == [
        # A: GRU 1.010 -> 1.020 (+0.0100), LSTM 1.030 -> 1.015 (-0.0150): LSTM's change is the lower
        "A: lowest MAE / naive for GRU with rolling 30 days (1.0100), for LSTM with expanding (1.0150). From "
        "rolling 30 days to expanding GRU's ratio changed by +0.0100 and LSTM's by -0.0150 (negative: lower error "
        "with more history): the longer history favoured LSTM more than GRU. LSTM's ratio minus GRU's: +0.0200 "
        "(rolling 30 days), -0.0050 (expanding).",
        # B: GRU 0.990 -> 0.980 (-0.0100), LSTM 0.995 -> 0.990 (-0.0050): both better, GRU more so
        "B: lowest MAE / naive for GRU with expanding (0.9800), for LSTM with expanding (0.9900). From rolling 30 "
        "days to expanding GRU's ratio changed by -0.0100 and LSTM's by -0.0050 (negative: lower error with more "
        "history): the longer history did not favour LSTM more than GRU. LSTM's ratio minus GRU's: +0.0050 "
        "(rolling 30 days), +0.0100 (expanding).",
        # C: GRU +0.00261, LSTM +0.00260: LSTM's change is the lower by 0.00001, the same as printed
        "C: lowest MAE / naive for GRU with rolling 30 days (1.0000), for LSTM with rolling 30 days (1.0050). From "
        "rolling 30 days to expanding GRU's ratio changed by +0.0026 and LSTM's by +0.0026 (negative: lower error "
        "with more history): the longer history changed both by the same amount. LSTM's ratio minus GRU's: +0.0050 "
        "(rolling 30 days), +0.0050 (expanding).",
        # 30 days: A 1.010 < 1.030, B 0.990 < 0.995, C; expanding: B and C (1.020 > 1.015 on A)
        "GRU's MAE below LSTM's: rolling 30 days on 3 of 3 coins; expanding on 2 of 3 coins.",
        # p < 0.05: A's 0.01 only (0.05 is not below 0.05, NaN never)
        "Diebold-Mariano GRU vs LSTM significant at 5% (first seed): rolling 30 days on 1 of 3 coins; "
        "expanding on 0 of 3 coins.",
    ]


# --- several coins -------------------------------------------------------------------------------

def test_several_coins_under_several_windows(coins_run, coin_files, tmp_path):
    """Over test_backtest_coins' folder, its last fold under two windows: the expanding tasks are that
    run's (read back), the 30-day ones trained. Coin "small-usd" is coin "BIG" times 2**-15: under
    every window the same ratios."""
    out = tmp_path / "out"
    shutil.copytree(coins_run[0] / "backtest", out / "backtest")
    big, small = coin_files
    code, stdout, stderr = run_cli(["backtest", "--csv", f"BIG={big}", "--csv", str(small), *ONE_SEED,
                                    "--folds", "1", "--train-days", "30", "--train-days", "all", "--out", str(out),
                                    "--json"])
    assert code == 0, stderr
    record = json.loads(stdout)
    assert record["tasks"] == {"total": 8, "trained": 4, "read_back": 4}
    assert sorted(p.name for p in out.iterdir()) == [
        "backtest", "backtest-BIG-30d.png", "backtest-BIG-expanding.png", "backtest-small-usd-30d.png",
        "backtest-small-usd-expanding.png", "backtest.json", "backtest.md", "backtest.png"]
    for name in ("BIG", "small-usd"):
        assert len(list((out / "backtest" / "tasks" / name).glob("*.json"))) == 2 * 2 + 2   # and the coins run's first fold
    progress = [line.split(":")[1].strip() for line in stderr.splitlines() if line.startswith("INFO: [")]
    assert progress == ["[5/8] BIG, rolling 30 days", "[6/8] BIG, rolling 30 days",
                        "[7/8] small-usd, rolling 30 days", "[8/8] small-usd, rolling 30 days"]
    rows = record["summary"]["rows"]
    for w in ("30d", "expanding"):
        for cell in ("gru", "lstm"):
            assert rows["small-usd"][w][f"{cell}_mae_ratio_vs_naive"] == rows["BIG"][w][f"{cell}_mae_ratio_vs_naive"]
    verdict = record["summary"]["verdict"]
    assert [line.split(":")[0] for line in verdict] == ["BIG", "small-usd", "GRU's MAE below LSTM's",
                                                        "Diebold-Mariano GRU vs LSTM significant at 5% (first seed)"]
    markdown = (out / "backtest.md").read_text()
    sections = ["\n## BIG, rolling 30 days\n", "\n## BIG, expanding\n", "\n## small-usd, rolling 30 days\n",
                "\n## small-usd, expanding\n"]
    assert all(s in markdown for s in sections)
    assert sorted(sections, key=markdown.index) == sections


# --- settings and the CLI ------------------------------------------------------------------------

def test_windows_run_shortest_first_and_expanding_last():
    s = BacktestSettings(seeds=1, folds=2, windows=(None, 365, 30))
    assert [w.train_days for w in s.per_window()] == [30, 365, None]
    assert all(w.windows == () for w in s.per_window())


@pytest.mark.parametrize("changes, message", [
    ({"windows": (30,)}, "windows must be a tuple of at least 2 training windows, got (30,)"),
    ({"windows": (30, None), "train_days": 30}, "give train_days or windows, not both"),
    ({"windows": (30, 5)}, "train_days must be a whole number of at least 6, got 5"),
    ({"windows": (365, None, 365)}, "training window rolling 365 days is given twice"),
    ({"windows": (None, 30, None)}, "training window expanding is given twice"),
])
def test_bad_windows_are_refused(changes, message):
    with pytest.raises(ConfigError) as info:
        BacktestSettings(seeds=1, folds=2, **changes)
    assert str(info.value) == message


@pytest.mark.parametrize("argv, message", [
    (["--train-days", "365", "--train-days", "365"],
     "python -m forecast: error: training window rolling 365 days is given twice"),
    (["--train-days", "all", "--train-days", "all"], "python -m forecast: error: training window expanding is given twice"),
    (["--train-days", "a year"], "python -m forecast backtest: error: argument --train-days: not an integer: 'a year'"),
    (["--train-days", "0"], "python -m forecast backtest: error: argument --train-days: must be at least 1, got 0"),
])
def test_bad_train_days_are_usage_errors(argv, message):
    code, stdout, stderr = _usage_error(["backtest", "--csv", "x.csv", *argv])
    assert code == 2 and stdout == ""
    assert stderr.splitlines()[-1] == message


def test_one_window_is_not_a_windows_run(prices_csv, tmp_path):
    with pytest.raises(ConfigError, match=r"^a backtest over training windows needs at least 2 of them, got 0$"):
        backtest.backtest_windows(tiny_config(prices_csv, tmp_path), BacktestSettings(seeds=1, folds=FOLDS, step=STEP),
                                  {"prices": None})
