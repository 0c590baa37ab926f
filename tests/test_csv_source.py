"""Files an adversarial user has: each is read right, or refused with one line; never misread.

Most are the real prices (`real_csv`: 4124 rows, 2014-09-17..2025-12-31, last close 87,508.83)
rewritten the way spreadsheets and exports write them; the checks are on the values that come
out, not only the exit code. "Today" is fixed at TODAY: no assertion depends on the real clock.
"""

import gzip
import json
import logging
import os
import signal
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import random_walk, write_yahoo_csv
from tests.test_sources import (  # noqa: F401  (forecast_logging is an autouse fixture)
    OHLCV_HEADER,
    assert_one_line_error,
    check_same_closes,
    forecast_logging,
    ohlcv_rows,
    run_cli,
    summary_lines,
    write,
)

from forecast import csv_source
from forecast.__main__ import main
from forecast.prices import finish
from forecast.csv_source import load_csv
from forecast.errors import DataError

TODAY = date(2026, 1, 15)
D = date.fromisoformat
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close"]
COMMA_HINT = ("a comma inside a value, such as 87,508.83 or Sep 17, 2014? write plain numbers "
              "and YYYY-MM-DD dates, or quote such values")
SHORT_HINT = "a cut-off row? every row needs a field for each column, even an empty one"
GAP_ADVICE = ("at most 30 in a row are filled (a typo in a date? else keep only the rows on one "
              "side of the gap)")


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(csv_source, "utc_today", lambda: TODAY)


def real_frame(real_csv: Path) -> pd.DataFrame:
    return pd.read_csv(real_csv, dtype=str)


def write_unquoted(path: Path, frame: pd.DataFrame) -> Path:
    """Fields joined with commas as they are, the way a careless export writes them."""
    lines = [",".join(frame.columns)] + [",".join(row) for row in frame.astype(str).to_numpy()]
    return write(path, "\n".join(lines) + "\n")


def with_dates(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    out = frame.copy()
    out["Date"] = pd.to_datetime(frame["Date"]).dt.strftime(fmt)
    return out


def assert_real_prices(prices, real_csv, last_close: float = 87508.828125) -> None:
    """All of the real file came out: rows, first and last date, last close and every close."""
    close = prices.close
    assert (len(close), f"{close.index[0]:%Y-%m-%d}", f"{close.index[-1]:%Y-%m-%d}") == (
        4124, "2014-09-17", "2025-12-31")
    assert close.iloc[-1] == last_close and prices.gaps == ()
    expected = pd.to_numeric(real_frame(real_csv)["Close"]).to_numpy()
    np.testing.assert_allclose(close.to_numpy(), expected, rtol=0, atol=0.006)  # cents


def expect_error(path: Path, message: str, capsys) -> None:
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == message and "\n" not in message
    assert_one_line_error(capsys, ["data", "--csv", path], message)


# --- ambiguous dates --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [
    "%d/%m/%y",    # LibreOffice en-GB: 17/09/14
    "%d.%m.%y",    # LibreOffice de-DE: 17.09.14
    "%m/%d/%y",    # Excel en-US: 09/17/14
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%Y%m%d",
    "%d-%b-%y",    # Excel: 17-Sep-14
    "%b %d, %Y",   # Sep 17, 2014, quoted since it holds a comma
    "%Y-%m-%dT00:00:00+09:00",  # Tokyo midnight: the day as written, not the UTC day before
    "%Y-%m-%d 00:00:00-05:00",  # New York midnight
])
def test_real_dates_in_any_notation_come_out_the_same(real_csv, tmp_path, fmt):
    path = tmp_path / "prices.csv"
    with_dates(real_frame(real_csv), fmt).to_csv(path, index=False)
    assert_real_prices(load_csv(path), real_csv)


def test_real_day_first_two_digit_years_through_the_cli(real_csv, tmp_path, capsys):
    path = tmp_path / "prices.csv"
    with_dates(real_frame(real_csv), "%d/%m/%y").to_csv(path, index=False)
    assert path.read_text().splitlines()[1].startswith("17/09/14,")
    code, out, err = run_cli(capsys, "data", "--csv", path)
    assert (code, err) == (0, "")
    lines = {k: v.strip() for k, v in summary_lines(out).items()}
    assert (lines["rows"], lines["first date"], lines["last date"], lines["last close"]) == (
        "4124", "2014-09-17", "2025-12-31", "87,508.83 USD")


def test_real_twelve_days_read_alike_day_or_month_first_are_refused(real_csv, tmp_path, capsys):
    # 2025-12-01..12 as 01/12/25..12/12/25: month first, they are the 12th of each month of 2025.
    frame = real_frame(real_csv)
    frame = with_dates(frame[frame["Date"].between("2025-12-01", "2025-12-12")], "%d/%m/%y")
    frame.to_csv(tmp_path / "prices.csv", index=False)
    expect_error(tmp_path / "prices.csv",
                 f"{tmp_path / 'prices.csv'}: ambiguous dates in column 'date': '01/12/25' (data row 1) "
                 "reads as 2025-12-01 (day first) or 2025-01-12 (month first); write dates as YYYY-MM-DD",
                 capsys)


@pytest.mark.parametrize("text, value, row, readings", [
    ("Date,Close\n01/02/2021,1\n", "01/02/2021", 1, "2021-02-01 (day first) or 2021-01-02 (month first)"),
    # Month first, these are the 1st of January, February and March: no more daily than day first.
    ("Date,Close\n01/01/21,1\n02/01/21,2\n03/01/21,3\n",
     "02/01/21", 2, "2021-01-02 (day first) or 2021-02-01 (month first)"),
    ("Date,Close\n03/01/2021 10:00,1\n03/01/2021 14:00,2\n04/01/2021 09:00,3\n",
     "03/01/2021 10:00", 1, "2021-01-03 10:00 (day first) or 2021-03-01 10:00 (month first)"),
])
def test_a_column_two_formats_read_differently_is_refused(tmp_path, capsys, text, value, row, readings):
    path = write(tmp_path / "prices.csv", text)
    expect_error(path, f"{path}: ambiguous dates in column 'date': {value!r} (data row {row}) reads as "
                       f"{readings}; write dates as YYYY-MM-DD", capsys)


@pytest.mark.parametrize("days, why", [
    (["01/01/26", "02/01/26", "05/01/26"], "month first, the later rows are in the future"),
    (["01/01/21", "02/01/21", "05/01/21"], "month first, Feb 1 to May 1 is a gap of 88 days"),
])
def test_the_one_plausible_reading_is_taken(tmp_path, days, why):
    path = write(tmp_path / "prices.csv", "Date,Close\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days, 1)))
    prices = load_csv(path)
    year = 2000 + int(days[0][-2:])
    assert list(prices.close.index) == list(pd.date_range(f"{year}-01-01", f"{year}-01-05"))
    assert prices.close.tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]
    assert prices.gaps == ((D(f"{year}-01-03"), D(f"{year}-01-04")),)


