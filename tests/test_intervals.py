"""Prediction intervals against hand-computed values: the conformal rank and quantile, the
band, coverage, Kupiec's test, the Winkler score and the volatility thirds."""

import math

import numpy as np
import pytest

from forecast import intervals

SCORES = [0.5, 0.1, 0.4, 0.2, 0.3]  # sorted: 0.1 0.2 0.3 0.4 0.5


@pytest.mark.parametrize(("n", "level", "rank"), [
    (5, 50, 3),     # ceil(6 * 0.5) = 3
    (5, 80, 5),     # ceil(6 * 0.8) = ceil(4.8) = 5
    (5, 90, 6),     # ceil(5.4) = 6 > 5: unbounded
    (99, 80, 80),   # exactly 80, not 81 from 0.8's binary expansion
    (19, 95, 19),   # the smallest n with a bounded 95% interval
    (18, 95, 19),
])
def test_conformal_rank_has_the_n_plus_one_correction(n, level, rank):
    assert intervals.conformal_rank(n, level) == rank


def test_conformal_quantile_by_hand():
    assert intervals.conformal_quantile(SCORES, 50) == 0.3
    assert intervals.conformal_quantile(SCORES, 80) == 0.5
    assert intervals.conformal_quantile(SCORES, 90) == math.inf


def test_calibrate_scores_in_log_space():
    actual = np.array([100.0, 110.0, 90.0])
    predicted = np.array([100.0, 100.0, 100.0])
    cal = intervals.calibrate(actual, predicted, previous=actual * 2, levels=(50,), first_date="a", last_date="b")
    # |log(actual/predicted)|: 0, log 1.1, log(10/9); rank ceil(4 * 0.5) = 2 -> the 2nd smallest.
    assert cal.model == {50.0: pytest.approx(math.log(1.1))}
    assert cal.naive == {50.0: pytest.approx(math.log(2))}
    assert (cal.days, cal.levels) == (3, (50.0,))


@pytest.mark.parametrize("q", [0.0, 0.01, 0.3, math.inf])
def test_an_interval_always_contains_its_point_forecast(q):
    point = np.array([1.0, 87_508.83, 1e6])
    lower, upper = intervals.band(point, q)
    assert np.all(lower <= point) and np.all(point <= upper)
    if math.isfinite(q):
        np.testing.assert_allclose(upper / point, math.exp(q))


def test_coverage_counts_the_ends_as_inside():
    assert intervals.coverage([90, 100, 110, 111], [90] * 4, [110] * 4) == 0.75


def kupiec_by_hand(x, n, p):
    log_null = (n - x) * math.log(1 - p) + (x * math.log(p) if x else 0)
    rate = x / n
    log_alt = (n - x) * math.log(1 - rate) + (x * math.log(rate) if x else 0)
    lr = -2 * (log_null - log_alt)
    return math.erfc(math.sqrt(lr / 2))  # chi-squared with 1 df: P(X > lr)


@pytest.mark.parametrize(("misses", "days"), [(3, 10), (0, 10), (20, 100), (40, 100)])
def test_kupiec_p_value(misses, days):
    assert intervals.kupiec_p_value(misses, days, 80) == pytest.approx(kupiec_by_hand(misses, days, 0.2), rel=1e-9)


def test_kupiec_does_not_reject_the_nominal_rate():
    assert intervals.kupiec_p_value(20, 100, 80) == pytest.approx(1.0)
    assert intervals.kupiec_p_value(40, 100, 80) < 1e-4


def test_winkler_score_by_hand():
    # 80%: alpha 0.2, penalty 2/alpha = 10 per USD outside. Width 20 each day; 115 is 5 above
    # (20 + 50), 88 is 2 below (20 + 20), 100 is inside (20): mean 130 / 3.
    lower, upper = np.array([90.0] * 3), np.array([110.0] * 3)
    assert intervals.winkler_score([100, 115, 88], lower, upper, 80) == pytest.approx(130 / 3)


def test_terciles_by_rank():
    groups = intervals.terciles([5.0, 1.0, 3.0, 2.0, 6.0, 4.0])
    assert [sorted(g.tolist()) for g in groups] == [[1, 3], [2, 5], [0, 4]]


def test_trailing_volatility_uses_the_window_only():
    # Window of 4 closes: daily log returns log 2, log 2, 0 over the last 3 days.
    X = np.array([[1.0, 2.0, 4.0, 4.0]])
    r = np.array([math.log(2), math.log(2), 0.0])
    assert intervals.trailing_volatility(X, days=3) == pytest.approx([np.std(r)])


def test_interval_metrics_by_hand():
    actual = np.array([100.0, 115.0, 88.0])
    point = np.array([100.0, 100.0, 100.0])
    m = intervals.interval_metrics(actual, point, point - 10, point + 10, 80, volatility=[3.0, 1.0, 2.0])
    assert m.coverage == pytest.approx(1 / 3)
    assert (m.mean_width, m.mean_width_pct) == pytest.approx((20.0, 20.0))
    assert m.winkler == pytest.approx(130 / 3)
    # By volatility: 115 (vol 1) is the calm third, 88 (vol 2) the middle, 100 (vol 3) the volatile.
    assert m.coverage_by_volatility == (0.0, 0.0, 1.0)
    assert m.kupiec_p_value == pytest.approx(kupiec_by_hand(2, 3, 0.2))
    assert not m.unbounded
