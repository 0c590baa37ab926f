"""Yahoo Finance daily prices through yfinance, cached as a CSV in the cache folder.

`yahoo_history` is the one call that reaches the network: `reach_yahoo` first (a few seconds at
most), then yfinance; tests replace both (conftest). When a download fails, BTC-USD falls back
to the newer of the cache and the embedded snapshot (data/snapshot/btc-usd.csv), in one warning line.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from .prices import COLUMNS, Prices, check_close_bounds, check_gaps, check_span, finish, utc_today
from .csv_source import PriceColumns, _normalise, check_field_counts, parse_price_columns, parse_price_frame, read_csv_frame
from .errors import DataError
from .files import write_atomic

log = logging.getLogger(__name__)

CACHE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
RETRIES = 3          # download attempts before giving up on what may pass (rate limits, timeouts)
BACKOFF_S = 1.0      # first wait between attempts; doubles each time
YAHOO_HOST = "query2.finance.yahoo.com"  # where yfinance fetches daily bars
PROBE_TIMEOUT_S = 3.0                    # name lookup and TCP connect together, before yfinance starts

ROOT = Path(__file__).resolve().parents[1]
# Yahoo Finance's BTC-USD daily history, shipped with the code (data/README.md): the offline default.
# Not data/BTC-USD.csv, the cache's name, which is the same file on a case-insensitive file system.
SNAPSHOTS = {"BTC-USD": ROOT / "data" / "snapshot" / "btc-usd.csv"}


def reach_yahoo(host: str = YAHOO_HOST, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raises ConnectionError within `timeout` seconds when `host` does not resolve or take a TCP
    connection: offline is known before yfinance's own lookups (each with its own timeout) begin."""
    if any(urllib.request.getproxies().get(k) for k in ("https", "all")):
        return  # the direct route may be closed behind a proxy: yfinance's request through it decides
    outcome: list[OSError | None] = []

    def connect():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(e)

    # A thread, because a name lookup does not honour the socket timeout.
    thread = threading.Thread(target=connect, daemon=True, name="reach-yahoo")
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise ConnectionError(f"no answer from {host} within {timeout:g} s")
    if outcome[0] is not None:
        raise ConnectionError(f"cannot reach {host}: {outcome[0]}")


def yahoo_history(ticker: str, start: date | None) -> pd.DataFrame:
    """The one call that reaches the network: yfinance's single-ticker daily history, once
    `reach_yahoo` has found Yahoo Finance's host."""
    reach_yahoo()  # before importing yfinance too: offline, its import is half the wait
    import yfinance as yf  # only once Yahoo answers: `data` offline and CSV runs never load it

    kwargs = {"start": start.isoformat()} if start else {"period": "max"}
    with _quiet_logger("yfinance"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # yfinance's and pandas' deprecation notes are not the user's
        return yf.Ticker(ticker).history(
            interval="1d", auto_adjust=False, actions=False, raise_errors=True, **kwargs
        )


@contextlib.contextmanager
def _quiet_logger(name: str):
    """yfinance logs each failure itself; our one-line error says it better."""
    logger = logging.getLogger(name)
    level, logger.level = logger.level, logging.CRITICAL + 1
    try:
        yield
    finally:
        logger.level = level


def cache_path(cache_dir: Path, ticker: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ticker.upper())
    return Path(cache_dir) / f"{safe}.csv"


def _history_to_cache_frame(history: pd.DataFrame, today: date) -> pd.DataFrame:
    """yfinance frame -> one-header cache frame of closed UTC days only."""
    frame = history.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = frame.columns.get_level_values(0)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        # A daily bar is labelled by its exchange's date (UTC for crypto); converting a Tokyo
        # midnight to UTC first would move it to the day before.
        index = index.tz_localize(None)
    frame.index = index.normalize()
    frame.index.name = "Date"
    if "Adj Close" not in frame.columns and "Close" in frame.columns:
        frame["Adj Close"] = frame["Close"]
    frame = frame.reindex(columns=CACHE_COLUMNS)
    frame = frame[frame["Close"].notna() & (frame["Close"] > 0)]
    # The current UTC day is still trading: its "close" is not final, so it is never cached.
    frame = frame[frame.index < pd.Timestamp(today)]
    return frame[~frame.index.duplicated(keep="last")].sort_index()


@dataclass(frozen=True)
class _Cache:
    frame: pd.DataFrame   # every cached column, numeric, on an ascending daily DatetimeIndex
    close: pd.Series      # its closes, checked as any price file is


def _read_cache(path: Path, today: date) -> _Cache | None:
    """The cache, read and checked once: every row, date and close must be valid before
    anything is merged into it. Any ticker may be cached, so no date is too early for it."""
    if not path.exists():
        return None
    try:
        raw = pd.read_csv(path, dtype=str)
        if "Date" not in raw.columns or "Close" not in raw.columns or raw.empty:
            raise ValueError("no Date or Close column, or no rows")
        check_field_counts(path, len(raw.columns))
        close = parse_price_frame(raw.rename(columns=_normalise), path, today=today, earliest=None)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, DataError) as e:
        reason = str(e).splitlines()[0].removeprefix(f"{path}: ").removeprefix(f"{path} ")
        raise DataError(
            f"the price cache {path} is unreadable ({reason}); "
            "move it away to download again, or pass --csv PATH"
        ) from None
    frame = raw.set_index(pd.DatetimeIndex(pd.to_datetime(raw["Date"].str.strip()).dt.normalize(), name="Date"))
    frame = frame.drop(columns="Date").apply(pd.to_numeric, errors="coerce").sort_index()
    return _Cache(frame=frame, close=close)


