"""The data stage: CSV layouts, validation, gaps, and the Yahoo source behind a fake yfinance.

Nothing here reaches the network: `yfinance.Ticker` is replaced by `FakeYahoo`, so the real
`forecast.yahoo_source.yahoo_history` runs up to the boundary (conftest's `no_network` answers its
connectivity probe for the fake). `today=`, `sleep=` and `snapshots=` are injected where `load_yahoo` is
called directly; through the CLI the backoff is set to zero instead, and the embedded snapshot is real.
"""

import logging
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance
from tests.conftest import go_offline, random_walk, write_yahoo_csv
from yfinance.exceptions import YFPricesMissingError

try:
    from yfinance.exceptions import YFRateLimitError
except ImportError:  # yfinance before 0.2.52 had no class of its own for HTTP 429
    class YFRateLimitError(Exception):
        def __init__(self):
            super().__init__("Too Many Requests. Rate limited. Try after a while.")
try:  # yfinance >= 0.2.55 talks to Yahoo through curl_cffi, older ones through requests
    from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
except ImportError:
    from requests.exceptions import ConnectionError as CurlConnectionError

from forecast import yahoo_source
from forecast.__main__ import main
from forecast.config import Config
from forecast.prices import Prices, describe_gaps
from forecast.sources import load_prices
from forecast.csv_source import load_csv
from forecast.yahoo_source import CACHE_COLUMNS, cache_path, load_yahoo
from forecast.errors import ConfigError, DataError
from forecast.windows import rows_needed

D = date.fromisoformat


@pytest.fixture(autouse=True)
def forecast_logging():
    """`main` points the "forecast" logger at stderr and stops propagation; undo that around
    each test so that caplog sees the records and no test depends on another's CLI run."""
    logger = logging.getLogger("forecast")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = []
    logger.propagate = True
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(capsys, argv, message: str) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err) == (1, "", f"error: {message}\n")


