"""Daily closes in: from Yahoo Finance (with a local cache) or a user's CSV, validated.

Whatever the source, the result is one float64 Series of daily closes on a tz-naive UTC
calendar index with no missing days: Bitcoin trades every day, so a missing day is a gap,
reported and filled with the previous close so that no window silently spans it.
Reading files is `csv_source`'s job, downloading and caching `yahoo_source`'s, choosing between
them `sources`'; this module holds what both return and the checks they share.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, TooLittleData

log = logging.getLogger(__name__)

GENESIS = date(2009, 1, 3)  # Bitcoin's first block: an older date in a price file is a typo
MAX_GAP_DAYS = 30           # longer runs of missing days are a typo or the wrong file, never filled
COLUMNS = ("open", "high", "low", "volume")  # what a price file may hold beside the close, for --inputs
# The columns each input reads beside the close (config.INPUTS).
INPUT_COLUMNS = {"close": (), "open": ("open",), "high": ("high",), "low": ("low",), "range": ("high", "low"),
                 "volume": ("volume",)}
# What can be a price (open, high, low, close; USD) or a day's volume. BTC has traded between about
# 0.05 and 1.3e5 USD, the cheapest tokens at fractions of a cent. A price above 1e12 USD or below
# 1e-12 USD is a misread or a typo: between the two, every ratio of two prices and every squared
# error stays far inside float64, where 1.7e308 squared is inf and errors on closes of 1e-200 USD
# square to 0 (train then says naive's error "is 0"). A volume above 1e20 (coins or USD a day;
# Yahoo's BTC-USD peaked at 3.5e11 USD) is no trading either; any positive volume below is fine
# (its input is a log, windows.FEATURES).
MIN_PRICE, MAX_PRICE = 1e-12, 1e12
MAX_VOLUME = 1e20
TOLERANCE = 1e-9  # a high below the close by less than this (relative) is rounding, not a misread


@dataclass(frozen=True)
class Prices:
    close: pd.Series                          # float64 closes in USD, daily, ascending, no gaps
    source: str                               # "Yahoo Finance BTC-USD", the CSV path, or "embedded snapshot ..."
    gaps: tuple[tuple[date, date], ...] = ()  # runs of missing days, filled with the previous close
    cache: Path | None = None                 # the Yahoo cache file, when its prices were used
    # open, high, low, volume on the close's days, the ones the source has and that passed their checks
    table: pd.DataFrame | None = None
    missing: tuple[tuple[str, str], ...] = ()  # (column, why the source cannot give it), for the others

    @property
    def filled_days(self) -> int:
        return gap_days(self.gaps)

    def sha256(self, inputs: tuple[str, ...] = ("close",)) -> str:
        """Fingerprint of the exact series a model was trained on: dates and closes, and the other
        columns its inputs read (none for close alone, so that fingerprint is what it always was)."""
        h = hashlib.sha256()
        h.update(self.close.index.strftime("%Y-%m-%d").str.cat(sep=",").encode())
        h.update(np.ascontiguousarray(self.close.to_numpy(dtype="float64")).tobytes())
        for column in columns_for(inputs):
            h.update(column.encode())
            h.update(np.ascontiguousarray(self.table[column].to_numpy(dtype="float64")).tobytes())
        return h.hexdigest()

    def why_not(self, column: str) -> str | None:
        """Why the source cannot give `column`; None when it can."""
        if self.table is not None and column in self.table.columns:
            return None
        return dict(self.missing).get(column, f"no {column!r} column")

    def supported_inputs(self) -> tuple[str, ...]:
        return tuple(name for name, columns in INPUT_COLUMNS.items() if all(self.why_not(c) is None for c in columns))

    def require(self, inputs: tuple[str, ...]) -> None:
        """DataError naming the first input the source cannot give, and why."""
        for name in inputs:
            for column in INPUT_COLUMNS[name]:
                reason = self.why_not(column)
                if reason is not None:
                    raise DataError(f"{self.source} cannot give the input {name!r}: {reason}; "
                                    f"it supports {','.join(self.supported_inputs())}")

    def columns(self, inputs: tuple[str, ...]) -> pd.DataFrame | None:
        """The columns `inputs` read beside the close (None for close alone), after `require`."""
        needed = columns_for(inputs)
        if not needed:
            return None
        self.require(inputs)
        return self.table.loc[:, list(needed)]

    def unsupported(self) -> dict[str, str]:
        """Each input the source cannot give -> why (its first missing column's reason)."""
        found = {name: [self.why_not(c) for c in columns] for name, columns in INPUT_COLUMNS.items()}
        return {name: next(why for why in reasons if why is not None)
                for name, reasons in found.items() if any(reasons)}

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
        lines.append(f"inputs:     {','.join(self.supported_inputs())} (--inputs)")
        lines += [f"  not {name}: {why}" for name, why in self.unsupported().items()]
        return "\n".join(lines)


def columns_for(inputs) -> tuple[str, ...]:
    """The columns beside the close that `inputs` read, in COLUMNS order."""
    wanted = {c for name in inputs for c in INPUT_COLUMNS[name]}
    return tuple(c for c in COLUMNS if c in wanted)


def gap_days(gaps) -> int:
    """Missing days in runs of (first, last) dates, both ends included."""
    return sum((b - a).days + 1 for a, b in gaps)


def describe_gaps(gaps) -> str:
    if not gaps:
        return "none"
    runs = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in gaps[:5])
    more = f" and {len(gaps) - 5} more runs" if len(gaps) > 5 else ""
    return f"{gap_days(gaps)} missing days filled with the previous close ({runs}{more})"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _at(rows, i: int) -> str:
    """" (data row 5)" where the rows of a file are known."""
    return "" if rows is None else f" (data row {rows[i]})"