@pytest.mark.parametrize("text, bad, row", [
    ("Date,Close\n2024-03-09,1\n10/03/2024,2\n", "10/03/2024", 2),  # one format for the whole column
    ("Date,Close\n2024-03,1\n2024-04,2\n", "2024-03", 1),            # a month is not a day
    ("Date,Close\n17/09/14,1\n18/09/2014,2\n", "17/09/14", 1),   # each format reads one row
])
def test_a_column_no_one_format_reads_is_refused(tmp_path, capsys, text, bad, row):
    path = write(tmp_path / "prices.csv", text)
    expect_error(path, f"{path}: unparseable date {bad!r} in column 'date' (data row {row})", capsys)


# --- field counts: thousands separators, text dates, trailing commas -------------------------

def test_real_unquoted_thousands_separators_are_refused_not_truncated(real_csv, tmp_path, capsys):
    frame = real_frame(real_csv)
    frame[PRICE_COLUMNS] = frame[PRICE_COLUMNS].astype(float).map("{:,.2f}".format)
    path = write_unquoted(tmp_path / "prices.csv", frame)
    # The first price over 1,000 (a high of 1,003.08 on 2017-01-01) is on line 839.
    assert path.read_text().splitlines()[838].startswith("2017-01-01,963.66,1,003.08,")
    expect_error(path, f"{path} line 839: 8 fields, the header has 7 ({COMMA_HINT})", capsys)


def test_real_quoted_thousands_separators_are_read_as_numbers(real_csv, tmp_path):
    frame = real_frame(real_csv)
    frame[PRICE_COLUMNS] = frame[PRICE_COLUMNS].astype(float).map("{:,.2f}".format)
    frame.to_csv(tmp_path / "prices.csv", index=False)
    assert '"87,508.83"' in (tmp_path / "prices.csv").read_text().splitlines()[-1]
    assert_real_prices(load_csv(tmp_path / "prices.csv"), real_csv, last_close=87508.83)


@pytest.mark.parametrize("close, value", [("-1,234.50", "-1234.5"), ("-1,5", "-1.5")])
def test_a_quoted_negative_with_commas_is_read_then_refused(tmp_path, capsys, close, value):
    path = write(tmp_path / "prices.csv", f'Date,Close\n2021-01-01,"{close}"\n')
    expect_error(path, f"{path}: close must be positive, got {value} on 2021-01-01", capsys)


# --- decimal commas: the separators are decided for the whole close column ----------------------

def closes_file(path: Path, closes: list[str]) -> Path:
    """A daily file from 2021-01-01 with these closes, each quoted as a spreadsheet quotes them."""
    days = pd.date_range("2021-01-01", periods=len(closes))
    return write(path, "Date,Close\n" + "".join(f'{d:%Y-%m-%d},"{c}"\n' for d, c in zip(days, closes)))


@pytest.mark.parametrize("closes, expected", [
    # A comma not followed by exactly three digits is a decimal comma: the column is European.
    (["434,334", "0,5"], [434.334, 0.5]),
    (["434,334", "12,3456"], [434.334, 12.3456]),
    (["1,23"], [1.23]),
    # Dots with a decimal comma are thousands separators.
    (["87.508,83"], [87508.83]),
    (["2,187", "1.002,5", "1.234.567"], [2.187, 1002.5, 1234567.0]),
    # A comma group with a decimal point after it is a thousands separator: so is every comma there.
    (["2,187", "1,234.56", "1,234,567"], [2187.0, 1234.56, 1234567.0]),
    (["434,334", "434.5", "1,000.25"], [434334.0, 434.5, 1000.25]),
    (["+2,5", "1,5"], [2.5, 1.5]),
])
def test_the_close_columns_separators_are_decided_from_all_its_values(tmp_path, closes, expected):
    path = closes_file(tmp_path / "prices.csv", closes)
    frame = csv_source.read_csv_frame(path)
    close = csv_source.parse_price_frame(frame, path, today=TODAY)
    assert close.tolist() == expected


def test_real_european_export_with_three_decimals_is_read_not_1000x(real_csv, tmp_path):
    """457,334 (the first close, 457.334 USD) alone would read either way; 87508,828 decides."""
    frame = real_frame(real_csv)
    frame[PRICE_COLUMNS] = frame[PRICE_COLUMNS].astype(float).map(lambda x: f"{x:.3f}".replace(".", ","))
    frame.to_csv(tmp_path / "prices.csv", index=False)
    assert (tmp_path / "prices.csv").read_text().splitlines()[1].startswith('2014-09-17,"465,864","468,174",')
    prices = load_csv(tmp_path / "prices.csv")
    assert prices.close.iloc[0] == 457.334 and prices.close.iloc[-1] == 87508.828
    assert_real_prices(prices, real_csv, last_close=87508.828)


def test_real_european_export_with_dots_for_thousands_is_read(real_csv, tmp_path):
    frame = real_frame(real_csv)
    european = {ord(","): ".", ord("."): ","}
    frame[PRICE_COLUMNS] = frame[PRICE_COLUMNS].astype(float).map(lambda x: f"{x:,.2f}".translate(european))
    frame.to_csv(tmp_path / "prices.csv", index=False)
    assert '"87.508,83"' in (tmp_path / "prices.csv").read_text().splitlines()[-1]
    assert_real_prices(load_csv(tmp_path / "prices.csv"), real_csv, last_close=87508.83)


@pytest.mark.parametrize("closes, value, row, readings", [
    # XRP in a European export: 2.187 USD; nothing in the column tells it from 2187.
    (["2,187", "2,201", "1,998"], "2,187", 1, "2187 (thousands separator) or 2.187 (decimal comma)"),
    (["434,334", "1", "434.334"], "434,334", 1, "434334 (thousands separator) or 434.334 (decimal comma)"),
    (["7", "12,500"], "12,500", 2, "12500 (thousands separator) or 12.500 (decimal comma)"),
])
def test_a_close_column_two_separator_conventions_read_is_refused(tmp_path, capsys, closes, value, row, readings):
    path = closes_file(tmp_path / "prices.csv", closes)
    expect_error(path, f"{path}: ambiguous numbers in column 'close': {value!r} (data row {row}) reads as {readings}; "
                       "write plain numbers with a decimal point and no thousands separator", capsys)


