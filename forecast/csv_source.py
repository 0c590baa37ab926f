"""Price files: the CSV layouts users have, read into a validated daily close series.

A file that cannot be read for certain is refused with a one-line DataError, never guessed at:
a row with more or fewer fields than the header, a date column that two formats read differently,
a close column that two separator conventions read differently (2,187), a daily file with a day
twice, a date before Bitcoin or after today, a long run of missing days.
"""

from __future__ import annotations

import csv
import gzip
import stat
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .prices import (
    COLUMNS,
    GENESIS,
    Prices,
    check_close_bounds,
    check_gaps,
    check_span,
    finish,
    unusable,
    usable,
    utc_today,
    wrong_side,
)
from .csv_dates import parse_dates, when
from .csv_numbers import plain_numbers
from .errors import DataError

DATE_NAMES = ("date", "datetime", "timestamp", "time")
CLOSE_NAMES = ("close", "adj close")
# The other columns (prices.COLUMNS) by the names files give them; Bitstamp's minute data has "Volume_(BTC)".
COLUMN_NAMES = {"open": ("open",), "high": ("high",), "low": ("low",), "volume": ("volume", "volume (btc)")}

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 512  # enough of a file's start to tell its encoding
SPECIAL_FILES = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                 (stat.S_ISSOCK, "socket"))

COMMA_HINT = ("a comma inside a value, such as 87,508.83 or Sep 17, 2014? write plain numbers "
              "and YYYY-MM-DD dates, or quote such values")
MISSING_TEXT = ("", "nan", "NaN", "null", "None")  # a field holding no number (astype(str) of an empty one is "nan")
SHORT_HINT = "a cut-off row? every row needs a field for each column, even an empty one"
MIXED_HINT = "a trailing comma on some rows only? end every row alike"


