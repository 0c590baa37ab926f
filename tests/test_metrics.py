"""Metrics pinned against hand-computed values; the Diebold-Mariano test against a worked case."""

import math

import numpy as np
import pytest

import pandas as pd

from forecast import metrics, report
from forecast.metrics import ErrorMetrics, Forecast

# Four target days. Model errors: -1, +1, -2, +1. Naive (previous close) errors: +1, +2, -1, +4.
ACTUAL = np.array([100.0, 102.0, 101.0, 105.0])
PREDICTED = np.array([101.0, 101.0, 103.0, 104.0])
PREVIOUS = np.array([99.0, 100.0, 102.0, 101.0])


def test_error_metrics_by_hand():
    assert metrics.mae(ACTUAL, PREDICTED) == pytest.approx(5 / 4)
    assert metrics.rmse(ACTUAL, PREDICTED) == pytest.approx(math.sqrt(7 / 4))
    assert metrics.mape(ACTUAL, PREDICTED) == pytest.approx(100 * (1 / 100 + 1 / 102 + 2 / 101 + 1 / 105) / 4)


def test_directional_accuracy_by_hand():
    # Predicted moves +2, +1, +1, +3; actual moves +1, +2, -1, +4: the third day is wrong.
    assert metrics.directional_accuracy(ACTUAL, PREDICTED, PREVIOUS) == 0.75


def test_beats_naive_by_hand():
    # |model error| 1, 1, 2, 1 against |naive error| 1, 2, 1, 4: strictly better on days 2 and 4.
    assert metrics.beats_naive(ACTUAL, PREDICTED, PREVIOUS) == 0.5


def forecast(predicted, previous=PREVIOUS, q=None):
    """A Forecast of the four days; with q, 50% intervals of half-width q (log units) around both."""
    dates = pd.date_range("2024-01-01", periods=len(predicted))
    bands = {} if q is None else {50.0: (predicted * np.exp(-q), predicted * np.exp(q))}
    naive_bands = {} if q is None else {50.0: (previous * np.exp(-q), previous * np.exp(q))}
    return Forecast(dates, np.asarray(predicted, float), np.asarray(previous, float),
                    np.arange(len(predicted), dtype=float), bands, naive_bands)


def test_score_ratios_and_naive():
    m = metrics.score(ACTUAL, forecast(PREDICTED))
    assert m.naive == pytest.approx(ErrorMetrics(2.0, math.sqrt(22 / 4), 100 * (1 / 100 + 2 / 102 + 1 / 101 + 4 / 105) / 4))
    assert (m.mae, m.rmse) == pytest.approx((1.25, math.sqrt(7 / 4)))
    assert m.mae_ratio_vs_naive == pytest.approx(1.25 / 2.0)
    assert m.rmse_ratio_vs_naive == pytest.approx(math.sqrt(7 / 4) / math.sqrt(22 / 4))
    assert (m.directional_accuracy, m.beats_naive_share) == (0.75, 0.5)
    assert (m.days, m.first_date, m.last_date) == (4, "2024-01-01", "2024-01-04")


def test_score_intervals_of_model_and_naive():
    # Half-width 0.0149 in log units: 101 * exp(+-0.0149) = [99.51, 102.52]. Model intervals hold
    # on days 1, 2, 4 (|error| 1 of ~100) but not 3 (actual 101 below 103's [101.47, 104.55]);
    # naive's hold on days 1, 3 (|error| 1) and miss days 2 and 4 (|error| 2 and 4).
    m = metrics.score(ACTUAL, forecast(PREDICTED, q=0.0149))
    assert m.intervals[50.0].coverage == 0.75
    assert m.naive_intervals[50.0].coverage == 0.5
    # Sorted by the volatility given (0, 1, 2, 3): thirds of sizes 2, 1, 1.
    assert m.intervals[50.0].coverage_by_volatility == (1.0, 0.0, 1.0)


def test_naive_forecast_has_ratio_one():
    m = metrics.score(ACTUAL, forecast(PREVIOUS))
    assert m.mae_ratio_vs_naive == 1.0
    assert m.beats_naive_share == 0.0


def test_diebold_mariano_worked_case():
    # Squared-loss differences d = 1, 1, 1, 1, 4: mean 1.6, gamma0 = 1.44, var(mean) = 0.288,
    # DM = 1.6 / sqrt(0.288); HLN factor sqrt((5 + 1 - 2) / 5) = sqrt(0.8): statistic exactly 8/3.
    # Two-sided p-value from t with 4 df at 8/3 is 0.056.
    actual = np.zeros(5)
    worse = np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    better = np.zeros(5)
    out = metrics.diebold_mariano(actual, worse, better)
    assert out.statistic == pytest.approx(8 / 3)
    assert out.p_value == pytest.approx(0.056, abs=1e-9)
    assert out.days == 5
    swapped = metrics.diebold_mariano(actual, better, worse)
    assert swapped.statistic == pytest.approx(-8 / 3)
    assert swapped.p_value == pytest.approx(out.p_value)


def test_dm_by_seed_pairs_each_seed_and_tests_other_against_base():
    # The worked case above as seed 2 (other worse: 8/3) beside seed 1 with the roles swapped (-8/3).
    actual, worse, better = np.zeros(5), np.array([1.0, 1.0, 1.0, 1.0, 2.0]), np.zeros(5)
    first, second = metrics.dm_by_seed(actual, [worse, better], [better, worse])
    assert (first.statistic, second.statistic) == (pytest.approx(-8 / 3), pytest.approx(8 / 3))
    with pytest.raises(ValueError, match="^one forecast per seed on each side, got 2 and 1$"):
        metrics.dm_by_seed(actual, [worse, better], [better])