def summary_lines(out: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def check_same_closes(prices: Prices, expected: pd.Series) -> None:
    got = prices.close
    assert got.dtype == "float64" and got.index.tz is None and got.index.freq == "D"
    assert list(got.index) == list(expected.index)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


# --- CSV layouts ----------------------------------------------------------------------------

def test_classic_yahoo_layout(walk_csv, walk):
    prices = load_csv(walk_csv)
    check_same_closes(prices, walk)
    assert prices.source == str(walk_csv)
    assert prices.gaps == () and prices.cache is None


def write_multiheader_csv(path: Path, close: pd.Series) -> Path:
    """What `yf.download("BTC-USD").to_csv(path)` writes with yfinance >= 0.2.51."""
    prices = {"Close": close, "High": close * 1.02, "Low": close * 0.97, "Open": close * 0.99,
              "Volume": pd.Series(123, index=close.index)}
    frame = pd.DataFrame({(k, "BTC-USD"): v.to_numpy() for k, v in prices.items()},
                         index=pd.DatetimeIndex(close.index, name="Date"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    frame.to_csv(path)
    return path


def test_yfinance_three_header_rows(tmp_path, walk):
    path = write_multiheader_csv(tmp_path / "multi.csv", walk)
    assert path.read_text().splitlines()[:3] == [
        "Price,Close,High,Low,Open,Volume",
        "Ticker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD",
        "Date,,,,,",
    ]
    # Close is the first column here and Open differs: the closes prove the right one was taken.
    check_same_closes(load_csv(path), walk)


@pytest.mark.parametrize("header", [
    "date,open,high,low,close,adj close,volume",
    "DATE,OPEN,HIGH,LOW,CLOSE,ADJ CLOSE,VOLUME",
    " Date , Open , High , Low , Close , Adj_Close , Volume ",
])
def test_column_names_in_any_case_and_spacing(tmp_path, walk, header):
    rows = [f"{d:%Y-%m-%d},1,2,0.5,{c!r},{c!r},7" for d, c in walk.items()]
    path = write(tmp_path / "p.csv", "\n".join([header, *rows]) + "\n")
    check_same_closes(load_csv(path), walk)


def test_without_adj_close(tmp_path, walk):
    path = write_yahoo_csv(tmp_path / "p.csv", walk)
    frame = pd.read_csv(path).drop(columns="Adj Close")
    frame.to_csv(path, index=False)
    check_same_closes(load_csv(path), walk)


def test_close_is_preferred_to_adj_close(tmp_path, walk):
    frame = pd.DataFrame({"Date": walk.index.strftime("%Y-%m-%d"),
                          "Adj Close": walk.to_numpy() * 0.5, "Close": walk.to_numpy()})
    frame.to_csv(tmp_path / "p.csv", index=False)
    check_same_closes(load_csv(tmp_path / "p.csv"), walk)


def test_adj_close_alone_is_used(tmp_path, walk):
    frame = pd.DataFrame({"Date": walk.index.strftime("%Y-%m-%d"), "Adj Close": walk.to_numpy()})
    frame.to_csv(tmp_path / "p.csv", index=False)
    check_same_closes(load_csv(tmp_path / "p.csv"), walk)


def test_newest_first(tmp_path, walk):
    path = write_yahoo_csv(tmp_path / "p.csv", walk.iloc[::-1])
    assert path.read_text().splitlines()[1].startswith(f"{walk.index[-1]:%Y-%m-%d},")
    check_same_closes(load_csv(path), walk)
    check_same_closes(load_csv(path, start=D("2021-02-01"), end=D("2021-02-28")), walk["2021-02"])


def test_extra_columns_and_any_column_order(tmp_path, walk):
    frame = pd.DataFrame({"Symbol": "BTC", "Volume": 5, "Close": walk.to_numpy(), "Note": "x y",
                          "Date": walk.index.strftime("%Y-%m-%d"), "Market Cap": 1e12})
    frame.to_csv(tmp_path / "p.csv", index=False)
    check_same_closes(load_csv(tmp_path / "p.csv"), walk)


def test_utf8_byte_order_mark(tmp_path, walk):
    path = write_yahoo_csv(tmp_path / "p.csv", walk)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    check_same_closes(load_csv(path), walk)


def test_dates_in_other_notations(tmp_path):
    iso = write(tmp_path / "iso.csv", "Date,Close\n2021-01-01,1\n2021-01-02,2\n2021-01-03,3\n")
    compact = write(tmp_path / "compact.csv", "Date,Close\n20210101,1\n20210102,2\n20210103,3\n")
    # Day-first is read as one format for the whole column, not value by value.
    dayfirst = write(tmp_path / "dayfirst.csv", "Date,Close\n01/01/2021,1\n02/01/2021,2\n03/01/2021,3\n"
                     + "".join(f"{d:02d}/01/2021,{d}\n" for d in range(4, 14)))
    expected = load_csv(iso).close
    check_same_closes(load_csv(compact), expected)
    check_same_closes(load_csv(dayfirst), pd.Series(
        np.arange(1.0, 14), index=pd.date_range("2021-01-01", periods=13, freq="D")))


def test_unix_seconds_daily_timestamps(tmp_path, walk):
    seconds = walk.index.astype("datetime64[s]").astype("int64")
    lines = ["Timestamp,Close"] + [f"{s},{c!r}" for s, c in zip(seconds, walk)]
    check_same_closes(load_csv(write(tmp_path / "p.csv", "\n".join(lines))), walk)


def test_unix_milliseconds(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n1609459200000,1\n1609545600000,2\n")
    check_same_closes(load_csv(path), pd.Series([1.0, 2.0], index=pd.date_range("2021-01-01", periods=2)))


def test_offsets_land_on_the_utc_day(tmp_path):
    # Intraday rows (an hour apart, a median spacing well under a day): 01:30 at +02:00 is 23:30 UTC
    # of the day before; 23:30 at +02:00 is 21:30 UTC the same day.
    path = write(tmp_path / "p.csv", "Date,Close\n"
                 "2021-03-02T00:30:00+02:00,5\n"
                 "2021-03-02T01:30:00+02:00,10\n"
                 "2021-03-02T22:30:00+02:00,15\n"
                 "2021-03-02T23:30:00+02:00,20\n"
                 "2021-03-04T00:30:00+02:00,25\n"
                 "2021-03-04T01:30:00+02:00,30\n")
    close = load_csv(path).close
    assert close.index.tz is None
    assert list(close.index) == list(pd.date_range("2021-03-01", "2021-03-03", freq="D"))
    assert close.tolist() == [10.0, 20.0, 30.0]


def bitstamp_minutes(seed: int = 1) -> pd.DataFrame:
    """Kaggle Bitstamp layout for three UTC days: one row per minute, NaN where nothing traded."""
    rng = np.random.default_rng(seed)
    start = int(pd.Timestamp("2021-01-01", tz="UTC").timestamp())
    seconds = start + 60 * np.arange(3 * 24 * 60)
    close = 30_000 + np.cumsum(rng.normal(0, 5, len(seconds)))
    close[rng.random(len(seconds)) < 0.3] = np.nan
    close[2 * 1440 - 3:2 * 1440] = np.nan  # the last three minutes of day 2 had no trades
    return pd.DataFrame({"Timestamp": seconds.astype("float64"), "Open": close, "High": close,
                         "Low": close, "Close": close, "Volume": np.where(np.isnan(close), np.nan, 1.5)})


def test_intraday_timestamps_become_daily_utc_closes(tmp_path):
    minutes = bitstamp_minutes()
    minutes.to_csv(tmp_path / "bitstamp.csv", index=False, na_rep="NaN")
    assert (tmp_path / "bitstamp.csv").read_text().splitlines()[0] == "Timestamp,Open,High,Low,Close,Volume"
    # The last trade of each UTC day, found without pandas' resampling.
    expected = {}
    for ts, c in zip(minutes["Timestamp"], minutes["Close"]):
        if not np.isnan(c):
            expected[datetime.fromtimestamp(ts, timezone.utc).date()] = c
    prices = load_csv(tmp_path / "bitstamp.csv")
    assert [d.date() for d in prices.close.index] == [D("2021-01-01"), D("2021-01-02"), D("2021-01-03")]
    assert prices.close.tolist() == list(expected.values())
    assert prices.close.iloc[1] == minutes["Close"].iloc[:2 * 1440].dropna().iloc[-1]
    assert prices.gaps == ()


def test_intraday_midnight_belongs_to_the_new_day(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n"
                 "1609545599,1\n"  # 2021-01-01 23:59:59 UTC
                 "1609545600,2\n"  # 2021-01-02 00:00:00 UTC
                 "1609631940,3\n")  # 2021-01-02 23:59:00 UTC
    assert load_csv(path).close.tolist() == [1.0, 3.0]


def test_intraday_day_without_trades_is_a_gap(tmp_path):
    minutes = bitstamp_minutes()
    minutes.loc[1440:2 * 1440 - 1, "Close"] = np.nan  # all of 2021-01-02
    minutes.to_csv(tmp_path / "p.csv", index=False, na_rep="NaN")
    prices = load_csv(tmp_path / "p.csv")
    assert prices.gaps == ((D("2021-01-02"), D("2021-01-02")),)
    assert prices.close.iloc[1] == prices.close.iloc[0]


# --- gaps -----------------------------------------------------------------------------------

def test_missing_days_are_reported_and_filled_with_the_previous_close(tmp_path, walk, caplog, capsys):
    missing = pd.DatetimeIndex(["2021-01-05", "2021-01-10", "2021-01-11", "2021-01-12"])
    path = write_yahoo_csv(tmp_path / "p.csv", walk.drop(missing))
    with caplog.at_level(logging.WARNING, logger="forecast"):
        prices = load_csv(path)
    text = ("4 missing days filled with the previous close "
            "(2021-01-05, 2021-01-10..2021-01-12)")
    assert prices.gaps == ((D("2021-01-05"), D("2021-01-05")), (D("2021-01-10"), D("2021-01-12")))
    assert prices.filled_days == 4
    assert [r.getMessage() for r in caplog.records] == [f"gaps: {text}"]
    assert f"gaps:       {text}" in prices.summary().splitlines()
    # Every calendar day is there, so a 60-day window is 60 consecutive days.
    assert len(prices.close) == len(walk)
    assert (np.diff(prices.close.index.to_numpy()) == np.timedelta64(1, "D")).all()
    assert prices.close["2021-01-05"] == walk["2021-01-04"]
    assert (prices.close["2021-01-10":"2021-01-12"] == walk["2021-01-09"]).all()
    assert prices.close.drop(missing).equals(walk.drop(missing).rename_axis("date"))
    # And through the CLI.
    code, out, err = run_cli(capsys, "data", "--csv", path)
    assert code == 0
    assert summary_lines(out)["gaps"].strip() == text
    assert err == f"WARNING: gaps: {text}\n"


def test_many_gap_runs_are_summarised():
    runs = tuple((D(f"2021-01-{d:02d}"), D(f"2021-01-{d:02d}")) for d in range(2, 16, 2))
    assert describe_gaps(runs) == ("7 missing days filled with the previous close (2021-01-02, "
                                   "2021-01-04, 2021-01-06, 2021-01-08, 2021-01-10 and 2 more runs)")
    assert describe_gaps(()) == "none"


# --- validation -----------------------------------------------------------------------------

GOOD = "Date,Close\n2021-01-01,100\n2021-01-02,101\n2021-01-03,102\n"
BAD_FILES = {
    # name: (file text, the message after "{path}" where the message starts with the path)
    "no date column": ("Day,Open,Close\n2021-01-01,1,2\n",
                       "{path}: no date column (expected 'Date' or 'Datetime' or 'Timestamp' or "
                       "'Time'; found 'day', 'open', 'close')"),
    "no close column": ("Date,Open,High,Low,Volume\n2021-01-01,1,2,0.5,9\n",
                        "{path}: no close column (expected 'Close' or 'Adj Close'; "
                        "found 'date', 'open', 'high', 'low', 'volume')"),
    "unparseable date": ("Date,Close\n2021-01-01,1\n2021-01-02,2\n2021-02-30,3\n",
                         "{path}: unparseable date '2021-02-30' in column 'date' (data row 3)"),
    "word for a date": ("Date,Close\n2021-01-01,1\nyesterday,2\n",
                        "{path}: unparseable date 'yesterday' in column 'date' (data row 2)"),
    "non-numeric close": ("Date,Close\n2021-01-01,1\n2021-01-02,12k\n",
                          "{path}: non-numeric close '12k' on 2021-01-02"),
    "infinite close": ("Date,Close\n2021-01-01,1\n2021-01-02,inf\n",
                       "{path}: non-numeric close 'inf' on 2021-01-02"),
    "empty close": ("Date,Close\n2021-01-01,1\n2021-01-02,\n2021-01-03,3\n",
                    "{path}: missing close on 2021-01-02"),
    "NaN closes": ("Date,Close\n2021-01-01,1\n2021-01-02,NaN\n2021-01-03,nan\n2021-01-04,null\n",
                   "{path}: missing close on 2021-01-02 and 2 more"),
    "zero close": ("Date,Close\n2021-01-01,1\n2021-01-02,0\n",
                   "{path}: close must be positive, got 0 on 2021-01-02"),
    "negative close": ("Date,Close\n2021-01-01,1\n2021-01-02,-3.5\n",
                       "{path}: close must be positive, got -3.5 on 2021-01-02"),
    "duplicate dates": ("Date,Close\n2021-01-01,1\n2021-01-02,2\n2021-01-02,2\n2021-01-03,3\n"
                        "2021-01-04,4\n2021-01-04,5\n",
                        "{path}: duplicate dates: 2021-01-02, 2021-01-04"),
    "header only": ("Date,Open,High,Low,Close,Adj Close,Volume\n", "no data rows in {path}"),
    "blank lines only": ("\n\n\n", "empty file: {path}"),
    "three header rows only": ("Price,Close\nTicker,BTC-USD\nDate,\n", "no data rows in {path}"),
    "broken quoting": ('Date,Close\n2021-01-01,"1\n',
                       "cannot read {path} as CSV: Error tokenizing data. C error: "
                       "EOF inside string starting at row 1"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_one_line_data_error(tmp_path, capsys, case):
    text, message = BAD_FILES[case]
    path = write(tmp_path / "prices.csv", text)
    message = message.format(path=path)
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == message and "\n" not in message
    assert_one_line_error(capsys, ["data", "--csv", path], message)


def test_missing_file(tmp_path, capsys):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"^no such file: .*nowhere\.csv$"):
        load_csv(path)
    assert_one_line_error(capsys, ["data", "--csv", path], f"no such file: {path}")


def test_zero_byte_file(tmp_path, capsys):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == f"empty file: {path}"
    assert_one_line_error(capsys, ["data", "--csv", path], f"empty file: {path}")


@pytest.mark.parametrize("content, byte, offset", [
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xa1", "0xa1", 14),  # an .xlsx is a zip
    ("Date,Close,Note\n2021-01-01,1,caf\u00e9\n".encode("latin-1"), "0xe9", 32),
])
def test_file_that_is_not_utf8_text(tmp_path, capsys, content, byte, offset):
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    message = f"cannot read {path} as CSV: not UTF-8 text (byte {byte} at offset {offset})"
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == message
    assert_one_line_error(capsys, ["data", "--csv", path], message)


def test_too_few_rows_for_a_window_and_a_test_period(tmp_path, capsys):
    needed = rows_needed(60)
    short = write_yahoo_csv(tmp_path / "short.csv", random_walk(needed - 1))
    message = f"too little data: {needed - 1} daily closes from {short}, need at least {needed}"
    with pytest.raises(DataError) as e:
        load_csv(short, min_rows=needed)
    assert str(e.value) == message
    assert_one_line_error(capsys, ["data", "--csv", short], message)
    # The window sets the need: a 10-day window needs rows_needed(10).
    assert_one_line_error(
        capsys, ["data", "--csv", short, "--window", 80],
        f"too little data: {needed - 1} daily closes from {short}, need at least {rows_needed(80)}")
    enough = write_yahoo_csv(tmp_path / "enough.csv", random_walk(needed))
    code, out, _ = run_cli(capsys, "data", "--csv", enough)
    assert code == 0 and summary_lines(out)["rows"].strip() == str(needed)


def test_start_and_end_slice_the_series(tmp_path, walk, capsys):
    path = write_yahoo_csv(tmp_path / "p.csv", walk)
    prices = load_csv(path, start=D("2021-02-01"), end=D("2021-04-30"))
    check_same_closes(prices, walk["2021-02-01":"2021-04-30"])
    code, out, _ = run_cli(capsys, "data", "--csv", path, "--start", "2021-02-01", "--window", 10)
    assert code == 0
    lines = summary_lines(out)
    assert lines["first date"].strip() == "2021-02-01" and lines["rows"].strip() == str(200 - 31)
    assert_one_line_error(
        capsys, ["data", "--csv", path, "--start", "2021-07-01"],
        f"too little data: 19 daily closes between 2021-07-01 and the end from {path}, need at least 80")
    with pytest.raises(SystemExit) as usage:  # a contradiction between flags is a usage error
        main(["data", "--csv", str(path), "--start", "2021-03-01", "--end", "2021-02-01"])
    assert usage.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: start 2021-03-01 is after end 2021-02-01")


def test_summary_and_fingerprint(walk_csv, walk, tmp_path):
    prices = load_csv(walk_csv)
    assert prices.summary().splitlines() == [
        f"source:     {walk_csv}",
        "rows:       200",
        "first date: 2021-01-01",
        "last date:  2021-07-19",
        f"last close: {walk.iloc[-1]:,.2f} USD",
        "gaps:       none",
        "inputs:     close,open,high,low,range,volume (--inputs)",
    ]
    # The fingerprint is of the dates and closes, not of the file's layout.
    reversed_csv = write_yahoo_csv(tmp_path / "reversed.csv", walk.iloc[::-1])
    assert load_csv(reversed_csv).sha256() == prices.sha256()
    changed = walk.copy()
    changed.iloc[100] *= 1.0000001
    assert load_csv(write_yahoo_csv(tmp_path / "changed.csv", changed)).sha256() != prices.sha256()


# --- real files -------------------------------------------------------------------------------

def test_real_yahoo_csv_through_the_cli(real_csv, capsys):
    code, out, err = run_cli(capsys, "data", "--csv", real_csv)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"source:     {real_csv}",
        "rows:       4124",
        "first date: 2014-09-17",
        "last date:  2025-12-31",
        "last close: 87,508.83 USD",
        "gaps:       none",
        "inputs:     close,open,high,low,range,volume (--inputs)",
    ]


def test_real_yfinance_multiheader_csv_through_the_cli(real_multiheader, capsys):
    code, out, err = run_cli(capsys, "data", "--csv", real_multiheader)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"source:     {real_multiheader}",
        "rows:       1652",
        "first date: 2021-06-24",
        "last date:  2025-12-31",
        "last close: 87,508.83 USD",  # Close, not Open (88,429.59) which follows it in this layout
        "gaps:       none",
        "inputs:     close,open,high,low,range,volume (--inputs)",
    ]
    # The other columns by their names, not their places: this layout orders them Close,High,Low,Open,Volume.
    # Its last line: 2025-12-31,87508.828125,89080.2890625,87130.5625,88429.5859375,33830210616
    last = load_csv(real_multiheader).table.iloc[-1]
    assert last.to_dict() == {"open": 88429.5859375, "high": 89080.2890625, "low": 87130.5625, "volume": 33830210616.0}


def test_real_files_agree_where_they_overlap(real_csv, real_multiheader):
    classic, multi = load_csv(real_csv).close, load_csv(real_multiheader).close
    np.testing.assert_allclose(classic.loc[multi.index].to_numpy(), multi.to_numpy(), rtol=1e-9)


# --- Yahoo Finance behind a fake yfinance ------------------------------------------------------

TODAY = D("2021-04-01")                      # the fixed "today" (UTC) of the direct tests
YAHOO = random_walk(days=4000, seed=11, start="2020-01-01")  # Yahoo's closes, any date to 2030
LISTED = D("2020-06-01")                     # the first day Yahoo has


class FakeYahoo:
    """Stands in for yfinance.Ticker: `.history(**kwargs)` as yfinance 1.x returns it.

    `now` is Yahoo's current UTC day: its row is there, with a still-moving close. `script` holds
    what the next calls do instead of answering: an exception to raise or "empty".
    """

    def __init__(self, now: date, tz: str = "UTC"):
        self.now, self.tz = now, tz
        self.script: list = []
        self.calls: list[dict] = []
        self.tickers: list[str] = []

    def __call__(self, ticker: str):  # yfinance.Ticker(ticker)
        self.tickers.append(ticker)
        return self

    def history(self, **kwargs) -> pd.DataFrame:
        self.calls.append(kwargs)
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "empty":
            return pd.DataFrame(columns=CACHE_COLUMNS, index=pd.DatetimeIndex([], tz=self.tz, name="Date"))
        first = max(D(kwargs["start"]) if "start" in kwargs else LISTED, LISTED)
        return yahoo_frame(first, self.now, self.tz)

    @property
    def starts(self) -> list:
        return [c.get("start", c.get("period")) for c in self.calls]


def yahoo_frame(first: date, last: date, tz: str = "UTC") -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    close = YAHOO.reindex(days).to_numpy().copy()
    close[-1] *= 1.01  # the open day's close moves until midnight
    index = pd.DatetimeIndex(days.tz_localize(tz), name="Date")
    return pd.DataFrame({"Open": close * 0.99, "High": close * 1.02, "Low": close * 0.97,
                         "Close": close, "Adj Close": close,
                         "Volume": np.full(len(days), 25_000_000_000, dtype="int64")}, index=index)


YAHOO_KWARGS = {"interval": "1d", "auto_adjust": False, "actions": False, "raise_errors": True}


@pytest.fixture
def yahoo(monkeypatch) -> FakeYahoo:
    fake = FakeYahoo(now=TODAY)
    monkeypatch.setattr(yfinance, "Ticker", fake)
    return fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fetch(tmp_path, sleeps):
    """load_yahoo with the real yahoo_history (so the fake yfinance), a fixed today and no sleeping.
    No embedded snapshot unless a test gives one: the real one's days are after this world's today."""
    def fetch(today: date = TODAY, cache_dir: Path = tmp_path / "cache", ticker: str = "BTC-USD",
              snapshots=None, **kwargs) -> Prices:
        return load_yahoo(ticker, cache_dir, today=lambda: today, sleep=sleeps.append,
                          snapshots=snapshots or {}, **kwargs)
    return fetch


def expected_closes(first: date, last: date) -> pd.Series:
    return YAHOO[pd.Timestamp(first):pd.Timestamp(last)]


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_first_run_downloads_all_and_caches_a_one_header_csv(yahoo, fetch, tmp_path):
    prices = fetch()
    path = tmp_path / "cache" / "BTC-USD.csv"
    assert yahoo.tickers == ["BTC-USD"] and yahoo.calls == [{**YAHOO_KWARGS, "period": "max"}]
    assert prices.cache == path and prices.source == "Yahoo Finance BTC-USD"
    lines = path.read_text().splitlines()
    assert lines[0] == "Date,Open,High,Low,Close,Adj Close,Volume"
    assert lines[1].startswith("2020-06-01,") and lines[1].endswith(",25000000000")
    assert len(lines) == 1 + (TODAY - LISTED).days
    assert sorted(p.name for p in path.parent.iterdir()) == ["BTC-USD.csv"]  # no temp file left
    check_same_closes(prices, expected_closes(LISTED, TODAY - timedelta(days=1)))
    assert prices.summary().splitlines()[-2] == f"cache:      {path}"
    # The downloaded days' other columns come through the cache too, checked as a file's are.
    assert prices.supported_inputs() == ("close", "open", "high", "low", "range", "volume")
    assert prices.table["volume"].iloc[0] == 25_000_000_000 and prices.table.index.equals(prices.close.index)
    # The cache is itself a valid classic-layout price file.
    check_same_closes(load_csv(path), prices.close)


def test_the_open_utc_day_is_never_cached(yahoo, fetch, tmp_path):
    assert yahoo_frame(LISTED, TODAY).index[-1] == pd.Timestamp(TODAY, tz="UTC")  # Yahoo has it
    prices = fetch()
    assert prices.close.index[-1] == pd.Timestamp(TODAY - timedelta(days=1))
    last_line = (tmp_path / "cache" / "BTC-USD.csv").read_text().splitlines()[-1]
    assert last_line.startswith("2021-03-31,")


def test_a_later_run_downloads_only_the_missing_days(yahoo, fetch, tmp_path, caplog):
    fetch()
    path = tmp_path / "cache" / "BTC-USD.csv"
    before = path.read_text()
    later = TODAY + timedelta(days=5)
    yahoo.now = later
    with caplog.at_level(logging.INFO, logger="forecast"):
        prices = fetch(today=later)
    assert yahoo.calls[-1] == {**YAHOO_KWARGS, "start": "2021-04-01"}  # the day after the cache
    after = path.read_text()
    assert after.startswith(before)  # merged: the cached days are kept as they were
    assert [line[:10] for line in after[len(before):].splitlines()] == [
        "2021-04-01", "2021-04-02", "2021-04-03", "2021-04-04", "2021-04-05"]
    check_same_closes(prices, expected_closes(LISTED, later - timedelta(days=1)))
    assert f"cached 5 new days of BTC-USD in {path}" in [r.getMessage() for r in caplog.records]


def test_an_up_to_date_cache_is_not_downloaded_again(yahoo, fetch, tmp_path):
    first = fetch()
    before = (tmp_path / "cache" / "BTC-USD.csv").read_bytes()
    again = fetch()
    assert len(yahoo.calls) == 1
    assert (tmp_path / "cache" / "BTC-USD.csv").read_bytes() == before
    assert again.sha256() == first.sha256()


def test_start_and_end_slice_the_cached_series(yahoo, fetch):
    prices = fetch(start=D("2021-01-01"), end=D("2021-02-28"))
    check_same_closes(prices, expected_closes(D("2021-01-01"), D("2021-02-28")))


# What may pass a moment later is tried three times, 1 s and 2 s apart; a closed network once, no wait.
RETRIED, ONCE = (3, [1.0, 2.0]), (1, [])
FAILURES = {
    "rate limited": (lambda: YFRateLimitError(), "rate limited by Yahoo Finance, try again later", RETRIED),
    "no network": (lambda: ConnectionError("Failed to resolve 'query2.finance.yahoo.com'"),
                   "no network connection to Yahoo Finance", ONCE),
    "curl connection error": (lambda: CurlConnectionError("Failed to perform, curl: (6) Could not "
                                                          "resolve host"),
                              "no network connection to Yahoo Finance", ONCE),
    "connection refused": (lambda: ConnectionRefusedError(111, "Connection refused"),
                           "no network connection to Yahoo Finance", ONCE),
    "timed out": (lambda: TimeoutError("timed out"), "no network connection to Yahoo Finance", RETRIED),
    "empty frame": (lambda: "empty", "Yahoo Finance returned no rows (unknown ticker?)", RETRIED),
    "yahoo has no prices": (lambda: YFPricesMissingError("BTC-USD", "(1d 2021-03-22 -> 2021-04-01)"),
                            "no prices from Yahoo Finance: an unknown ticker, or Yahoo Finance unreachable",
                            RETRIED),
}


@pytest.fixture
def stale_cache(tmp_path) -> Path:
    """A cache that ends ten days before TODAY, as an earlier version of the tool wrote it."""
    path = tmp_path / "cache" / "BTC-USD.csv"
    path.parent.mkdir()
    return write_yahoo_csv(path, expected_closes(LISTED, D("2021-03-21")))


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failed_download_keeps_the_cache_and_warns(yahoo, fetch, stale_cache, sleeps, caplog, failure):
    make, reason, (attempts, waits) = FAILURES[failure]
    yahoo.script = [make() for _ in range(3)]
    before = stale_cache.read_bytes()
    with caplog.at_level(logging.INFO, logger="forecast"):
        prices = fetch()
    assert yahoo.starts == ["2021-03-22"] * attempts  # each attempt for the missing days only
    assert sleeps == waits                            # exponential backoff between them
    assert stale_cache.read_bytes() == before  # neither overwritten nor shrunk
    assert sorted(p.name for p in stale_cache.parent.iterdir()) == ["BTC-USD.csv"]
    assert warnings_of(caplog) == [
        f"could not download BTC-USD from Yahoo Finance ({reason}); using the cache up to 2021-03-21"]
    check_same_closes(prices, expected_closes(LISTED, D("2021-03-21")))


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failed_download_without_a_cache_says_to_pass_a_csv(yahoo, fetch, tmp_path, sleeps, failure):
    # ETH-USD has no embedded snapshot (the real mapping: `snapshots` is not replaced here).
    make, reason, (attempts, waits) = FAILURES[failure]
    yahoo.script = [make() for _ in range(3)]
    with pytest.raises(DataError) as e:
        fetch(ticker="ETH-USD", snapshots=yahoo_source.SNAPSHOTS)
    assert str(e.value) == (f"could not download 'ETH-USD' from Yahoo Finance ({reason}); "
                            "to run offline, pass a price file: --csv PATH")
    assert len(yahoo.calls) == attempts and sleeps == waits
    assert not (tmp_path / "cache").exists()


def test_a_network_error_is_reported_before_what_yahoo_says_next(yahoo, fetch, sleeps):
    # After a timed-out connection yfinance goes on to blame the ticker; the network is the news.
    yahoo.script = [TimeoutError("timed out"), YFPricesMissingError("BTC-USD", ""), "empty"]
    with pytest.raises(DataError, match=r"\(no network connection to Yahoo Finance\)"):
        fetch()
    assert len(yahoo.calls) == 3


def test_a_transient_failure_is_retried(yahoo, fetch, tmp_path, sleeps):
    yahoo.script = [YFRateLimitError()]
    prices = fetch()
    assert len(yahoo.calls) == 2 and sleeps == [1.0]
    assert (tmp_path / "cache" / "BTC-USD.csv").exists()
    assert prices.close.index[-1] == pd.Timestamp("2021-03-31")


def test_only_the_open_day_new_leaves_the_cache_alone(yahoo, fetch, stale_cache, caplog):
    # Yahoo has not published yesterday yet: its only new row is today's, which is not final.
    yahoo.now = D("2021-03-22")
    before = stale_cache.read_bytes()
    with caplog.at_level(logging.WARNING, logger="forecast"):
        prices = fetch(today=D("2021-03-22"))
    assert stale_cache.read_bytes() == before and warnings_of(caplog) == []
    assert prices.close.index[-1] == pd.Timestamp("2021-03-21")


def test_only_the_open_day_and_no_cache(yahoo, fetch, tmp_path):
    yahoo.now = LISTED  # listed today: nothing has closed yet
    with pytest.raises(DataError) as e:
        fetch(today=LISTED)
    assert str(e.value) == ("could not download 'BTC-USD' from Yahoo Finance (Yahoo Finance returned "
                            "no closed days); to run offline, pass a price file: --csv PATH")
    assert not (tmp_path / "cache" / "BTC-USD.csv").exists()


def test_a_nan_close_from_yahoo_is_not_cached_and_shows_as_a_gap(yahoo, fetch, tmp_path, monkeypatch):
    def with_hole(first, last, tz="UTC"):
        frame = yahoo_frame(first, last, tz)
        frame.loc["2021-03-10", "Close"] = np.nan
        return frame
    monkeypatch.setattr(FakeYahoo, "history", lambda self, **kw: with_hole(LISTED, self.now))
    prices = fetch()
    assert "2021-03-10," not in (tmp_path / "cache" / "BTC-USD.csv").read_text()
    assert prices.gaps == ((D("2021-03-10"), D("2021-03-10")),)
    assert prices.close["2021-03-10"] == prices.close["2021-03-09"]


def test_yfinance_warnings_are_kept_off_stderr(yahoo, fetch, monkeypatch):
    history = FakeYahoo.history

    def noisy(self, **kwargs):
        warnings.warn("YF.download() has changed argument auto_adjust default to True", FutureWarning)
        return history(self, **kwargs)
    monkeypatch.setattr(FakeYahoo, "history", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prices = fetch()
    assert caught == [] and yahoo.calls
    check_same_closes(prices, expected_closes(LISTED, TODAY - timedelta(days=1)))


def test_bars_are_labelled_by_the_exchange_date(monkeypatch, fetch):
    fake = FakeYahoo(now=TODAY, tz="Asia/Tokyo")  # midnight in Tokyo is 15:00 UTC the day before
    monkeypatch.setattr(yfinance, "Ticker", fake)
    prices = fetch()
    assert prices.close.index[0] == pd.Timestamp(LISTED)
    check_same_closes(prices, expected_closes(LISTED, TODAY - timedelta(days=1)))


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_a_csv_of_yahoos_bars_gives_the_closes_of_the_yahoo_path(tmp_path, tz):
    # The same tz-aware bars, once through a CSV and once through a fake fetch: each bar is its
    # exchange's date (Tokyo midnight is not the UTC day before), with New York's DST offsets too.
    bars = yahoo_frame(LISTED, TODAY, tz)
    bars.iloc[:-1].to_csv(tmp_path / "bars.csv")  # without today's bar, which is still open
    offset = {"UTC": "+00:00", "Asia/Tokyo": "+09:00", "America/New_York": "-04:00"}[tz]
    assert (tmp_path / "bars.csv").read_text().splitlines()[1].startswith(f"2020-06-01 00:00:00{offset},")
    from_csv = load_csv(tmp_path / "bars.csv", today=lambda: TODAY)
    from_yahoo = load_yahoo("BTC-USD", tmp_path / "cache", fetch=lambda ticker, start: bars,
                            today=lambda: TODAY, sleep=lambda s: None)
    check_same_closes(from_csv, from_yahoo.close)
    check_same_closes(from_yahoo, expected_closes(LISTED, TODAY - timedelta(days=1)))


def test_cache_file_name_is_safe():
    assert cache_path(Path("d"), "btc-usd") == Path("d/BTC-USD.csv")
    assert cache_path(Path("d"), "^GSPC") == Path("d/_GSPC.csv")
    assert cache_path(Path("d"), "../x") == Path("d/.._X.csv")


CORRUPT_CACHES = {
    "zero bytes": ("", "No columns to parse from file"),
    "not a price table": ("hello world\n", "no Date or Close column, or no rows"),
    "header only": ("Date,Open,High,Low,Close,Adj Close,Volume\n", "no Date or Close column, or no rows"),
    "no Close column": ("Date,Open\n2021-03-20,1\n", "no Date or Close column, or no rows"),
    "bad date": ("Date,Close\n2021-03-20,1\n2021-3x-21,2\n",
                 "unparseable date '2021-3x-21' in column 'date' (data row 2)"),
    "bad close": ("Date,Close\n2021-03-20,1\n2021-03-21,#N/A!\n",
                  "non-numeric close '#N/A!' on 2021-03-21"),
    "duplicate date": ("Date,Close\n2021-03-20,1\n2021-03-20,1\n", "duplicate dates: 2021-03-20"),
    "zero close": ("Date,Close\n2021-03-20,1\n2021-03-21,0\n",
                   "close must be positive, got 0 on 2021-03-21"),
    # pandas would take the dates for an index and read Date=87, Close=508.83
    "field too many": ("Date,Close\n2021-03-20,87,508.83\n2021-03-21,2\n",
                       "line 2: 3 fields, the header has 2 (a comma inside a value, such as 87,508.83 or "
                       "Sep 17, 2014? write plain numbers and YYYY-MM-DD dates, or quote such values)"),
    "long gap": ("Date,Close\n2020-01-20,1\n2021-03-21,2\n",
                 "gap of 425 missing days between 2020-01-20 (data row 1) and 2021-03-21 (data row 2); at most "
                 "30 in a row are filled (a typo in a date? else keep only the rows on one side of the gap)"),
}


@pytest.mark.parametrize("case", list(CORRUPT_CACHES))
def test_corrupt_cache_is_a_one_line_error_and_left_untouched(yahoo, fetch, tmp_path, capsys, case):
    text, reason = CORRUPT_CACHES[case]
    (tmp_path / "cache").mkdir()
    path = write(tmp_path / "cache" / "BTC-USD.csv", text)
    before = path.read_bytes()
    message = (f"the price cache {path} is unreadable ({reason}); "
               "move it away to download again, or pass --csv PATH")
    with pytest.raises(DataError) as e:
        fetch()
    assert str(e.value) == message
    assert_one_line_error(capsys, ["data", "--cache-dir", tmp_path / "cache"], message)
    assert yahoo.calls == []
    assert path.read_bytes() == before


def test_a_cache_with_a_date_after_today_is_refused(yahoo, fetch, tmp_path):
    (tmp_path / "cache").mkdir()
    path = write(tmp_path / "cache" / "BTC-USD.csv", "Date,Close\n2021-03-31,1\n2021-04-02,2\n")
    with pytest.raises(DataError) as e:
        fetch()
    assert str(e.value) == (f"the price cache {path} is unreadable (date 2021-04-02 (data row 2) is after "
                            "today, 2021-04-01 (UTC) (a typo in the year?)); move it away to download "
                            "again, or pass --csv PATH")
    assert yahoo.calls == []


def test_a_cache_may_hold_any_tickers_dates_before_bitcoin(yahoo, tmp_path):
    old = random_walk(300, start="2008-06-01")  # the S&P 500, say: no Bitcoin rule for Yahoo's dates
    write_yahoo_csv(cache_path(tmp_path, "^GSPC"), old)
    prices = load_yahoo("^GSPC", tmp_path, today=lambda: D("2009-03-28"), sleep=lambda s: None)
    check_same_closes(prices, old)
    assert yahoo.calls == []


def test_corrupt_binary_cache(yahoo, fetch, tmp_path):
    path = tmp_path / "cache" / "BTC-USD.csv"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match=r"^the price cache .* is unreadable \(.*\); move it away"):
        fetch()
    assert path.read_bytes() == bytes(range(256)) * 8 and yahoo.calls == []


def test_load_prices_dispatches_on_the_source(yahoo, tmp_path, walk_csv, walk):
    check_same_closes(load_prices(Config(csv=walk_csv)), walk)
    prices = load_prices(Config(cache_dir=tmp_path / "c"), today=lambda: TODAY, sleep=lambda s: None)
    assert prices.source == "Yahoo Finance BTC-USD" and yahoo.calls
    with pytest.raises(ConfigError) as e:  # Config refuses it before any loading starts
        Config(csv=walk_csv, start=D("2021-02-02"), end=D("2021-02-01"))
    assert str(e.value) == "start 2021-02-02 is after end 2021-02-01"


# --- Yahoo through the CLI (real "today", so the fake answers up to the real UTC day) -----------

def utc_today() -> date:
    return datetime.now(timezone.utc).date()


@pytest.fixture
def live_yahoo(monkeypatch) -> FakeYahoo:
    fake = FakeYahoo(now=utc_today())
    monkeypatch.setattr(yfinance, "Ticker", fake)
    monkeypatch.setattr(yahoo_source, "BACKOFF_S", 0.0)  # the CLI sleeps for real: make it no time
    return fake


def test_cli_first_run_caches_and_prints_the_summary(live_yahoo, tmp_path, capsys):
    yesterday = utc_today() - timedelta(days=1)
    cache = tmp_path / "cache"
    code, out, err = run_cli(capsys, "data", "--cache-dir", cache, "--start", "2024-01-01")
    assert code == 0
    assert live_yahoo.calls == [{**YAHOO_KWARGS, "period": "max"}]
    assert err.splitlines() == [f"INFO: cached {(yesterday - LISTED).days + 1} new days of BTC-USD "
                                f"in {cache / 'BTC-USD.csv'}"]
    lines = summary_lines(out)
    assert lines["source"].strip() == "Yahoo Finance BTC-USD"
    assert lines["first date"].strip() == "2024-01-01"
    assert lines["last date"].strip() == f"{yesterday}"
    assert lines["cache"].strip() == str(cache / "BTC-USD.csv")
    assert (cache / "BTC-USD.csv").read_text().splitlines()[-1].startswith(f"{yesterday},")


def test_cli_rate_limited_with_a_cache_warns_and_uses_it(live_yahoo, tmp_path, capsys):
    last = utc_today() - timedelta(days=3)
    cache = write_yahoo_csv(tmp_path / "BTC-USD.csv", expected_closes(last - timedelta(days=99), last))
    before = cache.read_bytes()
    live_yahoo.script = [YFRateLimitError() for _ in range(3)]
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path)
    assert code == 0
    assert [c["start"] for c in live_yahoo.calls] == [f"{last + timedelta(days=1)}"] * 3
    assert err.splitlines()[-1] == ("WARNING: could not download BTC-USD from Yahoo Finance (rate limited "
                                    f"by Yahoo Finance, try again later); using the cache up to {last}")
    assert summary_lines(out)["last date"].strip() == f"{last}"
    assert cache.read_bytes() == before


def test_cli_offline_without_a_cache_exits_1_with_one_error_line(live_yahoo, tmp_path, capsys):
    # A ticker without an embedded snapshot: one attempt, one error line, no traceback, no progress lines.
    live_yahoo.script = [ConnectionError("down") for _ in range(3)]
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path / "cache", "--ticker", "ETH-USD")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: could not download 'ETH-USD' from Yahoo Finance (no network connection to Yahoo Finance); "
        "to run offline, pass a price file: --csv PATH",
    ]
    assert live_yahoo.tickers == ["ETH-USD"] and len(live_yahoo.calls) == 1
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_cli_too_little_cached_data(live_yahoo, tmp_path, capsys):
    yesterday = utc_today() - timedelta(days=1)
    cache = write_yahoo_csv(tmp_path / "BTC-USD.csv", expected_closes(yesterday - timedelta(days=9), yesterday))
    before = cache.read_bytes()
    assert_one_line_error(capsys, ["data", "--cache-dir", tmp_path],
                          "too little data: 10 daily closes from Yahoo Finance BTC-USD, need at least 80")
    assert live_yahoo.calls == [] and cache.read_bytes() == before