def _normalise(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").split())


def read_csv_frame(path: Path) -> pd.DataFrame:
    """Reads any of the layouts users have into a frame with normalised column names.

    Layouts: one header row (classic Yahoo, Kaggle), or the three header rows
    (Price / Ticker / Date) that `yf.download(...).to_csv()` writes since yfinance 0.2.51.
    UTF-8 or UTF-16 text (with its byte order mark), plain or gzip-compressed.
    """
    path = Path(path)
    _check_regular_file(path)
    if path.stat().st_size == 0:
        raise DataError(f"empty file: {path}")
    text = _sniff(path)
    try:
        return _read_frame(path, text)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a cut-off or damaged .gz
        if not text.gzip:
            raise
        raise DataError(f"cannot read {path}: damaged gzip data ({str(e).rstrip('.')})") from None


@dataclass(frozen=True)
class _Text:
    """How a price file's bytes become text."""
    gzip: bool = False
    encoding: str = "utf-8-sig"  # a UTF-8 byte order mark is skipped


def _check_regular_file(path: Path) -> None:
    """A folder, FIFO or device is no price file; opening a FIFO would wait forever for a writer."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"no such file: {path}") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path} is a directory, not a price file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in SPECIAL_FILES if test(mode)), "special file")
        raise DataError(f"{path} is not a regular file (a {kind}); pass a price file saved on disk")


def _sniff(path: Path) -> _Text:
    """gzip by its magic bytes (whatever the file's name), UTF-16 by its byte order mark. UTF-16
    without one is refused: its NUL bytes are valid UTF-8, so it would read as garbled columns."""
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            start = f.read(SNIFF_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read {path}: damaged gzip data ({str(e).rstrip('.')})") from None
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _Text(compressed, "utf-16")
    even, odd = start[0::2][: len(start) // 2], start[1::2]
    for endian, high, low in (("little", odd, even), ("big", even, odd)):
        if len(high) >= 4 and not any(high) and all(low):  # ASCII text, two bytes a character
            raise DataError(f"cannot read {path} as CSV: UTF-16 text ({endian}-endian) without a byte order "
                            "mark; save it as UTF-8")
    return _Text(compressed)


def _open(path: Path, text: _Text):
    if text.gzip:
        return gzip.open(path, "rt", newline="", encoding=text.encoding)
    return open(path, newline="", encoding=text.encoding)


def _read_frame(path: Path, text: _Text) -> pd.DataFrame:
    try:
        with _open(path, text) as f:
            head = [row for _, (_, row) in zip(range(3), _records(f, path))]
    except UnicodeDecodeError as e:  # a spreadsheet, a zip, a latin-1 export
        raise _not_text(path, text, e, head=True) from None
    if not head or not any(cell.strip() for cell in head[0]):
        raise DataError(f"empty file: {path}")
    multiheader = (
        len(head) == 3
        and _normalise(head[0][0]) == "price"
        and [_normalise(c) for c in head[1][:1]] == ["ticker"]
    )
    if multiheader:
        _check_one_ticker(path, head[1][1:])
    header = head[0][:-1] if len(head[0]) > 1 and not head[0][-1].strip() else head[0]
    check_field_counts(path, len(header), skip=3 if multiheader else 1, text=text)
    options = dict(dtype=str, encoding=text.encoding, compression="gzip" if text.gzip else None,
                   index_col=False)
    try:
        with warnings.catch_warnings():
            # pandas' ParserWarning for the trailing commas found good above; no library notes on stderr.
            warnings.simplefilter("ignore")
            # index_col=False: a trailing comma on each row must not turn the dates into an index.
            if multiheader:
                names = ["date"] + [_normalise(c) for c in header[1:]]
                frame = pd.read_csv(path, header=None, skiprows=3, names=names, **options)
            else:
                frame = pd.read_csv(path, **options)
                frame.columns = [_normalise(c) for c in frame.columns]
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"cannot read {path} as CSV: {str(e).splitlines()[0]}") from None
    if frame.empty:
        raise DataError(f"no data rows in {path}")
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise DataError(f"{path}: columns named alike (case and spaces ignored): {', '.join(map(repr, repeated))}")
    return frame


def _check_one_ticker(path: Path, tickers: list[str]) -> None:
    """`yf.download(["BTC-USD", "ETH-USD"]).to_csv()` puts each ticker's prices side by side."""
    names = list(dict.fromkeys(t.strip() for t in tickers if t.strip()))
    if len(names) > 1:
        raise DataError(f"{path} holds the prices of {len(names)} tickers ({', '.join(names)}); save one "
                        f"ticker per file, e.g. yf.download({names[0]!r}).to_csv('{names[0]}.csv')")


def _records(f, path: Path):
    """(line, fields) of each CSV record, the line where it ends; a CSV error names the line of the
    record it is in: an unclosed quote makes the rest of the file one ever longer field."""
    reader = csv.reader(f)
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise DataError(f"{path} line {first}: a quote (\") opens a field that never ends, so the rest of "
                                "the file would be one field (a stray quote? quote whole values only)") from None
            raise DataError(f"{path} line {first}: cannot read as CSV ({e})") from None
        yield reader.line_num, row


def check_field_counts(path: Path, width: int, skip: int = 1, text: _Text = _Text()) -> None:
    """Every data row must have the header's `width` fields, or every one a single empty field more
    (a trailing comma, as some exports write). pandas pads a short row and, with index_col=False,
    drops what a long one has too many: an unquoted 87,508.83 would become a close of 87.
    """
    try:
        with _open(path, text) as f:
            records = _records(f, path)
            for _ in range(skip):
                next(records, None)
            trailing = None  # decided by the first data row
            for line, row in records:
                if not row:  # a blank line, which pandas skips too
                    continue
                if trailing is None:
                    trailing = len(row) == width + 1 and not row[-1]
                if len(row) != width + trailing or (trailing and row[-1]):
                    raise _field_count_error(path, line, row, width, trailing)
    except UnicodeDecodeError as e:
        raise _not_text(path, text, e) from None


def _not_text(path: Path, text: _Text, e: UnicodeDecodeError, head: bool = False) -> DataError:
    if text.encoding != "utf-8-sig" or text.gzip:  # offsets in decoded buffers name no place in the file
        inside = " inside the gzip data" if text.gzip else ""
        return DataError(f"cannot read {path} as CSV: not {'UTF-8' if text.encoding == 'utf-8-sig' else 'UTF-16'} "
                         f"text{inside} ({e.reason})")
    if head:  # the first buffer holds the start of the file: its offset is the file's
        return DataError(
            f"cannot read {path} as CSV: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
        )
    return _not_utf8(path)


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


def _at_row(ts: pd.Timestamp, row: int) -> str:
    """An intraday row in messages: its UTC time (seconds where it has them) and data row."""
    return f"at {ts:%Y-%m-%d %H:%M}{f':{ts:%S}' if ts.second else ''} (data row {row})"


def _parse_closes(raw: pd.Series, index: pd.DatetimeIndex, column: str, path) -> pd.Series:
    text = raw.str.strip()
    values = pd.to_numeric(plain_numbers(text, column, path), errors="coerce")
    values = values.where(np.isfinite(values))  # "inf" is no price either
    missing = raw.isna() | text.isin(MISSING_TEXT)
    nonnumeric = values.isna() & ~missing
    if nonnumeric.any():
        i = int(np.argmax(nonnumeric.to_numpy()))
        raise DataError(
            f"{path}: non-numeric close {raw.iloc[i]!r} on {when(index[i])}"
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
        close, rows = close.iloc[order], rows[order]
        # Every traded row's close, not only each day's last: the same rows give the high and low.
        bad = (close <= 0).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{path}: close must be positive, got {close.iloc[i]:g} {_at_row(close.index[i], rows[i])}")
        check_close_bounds(close, str(path), lambda i: _at_row(close.index[i], rows[i]))
        close = close.resample("1D").last()
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
        check_close_bounds(close, str(path), lambda i: f"on {close.index[i]:%Y-%m-%d} (data row {rows[order][i]})")
    close.index.name = "date"
    return close


def _check_one_row_a_day(days: pd.DatetimeIndex, dates: pd.Series, closes: pd.Series, path) -> None:
    """Two rows of a daily file on one day at different times (00:00 and 12:00) are no intraday prices:
    taking either close would be a guess. Repeats of one date as written are listed by _daily."""
    for j in np.flatnonzero(days.duplicated()):
        i = int(np.argmax(days == days[j]))
        if str(dates.iloc[i]).strip() != str(dates.iloc[j]).strip():
            raise DataError(
                f"{path}: daily prices with two rows for {days[j]:%Y-%m-%d}: data row {i + 1} "
                f"({str(dates.iloc[i]).strip()}, close {str(closes.iloc[i]).strip()}) and data row {j + 1} "
                f"({str(dates.iloc[j]).strip()}, close {str(closes.iloc[j]).strip()}); keep one row per day"
            )


def _check_dates(index: pd.DatetimeIndex, path, today: date, rows, earliest) -> None:
    check_span(index, str(path), today, rows, earliest)
    check_gaps(index, str(path), rows)


@dataclass(frozen=True)
class PriceColumns:
    """A price file's daily closes (gaps as NaN) and its other columns per day, as read: prices.finish
    checks them (checked_table) on the days a run reads."""
    close: pd.Series
    raw: dict[str, pd.Series]  # open, high, low, volume: the ones the file has, as numbers per day (NaN: none)
    # Intraday files: what each day's rows got wrong, (column, check) -> reason (prices.checked_table).
    problems: dict[tuple[str, str], pd.Series] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # the others: column -> why not


def parse_price_frame(frame: pd.DataFrame, path, *, today: date | None = None,
                      earliest: date | None = GENESIS) -> pd.Series:
    """Raw CSV frame -> daily close Series (gaps as NaN). Every problem is a one-line DataError.

    Dates must lie between `earliest` (None: any) and `today` (UTC, the default).
    """
    return parse_price_columns(frame, path, today=today, earliest=earliest, others=False).close


def parse_price_columns(frame: pd.DataFrame, path, *, today: date | None = None,
                        earliest: date | None = GENESIS, others: bool = True) -> PriceColumns:
    """parse_price_frame, with the open, high, low and volume columns read too (`others`). A problem
    with the dates or closes is a DataError; one with another column only leaves that column out,
    with its reason (prices.checked_table, run by prices.finish on the days read), so that a file
    stays usable for the close alone."""
    today = today or utc_today()
    date_col = _pick(frame, DATE_NAMES, "date", path)
    close_col = _pick(frame, CLOSE_NAMES, "close", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' notes on formats it tried; the checks here say more
        index, intraday = parse_dates(frame[date_col].astype(str), date_col, path, today, earliest)
        close = _parse_closes(frame[close_col], index, close_col, path)
        if not intraday:
            _check_one_row_a_day(index, frame[date_col], frame[close_col], path)
        daily = _daily(close, path, intraday, today, earliest)
        if not others:
            return PriceColumns(daily, {})
        return _other_columns(frame, close, daily, intraday, path)


def _other_columns(frame: pd.DataFrame, close: pd.Series, daily: pd.Series, intraday: bool, path) -> PriceColumns:
    """Each other column as numbers per day: a daily file's as written, an intraday file's over its
    traded rows (the day's first open, highest high, lowest low, summed volume). An intraday file's
    rows are checked as a daily file's days are, before they are summed up: a row's volume of -5 or
    high below its low must not vanish into its day's (`problems`, prices.checked_table)."""
    raw, missing, written = {}, {}, {}
    for column in COLUMNS:
        name = next((n for n in COLUMN_NAMES[column] if n in frame.columns), None)
        if name is None:
            missing[column] = f"no {column.title()!r} column"
            continue
        text = frame[name].astype(str).str.strip()
        try:
            values = pd.to_numeric(plain_numbers(text, name, path), errors="coerce")
        except DataError as e:
            missing[column] = str(e).removeprefix(f"{path}: ")
            continue
        raw[column] = pd.Series(values.to_numpy(dtype="float64"), index=close.index)
        written[column] = text.where(~(text.isna() | text.isin(MISSING_TEXT)), "").to_numpy(dtype=object)  # for messages
    if not intraday:
        return PriceColumns(daily, raw, missing=missing)
    return PriceColumns(daily, *_intraday_days(raw, close, written), missing=missing)


AGGREGATES = {"open": "first", "high": "max", "low": "min", "volume": "sum"}  # an intraday day from its rows


def _intraday_days(raw: dict[str, pd.Series], close: pd.Series, written: dict[str, np.ndarray]):
    """An intraday file's other columns per day over its traded rows, and what those rows got wrong:
    each checked as a daily file's day is (prices.checked_table), by (column, check) the reason of each
    day's first bad row."""
    # The traded rows in time order, as _daily takes them: their positions in the file, and times.
    traded = np.flatnonzero(close.notna().to_numpy())
    traded = traded[np.argsort(close.index.to_numpy()[traded], kind="stable")]
    times = close.index[traded]
    values = {column: series.to_numpy()[traded] for column, series in raw.items()}
    problems = {}

    def note(check: tuple[str, str], bad: np.ndarray, reason) -> None:
        first = np.flatnonzero(bad)
        first = first[~times[first].normalize().duplicated()]  # each day's first bad row
        if len(first):
            problems[check] = pd.Series([reason(j, _at_row(times[j], traded[j] + 1)) for j in first],
                                        index=times[first].normalize())

    for column, v in values.items():
        text = written[column][traded]
        note((column, "value"), ~usable(column, v), lambda j, at: unusable(column, v[j], at, "row", text[j]))
    closes = close.to_numpy()[traded]
    for column, side in (("high", "below"), ("low", "above")):
        for other in ("open", "close"):
            if column in values and (other == "close" or other in values):
                v, against = values[column], closes if other == "close" else values["open"]
                note((column, other), wrong_side(column, v, against), lambda j, at: (
                    f"{column} {v[j]:g} is {side} the {other} {against[j]:g} {at}; columns swapped or misread?"))
    days = {}
    for column, v in values.items():
        resampled = pd.Series(v, index=times).resample("1D")
        days[column] = resampled.sum(min_count=1) if column == "volume" else getattr(resampled, AGGREGATES[column])()
    return days, problems


def load_csv(path, start=None, end=None, min_rows: int = 1, *,
             today: Callable[[], date] | None = None) -> Prices:
    """A price file, validated; `today` (UTC by default) bounds its dates."""
    path = Path(path)
    now = (today or utc_today)()
    parsed = parse_price_columns(read_csv_frame(path), path, today=now)
    return finish(parsed.close, str(path), start, end, min_rows, raw=parsed.raw, missing=parsed.missing,
                  problems=parsed.problems)
