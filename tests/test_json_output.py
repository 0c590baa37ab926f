"""--json means one thing in every command: exactly one JSON object on stdout, and everything else
(the text the command prints without --json, progress, notes, Keras' progress bars, warnings) on
stderr; --quiet silences stderr but for warnings and errors.

capfd captures the file descriptors as well as sys.stdout, so a library writing straight to fd 1
would show up here as well. Settings are tiny: the numbers mean nothing, the channels do.
"""

import json
import shutil

import pytest

from forecast.__main__ import build_parser, config_from_args, main
from tests.conftest import COMPARE_TINY, go_offline, random_walk, write_yahoo_csv

TINY = ["--window", "5", "--units", "4", "--epochs", "1", "--batch-size", "16", "--no-jit-compile"]
WALK = random_walk(120)  # 2021-01-01..2021-04-30


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    return write_yahoo_csv(tmp_path_factory.mktemp("json") / "prices.csv", WALK)


@pytest.fixture(scope="module")
def saved(csv, tmp_path_factory):
    """A trained GRU run for predict and evaluate: its --out folder."""
    out = tmp_path_factory.mktemp("json-out")
    assert main(["train", "--csv", str(csv), *TINY, "--quiet", "--out", str(out)]) == 0
    return out


def run(capfd, *argv) -> tuple[int, dict, str]:
    """main(argv) -> (exit code, stdout parsed as ONE JSON object, stderr)."""
    capfd.readouterr()
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert out.endswith("}\n") and out.count("\n}\n") == 1, out  # one object, printed once
    return code, json.loads(out), err


def test_data(csv, capfd):
    code, record, err = run(capfd, "data", "--csv", csv, "--json")
    assert code == 0
    assert err.splitlines() == [f"source:     {csv}", "rows:       120", "first date: 2021-01-01",
                                "last date:  2021-04-30", f"last close: {WALK.iloc[-1]:,.2f} USD", "gaps:       none",
                                "inputs:     close,open,high,low,range,volume (--inputs)"]
    assert record == {"source": str(csv), "rows": 120, "first_date": "2021-01-01", "last_date": "2021-04-30",
                      "last_close": pytest.approx(float(WALK.iloc[-1])),
                      "gaps": {"filled_days": 0, "runs": []}, "cache": None,
                      "inputs": ["close", "open", "high", "low", "range", "volume"], "unsupported_inputs": {}}
    code, again, err = run(capfd, "data", "--csv", csv, "--json", "--quiet")
    assert code == 0 and err == "" and again == record


def test_data_with_gaps_puts_the_note_on_stderr(tmp_path, capfd):
    # 2021-02-10 and 2021-02-11 (rows 40 and 41) left out: two days filled with the 2021-02-09 close.
    gappy = write_yahoo_csv(tmp_path / "gappy.csv", WALK.drop(WALK.index[40:42]))
    code, record, err = run(capfd, "data", "--csv", gappy, "--json")
    assert code == 0
    assert (record["rows"], record["gaps"]) == (120, {"filled_days": 2, "runs": [["2021-02-10", "2021-02-11"]]})
    gaps = "2 missing days filled with the previous close (2021-02-10..2021-02-11)"
    assert err.splitlines()[0] == f"WARNING: gaps: {gaps}" and err.splitlines()[-2] == f"gaps:       {gaps}"


def test_train_sends_keras_progress_to_stderr(csv, capfd, tmp_path):
    out = tmp_path / "out"
    code, record, err = run(capfd, "train", "--csv", csv, *TINY, "--out", out, "--json")
    assert code == 0
    # What Keras prints to sys.stdout (its epoch line: "6/6 - 1s - ... - loss: ... - val_loss: ...")
    # and the log line arrive on stderr.
    assert " - val_loss: " in err and "INFO: training GRU on 120 days from " in err
    assert err.splitlines()[-1] == f"  saved to {out / 'gru'}/"  # the summary train prints without --json
    metrics = json.loads((out / "gru" / "metrics.json").read_text())
    assert (record["cell"], record["saved_to"]) == ("gru", str(out / "gru"))
    assert {k: record[k] for k in metrics} == metrics  # metrics.json's content, all of it
    assert (metrics["split"], metrics["first_date"], metrics["last_date"]) == ("test", "2021-04-14", "2021-04-30")
    assert (record["epochs_run"], record["best_epoch"], record["refit_epochs"]) == (1, 1, None)


