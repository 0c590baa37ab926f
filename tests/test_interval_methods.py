"""interval_methods: every number from a hand computation or a closed form."""

import math

import numpy as np
import pytest

from forecast import intervals
from forecast.interval_methods import (aci_alphas, christoffersen_independence, ewma_sigma, garch_t, mondrian,
                                       scaled_band, scaled_quantile, wilson_interval)


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
