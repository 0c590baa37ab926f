"""Shared fixtures: tiny seeded price series, CSV writers, the real prices (the embedded snapshot)
and the network boundary (no test reaches Yahoo Finance)."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Yahoo Finance BTC-USD daily, 2014-09-17..2025-12-31, 4124 rows: shipped in the repository.
REAL_CSV = ROOT / "data" / "snapshot" / "btc-usd.csv"
# The team's shared prices beside the checkout, where present (other coins, the original multi-header file).
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_MULTIHEADER = SHARED_DATA / "btc-usd-yfinance-multiheader.csv"
MULTIHEADER_DAYS = ("2021-06-24", "2025-12-31")


def random_walk(days: int = 200, seed: int = 0, start: str = "2021-01-01") -> pd.Series:
    """A seeded geometric random walk of daily closes, BTC-like in level and volatility."""
    rng = np.random.default_rng(seed)
    closes = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.03, days)))
    index = pd.date_range(start, periods=days, freq="D", name="date")
    return pd.Series(closes, index=index, name="close")


def write_yahoo_csv(path: Path, close: pd.Series) -> Path:
    """Writes the classic one-header Yahoo layout."""
    frame = pd.DataFrame({
        "Date": close.index.strftime("%Y-%m-%d"),
        "Open": close.values, "High": close.values * 1.01, "Low": close.values * 0.99,
        "Close": close.values, "Adj Close": close.values, "Volume": 1_000_000,
    })
    frame.to_csv(path, index=False)
    return path


def go_offline(monkeypatch) -> None:
    """Yahoo Finance unreachable, as on a machine without network: its host does not resolve
    (the probe fails, as it does offline, before yfinance starts), and should yfinance be asked
    anyway it fails too; retries do not wait."""
    import yfinance

    from forecast import yahoo_source

    class Offline:
        def __init__(self, ticker):
            pass

        def history(self, **kwargs):
            raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")

    def unresolved(*args, **kwargs):
        raise ConnectionError("cannot reach query2.finance.yahoo.com: [Errno -2] Name or service not known")

    monkeypatch.setattr(yfinance, "Ticker", Offline)
    monkeypatch.setattr(yahoo_source, "reach_yahoo", unresolved)
    monkeypatch.setattr(yahoo_source, "BACKOFF_S", 0)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test reaches the network: the connectivity probe answers for the fake at `yfinance.Ticker`
    (reachable once a test has put one there), and as offline while yfinance's own class is in place."""
    import yfinance

    from forecast import yahoo_source

    real_ticker = yfinance.Ticker

    def probe(*args, **kwargs):
        if yfinance.Ticker is real_ticker:
            raise ConnectionError("tests never contact Yahoo Finance (no fake at yfinance.Ticker)")

    monkeypatch.setattr(yahoo_source, "reach_yahoo", probe)


@pytest.fixture
def walk() -> pd.Series:
    return random_walk()


@pytest.fixture
def walk_csv(tmp_path, walk) -> Path:
    return write_yahoo_csv(tmp_path / "prices.csv", walk)


@pytest.fixture
def real_csv() -> Path:
    return REAL_CSV


def write_multiheader(path: Path, classic: Path, first: str, last: str) -> Path:
    """What `yf.download("BTC-USD").to_csv(path)` writes since yfinance 0.2.51: three header rows
    from MultiIndex columns, Close,High,Low,Open,Volume, no Adj Close. Yahoo's prices are float32:
    the classic file rounds them to 6 decimals, and rounding back to float32 restores them."""
    frame = pd.read_csv(classic, index_col="Date").loc[first:last, ["Close", "High", "Low", "Open", "Volume"]]
    for column in ("Close", "High", "Low", "Open"):
        frame[column] = frame[column].astype("float32").astype("float64")
    frame.columns = pd.MultiIndex.from_arrays([list(frame.columns), ["BTC-USD"] * 5], names=["Price", "Ticker"])
    frame.to_csv(path)
    return path


@pytest.fixture(scope="session")
def real_multiheader(tmp_path_factory) -> Path:
    """The snapshot's 2021-06-24..2025-12-31 in the yfinance >= 0.2.51 layout (1652 rows)."""
    path = tmp_path_factory.mktemp("multiheader") / "btc-usd-yfinance-multiheader.csv"
    return write_multiheader(path, REAL_CSV, *MULTIHEADER_DAYS)


# --- a tiny two-seed comparison: test_compare, test_json_output and test_hostile ---------------

# Tiny trainings without XLA: its compilation is most of a one-epoch training (3-4x slower with it);
# the XLA path is trained in test_cli's real-prices run and the notebook test.
COMPARE_TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
                "--calls", "3", "--quiet", "--no-jit-compile"]


@pytest.fixture(scope="session")
def compared(tmp_path_factory):
    """One tiny two-seed comparison (COMPARE_TINY's settings), shared read-only: tests that run
    compare again copy its folder, whose saved models the run then reuses. (cfg, result, record)."""
    import json

    from forecast import publish
    from forecast.config import Config

    tmp = tmp_path_factory.mktemp("compare")
    csv = write_yahoo_csv(tmp / "prices.csv", random_walk(150, seed=3))
    cfg = Config(csv=csv, out=tmp / "out", window=5, units=4, epochs=2, batch_size=16, patience=1, quiet=True,
                 jit_compile=False)
    result = publish.run_compare(cfg, seeds=2, calls=3, command="test")
    return cfg, result, json.loads((cfg.out / "comparison.json").read_text())


# --- a tiny two-coin backtest: test_backtest_coins and test_backtest_windows ---------------------

COIN_SCALE = 2.0 ** -15   # coin "small-usd" is coin "big" times this (about 0.9 beside 30,000): exact in floating point


@pytest.fixture(scope="session")
def coin_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coins")
    close = random_walk(150, seed=7)
    return (write_yahoo_csv(folder / "big.csv", close),
            write_yahoo_csv(folder / "small-usd.csv", close * COIN_SCALE))


@pytest.fixture(scope="session")
def coins_run(coin_files, tmp_path_factory):
    """Two coins through the CLI, one named (BIG=PATH), one by its file name, with --json; shared
    read-only."""
    import json

    from .backtest_helpers import ONE_SEED, run_cli  # here: backtest_helpers imports this module

    out = tmp_path_factory.mktemp("coins-serial") / "out"
    big, small = coin_files
    code, stdout, stderr = run_cli(["backtest", "--csv", f"BIG={big}", "--csv", str(small), *ONE_SEED,
                                    "--out", str(out), "--json"])
    assert code == 0, stderr
    return out, json.loads(stdout), stderr


# --- the tiny backtest: test_backtest, test_backtest_warm (its cold run) and test_backtest_windows -------

@pytest.fixture(scope="session")
def backtest_prices(tmp_path_factory):
    from .backtest_helpers import write_prices  # here: backtest_helpers imports this module

    return write_prices(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_serial(backtest_prices, tmp_path_factory):
    """One uninterrupted tiny backtest (2 folds, 2 seeds) through the CLI with --json, shared
    read-only: (its folder, stdout, stderr)."""
    from .backtest_helpers import TINY, run_cli

    out = tmp_path_factory.mktemp("serial") / "out"
    code, stdout, stderr = run_cli(["backtest", "--csv", str(backtest_prices), *TINY, "--out", str(out), "--json"])
    assert code == 0, stderr
    return out, stdout, stderr