@pytest.mark.parametrize("closes, first, second", [
    (["1,234.56", "0,5"],
     "'1,234.56' (data row 1) has a comma for thousands", "'0,5' (data row 2) a comma for decimals"),
    (["12,5", "1.234,56", "1,234,567"],
     "'1,234,567' (data row 3) has a comma for thousands", "'12,5' (data row 1) a comma for decimals"),
    (["0,5", "12.5"], "'12.5' (data row 2) has a decimal point", "'0,5' (data row 1) a decimal comma"),
    (["434,334", "0,5", "434.334"], "'434.334' (data row 3) has a decimal point", "'0,5' (data row 2) a decimal comma"),
])
def test_a_close_column_that_mixes_conventions_is_refused(tmp_path, capsys, closes, first, second):
    path = closes_file(tmp_path / "prices.csv", closes)
    expect_error(path, f"{path}: column 'close' mixes number formats: {first}, {second}; write plain numbers with a "
                       "decimal point and no thousands separator", capsys)


def test_adj_close_alone_with_decimal_commas_names_its_column(tmp_path, capsys):
    path = write(tmp_path / "prices.csv", 'Date,Adj Close\n2021-01-01,"2,187"\n')
    expect_error(path, f"{path}: ambiguous numbers in column 'adj close': '2,187' (data row 1) reads as 2187 "
                       "(thousands separator) or 2.187 (decimal comma); write plain numbers with a decimal point and "
                       "no thousands separator", capsys)


def test_real_unquoted_text_dates_are_refused(real_csv, tmp_path, capsys):
    path = write_unquoted(tmp_path / "prices.csv", with_dates(real_frame(real_csv), "%b %d, %Y"))
    assert path.read_text().splitlines()[1].startswith("Sep 17, 2014,")
    expect_error(path, f"{path} line 2: 8 fields, the header has 7 ({COMMA_HINT})", capsys)


@pytest.mark.parametrize("text, line, fields, width, hint", [
    ("Date,Open,Close\n2021-01-01,1,2\n2021-01-02,3\n", 3, "2 fields", 3, SHORT_HINT),
    ("Date,Close\n2021-01-01,1\n2021-01-02,87,508.83\n", 3, "3 fields", 2, COMMA_HINT),
    ("Date,Close\n2021-01-01,87,508,83\n", 2, "4 fields", 2, COMMA_HINT),  # pandas made this 87 too
    ("Date,Close\n2021-01-01,1\n   \n", 3, "1 field", 2, SHORT_HINT),
    ('Date,Close,Note\n2021-01-01,1,"a\nb"\n2021-01-02,2\n', 4, "2 fields", 3, SHORT_HINT),
    # a trailing comma on the header names no column: this row has a value too many
    ("Date,Close,\n2021-01-01,87,508.83\n", 2, "3 fields", 2, COMMA_HINT),
    # a trailing comma on this row alone: no telling it from a comma inside a value
    ("Date,Close\n2021-01-01,1\n2021-01-02,2,\n", 3, "3 fields", 2, COMMA_HINT),
])
def test_a_row_whose_field_count_differs_from_the_header_is_refused(tmp_path, capsys, text, line,
                                                                      fields, width, hint):
    path = write(tmp_path / "prices.csv", text)
    expect_error(path, f"{path} line {line}: {fields}, the header has {width} ({hint})", capsys)


@pytest.mark.parametrize("text, line, fields, hint", [
    ("Date,Close\n2021-01-01,1,\n2021-01-02,2\n", 3, "2 fields",
     "a trailing comma on some rows only? end every row alike"),
    ("Date,Close\n2021-01-01,1,\n2021-01-02,87,508.83,\n", 3, "4 fields", COMMA_HINT),
    ("Date,Close\n2021-01-01,1,\n2021-01-02,87,508.83\n", 3, "3 fields", COMMA_HINT),
])
def test_trailing_commas_on_some_rows_only_are_refused(tmp_path, capsys, text, line, fields, hint):
    path = write(tmp_path / "prices.csv", text)
    expect_error(path, f"{path} line {line}: {fields}, the rows above have 3, the header's 2 and a "
                       f"trailing comma ({hint})", capsys)


