"""interval_methods: every number from a hand computation or a closed form."""

import math
from dataclasses import replace

import numpy as np
import pytest

from forecast import intervals
from forecast.csv_source import load_csv
from forecast.interval_methods import (ONLINE, PREDICT_METHODS, Days, GarchT, aci_alphas, calibrate_volatility,
                                       christoffersen_independence, ewma_sigma, garch_for, garch_t, half_widths,
                                       mean_square_return, method_metrics, mondrian, saved_widths, scaled_band,
                                       scaled_quantile, wilson_interval, window_sigma)
from tests.conftest import REAL_CSV


def test_ewma_sigma_uses_only_the_days_before():
    # var_0 = 0.04; var_1 = 0.5 * 0.04 + 0.5 * 0.1^2 = 0.025; var_2 = 0.5 * 0.025 + 0.5 * 0^2 = 0.0125
    sigma = ewma_sigma([0.1, 0.0, 0.2], lam=0.5, initial_variance=0.04)
    np.testing.assert_allclose(sigma, np.sqrt([0.04, 0.025, 0.0125]))
    # The last return (0.2) is in no sigma: it would only move the day after.
    np.testing.assert_array_equal(sigma, ewma_sigma([0.1, 0.0, -5.0], lam=0.5, initial_variance=0.04))
    np.testing.assert_allclose(ewma_sigma([0.1, 0.3], lam=0.5)[0], math.sqrt((0.01 + 0.09) / 2))  # mean square


@pytest.mark.parametrize("lam", [0.0, 1.0, 1.5])
def test_ewma_lambda_outside_0_1_is_refused(lam):
    with pytest.raises(ValueError) as info:
        ewma_sigma([0.1, 0.2], lam=lam)
    assert str(info.value) == f"lambda must be between 0 and 1, got {lam}"


PREDICTED = np.full(9, 100.0)
ACTUAL = PREDICTED * np.exp([0.01, -0.03, 0.02, -0.05, 0.04, -0.02, 0.06, -0.01, 0.03])  # scores 1..6 %: .01 .03 .02 .05 .04 .02 .06 .01 .03


def test_constant_volatility_scaled_and_fixed_agree():
    sigma = np.full(9, 0.02)
    q_scaled = scaled_quantile(ACTUAL, PREDICTED, sigma, 80)
    q_fixed = intervals.conformal_quantile(intervals.log_scores(ACTUAL, PREDICTED), 80)
    assert q_fixed == pytest.approx(0.05)  # the 8th (ceil(10 * 0.8)) of .01 .01 .02 .02 .03 .03 .04 .05 .06
    assert q_scaled == pytest.approx(q_fixed / 0.02)
    point = np.array([50.0, 200.0])
    np.testing.assert_allclose(scaled_band(point, [0.02, 0.02], q_scaled), intervals.band(point, q_fixed))


def test_a_volatility_jump_widens_only_the_scaled_band():
    q_scaled = scaled_quantile(ACTUAL, PREDICTED, np.full(9, 0.02), 80)
    q_fixed = intervals.conformal_quantile(intervals.log_scores(ACTUAL, PREDICTED), 80)
    point, sigma = np.array([100.0, 100.0]), np.array([0.02, 0.04])  # the market's volatility doubles
    lower, upper = scaled_band(point, sigma, q_scaled)
    np.testing.assert_allclose(np.log(upper / point), [0.05, 0.10])  # half-width in log units doubles
    fixed_lower, fixed_upper = intervals.band(point, q_fixed)
    assert fixed_upper[0] == fixed_upper[1] and lower[1] < fixed_lower[1]


