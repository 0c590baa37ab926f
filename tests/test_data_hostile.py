"""Files an adversarial user has: each is read right, or refused with one line; never misread.

Most are the real prices (`real_csv`: 4124 rows, 2014-09-17..2025-12-31, last close 87,508.83)
rewritten the way spreadsheets and exports write them; the checks are on the values that come
out, not only the exit code. "Today" is fixed at TODAY: no assertion depends on the real clock.
"""

import logging
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import random_walk, write_yahoo_csv
from tests.test_data import (  # noqa: F401  (forecast_logging is an autouse fixture)
    assert_one_line_error,
    check_same_closes,
    forecast_logging,
    run_cli,
    summary_lines,
    write,
)

from forecast import data_csv
from forecast.data import finish
from forecast.data_csv import load_csv
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
    monkeypatch.setattr(data_csv, "utc_today", lambda: TODAY)


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


@pytest.mark.parametrize("close, message", [
    ('"1,23"', "non-numeric close '1,23' on 2021-01-01"),       # not a thousands group
    ('"87.508,83"', "non-numeric close '87.508,83' on 2021-01-01"),  # a decimal comma
    ('"-1,234.50"', "close must be positive, got -1234.5 on 2021-01-01"),
])
def test_quoted_commas_that_are_not_thousands_separators(tmp_path, capsys, close, message):
    path = write(tmp_path / "prices.csv", f"Date,Close\n2021-01-01,{close}\n")
    expect_error(path, f"{path}: {message}", capsys)


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