@pytest.mark.parametrize("header_too", [False, True])
def test_real_trailing_comma_on_every_row_is_read(real_csv, tmp_path, capsys, header_too):
    lines = real_csv.read_text().splitlines()
    lines = [lines[0] + ("," if header_too else "")] + [line + "," for line in lines[1:]]
    path = write(tmp_path / "prices.csv", "\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prices = load_csv(path)
    assert caught == []  # pandas' ParserWarning about the extra field is kept off stderr
    assert_real_prices(prices, real_csv)
    code, out, err = run_cli(capsys, "data", "--csv", path)
    assert (code, err) == (0, "") and summary_lines(out)["last close"].strip() == "87,508.83 USD"


def test_real_multiheader_with_a_trailing_comma_on_every_row_is_read(real_multiheader, tmp_path):
    lines = [line + "," for line in real_multiheader.read_text().splitlines()]
    path = write(tmp_path / "multi.csv", "\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        close = load_csv(path).close
    assert caught == []  # pandas' ParserWarning about the extra field is kept off stderr
    assert (len(close), f"{close.index[0]:%Y-%m-%d}", f"{close.index[-1]:%Y-%m-%d}", close.iloc[-1]) == (
        1652, "2021-06-24", "2025-12-31", 87508.828125)
    check_same_closes(load_csv(path), load_csv(real_multiheader).close)


def test_trailing_comma_on_the_header_only_is_read(tmp_path, walk):
    path = write_yahoo_csv(tmp_path / "prices.csv", walk)
    lines = path.read_text().splitlines()
    write(path, "\n".join([lines[0] + ","] + lines[1:]) + "\n")
    check_same_closes(load_csv(path), walk)


def test_real_multiheader_row_with_a_field_too_many(real_multiheader, tmp_path, capsys):
    lines = real_multiheader.read_text().splitlines()
    lines[100] = lines[100].replace(".", ",", 1)  # 2021-09-29's close: 41564.36... -> 41564,36...
    path = write(tmp_path / "multi.csv", "\n".join(lines) + "\n")
    expect_error(path, f"{path} line 101: 7 fields, the header has 6 ({COMMA_HINT})", capsys)


def test_a_byte_that_is_not_utf8_far_down_names_its_line(tmp_path, capsys):
    rows = "".join(f"{d:%Y-%m-%d},{i}\n" for i, d in enumerate(pd.date_range("2021-01-01", periods=900), 1))
    path = tmp_path / "prices.csv"
    path.write_bytes(("Date,Close,Note\n" + rows.replace("\n", ",\n")).encode()
                     + "2023-06-20,901,caf\u00e9\n".encode("latin-1"))
    expect_error(path, f"cannot read {path} as CSV: not UTF-8 text (byte 0xe9 on line 902)", capsys)


# --- calendar days: a daily file's dates are the days as written, as on the Yahoo path ---------

def test_daily_rows_at_local_midnight_keep_their_written_day(tmp_path):
    path = write(tmp_path / "p.csv", "Date,Close\n"
                 "2024-03-09 00:00:00-05:00,1\n"   # New York midnight, winter
                 "2024-03-10 00:00:00-04:00,2\n"   # summer time from this day on
                 "2024-03-11T00:00:00+09:00,3\n"   # mixed offsets, one per row
                 "2024-03-12T12:00:00Z,4\n")
    close = load_csv(path).close
    assert list(close.index) == list(pd.date_range("2024-03-09", "2024-03-12"))
    assert close.tolist() == [1.0, 2.0, 3.0, 4.0]


def seconds(when: str) -> int:
    return int(pd.Timestamp(when, tz="UTC").timestamp())


def with_a_second_row(rows: list[tuple[str, str]], i: int, date_text: str, close: str) -> str:
    """Date,Close text of `rows` with one more row after row `i` (0-based)."""
    rows = rows[: i + 1] + [(date_text, close)] + rows[i + 1:]
    return "Date,Close\n" + "".join(f"{d},{c}\n" for d, c in rows)


DAYS = pd.date_range("2023-12-25", periods=20)  # 2024-01-02 is the 9th


@pytest.mark.parametrize("written, extra", [
    (lambda d: f"{d:%Y-%m-%d} 00:00:00", "2024-01-02 12:00:00"),
    (lambda d: f"{d:%Y-%m-%d}T00:00:00Z", "2024-01-02T12:00:00Z"),
    (lambda d: str(seconds(f"{d:%Y-%m-%d}")), str(seconds("2024-01-02 12:00"))),  # unix seconds
    (lambda d: f"{d:%d/%m/%Y} 09:00", "02/01/2024 17:30"),
])
def test_a_daily_file_with_a_day_twice_at_two_times_is_refused_naming_both_rows(tmp_path, capsys, written, extra):
    """Rows a day apart, one day twice: no intraday file, so the later row must not silently win."""
    rows = [(written(d), f"{100 + i}") for i, d in enumerate(DAYS)]
    path = write(tmp_path / "p.csv", with_a_second_row(rows, 8, extra, "99.5"))
    expect_error(path, f"{path}: daily prices with two rows for 2024-01-02: data row 9 ({written(DAYS[8])}, close 108) "
                       f"and data row 10 ({extra}, close 99.5); keep one row per day", capsys)


def test_real_daily_file_with_a_time_and_one_day_twice_is_refused(real_csv, tmp_path, capsys):
    frame = real_frame(real_csv)
    frame["Date"] = frame["Date"] + " 00:00:00"
    row = (date(2020, 3, 12) - date(2014, 9, 17)).days  # 0-based: one row a day from 2014-09-17
    assert frame.loc[row, "Date"] == "2020-03-12 00:00:00" and frame.loc[row, "Close"] == "4970.788086"
    later = frame.loc[[row]].assign(Date="2020-03-12 23:00:00", Close="4800.5")
    pd.concat([frame.loc[:row], later, frame.loc[row + 1:]]).to_csv(tmp_path / "prices.csv", index=False)
    path = tmp_path / "prices.csv"
    expect_error(path, f"{path}: daily prices with two rows for 2020-03-12: data row {row + 1} (2020-03-12 00:00:00, "
                       f"close 4970.788086) and data row {row + 2} (2020-03-12 23:00:00, close 4800.5); keep one row "
                       "per day", capsys)


def test_daily_rows_at_noon_utc_are_their_days(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n" + "".join(
        f"{seconds(f'{d:%Y-%m-%d} 12:00')},{i}\n" for i, d in enumerate(DAYS, 1)))
    close = load_csv(path).close
    assert list(close.index) == list(DAYS) and close.tolist() == list(map(float, range(1, 21)))


@pytest.mark.parametrize("written", [
    lambda t: f"{t:%Y-%m-%d %H:%M:%S}",
    lambda t: str(seconds(f"{t}")),
])
def test_rows_twelve_hours_apart_are_intraday_each_days_close_its_last(tmp_path, written):
    """The other side of the rule: two rows every day (a median spacing of 12 hours) are intraday."""
    times = pd.date_range("2024-01-01", periods=20, freq="12h")  # 00:00 and 12:00 of ten days
    path = write(tmp_path / "p.csv", "Date,Close\n" + "".join(f"{written(t)},{i}\n" for i, t in enumerate(times, 1)))
    close = load_csv(path).close
    assert list(close.index) == list(pd.date_range("2024-01-01", periods=10))
    assert close.tolist() == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]  # the 12:00 rows


def test_hourly_rows_with_a_repeated_hour_keep_the_days_last_row(tmp_path):
    times = [f"{t:%Y-%m-%d %H:%M}" for t in pd.date_range("2024-01-01", periods=72, freq="h")]
    times.insert(47, times[46])  # 2024-01-02 22:00 twice; 23:00 is still that day's last row
    path = write(tmp_path / "p.csv", "Date,Close\n" + "".join(f"{t},{i}\n" for i, t in enumerate(times, 1)))
    assert load_csv(path).close.tolist() == [24.0, 49.0, 73.0]


def test_unix_nanoseconds_are_read(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n1609459200000000000,1\n1609545600000000000,2\n"
                                     "1609632000000000000,3\n")
    close = load_csv(path).close
    assert list(close.index) == list(pd.date_range("2021-01-01", "2021-01-03")) and close.tolist() == [1.0, 2.0, 3.0]


