"""Daily closes in: from Yahoo Finance (with a local cache) or a user's CSV, validated.

Whatever the source, the result is one float64 Series of daily closes on a tz-naive UTC
calendar index with no missing days: Bitcoin trades every day, so a missing day is a gap,
reported and filled with the previous close so that no window silently spans it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, TooLittleData
from .files import write_atomic

log = logging.getLogger(__name__)

DATE_NAMES = ("date", "datetime", "timestamp", "time")
CLOSE_NAMES = ("close", "adj close")
CACHE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
RETRIES = 3          # download attempts before giving up
BACKOFF_S = 2.0      # first wait between attempts; doubles each time


@dataclass(frozen=True)
class Prices:
    close: pd.Series                          # float64 closes in USD, daily, ascending, no gaps
    source: str                               # "Yahoo Finance BTC-USD" or the CSV path
    gaps: tuple[tuple[date, date], ...] = ()  # runs of missing days, filled with the previous close
    cache: Path | None = None                 # the Yahoo cache file, when there is one

    @property
    def filled_days(self) -> int:
        return gap_days(self.gaps)

    def sha256(self) -> str:
        """Fingerprint of the exact series a model was trained on: dates and closes."""
        h = hashlib.sha256()
        h.update(self.close.index.strftime("%Y-%m-%d").str.cat(sep=",").encode())
        h.update(np.ascontiguousarray(self.close.to_numpy(dtype="float64")).tobytes())
        return h.hexdigest()

    def summary(self) -> str:
        c = self.close
        lines = [
            f"source:     {self.source}",
            f"rows:       {len(c)}",
            f"first date: {c.index[0]:%Y-%m-%d}",
            f"last date:  {c.index[-1]:%Y-%m-%d}",
            f"last close: {c.iloc[-1]:,.2f} USD",
            f"gaps:       {describe_gaps(self.gaps)}",
        ]
        if self.cache is not None:
            lines.append(f"cache:      {self.cache}")
        return "\n".join(lines)


def gap_days(gaps) -> int:
    """Missing days in runs of (first, last) dates, both ends included."""
    return sum((b - a).days + 1 for a, b in gaps)


def describe_gaps(gaps) -> str:
    if not gaps:
        return "none"
    runs = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in gaps[:5])
    more = f" and {len(gaps) - 5} more runs" if len(gaps) > 5 else ""
    return f"{gap_days(gaps)} missing days filled with the previous close ({runs}{more})"


# --- CSV ----------------------------------------------------------------------------------

def _normalise(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").split())


def read_csv_frame(path: Path) -> pd.DataFrame:
    """Reads any of the layouts users have into a frame with normalised column names.

    Layouts: one header row (classic Yahoo, Kaggle), or the three header rows
    (Price / Ticker / Date) that `yf.download(...).to_csv()` writes since yfinance 0.2.51.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"empty file: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            head = [row for _, row in zip(range(3), csv.reader(f))]
    except UnicodeDecodeError as e:  # a spreadsheet, a zip, a latin-1 export
        raise DataError(
            f"cannot read {path} as CSV: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
        ) from None
    if not head or not any(cell.strip() for cell in head[0]):
        raise DataError(f"empty file: {path}")
    multiheader = (
        len(head) == 3
        and _normalise(head[0][0]) == "price"
        and [_normalise(c) for c in head[1][:1]] == ["ticker"]
    )
    try:
        if multiheader:
            names = ["date"] + [_normalise(c) for c in head[0][1:]]
            frame = pd.read_csv(path, header=None, skiprows=3, names=names, dtype=str)
        else:
            # index_col=False: a trailing comma on each row must not turn the dates into an index.
            frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", index_col=False)
            frame.columns = [_normalise(c) for c in frame.columns]
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"cannot read {path} as CSV: {str(e).splitlines()[0]}") from None
    if frame.empty:
        raise DataError(f"no data rows in {path}")
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise DataError(f"{path}: columns named alike (case and spaces ignored): {', '.join(map(repr, repeated))}")
    return frame


def _pick(frame: pd.DataFrame, names: tuple[str, ...], what: str, path) -> str:
    for name in names:
        if name in frame.columns:
            return name
    found = ", ".join(repr(c) for c in frame.columns)
    wanted = " or ".join(repr(n.title()) for n in names)
    raise DataError(f"{path}: no {what} column (expected {wanted}; found {found})")


def _parse_dates(raw: pd.Series, column: str, path) -> pd.DatetimeIndex:
    text = raw.str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and not text.str.fullmatch(r"(19|20)\d{6}").all():
        # Unix seconds, as in the Kaggle Bitstamp minute data; milli- or microseconds as some
        # exchanges write them (1e11 seconds is the year 5138). 20210101 is a date, not seconds.
        top = numeric.abs().max()
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us"
        parsed = pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
    else:
        parsed = _parse_date_text(text)
    bad = parsed.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{path}: unparseable date {raw.iloc[i]!r} in column {column!r} (data row {i + 1})"
        )
    return pd.DatetimeIndex(parsed).tz_convert(None)


