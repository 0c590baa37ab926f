"""Every command on every kind of saved model (cell x held-out split or --all-data x scaling), the
price source a model records, the days `evaluate` uses by default, and model.json values that pass
their type checks but contradict each other or the weights."""

import contextlib
import dataclasses
import io
import json
import math
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import jsonio, report_use_model, saved_model, use_model
from forecast.__main__ import _own_source, build_parser, config_from_args, main
from forecast.config import Config
from forecast.csv_source import load_csv
from forecast.errors import ConfigError, DataError
from forecast.interval_methods import volatility_calibration
from forecast.intervals import conformal_quantile
from forecast.prices import Prices
from forecast.train import data_info
from tests.conftest import random_walk, write_yahoo_csv

# Without XLA: compiling the training step takes most of a 1-epoch run here, and no check needs it.
SMALL = ["--window", "5", "--units", "4", "--epochs", "1", "--batch-size", "16", "--no-jit-compile", "--quiet"]
R = "retrain the model (python -m forecast train)"
KINDS = [(cell, fit, scaling) for cell in ("gru", "lstm") for fit in ("split", "all-data")
         for scaling in ("window", "minmax")]
WALK = random_walk(150)  # 2021-01-01..2021-05-30; its first 120 days are random_walk(120)
END = "2021-05-30"
# The target days each kind of model saw (window 5: the first target day is 2021-01-06). 115 target
# days up to 2021-04-30 split 70/15/15: 81 training (..2021-03-27), 17 validation (..2021-04-13),
# 17 test; --all-data refits on all 115.
SAW = {"split": ("2021-01-06", "2021-04-13", 98), "all-data": ("2021-01-06", "2021-04-30", 115)}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The 8 kinds of saved model, each trained once from <root>/prices.csv (120 days, given as a
    relative path), to <root>/<split|all-data>-<scaling>/<cell>/; then prices.csv grows by 30 days,
    as a price file does. Read only: tests that break a model copy it first."""
    root = tmp_path_factory.mktemp("grid")
    write_yahoo_csv(root / "prices.csv", random_walk(120))
    here = os.getcwd()
    os.chdir(root)
    try:
        for cell, fit, scaling in KINDS:
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(["train", "--cell", cell, "--csv", "prices.csv", *SMALL, "--scaling", scaling,
                             *(["--all-data"] if fit == "all-data" else []), "--out", f"{fit}-{scaling}"])
            assert code == 0, (cell, fit, scaling)
    finally:
        os.chdir(here)
    write_yahoo_csv(root / "prices.csv", WALK)
    return root


@pytest.fixture(params=KINDS, ids=["-".join(k) for k in KINDS])
def kind(request, grid):
    """(cell, "split" or "all-data", scaling, the --out folder holding that model)."""
    cell, fit, scaling = request.param
    return cell, fit, scaling, grid / f"{fit}-{scaling}"


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("error: ")
    return err[len("error: "):].rstrip("\n")


def day(text: str, plus: int = 0) -> str:
    return (date.fromisoformat(text) + timedelta(days=plus)).isoformat()


def naive_mae(first: str, last: str) -> float:
    """By hand: the mean |close - previous close| over the target days first..last."""
    days = pd.date_range(first, last)
    return float(np.mean(np.abs(WALK.loc[days].to_numpy() - WALK.shift(1).loc[days].to_numpy())))


# --- the grid: every command on every kind of saved model -------------------------------------

def test_model_json_records_the_source_as_an_absolute_path(kind, grid):
    cell, fit, scaling, out = kind
    meta = json.loads((out / cell / "model.json").read_text())
    assert meta["schema"] == 5
    assert (meta["data"]["csv"], meta["data"]["ticker"]) == (str(grid / "prices.csv"), None)
    assert (meta["cell"], meta["scaling"]["name"]) == (cell, scaling)
    assert meta["trained_on"] == dict(zip(("first", "last", "days"), SAW[fit]))
    assert meta["refit_epochs"] == (1 if fit == "all-data" else None)


def test_predict_reads_the_models_own_csv(kind, capsys, grid):
    cell, fit, _, out = kind
    code, text, err = run(capsys, "predict", "--cell", cell, "--out", out, "--json")
    assert code == 0, err
    r = json.loads(text)
    assert (r["cell"], r["source"], r["last_date"], r["date"]) == (cell, str(grid / "prices.csv"), END, "2021-05-31")
    assert r["last_close"] == pytest.approx(WALK.iloc[-1], rel=1e-12)  # the grown file, not the 120 days trained on
    assert math.isfinite(r["predicted_close"]) and r["predicted_close"] > 0
    assert r["change_pct"] == pytest.approx(100 * (r["predicted_close"] / r["last_close"] - 1))
    lo, hi = r["intervals"]["80"]["lower"], r["intervals"]["80"]["upper"]
    assert lo < r["predicted_close"] < hi
    assert hi / r["predicted_close"] == pytest.approx(r["predicted_close"] / lo)  # predicted * exp(+-q)
    assert r["methods"]["scaled"]["95"] == {"lower": 0.0, "upper": None}  # 17 validation days: unbounded
    assert r["trained_until"] == SAW[fit][1]
    assert (r["test"]["first_date"], r["test"]["last_date"], r["test"]["days"]) == ("2021-04-14", "2021-04-30", 17)

    code, text, _ = run(capsys, "predict", "--cell", cell, "--out", out)
    assert code == 0
    assert text.splitlines()[0] == f"{grid / 'prices.csv'}: next-day forecast by {cell.upper()}"
    assert f"  forecast    2021-05-31  {r['predicted_close']:>12,.2f} USD" in text


def test_evaluate_by_default_uses_the_days_after_training(kind, capsys, grid):
    cell, fit, _, out = kind
    first, saw_last = day(SAW[fit][1], 1), SAW[fit][1]
    days = (date.fromisoformat(END) - date.fromisoformat(first)).days + 1  # 47 after a split, 30 after a refit
    code, text, err = run(capsys, "evaluate", "--cell", cell, "--out", out, "--quiet")
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == (f"{cell.upper()} on {grid / 'prices.csv'}, target days {first}..{END} ({days} days), "
                        f"out of sample: after the model's training data, which end on {saw_last}")
    assert "note: the range overlaps" not in text
    chart = out / "reports" / f"evaluate_{cell}_{first}_{END}.png"
    assert lines[-1] == f"chart: {chart}" and chart.read_bytes().startswith(b"\x89PNG")

    result = use_model.evaluate_range(Config(cell=cell, out=out, quiet=True), own_source=True)
    record = report_use_model.evaluate_record(result)
    assert report_use_model.evaluate_text(result) + f"\nchart: {chart}" == text.rstrip("\n")  # publish adds the chart
    assert (record["sample"], record["days_in_sample"], record["model_saw_until"]) == ("out-of-sample", 0, saw_last)
    assert (record["first_date"], record["last_date"], record["days"]) == (first, END, days)
    assert record["naive"]["mae"] == pytest.approx(naive_mae(first, END), rel=1e-12)
    assert math.isfinite(record["mae"]) and record["mae"] > 0
    assert f"| {cell.upper()} | {record['mae']:,.2f} |" in text
    title = report_use_model.evaluate_chart_inputs(result)["title"]
    assert title.startswith(f"{cell.upper()} next-day forecast {first}..{END}, out of sample (MAE ")


def test_evaluate_a_range_that_overlaps_training_is_labelled_in_sample(kind, grid):
    cell, fit, _, out = kind
    seen = 13 if fit == "split" else 30  # of 2021-04-01..2021-05-10: up to 04-13, or up to 04-30
    result = use_model.evaluate_range(Config(cell=cell, out=out, quiet=True), date(2021, 4, 1), date(2021, 5, 10),
                                    own_source=True)
    text = report_use_model.evaluate_text(result)
    assert text.splitlines()[0] == (
        f"{cell.upper()} on {grid / 'prices.csv'}, target days 2021-04-01..2021-05-10 (40 days), in sample: "
        f"the model was trained or early-stopped on {seen} of them (its training data end on {SAW[fit][1]})")
    assert ("note: the range overlaps the days the model was trained or early-stopped on "
            f"(up to {SAW[fit][1]}); those errors are not out-of-sample") in text
    record = report_use_model.evaluate_record(result)
    assert (record["sample"], record["days_in_sample"], record["days"]) == ("in-sample", seen, 40)
    assert record["naive"]["mae"] == pytest.approx(naive_mae("2021-04-01", "2021-05-10"), rel=1e-12)
    assert ", in sample (MAE " in report_use_model.evaluate_chart_inputs(result)["title"]


def test_evaluate_in_sample_when_asked(kind, grid):
    cell, fit, _, out = kind
    result = use_model.evaluate_range(Config(cell=cell, out=out, quiet=True), in_sample=True, own_source=True)
    assert report_use_model.evaluate_text(result).splitlines()[0] == (
        f"{cell.upper()} on {grid / 'prices.csv'}, target days 2021-01-06..{END} (145 days), in sample: "
        f"the model was trained or early-stopped on {SAW[fit][2]} of them (its training data end on {SAW[fit][1]})")
    assert report_use_model.evaluate_record(result)["days_in_sample"] == SAW[fit][2]


def test_evaluate_days_before_the_training_data(grid, tmp_path):
    """Older prices than the model saw are out of sample too, and said to lie before its training days."""
    older = write_yahoo_csv(tmp_path / "older.csv", random_walk(60, start="2020-09-01"))  # ..2020-10-30
    result = use_model.evaluate_range(Config(out=grid / "all-data-window", csv=older), date(2020, 10, 1))
    assert report_use_model.evaluate_text(result).splitlines()[0] == (
        f"GRU on {older}, target days 2020-10-01..2020-10-30 (30 days), "
        "out of sample: before the model's training data, which begin on 2021-01-06")
    assert (report_use_model.evaluate_record(result)["sample"], result.seen_days) == ("out-of-sample", 0)


def test_evaluate_in_sample_on_the_command_line(grid, capsys):
    out = grid / "all-data-minmax"
    code, text, err = run(capsys, "evaluate", "--cell", "lstm", "--out", out, "--in-sample", "--quiet")
    assert code == 0, err
    assert text.splitlines()[0] == (
        f"LSTM on {grid / 'prices.csv'}, target days 2021-01-06..{END} (145 days), in sample: "
        f"the model was trained or early-stopped on 115 of them (its training data end on 2021-04-30)")
    assert text.splitlines()[-1] == f"chart: {out / 'reports' / f'evaluate_lstm_2021-01-06_{END}.png'}"


@pytest.mark.parametrize("after", [0, 1])
def test_evaluate_with_fewer_than_two_days_after_training(kind, capsys, after):
    """Prices that end on the model's last training day, or one day later: nothing out of sample to judge."""
    cell, fit, _, out = kind
    saw_last = SAW[fit][1]
    end = day(saw_last, after)
    what = "no target days" if after == 0 else f"only 1 target day ({end})"
    assert one_error(capsys, "evaluate", "--cell", cell, "--out", out, "--end", end) == (
        f"{what} after the {cell.upper()} model's training data (which end on {saw_last}; the prices end on {end}): "
        "out-of-sample evaluation needs at least 2; --in-sample evaluates it on the days it was trained on, "
        "--since/--until on any days")