def _checked_fresh(fresh: pd.DataFrame, cached: _Cache | None, ticker: str, today: date) -> pd.Series:
    """Closes of newly downloaded days, checked like a file's before they reach the cache:
    positive (kept so by _history_to_cache_frame), no price no market has (prices.MAX_PRICE), no
    future day, no gap over the limit."""
    source = f"Yahoo Finance {ticker}"
    close = fresh["Close"].astype("float64").rename("close")
    close.index.name = "date"
    check_span(close.index, source, today, earliest=None)
    check_close_bounds(close, source, lambda i: f"on {close.index[i]:%Y-%m-%d}")
    joined = close.index if cached is None else cached.close.index[-1:].append(close.index)
    check_gaps(joined, source)
    return close


def _download(fetch, ticker: str, start: date | None, sleep) -> pd.DataFrame:
    """Fetches, retrying with a short backoff what may pass a moment later (rate limits, timeouts,
    Yahoo's own errors, no rows); a closed network (no name, no route, refused) fails at once."""
    errors: list[Exception] = []
    for attempt in range(RETRIES):
        if attempt:
            sleep(BACKOFF_S * 2 ** (attempt - 1))
        try:
            frame = fetch(ticker, start)
        except Exception as e:  # network, rate limit, Yahoo's own errors: all mean "not now"
            errors.append(e)
            log.debug("download attempt %d/%d failed: %s", attempt + 1, RETRIES, _reason(e))
            if _is_unreachable(e):
                break
            continue
        if frame is not None and not frame.empty:
            return frame
        errors.append(LookupError("Yahoo Finance returned no rows (unknown ticker?)"))
    # After a network failure yfinance goes on to blame the ticker; the network is the news.
    raise next((e for e in errors if _is_network(e)), errors[-1])


def _is_network(e: Exception) -> bool:
    return isinstance(e, (ConnectionError, TimeoutError)) or any(
        "connection" in k.__name__.lower() or "timeout" in k.__name__.lower() for k in type(e).__mro__
    )


def _is_unreachable(e: Exception) -> bool:
    """A network error that waiting will not mend: retrying it only makes offline slow."""
    return _is_network(e) and not isinstance(e, TimeoutError) and not any(
        "timeout" in k.__name__.lower() for k in type(e).__mro__
    )


