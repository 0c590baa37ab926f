"""Shared fixtures: tiny seeded price series, CSV writers and the real prices in ../shared/data."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_CSV = SHARED_DATA / "btc-usd.csv"
REAL_MULTIHEADER = SHARED_DATA / "btc-usd-yfinance-multiheader.csv"


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
    """Yahoo Finance unreachable, as on a machine without network: the fake stands at
    `yfinance.Ticker`, the network boundary, and retries do not wait."""
    import yfinance

    from forecast import data_yahoo

    class Offline:
        def __init__(self, ticker):
            pass

        def history(self, **kwargs):
            raise ConnectionError("Could not resolve host: query2.finance.yahoo.com")

    monkeypatch.setattr(yfinance, "Ticker", Offline)
    monkeypatch.setattr(data_yahoo, "BACKOFF_S", 0)


@pytest.fixture
def walk() -> pd.Series:
    return random_walk()


@pytest.fixture
def walk_csv(tmp_path, walk) -> Path:
    return write_yahoo_csv(tmp_path / "prices.csv", walk)


@pytest.fixture
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        pytest.skip(f"real prices not found at {REAL_CSV} (only in the team's checkout)")
    return REAL_CSV


@pytest.fixture
def real_multiheader() -> Path:
    if not REAL_MULTIHEADER.is_file():
        pytest.skip(f"real prices not found at {REAL_MULTIHEADER} (only in the team's checkout)")
    return REAL_MULTIHEADER