def check_span(days: pd.DatetimeIndex, source: str, today: date, rows=None, earliest: date | None = GENESIS) -> None:
    """Refuses a date after today (UTC) or before `earliest`: a typo in a year, or a misread file.

    `days` is ascending (repeats allowed, as in intraday files); `rows` their data rows, if any.
    """
    if len(days) == 0:
        return
    if earliest is not None and days[0].date() < earliest:
        raise DataError(
            f"{source}: date {days[0]:%Y-%m-%d}{_at(rows, 0)} is before {earliest}, "
            "when Bitcoin began (a typo in the year?)"
        )
    if days[-1].date() > today:
        raise DataError(
            f"{source}: date {days[-1]:%Y-%m-%d}{_at(rows, -1)} is after today, {today} (UTC) "
            "(a typo in the year?)"
        )


def check_gaps(days: pd.DatetimeIndex, source: str, rows=None) -> None:
    """Refuses more than MAX_GAP_DAYS missing days in a row: filling them would invent prices."""
    if len(days) < 2:
        return
    missing = np.diff(days.normalize().to_numpy()) // np.timedelta64(1, "D") - 1
    too_long = missing > MAX_GAP_DAYS
    if too_long.any():
        i = int(np.argmax(too_long))
        raise DataError(
            f"{source}: gap of {missing[i]:,} missing days between {days[i]:%Y-%m-%d}{_at(rows, i)} "
            f"and {days[i + 1]:%Y-%m-%d}{_at(rows, i + 1)}; at most {MAX_GAP_DAYS} in a row are filled "
            "(a typo in a date? else keep only the rows on one side of the gap)"
        )


def check_daily(days: pd.DatetimeIndex, source: str) -> None:
    """Refuses weekly or monthly prices. Their gaps are short enough to fill, but filling them would
    make up six of every seven days, or thirty of every thirty-one. Weekday-only prices (stocks)
    pass: their median spacing is one day. Fewer than a week of dates says too little to judge."""
    if len(days) < 8:
        return
    spacing = float(np.median(np.diff(days.normalize().to_numpy()) / np.timedelta64(1, "D")))
    if spacing > 1:
        raise DataError(
            f"{source}: not daily prices: consecutive dates are {spacing:g} days apart (median over "
            f"{len(days):,} dates; weekly or monthly data?); the forecasts need one close per day"
        )


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


def usable(column: str, values) -> np.ndarray:
    """Where `values` (NaN for none) can be the column's: positive, finite and within its bounds
    (MIN_PRICE..MAX_PRICE for the prices, at most MAX_VOLUME for the volume)."""
    v = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore"):  # NaN compares False: not usable
        if column == "volume":
            return (v > 0) & (v <= MAX_VOLUME)
        return (v >= MIN_PRICE) & (v <= MAX_PRICE)


def unusable(column: str, value: float, where: str, unit: str = "day", text: str = "") -> str:
    """Why `value` cannot be the column's on every `unit` ("day", "row"); `where` the day or row it is on;
    `text`, what the file wrote there, where that is known and read as no number ("abc")."""
    if pd.isna(value) or not np.isfinite(value) or value <= 0:
        got = (f"{text!r}" if text else "no value") if pd.isna(value) else f"{value:g}"
        return f"{column} must be a positive number on every {unit}, got {got} {where}"
    bound, why = _bound(column, value)
    return f"{column} must be {bound} on every {unit} {why}, got {value:g} {where}"


def _bound(column: str, value: float) -> tuple[str, str]:
    """The bound a positive `value` is beyond, and why: ("at most 1e+12 USD", "(no real price is larger)")."""
    if column == "volume":
        return f"at most {MAX_VOLUME:g}", "(no real volume is larger)"
    if value > MAX_PRICE:
        return f"at most {MAX_PRICE:g} USD", "(no real price is larger)"
    return f"at least {MIN_PRICE:g} USD", "(no real price is smaller)"


def check_close_bounds(close: pd.Series, source: str, where) -> None:
    """Refuses a positive close above MAX_PRICE or below MIN_PRICE (others are refused as not
    positive). `where(i)` names the i-th close's day or row: "on 2021-01-03 (data row 3)"."""
    v = close.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        out = (v > 0) & ~usable("close", v)
    if out.any():
        i = int(np.argmax(out))
        bound, why = _bound("close", v[i])
        raise DataError(f"{source}: close must be {bound} {why}, got {v[i]:g} {where(i)}")


