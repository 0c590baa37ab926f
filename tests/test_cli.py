"""The command line end to end: happy paths, one-line errors (exit 1) and usage errors (exit 2)."""

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import keras
import pytest

from forecast import saved_model
from forecast.__main__ import main
from tests.conftest import go_offline, random_walk, write_yahoo_csv

CELLS = ["gru", "lstm"]
R = "retrain the model (python -m forecast train)"
SMALL = ["--window", "5", "--units", "4", "--epochs", "1", "--batch-size", "16", "--quiet", "--no-jit-compile"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`train` once per cell on a 120-day CSV (2021-01-01..2021-04-30); returns csv, out and outputs."""
    root = tmp_path_factory.mktemp("cli")
    csv = write_yahoo_csv(root / "prices.csv", random_walk(120))
    out = root / "out"
    printed = {}
    for cell in CELLS:
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            code = main(["train", "--cell", cell, "--csv", str(csv), *SMALL, "--out", str(out)])
        printed[cell] = (code, stdout.getvalue())
    return csv, out, printed


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(code, err, message):
    assert code == 1
    assert "Traceback" not in err
    assert err.splitlines() == [f"error: {message}"]


# --- happy paths ------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_train_prints_summary(runs, cell):
    csv, out, printed = runs
    code, text = printed[cell]
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == f"{cell.upper()}: test 2021-04-14..2021-04-30 (17 days)"
    assert re.match(r"  MAE +[\d,.]+ USD +naive +[\d,.]+ USD +ratio \d+\.\d{3}  \((worse|better) than naive\)$", lines[1])
    assert re.match(r"  RMSE +[\d,.]+ USD +naive +[\d,.]+ USD +ratio \d+\.\d{3}  \((worse|better) than naive\)$", lines[2])
    assert lines[-1] == f"  saved to {out / cell}/"
    assert {"model.keras", "model.json", "metrics.json", "forecast.png", "history.png"} <= {
        p.name for p in (out / cell).iterdir()}


@pytest.mark.parametrize("cell", CELLS)
def test_predict(runs, capsys, cell):
    csv, out, _ = runs
    code, text, err = run(capsys, "predict", "--cell", cell, "--csv", csv, "--out", out)
    assert code == 0
    assert "error" not in err
    lines = text.splitlines()
    assert lines[0] == f"{csv}: next-day forecast by {cell.upper()}"
    assert re.match(r"  last close  2021-04-30 +[\d,]+\.\d\d USD$", lines[1])
    assert re.match(r"  forecast    2021-05-01 +[\d,]+\.\d\d USD  \([+-]\d+\.\d\d%\)$", lines[2])
    human = text

    code, text, err = run(capsys, "predict", "--cell", cell, "--csv", csv, "--out", out, "--json")
    assert code == 0
    result = json.loads(text)  # one JSON object, nothing else on stdout
    assert {"cell", "date", "predicted_close", "last_date", "last_close", "change_pct", "intervals", "test"} <= set(result)
    lower, upper = result["intervals"]["80"]["lower"], result["intervals"]["80"]["upper"]
    assert lower < result["predicted_close"] < upper
    assert f"  80%  range  {lower:,.2f} .. {upper:,.2f} USD" in human
    assert result["intervals"]["95"] == {"lower": 0.0, "upper": None}  # 17 validation days: unbounded
    assert human.splitlines()[-1].startswith("  context     on held-out test days 2021-04-14..2021-04-30 its MAE was ")
    assert (result["cell"], result["date"], result["last_date"]) == (cell, "2021-05-01", "2021-04-30")
    assert result["last_close"] == pytest.approx(random_walk(120).iloc[-1])
    assert result["change_pct"] == pytest.approx(100 * (result["predicted_close"] / result["last_close"] - 1))
    assert f"{result['predicted_close']:,.2f} USD  ({result['change_pct']:+.2f}%)" in lines[2]


@pytest.mark.parametrize("cell", CELLS)
def test_evaluate(runs, capsys, tmp_path, cell):
    csv, out, _ = runs
    code, text, err = run(capsys, "evaluate", "--cell", cell, "--csv", csv, "--out", out,
                          "--since", "2021-04-01", "--until", "2021-04-30")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == (f"{cell.upper()} on {csv}, target days 2021-04-01..2021-04-30 (30 days), in sample: "
                        "the model was trained or early-stopped on 13 of them (its training data end on 2021-04-13)")
    assert lines[1].startswith("| forecast | MAE (USD) | RMSE (USD) | MAPE |")
    assert lines[3].startswith(f"| {cell.upper()} | ")
    assert lines[4].startswith("| naive (tomorrow = today) | ")
    assert "note: the range overlaps the days the model was trained or early-stopped on" in text
    assert lines[-1] == f"chart: {out / 'reports' / f'evaluate_{cell}_2021-04-01_2021-04-30.png'}"
    code, printed, _ = run(capsys, "evaluate", "--cell", cell, "--csv", csv, "--out", out,
                           "--since", "2021-04-01", "--until", "2021-04-30", "--json")
    assert code == 0
    metrics = json.loads(printed)  # stdout is the one JSON object
    assert (metrics["cell"], metrics["first_date"], metrics["last_date"], metrics["days"]) == (
        cell, "2021-04-01", "2021-04-30", 30)
    assert {"mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive", "naive", "intervals",
            "model_saw_until"} <= set(metrics)
    assert f"| {cell.upper()} | {metrics['mae']:,.2f} | {metrics['rmse']:,.2f} |" in text


def test_evaluate_range_without_target_days(runs, capsys):
    csv, out, _ = runs
    code, text, err = run(capsys, "evaluate", "--csv", csv, "--out", out, "--since", "2030-01-01")
    assert text == ""
    assert_one_error(code, err, "no target days between 2030-01-01 and the end: "
                                "with a 5-day window the data allow 2021-01-06..2021-04-30")


def test_evaluate_json_is_a_flag_not_a_path(runs, capsys):
    """--json prints to stdout (`> file` for a file): a path after it is an unrecognized argument."""
    csv, out, _ = runs
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--csv", str(csv), "--out", str(out), "--json", str(csv / "metrics.json")])
    out_text, err = capsys.readouterr()
    assert info.value.code == 2 and out_text == "" and err.startswith("usage: ")
    assert err.splitlines()[-1] == f"python -m forecast: error: unrecognized arguments: {csv / 'metrics.json'}"


# --- one-line errors: exit 1 ----------------------------------------------------------

@pytest.fixture
def model_copy(runs, tmp_path):
    """A private copy of the trained GRU run, free to break: (csv, out, gru folder)."""
    csv, out, _ = runs
    shutil.copytree(out / "gru", tmp_path / "out" / "gru")
    return csv, tmp_path / "out", tmp_path / "out" / "gru"


def edit_meta(directory: Path, seal: bool = True, **changes) -> None:
    """Changes model.json; sealed, its content hash is renewed, so that the checks after the
    hash check are what a test reaches."""
    meta = json.loads((directory / "model.json").read_text())
    meta.update(changes)
    (directory / "model.json").write_text(json.dumps(saved_model.seal(meta) if seal else meta))


def rehash(directory: Path) -> None:
    """Makes model.json name the current model.keras, so that the Keras loader itself is reached."""
    edit_meta(directory, model_sha256=saved_model.file_sha256(directory / "model.keras"))


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_missing_model(runs, capsys, tmp_path, command):
    csv, _, _ = runs
    code, _, err = run(capsys, command, "--csv", csv, "--out", tmp_path)
    assert_one_error(code, err, f"no saved model at {tmp_path}/gru/model.keras: train first (python -m forecast train)")


def half(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a model\n" * 100)


@pytest.mark.parametrize("damage", [half, garbage])
def test_damaged_model_reaching_the_keras_loader(model_copy, capsys, damage):
    csv, out, directory = model_copy
    model = directory / "model.keras"
    damage(model)
    rehash(directory)
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"cannot load {model}: corrupt or not a Keras model "
                                "(not a zip archive: truncated or overwritten)")


def test_zip_that_is_not_a_keras_model(model_copy, capsys):
    import zipfile

    csv, out, directory = model_copy
    model = directory / "model.keras"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("notes.txt", "hello")
    rehash(directory)
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert code == 1
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: cannot load {model}: corrupt or not a Keras model (")


@pytest.mark.parametrize("damage", [half, garbage])
def test_damaged_model_against_its_hash(model_copy, capsys, damage):
    csv, out, directory = model_copy
    damage(directory / "model.keras")
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"{directory}/model.keras is not the model described by {directory}/model.json "
                                "(changed, truncated or from another run); retrain the model (python -m forecast train)")


def test_model_json_missing(model_copy, capsys):
    csv, out, directory = model_copy
    (directory / "model.json").unlink()
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"no model.json in {directory}: train first (python -m forecast train)")


def test_model_json_from_another_schema(model_copy, capsys):
    csv, out, directory = model_copy
    edit_meta(directory, schema=99)
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"{directory}/model.json has schema 99, this version reads schema 5; retrain the model (python -m forecast train)")


@pytest.mark.parametrize("data", [b'{"schema": 1, "window": ', b"", b"\xff\xfe\x00{}"])
def test_model_json_invalid(model_copy, capsys, data):
    csv, out, directory = model_copy
    (directory / "model.json").write_bytes(data)  # cut short, empty, not UTF-8
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as reason:
        json.loads(data.decode())
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"{directory}/model.json is not valid JSON ({reason.value}); retrain the model (python -m forecast train)")


@pytest.mark.parametrize(("rows", "command", "needed"), [
    (3, "predict", 5),     # fewer closes than one window
    (5, "evaluate", 6),    # one window, but no target day to check it against
    (3, "evaluate", 6),
])
def test_data_too_short_for_the_window(runs, capsys, tmp_path, rows, command, needed):
    _, out, _ = runs
    short = write_yahoo_csv(tmp_path / "short.csv", random_walk(rows))
    code, _, err = run(capsys, command, "--cell", "lstm", "--csv", short, "--out", out)
    assert_one_error(code, err, f"too little data: {rows} daily closes from {short}, need at least {needed} "
                                "(the saved LSTM model looks back 5 days)")


def test_exactly_one_window_is_enough_to_predict(runs, capsys, tmp_path):
    _, out, _ = runs
    short = write_yahoo_csv(tmp_path / "short.csv", random_walk(5))
    code, text, _ = run(capsys, "predict", "--csv", short, "--out", out, "--json")
    assert code == 0
    assert json.loads(text)["date"] == "2021-01-06"


def test_window_mismatch(model_copy, capsys):
    csv, out, directory = model_copy
    edit_meta(directory, window=7)  # model.keras is untouched, so only the shape check can fire
    code, _, err = run(capsys, "predict", "--csv", csv, "--out", out)
    assert_one_error(code, err, f"{directory}/model.keras takes inputs of shape (None, 5, 1), "
                                f"but model.json says (None, 7, 1); {R}")


def test_interrupted_train_keeps_the_previous_model(model_copy, capsys, monkeypatch):
    csv, out, directory = model_copy
    _, before, _ = run(capsys, "predict", "--csv", csv, "--out", out, "--json")
    meta = (directory / "model.json").read_bytes()

    def save(self, filepath, *args, **kwargs):  # half a file written, then Ctrl-C
        Path(filepath).write_bytes(b"PK\x03\x04 half")
        raise KeyboardInterrupt
    monkeypatch.setattr(keras.Model, "save", save)
    code, _, err = run(capsys, "train", "--csv", csv, *SMALL, "--seed", "7", "--out", out)
    monkeypatch.undo()

    assert code == 130
    assert err.splitlines() == ["error: interrupted; files already saved are intact"]
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []  # no temp files
    assert (directory / "model.json").read_bytes() == meta
    code, after, _ = run(capsys, "predict", "--csv", csv, "--out", out, "--json")
    assert code == 0
    assert json.loads(after) == json.loads(before)


# --- usage errors: argparse, exit 2 ---------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--cell", "rnn"], "argument --cell: invalid choice: 'rnn'"),
    (["predict", "--cell", "rnn"], "argument --cell: invalid choice: 'rnn'"),
    (["train", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["train", "--window", "1"], "argument --window: a window needs at least 2 days, got 1"),
    (["train", "--units", "-3"], "argument --units: must be at least 1, got -3"),
    (["train", "--batch-size", "-1"], "argument --batch-size: must be at least 1, got -1"),
    (["train", "--units", "many"], "argument --units: not an integer: 'many'"),
    (["train", "--learning-rate", "0"], "argument --learning-rate: must be a positive finite number, got 0"),
    (["train", "--seed", "-1"], "argument --seed: must be between 0 and 4294967295, got -1"),
    (["compare", "--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
    (["train", "--level", "100"], "argument --level: an interval level is a percentage between 0 and 100, got 100"),
    (["train", "--level", "0"], "argument --level: an interval level is a percentage between 0 and 100, got 0"),
    (["compare", "--level", "-5"], "argument --level: an interval level is a percentage between 0 and 100, got -5"),
    (["train", "--level", "ninety"], "argument --level: not a number: 'ninety'"),
    (["train", "--start", "2021-03-01", "--end", "2021-02-01"], "error: start 2021-03-01 is after end 2021-02-01"),
    (["bench", "--seed", "x"], "argument --seed: not an integer: 'x'"),
    (["train", "--start", "2021-13-01"], "argument --start: not a date (YYYY-MM-DD): '2021-13-01'"),
    (["evaluate", "--since", "2021-02-30"], "argument --since: not a date (YYYY-MM-DD): '2021-02-30'"),
    (["train", "--ticker", "BTC-USD", "--csv", "prices.csv"], "argument --csv: not allowed with argument --ticker"),
    (["train", "--inputs", "close,vol"],
     "argument --inputs: unknown input 'vol'; valid: close, open, high, low, range, volume (or ohlcv), comma-separated"),
    (["compare", "--inputs", "high,high"], "argument --inputs: input 'high' is given twice in 'high,high'"),
    # train fits one set: a repeat used to train the last one silently (issue 31)
    (["train", "--inputs", "close", "--inputs", "ohlcv"], "error: --inputs is given twice; train fits one set of "
     "inputs (to compare sets: python -m forecast compare --inputs A --inputs B)"),
    (["train", "--inputs", "ohlcv", "--inputs", "ohlcv", "--cell", "lstm"], "error: --inputs is given twice; train fits "
     "one set of inputs (to compare sets: python -m forecast compare --inputs A --inputs B)"),
    # a coin's name is checked before its path is read (issue 31)
    *[(["backtest", "--csv", f"{name}=prices.csv"], f"argument --csv: invalid coin name {name!r} in '{name}=prices.csv': "
       "a NAME is letters, digits, '.', '_' and '-', starting with a letter or digit (NAME=PATH)")
      for name in ("..", ".", "a/b", "", "a b", "_x")],
    (["train", "--inputs", "high", "--scaling", "minmax"],
     "error: inputs other than close need scaling 'window' (minmax scales price levels), got 'minmax'"),
    (["backtest", "--inputs", "close", "--inputs", "high,close", "--inputs", "close,high"],
     "error: --inputs close,high is given twice"),
    (["backtest", "--inputs", "close", "--inputs", "ohlcv", "--train-days", "30", "--train-days", "all"],
     "error: compare several --train-days or several --inputs in one run, not both"),
    (["forecast"], "argument COMMAND: invalid choice: 'forecast'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("usage: ")
    assert message in err.splitlines()[-1]


# --- the real prices ------------------------------------------------------------------

@pytest.mark.slow
def test_real_prices_end_to_end(real_csv, capsys, tmp_path):
    out = tmp_path / "out"
    code, text, _ = run(capsys, "train", "--cell", "gru", "--csv", real_csv, "--start", "2022-01-01",
                        "--window", "30", "--units", "8", "--epochs", "2", "--quiet", "--out", out)
    assert code == 0
    assert text.startswith("GRU: test ") and "ratio" in text
    meta = json.loads((out / "gru" / "model.json").read_text())
    assert (meta["data"]["first_date"], meta["data"]["last_date"]) == ("2022-01-01", "2025-12-31")

    code, text, _ = run(capsys, "predict", "--csv", real_csv, "--out", out, "--json")
    assert code == 0
    forecast = json.loads(text)
    assert (forecast["last_date"], forecast["date"]) == ("2025-12-31", "2026-01-01")
    assert forecast["last_close"] == pytest.approx(87508.828125)
    assert 0.5 < forecast["predicted_close"] / forecast["last_close"] < 2

    code, text, _ = run(capsys, "evaluate", "--csv", real_csv, "--out", out, "--since", "2025-01-01")
    assert code == 0
    assert "target days 2025-01-01..2025-12-31 (365 days)" in text


# --- errors found in review: each a one-line error, never a traceback -----------------

def _one_error_line(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def test_an_edited_model_json_is_caught_by_its_content_hash(model_copy, capsys):
    csv, out, gru = model_copy
    edit_meta(gru, seal=False, scaling={"name": "window", "params": {"scale": 0.5}})
    err = _one_error_line(capsys, ["predict", "--cell", "gru", "--csv", str(csv), "--out", str(out)])
    assert err == f"error: {gru / 'model.json'} was changed after it was saved (its content hash does not match); {R}"


@pytest.mark.parametrize(("key", "expected"), [
    ("window", "a whole number of at least 2"), ("cell", "one of gru, lstm"), ("split", "train, val and test spans"),
    ("intervals", "the interval calibration"), ("seed", "a whole number"),
])
def test_model_json_missing_a_key(model_copy, capsys, key, expected):
    csv, out, gru = model_copy
    meta = json.loads((gru / "model.json").read_text())
    del meta[key]
    (gru / "model.json").write_text(json.dumps(saved_model.seal(meta)))
    err = _one_error_line(capsys, ["predict", "--cell", "gru", "--csv", str(csv), "--out", str(out)])
    assert err == f"error: {gru / 'model.json'}: {key} is missing, expected {expected}; {R}"


@pytest.mark.parametrize(("scaling", "reason"), [
    ({"name": "zscore", "params": {}}, "unknown scaling 'zscore'; valid: window, minmax"),
    ({"name": "window", "params": {"scale": 0}}, "scale must be a number in (0, 1], got 0"),
    ({"name": "window", "params": {"scale": -0.03}}, "scale must be a number in (0, 1], got -0.03"),
    ({"name": "window", "params": {"scale": 1e300}}, "scale must be a number in (0, 1], got 1e+300"),
    ({"name": "window", "params": {"scale": "0.03"}}, "scale must be a number in (0, 1], got '0.03'"),
    ({"name": "window", "params": {}}, "WindowScaling.__init__() missing 1 required positional argument: 'scale'"),
    ({"name": "minmax", "params": {"low": 5.0, "high": 1.0}}, "low and high must be prices with 0 < low <= high, got 5.0 and 1.0"),
])
def test_model_json_with_an_unusable_scaling(model_copy, capsys, scaling, reason):
    csv, out, gru = model_copy
    edit_meta(gru, scaling=scaling)
    err = _one_error_line(capsys, ["predict", "--cell", "gru", "--csv", str(csv), "--out", str(out)])
    assert err == f"error: {gru / 'model.json'}: unusable scaling {scaling!r:.80} ({reason}); {R}"


@pytest.mark.parametrize(("changes", "message"), [
    ({"window": "5"}, "window is '5', expected a whole number of at least 2"),
    ({"best_epoch": 0}, "best_epoch is 0, expected 1..{epochs}"),
    ({"intervals": {"first_date": "2021-03-28", "last_date": "2021-04-13", "days": 17,
                    "model": {"80": -0.1}, "naive": {"80": 0.01}}},
     "intervals.model.80 is -0.1, expected null (unbounded) or a log-scale width between 0 and 10"),
    ({"data": {"source": "x", "first_date": "2021-01-01", "last_date": "2021-13-01", "rows": 5,
               "gap_days_filled": 0, "sha256": "0" * 64}}, "data.last_date is '2021-13-01', expected a date YYYY-MM-DD"),
])
def test_model_json_with_a_garbled_field(model_copy, capsys, changes, message):
    csv, out, gru = model_copy
    epochs = json.loads((gru / "model.json").read_text())["epochs_run"]
    edit_meta(gru, **changes)
    err = _one_error_line(capsys, ["evaluate", "--cell", "gru", "--csv", str(csv), "--out", str(out)])
    assert err == f"error: {gru / 'model.json'}: {message.format(epochs=epochs)}; {R}"


def test_duplicate_columns_after_normalising(tmp_path, capsys):
    csv = tmp_path / "dup.csv"
    csv.write_text("Date,Close,close\n2021-01-01,1,2\n")
    assert _one_error_line(capsys, ["data", "--csv", str(csv)]) == (
        f"error: {csv}: columns named alike (case and spaces ignored): 'close'")


def test_trailing_commas_are_read_as_an_empty_column(tmp_path, capsys):
    csv = tmp_path / "trailing.csv"
    rows = "".join(f"2021-{1 + i // 28:02d}-{1 + i % 28:02d},{30000 + i},\n" for i in range(84))
    csv.write_text("Date,Close,\n" + rows)
    assert main(["data", "--csv", str(csv), "--window", "5"]) == 0
    assert "rows:       " in capsys.readouterr().out


def test_infinite_learning_rate_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--learning-rate", "inf"])
    assert info.value.code == 2
    assert "argument --learning-rate: must be a positive finite number, got inf" in capsys.readouterr().err


def test_quiet_offline_download_failure_is_exactly_one_line(tmp_path, capsys, monkeypatch):
    go_offline(monkeypatch)  # ETH-USD: no embedded snapshot to fall back on (BTC-USD: test_yahoo_source.py)
    code, out, err = run(capsys, "data", "--cache-dir", tmp_path / "cache", "--ticker", "ETH-USD", "--quiet")
    assert_one_error(code, err, "could not download 'ETH-USD' from Yahoo Finance (no network connection to "
                                "Yahoo Finance); to run offline, pass a price file: --csv PATH")
    assert out == "" and not (tmp_path / "cache").exists()


def test_levels_reach_model_json_and_predict(runs, capsys, tmp_path):
    csv, _, _ = runs
    out = tmp_path / "out"
    assert main(["train", "--csv", str(csv), *SMALL, "--level", "50", "--level", "90", "--out", str(out)]) == 0
    meta = json.loads((out / "gru" / "model.json").read_text())
    assert set(meta["intervals"]["model"]) == {"50", "90"}
    code, text, _ = run(capsys, "predict", "--csv", csv, "--out", out, "--json")
    assert set(json.loads(text)["intervals"]) == {"50", "90"}