def test_a_bug_in_frame_conversion_is_not_reported_as_a_failed_download(yahoo, fetch, monkeypatch):
    """Only the download is "could not download"; our own conversion failing is a bug, and says so."""
    def broken(history, today):
        raise KeyError("Close")
    monkeypatch.setattr(yahoo_source, "_history_to_cache_frame", broken)
    with pytest.raises(KeyError):
        fetch()


def test_a_download_with_a_long_hole_is_refused_before_it_reaches_the_cache(yahoo, fetch, stale_cache, monkeypatch):
    def with_hole(self, **kw):
        frame = yahoo_frame(D(kw["start"]), self.now)
        return frame.drop(frame.index[1:40])  # 39 days missing right after the first new day
    monkeypatch.setattr(FakeYahoo, "history", with_hole)
    yahoo.now = later = D("2021-06-01")
    before = stale_cache.read_bytes()
    with pytest.raises(DataError) as e:
        fetch(today=later)
    assert str(e.value).startswith("Yahoo Finance BTC-USD: gap of 39 missing days between 2021-03-22 and 2021-05-01")
    assert stale_cache.read_bytes() == before


def test_the_cache_is_parsed_once_per_load(yahoo, fetch, stale_cache, monkeypatch):
    from forecast import csv_source

    calls = []
    real = csv_source.parse_price_frame

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)
    monkeypatch.setattr(yahoo_source, "parse_price_frame", counting)
    fetch()  # merges the missing days into the cache
    fetch()  # up to date: reads the cache only
    assert calls == [stale_cache, stale_cache]