def _parse_date_text(text: pd.Series) -> pd.Series:
    """One format for the whole column where there is one, so that 01/02/2021 and 13/02/2021
    are read alike (month-first, as pandas does, then day-first); else each value on its own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format" notes
        for kwargs in ({}, {"dayfirst": True}):
            try:
                return pd.to_datetime(text, utc=True, **kwargs)
            except (ValueError, TypeError, OverflowError):
                pass
        return pd.to_datetime(text, utc=True, errors="coerce", format="mixed")


def _when(ts: pd.Timestamp) -> str:
    """The day, with the time only where there is one (intraday rows)."""
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def _parse_closes(raw: pd.Series, index: pd.DatetimeIndex, path) -> pd.Series:
    values = pd.to_numeric(raw.str.strip(), errors="coerce")
    values = values.where(np.isfinite(values))  # "inf" is no price either
    missing = raw.isna() | raw.str.strip().isin(["", "nan", "NaN", "null", "None"])
    nonnumeric = values.isna() & ~missing
    if nonnumeric.any():
        i = int(np.argmax(nonnumeric.to_numpy()))
        raise DataError(
            f"{path}: non-numeric close {raw.iloc[i]!r} on {_when(index[i])}"
        )
    return pd.Series(values.to_numpy(dtype="float64"), index=index, name="close")


def _daily(close: pd.Series, path, intraday: bool) -> pd.Series:
    """Checks a close series and puts it on a daily UTC calendar (gaps still NaN)."""
    if intraday:
        # Minutes without trades are normal in intraday files; the day's close is its last trade.
        close = close.dropna().sort_index().resample("1D").last()
        close = close.loc[close.first_valid_index():close.last_valid_index()]
    else:
        nan = close.isna()
        if nan.any():
            days = close.index[nan]
            more = f" and {len(days) - 1} more" if len(days) > 1 else ""
            raise DataError(f"{path}: missing close on {days[0]:%Y-%m-%d}{more}")
        dup = close.index.duplicated(keep=False)
        if dup.any():
            days = sorted({f"{d:%Y-%m-%d}" for d in close.index[dup]})
            shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
            raise DataError(f"{path}: duplicate dates: {shown}")
        close = close.sort_index()
    bad = close <= 0
    if bad.any():
        day = close.index[bad.to_numpy()][0]
        raise DataError(f"{path}: close must be positive, got {close[day]:g} on {day:%Y-%m-%d}")
    close.index.name = "date"
    return close


def parse_price_frame(frame: pd.DataFrame, path) -> pd.Series:
    """Raw CSV frame -> daily close Series (gaps as NaN). Every problem is a one-line DataError."""
    date_col = _pick(frame, DATE_NAMES, "date", path)
    close_col = _pick(frame, CLOSE_NAMES, "close", path)
    index = _parse_dates(frame[date_col].astype(str), date_col, path)
    close = _parse_closes(frame[close_col], index, path)
    intraday = bool((index != index.normalize()).any()) or (
        date_col == "timestamp" and index.normalize().duplicated().any()
    )
    return _daily(close, path, intraday)


def fill_gaps(close: pd.Series) -> tuple[pd.Series, tuple[tuple[date, date], ...]]:
    """Reindexes to every calendar day; missing days get the previous close."""
    full = close.asfreq("D")
    missing = full.index[full.isna()]
    runs: list[tuple[date, date]] = []
    for day in missing:
        d = day.date()
        if runs and runs[-1][1] == d - timedelta(days=1):
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return full.ffill(), tuple(runs)


def finish(close: pd.Series, source: str, start, end, min_rows: int, cache=None) -> Prices:
    """Slices to [start, end], fills gaps and checks there is enough data."""
    close = close.loc[pd.Timestamp(start) if start else None:pd.Timestamp(end) if end else None]
    close = close.loc[close.first_valid_index():close.last_valid_index()] if close.notna().any() else close.iloc[:0]
    if len(close) < min_rows:
        span = f" between {start or 'the start'} and {end or 'the end'}" if (start or end) else ""
        raise TooLittleData(
            f"too little data: {len(close)} daily closes{span} from {source}, "
            f"need at least {min_rows}"
        )
    close, gaps = fill_gaps(close)
    if gaps:
        log.warning("gaps: %s", describe_gaps(gaps))
    return Prices(close=close.astype("float64"), source=source, gaps=gaps, cache=cache)


def load_csv(path, start=None, end=None, min_rows: int = 1) -> Prices:
    path = Path(path)
    close = parse_price_frame(read_csv_frame(path), path)
    return finish(close, str(path), start, end, min_rows)


# --- Yahoo Finance ------------------------------------------------------------------------

def yahoo_history(ticker: str, start: date | None) -> pd.DataFrame:
    """The one call that reaches the network: yfinance's single-ticker daily history."""
    import yfinance as yf

    kwargs = {"start": start.isoformat()} if start else {"period": "max"}
    with _quiet_logger("yfinance"):
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


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


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


