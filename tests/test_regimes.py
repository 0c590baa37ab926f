"""regimes: each day's year, trend and volatility tercile, the numbers per group and the power of the
GRU-vs-LSTM test, on arrays small enough to say every answer by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast import metrics, regimes


def test_trend_boundaries_are_sideways():
    """Strict inequalities: a log return of exactly +0.10 or -0.10 is sideways; the next float past
    either is bull or bear; NaN (too little history) is unknown."""
    returns = np.array([0.10, -0.10, np.nextafter(0.10, 1), np.nextafter(-0.10, -1), 0.0, math.nan])
    assert regimes.trend_labels(returns).tolist() == ["sideways", "sideways", "bull", "bear", "sideways", "unknown"]


def closes() -> pd.Series:
    """100 daily closes from 2023-10-01: 100 USD on days 0..90, then 115, 110, 90, 91 on days 91..94
    and 100 after."""
    close = np.full(100, 100.0)
    close[91:95] = [115.0, 110.0, 90.0, 91.0]
    return pd.Series(close, index=pd.date_range("2023-10-01", periods=100, freq="D"))


def test_each_days_trend_from_the_close_ninety_days_before_the_day_before():
    """Day p's trend is log(close[p-1] / close[p-91]), every base close 100: day 90 has no close[-1]
    (unknown); day 91 log(100/100) = 0; day 92 log(1.15) = 0.140 (bull); day 93 log(1.10) = 0.095
    (sideways: +10% in price is less than +0.10 in log); day 94 log(0.90) = -0.105 (bear); day 95
    log(0.91) = -0.094 (sideways). Nothing from day p itself: day 91's close of 115 shows only on day 92."""
    close = closes()
    returns = regimes.trailing_return(close.to_numpy(), np.arange(90, 96))
    assert np.isnan(returns[0])
    assert returns[1:] == pytest.approx([0.0, *np.log([1.15, 1.10, 0.90, 0.91])], abs=1e-15)
    labels = regimes.label_days(close, close.index[90:96], np.arange(6.0), 4)
    assert labels.trend.tolist() == ["unknown", "sideways", "bull", "sideways", "bear", "sideways"]
    assert labels.year.tolist() == [2023] * 2 + [2024] * 4  # 2023-12-30, 2023-12-31, then 2024-01-01..04
    with pytest.raises(ValueError, match="every day to label must be in the close series"):
        regimes.label_days(close, pd.DatetimeIndex(["2030-01-01"]), np.zeros(1), 4)


def test_volatility_terciles_by_rank_ties_by_position():
    """Ranks of [0.03, 0.01, 0.02, 0.01, 0.05, 0.04]: days 1 and 3 (0.01, the tie in position order)
    calm, days 2 and 0 middle, days 5 and 4 volatile; the cuts are the highest of the calm (0.01) and
    the middle third (0.03). Seven days: thirds of 3, 2 and 2."""
    labels, cuts = regimes.volatility_labels(np.array([0.03, 0.01, 0.02, 0.01, 0.05, 0.04]))
    assert labels.tolist() == ["middle", "calm", "middle", "calm", "volatile", "volatile"]
    assert cuts == (0.01, 0.03)
    labels, cuts = regimes.volatility_labels(np.arange(7.0)[::-1])
    assert labels.tolist() == ["volatile"] * 2 + ["middle"] * 2 + ["calm"] * 3 and cuts == (2.0, 4.0)


# Six days, actual 100, naive 10 USD off every day. GRU errors per seed, LSTM's below; the first
# three days bull, the next two bear, the last sideways.
ACTUAL, PREVIOUS = np.full(6, 100.0), np.array([90.0, 110, 90, 110, 90, 110])
GRU = (100 + np.array([0.0, 0, -15, 20, -20, 10]), 100 + np.array([10.0, -10, 10, 10, 10, 0]))
LSTM = (100 + np.array([5.0, 5, 5, 5, 5, 5]), 100 + np.array([-10.0, 10, 10, -10, 10, 10]))
TREND = np.array(["bull"] * 3 + ["bear"] * 2 + ["sideways"], dtype=object)