# --- the other columns: open, high, low and volume for --inputs -------------------------------------

OHLCV_HEADER = "Date,Open,High,Low,Close,Volume\n"


def ohlcv_rows(n: int = 90, **edits) -> str:
    """n days from 2021-01-01: open 100+i, high 110+i, low 90+i, close 101+i, volume 1000+i; `edits`
    maps a row number to its replacement fields after the date."""
    day = date(2021, 1, 1)
    rows = []
    for i in range(n):
        fields = edits.get(f"r{i}", f"{100 + i},{110 + i},{90 + i},{101 + i},{1000 + i}")
        rows.append(f"{day + timedelta(days=i)},{fields}")
    return OHLCV_HEADER + "\n".join(rows) + "\n"


def test_every_column_read_and_every_input_offered(tmp_path):
    prices = load_csv(write(tmp_path / "p.csv", ohlcv_rows()))
    assert prices.supported_inputs() == ("close", "open", "high", "low", "range", "volume")
    assert prices.table.iloc[5].to_dict() == {"open": 105.0, "high": 115.0, "low": 95.0, "volume": 1005.0}
    assert prices.table.index.equals(prices.close.index)
    # The fingerprint covers the columns the inputs read, and only those.
    assert prices.sha256() == prices.sha256(("close",)) != prices.sha256(("close", "high"))
    both = prices.sha256(("close", "high", "low"))  # range reads the high and the low
    assert both == prices.sha256(("close", "high", "low", "range")) == prices.sha256(("close", "range"))
    assert len({prices.sha256(("close", c)) for c in ("open", "high", "low", "volume")} | {both, prices.sha256()}) == 6


