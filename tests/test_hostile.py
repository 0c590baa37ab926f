"""The CLI over a table of hostile inputs and faults, as an adversarial user would try them.

For every row: the exit code, exactly one stderr line starting with `error:` (no traceback,
no library warning or log line before it), and a previously saved run and price cache that
are byte-identical afterwards.
"""

import errno
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import pandas as pd
import pytest
from tests.conftest import COMPARE_TINY, go_offline, random_walk, write_yahoo_csv

from forecast import prices, saved_model
from forecast.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--window", "5", "--units", "4", "--epochs", "1", "--batch-size", "16", "--quiet", "--no-jit-compile"]
R = "retrain the model (python -m forecast train)"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained GRU run and a Yahoo cache, made once: (csv, out, cache_dir)."""
    root = tmp_path_factory.mktemp("hostile")
    csv = write_yahoo_csv(root / "prices.csv", random_walk(120))
    out, cache = root / "out", root / "cache"
    assert main(["train", "--csv", str(csv), *SMALL, "--out", str(out)]) == 0
    cache.mkdir()
    frame = pd.read_csv(csv)
    frame.to_csv(cache / "BTC-USD.csv", index=False)
    return csv, out, cache


@pytest.fixture
def world(saved, tmp_path):
    """A private copy of the saved run and cache, free to damage: (csv, out, cache)."""
    csv, out, cache = saved
    shutil.copytree(out, tmp_path / "out")
    shutil.copytree(cache, tmp_path / "cache")
    return csv, tmp_path / "out", tmp_path / "cache"


def snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


# --- the hostile inputs: (name, prepare(world, tmp_path, monkeypatch) -> argv, exit code, error) ---

def _csv(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _write_bytes(tmp_path, name: str, raw: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(raw)
    return str(path)


def _rows(line, days: int = 120, skip=()):
    """A price file of `days` rows made by `line(date, close)` from a seeded walk, rows in `skip` left out."""
    walk = random_walk(days)

    def prepare(w, tmp, mp):
        body = "".join(line(d, c) + "\n" for i, (d, c) in enumerate(walk.items()) if i not in skip)
        return ["data", "--csv", _csv(tmp, "p.csv", "Date,Close\n" + body)]
    return prepare


TIMED = "Date,Close\n" + "".join(f"2021-01-{d:02d} 00:00:00,{100 + d}\n" for d in range(1, 29))
MANY_DAYS = pd.date_range("2000-01-01", periods=20000)  # over 131,072 characters of rows
STRAY_QUOTE = "Date,Close\n2021-01-01,\"1\n" + "".join(f"{d:%Y-%m-%d},2\n" for d in MANY_DAYS)
PLAIN = "Date,Close\n" + "".join(f"{d:%Y-%m-%d},{i}\n" for i, d in enumerate(MANY_DAYS, 1))
NUMBERS = "write plain numbers with a decimal point and no thousands separator"


def _fifo(w, tmp, mp):
    """A FIFO as --csv. Should a reader ever open it, a writer turns up and leaves: the row fails, never hangs."""
    path = tmp / "p.csv"
    os.mkfifo(path)

    def unblock():
        for _ in range(300):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO while nobody reads
                return
            except OSError:
                time.sleep(0.1)
    threading.Thread(target=unblock, daemon=True).start()
    return ["data", "--csv", path]


def _meta_edit(out: Path, seal: bool = True, **changes) -> None:
    path = out / "gru" / "model.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(saved_model.seal(meta) if seal else meta))


def _scale(value):
    return lambda w, tmp, mp: (_meta_edit(w[1], scaling={"name": "window", "params": {"scale": value}}),
                               ["predict", "--csv", w[0], "--out", w[1]])[1]


def _model_bytes(transform):
    def prepare(w, tmp, mp):
        model = w[1] / "gru" / "model.keras"
        model.write_bytes(transform(model.read_bytes()))
        return ["predict", "--csv", w[0], "--out", w[1]]
    return prepare


def _other_runs_model(w, tmp, mp):
    """A model.keras from another run beside this run's model.json: a mismatched pair."""
    other = tmp / "other"
    assert main(["train", "--csv", str(w[0]), *SMALL, "--seed", "7", "--out", str(other)]) == 0
    shutil.copy(other / "gru" / "model.keras", w[1] / "gru" / "model.keras")
    return ["evaluate", "--csv", w[0], "--out", w[1]]