def test_mondrian_has_one_q_per_tercile_and_is_unbounded_where_days_are_too_few():
    sigma = np.arange(1.0, 10.0)  # cut points at the 1/3 and 2/3 quantiles: 3 2/3 and 6 1/3
    scores = np.array([0.01, 0.03, 0.02, 0.05, 0.04, 0.06, 0.08, 0.07, 0.09])
    actual = PREDICTED * np.exp(scores)
    half = mondrian(actual, PREDICTED, sigma, 50)  # rank ceil(4 * 0.5) = 2 of each group's 3 scores
    assert half.cuts == pytest.approx((11 / 3, 19 / 3)) and half.days == (3, 3, 3)
    assert half.q == pytest.approx((0.02, 0.05, 0.08))
    np.testing.assert_array_equal(half.group([0.5, 3.6, 3.7, 6.4, 100]), [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(half.group(list(half.cuts)), [1, 2])  # a day at a cut point: the group above
    lower, upper = half.band([100.0, 100.0], [2.0, 8.0])
    np.testing.assert_allclose(np.log(upper / 100), [0.02, 0.08])
    assert mondrian(actual, PREDICTED, sigma, 80).q == (math.inf,) * 3  # rank ceil(4 * 0.8) = 4 > 3 days
    # Seven days: the cut points are days 3 and 5 themselves, and they go to the group above, as in group().
    seven = mondrian(actual[:7], PREDICTED[:7], sigma[:7], 50)
    assert seven.cuts == (3.0, 5.0) and seven.days == (2, 2, 3)
    assert seven.days == tuple(np.bincount(seven.group(sigma[:7]), minlength=3))


def test_aci_alpha_path_on_a_known_miss_sequence():
    # alpha 0.2, gamma 0.1: 0.2; 0.2 + 0.1 (0.2 - 1) = 0.12; 0.12 + 0.02 = 0.14; 0.16; then a miss: 0.08
    np.testing.assert_allclose(aci_alphas([1, 0, 0, 1, 0], 80, 0.1), [0.2, 0.12, 0.14, 0.16, 0.08])
    np.testing.assert_allclose(aci_alphas([0, 0], 95, 0.5, alpha0=0.1), [0.1, 0.125])


def test_wilson_interval_closed_form():
    k, n, z = 8, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))


def test_christoffersen_closed_form():
    misses = [0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0]  # transitions: 00 x3, 01 x2, 10 x2, 11 x3
    result = christoffersen_independence(misses)
    assert result.transitions == (3, 2, 2, 3)
    log_null = 5 * math.log(5 / 10) + 5 * math.log(5 / 10)  # one miss rate, 5 of the 10 days after another
    # a miss after a hit 2 of 5, after a miss 3 of 5
    log_alt = 3 * math.log(3 / 5) + 2 * math.log(2 / 5) + 2 * math.log(2 / 5) + 3 * math.log(3 / 5)
    lr = -2 * (log_null - log_alt)
    assert result.statistic == pytest.approx(lr)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(lr / 2)))  # chi2(1) survival


def test_christoffersen_without_misses_has_nothing_to_test():
    result = christoffersen_independence([0, 0, 0, 0])
    assert math.isnan(result.statistic) and math.isnan(result.p_value) and result.transitions == (3, 0, 0, 0)


def test_garch_is_fitted_on_training_days_and_filtered_forward_with_the_same_parameters():
    rng = np.random.default_rng(5)
    shocks, var, calm = rng.standard_t(6, 300) / math.sqrt(1.5), 1.0, []  # unit-variance t(6)
    for e in shocks:  # a GARCH(1,1) in percent: omega 0.05, alpha 0.1, beta 0.85, about 1% a day
        calm.append(math.sqrt(var) * e / 100)
        var = 0.05 + 0.1 * (100 * calm[-1]) ** 2 + 0.85 * var
    wild = rng.standard_t(6, 100) / math.sqrt(1.5) * 0.04  # then volatility quadruples, on day 300
    returns = np.concatenate([calm, wild])
    fit = garch_t(returns, train_days=300)
    assert fit.sigma.shape == (400,) and fit.nu > 2 and 0 < fit.alpha and 0 < fit.beta < 1
    # Day t's variance follows from day t-1's return and variance: the GARCH(1,1) recursion, in percent.
    var = (100 * fit.sigma) ** 2
    expected = fit.omega + fit.alpha * (100 * returns[:-1]) ** 2 + fit.beta * var[:-1]
    np.testing.assert_allclose(var[1:], expected, rtol=1e-6)
    # The same parameters whatever follows the training days: nothing after them is fitted.
    other = garch_t(np.concatenate([calm, wild[::-1]]), train_days=300)
    assert (other.omega, other.alpha, other.beta, other.nu) == (fit.omega, fit.alpha, fit.beta, fit.nu)
    np.testing.assert_array_equal(other.sigma[:301], fit.sigma[:301])  # day 300's sigma is known on day 299
    assert fit.sigma[330:].mean() > 2 * fit.sigma[:300].mean()  # it follows the wild days
    # arch's t has unit variance: the 95% quantile of t(nu) scaled by sqrt((nu - 2) / nu)
    from scipy import stats
    assert fit.z(95) == pytest.approx(stats.t.ppf(0.975, fit.nu) * math.sqrt((fit.nu - 2) / fit.nu))