def test_compare_reuses_the_models_trained_on_its_prices_and_settings(grid, tmp_path, capsys):
    """The prices up to 2021-04-30 are those the models were trained on: both are reused as they are."""
    out = tmp_path / "out"
    shutil.copytree(grid / "split-minmax", out)
    before = {cell: (out / cell / "model.json").read_bytes() for cell in ("gru", "lstm")}
    code, text, err = run(capsys, "compare", "--csv", grid / "prices.csv", "--end", "2021-04-30", *SMALL,
                          "--scaling", "minmax", "--seeds", "1", "--calls", "0", "--out", out)
    assert code == 0, err
    assert {cell: (out / cell / "model.json").read_bytes() for cell in ("gru", "lstm")} == before


def test_compare_does_not_reuse_an_all_data_model(grid, caplog, monkeypatch):
    """compare judges held-out test days: a model refit on them is replaced, with a warning."""
    import logging

    from forecast import compare
    from forecast.csv_source import load_csv

    monkeypatch.setattr(logging.getLogger("forecast"), "propagate", True)  # main() turned it off

    cfg = Config(csv=grid / "prices.csv", end=date(2021, 4, 30), window=5, units=4, epochs=1, batch_size=16,
                 jit_compile=False, quiet=True)
    prices = load_csv(cfg.csv, None, cfg.end, 1)
    directory = grid / "all-data-window" / "gru"
    assert compare._reusable(directory, cfg, prices) is None
    assert f"replacing the model in {directory}: it was trained on other data or settings" in caplog.text
    assert compare._reusable(grid / "split-window" / "gru", cfg, prices) is not None