def test_diebold_mariano_equal_forecasts_is_undefined_not_an_error():
    out = metrics.diebold_mariano(ACTUAL, PREDICTED, PREDICTED)
    assert math.isnan(out.statistic) and math.isnan(out.p_value)


def test_diebold_mariano_size_under_the_null():
    # Two equally good forecasts: p-values should be uniform, so about 5% fall below 0.05.
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(400):
        actual = rng.normal(size=60)
        a, b = actual + rng.normal(size=60), actual + rng.normal(size=60)
        rejections += metrics.diebold_mariano(actual, a, b).p_value < 0.05
    assert 0.02 < rejections / 400 < 0.09


def test_diebold_mariano_needs_three_days():
    with pytest.raises(ValueError, match="^the Diebold-Mariano test needs at least 3 days, got 2$"):
        metrics.diebold_mariano([1, 2], [1, 2], [2, 3])


def test_metrics_table_lists_models_then_naive():
    m = metrics.score(ACTUAL, forecast(PREDICTED))
    lines = report.metrics_table({"GRU": m}, m.naive).splitlines()
    assert lines[2].startswith("| GRU | 1.25 | 1.32 |")
    assert lines[3].startswith("| naive (tomorrow = today) | 2.00 | 2.35 |")


def test_flat_prices_give_nan_ratios_not_a_crash():
    flat = np.full(5, 100.0)
    m = metrics.score(flat, forecast(flat + 1, flat))
    assert m.naive.mae == 0 and math.isnan(m.mae_ratio_vs_naive) and math.isnan(m.rmse_ratio_vs_naive)


# --- over time: the series the charts show ---

# Five hand-checked days: |actual - predicted| = 1 1 2 1 0, |actual - naive| = 1 2 1 4 1.
ACTUAL_5 = np.array([100.0, 102.0, 101.0, 105.0, 104.0])
PREDICTED_5 = np.array([101.0, 101.0, 103.0, 104.0, 104.0])
NAIVE_5 = np.array([99.0, 100.0, 102.0, 101.0, 105.0])


def test_cumulative_excess_error_by_hand():
    # differences 0 -1 +1 -3 -1
    assert metrics.cumulative_excess_error(ACTUAL_5, PREDICTED_5, NAIVE_5) == pytest.approx([0, -1, 0, -3, -4])
    # the total is days * (model MAE - naive MAE)
    assert metrics.cumulative_excess_error(ACTUAL_5, PREDICTED_5, NAIVE_5)[-1] == pytest.approx(5 * (1.0 - 1.8))


def test_rolling_mae_ratio_by_hand():
    # 2-day means: model 1, 1.5, 1.5, 0.5; naive 1.5, 1.5, 2.5, 2.5
    ratio = metrics.rolling_mae_ratio(ACTUAL_5, PREDICTED_5, NAIVE_5, days=2)
    assert math.isnan(ratio[0])
    assert ratio[1:] == pytest.approx([2 / 3, 1.0, 0.6, 0.2])
    assert np.isnan(metrics.rolling_mae_ratio(ACTUAL_5, PREDICTED_5, NAIVE_5, days=3)[:2]).all()
    assert metrics.rolling_mae_ratio(ACTUAL_5, PREDICTED_5, NAIVE_5, days=1) == pytest.approx([1, 0.5, 2, 0.25, 0])


def test_rolling_mae_ratio_is_nan_where_naive_is_exact():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    naive = np.array([1.0, 2.0, 3.0, 5.0])       # exact on the first three days
    predicted = np.array([2.0, 2.0, 3.0, 4.0])
    ratio = metrics.rolling_mae_ratio(actual, predicted, naive, days=2)
    assert np.isnan(ratio[:3]).all()
    assert ratio[3] == 0.0


def test_helpers_reject_misaligned_arrays():
    with pytest.raises(ValueError, match="same length"):
        metrics.cumulative_excess_error(ACTUAL_5, PREDICTED_5[:4], NAIVE_5)
    with pytest.raises(ValueError, match="same length"):
        metrics.rolling_mae_ratio(ACTUAL_5, PREDICTED_5, NAIVE_5[:3], days=2)


def test_period_mae_ratio_by_hand():
    # 2024-12-30..2025-01-03; |actual - predicted| = 1 1 | 2 1 0, |actual - naive| = 1 2 | 1 4 1.
    dates = pd.date_range("2024-12-30", periods=5)
    first, last, ratio = metrics.period_mae_ratio(dates, ACTUAL_5, PREDICTED_5, NAIVE_5, "Y")
    assert list(first) == [pd.Timestamp("2024-12-30"), pd.Timestamp("2025-01-01")]
    assert list(last) == [pd.Timestamp("2024-12-31"), pd.Timestamp("2025-01-03")]
    assert ratio == pytest.approx([1 / 1.5, 1 / 2])
    _, _, flat = metrics.period_mae_ratio(dates, ACTUAL_5, PREDICTED_5, ACTUAL_5, "M")  # naive exact: no ratio
    assert np.isnan(flat).all()