# --- sigma from a window, the methods by name, how a band held -------------------------------------

def test_window_sigma_is_the_ewma_of_the_windows_own_returns():
    X = np.array([[100.0, 110.0, 99.0], [50.0, 50.0, 50.0]])
    r0, r1 = math.log(1.1), math.log(0.9)
    # var_0 = 0.01; after r0: 0.5 * 0.01 + 0.5 r0^2; after r1: 0.5 * that + 0.5 r1^2. Flat closes: 0.25 * 0.01
    expected = [math.sqrt(0.5 * (0.5 * 0.01 + 0.5 * r0 ** 2) + 0.5 * r1 ** 2), math.sqrt(0.25 * 0.01)]
    np.testing.assert_allclose(window_sigma(X, 0.01, lam=0.5), expected)
    # the default lambda is RiskMetrics' 0.94
    np.testing.assert_allclose(window_sigma(X[:1], 0.01),
                               math.sqrt(0.94 * (0.94 * 0.01 + 0.06 * r0 ** 2) + 0.06 * r1 ** 2))


def test_mean_square_return_covers_the_windows_and_their_targets():
    # consecutive windows [100, 110] and [110, 99] with targets 99 and 99: closes 100 110 99 99
    assert mean_square_return([[100.0, 110.0], [110.0, 99.0]], [99.0, 99.0]) == pytest.approx(
        (math.log(1.1) ** 2 + math.log(0.9) ** 2 + 0.0) / 3)


def test_method_metrics_by_hand():
    actual, point, vol = np.array([100.0, 103.0, 90.0, 110.0]), np.full(4, 100.0), [1, 2, 3, 4]
    w = math.log(1.05)  # band 95.238..105 around every forecast of 100
    m = method_metrics(actual, point, np.full(4, w), 80, vol)
    lower, upper = 100 / 1.05, 105.0
    assert m.coverage == 0.5 and m.days == 4 and not m.unbounded
    assert m.coverage_by_volatility == (1.0, 0.0, 0.0)  # thirds of 4 days: 2, 1, 1
    assert m.mean_width_pct == pytest.approx(upper - lower)  # % of a forecast of 100
    # Winkler with alpha 0.2: width + 10 x the distance outside
    assert m.interval_score_pct == pytest.approx(upper - lower + (10 * (lower - 90) + 10 * (110 - upper)) / 4)
    # pinball at the 10% quantile (lower) and the 90% (upper), averaged over the two
    low_loss = [0.1 * (a - lower) if a >= lower else 0.9 * (lower - a) for a in actual]
    high_loss = [0.9 * (a - upper) if a >= upper else 0.1 * (upper - a) for a in actual]
    assert m.pinball_pct == pytest.approx((np.mean(low_loss) + np.mean(high_loss)) / 2)
    assert m.wilson == wilson_interval(2, 4)
    assert m.kupiec_p_value == intervals.kupiec_p_value(2, 4, 80)
    assert m.christoffersen_p_value == christoffersen_independence([0, 0, 1, 1]).p_value
    wide = method_metrics(actual, point, [w, w, math.inf, w], 80, vol)
    assert wide.unbounded and math.isinf(wide.interval_score_pct) and math.isinf(wide.pinball_pct)
    assert wide.coverage == 0.75


def _days(actual, point, sigma, garch=None):
    return Days(np.asarray(point, dtype=float), np.asarray(actual, dtype=float), np.asarray(sigma, dtype=float), garch)