def test_group_ratios_over_seeds_and_dm_on_the_first_seed():
    """Bull days: GRU seed 1 MAE 5 (ratio 0.5), RMSE sqrt(225/3) = 8.660 (0.866); seed 2 MAE and RMSE
    10 (1.0). Bear: GRU 20 and 10 (2.0 and 1.0). Sideways, one day: GRU 10 and 0, no DM test."""
    points = {"gru": GRU, "lstm": LSTM}
    bull, sideways, bear = regimes.by_labels(TREND, regimes.TRENDS, ACTUAL, PREVIOUS, points)
    assert (bull.name, bull.days, bull.naive_mae, bull.naive_rmse) == ("bull", 3, 10.0, 10.0)
    assert bull.cells["gru"].mae_ratio.values == (0.5, 1.0)
    assert bull.cells["gru"].mae_ratio.mean == 0.75 and bull.cells["gru"].mae_ratio.std == pytest.approx(0.5 ** 0.5 / 2)
    assert bull.cells["gru"].rmse_ratio.values == pytest.approx((75 ** 0.5 / 10, 1.0))
    assert bull.cells["lstm"].mae_ratio.values == (0.5, 1.0) and bull.cells["gru"].folds_ahead is None
    assert bear.cells["gru"].mae_ratio.values == (2.0, 1.0) and bear.cells["lstm"].rmse_ratio.values == (0.5, 1.0)
    assert bull.dm == metrics.dm_tests(ACTUAL[:3], {"gru": GRU[0][:3], "lstm": LSTM[0][:3], "naive": PREVIOUS[:3]})
    assert bear.dm is None and sideways.dm is None  # 2 days and 1 day: under the 3 a DM test needs
    assert (sideways.days, sideways.cells["gru"].mae_ratio.values) == (1, (1.0, 0.0))
    no_bull = regimes.by_labels(np.array(["bear"] * 6, dtype=object), regimes.TRENDS, ACTUAL, PREVIOUS, points)
    assert [g.name for g in no_bull] == ["bear"]  # a label without days is left out


def test_folds_per_year_by_their_days_and_ahead_of_naive():
    """Days 2023, 2023, 2024, 2024, 2024, 2024. Folds of 3 and 3: 2023 holds 2 of fold 1's days, 2024
    all of fold 2's. Folds of 4 and 2: fold 1 is split 2/2 and goes to the earlier year."""
    year = np.array([2023] * 2 + [2024] * 4)
    assert regimes.fold_years(year, [3, 3]) == [2023, 2024]
    assert regimes.fold_years(year, [4, 2]) == [2023, 2024]
    assert regimes.fold_years(year, [2, 2, 2]) == [2023, 2024, 2024]
    groups = regimes.by_year(year, ACTUAL, PREVIOUS, {"gru": GRU, "lstm": LSTM}, [2, 2, 2],
                             {"gru": [True, False, True], "lstm": [False, False, False]})
    assert [(g.name, g.days, g.folds) for g in groups] == [("2023", 2, 1), ("2024", 4, 2)]
    assert [(g.cells["gru"].folds_ahead, g.cells["lstm"].folds_ahead) for g in groups] == [(1, 0), (1, 0)]
    assert groups[0].dm is None and groups[1].dm is not None
    assert groups[1].cells["gru"].mae_ratio.values == pytest.approx((1.625, 0.75))  # (15 + 20 + 20 + 10) / 4 / 10


def test_power_is_the_closed_form_on_absolute_errors():
    """Errors GRU -1, 2, -3, 6 and LSTM 0: d = 1, 2, 3, 6, mean 3, sum of squared deviations 14,
    sd = sqrt(14 / 3) = 2.1602; detectable (z_0.975 + z_0.8) * sd / sqrt(4) = 2.8016 * 2.1602 / 2 = 3.0260
    USD, against naive's MAE of 10: 30.26%."""
    actual = np.full(4, 100.0)
    p = regimes.mae_power(actual, actual + [-1, 2, -3, 6], actual, actual - 10)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert z == pytest.approx(2.80158, abs=1e-5)
    assert (p.days, p.alpha, p.power, p.naive_mae) == (4, 0.05, 0.8, 10.0)
    assert p.sd == pytest.approx(math.sqrt(14 / 3), rel=1e-12)
    assert p.detectable == pytest.approx(z * math.sqrt(14 / 3) / 2, rel=1e-12)
    assert p.detectable == pytest.approx(3.0260, abs=1e-4) and p.pct_of_naive == pytest.approx(30.260, abs=1e-3)
    assert all(math.isnan(v) for v in regimes.detectable_difference([5.0]))  # no spread from one day


def test_breakdown_counts_every_day_once_per_grouping():
    close = closes()
    dates = close.index[90:96]
    labels = regimes.label_days(close, dates, np.array([0.03, 0.01, 0.02, 0.01, 0.05, 0.04]), 4)
    b = regimes.breakdown(labels, ACTUAL, PREVIOUS, {"gru": GRU, "lstm": LSTM}, [3, 3],
                          {"gru": [True, False], "lstm": [False, True]})
    for groups in (b.by_year, b.by_trend, b.by_volatility):
        assert sum(g.days for g in groups) == 6
    assert [g.name for g in b.by_trend] == ["bull", "sideways", "bear", "unknown"]
    assert [g.name for g in b.by_volatility] == ["calm", "middle", "volatile"]
    assert b.power == regimes.mae_power(ACTUAL, GRU[0], LSTM[0], PREVIOUS)  # first seed of each, GRU first