def test_train_json_quiet_leaves_stderr_empty_and_a_linked_run_folder_stays_a_link(csv, capfd, tmp_path):
    """--out/gru a symlink to a folder elsewhere: the run fills that folder; the link stays."""
    target, out = tmp_path / "runs" / "gru-today", tmp_path / "out"
    target.mkdir(parents=True)
    (target / "old.txt").write_text("the previous run")
    out.mkdir()
    (out / "gru").symlink_to(target)
    code, record, err = run(capfd, "train", "--csv", csv, *TINY, "--out", out, "--json", "--quiet")
    assert code == 0 and err == "" and record["saved_to"] == str(out / "gru")
    assert (out / "gru").is_symlink() and sorted(p.name for p in out.iterdir()) == ["gru"]
    assert {p.name for p in target.iterdir()} == {
        "model.keras", "model.json", "metrics.json", "forecast.png", "history.png"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["gru-today"]


def test_predict(csv, saved, capfd):
    code, record, err = run(capfd, "predict", "--csv", csv, "--out", saved, "--json")
    assert code == 0 and f"{csv}: next-day forecast by GRU" in err.splitlines()
    assert (record["cell"], record["last_date"], record["date"]) == ("gru", "2021-04-30", "2021-05-01")
    assert record["last_close"] == pytest.approx(float(WALK.iloc[-1]))


def test_evaluate(csv, saved, capfd):
    code, record, err = run(capfd, "evaluate", "--csv", csv, "--out", saved,
                            "--since", "2021-04-01", "--until", "2021-04-30", "--json")
    assert code == 0
    # The notes and the chart's path are not lost to --json: they are on stderr.
    lines = err.splitlines()
    assert lines[-1] == f"chart: {saved / 'reports' / 'evaluate_gru_2021-04-01_2021-04-30.png'}"
    assert "note: the range overlaps the days the model was trained or early-stopped on" in err
    assert (record["cell"], record["first_date"], record["last_date"], record["days"]) == (
        "gru", "2021-04-01", "2021-04-30", 30)
    assert {"mae", "rmse", "naive", "intervals", "model_saw_until"} <= set(record)


def test_compare(compared, capfd, tmp_path):
    """On a copy of the shared comparison, whose saved models it reuses, and with --calls 0 (no
    timing): the JSON on stdout, the progress on stderr."""
    cfg, _, _ = compared
    out = tmp_path / "out"
    shutil.copytree(cfg.out, out)
    args = [a for a in COMPARE_TINY if a != "--quiet"]
    code, record, err = run(capfd, "compare", "--csv", cfg.csv, *args, "--seeds", "2", "--calls", "0",
                            "--out", out, "--json")
    assert code == 0
    assert record == json.loads((out / "comparison.json").read_text())
    assert record["seeds"] == [42, 43] and set(record) >= {"gru", "lstm", "naive", "dm_test"}
    assert record["gru"]["reused_saved_model"] == [True, True]
    assert f"INFO: GRU seed 43: reusing {out / 'seeds' / 'gru-43'} (same data and settings)" in err
    assert "timing" not in err.lower() and record["timing"] is None
    for cell in ("gru", "lstm"):  # the timings are null, the accuracy and the parameters as when timed
        assert record[cell]["latency_ms"] is record[cell]["us_per_window_full_batch"] is None
        assert {k: record[cell][k] for k in ("mae", "params", "intervals")} == \
               {k: compared[2][cell][k] for k in ("mae", "params", "intervals")}
    assert err.splitlines()[-1] == f"written: {out / 'comparison.json'}, {out / 'comparison.md'}, {out / 'comparison.png'}"


def test_backtest(tiny_serial):
    """The shared tiny backtest (conftest), run through main() with --json: the record on stdout once,
    the progress and the summary backtest prints without --json on stderr."""
    out, stdout, err = tiny_serial
    assert stdout.endswith("}\n") and stdout.count("\n}\n") == 1, stdout  # one object, printed once
    record = json.loads(stdout)
    assert record == json.loads((out / "backtest.json").read_text())
    assert record["tasks"]["total"] == 2 * 2 * 2
    assert "INFO: [8/8] " in err  # the progress line of the last of the 8 tasks
    # 2 folds of 6 days, the last 12 of 2021-01-01..2021-05-30.
    assert "backtest: 2 folds, 2021-05-19..2021-05-30 (12 days), 2 seeds per cell; naive MAE " in err


def test_bench(capfd):
    code, record, err = run(capfd, "bench", "--window", "5", "--units", "4", "--calls", "2", "--batch", "8",
                            "--train-epochs", "0", "--train-rows", "64", "--json")
    assert code == 0
    assert record["settings"]["calls"] == 2 and record["settings"]["batch"] == 8
    assert record["gru"]["params"] < record["lstm"]["params"]
    assert "training" not in record   # --train-epochs 0
    assert "INFO: building fresh models: window 5, 4 units" in err
    assert "Inference of fresh models: window 5, 4 units" in err


@pytest.mark.parametrize("command", ["compare", "backtest"])
def test_seeds_past_the_largest_seed_are_a_usage_error(capfd, monkeypatch, command):
    go_offline(monkeypatch)  # refused before any prices are loaded; were it not, Yahoo stays untouched
    with pytest.raises(SystemExit) as info:
        main([command, "--seed", "4294967295", "--seeds", "3"])
    out, err = capfd.readouterr()
    assert info.value.code == 2 and out == ""
    assert err.splitlines() == ["usage: python -m forecast [-h] COMMAND ...",
                                "python -m forecast: error: --seed 4294967295 with --seeds 3 "
                                "needs seeds up to 4294967297; the largest is 4294967295"]


@pytest.mark.parametrize("command", ["compare", "backtest"])
def test_seeds_up_to_the_largest_seed_are_accepted(command):
    parser = build_parser()
    args = parser.parse_args([command, "--seed", "4294967293", "--seeds", "3"])  # 4294967293..4294967295
    assert config_from_args(args, parser).seed == 4294967293