def _raise_in(target, name, error):
    def prepare(w, tmp, mp):
        def boom(*args, **kwargs):
            raise error
        mp.setattr(target, name, boom)
        return ["train", "--csv", w[0], *SMALL, "--out", w[1]]
    return prepare


def _offline(w, tmp, mp):
    go_offline(mp)  # ETH-USD: no embedded snapshot to fall back on
    return ["data", "--cache-dir", tmp / "empty-cache", "--ticker", "ETH-USD"]


def _resource_exhausted():
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[100000,400000]")


def _disk_full_on_charts(w, tmp, mp):
    from matplotlib.figure import Figure

    def savefig(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    mp.setattr(Figure, "savefig", savefig)
    return ["train", "--csv", w[0], *SMALL, "--seed", "9", "--out", w[1]]


def _out_is_a_file(w, tmp, mp):
    (tmp / "not-a-folder").write_text("x")
    return ["train", "--csv", w[0], *SMALL, "--out", tmp / "not-a-folder"]


def _unusable(value) -> str:
    scaling = {"name": "window", "params": {"scale": value}}
    return f"unusable scaling {scaling!r} (scale must be a number in (0, 1], got {value!r}); {R}"


def _intraday(bad_row: int, column: str, value: str):
    """120 days of hourly rows (unix seconds) from a seeded walk, one row's `column` set to `value`;
    `train --inputs ohlcv` on it."""
    def prepare(w, tmp, mp):
        walk = random_walk(120 * 24).to_numpy() / 100
        lines = ["Timestamp,Open,High,Low,Close,Volume"]
        for i, c in enumerate(walk):
            row = {"Timestamp": str(1609459200 + 3600 * i), "Open": f"{c:.2f}", "High": f"{c * 1.01:.2f}",
                   "Low": f"{c * 0.99:.2f}", "Close": f"{c:.2f}", "Volume": "12.5"}
            if i == bad_row - 1:
                row[column] = value
            lines.append(",".join(row.values()))
        return ["train", "--csv", _csv(tmp, "intraday.csv", "\n".join(lines) + "\n"), *SMALL, "--inputs", "ohlcv",
                "--out", w[1]]
    return prepare


def _daily_volumes(volumes: dict[int, str]):
    """The saved run's price file with the volumes of some days replaced; `train --inputs volume` on it."""
    def prepare(w, tmp, mp):
        frame = pd.read_csv(w[0])
        frame["Volume"] = frame["Volume"].astype(str)
        for i, v in volumes.items():
            frame.loc[i, "Volume"] = v
        frame.to_csv(tmp / "volumes.csv", index=False)
        return ["train", "--csv", tmp / "volumes.csv", *SMALL, "--inputs", "volume", "--out", w[1]]
    return prepare


def _constant(w, tmp, mp):
    flat = random_walk(120) * 0 + 87_500.0
    return ["train", "--csv", write_yahoo_csv(tmp / "flat.csv", flat), *SMALL, "--out", w[1]]


def _volatility_edit(change, *options):
    """predict on the saved run after an edit of model.json's volatility calibration, resealed."""
    def prepare(w, tmp, mp):
        meta = json.loads((w[1] / "gru" / "model.json").read_text())
        change(meta["intervals"]["volatility"])
        _meta_edit(w[1], intervals=meta["intervals"])
        return ["predict", "--csv", w[0], "--out", w[1], *options]
    return prepare


MISMATCH = f"is not the model described by {{out}}/gru/model.json (changed, truncated or from another run); {R}"

# (name, prepare, exit code, the error message with {out} and {tmp} to fill in)
HOSTILE = [
    # model files
    ("no saved model", lambda w, tmp, mp: ["predict", "--csv", w[0], "--out", tmp / "nothing"], 1,
     "no saved model at {tmp}/nothing/gru/model.keras: train first (python -m forecast train)"),
    ("truncated model", _model_bytes(lambda b: b[: len(b) // 2]), 1, "{out}/gru/model.keras " + MISMATCH),
    ("garbage model", _model_bytes(lambda b: b"\x00\xffnot a model" * 100), 1, "{out}/gru/model.keras " + MISMATCH),
    ("model from another run", _other_runs_model, 1, "{out}/gru/model.keras " + MISMATCH),
    ("model.json edited by hand", lambda w, tmp, mp: (_meta_edit(w[1], seal=False, window=7),
                                                      ["predict", "--csv", w[0], "--out", w[1]])[1], 1,
     "{out}/gru/model.json was changed after it was saved (its content hash does not match); " + R),
    *((f"scale {value!r}", _scale(value), 1, "{out}/gru/model.json: " + _unusable(value).replace("{", "{{").replace("}", "}}"))
      for value in (0, -0.03, 1e300, float("nan"), "0.03")),
    ("model.json without its split (evaluate)", lambda w, tmp, mp: (
        _meta_edit(w[1], split=None), ["evaluate", "--csv", w[0], "--out", w[1]])[1], 1,
     "{out}/gru/model.json: split is None, expected train, val and test spans; " + R),
    ("model.json without its data (predict)", lambda w, tmp, mp: (
        _meta_edit(w[1], data=None), ["predict", "--csv", w[0], "--out", w[1]])[1], 1,
     "{out}/gru/model.json: data is None, expected the data description; " + R),
    # issue 31: every row checked before it counts, absurd values, prices that leave no interval,
    # resealed interval calibrations
    ("an intraday row with a negative volume", _intraday(17, "Volume", "-5"), 1,
     "{tmp}/intraday.csv cannot give the input 'volume': volume must be a positive number on every row, got -5 at "
     "2021-01-01 16:00 (data row 17); it supports close,open,high,low,range"),
    ("an intraday row with an empty volume", _intraday(30, "Volume", ""), 1,
     "{tmp}/intraday.csv cannot give the input 'volume': volume must be a positive number on every row, got no value "
     "at 2021-01-02 05:00 (data row 30); it supports close,open,high,low,range"),
    ("an intraday high of abc", _intraday(40, "High", "abc"), 1,
     "{tmp}/intraday.csv cannot give the input 'high': high must be a positive number on every row, got 'abc' at "
     "2021-01-02 15:00 (data row 40); it supports close,open,low,volume"),
    ("an intraday high below its low", _intraday(50, "High", "1.00"), 1,
     "{tmp}/intraday.csv cannot give the input 'high': high 1 is below the open 364.04 at 2021-01-03 01:00 (data row "
     "50); columns swapped or misread?; it supports close,open,low,volume"),
    ("two volumes of 1.7e308", _daily_volumes({30: "1.7e308", 31: "1.7e308"}), 1,
     "{tmp}/volumes.csv cannot give the input 'volume': volume must be at most 1e+20 on every day (no real volume is "
     "larger), got 1.7e+308 on 2021-01-31; it supports close,open,high,low,range"),
    ("a volume of 1e25", _daily_volumes({60: "1e25"}), 1,
     "{tmp}/volumes.csv cannot give the input 'volume': volume must be at most 1e+20 on every day (no real volume is "
     "larger), got 1e+25 on 2021-03-02; it supports close,open,high,low,range"),
    ("constant closes (train)", _constant, 1,
     "{tmp}/flat.csv: the close does not move on 17 of the 17 validation days (2021-03-28..2021-04-13), so the 80% "
     "interval calibrated on them would have no width; train on prices that move (other --start/--end or --test-start)"),
    ("Mondrian q's of 0, resealed", _volatility_edit(
        lambda v: v["mondrian"]["model"].update({"80": [0.0, 0.0, 0.0]})), 1,
     "{out}/gru/model.json: intervals.volatility.mondrian.model.80 is [0.0, 0.0, 0.0], expected widths above 0 (0 gives "
     "ranges whose low and high are equal); " + R),
    ("Mondrian q's of 999999, resealed", _volatility_edit(
        lambda v: v["mondrian"]["model"].update({k: [999999.0] * 3 for k in v["mondrian"]["model"]})), 1,
     "{out}/gru/model.json: intervals.volatility.mondrian.model.80 is [999999.0, 999999.0, 999999.0], expected the "
     "conformal q's of its errors in each third of the days by sigma, [MONDRIAN_80]; " + R),
    ("Mondrian q's halved, resealed", _volatility_edit(
        lambda v: v["mondrian"]["model"].update({k: [q and q / 2 for q in qs] for k, qs in v["mondrian"]["model"].items()})),
     1, "{out}/gru/model.json: intervals.volatility.mondrian.model.80 is [HALVED_80], expected the conformal q's of "
        "its errors in each third of the days by sigma, [MONDRIAN_80]; " + R),
    ("train_variance 1e300, resealed (gauss)", _volatility_edit(lambda v: v.update(train_variance=1e300),
                                                               "--interval-method", "gauss"), 1,
     "{out}/gru/model.json: intervals.volatility.train_variance is 1e+300, expected a variance between 0 and 1; " + R),
    # resources, interruptions, the disk
    ("out of memory (numpy)", _raise_in(keras.Model, "fit", MemoryError()), 1,
     "out of memory; try a smaller --units, --batch-size or --batch"),
    ("out of memory (TensorFlow)", lambda w, tmp, mp: _raise_in(keras.Model, "fit", _resource_exhausted())(w, tmp, mp), 1,
     "out of memory; try a smaller --units, --batch-size or --batch"),
    ("Ctrl-C while training", _raise_in(keras.Model, "fit", KeyboardInterrupt()), 130,
     "interrupted; files already saved are intact"),
    ("disk full while saving charts", _disk_full_on_charts, 1,
     "cannot save {out}/gru: no space left on device in {out}"),
    ("--out is a file", _out_is_a_file, 1, "cannot save {tmp}/not-a-folder/gru: {tmp}/not-a-folder is a file, not a folder"),
    # the network
    ("offline, no cache", _offline, 1, "could not download 'ETH-USD' from Yahoo Finance (no network connection to "
                                       "Yahoo Finance); to run offline, pass a price file: --csv PATH"),
    # price files
    ("not UTF-8", lambda w, tmp, mp: ["data", "--csv", _write_bytes(tmp, "p.csv", b"Date,Close\n2021-01-01,\xff\n")], 1,
     "cannot read {tmp}/p.csv as CSV: not UTF-8 text (byte 0xff at offset 22)"),
    ("empty file", lambda w, tmp, mp: ["data", "--csv", _csv(tmp, "p.csv", "")], 1, "empty file: {tmp}/p.csv"),
    ("no close column", lambda w, tmp, mp: ["data", "--csv", _csv(tmp, "p.csv", "Date,Open\n2021-01-01,1\n")], 1,
     "{tmp}/p.csv: no close column (expected 'Close' or 'Adj Close'; found 'date', 'open')"),
    ("a missing file", lambda w, tmp, mp: ["data", "--csv", tmp / "nope.csv"], 1, "no such file: {tmp}/nope.csv"),
    ("unquoted thousands separators", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:,.2f}"), 1,
     "{tmp}/p.csv line 2: 3 fields, the header has 2 (a comma inside a value, such as 87,508.83 or Sep 17, 2014? "
     "write plain numbers and YYYY-MM-DD dates, or quote such values)"),
    ("unquoted text dates", _rows(lambda d, c: f"{d:%b %d, %Y},{c:.2f}"), 1,
     "{tmp}/p.csv line 2: 3 fields, the header has 2 (a comma inside a value, such as 87,508.83 or Sep 17, 2014? "
     "write plain numbers and YYYY-MM-DD dates, or quote such values)"),
    ("ambiguous day-first dates", _rows(lambda d, c: f"{d:%d/%m/%y},{c:.2f}", days=12), 1,
     "{tmp}/p.csv: ambiguous dates in column 'date': '02/01/21' (data row 2) reads as 2021-01-02 (day first) "
     "or 2021-02-01 (month first); write dates as YYYY-MM-DD"),
    ("a typo year in the future", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:.2f}".replace("2021-01-05", "2921-01-05")), 1,
     "{tmp}/p.csv: date 2921-01-05 (data row 5) is after today, " + f"{prices.utc_today()} (UTC) (a typo in the year?)"),
    ("a typo year before Bitcoin", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:.2f}".replace("2021-01-05", "2001-01-05")), 1,
     "{tmp}/p.csv: date 2001-01-05 (data row 5) is before 2009-01-03, when Bitcoin began (a typo in the year?)"),
    ("a gap of 31 days", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:.2f}", skip=range(40, 71)), 1,
     "{tmp}/p.csv: gap of 31 missing days between 2021-02-09 (data row 40) and 2021-03-13 (data row 41); at most 30 "
     "in a row are filled (a typo in a date? else keep only the rows on one side of the gap)"),
    ("weekly prices", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:.2f}", days=400, skip=[i for i in range(400) if i % 7]), 1,
     "{tmp}/p.csv: not daily prices: consecutive dates are 7 days apart (median over 58 dates; weekly or monthly "
     "data?); the forecasts need one close per day"),
    ("a cut-off row", lambda w, tmp, mp: ["data", "--csv", _csv(tmp, "p.csv", "Date,Open,Close\n2021-01-01,1,2\n2021-01-02,1\n")], 1,
     "{tmp}/p.csv line 3: 2 fields, the header has 3 (a cut-off row? every row needs a field for each column, even an "
     "empty one)"),
    ("a negative close", _rows(lambda d, c: f"{d:%Y-%m-%d},{-c if d.day == 3 else c:.2f}"), 1,
     "{tmp}/p.csv: close must be positive, got -{close3} on 2021-01-03"),
    ("too little data", _rows(lambda d, c: f"{d:%Y-%m-%d},{c:.2f}", days=50), 1,
     "too little data: 50 daily closes from {tmp}/p.csv, need at least 80"),
    ("a day twice at two times in a daily file", lambda w, tmp, mp: ["data", "--csv", _csv(tmp, "p.csv", TIMED.replace(
        "2021-01-05 00:00:00,105\n", "2021-01-05 00:00:00,105\n2021-01-05 12:00:00,99.5\n"))], 1,
     "{tmp}/p.csv: daily prices with two rows for 2021-01-05: data row 5 (2021-01-05 00:00:00, close 105) and data "
     "row 6 (2021-01-05 12:00:00, close 99.5); keep one row per day"),
    ("decimal comma or thousands", lambda w, tmp, mp: ["data", "--csv", _csv(
        tmp, "p.csv", 'Date,Close\n2021-01-01,"2,187"\n2021-01-02,"2,201"\n')], 1,
     "{tmp}/p.csv: ambiguous numbers in column 'close': '2,187' (data row 1) reads as 2187 (thousands separator) or "
     "2.187 (decimal comma); " + NUMBERS),
    ("two number conventions in a column", lambda w, tmp, mp: ["data", "--csv", _csv(
        tmp, "p.csv", 'Date,Close\n2021-01-01,"1,234.56"\n2021-01-02,"0,5"\n')], 1,
     "{tmp}/p.csv: column 'close' mixes number formats: '1,234.56' (data row 1) has a comma for thousands, '0,5' "
     "(data row 2) a comma for decimals; " + NUMBERS),
    ("a stray quote early on", lambda w, tmp, mp: ["data", "--csv", _csv(tmp, "p.csv", STRAY_QUOTE)], 1,
     '{tmp}/p.csv line 2: a quote (") opens a field that never ends, so the rest of the file would be one field (a '
     "stray quote? quote whole values only)"),
    ("Excel serial dates", lambda w, tmp, mp: ["data", "--csv", _csv(
        tmp, "p.csv", "Date,Close\n41899,1\n41900,2\n")], 1,
     "{tmp}/p.csv: dates in column 'date' look like Excel serial day numbers ('41899' would be 2014-09-17); save "
     "dates as YYYY-MM-DD"),
    ("UTF-16 without a byte order mark", lambda w, tmp, mp: ["data", "--csv", _write_bytes(
        tmp, "p.csv", "Date,Close\n2021-01-01,1\n".encode("utf-16-le"))], 1,
     "cannot read {tmp}/p.csv as CSV: UTF-16 text (little-endian) without a byte order mark; save it as UTF-8"),
    ("a cut-off gzip file", lambda w, tmp, mp: ["data", "--csv", _write_bytes(
        tmp, "p.csv.gz", gzip.compress(PLAIN.encode())[:2000])], 1,
     "cannot read {tmp}/p.csv.gz: damaged gzip data (Compressed file ended before the end-of-stream marker was "
     "reached)"),
    ("two tickers in a yfinance file", lambda w, tmp, mp: ["data", "--csv", _csv(
        tmp, "p.csv", "Price,Close,Close\nTicker,BTC-USD,ETH-USD\nDate,,\n2021-01-01,1,2\n")], 1,
     "{tmp}/p.csv holds the prices of 2 tickers (BTC-USD, ETH-USD); save one ticker per file, e.g. "
     "yf.download('BTC-USD').to_csv('BTC-USD.csv')"),
    ("a folder as --csv", lambda w, tmp, mp: ["data", "--csv", tmp], 1, "{tmp} is a directory, not a price file"),
    ("a FIFO as --csv", _fifo, 1, "{tmp}/p.csv is not a regular file (a FIFO); pass a price file saved on disk"),
    ("/dev/null as --csv", lambda w, tmp, mp: ["data", "--csv", "/dev/null"], 1,
     "/dev/null is not a regular file (a character device); pass a price file saved on disk"),
]