# --- the source a model was trained on -------------------------------------------------------

@pytest.fixture
def gru_copy(grid, tmp_path):
    """A private copy of the held-out GRU model (window scaling), free to break: its --out folder."""
    shutil.copytree(grid / "split-window" / "gru", tmp_path / "out" / "gru")
    return tmp_path / "out"


def edit_meta(directory: Path, **changes) -> None:
    """Changes model.json and renews its content hash, so that the checks after the hash check are reached."""
    meta = json.loads((directory / "model.json").read_text())
    meta.update(changes)
    (directory / "model.json").write_text(json.dumps(saved_model.seal(meta)))


def test_an_explicit_csv_overrides_the_recorded_one(gru_copy, capsys, tmp_path):
    short = write_yahoo_csv(tmp_path / "short.csv", random_walk(100))
    code, text, _ = run(capsys, "predict", "--out", gru_copy, "--csv", short, "--json")
    assert code == 0
    assert (json.loads(text)["source"], json.loads(text)["last_date"]) == (str(short), "2021-04-10")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_the_recorded_csv_is_gone(gru_copy, capsys, tmp_path, command):
    gone = tmp_path / "moved" / "prices.csv"
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    edit_meta(gru_copy / "gru", data={**meta["data"], "csv": str(gone)})
    assert one_error(capsys, command, "--out", gru_copy) == (
        f"the GRU model was trained on {gone}, which is not there any more; pass --csv PATH")


def test_a_recorded_ticker_is_the_default_source(gru_copy):
    info = saved_model.read_info(gru_copy / "gru")
    yahoo = dataclasses.replace(info, data=dataclasses.replace(info.data, csv=None, ticker="ETH-USD"))
    cfg = use_model.model_source(Config(csv=Path("other.csv"), end=date(2021, 3, 1)), yahoo)
    assert (cfg.csv, cfg.ticker, cfg.end) == (None, "ETH-USD", date(2021, 3, 1))
    cfg = use_model.model_source(Config(ticker="SOL-USD"), info)
    assert cfg.csv == Path(info.data.csv)


def test_train_records_the_ticker_or_the_csv(tmp_path, monkeypatch):
    prices = Prices(close=random_walk(10), source="Yahoo Finance ETH-USD")
    assert (data_info(prices, Config(ticker="ETH-USD")).ticker, data_info(prices, Config(ticker="ETH-USD")).csv) == (
        "ETH-USD", None)
    monkeypatch.chdir(tmp_path)
    recorded = data_info(prices, Config(csv=Path("sub/../prices.csv")))
    assert (recorded.csv, recorded.ticker) == (str(tmp_path / "prices.csv"), None)


