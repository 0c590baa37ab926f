"""Reports: every branch of the verdict and of the conditional notes, with results built by hand."""

import math

import pytest

from forecast import report
from forecast.bench import ModelTiming, Percentiles
from forecast.evaluate import DMTest
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
                                              (math.nan, "no ratio: the naive forecast is exact on every day")])
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


def timing(params, latency, per_window):
    p = Percentiles(latency, latency * 1.2)
    return ModelTiming(params, p, Percentiles(60.0, 70.0), p, 1e6 / per_window, per_window, 0.0)


def test_speed_notes_follow_the_numbers():
    same = report.speed_notes(timing(929, 0.30, 10.0), timing(1169, 0.29, 10.2), train_ratio=1.3)
    assert same == [
        "At batch 1 GRU and LSTM cost about the same (1.03x): per-call overhead (Python, dispatch, "
        "copying the result back) outweighs the cells' arithmetic.",
        "With a full batch GRU and LSTM cost about the same per window (0.98x).",
        "Training: GRU takes 1.30x LSTM's time per epoch.",
    ]
    apart = report.speed_notes(timing(929, 0.60, 7.0), timing(1169, 0.30, 10.0), train_ratio=None)
    assert apart == [
        "At batch 1 GRU takes 2.00x LSTM's time per call.",
        "With a full batch GRU takes 0.70x LSTM's time per window: the smaller arithmetic "
        "(929 against 1,169 parameters, 3 gate blocks against 4) shows.",
    ]
    slower = report.speed_notes(timing(929, 0.30, 13.0), timing(1169, 0.30, 10.0), train_ratio=0.95)
    assert slower[1:] == ["With a full batch GRU takes 1.30x LSTM's time per window, despite fewer parameters.",
                          "Training: about the same time per epoch (0.95x)."]


def test_speed_notes_name_the_compile_mode_when_both_were_timed():
    notes = report.speed_notes(timing(929, 0.30, 10.0), timing(1169, 0.29, 10.2), train_ratio=1.32, train_ratio_xla=1.0)
    assert notes[-2:] == ["Training without XLA: GRU takes 1.32x LSTM's time per epoch.",
                          "Training with XLA: about the same time per epoch (1.00x)."]