@pytest.mark.parametrize(("edits", "column", "reason"), [
    ({"r7": "104,105,97,108,1007"}, "high", "high 105 is below the close 108 on 2021-01-08 (columns swapped or misread?)"),
    ({"r7": "110,117,109,108,1007"}, "low", "low 109 is above the close 108 on 2021-01-08 (columns swapped or misread?)"),
    ({"r7": "96,117,97,108,1007"}, "low", "low 97 is above the open 96 on 2021-01-08 (columns swapped or misread?)"),
    ({"r7": "120,117,97,108,1007"}, "high", "high 117 is below the open 120 on 2021-01-08 (columns swapped or misread?)"),
    ({"r3": "103,113,93,104,0"}, "volume", "volume must be a positive number on every day, got 0 on 2021-01-04"),
    ({"r3": "103,113,93,104,"}, "volume", "volume must be a positive number on every day, got no value on 2021-01-04"),
    ({"r3": "103,113,93,104,n/a"}, "volume", "volume must be a positive number on every day, got no value on 2021-01-04"),
    ({"r3": "-1,113,93,104,1003"}, "open", "open must be a positive number on every day, got -1 on 2021-01-04"),
])
def test_a_bad_column_is_left_out_with_its_reason_and_the_close_still_works(tmp_path, capsys, edits, column, reason):
    path = write(tmp_path / "p.csv", ohlcv_rows(**edits))
    prices = load_csv(path)
    assert prices.why_not(column) == reason and column not in prices.table
    assert column not in prices.supported_inputs() and "close" in prices.supported_inputs()
    # A run on the close alone never reads it; one that asks for it is refused in one line, exit 1.
    assert run_cli(capsys, "data", "--csv", path, "--window", 10)[0] == 0
    name = {"high": "range", "low": "range"}.get(column, column)  # range reads both high and low
    assert_one_line_error(capsys, ["train", "--csv", path, "--window", 10, "--inputs", name, "--epochs", 1],
                          f"{path} cannot give the input {name!r}: {reason}; it supports "
                          + ",".join(i for i in ("close", "open", "high", "low", "range", "volume")
                                     if i != name and not (column in ("high", "low") and i in (column, "range"))
                                     and not (column not in ("high", "low") and i == column)))