def test_unix_microseconds_are_still_read(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n1609459200000000,1\n1609545600000000,2\n")
    assert list(load_csv(path).close.index) == list(pd.date_range("2021-01-01", "2021-01-02"))


@pytest.mark.parametrize("first, day", [("41899", "2014-09-17"), ("44197.5", "2021-01-01")])
def test_excel_serial_day_numbers_are_named(tmp_path, capsys, first, day):
    start = float(first)
    path = write(tmp_path / "p.csv", "Date,Close\n" + "".join(f"{start + i:g},{i + 1}\n" for i in range(20)))
    assert path.read_text().splitlines()[1] == f"{first},1"
    expect_error(path, f"{path}: dates in column 'date' look like Excel serial day numbers ({first!r} would be {day}); "
                       "save dates as YYYY-MM-DD", capsys)


def test_unix_seconds_and_yyyymmdd_are_no_excel_serials(tmp_path):
    unix = write(tmp_path / "unix.csv", "Timestamp,Close\n1410912000,1\n1410998400,2\n")  # 2014-09-17 and 18
    compact = write(tmp_path / "compact.csv", "Date,Close\n20140917,1\n20140918,2\n")
    for path in (unix, compact):
        assert list(load_csv(path).close.index) == list(pd.date_range("2014-09-17", "2014-09-18"))


# --- plausible dates and gaps ------------------------------------------------------------------

def test_real_typo_year_in_the_future_is_refused(real_csv, tmp_path, capsys):
    frame = real_frame(real_csv)
    frame.loc[4, "Date"] = "2920-09-21"
    frame.to_csv(tmp_path / "prices.csv", index=False)
    expect_error(tmp_path / "prices.csv",
                 f"{tmp_path / 'prices.csv'}: date 2920-09-21 (data row 5) is after today, 2026-01-15 (UTC) "
                 "(a typo in the year?)", capsys)


def test_real_typo_year_before_bitcoin_is_refused(real_csv, tmp_path, capsys):
    frame = real_frame(real_csv)
    frame.loc[2000, "Date"] = "2004-03-09"  # 2020-03-09
    frame.to_csv(tmp_path / "prices.csv", index=False)
    expect_error(tmp_path / "prices.csv",
                 f"{tmp_path / 'prices.csv'}: date 2004-03-09 (data row 2001) is before 2009-01-03, "
                 "when Bitcoin began (a typo in the year?)", capsys)


def test_real_typo_year_leaving_a_long_gap_is_refused(real_csv, tmp_path, capsys):
    frame = real_frame(real_csv).iloc[::-1]  # newest first: the rows as the file has them
    frame.iloc[-1, 0] = "2013-09-17"
    frame.to_csv(tmp_path / "prices.csv", index=False)
    expect_error(tmp_path / "prices.csv",
                 f"{tmp_path / 'prices.csv'}: gap of 365 missing days between 2013-09-17 (data row 4124) "
                 f"and 2014-09-18 (data row 4123); {GAP_ADVICE}", capsys)


def test_dates_from_bitcoins_first_day_to_today_are_accepted(tmp_path):
    early = write_yahoo_csv(tmp_path / "early.csv", random_walk(40, start="2009-01-03"))
    assert load_csv(early).close.index[0] == pd.Timestamp("2009-01-03")
    late = write_yahoo_csv(tmp_path / "late.csv", random_walk(40, start=f"{TODAY - timedelta(days=39)}"))
    assert load_csv(late).close.index[-1] == pd.Timestamp(TODAY)  # today's row is no future
    # load_csv's own today= wins over the clock.
    with pytest.raises(DataError, match=r"date 2026-01-15 \(data row 40\) is after today, 2026-01-14 \(UTC\)"):
        load_csv(late, today=lambda: TODAY - timedelta(days=1))


@pytest.mark.parametrize("missing", [30, 31])
def test_gaps_up_to_30_days_are_filled_longer_ones_refused(tmp_path, walk, caplog, missing):
    kept = walk.drop(walk.index[50:50 + missing])
    path = write_yahoo_csv(tmp_path / "prices.csv", kept)
    first, last = walk.index[49], walk.index[50 + missing]
    if missing > 30:
        with pytest.raises(DataError) as e:
            load_csv(path)
        assert str(e.value) == (f"{path}: gap of 31 missing days between {first:%Y-%m-%d} (data row 50) "
                                f"and {last:%Y-%m-%d} (data row 51); {GAP_ADVICE}")
        return
    with caplog.at_level(logging.WARNING, logger="forecast"):
        prices = load_csv(path)
    assert (len(prices.close), prices.filled_days) == (200, 30)
    assert [r.getMessage() for r in caplog.records] == [
        "gaps: 30 missing days filled with the previous close (2021-02-20..2021-03-21)"]
    assert (prices.close["2021-02-20":"2021-03-21"] == walk.iloc[49]).all()


def test_a_long_gap_in_intraday_rows_names_the_rows_around_it(tmp_path):
    seconds = [int(pd.Timestamp(t, tz="UTC").timestamp()) for t in
               ("2021-01-01 10:00", "2021-01-01 23:59", "2021-03-05 00:01", "2021-03-05 12:00")]
    path = write(tmp_path / "p.csv", "Timestamp,Close\n" + "".join(f"{s},{i}\n" for i, s in enumerate(seconds, 1)))
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == (f"{path}: gap of 62 missing days between 2021-01-01 (data row 2) and "
                            f"2021-03-05 (data row 3); {GAP_ADVICE}")


def test_a_unix_timestamp_in_the_future_is_refused(tmp_path):
    path = write(tmp_path / "p.csv", "Timestamp,Close\n1609459200,1\n1609459260,2\n99999999999,3\n")
    with pytest.raises(DataError) as e:
        load_csv(path)
    assert str(e.value) == f"{path}: date 5138-11-16 (data row 3) is after today, 2026-01-15 (UTC) (a typo in the year?)"


@pytest.mark.parametrize("every, rows, spacing", [(7, 590, 7), (30, 138, 30)])
def test_real_weekly_or_monthly_rows_are_refused_not_filled(real_csv, tmp_path, capsys, every, rows, spacing):
    """Gaps of 6 or 29 days are each short enough to fill, but filling them would make up most days."""
    real_frame(real_csv).iloc[::every].to_csv(tmp_path / "prices.csv", index=False)
    expect_error(tmp_path / "prices.csv",
                 f"{tmp_path / 'prices.csv'}: not daily prices: consecutive dates are {spacing} days apart (median "
                 f"over {rows} dates; weekly or monthly data?); the forecasts need one close per day", capsys)


def test_real_weekday_only_rows_are_read_with_weekends_filled(real_csv, tmp_path):
    """Prices without weekends, as stock exports have them: a median spacing of one day."""
    frame = real_frame(real_csv)
    weekday = pd.to_datetime(frame["Date"]).dt.day_of_week < 5
    frame[weekday].to_csv(tmp_path / "prices.csv", index=False)
    prices = load_csv(tmp_path / "prices.csv")
    weekend_days = int((~weekday).sum())  # 2014-09-17 and 2025-12-31 are Wednesdays: no edge to trim
    assert (len(prices.close), prices.filled_days) == (4124, weekend_days)
    assert (f"{prices.close.index[0]:%Y-%m-%d}", f"{prices.close.index[-1]:%Y-%m-%d}") == ("2014-09-17", "2025-12-31")
    assert prices.close.iloc[-1] == 87508.828125
    friday = pd.to_numeric(frame.loc[frame["Date"] == "2025-12-26", "Close"]).item()
    assert (prices.close["2025-12-27":"2025-12-28"] == friday).all()  # Saturday and Sunday: Friday's close


def test_finish_refuses_a_long_gap_in_any_series(walk):
    with pytest.raises(DataError) as e:
        finish(walk.drop(walk.index[10:60]), "random walk", None, None, 1)
    assert str(e.value) == ("random walk: gap of 50 missing days between 2021-01-10 and 2021-03-02; "
                            + GAP_ADVICE)


# --- what is no plain UTF-8 CSV file: folders, FIFOs, UTF-16, gzip, stray quotes, two tickers ---

def test_a_directory_is_named_as_one(tmp_path, capsys):
    expect_error(tmp_path, f"{tmp_path} is a directory, not a price file", capsys)


@pytest.fixture
def alarm():
    """Fails a test that blocks (opening a FIFO waits for a writer) instead of hanging the suite."""
    def ring(signum, frame):
        raise TimeoutError("blocked")
    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, capsys, alarm):
    os.mkfifo(tmp_path / "p.csv")
    path = tmp_path / "p.csv"
    expect_error(path, f"{path} is not a regular file (a FIFO); pass a price file saved on disk", capsys)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null here")
