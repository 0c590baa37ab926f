"""The date column of a price file: which one format reads it, whether its rows are intraday, and
the refusals of dates that cannot be read for certain (ambiguous day-first or month-first dates,
Excel serial numbers, unparseable values). csv_source reads the rest of the file."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from .errors import DataError
from .prices import check_gaps, check_span

# The date formats a column may be in, each with how it reads 01/02/2021. A column is parsed with
# ONE of them: value by value, pandas reads 13/02/2021 day first and 01/02/2021 month first.
# "ISO8601" is pandas' ISO parser: 2021-01-02, with any time and UTC offset after it.
DATE_FORMATS = (
    ("ISO8601", "year first"),
    ("%Y%m%d", "year first"),
    ("%Y/%m/%d", "year first"),
    ("%d/%m/%Y", "day first"),
    ("%m/%d/%Y", "month first"),
    ("%d/%m/%y", "day first"),    # LibreOffice en-GB: 17/09/14
    ("%m/%d/%y", "month first"),  # Excel en-US: 9/17/14
    ("%d.%m.%Y", "day first"),
    ("%d.%m.%y", "day first"),    # LibreOffice de-DE: 17.09.14
    ("%d-%m-%Y", "day first"),
    ("%m-%d-%Y", "month first"),
    ("%b %d, %Y", "month name"),  # Sep 17, 2014 (quoted: it holds a comma)
    ("%B %d, %Y", "month name"),
    ("%d %b %Y", "month name"),
    ("%d %B %Y", "month name"),
    ("%d-%b-%Y", "month name"),
    ("%d-%b-%y", "month name"),   # Excel: 17-Sep-14
)
TIMES = ("", " %H:%M", " %H:%M:%S")  # what may follow a date in the non-ISO formats
ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]|$)")  # pandas' ISO parser also takes "2021-01"
UTC_OFFSET = re.compile(r"(\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")
INTRADAY = pd.Timedelta(hours=18)  # a median spacing under this is intraday; about a day is a daily file
EXCEL_SERIALS = (20_000, 80_000)    # Excel's day numbers for 1954..2119 (as unix seconds: 1970's first day)
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
SAMPLE_ROWS = 100  # formats that fail on these are not tried on a whole (maybe intraday) column


def parse_dates(raw: pd.Series, column: str, path, today: date, earliest) -> tuple[pd.DatetimeIndex, bool]:
    """The dates of a column as tz-naive timestamps, and whether the rows are intraday.

    Intraday rows (median spacing under INTRADAY) are UTC instants, each UTC day's last row its close.
    A daily file's rows are its days as written (as Yahoo labels a bar by its exchange's date,
    2024-01-02T00:00:00+09:00 is 2024-01-02), whatever the time and offset after them.
    """
    text = raw.str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and not text.str.fullmatch(r"(19|20)\d{6}").all():
        # Unix seconds, as in the Kaggle Bitstamp minute data; milli-, micro- or nanoseconds as some
        # exchanges and pandas write them (1e11 seconds is the year 5138). 20210101 is a date, not seconds.
        _refuse_excel_serials(numeric, raw, column, path)
        top = numeric.abs().max()
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us" if top < 1e17 else "ns"
        parsed = pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
        _refuse_unparsed(parsed, raw, column, path)
        instants = pd.DatetimeIndex(parsed).tz_convert(None)
        days = instants.normalize()
    else:
        fmt, wall = _date_format(text, raw, column, path, today, earliest)
        days = pd.DatetimeIndex(wall.dt.normalize())
        instants = pd.DatetimeIndex(wall)
        if fmt == "ISO8601":  # written offsets count for the spacing, and intraday rows fall on their UTC day
            parsed = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
            _refuse_unparsed(parsed, raw, column, path)
            instants = pd.DatetimeIndex(parsed).tz_convert(None)
    if several_a_day(instants):
        return instants, True
    return days, False


def several_a_day(instants: pd.DatetimeIndex) -> bool:
    """Intraday rows: consecutive distinct times are well under a day apart (a median under INTRADAY).
    A daily file's spacing is a day however many of its days repeat or carry a time."""
    spacing = np.sort(np.diff(np.unique(instants.to_numpy())))
    if len(spacing) == 0:
        return False
    # The lower of two middle values: three rows a minute and a year apart are intraday, not daily.
    return bool(spacing[(len(spacing) - 1) // 2] < INTRADAY.to_timedelta64())


def _refuse_excel_serials(numeric: pd.Series, raw: pd.Series, column: str, path) -> None:
    """41899 is 2014-09-17 in Excel's day numbers; as unix seconds it is 1970-01-01, as YYYYMMDD nothing."""
    if numeric.between(*EXCEL_SERIALS).all():
        day = EXCEL_EPOCH + pd.Timedelta(days=float(numeric.iloc[0]))
        raise DataError(
            f"{path}: dates in column {column!r} look like Excel serial day numbers ({raw.iloc[0].strip()!r} "
            f"would be {day:%Y-%m-%d}); save dates as YYYY-MM-DD"
        )


def _with_format(text: pd.Series, fmt: str) -> pd.Series:
    """The dates as written (wall-clock time, no offset); NaT where a value is not in `fmt`."""
    if fmt == "ISO8601":
        wall = pd.to_datetime(text.str.replace(UTC_OFFSET, r"\1", regex=True), format=fmt, errors="coerce")
        return wall.where(text.str.match(ISO_DATE))
    return pd.to_datetime(text, format=fmt, errors="coerce")


def _date_format(text: pd.Series, raw: pd.Series, column: str, path, today: date, earliest) -> tuple[str, pd.Series]:
    """The one format that reads every date of the column, and its reading.

    Where several formats read every value and disagree (01/02/2021), the reading that makes a
    plausible daily series wins; if more than one does, the column is ambiguous and refused.
    """
    candidates = [(fmt + time if fmt != "ISO8601" else fmt, how)
                  for fmt, how in DATE_FORMATS for time in ((("",) if fmt == "ISO8601" else TIMES))]
    sample = text.iloc[:SAMPLE_ROWS]
    parsed_in_sample = {fmt: int(_with_format(sample, fmt).notna().sum()) for fmt, _ in candidates}
    readings = []
    for fmt, how in candidates:
        if parsed_in_sample[fmt] == len(sample):
            wall = _with_format(text, fmt)
            if wall.notna().all() and not any(wall.equals(other) for _, _, other in readings):
                readings.append((fmt, how, wall))
    if not readings:
        best = max(candidates, key=lambda c: parsed_in_sample[c[0]])[0]  # the first of the best
        _refuse_unparsed(_with_format(text, best), raw, column, path)
    if len(readings) > 1:
        plausible = [r for r in readings if _plausible(r[2], today, earliest)]
        readings = plausible or readings
    if len(readings) > 1:
        raise _ambiguous(readings[0], readings[1], raw, column, path)
    fmt, _, wall = readings[0]
    return fmt, wall


def _plausible(wall: pd.Series, today: date, earliest) -> bool:
    """A daily series without repeated days, or intraday rows, within Bitcoin's dates and without long gaps."""
    days = pd.DatetimeIndex(wall.dt.normalize()).sort_values()
    if days.duplicated().any() and not several_a_day(pd.DatetimeIndex(wall)):
        return False
    try:
        check_span(days, "", today, earliest=earliest)
        check_gaps(days, "")
    except DataError:
        return False
    return True


def _ambiguous(first, second, raw: pd.Series, column: str, path) -> DataError:
    (_, how1, wall1), (_, how2, wall2) = first, second
    i = int(np.argmax((wall1 != wall2).to_numpy()))
    return DataError(
        f"{path}: ambiguous dates in column {column!r}: {raw.iloc[i].strip()!r} (data row {i + 1}) reads as "
        f"{when(wall1.iloc[i])} ({how1}) or {when(wall2.iloc[i])} ({how2}); write dates as YYYY-MM-DD"
    )


def _refuse_unparsed(parsed: pd.Series, raw: pd.Series, column: str, path) -> None:
    bad = parsed.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{path}: unparseable date {raw.iloc[i]!r} in column {column!r} (data row {i + 1})"
        )


def when(ts: pd.Timestamp) -> str:
    """The day, with the time only where there is one (intraday rows)."""
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"