@pytest.mark.parametrize(("argv", "own"), [
    (["predict"], True), (["evaluate", "--since", "2021-01-01"], True),
    (["predict", "--ticker", "BTC-USD"], False), (["evaluate", "--csv", "x.csv"], False),
])
def test_only_no_csv_and_no_ticker_means_the_models_source(argv, own):
    parser = build_parser()
    args = parser.parse_args(argv)
    assert _own_source(args) is own
    assert config_from_args(args, parser).ticker == "BTC-USD"  # the one default, for every command


def test_a_model_json_of_the_previous_schema_is_refused(gru_copy, capsys):
    edit_meta(gru_copy / "gru", schema=3)
    assert one_error(capsys, "predict", "--out", gru_copy) == (
        f"{gru_copy / 'gru' / 'model.json'} has schema 3, this version reads schema 5; {R}")


@pytest.mark.parametrize(("csv", "ticker", "message"), [
    ("prices.csv", None, "data.csv is 'prices.csv', expected an absolute path"),
    ("/data/prices.csv", "BTC-USD", "data.ticker is 'BTC-USD', expected null beside data.csv (one source)"),
    (None, None, "data.ticker is None, expected a Yahoo Finance symbol (or data.csv set instead)"),
    (None, " ", "data.ticker is ' ', expected a Yahoo Finance symbol (or data.csv set instead)"),
])
def test_a_garbled_source_is_refused(gru_copy, capsys, csv, ticker, message):
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    edit_meta(gru_copy / "gru", data={**meta["data"], "csv": csv, "ticker": ticker})
    assert one_error(capsys, "predict", "--out", gru_copy) == f"{gru_copy / 'gru' / 'model.json'}: {message}; {R}"


# --- model.json values that contradict each other or the weights -------------------------------

@pytest.mark.parametrize(("model", "naive", "message"), [
    ({"80": 0.05, "95": 0.04}, {"80": 0.03, "95": 0.05},
     "intervals.model.80 is 0.05, expected at most the 95% q, 0.04 (q cannot fall as the level rises)"),
    ({"80": 0.03, "95": 0.05}, {"80": 0.05, "95": 0.04},
     "intervals.naive.80 is 0.05, expected at most the 95% q, 0.04 (q cannot fall as the level rises)"),
    ({"80": None, "95": 0.04}, {"80": 0.03, "95": 0.05},
     "intervals.model.80 is null, expected at most the 95% q, 0.04 (q cannot fall as the level rises)"),
    ({"80": 0, "95": None}, {"80": 0.03, "95": None},
     "intervals.model.80 is 0, expected a width above 0 (0 gives intervals whose low and high are equal)"),
    ({"80": 0.03, "80.0": 0.04}, {"80": 0.03},
     "intervals.model level is '80.0', expected each level once (80 is there already)"),
    ({"80": 0.03, "95": None}, {"80": 0.03},
     "intervals.naive levels is 80, expected the model's levels (80, 95)"),
])
def test_inconsistent_intervals_are_refused(gru_copy, capsys, model, naive, message):
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    edit_meta(gru_copy / "gru", intervals={**meta["intervals"], "model": model, "naive": naive})
    for command in ("predict", "evaluate"):
        assert one_error(capsys, command, "--out", gru_copy) == f"{gru_copy / 'gru' / 'model.json'}: {message}; {R}"


def recalibrated(meta: dict, levels=None, errors=None) -> dict:
    """model.json's intervals as training would write them from its stored validation sigmas and
    `errors` (default: the stored ones) at `levels` (default: the stored ones): every q consistent."""
    v = meta["intervals"]["volatility"]
    errors = errors or v["errors"]
    levels = levels or [float(k) for k in meta["intervals"]["model"]]
    vc = volatility_calibration(v["train_variance"], v["sigma"], errors, levels)
    fixed = {who: {lv: conformal_quantile(errors[who], lv) for lv in levels} for who in ("model", "naive")}
    return {**meta["intervals"], **jsonio.jsonable(fixed), "volatility": {**v, **jsonio.jsonable(vc)}}


def test_a_naive_q_of_zero_is_accepted(gru_copy, capsys):
    """The naive forecast's errors are exactly 0 on days the close did not move (constant or
    gap-filled prices): a zero-width naive interval is what such validation days say."""
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    naive = [0.0] * 15 + meta["intervals"]["volatility"]["errors"]["naive"][15:]  # 15 of 17: rank ceil(18 * 0.8) = 15
    edit_meta(gru_copy / "gru", intervals=recalibrated(meta, errors={**meta["intervals"]["volatility"]["errors"],
                                                                     "naive": naive}))
    assert json.loads((gru_copy / "gru" / "model.json").read_text())["intervals"]["naive"]["80"] == 0
    code, _, err = run(capsys, "predict", "--out", gru_copy, "--quiet")
    assert code == 0, err
    record = report_use_model.evaluate_record(use_model.evaluate_range(Config(out=gru_copy, interval_method="fixed"),
                                                                       own_source=True))
    # No close of the random walk repeats the previous one: a zero-width interval never holds.
    assert (record["naive"]["intervals"]["80"]["coverage"], record["naive"]["intervals"]["80"]["mean_width_usd"]) == (0, 0)