def _read_cache(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        raw = pd.read_csv(path, dtype=str)
        if "Date" not in raw.columns or "Close" not in raw.columns or raw.empty:
            raise ValueError("no Date or Close column, or no rows")
        # Every date and close must be valid before anything is merged into the cache.
        parse_price_frame(raw.rename(columns=_normalise), path)
        frame = pd.read_csv(path, index_col="Date", parse_dates=["Date"]).sort_index()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, DataError) as e:
        reason = str(e).splitlines()[0].removeprefix(f"{path}: ")
        raise DataError(
            f"the price cache {path} is unreadable ({reason}); "
            "move it away to download again, or pass --csv PATH"
        ) from None
    return frame


def _download(fetch, ticker: str, start: date | None, sleep) -> pd.DataFrame:
    """Fetches with retries and exponential backoff; returns the last frame, or raises the last error."""
    errors: list[Exception] = []
    for attempt in range(RETRIES):
        if attempt:
            sleep(BACKOFF_S * 2 ** (attempt - 1))
        try:
            frame = fetch(ticker, start)
        except Exception as e:  # network, rate limit, Yahoo's own errors: all mean "not now"
            errors.append(e)
            log.info("download attempt %d/%d failed: %s", attempt + 1, RETRIES, _reason(e))
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


def _reason(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "ratelimit" in type(e).__name__.lower() or "rate limit" in text.lower():
        return "rate limited by Yahoo Finance, try again later"
    if _is_network(e):
        return "no network connection to Yahoo Finance"
    if type(e).__name__ in ("YFTzMissingError", "YFPricesMissingError", "YFTickerMissingError"):
        # yfinance says "possibly delisted" both for unknown symbols and when its lookups failed.
        return f"unknown ticker, or Yahoo Finance unreachable: {text[:160]}"
    return text[:160]


def load_yahoo(
    ticker: str,
    cache_dir: Path,
    start=None,
    end=None,
    min_rows: int = 1,
    *,
    fetch: Callable[[str, date | None], pd.DataFrame] = yahoo_history,
    today: Callable[[], date] = _utc_today,
    sleep: Callable[[float], None] = time.sleep,
) -> Prices:
    """Brings the cache up to yesterday (UTC), then returns the cached closes.

    Only missing days are downloaded and merged in; a failed download never touches the cache.
    """
    path = cache_path(cache_dir, ticker)
    cached = _read_cache(path)
    now = today()
    last_closed = now - timedelta(days=1)
    last_cached = cached.index[-1].date() if cached is not None else None
    if last_cached is None or last_cached < last_closed:
        fetch_from = last_cached + timedelta(days=1) if last_cached else None
        try:
            fresh = _history_to_cache_frame(_download(fetch, ticker, fetch_from, sleep), now)
            if fresh.empty and cached is None:
                raise LookupError("Yahoo Finance returned no closed days")
        except Exception as e:
            if cached is None:
                raise DataError(
                    f"could not download {ticker!r} from Yahoo Finance ({_reason(e)}); "
                    "to run offline, pass a price file: --csv PATH"
                ) from None
            log.warning(
                "could not download %s from Yahoo Finance (%s); using the cache up to %s",
                ticker, _reason(e), last_cached,
            )
        else:
            merged = fresh if cached is None else pd.concat(
                [cached, fresh[fresh.index > cached.index[-1]]]
            )
            if cached is None or len(merged) > len(cached):
                write_atomic(path, lambda tmp: merged.to_csv(tmp, date_format="%Y-%m-%d"))
                log.info("cached %d new days of %s in %s", len(merged) - len(cached if cached is not None else []), ticker, path)
            cached = merged
    frame = cached.reset_index().rename(columns=str).astype(str)
    frame.columns = [_normalise(c) for c in frame.columns]
    close = parse_price_frame(frame, path)
    return finish(close, f"Yahoo Finance {ticker}", start, end, min_rows, cache=path)


def load_prices(cfg, min_rows: int = 1, **yahoo_kwargs) -> Prices:
    """The data stage of the pipeline: the configured source, validated and sliced."""
    if cfg.start and cfg.end and cfg.start > cfg.end:
        raise DataError(f"--start {cfg.start} is after --end {cfg.end}")
    if cfg.csv is not None:
        return load_csv(cfg.csv, cfg.start, cfg.end, min_rows)
    return load_yahoo(cfg.ticker, cfg.cache_dir, cfg.start, cfg.end, min_rows, **yahoo_kwargs)