def test_dev_null_is_refused_as_a_device(capsys):
    expect_error(Path("/dev/null"), "/dev/null is not a regular file (a character device); pass a price file saved "
                                    "on disk", capsys)


@pytest.mark.parametrize("encode", [
    lambda text: text.encode("utf-16"),                         # with its byte order mark, as Windows writes it
    lambda text: "\ufeff".encode("utf-16-le") + text.encode("utf-16-le"),
    lambda text: "\ufeff".encode("utf-16-be") + text.encode("utf-16-be"),
])
def test_utf16_with_a_byte_order_mark_is_read(tmp_path, walk, encode):
    text = write_yahoo_csv(tmp_path / "utf8.csv", walk).read_text()
    (tmp_path / "p.csv").write_bytes(encode(text))
    check_same_closes(load_csv(tmp_path / "p.csv"), walk)


@pytest.mark.parametrize("encoding, endian", [("utf-16-le", "little"), ("utf-16-be", "big")])
def test_utf16_without_a_byte_order_mark_is_named(tmp_path, walk, capsys, encoding, endian):
    text = write_yahoo_csv(tmp_path / "utf8.csv", walk).read_text()
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode(encoding))
    expect_error(path, f"cannot read {path} as CSV: UTF-16 text ({endian}-endian) without a byte order mark; save it "
                       "as UTF-8", capsys)


@pytest.mark.parametrize("name", ["prices.csv.gz", "prices.csv"])  # gzip is told by its bytes, not its name
def test_real_gzip_compressed_file_is_read(real_csv, tmp_path, name):
    (tmp_path / name).write_bytes(gzip.compress(real_csv.read_bytes()))
    assert_real_prices(load_csv(tmp_path / name), real_csv)


def test_gzip_compressed_utf16_is_read(tmp_path, walk):
    text = write_yahoo_csv(tmp_path / "utf8.csv", walk).read_text()
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(text.encode("utf-16")))
    check_same_closes(load_csv(tmp_path / "p.csv.gz"), walk)


def test_a_cut_off_gzip_file_is_one_line(real_csv, tmp_path, capsys):
    packed = gzip.compress(real_csv.read_bytes())
    path = tmp_path / "p.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    expect_error(path, f"cannot read {path}: damaged gzip data (Compressed file ended before the end-of-stream "
                       "marker was reached)", capsys)


@pytest.mark.parametrize("line", [1, 3])
def test_a_stray_quote_early_in_a_long_file_names_its_line(tmp_path, capsys, line):
    """The rest of the file becomes one quoted field: Python's csv module stops at 131,072 characters."""
    rows = [f"{d:%Y-%m-%d},{i}" for i, d in enumerate(pd.date_range("2000-01-01", periods=20000), 1)]
    lines = ["Date,Close", *rows]
    lines[line - 1] = lines[line - 1].replace(",", ',"', 1)
    path = write(tmp_path / "p.csv", "\n".join(lines) + "\n")
    assert sum(map(len, lines[line:])) > 131072
    expect_error(path, f'{path} line {line}: a quote (") opens a field that never ends, so the rest of the file would '
                       "be one field (a stray quote? quote whole values only)", capsys)


