"""Price files: the CSV layouts users have, read into a validated daily close series.

A file that cannot be read for certain is refused with a one-line DataError, never guessed at:
a row with more or fewer fields than the header, a date column that two formats read differently,
a date before Bitcoin or after today, a long run of missing days.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .data import GENESIS, Prices, check_gaps, check_span, finish, utc_today
from .errors import DataError

DATE_NAMES = ("date", "datetime", "timestamp", "time")
CLOSE_NAMES = ("close", "adj close")

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
SAMPLE_ROWS = 100  # formats that fail on these are not tried on a whole (maybe intraday) column
THOUSANDS = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 87,508.83, quoted in the file

COMMA_HINT = ("a comma inside a value, such as 87,508.83 or Sep 17, 2014? write plain numbers "
              "and YYYY-MM-DD dates, or quote such values")
SHORT_HINT = "a cut-off row? every row needs a field for each column, even an empty one"
MIXED_HINT = "a trailing comma on some rows only? end every row alike"


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
    header = head[0][:-1] if len(head[0]) > 1 and not head[0][-1].strip() else head[0]
    check_field_counts(path, len(header), skip=3 if multiheader else 1)
    try:
        with warnings.catch_warnings():
            # pandas' ParserWarning for the trailing commas found good above; no library notes on stderr.
            warnings.simplefilter("ignore")
            # index_col=False: a trailing comma on each row must not turn the dates into an index.
            if multiheader:
                names = ["date"] + [_normalise(c) for c in header[1:]]
                frame = pd.read_csv(path, header=None, skiprows=3, names=names, dtype=str,
                                    encoding="utf-8-sig", index_col=False)
            else:
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


def check_field_counts(path: Path, width: int, skip: int = 1) -> None:
    """Every data row must have the header's `width` fields, or every one a single empty field more
    (a trailing comma, as some exports write). pandas pads a short row and, with index_col=False,
    drops what a long one has too many: an unquoted 87,508.83 would become a close of 87.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for _ in range(skip):
                next(reader, None)
            trailing = None  # decided by the first data row
            for row in reader:
                if not row:  # a blank line, which pandas skips too
                    continue
                if trailing is None:
                    trailing = len(row) == width + 1 and not row[-1]
                if len(row) != width + trailing or (trailing and row[-1]):
                    raise _field_count_error(path, reader.line_num, row, width, trailing)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _not_utf8(path: Path) -> DataError:
    """Names the line of the first byte that is not UTF-8 (the decoder only knows its offset in a buffer)."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                return DataError(f"cannot read {path} as CSV: not UTF-8 text "
                                 f"(byte {e.object[e.start]:#04x} on line {number})")
    return DataError(f"cannot read {path} as CSV: not UTF-8 text")


def _field_count_error(path: Path, line: int, row: list[str], width: int, trailing: bool) -> DataError:
    if trailing:
        expected = f"the rows above have {width + 1}, the header's {width} and a trailing comma"
        hint = MIXED_HINT if len(row) == width else COMMA_HINT if len(row) > width else SHORT_HINT
    else:
        expected = f"the header has {width}"
        hint = COMMA_HINT if len(row) > width else SHORT_HINT
    fields = f"{len(row)} field" + ("s" if len(row) != 1 else "")
    return DataError(f"{path} line {line}: {fields}, {expected} ({hint})")


def _pick(frame: pd.DataFrame, names: tuple[str, ...], what: str, path) -> str:
    for name in names:
        if name in frame.columns:
            return name
    found = ", ".join(repr(c) for c in frame.columns)
    wanted = " or ".join(repr(n.title()) for n in names)
    raise DataError(f"{path}: no {what} column (expected {wanted}; found {found})")


def _parse_dates(raw: pd.Series, column: str, path, today: date, earliest) -> tuple[pd.DatetimeIndex, bool]:
    """The dates of a column as tz-naive UTC timestamps, and whether the rows are intraday."""
    text = raw.str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and not text.str.fullmatch(r"(19|20)\d{6}").all():
        # Unix seconds, as in the Kaggle Bitstamp minute data; milli- or microseconds as some
        # exchanges write them (1e11 seconds is the year 5138). 20210101 is a date, not seconds.
        top = numeric.abs().max()
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us"
        parsed = pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
        _refuse_unparsed(parsed, raw, column, path)
        index = pd.DatetimeIndex(parsed).tz_convert(None)
        intraday = bool((index != index.normalize()).any()) or (
            column == "timestamp" and index.normalize().duplicated().any()
        )
        return index, intraday
    fmt, wall = _date_format(text, raw, column, path, today, earliest)
    if not _intraday(wall):
        # One row per day: the day is the date as written, whatever the time and offset after it,
        # as Yahoo labels a bar by its exchange's date (2024-01-02T00:00:00+09:00 is 2024-01-02).
        return pd.DatetimeIndex(wall.dt.normalize()), False
    if fmt == "ISO8601":  # several rows a day: their UTC day, as for unix seconds
        instants = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
        _refuse_unparsed(instants, raw, column, path)
        return pd.DatetimeIndex(instants).tz_convert(None), True
    return pd.DatetimeIndex(wall), True


def _intraday(wall: pd.Series) -> bool:
    """Several rows on a date, with times of day (repeated dates alone are duplicates)."""
    return bool(wall.dt.normalize().duplicated().any() and (wall != wall.dt.normalize()).any())


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
    if days.duplicated().any() and not _intraday(wall):
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
        f"{_when(wall1.iloc[i])} ({how1}) or {_when(wall2.iloc[i])} ({how2}); write dates as YYYY-MM-DD"
    )


def _refuse_unparsed(parsed: pd.Series, raw: pd.Series, column: str, path) -> None:
    bad = parsed.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{path}: unparseable date {raw.iloc[i]!r} in column {column!r} (data row {i + 1})"
        )


def _when(ts: pd.Timestamp) -> str:
    """The day, with the time only where there is one (intraday rows)."""
    return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else f"{ts:%Y-%m-%d %H:%M}"


def _parse_closes(raw: pd.Series, index: pd.DatetimeIndex, path) -> pd.Series:
    text = raw.str.strip()
    values = pd.to_numeric(text, errors="coerce")
    # A quoted 87,508.83 (a spreadsheet's formatted number) is 87508.83; other commas are no number.
    failed = text[values.isna()]
    grouped = failed[failed.str.fullmatch(THOUSANDS, na=False)]
    values[grouped.index] = pd.to_numeric(grouped.str.replace(",", "", regex=False))
    values = values.where(np.isfinite(values))  # "inf" is no price either
    missing = raw.isna() | text.isin(["", "nan", "NaN", "null", "None"])
    nonnumeric = values.isna() & ~missing
    if nonnumeric.any():
        i = int(np.argmax(nonnumeric.to_numpy()))
        raise DataError(
            f"{path}: non-numeric close {raw.iloc[i]!r} on {_when(index[i])}"
        )
    return pd.Series(values.to_numpy(dtype="float64"), index=index, name="close")


def _daily(close: pd.Series, path, intraday: bool, today: date, earliest) -> pd.Series:
    """Checks a close series and puts it on a daily UTC calendar (gaps still NaN)."""
    rows = np.arange(1, len(close) + 1)  # data rows, to name them in messages
    if intraday:
        # Minutes without trades are normal in intraday files; the day's close is its last trade.
        traded = close.notna().to_numpy()
        close, rows = close[traded], rows[traded]
        order = np.argsort(close.index.to_numpy(), kind="stable")
        _check_dates(close.index[order], path, today, rows[order], earliest)
        close = close.iloc[order].resample("1D").last()
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
        order = np.argsort(close.index.to_numpy(), kind="stable")
        close = close.iloc[order]
        _check_dates(close.index, path, today, rows[order], earliest)
    bad = close <= 0
    if bad.any():
        day = close.index[bad.to_numpy()][0]
        raise DataError(f"{path}: close must be positive, got {close[day]:g} on {day:%Y-%m-%d}")
    close.index.name = "date"
    return close


def _check_dates(index: pd.DatetimeIndex, path, today: date, rows, earliest) -> None:
    check_span(index, str(path), today, rows, earliest)
    check_gaps(index, str(path), rows)


def parse_price_frame(frame: pd.DataFrame, path, *, today: date | None = None,
                      earliest: date | None = GENESIS) -> pd.Series:
    """Raw CSV frame -> daily close Series (gaps as NaN). Every problem is a one-line DataError.

    Dates must lie between `earliest` (None: any) and `today` (UTC, the default).
    """
    today = today or utc_today()
    date_col = _pick(frame, DATE_NAMES, "date", path)
    close_col = _pick(frame, CLOSE_NAMES, "close", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' notes on formats it tried; the checks here say more
        index, intraday = _parse_dates(frame[date_col].astype(str), date_col, path, today, earliest)
        close = _parse_closes(frame[close_col], index, path)
        return _daily(close, path, intraday, today, earliest)


def load_csv(path, start=None, end=None, min_rows: int = 1, *,
             today: Callable[[], date] | None = None) -> Prices:
    """A price file, validated; `today` (UTC by default) bounds its dates."""
    path = Path(path)
    now = (today or utc_today)()
    close = parse_price_frame(read_csv_frame(path), path, today=now)
    return finish(close, str(path), start, end, min_rows)