@pytest.mark.parametrize(("prepare", "code", "message"), [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE])
def test_hostile_input_ends_in_one_error_line_and_changes_nothing(saved, world, tmp_path, monkeypatch, capsys,
                                                                 prepare, code, message):
    csv, out, cache = world
    argv = [str(a) for a in prepare((str(csv), out, cache), tmp_path, monkeypatch)]
    argv += [] if "--quiet" in argv else ["--quiet"]  # progress lines are not errors; --quiet leaves errors only
    before = snapshot(out, cache)
    capsys.readouterr()
    assert main(argv) == code
    stdout, stderr = capsys.readouterr()
    close3 = f"{random_walk(120).iloc[2]:g}"
    mondrian = json.loads((saved[1] / "gru" / "model.json").read_text())["intervals"]["volatility"]["mondrian"]["model"]["80"]
    message = (message.replace("[MONDRIAN_80]", repr([float(q) for q in mondrian]))
               .replace("[HALVED_80]", repr([q / 2 for q in mondrian])))
    assert stderr.splitlines() == ["error: " + message.format(out=out, tmp=tmp_path, close3=close3)]
    assert snapshot(out, cache) == before


# --- the real signal and the real import, in a child process ------------------------------

def _child(argv, env=None):
    return subprocess.Popen([sys.executable, "-m", "forecast", *argv], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.2, 2.5])
