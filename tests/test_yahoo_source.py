"""Offline: the embedded snapshot (data/snapshot/btc-usd.csv) and the fast, one-line fallback.

Nothing here reaches the network: `go_offline` makes the connectivity probe fail as it does on a machine
without network (and yfinance too, were it asked); elsewhere a `FakeYahoo` answers behind conftest's
probe, or `fetch=` replaces the download. The expected values are read by hand from the snapshot's text.
"""

import hashlib
import json
import logging
import socket
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yfinance
from tests.conftest import REAL_MULTIHEADER, ROOT, go_offline, random_walk, write_yahoo_csv
from tests.test_sources import (  # noqa: F401  (forecast_logging is an autouse fixture)
    LISTED, TODAY, CurlConnectionError, FakeYahoo, YFRateLimitError, check_same_closes, expected_closes,
    forecast_logging, run_cli, utc_today, warnings_of,
)

from forecast import yahoo_source
from forecast.config import Config
from forecast.sources import load_prices
from forecast.csv_source import load_csv
from forecast.yahoo_source import load_yahoo, reach_yahoo  # the real probe: conftest replaces the module's
from forecast.errors import DataError

D = date.fromisoformat
SNAPSHOT = ROOT / "data" / "snapshot" / "btc-usd.csv"
SNAPSHOT_SHA256 = "9483ca3adb9e272096419f37b8b5440abcd362ed858e452dfaa2d64c3d0fcf12"  # as data/README.md has it
SOURCE = "embedded snapshot data/snapshot/btc-usd.csv (Yahoo Finance BTC-USD to 2025-12-31)"
FAILED = "could not download BTC-USD from Yahoo Finance (no network connection to Yahoo Finance)"
WARNING = f"WARNING: {FAILED}; using the {SOURCE}"
SUMMARY = [  # the snapshot's first line 2014-09-17,...,457.334015,... and last 2025-12-31,...,87508.828125,...
    f"source:     {SOURCE}",
    "rows:       4124",
    "first date: 2014-09-17",
    "last date:  2025-12-31",
    "last close: 87,508.83 USD",
    "gaps:       none",
    "inputs:     close,open,high,low,range,volume (--inputs)",  # the snapshot has every column, each checked
]


@pytest.fixture
def offline(monkeypatch):
    go_offline(monkeypatch)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the snapshot itself ------------------------------------------------------------------------

def test_the_snapshot_is_shipped_unchanged_and_tracked():
    assert sha256(SNAPSHOT) == SNAPSHOT_SHA256
    lines = SNAPSHOT.read_text().splitlines()
    assert lines[0] == "Date,Open,High,Low,Close,Adj Close,Volume" and len(lines) == 1 + 4124
    assert lines[1] == "2014-09-17,465.864014,468.174011,452.421997,457.334015,457.334015,21056800"
    assert lines[-1] == "2025-12-31,88429.585938,89080.289062,87130.562500,87508.828125,87508.828125,33830210616"
    # .gitignore's /data/*.csv (the caches) does not reach data/snapshot/: exit 1 is "not ignored".
    assert subprocess.run(["git", "check-ignore", "-q", str(SNAPSHOT)], cwd=ROOT).returncode == 1
    assert subprocess.run(["git", "check-ignore", "-q", str(ROOT / "data" / "BTC-USD.csv")], cwd=ROOT).returncode == 0


def test_real_csv_is_the_snapshot(real_csv):
    assert real_csv == SNAPSHOT


@pytest.mark.skipif(not REAL_MULTIHEADER.is_file(), reason=f"compares with the team's {REAL_MULTIHEADER}")
def test_the_built_multiheader_file_is_the_shared_one(real_multiheader):
    assert real_multiheader.read_bytes() == REAL_MULTIHEADER.read_bytes()
    check_same_closes(load_csv(real_multiheader), load_csv(REAL_MULTIHEADER).close)


def test_the_built_multiheader_file_has_yfinances_layout(real_multiheader):
    lines = real_multiheader.read_text().splitlines()
    assert lines[:3] == ["Price,Close,High,Low,Open,Volume", "Ticker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD",
                         "Date,,,,,"]
    # The snapshot's 2021-06-24 line: Open 33682.800781, High 35228.851562, Low 32385.214844, Close 34662.437500.
    assert lines[3] == "2021-06-24,34662.4375,35228.8515625,32385.21484375,33682.80078125,33123368116"
    assert lines[-1].startswith("2025-12-31,87508.828125,") and len(lines) == 3 + 1652