@pytest.mark.parametrize(("weights", "says"), [("gru", "lstm"), ("lstm", "gru")])
def test_a_cell_that_disagrees_with_the_weights(grid, tmp_path, capsys, weights, says):
    directory = tmp_path / "out" / says
    shutil.copytree(grid / "split-window" / weights, directory)
    edit_meta(directory, cell=says)
    layer = {"gru": "a GRU", "lstm": "an LSTM"}[weights]
    assert one_error(capsys, "predict", "--cell", says, "--out", tmp_path / "out") == (
        f"{directory / 'model.keras'} holds {layer} layer, but model.json says cell {says} ({says.upper()}); {R}")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_folder_of_the_other_cell_is_refused(grid, tmp_path, capsys, command):
    shutil.copytree(grid / "split-window" / "lstm", tmp_path / "out" / "gru")  # --cell gru is the default
    assert one_error(capsys, command, "--out", tmp_path / "out") == (
        f"{tmp_path / 'out' / 'gru' / 'model.json'} describes an LSTM model, not a GRU one (a folder copied from "
        "the other cell?); retrain the model (python -m forecast train --cell gru)")


@pytest.mark.parametrize(("level", "key"), [
    (80.0, "80"), (95.0, "95"), (99.99999, "99.99999"), (80.0000001, "80.0000001"), (2.5, "2.5"),
    (1e-05, "1e-05"), (100 / 3, "33.333333333333336"),
])
def test_level_keys_read_back_as_the_same_level(level, key):
    assert saved_model.level_key(level) == key and float(key) == level
    assert jsonio.jsonable({level: 1.0, 50.0: 2.0}) == {key: 1.0, "50": 2.0}


def test_a_level_that_printed_as_100_is_usable(gru_copy, capsys):
    """With `:g` keys a 99.99999% level was saved as "100" and the model could not be read back."""
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    edit_meta(gru_copy / "gru", intervals=recalibrated(meta, levels=[80.0, 99.99999]))
    code, text, err = run(capsys, "predict", "--out", gru_copy, "--json")
    assert code == 0, err
    assert set(json.loads(text)["intervals"]) == {"80", "99.99999"}


@pytest.mark.parametrize(("levels", "message"), [
    (["80", "80.0000001"], "interval levels 80 and 80.0000001 print alike (80%)"),
    (["99.999999", "99.9999999", "95"], "interval levels 99.999999 and 99.9999999 print alike (100%)"),
])
def test_levels_that_print_alike_are_a_usage_error(capsys, tmp_path, levels, message):
    argv = ["train", "--csv", str(tmp_path / "absent.csv"), *[a for lv in levels for a in ("--level", lv)]]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(f"error: {message}; use levels that differ within 6 significant digits")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config(levels=tuple(float(v) for v in levels))


# --- non-finite forecasts from a resealed model ---------------------------------------------------

def _corrupt(directory: Path, value: float) -> None:
    """Sets the Dense head to output `value` whatever the window (kernel 0, bias `value`), saves
    the model and reseals model.json with the project's own hashes, as an editor who knew them would."""
    import keras

    model = keras.saving.load_model(directory / "model.keras", compile=False)
    head = model.get_layer("next_day")
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.full_like(bias, value)])
    model.save(directory / "model.keras")
    edit_meta(directory, model_sha256=saved_model.file_sha256(directory / "model.keras"))


@pytest.mark.parametrize(("scaling", "value"), [("window", 1e30), ("minmax", math.nan)])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_non_finite_forecasts_are_a_corrupt_model(grid, tmp_path, capsys, scaling, value, command):
    """1e30 scaled log return: exp overflows to inf USD; NaN stays NaN under either scaling."""
    directory = tmp_path / "out" / "gru"
    shutil.copytree(grid / f"split-{scaling}" / "gru", directory)
    _corrupt(directory, value)
    assert one_error(capsys, command, "--out", tmp_path / "out") == (
        f"{directory / 'model.keras'}: the model gives non-finite forecasts (corrupt weights?); {R}")


def test_a_range_without_days_after_training_names_the_way_to_in_sample(grid):
    """The API says the same as the command line."""
    cfg = Config(cell="gru", out=grid / "all-data-window", csv=grid / "prices.csv", end=date(2021, 4, 30))
    with pytest.raises(DataError, match="no target days after the GRU model's training data"):
        use_model.evaluate_range(cfg)
    assert use_model.evaluate_range(cfg, in_sample=True).seen_days == 115


# --- the interval methods a saved model keeps (issue 20) ---------------------------------------------

def _volatility_edit(meta: dict, change) -> dict:
    intervals = json.loads(json.dumps(meta["intervals"]))
    change(intervals["volatility"])
    return intervals


def _set(path, value):
    def change(v):
        for key in path[:-1]:
            v = v[key]
        v[path[-1]] = value
    return change


