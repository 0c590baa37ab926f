"""The shared report wording: every branch of the verdict in words and of the interval notes, p-values and
ratios to naive, with results built by hand (the rules themselves: test_verdicts.py)."""

import math

import pytest

from forecast import report, report_backtest
from forecast.metrics import DMTest
from forecast.intervals import IntervalMetrics

NOT_SIGNIFICANT = DMTest(statistic=0.5, p_value=0.6, days=100)


def dm(statistic, p):
    return DMTest(statistic=statistic, p_value=p, days=100)


@pytest.mark.parametrize(("test", "ratio", "expected"), [
    (dm(-3.0, 0.003), 0.95, "GRU beats the naive forecast significantly (MAE ratio 0.9500, DM p = 0.003)."),
    (dm(3.0, 0.003), 1.05, "GRU is significantly worse than the naive forecast (MAE ratio 1.0500, DM p = 0.003)."),
    (dm(-1.0, 0.3), 0.99, "GRU has a slightly lower MAE than the naive forecast (ratio 0.9900), "
                          "but the difference is not significant (DM p = 0.300)."),
    (dm(1.0, 0.3), 1.01, "GRU does not beat the naive forecast (MAE ratio 1.0100, DM p = 0.300)."),
    (dm(math.nan, math.nan), 1.0, "GRU does not beat the naive forecast (MAE ratio 1.0000, DM p = n/a (identical losses))."),
])
def test_verdict_on_each_cell_against_naive(test, ratio, expected):
    lines = report.verdict({"gru": ratio, "lstm": 1.2}, {"gru": test, "lstm": NOT_SIGNIFICANT}, NOT_SIGNIFICANT)
    assert lines[0] == expected


@pytest.mark.parametrize(("between", "expected"), [
    (dm(-2.5, 0.01), "GRU is significantly more accurate than LSTM (DM p = 0.010)."),
    (dm(2.5, 0.01), "LSTM is significantly more accurate than GRU (DM p = 0.010)."),
    (dm(-1.0, 0.2), "GRU and LSTM are not significantly different (DM p = 0.200): "
                    "on this data the choice of cell does not matter for accuracy."),
])
def test_verdict_between_the_cells(between, expected):
    lines = report.verdict({"gru": 1.01, "lstm": 0.99}, {"gru": NOT_SIGNIFICANT, "lstm": NOT_SIGNIFICANT}, between)
    assert lines[2] == expected
    assert len(lines) == 3  # LSTM's ratio is below 1: no "neither model beats" line


@pytest.mark.parametrize(("ratios", "said"), [({"gru": 1.0, "lstm": 1.02}, True), ({"gru": 0.999, "lstm": 1.02}, False)])
def test_neither_beats_naive_only_when_both_ratios_are_at_least_one(ratios, said):
    lines = report.verdict(ratios, {"gru": NOT_SIGNIFICANT, "lstm": NOT_SIGNIFICANT}, NOT_SIGNIFICANT)
    assert ("Neither model beats 'tomorrow = today': daily closes are close to a random walk." in lines) is said


@pytest.mark.parametrize(("ratio", "words"), [(1.01, "worse than naive"), (0.99, "better than naive"),
                                              (1.0, "the same as naive"),
                                              (math.nan, "no ratio: naive's error is 0")])
def test_versus_naive(ratio, words):
    assert report.versus_naive(ratio) == words


def interval(coverage, p, by_volatility, unbounded=False):
    return IntervalMetrics(80.0, coverage, p, 100.0, 1.0, 150.0, by_volatility, unbounded)


@pytest.mark.parametrize(("m", "notes"), [
    (interval(0.80, 0.9, (0.81, 0.80, 0.79)), []),
    (interval(0.70, 0.001, (0.80, 0.70, 0.60)), [
        "GRU's 80% interval under-covers: 70.0% of days (Kupiec p = 0.001).",
        "GRU's 80% interval covers 60.0% of the most volatile third of days against 80.0% of the calmest: "
        "it is too narrow when markets move."]),
    (interval(0.90, 0.001, (0.90, 0.90, 0.90)), ["GRU's 80% interval over-covers: 90.0% of days (Kupiec p = 0.001)."]),
    (interval(1.0, 0.0, (1.0, 1.0, 1.0), unbounded=True),
     ["GRU's 80% interval is unbounded: too few validation days to calibrate it."]),
])
def test_coverage_notes_only_where_the_numbers_call_for_them(m, notes):
    assert report.coverage_notes("GRU", {80.0: m}) == notes


# --- issue 17: p-values, ratios that do not exist, interval notes said once ---------------------------


