"""A multi-coin backtest (repeated --csv): per-coin task files, resume and serial == Ray per coin,
the summary across coins, prices of any size, and the CLI's naming rules. (Serial == Ray per coin:
test_cluster, on a two-node cluster.)

Coin "small" is coin "big" times 2**-15 (about 0.9 instead of 30,000, an XRP beside a BTC): with
window scaling the model sees log ratios, and multiplying by a power of two is exact in floating
point, so every forecast, error and ratio must come out exactly scaled (errors) or equal (ratios)."""

import contextlib
import io
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from forecast import backtest, plots_summary, report_backtest, report_coins
from forecast.__main__ import main
from forecast.backtest import CoinsSummary, coins_summary
from forecast.backtest_plan import BacktestSettings
from forecast.errors import ConfigError

from .backtest_helpers import FOLDS, ONE_SEED, STEP, metrics_only, run_cli, tiny_config
from .conftest import COIN_SCALE as SCALE

COIN_TASKS = FOLDS * 2   # per coin: folds x cells x one seed


# coin_files and coins_run: tests/conftest.py (session fixtures, test_backtest_windows reads them too)


def test_files_and_task_folders_per_coin(coins_run):
    out, record, stderr = coins_run
    assert record == json.loads((out / "backtest.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [
        "backtest", "backtest-BIG.png", "backtest-small-usd.png", "backtest.json", "backtest.md", "backtest.png"]
    for name in ("BIG", "small-usd"):
        assert len(list((out / "backtest" / "tasks" / name).glob("*.json"))) == COIN_TASKS
        assert record["by_coin"][name]["tasks"]["directory"] == str(out / "backtest" / "tasks" / name)
    assert record["coins"] == ["BIG", "small-usd"]
    assert record["tasks"] == {"total": 2 * COIN_TASKS, "trained": 2 * COIN_TASKS, "read_back": 0}
    progress = [line for line in stderr.splitlines() if line.startswith("INFO: [")]
    assert [line.split(":")[1].strip() for line in progress] == \
        ["[1/8] BIG", "[2/8] BIG", "[3/8] BIG", "[4/8] BIG",
         "[5/8] small-usd", "[6/8] small-usd", "[7/8] small-usd", "[8/8] small-usd"]


def test_a_coin_worth_2_to_the_minus_15_gets_the_same_ratios_and_scaled_errors(coins_run):
    _, record, _ = coins_run
    big, small = record["by_coin"]["BIG"]["overall"], record["by_coin"]["small-usd"]["overall"]
    for cell in ("gru", "lstm"):
        assert small[cell]["mae_ratio_vs_naive"] == big[cell]["mae_ratio_vs_naive"]
        assert small[cell]["mae"]["mean"] == big[cell]["mae"]["mean"] * SCALE
    assert small["naive"]["mae"] == big["naive"]["mae"] * SCALE
    assert record["by_coin"]["small-usd"]["dm_test"] == record["by_coin"]["BIG"]["dm_test"]


def test_each_coin_is_the_backtest_of_its_file_alone(coins_run, coin_files, tmp_path):
    """A single-coin run of BIG's file over BIG's task files reads every one back (same task names)
    and reports exactly BIG's numbers."""
    out, record, _ = coins_run
    alone = tmp_path / "alone"
    shutil.copytree(out / "backtest" / "tasks" / "BIG", alone / "backtest" / "tasks")
    code, stdout, stderr = run_cli(["backtest", "--csv", str(coin_files[0]), *ONE_SEED, "--out", str(alone),
                                    "--json", "--quiet"])
    assert (code, stderr) == (0, "")
    single = json.loads(stdout)
    assert single["tasks"]["trained"] == 0
    assert metrics_only(single) == metrics_only({**record["by_coin"]["BIG"], "command": None})


def test_resume_is_per_coin(coins_run, coin_files, tmp_path):
    out, record, _ = coins_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    next((copy / "backtest" / "tasks" / "small-usd").glob("*.json")).unlink()
    big, small = coin_files
    code, stdout, stderr = run_cli(["backtest", "--csv", f"BIG={big}", "--csv", str(small), *ONE_SEED,
                                    "--out", str(copy), "--json"])
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[:2] == [f"INFO: resuming BIG: 4 of 4 tasks already finished in {copy / 'backtest' / 'tasks' / 'BIG'}",
                         f"INFO: resuming small-usd: 3 of 4 tasks already finished in "
                         f"{copy / 'backtest' / 'tasks' / 'small-usd'}"]
    assert lines[2].startswith("INFO: [8/8] small-usd: fold ")
    again = json.loads(stdout)
    assert again["tasks"] == {"total": 8, "trained": 1, "read_back": 7}
    for name in ("BIG", "small-usd"):
        assert metrics_only(again["by_coin"][name]) == metrics_only(record["by_coin"][name])


# --- the summary ---------------------------------------------------------------------------------

def _coin(gru_mae, lstm_mae, naive_mae, p_between, p_gru, p_lstm):
    """What coins_summary reads of a Backtest: seed-mean MAE and MAE ratio per cell, DM p-values."""
    def cell(mae):
        spreads = {"mae": SimpleNamespace(mean=mae), "mae_ratio_vs_naive": SimpleNamespace(mean=mae / naive_mae)}
        return SimpleNamespace(spread=spreads.__getitem__)

    return SimpleNamespace(cells={"gru": cell(gru_mae), "lstm": cell(lstm_mae)},
                           dm={"gru_vs_lstm": SimpleNamespace(p_value=p_between),
                               "gru_vs_naive": SimpleNamespace(p_value=p_gru),
                               "lstm_vs_naive": SimpleNamespace(p_value=p_lstm)})


def test_summary_counts_coins_by_hand():
    coins = {
        "A": _coin(gru_mae=99.0, lstm_mae=101.0, naive_mae=100.0, p_between=0.01, p_gru=0.5, p_lstm=0.04),
        "B": _coin(gru_mae=2.1, lstm_mae=2.0, naive_mae=2.05, p_between=0.3, p_gru=0.049, p_lstm=0.05),
        "C": _coin(gru_mae=0.5, lstm_mae=0.6, naive_mae=0.4, p_between=np.nan, p_gru=0.9, p_lstm=0.001),
    }
    # GRU below LSTM: A (99 < 101), C (0.5 < 0.6); below naive: GRU on A only, LSTM on B only (2.0 < 2.05);
    # p < 0.05: between on A; GRU vs naive on B; LSTM vs naive on A and C (0.05 is not below 0.05, NaN never).
    assert coins_summary(coins) == CoinsSummary(coins=3, gru_below_lstm=2, below_naive={"gru": 1, "lstm": 1},
                                                dm_significant={"gru_vs_lstm": 1, "gru_vs_naive": 1,
                                                                "lstm_vs_naive": 2})


def test_the_report_has_one_summary_and_a_section_per_coin(coins_run):
    out, record, _ = coins_run
    markdown = (out / "backtest.md").read_text()
    assert markdown.startswith("# Rolling-origin backtest over 2 coins: GRU vs LSTM vs naive, next-day close\n")
    assert markdown.count("Made by `") == 1
    assert markdown.count("\nEngine: ") == 1   # the run's engine and wall time, once at the head
    for name in ("BIG", "small-usd"):
        seconds = record["by_coin"][name]["train_seconds"]
        assert (f"\nTrainings: {COIN_TASKS} of {COIN_TASKS} run now, 0 read back; {seconds:,.0f} s of training in "
                "all (each task's own measure). The engine and the wall time are the whole run's, at the head of "
                "the report.\n") in markdown.split(f"\n## {name}\n")[1]
    assert "\n## Summary across coins\n" in markdown
    assert "\n## BIG\n\nData: " in markdown and "\n## small-usd\n\nData: " in markdown
    assert markdown.count(f"\n### All {FOLDS * STEP} out-of-sample days together\n") == 2
    summary = record["summary"]
    assert summary["coins"] == 2 and set(summary["below_naive"]) == {"gru", "lstm"}
    assert "\n\n" + "\n".join(f"- {line}" for line in summary["verdict"]) + "\n\n## BIG\n" in markdown
    # small prices keep three significant digits: naive's MAE of ~0.0x is never "0.00"
    small = record["by_coin"]["small-usd"]["overall"]["naive"]["mae"]
    row = next(line for line in markdown.splitlines() if line.startswith("| small-usd |"))
    assert f" {small:.4f} |" in row or f" {small:.5f} |" in row


@pytest.mark.parametrize("argv, message", [
    (["--csv", "A="], "no file after the name in 'A='; expected PATH or NAME=PATH"),
    (["--csv", "my prices.csv"], "cannot name a coin by 'my prices.csv'; name it: NAME=PATH, "
                                 "NAME of letters, digits, '.', '_' and '-'"),
])
def test_bad_coin_files_are_usage_errors(argv, message):
    code, stdout, stderr = _usage_error(["backtest", *argv])
    assert code == 2 and stdout == ""
    assert stderr.splitlines()[-1] == f"python -m forecast backtest: error: argument --csv: {message}"


@pytest.mark.parametrize("argv", [["--csv", "A=x.csv", "--csv", "A=y.csv"], ["--csv", "A=x.csv", "--csv", "data/A.csv"]])
def test_a_coin_name_given_twice_is_a_usage_error(argv):
    code, stdout, stderr = _usage_error(["backtest", *argv])
    assert code == 2 and stdout == ""
    assert stderr.splitlines()[-1] == \
        "python -m forecast: error: coin name 'A' is given twice; name each file: --csv NAME=PATH"


def _usage_error(argv) -> tuple[int, str, str]:
    """main(argv) where argparse exits: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, out.getvalue(), err.getvalue()


def test_one_price_file_is_not_a_multi_coin_run(coin_files, tmp_path):
    with pytest.raises(ConfigError, match=r"^a multi-coin backtest needs at least 2 price files, got 1$"):
        backtest.backtest_coins(tiny_config(None, tmp_path), BacktestSettings(seeds=1, folds=FOLDS, step=STEP),
                                {"BIG": coin_files[0]})


def test_chart_inputs_are_per_coin_in_order(coins_run, coin_files, tmp_path):
    out, record, _ = coins_run
    result = backtest.backtest_coins(tiny_config(None, out), BacktestSettings(seeds=1, folds=FOLDS, step=STEP),
                                     {"BIG": coin_files[0], "small-usd": coin_files[1]})
    assert result.trained == 0
    inputs = report_coins.coins_chart_inputs(result)
    assert inputs["coins"] == ["BIG", "small-usd"] and inputs["seeds"] == 1
    for cell in ("gru", "lstm"):
        expected = [record["by_coin"][c]["overall"][cell]["mae_ratio_vs_naive"]["mean"] for c in ("BIG", "small-usd")]
        assert inputs["ratio"][cell.upper()] == expected
    fig = plots_summary.backtest_chart(**report_backtest.backtest_chart_inputs(result.coins["BIG"], "BIG"))
    assert fig._suptitle.get_text().startswith("walk-forward backtest of BIG: 2 folds of 6 days")