@pytest.mark.parametrize("change, key, shown, need", [
    (_set(["cuts"], [0.03, 0.02]), "cuts", "[0.03, 0.02]", "two sigmas in order"),
    (_set(["train_variance"], -0.1), "train_variance", "-0.1", "a variance between 0 and 1"),
    (_set(["train_variance"], 1e300), "train_variance", "1e+300", "a variance between 0 and 1"),
    (_set(["median_sigma"], None), "median_sigma", "None", "a sigma of at least 0"),
    (_set(["scaled", "model"], {"80": 1.2}), "scaled.model", "{'80': 1.2}", "level -> q at levels 80, 95"),
    (_set(["scaled", "naive", "80"], -1), "scaled.naive.80", "-1", "null (unbounded) or a width of at least 0"),
    (_set(["mondrian", "model", "80"], [0.01, 0.02]), "mondrian.model.80", "[0.01, 0.02]",
     "null (unbounded) or a width of at least 0, 3 of them"),
    (_set(["mondrian", "naive", "95"], [0.0, 0.0, 0.0]), "mondrian.naive.95", "[0.0, 0.0, 0.0]",
     "no narrower than a lower level's"),
    (_set(["scores", "model", 0], 99.0), "scores.model", "not in ascending order", "17 scores in ascending order"),
    (_set(["scores", "naive"], [0.5]), "scores.naive", "[0.5]", "17 scores in ascending order (null: unbounded)"),
    (_set(["scaled", "model", "80"], 1.0), "scaled.model.80", "1.0", "the conformal q of its scores, SCORES_Q"),
    # Mondrian's q's, checked against the errors and sigmas they come from (issue 31)
    (_set(["mondrian", "model", "80"], [0.0, 0.0, 0.0]), "mondrian.model.80", "[0.0, 0.0, 0.0]",
     "widths above 0 (0 gives ranges whose low and high are equal)"),
    (lambda v: v["mondrian"]["model"].update({"80": [999999.0] * 3, "95": [999999.0] * 3}), "mondrian.model.80",
     "[999999.0, 999999.0, 999999.0]", "the conformal q's of its errors in each third of the days by sigma, MONDRIAN"),
    (lambda v: v["mondrian"]["model"].update({k: [q and q / 2 for q in qs] for k, qs in v["mondrian"]["model"].items()}),
     "mondrian.model.80", "HALVED", "the conformal q's of its errors in each third of the days by sigma, MONDRIAN"),
    # what every q is computed from
    (_set(["sigma", 3], 11.0), "sigma", "SIGMA_LIST", "17 numbers from 0 to 10, one per validation day"),
    (_set(["errors", "naive"], [0.01] * 16), "errors.naive", repr([0.01] * 16)[:60],
     "17 numbers from 0 to 10, one per validation day"),
    (lambda v: v.update(sigma=[2 * x for x in v["sigma"]]), "cuts", "CUTS",
     "the validation sigmas' tercile boundaries, DOUBLED_CUTS"),
    (lambda v: v["errors"].update(model=[x / 2 for x in v["errors"]["model"]]), "scores.model",
     "not what its errors and sigmas give", "its errors over its sigmas, sorted"),
], ids=["cuts", "variance", "variance-huge", "median", "level-missing", "negative-q", "two-groups", "narrower",
        "scores-order", "scores-count", "q-not-its-scores", "mondrian-zero", "mondrian-huge", "mondrian-halved",
        "sigma-huge", "errors-count", "sigmas-doubled", "errors-halved"])
def test_a_bad_volatility_calibration_is_refused(gru_copy, capsys, change, key, shown, need):
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    if "naive.95" in key:  # a finite 80% q above the edited 95% one
        meta["intervals"]["volatility"]["mondrian"]["naive"]["80"] = [0.01, 0.01, 0.01]
    v = meta["intervals"]["volatility"]
    edit_meta(gru_copy / "gru", intervals=_volatility_edit(meta, change))
    listed = lambda qs: "[" + ", ".join("null" if q is None else repr(float(q)) for q in qs) + "]"  # noqa: E731
    shown = (shown.replace("HALVED", listed([q and q / 2 for q in v["mondrian"]["model"]["80"]]))
             .replace("SIGMA_LIST", repr(v["sigma"][:3] + [11.0] + v["sigma"][4:])[:60])
             .replace("CUTS", listed(v["cuts"])))
    need = (need.replace("SCORES_Q", repr(conformal_quantile(v["scores"]["model"], 80)))
            .replace("MONDRIAN", listed(v["mondrian"]["model"]["80"]))
            .replace("DOUBLED_CUTS", listed([2 * c for c in v["cuts"]])))
    assert one_error(capsys, "predict", "--out", gru_copy) == (
        f"{gru_copy / 'gru' / 'model.json'}: intervals.volatility.{key} is {shown}, expected {need}; {R}")


def test_a_model_json_without_the_volatility_calibration_is_refused(gru_copy, capsys):
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    del meta["intervals"]["volatility"]
    edit_meta(gru_copy / "gru", intervals=meta["intervals"])
    assert one_error(capsys, "predict", "--out", gru_copy) == (
        f"{gru_copy / 'gru' / 'model.json'}: intervals.volatility is missing, expected the volatility calibration; {R}")