def test_a_yfinance_file_of_two_tickers_names_them(tmp_path, capsys):
    """What `yf.download(["BTC-USD", "ETH-USD"]).to_csv(path)` writes: each ticker's prices side by side."""
    btc, eth = random_walk(20), random_walk(20, seed=1) / 15
    frame = pd.DataFrame({("Close", "BTC-USD"): btc.to_numpy(), ("Close", "ETH-USD"): eth.to_numpy(),
                          ("High", "BTC-USD"): btc.to_numpy(), ("High", "ETH-USD"): eth.to_numpy()},
                         index=pd.DatetimeIndex(btc.index, name="Date"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    path = tmp_path / "two.csv"
    frame.to_csv(path)
    assert path.read_text().splitlines()[:3] == [
        "Price,Close,Close,High,High", "Ticker,BTC-USD,ETH-USD,BTC-USD,ETH-USD", "Date,,,,"]
    expect_error(path, f"{path} holds the prices of 2 tickers (BTC-USD, ETH-USD); save one ticker per file, e.g. "
                       "yf.download('BTC-USD').to_csv('BTC-USD.csv')", capsys)


# --- no library warnings ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Date,Close\n2021-01-01,1,\n2021-01-02,2,\n",                       # ParserWarning from pandas
    "Date,Close\n1/2/2021 10:00,1\n1/2/2021 11:00,2\n1/3/2021 9:00,3\n",  # could not infer format
    "Date,Close\n2021-01-01,1\n2021-01-02,87,508.83\n",
])
def test_no_library_warning_reaches_the_user(tmp_path, capsys, text):
    path = write(tmp_path / "p.csv", text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, err = run_cli(capsys, "data", "--csv", path)
    assert caught == []
    assert "Warning" not in err and err.count("\n") <= 1


def test_a_library_warning_while_reading_is_kept_off_stderr(walk_csv, walk, monkeypatch, capsys):
    def noisy(function):
        def warn_then_call(*args, **kwargs):
            warnings.warn("a note from pandas", FutureWarning)
            return function(*args, **kwargs)
        return warn_then_call
    for name in ("read_csv", "to_datetime", "to_numeric"):
        monkeypatch.setattr(pd, name, noisy(getattr(pd, name)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prices = load_csv(walk_csv)
        code, _, err = run_cli(capsys, "data", "--csv", walk_csv)
    assert caught == [] and (code, err) == (0, "")
    check_same_closes(prices, walk)


# --- every row checked before it counts (issue 31) ---------------------------------------------

ALL_INPUTS = ("close", "open", "high", "low", "range", "volume")
ROW = "at 2024-01-06 08:00 (data row 17)"  # intraday_rows' row r16


def intraday_rows(days: int = 40, **edits) -> str:
    """`days` days from 2024-01-01 of three rows 8 hours apart: row i (data row i + 1) at i * 8 hours has
    open 100+i, high 110+i, low 90+i, close 101+i, volume 1000+i; `edits` maps r<i> to its fields after the time.
    Row 16 is 2024-01-06 08:00, the middle of its day: 116,126,106,117,1016."""
    start = pd.Timestamp("2024-01-01")
    rows = [f"{start + pd.Timedelta(hours=8 * i):%Y-%m-%d %H:%M},"
            + edits.get(f"r{i}", f"{100 + i},{110 + i},{90 + i},{101 + i},{1000 + i}") for i in range(3 * days)]
    return OHLCV_HEADER + "\n".join(rows) + "\n"


def supported_without(column: str) -> str:
    """The inputs a file offers when `column` is left out (range reads the high and the low)."""
    gone = {column, "range"} if column in ("high", "low") else {column}
    return ",".join(i for i in ALL_INPUTS if i not in gone)


def assert_left_out(capsys, path: Path, column: str, reason: str, *extra) -> None:
    """`column` is left out with `reason`: `data` runs (exit 0, the reason in its summary), a run on the
    close alone never reads it, and `train` asking for it is refused with that one line, exit 1."""
    code, out, err = run_cli(capsys, "data", "--csv", path, *extra, "--window", 10)
    assert (code, err) == (0, "") and f"  not {column}: {reason}" in out.splitlines()
    name = "range" if column in ("high", "low") else column
    assert_one_line_error(capsys, ["train", "--csv", path, *extra, "--window", 10, "--inputs", f"close,{name}",
                                   "--epochs", 1], f"{path} cannot give the input {name!r}: {reason}; it supports "
                                                   f"{supported_without(column)}")


def test_intraday_rows_that_hold_together_keep_every_column(tmp_path):
    prices = load_csv(write(tmp_path / "p.csv", intraday_rows()))
    assert prices.missing == () and prices.supported_inputs() == ALL_INPUTS
    # Day 2024-01-06: rows 15..17; opens 115, 116, 117 -> 115; highs -> 127; lows -> 105; close 118; volumes -> 3048.
    assert prices.table.loc["2024-01-06"].to_dict() == {"open": 115.0, "high": 127.0, "low": 105.0, "volume": 3048.0}


@pytest.mark.parametrize("fields, column, reason", [
    ("116,126,106,117,-5", "volume", f"volume must be a positive number on every row, got -5 {ROW}"),
    ("116,126,106,117,0", "volume", f"volume must be a positive number on every row, got 0 {ROW}"),
    ("116,126,106,117,", "volume", f"volume must be a positive number on every row, got no value {ROW}"),
    ("116,126,106,117,abc", "volume", f"volume must be a positive number on every row, got 'abc' {ROW}"),
    ("116,126,106,117,1e25", "volume",
     f"volume must be at most 1e+20 on every row (no real volume is larger), got 1e+25 {ROW}"),
    ("116,126,106,117,1.7e308", "volume",
     f"volume must be at most 1e+20 on every row (no real volume is larger), got 1.7e+308 {ROW}"),
    ("116,abc,106,117,1016", "high", f"high must be a positive number on every row, got 'abc' {ROW}"),
    ("116,inf,106,117,1016", "high", f"high must be a positive number on every row, got inf {ROW}"),
    ("116,1e13,106,117,1016", "high",
     f"high must be at most 1e+12 USD on every row (no real price is larger), got 1e+13 {ROW}"),
    ("-1,126,106,117,1016", "open", f"open must be a positive number on every row, got -1 {ROW}"),
    ("1e-13,126,106,117,1016", "open",
     f"open must be at least 1e-12 USD on every row (no real price is smaller), got 1e-13 {ROW}"),
    ("116,126,,117,1016", "low", f"low must be a positive number on every row, got no value {ROW}"),
    # high below its low: below the open too, which is checked first
    ("116,100,106,117,1016", "high", f"high 100 is below the open 116 {ROW}; columns swapped or misread?"),
    ("116,116.5,106,117,1016", "high", f"high 116.5 is below the close 117 {ROW}; columns swapped or misread?"),
    ("105,126,106,117,1016", "low", f"low 106 is above the open 105 {ROW}; columns swapped or misread?"),
    ("120,130,118,117,1016", "low", f"low 118 is above the close 117 {ROW}; columns swapped or misread?"),
], ids=["negative volume", "zero volume", "empty volume", "non-numeric volume", "volume 1e25", "volume 1.7e308",
        "non-numeric high", "infinite high", "high 1e13", "negative open", "open 1e-13", "empty low",
        "high below low", "high below close", "low above open", "low above close"])
def test_a_bad_intraday_row_is_refused_before_its_day_is_summed_up(tmp_path, capsys, fields, column, reason):
    """Each of these rows used to vanish into its day (a sum, a max, a min that hold together) and change
    the forecast silently. Now the row is checked as a daily file's day is, and named."""
    path = write(tmp_path / "p.csv", intraday_rows(r16=fields))
    prices = load_csv(path)
    assert prices.why_not(column) == reason and column not in prices.table
    assert [c for c, _ in prices.missing] == [column]  # the other columns are untouched
    assert_left_out(capsys, path, column, reason)


def test_a_bad_row_without_trades_is_no_row_of_its_day(tmp_path):
    """A row without a close (no trades that minute) is skipped, whatever else it holds."""
    prices = load_csv(write(tmp_path / "p.csv", intraday_rows(r16="-1,abc,,,-5")))
    assert prices.missing == () and prices.table.loc["2024-01-06", "volume"] == 1015 + 1017


def test_a_days_summed_volume_is_checked_too(tmp_path):
    """Three rows of 4e19 each are real rows; their day's 1.2e20 is more than any day's volume can be."""
    path = write(tmp_path / "p.csv", intraday_rows(**{f"r{i}": f"{100 + i},{110 + i},{90 + i},{101 + i},4e19"
                                                      for i in (15, 16, 17)}))
    assert load_csv(path).why_not("volume") == ("volume must be at most 1e+20 on every day (no real volume is "
                                                "larger), got 1.2e+20 on 2024-01-06")


@pytest.mark.parametrize("fields, column, reason", [
    ("103,113,93,104,1e25", "volume",
     "volume must be at most 1e+20 on every day (no real volume is larger), got 1e+25 on 2021-01-04"),
    ("103,113,93,104,1.7e308", "volume",
     "volume must be at most 1e+20 on every day (no real volume is larger), got 1.7e+308 on 2021-01-04"),
    ("103,1e13,93,104,1003", "high",
     "high must be at most 1e+12 USD on every day (no real price is larger), got 1e+13 on 2021-01-04"),
    ("103,113,1e-13,104,1003", "low",
     "low must be at least 1e-12 USD on every day (no real price is smaller), got 1e-13 on 2021-01-04"),
], ids=["volume 1e25", "volume 1.7e308", "high 1e13", "low 1e-13"])
def test_a_daily_value_no_market_has_is_left_out(tmp_path, capsys, fields, column, reason):
    path = write(tmp_path / "p.csv", ohlcv_rows(r3=fields))
    assert load_csv(path).why_not(column) == reason
    assert_left_out(capsys, path, column, reason)


@pytest.mark.parametrize("text, message", [
    (ohlcv_rows(r3="103,113,93,1.7e308,1003"),
     "close must be at most 1e+12 USD (no real price is larger), got 1.7e+308 on 2021-01-04 (data row 4)"),
    (ohlcv_rows(r3="103,113,93,2e12,1003"),
     "close must be at most 1e+12 USD (no real price is larger), got 2e+12 on 2021-01-04 (data row 4)"),
    (ohlcv_rows(r3="103,113,93,1e-200,1003"),
     "close must be at least 1e-12 USD (no real price is smaller), got 1e-200 on 2021-01-04 (data row 4)"),
    # newest first: the data row is the file's
    (OHLCV_HEADER + "\n".join(ohlcv_rows(r3="103,113,93,1.7e308,1003").splitlines()[:0:-1]) + "\n",
     "close must be at most 1e+12 USD (no real price is larger), got 1.7e+308 on 2021-01-04 (data row 87)"),
    # intraday: every traded row, not only each day's last (row 16 is the middle of its day)
    (intraday_rows(r16="116,126,106,1.7e308,1016"),
     f"close must be at most 1e+12 USD (no real price is larger), got 1.7e+308 {ROW}"),
    (intraday_rows(r16="116,126,106,1e-13,1016"),
     f"close must be at least 1e-12 USD (no real price is smaller), got 1e-13 {ROW}"),
    (intraday_rows(r16="116,126,106,-5,1016"), f"close must be positive, got -5 {ROW}"),
    (intraday_rows(r16="116,126,106,0,1016"), f"close must be positive, got 0 {ROW}"),
], ids=["daily 1.7e308", "daily 2e12", "daily 1e-200", "daily newest first", "intraday 1.7e308", "intraday 1e-13",
        "intraday negative", "intraday zero"])
def test_a_close_no_market_has_refuses_the_file(tmp_path, capsys, text, message):
    path = write(tmp_path / "p.csv", text)
    expect_error(path, f"{path}: {message}", capsys)


@pytest.mark.parametrize("close", [1e-12, 1e12])
def test_closes_at_the_bounds_are_read(tmp_path, close):
    prices = load_csv(write(tmp_path / "p.csv", ohlcv_rows(r3=f"{close},{close},{close},{close},1e20")))
    assert prices.close.loc["2021-01-04"] == close and prices.missing == ()


@pytest.mark.parametrize("layout, bad, start, end, day", [
    # a daily file (2021-01-01..2021-03-31): volume -5 on the first day, or on the last
    ("daily", {"r0": "100,110,90,101,-5"}, "2021-01-02", None, None),
    ("daily", {"r89": "189,199,179,190,-5"}, None, "2021-03-30", None),
    ("daily", {"r0": "100,110,90,101,-5", "r40": "140,150,130,141,"}, "2021-01-02", None,
     "got no value on 2021-02-10"),
    ("daily", {"r89": "189,199,179,190,-5", "r40": "140,150,130,141,"}, None, "2021-03-30",
     "got no value on 2021-02-10"),
    # an intraday file (2024-01-01..2024-02-09): row 1 is 2024-01-01 08:00
    ("intraday", {"r1": "101,111,91,102,-5"}, "2024-01-02", None, None),
    ("intraday", {"r1": "101,111,91,102,-5", "r16": "116,126,106,117,"}, "2024-01-02", None,
     f"got no value {ROW}"),
], ids=["daily before start", "daily after end", "daily before and after start", "daily after and before end",
        "intraday before start", "intraday before and after start"])
def test_only_the_days_read_are_checked(tmp_path, capsys, layout, bad, start, end, day):
    """--start and --end choose the days a run reads: a bad value outside them removes no column, and
    the first bad one inside them is the one named (not a day the run never reads)."""
    path = write(tmp_path / "p.csv", (ohlcv_rows(90, **bad) if layout == "daily" else intraday_rows(**bad)))
    span = [*(["--start", start] if start else []), *(["--end", end] if end else [])]
    assert load_csv(path).why_not("volume") is not None  # the whole file has it
    prices = load_csv(path, start=start, end=end)
    if day is None:
        assert prices.missing == () and prices.supported_inputs() == ALL_INPUTS
        code, out, _ = run_cli(capsys, "data", "--csv", path, *span, "--window", 10)
        assert code == 0 and summary_lines(out)["inputs"] == "     close,open,high,low,range,volume (--inputs)"
        return
    reason = f"volume must be a positive number on every {'day' if layout == 'daily' else 'row'}, {day}"
    assert prices.why_not("volume") == reason
    assert_left_out(capsys, path, "volume", reason, *span)


@pytest.fixture(scope="module")
def volume_model(tmp_path_factory):
    """A tiny GRU reading close,volume, trained on ohlcv_rows(120) (2021-01-01..2021-04-30): its --out."""
    root = tmp_path_factory.mktemp("volume-model")
    out = root / "out"
    assert main([
        "train", "--csv", str(write(root / "p.csv", ohlcv_rows(120))), "--inputs", "close,volume", "--window", "5",
        "--units", "4", "--epochs", "1", "--batch-size", "16", "--quiet", "--no-jit-compile", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("edits, start, reason", [
    # two volumes of 1.7e308 in the last window made its volume input -inf and predict gave another forecast
    ({"r116": "216,226,206,217,1.7e308", "r118": "218,228,208,219,1.7e308"}, None,
     "volume must be at most 1e+20 on every day (no real volume is larger), got 1.7e+308 on 2021-04-27"),
    ({"r117": "217,227,207,218,1e25"}, None,
     "volume must be at most 1e+20 on every day (no real volume is larger), got 1e+25 on 2021-04-28"),
    ({"r0": "100,110,90,101,"}, None, "volume must be a positive number on every day, got no value on 2021-01-01"),
    ({"r0": "100,110,90,101,"}, "2021-01-02", None),  # a day predict does not read
], ids=["two volumes 1.7e308", "volume 1e25", "empty volume", "empty volume before start"])
def test_predict_refuses_volumes_no_market_has_and_reads_only_its_days(volume_model, tmp_path, capsys, edits, start,
                                                                       reason):
    path = write(tmp_path / "p.csv", ohlcv_rows(120, **edits))
    span = ["--start", start] if start else []
    if reason is not None:
        assert_one_line_error(capsys, ["predict", "--csv", path, *span, "--out", volume_model, "--quiet"],
                              f"{path} cannot give the input 'volume': {reason}; it supports close,open,high,low,range")
        return
    good = write(tmp_path / "good.csv", ohlcv_rows(120))
    forecasts = [run_cli(capsys, "predict", "--csv", p, *span, "--out", volume_model, "--json") for p in (path, good)]
    assert [code for code, _, _ in forecasts] == [0, 0]
    # The same forecast as on the file without the bad day: its last window is the same.
    bad, ok = (json.loads(out)["predicted_close"] for _, out, _ in forecasts)
    assert bad == ok