def test_each_method_by_name():
    cal = _days(ACTUAL, PREDICTED, np.full(9, 0.02))
    days = _days([100.0, 100.0], [100.0, 100.0], [0.01, 0.04])
    np.testing.assert_allclose(half_widths("fixed", cal, days, 80), [0.05, 0.05])
    np.testing.assert_allclose(half_widths("scaled", cal, days, 80), [0.025, 0.10])  # q 2.5 sigmas
    np.testing.assert_allclose(half_widths("gauss", cal, days, 80), 1.2815515655446004 * np.array([0.01, 0.04]))
    fit = GarchT(0.1, 0.1, 0.8, 5.0, np.array([0.03, 0.02]))
    np.testing.assert_allclose(half_widths("garch-t", cal, replace(days, garch=fit), 80), fit.z(80) * fit.sigma)
    with pytest.raises(ValueError) as info:
        half_widths("conformal", cal, days, 80)
    assert str(info.value) == "unknown interval method 'conformal'; valid: fixed, scaled, mondrian, aci, gauss, garch-t"


@pytest.mark.parametrize(("gamma", "expected"), [
    # a miss on day 0 (score 0.10 > 0.05): alpha 0.2 + 0.1 (0.2 - 1) = 0.12, the 9th of 9 scores (rank
    # ceil(10 * 0.88)); day 1 holds: alpha 0.12 + 0.1 * 0.2 = 0.14, rank ceil(8.6) = 9 again
    (0.1, [0.05, 0.06, 0.06]),
    # gamma 0.3: alpha 0.2 - 0.24 < 0 after the miss: no finite band is wide enough
    (0.3, [0.05, math.inf, math.inf]),
])
def test_aci_widens_after_a_miss(gamma, expected):
    cal = _days(ACTUAL, PREDICTED, np.ones(9))  # scores .01 .03 .02 .05 .04 .02 .06 .01 .03
    days = _days(100 * np.exp([0.10, 0.0, 0.0]), np.full(3, 100.0), np.ones(3))
    np.testing.assert_allclose(half_widths("aci", cal, days, 80, gamma), expected)


def test_a_saved_calibration_draws_the_bands_the_methods_draw():
    rng = np.random.default_rng(3)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    X = np.lib.stride_tricks.sliding_window_view(closes[:-1], 20)  # (181, 20)
    y, point = closes[20:], closes[19:-1] * np.exp(rng.normal(0, 0.005, 180))
    tv = mean_square_return(X[:100], y[:100])
    val, test = slice(100, 150), slice(150, 180)
    vc = calibrate_volatility(y[val], point[val], X[val][:, -1], X[val], (80.0, 95.0), tv)
    assert vc.train_variance == tv and vc.median_sigma == float(np.median(window_sigma(X[val], tv)))
    for who, centre in (("model", point), ("naive", X[:, -1])):
        cal = _days(y[val], centre[val], window_sigma(X[val], tv))
        days = _days(y[test], centre[test], window_sigma(X[test], tv))
        for method in (m for m in PREDICT_METHODS if m not in ONLINE):  # aci: over a run of days (inference)
            for level in (80.0, 95.0):
                fixed_q = intervals.conformal_quantile(intervals.log_scores(y[val], centre[val]), level)
                np.testing.assert_allclose(saved_widths(method, fixed_q, vc, who, days.sigma, level),
                                           half_widths(method, cal, days, level), err_msg=f"{method} {who} {level}")


def test_garch_for_reads_only_the_returns_before_each_target():
    closes = load_csv(REAL_CSV).close.to_numpy()[:400]  # real BTC: a GARCH fit with alpha > 0 (iid draws give 0)
    fit, = garch_for(closes, 300, [310, 320])
    one, two = garch_for(closes, 300, [310], [320])  # one fit, two parts
    assert (one.sigma[0], two.sigma[0]) == tuple(fit.sigma) and one.alpha == two.alpha == fit.alpha
    assert fit.alpha > 0.01
    whole = garch_t(np.diff(np.log(closes[:321])), train_days=299)
    np.testing.assert_array_equal(fit.sigma, whole.sigma[[309, 319]])  # return k is close k+1's
    changed = closes.copy()
    changed[320] *= 1.5  # the target day's own close, and anything after, is never read for its sigma
    np.testing.assert_array_equal(garch_for(changed, 300, [310, 320])[0].sigma, fit.sigma)
    changed[319] *= 1.5  # the day before's close is: its return moves the target's sigma
    assert garch_for(changed, 300, [310, 320])[0].sigma[1] != fit.sigma[1]