def _ewma_by_hand(closes, start: float) -> float:
    var = start
    for a, b in zip(closes, closes[1:]):
        var = 0.94 * var + 0.06 * math.log(b / a) ** 2
    return math.sqrt(var)


def test_predict_draws_every_method_from_the_last_window(gru_copy, capsys):
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    v, q_fixed = meta["intervals"]["volatility"], meta["intervals"]["model"]["80"]
    sigma = _ewma_by_hand(list(WALK.iloc[-5:]), v["train_variance"])  # window 5: the last 5 closes
    code, text, err = run(capsys, "predict", "--out", gru_copy, "--json", "--interval-method", "scaled")
    assert code == 0, err
    r = json.loads(text)
    point = r["predicted_close"]
    assert r["interval_method"] == "scaled" and r["volatility"]["sigma"] == pytest.approx(sigma, rel=1e-12)
    assert r["volatility"]["usual_sigma"] == v["median_sigma"]
    low, high = v["cuts"]
    assert r["volatility"]["third"] == ("calm" if sigma < low else "middle" if sigma < high else "volatile")
    q = v["scaled"]["model"]["80"] * sigma
    assert (r["intervals"]["80"]["lower"], r["intervals"]["80"]["upper"]) == pytest.approx(
        (point * math.exp(-q), point * math.exp(q)), rel=1e-12)
    assert r["methods"]["scaled"] == r["intervals"]
    assert (r["methods"]["fixed"]["80"]["lower"], r["methods"]["fixed"]["80"]["upper"]) == pytest.approx(
        (point * math.exp(-q_fixed), point * math.exp(q_fixed)), rel=1e-12)
    z = 1.2815515655446004 * sigma  # gauss: the normal 90% quantile
    assert r["methods"]["gauss"]["80"]["upper"] == pytest.approx(point * math.exp(z), rel=1e-12)
    group = 0 if sigma < low else 1 if sigma < high else 2
    qm = v["mondrian"]["model"]["80"][group]
    assert r["methods"]["mondrian"]["80"]["upper"] == (None if qm is None else pytest.approx(point * math.exp(qm)))
    code, text, _ = run(capsys, "predict", "--out", gru_copy, "--interval-method", "fixed", "--json")
    assert json.loads(text)["intervals"] == r["methods"]["fixed"]
    code, text, _ = run(capsys, "predict", "--out", gru_copy, "--json")  # the default: aci
    assert (json.loads(text)["interval_method"], json.loads(text)["intervals"]) == ("aci", r["methods"]["aci"])
    code, text, _ = run(capsys, "predict", "--out", gru_copy, "--interval-method", "mondrian")
    assert (f"  ranges by   mondrian (width of today's volatility third); today's volatility {100 * sigma:.2f}% "
            f"a day, {sigma / v['median_sigma']:.2f}x the validation days' median {100 * v['median_sigma']:.2f}% "
            f"({r['volatility']['third']} third)") in text.splitlines()


@pytest.mark.parametrize("since", [None, "2021-05-10"])
def test_evaluate_runs_aci_over_the_days_in_order(gru_copy, capsys, since):
    """By hand: each day's q is the stored scores' conformal quantile at 1 - alpha_t, alpha moving by
    gamma (0.2 - missed) after each day; the band is the point * exp(+-q sigma). The run starts the day
    after the calibration (2021-04-14) whatever the range, as predict's does: a range from 2021-05-10
    gets the bands of a level that has adapted over the 26 days before it."""
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    v = meta["intervals"]["volatility"]
    code, text, err = run(capsys, "evaluate", "--out", gru_copy, "--aci-gamma", "0.02", "--json",
                          *(["--since", since] if since else []))
    assert code == 0, err
    r = json.loads(text)
    assert r["aci_gamma"] == 0.02 and r["first_date"] == (since or "2021-04-14")
    first, last = date(2021, 4, 14), date.fromisoformat(r["last_date"])
    closes = WALK.loc[:last.isoformat()].to_numpy()
    days = (last - first).days + 1
    alpha, inside, widths = 0.2, [], []
    for k in range(days):
        window = closes[len(closes) - days - 5 + k:len(closes) - days + k]    # the 5 closes before day k
        actual, sigma = closes[len(closes) - days + k], _ewma_by_hand(list(window), v["train_variance"])
        q = math.inf if alpha <= 0 else 0.0 if alpha >= 1 else conformal_quantile(v["scores"]["naive"], 100 * (1 - alpha))
        held = abs(math.log(actual / window[-1])) <= q * sigma
        inside.append(held)
        widths.append(100 * (math.exp(q * sigma) - math.exp(-q * sigma)))  # % of the forecast
        alpha += 0.02 * (0.2 - (not held))
    shown = r["days"]  # the range: the run's last days
    assert shown == (days if since is None else 21)
    assert r["interval_methods"]["aci"]["naive"]["80"]["coverage"] == pytest.approx(np.mean(inside[-shown:]))
    assert math.isfinite(max(widths))  # gamma 0.02 keeps alpha inside (0, 1) here: every band finite
    assert r["interval_methods"]["aci"]["naive"]["80"]["mean_width_pct"] == pytest.approx(np.mean(widths[-shown:]))
    assert r["interval_methods"]["aci"]["naive"]["80"]["days"] == shown
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--out", str(gru_copy), "--aci-gamma", "1"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: aci_gamma must be a number between 0 and 1 (exclusive), got 1.0")