# --- offline through the command line: one warning line, then the snapshot ---------------------------

@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_offline_without_a_cache_runs_on_the_snapshot_in_one_line(offline, tmp_path, capsys, quiet):
    # The warning is shown with --quiet too: it changes which prices the run uses.
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path / "cache", *quiet)
    assert (code, err) == (0, WARNING + "\n")
    assert out.splitlines() == SUMMARY
    assert not (tmp_path / "cache").exists()  # the cache is not filled from the snapshot
    assert sha256(SNAPSHOT) == SNAPSHOT_SHA256 and sorted(p.name for p in SNAPSHOT.parent.iterdir()) == ["btc-usd.csv"]


def test_offline_prices_are_the_snapshots_closes(offline, tmp_path):
    prices = load_prices(Config(cache_dir=tmp_path))
    assert (prices.source, prices.cache, len(prices.close)) == (SOURCE, None, 4124)
    assert prices.close.iloc[0] == 457.334015 and prices.close.iloc[-1] == 87508.828125
    # --start and --end apply as usual: 2025-01-01,...,94419.757812,... to 2025-06-30,...,107135.335938,...
    prices = load_prices(Config(cache_dir=tmp_path, start=D("2025-01-01"), end=D("2025-06-30")))
    assert len(prices.close) == 181 and prices.source == SOURCE
    assert (prices.close.index[0], prices.close.iloc[0]) == (pd.Timestamp("2025-01-01"), 94419.757812)
    assert (prices.close.index[-1], prices.close.iloc[-1]) == (pd.Timestamp("2025-06-30"), 107135.335938)


def test_offline_with_a_cache_older_than_the_snapshot_uses_the_snapshot(offline, tmp_path, capsys):
    cache = write_yahoo_csv(tmp_path / "BTC-USD.csv", random_walk(100, start="2025-03-23"))  # to 2025-06-30
    before = cache.read_bytes()
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path)
    assert (code, err) == (0, f"{WARNING}, newer than the cache (to 2025-06-30)\n")
    assert out.splitlines() == SUMMARY  # no "cache:" line: the cache was not used
    assert cache.read_bytes() == before  # nor filled from the snapshot


def test_offline_with_a_cache_newer_than_the_snapshot_uses_the_cache(offline, tmp_path, capsys):
    last = utc_today() - timedelta(days=2)  # a day short of up to date, so a download is tried
    assert last > D("2025-12-31")
    walk = random_walk(100, start=f"{last - timedelta(days=99)}")
    write_yahoo_csv(tmp_path / "BTC-USD.csv", walk)
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path)
    assert (code, err) == (0, f"WARNING: {FAILED}; using the cache up to {last}\n")
    assert out.splitlines()[0] == "source:     Yahoo Finance BTC-USD"
    check_same_closes(load_prices(Config(cache_dir=tmp_path)), walk)


def test_offline_ticker_without_a_snapshot_is_one_error_line(offline, tmp_path, capsys):
    code, out, err = run_cli(capsys, "data", "--cache-dir", tmp_path / "cache", "--ticker", "ETH-USD")
    assert (code, out, err) == (1, "", "error: could not download 'ETH-USD' from Yahoo Finance (no network "
                                       "connection to Yahoo Finance); to run offline, pass a price file: --csv PATH\n")


def test_the_snapshots_folder_is_never_a_cache(offline, capsys):
    # On a case-insensitive file system its btc-usd.csv would be the cache file BTC-USD.csv itself.
    folder = SNAPSHOT.parent
    code, out, err = run_cli(capsys, "data", "--cache-dir", folder)
    assert (code, out, err) == (1, "", f"error: the cache folder {folder} holds the embedded snapshot, which is "
                                       "never written to; pick another --cache-dir\n")
    assert sha256(SNAPSHOT) == SNAPSHOT_SHA256 and sorted(p.name for p in folder.iterdir()) == ["btc-usd.csv"]


def test_the_main_command_trains_on_the_snapshot_offline(offline, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", "--cell", "gru", "--start", "2025-09-01", "--window", "5",
                             "--units", "4", "--epochs", "1", "--batch-size", "16", "--quiet", "--out", tmp_path,
                             "--cache-dir", tmp_path / "cache")
    assert (code, err) == (0, WARNING + "\n")
    meta = json.loads((tmp_path / "gru" / "model.json").read_text())
    assert meta["data"]["source"] == SOURCE and meta["data"]["last_date"] == "2025-12-31"