@pytest.mark.parametrize(("p", "cell", "sentence"), [
    (0.0, "< 0.001", "p < 0.001"), (0.00049, "< 0.001", "p < 0.001"), (0.001, "0.001", "p = 0.001"),
    (0.0144, "0.014", "p = 0.014"), (math.nan, "n/a", "p = n/a"),
])
def test_p_values_never_print_as_zero(p, cell, sentence):
    assert report.p_value(p) == cell and report.p_is(p) == sentence


def test_kupiec_and_dm_p_below_0001_read_as_less_than_everywhere():
    tiny = interval(0.70, 2e-9, (0.71, 0.70, 0.69))
    assert report.coverage_notes("GRU", {80.0: tiny}) == [
        "GRU's 80% interval under-covers: 70.0% of days (Kupiec p < 0.001)."]
    table = report.interval_table({"GRU": {80.0: tiny}})
    assert table.splitlines()[-1] == "| GRU | 80% | 70.0% | < 0.001 | 100 (1.00%) | 150 | 71.0% / 70.0% / 69.0% |"
    assert report_backtest._fold_interval(tiny) == "70%, p < 0.001, 1.0%, 150"
    lines = report.verdict({"gru": 1.05, "lstm": 0.95}, {"gru": dm(4.0, 3e-5), "lstm": dm(-4.0, 0.0004)}, dm(3.0, 1e-7))
    assert lines == [
        "GRU is significantly worse than the naive forecast (MAE ratio 1.0500, DM p < 0.001).",
        "LSTM beats the naive forecast significantly (MAE ratio 0.9500, DM p < 0.001).",
        "LSTM is significantly more accurate than GRU (DM p < 0.001).",
    ]
    assert not any("0.000" in line for line in lines)


def test_a_ratio_to_a_naive_error_of_zero_is_said_never_printed_as_nan():
    """Constant prices: naive is exact on every day and every ratio to it is NaN."""
    assert report.times_naive(math.nan) == "no ratio: naive's error is 0"
    assert report.times_naive(1.0123) == "1.012x naive's (worse than naive)"
    assert report.ratio_words(math.nan) == "no ratio: naive's error is 0"
    assert report.ratio_words(0.98765) == "ratio 0.988  (better than naive)"
    assert report.fmt_ratio(math.nan) == "n/a (naive's error is 0)" and report.fmt_ratio(1.5) == "1.5000"
    lines = report.verdict({"gru": math.nan, "lstm": math.nan},
                           {"gru": dm(math.nan, math.nan), "lstm": dm(math.nan, math.nan)}, dm(math.nan, math.nan))
    assert lines[0] == ("GRU cannot be measured against the naive forecast (no ratio: naive's error is 0: "
                        "the prices never moved).")
    assert not any("nan" in line for line in lines), lines


def test_interval_notes_say_each_finding_once_naming_every_forecast():
    """GRU, LSTM and naive over-covering alike used to give three near-identical bullets per finding."""
    wide = {name: {80.0: interval(c, p, (0.90, 0.89, 0.76)), 95.0: interval(0.97, 0.07, (0.99, 0.97, 0.96))}
            for name, c, p in (("GRU", 0.85, 0.014), ("LSTM", 0.85, 0.0141), ("naive", 0.858, 0.0004))}
    assert report.interval_notes(wide) == [
        "The 80% intervals over-cover: GRU on 85.0% of days (Kupiec p = 0.014), LSTM on 85.0% of days "
        "(Kupiec p = 0.014) and naive on 85.8% of days (Kupiec p < 0.001).",
        "The 80% intervals are too narrow when markets move: on the most volatile third of days against the "
        "calmest, GRU covers 76.0% against 90.0%, LSTM covers 76.0% against 90.0% and naive covers 76.0% against 90.0%.",
    ]
    unbounded = interval(1.0, 0.0, (1.0, 1.0, 1.0), unbounded=True)
    assert report.interval_notes({"GRU": {80.0: unbounded}, "LSTM": {80.0: unbounded}}) == [
        "The 80% intervals of GRU and LSTM are unbounded: too few validation days to calibrate them."]
    notes = report.interval_notes(wide)
    assert len(notes) == len(set(notes))


@pytest.mark.parametrize("value, least, text", [
    (1234.5678, 2, "1,234.57"),     # BTC: `least` decimals, as before
    (250.4, 0, "250"),              # three significant digits already
    (45.678, 0, "45.7"),
    (0.034567, 2, "0.0346"),        # XRP: never "0.03"
    (0.00073219, 2, "0.000732"),
    (0.0, 2, "0.00"),
    (-0.5, 0, "-0.500"),
])
def test_amounts_keep_three_significant_digits_at_any_price(value, least, text):
    assert report.amount(value, least) == text