def wrong_side(column: str, values, against) -> np.ndarray:
    """Where a high is below, or a low above, `against` (an open or close) by more than TOLERANCE."""
    values, against = np.asarray(values, dtype="float64"), np.asarray(against, dtype="float64")
    with np.errstate(invalid="ignore"):
        if column == "high":
            return values < against * (1 - TOLERANCE)
        return values > against * (1 + TOLERANCE)


def checked_table(close: pd.Series, raw: dict[str, pd.Series], missing: dict[str, str],
                  problems: dict[tuple[str, str], pd.Series] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The other columns of a price source, each a float Series on the close's days (NaN where the
    close is), kept only where every value is usable: a price positive, finite and within
    MIN_PRICE..MAX_PRICE, a volume positive (its log is the input) and at most MAX_VOLUME, high at or
    above and low at or below the day's open and close. A column that fails is left out with the
    reason, so that it breaks no run reading the close alone, and a run that asks for it is refused
    with that reason instead of reading it wrongly. Only the close's traded days count: finish passes
    the days read (--start, --end), so a bad value outside them removes nothing.

    `problems` holds what the rows behind a day got wrong where a day is made of rows (intraday
    files, csv_source): for (column, "value"), (column, "open") and (column, "close") a Series of the
    reason of each day's first bad row, on the days that have one. A day's rows are named before the
    day's own values, which they make up."""
    missing = dict(missing)
    problems = problems or {}
    kept = {}
    traded = close.notna().to_numpy()
    read = close.index[traded]

    def first(bad: np.ndarray, reason, check: tuple[str, str]) -> str | None:
        """The first read day's reason: its rows' (`problems[check]`) or its own (reason(day))."""
        rows = problems.get(check)
        rows = rows[rows.index.isin(read)] if rows is not None else None
        days = close.index[traded & bad]
        if rows is not None and len(rows) and (not len(days) or rows.index[0] <= days[0]):
            return rows.iloc[0]
        return reason(days[0]) if len(days) else None

    for column in COLUMNS:
        if column not in raw:
            missing.setdefault(column, f"no {column!r} column")
            continue
        values = raw[column].reindex(close.index)
        why = first(~usable(column, values), lambda day: unusable(column, values[day], f"on {day:%Y-%m-%d}"),
                    (column, "value"))
        if why is not None:
            missing[column] = why
            continue
        kept[column] = values.astype("float64")
    for column in ("high", "low"):
        for other in ("open", "close"):
            if column not in kept or (other == "open" and "open" not in kept):
                continue
            against = close if other == "close" else kept["open"]
            side = "below" if column == "high" else "above"
            why = first(wrong_side(column, kept[column], against),
                        lambda day: (f"{column} {kept[column][day]:g} is {side} the {other} {against[day]:g} on "
                                     f"{day:%Y-%m-%d} (columns swapped or misread?)"), (column, other))
            if why is not None:
                missing[column] = why
                del kept[column]
                break
    table = pd.DataFrame(kept, index=close.index, columns=[c for c in COLUMNS if c in kept])
    return table, {c: why for c, why in missing.items() if c not in kept}


def finish(close: pd.Series, source: str, start, end, min_rows: int, cache=None,
           raw: dict[str, pd.Series] | None = None, missing: dict[str, str] | None = None,
           problems: dict[tuple[str, str], pd.Series] | None = None) -> Prices:
    """Slices to [start, end], fills short gaps and checks there is enough data. `raw` (the other
    columns as read, numbers per day) is checked on the days read (checked_table, with `missing` and
    `problems`), then filled alike: a filled day is flat (open, high and low at the previous close)
    and keeps the previous day's volume."""
    # Files were checked with their row numbers as they were read; this guards any other series.
    present = close.index[close.notna().to_numpy()]
    check_gaps(present, source)
    check_daily(present, source)
    close = close.loc[pd.Timestamp(start) if start else None:pd.Timestamp(end) if end else None]
    close = close.loc[close.first_valid_index():close.last_valid_index()] if close.notna().any() else close.iloc[:0]
    if len(close) < min_rows:
        span = f" between {start or 'the start'} and {end or 'the end'}" if (start or end) else ""
        raise TooLittleData(
            f"too little data: {len(close)} daily closes{span} from {source}, "
            f"need at least {min_rows}"
        )
    table = None
    if raw is not None:  # the days read only: a bad value before --start or after --end removes nothing
        table, missing = checked_table(close, raw, missing or {}, problems)
    close, gaps = fill_gaps(close)
    if gaps:
        log.warning("gaps: %s", describe_gaps(gaps))
    if table is not None:
        table = table.reindex(close.index)
        for column in ("open", "high", "low"):
            if column in table:
                table[column] = table[column].fillna(close)
        table = table.ffill()
    return Prices(close=close.astype("float64"), source=source, gaps=gaps, cache=cache, table=table,
                  missing=tuple(sorted((missing or {}).items(), key=lambda kv: COLUMNS.index(kv[0]))))
