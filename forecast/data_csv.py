"""Price files: the CSV layouts users have, read into a validated daily close series."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Prices, finish
from .errors import DataError

DATE_NAMES = ("date", "datetime", "timestamp", "time")
CLOSE_NAMES = ("close", "adj close")


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


def load_csv(path, start=None, end=None, min_rows: int = 1) -> Prices:
    path = Path(path)
    close = parse_price_frame(read_csv_frame(path), path)
    return finish(close, str(path), start, end, min_rows)