# --- which is newer, cache or snapshot (a fake world: today 2021-04-01) --------------------------------

@pytest.fixture
def world(tmp_path):
    """A snapshot of Yahoo's closes to 2021-03-10 and a cache of other closes (twice Yahoo's) to `cache_end`."""
    snapshot = write_yahoo_csv(tmp_path / "snap.csv", expected_closes(LISTED, D("2021-03-10")))

    def load(cache_end: date | None, **kwargs):
        if cache_end is not None:
            (tmp_path / "cache").mkdir(exist_ok=True)
            write_yahoo_csv(tmp_path / "cache" / "BTC-USD.csv", 2 * expected_closes(LISTED, cache_end))
        return load_yahoo("BTC-USD", tmp_path / "cache", fetch=offline_fetch, today=lambda: TODAY,
                          sleep=lambda s: None, snapshots={"BTC-USD": snapshot}, **kwargs)
    load.snapshot = snapshot
    return load


def offline_fetch(ticker, start):
    raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")


@pytest.mark.parametrize("cache_end, used", [
    (None, "snapshot"), ("2021-03-01", "snapshot"), ("2021-03-09", "snapshot"),
    ("2021-03-10", "cache"),  # a tie: the cache, the user's own download
    ("2021-03-11", "cache"), ("2021-03-21", "cache"),
])
def test_the_newer_of_cache_and_snapshot_is_used(world, caplog, cache_end, used):
    with caplog.at_level(logging.INFO, logger="forecast"):
        prices = world(D(cache_end) if cache_end else None)
    source = f"embedded snapshot {world.snapshot} (Yahoo Finance BTC-USD to 2021-03-10)"
    if used == "snapshot":
        check_same_closes(prices, expected_closes(LISTED, D("2021-03-10")))
        assert prices.source == source and prices.cache is None
        newer = f", newer than the cache (to {cache_end})" if cache_end else ""
        assert warnings_of(caplog) == [f"{FAILED}; using the {source}{newer}"]
    else:
        check_same_closes(prices, 2 * expected_closes(LISTED, D(cache_end)))
        assert prices.source == "Yahoo Finance BTC-USD"
        assert warnings_of(caplog) == [f"{FAILED}; using the cache up to {cache_end}"]


def test_the_snapshot_is_sliced_like_any_source(world):
    prices = world(None, start=D("2021-01-01"), end=D("2021-02-28"))
    check_same_closes(prices, expected_closes(D("2021-01-01"), D("2021-02-28")))


@pytest.mark.parametrize("source", ["cache", "snapshot"])
@pytest.mark.parametrize("bad_days, start, reason", [
    (["2021-01-01"], None, "volume must be a positive number on every day, got -5 on 2021-01-01"),
    (["2021-01-01"], D("2021-01-02"), None),  # before the days read: nothing removed
    (["2021-01-01", "2021-02-10"], D("2021-01-02"), "volume must be a positive number on every day, got -5 on 2021-02-10"),
])
def test_yahoos_columns_are_checked_on_the_days_read(tmp_path, source, bad_days, start, reason):
    """As a price file's: a bad volume before --start removes nothing, the first one after it is named."""
    path = write_yahoo_csv(tmp_path / "prices.csv", random_walk(120))  # 2021-01-01..2021-04-30
    text = path.read_text()
    for day in bad_days:
        line = next(x for x in text.splitlines() if x.startswith(day))
        text = text.replace(line, line.rsplit(",", 1)[0] + ",-5")
    (tmp_path / "cache").mkdir()
    path = tmp_path / ("cache/BTC-USD.csv" if source == "cache" else "snap.csv")
    path.write_text(text)
    prices = load_yahoo("BTC-USD", tmp_path / "cache", start=start, fetch=offline_fetch, today=lambda: D("2021-05-01"),
                        sleep=lambda s: None, snapshots={} if source == "cache" else {"BTC-USD": path})
    assert prices.source.startswith("Yahoo" if source == "cache" else "embedded snapshot")
    assert prices.why_not("volume") == reason


def test_any_failed_download_falls_back_not_only_a_closed_network(world, tmp_path, caplog):
    # Rate limited three times: the same rule as for the cache, with Yahoo's reason in the one line.
    def limited(ticker, start):
        raise YFRateLimitError()
    with caplog.at_level(logging.WARNING, logger="forecast"):
        prices = load_yahoo("BTC-USD", tmp_path / "cache", fetch=limited, today=lambda: TODAY,
                            sleep=lambda s: None, snapshots={"BTC-USD": world.snapshot})
    assert prices.close.index[-1] == pd.Timestamp("2021-03-10")
    assert warnings_of(caplog) == [
        "could not download BTC-USD from Yahoo Finance (rate limited by Yahoo Finance, try again later); "
        f"using the embedded snapshot {world.snapshot} (Yahoo Finance BTC-USD to 2021-03-10)"]