def test_an_unknown_interval_method_is_a_usage_error(gru_copy, capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict", "--out", str(gru_copy), "--interval-method", "garch-t"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "argument --interval-method: invalid choice: 'garch-t' (choose from 'fixed', 'scaled', 'mondrian', 'gauss', 'aci')")


# --- a model that reads more than the close -------------------------------------------------------

INPUTS = "close,high,volume"


@pytest.fixture(scope="module")
def with_inputs(tmp_path_factory):
    """A GRU and an all-data LSTM reading the close, high and volume, trained on 120 days of WALK."""
    root = tmp_path_factory.mktemp("inputs")
    write_yahoo_csv(root / "prices.csv", WALK.iloc[:120])
    for cell, extra in (("gru", []), ("lstm", ["--all-data"])):
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["train", "--cell", cell, "--csv", str(root / "prices.csv"), *SMALL, "--inputs", INPUTS,
                         *extra, "--out", str(root / "out")])
        assert code == 0, cell
    write_yahoo_csv(root / "prices.csv", WALK)
    return root


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_model_json_records_the_inputs(with_inputs, cell):
    meta = json.loads((with_inputs / "out" / cell / "model.json").read_text())
    assert (meta["features"], meta["inputs"], meta["settings"]["inputs"]) == (3, ["close", "high", "volume"],
                                                                               ["close", "high", "volume"])
    assert meta["scaling"]["params"]["extra"] == ["high", "volume"]
    info = saved_model.load_model(with_inputs / "out" / cell).info
    assert info.inputs == ("close", "high", "volume")
    # Its data fingerprint covers the columns it read: the prices it was trained on, high and volume too.
    prices = load_csv(with_inputs / "prices.csv", end=date(2021, 4, 30))
    assert info.data.sha256 == prices.sha256(("close", "high", "volume")) != prices.sha256()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_predict_and_evaluate_read_the_inputs(with_inputs, capsys, tmp_path, cell):
    out = with_inputs / "out"
    code, text, err = run(capsys, "predict", "--out", out, "--cell", cell, "--json")
    assert code == 0 and json.loads(text)["inputs"] == ["close", "high", "volume"]
    assert err.splitlines()[0] == f"{with_inputs / 'prices.csv'}: next-day forecast by {cell.upper()} from {INPUTS}"
    # The last day's volume ten times larger: the model reads it, so the forecast moves.
    louder = pd.read_csv(with_inputs / "prices.csv")
    louder.loc[louder.index[-1], "Volume"] *= 10
    louder.to_csv(tmp_path / "louder.csv", index=False)
    code, loud, _ = run(capsys, "predict", "--out", out, "--cell", cell, "--csv", tmp_path / "louder.csv", "--json")
    assert code == 0 and json.loads(loud)["predicted_close"] != json.loads(text)["predicted_close"]
    assert run(capsys, "evaluate", "--out", out, "--cell", cell, "--in-sample", "--quiet")[0] == 0
    # A price file without the volume is refused in one line, by both commands.
    close_only = tmp_path / "close.csv"
    close_only.write_text("Date,Close\n" + "".join(f"{d:%Y-%m-%d},{c}\n" for d, c in WALK.items()))
    for command in ("predict", "evaluate"):
        assert one_error(capsys, command, "--out", out, "--cell", cell, "--csv", close_only) == (
            f"{close_only} cannot give the input 'high': no 'High' column; it supports close")


@pytest.mark.parametrize(("changes", "message"), [
    ({"inputs": ["close", "high"]}, "inputs is ['close', 'high'], expected the scaling's inputs close,high,volume"),
    ({"features": 1}, "features is 1, expected 3, one per input"),
    ({"settings": "SETTINGS"}, "settings.inputs is ['close', 'high'], expected the scaling's inputs close,high,volume"),
])
def test_inputs_that_contradict_the_scaling_are_refused(with_inputs, tmp_path, capsys, changes, message):
    shutil.copytree(with_inputs / "out", tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "gru" / "model.json").read_text())
    if changes.get("settings") == "SETTINGS":
        changes = {"settings": {**meta["settings"], "inputs": ["close", "high"]}}
    edit_meta(tmp_path / "out" / "gru", **changes)
    assert one_error(capsys, "predict", "--out", tmp_path / "out") == (
        f"{tmp_path / 'out' / 'gru' / 'model.json'}: {message}; {R}")


def test_a_model_json_without_inputs_reads_the_close(gru_copy, capsys):
    """model.json files written before --inputs have no "inputs": they are close-only models."""
    meta = json.loads((gru_copy / "gru" / "model.json").read_text())
    del meta["inputs"]
    (gru_copy / "gru" / "model.json").write_text(json.dumps(saved_model.seal(meta)))
    assert run(capsys, "predict", "--out", gru_copy, "--quiet")[0] == 0
    assert saved_model.load_model(gru_copy / "gru").info.inputs == ("close",)