def test_ctrl_c_while_tensorflow_loads_is_one_line(tmp_path, delay):
    """SIGINT during start-up: TensorFlow's import takes seconds (Python itself is up within the first
    second even on a busy machine), so both delays land in it or
    in what follows; either way one line and exit 130, never a traceback or TF's start-up noise."""
    csv = write_yahoo_csv(tmp_path / "p.csv", random_walk(120))
    child = _child(["train", "--csv", str(csv), *SMALL, "--epochs", "50", "--out", str(tmp_path / "out")])
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert err.splitlines() == ["error: interrupted; files already saved are intact"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("model.keras"))


def test_library_warnings_do_not_reach_stderr(world, monkeypatch, capsys):
    """A pandas ParserWarning (or any library warning) on the way is not the user's business."""
    import warnings

    from forecast import csv_source

    real = csv_source.read_csv_frame

    def warns(*args, **kwargs):
        warnings.warn("Length of header or names does not match length of data.", pd.errors.ParserWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(csv_source, "read_csv_frame", warns)
    csv, _, _ = world
    capsys.readouterr()
    assert main(["data", "--csv", str(csv)]) == 0
    assert capsys.readouterr().err == ""


def test_compare_replaces_a_tampered_saved_model_with_a_warning(compared, tmp_path, capsys):
    """compare's reuse check reads model.json too: a tampered one is not reused, it is retrained
    (on a copy of the shared comparison, whose other saved model is reused as it is)."""
    cfg, _, _ = compared
    out = tmp_path / "out"
    shutil.copytree(cfg.out, out)
    _meta_edit(out, data=None)
    lstm = (out / "lstm" / "model.keras").read_bytes()
    capsys.readouterr()
    assert main(["compare", "--csv", str(cfg.csv), *COMPARE_TINY, "--seeds", "1", "--calls", "0",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "retrain" in err
    assert saved_model.load_model(out / "gru").info.data.source == str(cfg.csv)
    assert (out / "lstm" / "model.keras").read_bytes() == lstm
