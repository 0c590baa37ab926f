"""backtest: the whole run through the CLI (its files, progress lines, usage errors), resume after a
killed run, and the aggregated numbers against hand computation from the task results
and the raw series."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from forecast import backtest, metrics
from forecast.__main__ import main
from forecast.backtest_plan import BacktestSettings, make_folds
from forecast.csv_source import load_csv

from .backtest_helpers import (FOLDS, SEEDS, STEP, TASKS, TINY, counting, metrics_only, run_cli, stdout_of,
                               task_files, task_records, tiny_config)


@pytest.fixture(scope="module")
def prices_csv(backtest_prices):
    return backtest_prices


@pytest.fixture(scope="module")
def serial(tiny_serial):
    """One uninterrupted tiny backtest through the CLI with --json (conftest), shared read-only."""
    return tiny_serial


# --- the CLI ---------------------------------------------------------------------------------

def test_json_is_the_only_stdout_and_the_three_files_are_written(serial):
    out, stdout, stderr = serial
    record = json.loads(stdout)  # exactly one JSON object, nothing else
    assert record == json.loads((out / "backtest.json").read_text())
    assert (out / "backtest.md").read_text().startswith("# Rolling-origin backtest")
    assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "intervals.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["backtest", "backtest.json", "backtest.md", "backtest.png",
                                                     "intervals.png"]
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
            "--seeds", "1", "--step", "6", "--first-test", "2021-05-22", "--no-jit-compile"]
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


def test_by_year_by_regime_and_power_through_the_cli(serial, prices_csv):
    """backtest.json keeps its keys in their order and adds by_year, by_regime and power; every grouping
    counts each of the 12 out-of-sample days once; the trend labels and the power, by hand from the
    price file and the task files; the markdown has both tables, the terminal text one power line."""
    from forecast import report_backtest

    out = serial[0]
    record = json.loads(stdout_of(out))
    assert list(record) == ["command", "data", "settings", "backtest", "engine", "tasks", "wall_seconds",
                            "train_seconds", "overall", "dm_test", "dm_test_by_seed", "folds", "verdict",
                            "by_year", "by_regime", "power", "interval_methods"]
    days = FOLDS * STEP
    years = record["by_year"]["groups"]
    assert sum(g["days"] for g in years.values()) == days and sum(g["folds"] for g in years.values()) == FOLDS
    trend, volatility = (record["by_regime"][k]["groups"] for k in ("trend", "volatility"))
    assert sum(g["days"] for g in trend.values()) == days
    assert {k: g["days"] for k, g in volatility.items()} == {"calm": 4, "middle": 4, "volatile": 4}
    dates, actual, gru, previous = concatenated(out, "gru", 42, prices_csv)
    close = load_csv(prices_csv).close
    at = close.index.get_indexer(pd.DatetimeIndex(dates))
    returns = np.log(close.to_numpy()[at - 1] / close.to_numpy()[at - 91])
    by_hand = {"bull": int((returns > 0.1).sum()), "sideways": int((np.abs(returns) <= 0.1).sum()),
               "bear": int((returns < -0.1).sum())}
    assert {k: g["days"] for k, g in trend.items()} == {k: n for k, n in by_hand.items() if n}
    lstm = concatenated(out, "lstm", 42, prices_csv)[2]
    sd = np.std(np.abs(actual - gru) - np.abs(actual - lstm), ddof=1)
    assert record["power"]["sd_usd"] == pytest.approx(sd, rel=1e-9)
    assert record["power"]["detectable_mae_difference_usd"] == pytest.approx(2.8015848 * sd / days ** 0.5, rel=1e-6)
    markdown = (out / "backtest.md").read_text()
    assert "## By year (mean ± std over seeds)" in markdown and "## By market regime (mean ± std over seeds)" in markdown
    result = backtest.backtest(tiny_config(prices_csv, out), BacktestSettings(seeds=SEEDS, folds=FOLDS, step=STEP))
    assert result.trained == 0
    power = [line for line in report_backtest.backtest_text(result).splitlines() if "could not be told apart" in line]
    assert power == [report_backtest.power_sentence(result)] and power[0] in markdown


# --- serial == Ray ------------------------------------------------------------------------------
# On a local Ray: test_backtest_warm (its chains of tasks, every task file and metric equal to serial);
# on a two-node cluster through --address: test_cluster (two coins, equal to serial per coin).


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