def test_a_close_only_file_offers_the_close_only(tmp_path, capsys, walk):
    path = write(tmp_path / "close.csv", "Date,Close\n" + "\n".join(f"{d:%Y-%m-%d},{c}" for d, c in walk.items()) + "\n")
    code, out, _ = run_cli(capsys, "data", "--csv", path)
    assert code == 0 and out.splitlines()[-6:] == [
        "inputs:     close (--inputs)",
        "  not open: no 'Open' column",
        "  not high: no 'High' column",
        "  not low: no 'Low' column",
        "  not range: no 'High' column",
        "  not volume: no 'Volume' column",
    ]
    assert_one_line_error(capsys, ["train", "--csv", path, "--inputs", "ohlcv", "--epochs", 1],
                          f"{path} cannot give the input 'open': no 'Open' column; it supports close")


def test_an_intraday_files_days_are_its_first_open_highest_high_lowest_low_and_summed_volume(tmp_path):
    rows = []
    for day in range(1, 4):
        for hour, (o, h, lo, c, v) in enumerate([(10, 12, 9, 11, 5), (11, 15, 8, 9, 7), (9, 10, 6, 7, 1)]):
            rows.append(f"2021-01-0{day} {6 * hour:02d}:00,{o + day},{h + day},{lo + day},{c + day},{v * day}")
    rows.append("2021-01-03 20:00,,,,,")  # a minute without trades: no row of the day
    prices = load_csv(write(tmp_path / "minutes.csv", OHLCV_HEADER + "\n".join(rows) + "\n"))
    # Day 2: opens 12, 13, 11 -> first 12; highs 14, 17, 12 -> 17; lows 11, 10, 8 -> 8; close 9; volume 10+14+2.
    assert prices.close.iloc[1] == 9.0
    assert prices.table.iloc[1].to_dict() == {"open": 12.0, "high": 17.0, "low": 8.0, "volume": 26.0}


def test_a_filled_day_is_flat_at_the_previous_close_with_the_previous_volume(tmp_path):
    text = ohlcv_rows(40)
    lines = text.splitlines()
    del lines[1 + 20]  # 2021-01-21 missing
    prices = load_csv(write(tmp_path / "gap.csv", "\n".join(lines) + "\n"))
    day = prices.table.loc["2021-01-21"].to_dict()
    assert prices.close.loc["2021-01-21"] == 120.0  # 2021-01-20's close, 101 + 19
    assert day == {"open": 120.0, "high": 120.0, "low": 120.0, "volume": 1019.0}


def test_the_yahoo_cache_gives_the_other_columns(tmp_path, monkeypatch):
    cache = write_yahoo_csv(tmp_path / "BTC-USD.csv", random_walk(100, start="2025-03-23"))
    go_offline(monkeypatch)
    prices = load_yahoo("BTC-USD", tmp_path, snapshots={}, today=lambda: date(2025, 7, 1))
    assert prices.cache == cache and prices.supported_inputs() == ("close", "open", "high", "low", "range", "volume")
    np.testing.assert_allclose(prices.table["high"], prices.close * 1.01)  # write_yahoo_csv's High