def _reason(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "ratelimit" in type(e).__name__.lower() or "rate limit" in text.lower():
        return "rate limited by Yahoo Finance, try again later"
    if _is_network(e):
        return "no network connection to Yahoo Finance"
    if type(e).__name__ in ("YFTzMissingError", "YFPricesMissingError", "YFTickerMissingError"):
        # yfinance says "possibly delisted" both for unknown symbols and when its lookups failed
        # (offline, rate limited): repeating it would tell a user that BTC-USD was delisted.
        return "no prices from Yahoo Finance: an unknown ticker, or Yahoo Finance unreachable"
    return text[:160]


def _read_snapshot(ticker: str, snapshots: Mapping[str, Path], today: date) -> tuple[PriceColumns, str] | None:
    """The embedded snapshot's prices and how to name them, for a ticker that has one."""
    path = snapshots.get(ticker.upper())
    if path is None or not Path(path).is_file():
        return None
    parsed = parse_price_columns(read_csv_frame(Path(path)), path, today=today)
    close = parsed.close
    shown = Path(path).relative_to(ROOT).as_posix() if Path(path).is_relative_to(ROOT) else str(path)
    return parsed, f"embedded snapshot {shown} (Yahoo Finance {ticker.upper()} to {close.index[-1]:%Y-%m-%d})"


def load_yahoo(
    ticker: str,
    cache_dir: Path,
    start=None,
    end=None,
    min_rows: int = 1,
    *,
    fetch: Callable[[str, date | None], pd.DataFrame] = yahoo_history,
    today: Callable[[], date] = utc_today,
    sleep: Callable[[float], None] = time.sleep,
    snapshots: Mapping[str, Path] = SNAPSHOTS,
) -> Prices:
    """Brings the cache up to yesterday (UTC), then returns the cached closes.

    Only missing days are downloaded and merged in; a failed download never touches the cache.
    If it fails, a ticker with an embedded snapshot runs on the newer of cache and snapshot (later
    last day; the cache on a tie), saying so in one warning line; the snapshot is only ever read.
    """
    path = cache_path(cache_dir, ticker)
    if Path(cache_dir).is_dir() and any(Path(s).parent.is_dir() and Path(cache_dir).samefile(Path(s).parent)
                                        for s in snapshots.values()):
        # On a case-insensitive file system its btc-usd.csv is the cache file BTC-USD.csv itself.
        raise DataError(f"the cache folder {cache_dir} holds the embedded snapshot, which is never written to; "
                        "pick another --cache-dir")
    now = today()
    cached = _read_cache(path, now)
    last_closed = now - timedelta(days=1)
    last_cached = cached.close.index[-1].date() if cached is not None else None
    if last_cached is None or last_cached < last_closed:
        fetch_from = last_cached + timedelta(days=1) if last_cached else None
        try:
            raw = _download(fetch, ticker, fetch_from, sleep)
        except Exception as e:  # network, rate limit, Yahoo's own errors; not our conversion below
            failed = f"could not download {ticker} from Yahoo Finance ({_reason(e)})"
            snapshot = _read_snapshot(ticker, snapshots, now)
            if snapshot is not None and (last_cached is None or snapshot[0].close.index[-1].date() > last_cached):
                parsed, source = snapshot
                newer = "" if last_cached is None else f", newer than the cache (to {last_cached})"
                log.warning("%s; using the %s%s", failed, source, newer)
                return finish(parsed.close, source, start, end, min_rows, raw=parsed.raw, missing=parsed.missing,
                              problems=parsed.problems)
            if cached is None:
                raise DataError(
                    f"could not download {ticker!r} from Yahoo Finance ({_reason(e)}); "
                    "to run offline, pass a price file: --csv PATH"
                ) from None
            log.warning("%s; using the cache up to %s", failed, last_cached)
        else:
            fresh = _history_to_cache_frame(raw, now)
            if cached is not None:
                fresh = fresh[fresh.index > cached.close.index[-1]]
            if fresh.empty and cached is None:
                raise DataError(
                    f"could not download {ticker!r} from Yahoo Finance (Yahoo Finance returned no closed days); "
                    "to run offline, pass a price file: --csv PATH"
                )
            if not fresh.empty:
                fresh_close = _checked_fresh(fresh, cached, ticker, now)
                frame = fresh if cached is None else pd.concat([cached.frame, fresh])
                close = fresh_close if cached is None else pd.concat([cached.close, fresh_close])
                write_atomic(path, lambda tmp: frame.to_csv(tmp, date_format="%Y-%m-%d"))
                log.info("cached %d new days of %s in %s", len(fresh), ticker, path)
                cached = _Cache(frame=frame, close=close)
    close, source = cached.close, f"Yahoo Finance {ticker}"
    numbers = {c.lower(): cached.frame[c] for c in cached.frame.columns if c.lower() in COLUMNS}
    # finish checks them on the days read (prices.checked_table): --start and --end apply to them too.
    return finish(close, source, start, end, min_rows, cache=path, raw=numbers, missing={})