# --- deciding fast: attempts and waits counted ---------------------------------------------------------

def counting(error):
    calls = []

    def fetch(ticker, start):
        calls.append(ticker)
        raise error
    return fetch, calls


@pytest.mark.parametrize("error", [
    ConnectionError("Could not resolve host"), ConnectionRefusedError(111, "Connection refused"),
    CurlConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"),
], ids=["no name", "refused", "curl"])
def test_a_closed_network_is_one_attempt_without_waiting(tmp_path, error):
    fetch, calls = counting(error)
    sleeps = []
    with pytest.raises(DataError, match=r"\(no network connection to Yahoo Finance\)"):
        load_yahoo("ETH-USD", tmp_path, fetch=fetch, today=lambda: TODAY, sleep=sleeps.append)
    assert (calls, sleeps) == (["ETH-USD"], [])


@pytest.mark.parametrize("error", [YFRateLimitError(), TimeoutError("timed out"), RuntimeError("HTTP 503")])
def test_what_may_pass_is_tried_at_most_three_times_within_three_seconds(tmp_path, error):
    fetch, calls = counting(error)
    sleeps = []
    with pytest.raises(DataError):
        load_yahoo("ETH-USD", tmp_path, fetch=fetch, today=lambda: TODAY, sleep=sleeps.append)
    assert len(calls) == 3 and sleeps == [1.0, 2.0]


def test_when_the_probe_fails_yfinance_is_not_asked(monkeypatch, tmp_path):
    fake = FakeYahoo(now=TODAY)
    monkeypatch.setattr(yfinance, "Ticker", fake)

    def unresolved():
        raise ConnectionError("cannot reach query2.finance.yahoo.com: [Errno -2] Name or service not known")
    monkeypatch.setattr(yahoo_source, "reach_yahoo", unresolved)
    sleeps = []
    with pytest.raises(DataError, match=r"\(no network connection to Yahoo Finance\)"):
        load_yahoo("ETH-USD", tmp_path, today=lambda: TODAY, sleep=sleeps.append)
    assert (fake.tickers, fake.calls, sleeps) == ([], [], [])


def test_no_progress_lines_for_the_attempts(offline, tmp_path, capsys):
    # Not --quiet: INFO lines would show; the attempts are DEBUG, the outcome the one line.
    code, _, err = run_cli(capsys, "data", "--cache-dir", tmp_path, "--ticker", "ETH-USD")
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("error: ")


# --- the probe, with the socket faked -------------------------------------------------------------------

@pytest.fixture
def direct(monkeypatch):
    """No proxy in the environment, so the probe connects itself."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_probe_an_unknown_host_fails_at_once(direct, monkeypatch):
    def lookup_fails(address, timeout):
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "create_connection", lookup_fails)
    with pytest.raises(ConnectionError) as e:
        reach_yahoo()
    assert str(e.value) == "cannot reach query2.finance.yahoo.com: [Errno -2] Name or service not known"


def test_probe_gives_up_on_a_silent_network_after_its_timeout(direct, monkeypatch):
    release = threading.Event()

    def hangs(address, timeout):  # a lookup that never answers, as a dropped packet does
        release.wait(30)
        raise OSError("released")
    monkeypatch.setattr(socket, "create_connection", hangs)
    began = time.monotonic()
    try:
        with pytest.raises(ConnectionError) as e:
            reach_yahoo(timeout=0.2)
    finally:
        release.set()
    assert str(e.value) == "no answer from query2.finance.yahoo.com within 0.2 s"
    assert time.monotonic() - began < 5  # 0.2 s, with room for a busy machine


def test_probe_passes_when_yahoo_takes_the_connection(direct, monkeypatch):
    seen = []

    class Connection:
        def close(self):
            seen.append("closed")

    def connects(address, timeout):
        seen.append((address, timeout))
        return Connection()
    monkeypatch.setattr(socket, "create_connection", connects)
    assert reach_yahoo() is None
    assert seen == [(("query2.finance.yahoo.com", 443), 3.0), "closed"]


def test_probe_leaves_the_decision_to_yfinance_behind_a_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected directly"))
    assert reach_yahoo() is None
