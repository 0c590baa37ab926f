"""Interval methods whose width follows volatility, and the tests that judge any interval's misses
(issue 20). Pure functions over arrays, in the model's log-return space like `intervals`:

- an EWMA volatility forecast known the day before (RiskMetrics, lambda 0.94);
- volatility-scaled split conformal: scores |log(actual / predicted)| / sigma_t, band
  predicted * exp(+-q * sigma_t);
- Mondrian (conditional) conformal by ex-ante volatility tercile, cut points fixed on the
  calibration days, one q per group;
- adaptive conformal inference (Gibbs and Candes 2021): alpha_{t+1} = alpha_t + gamma (alpha - miss_t);
- GARCH(1,1) with Student-t errors (the `arch` package), fitted on training days and filtered
  forward without refitting: the baseline a risk analyst tries first;
- Wilson's interval for a coverage and Christoffersen's test of independent misses.

Calibration days are validation days only; nothing here sees a test day before it is forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import xlogy

from .intervals import band, conformal_quantile, log_scores

RISKMETRICS_LAMBDA = 0.94  # J.P. Morgan RiskMetrics (1996), daily data


def ewma_sigma(returns, lam: float = RISKMETRICS_LAMBDA, initial_variance: float | None = None) -> np.ndarray:
    """sigma_t for each day t of `returns` (n daily log returns) from returns 0..t-1 only:
    var_t = lam var_{t-1} + (1 - lam) r_{t-1}^2, var_0 = `initial_variance` (default: the mean square
    of `returns`, which only a caller passing training days may use). (n,) -> (n,)."""
    r = np.asarray(returns, dtype="float64")
    if not 0 < lam < 1:
        raise ValueError(f"lambda must be between 0 and 1, got {lam}")
    var = np.empty(len(r))
    var[0] = float(np.mean(r ** 2)) if initial_variance is None else initial_variance
    for t in range(1, len(r)):
        var[t] = lam * var[t - 1] + (1 - lam) * r[t - 1] ** 2
    return np.sqrt(var)


def mean_square_return(X, y) -> float:
    """The mean squared daily log return of the closes that consecutive windows X (n, window) and
    their targets y (n,) cover: the training days' variance that seeds the EWMA."""
    closes = np.concatenate([np.asarray(X, dtype="float64")[0], np.asarray(y, dtype="float64")])  # (window + n,)
    return float(np.mean(np.diff(np.log(closes)) ** 2))


def window_sigma(X, initial_variance: float, lam: float = RISKMETRICS_LAMBDA) -> np.ndarray:
    """The EWMA sigma of each window's target day, from the window's own daily log returns (all
    known the day before), started at `initial_variance`: ewma_sigma over the window's returns, one
    step past the last. (n, window) -> (n,). After 59 returns the start weighs lam^59 = 2.6%."""
    returns = np.diff(np.log(np.asarray(X, dtype="float64")), axis=1)  # (n, window - 1)
    k = returns.shape[1]
    weights = (1 - lam) * lam ** np.arange(k - 1, -1, -1)               # (window - 1,): the latest return weighs most
    return np.sqrt(lam ** k * initial_variance + returns ** 2 @ weights)


def scaled_quantile(actual, predicted, sigma, level: float) -> float:
    """The conformal q of the volatility-scaled scores |log(actual / predicted)| / sigma."""
    return conformal_quantile(log_scores(actual, predicted) / np.asarray(sigma, dtype="float64"), level)


def scaled_band(point, sigma, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) = point * exp(-+q sigma_t): wide on wild days, narrow on calm ones."""
    return band(point, q * np.asarray(sigma, dtype="float64"))


@dataclass(frozen=True)
class Mondrian:
    cuts: tuple[float, float]            # sigma at the calibration days' tercile boundaries
    q: tuple[float, float, float]        # conformal q (log units) of the calm, middle and volatile group
    days: tuple[int, int, int]           # calibration days per group

    def group(self, sigma) -> np.ndarray:
        """0 calm, 1 middle, 2 volatile, by the fixed cut points."""
        return np.searchsorted(np.asarray(self.cuts), np.asarray(sigma, dtype="float64"), side="right")

    def band(self, point, sigma) -> tuple[np.ndarray, np.ndarray]:
        return band(point, np.asarray(self.q)[self.group(sigma)])


def mondrian(actual, predicted, sigma, level: float) -> Mondrian:
    """Split conformal per ex-ante volatility tercile of the calibration days: a group with too
    few days for `level` gets an unbounded q (inf), the honest answer."""
    sigma, scores = np.asarray(sigma, dtype="float64"), log_scores(actual, predicted)
    cuts = tuple(float(c) for c in np.quantile(sigma, [1 / 3, 2 / 3]))
    group = np.searchsorted(np.asarray(cuts), sigma, side="right")
    return Mondrian(cuts=cuts, q=tuple(conformal_quantile(scores[group == g], level) for g in range(3)),
                    days=tuple(int((group == g).sum()) for g in range(3)))


def aci_alphas(misses, level: float, gamma: float, alpha0: float | None = None) -> np.ndarray:
    """The miss rate ACI targets on each day, from the misses of the days before:
    alpha_{t+1} = alpha_t + gamma (alpha - miss_t), alpha_0 = `alpha0` (default 1 - level/100).
    (n,) misses -> (n,) alphas, alpha_t used for day t."""
    alpha = 1 - level / 100
    misses = np.asarray(misses, dtype="float64")
    path = np.empty(len(misses))
    path[0] = alpha if alpha0 is None else alpha0
    for t in range(1, len(misses)):
        path[t] = path[t - 1] + gamma * (alpha - misses[t - 1])
    return path


@dataclass(frozen=True)
class GarchT:
    omega: float   # in squared percent: arch fits returns in percent, where its optimiser is at home
    alpha: float
    beta: float
    nu: float      # Student-t degrees of freedom
    sigma: np.ndarray  # (n,) sigma_t (log units) for each day, from the returns before it

    def z(self, level: float) -> float:
        """The two-sided `level` quantile of arch's unit-variance Student t."""
        return float(stats.t.ppf(0.5 + level / 200, self.nu) * math.sqrt((self.nu - 2) / self.nu))


def garch_t(returns, train_days: int) -> GarchT:
    """GARCH(1,1), zero mean, Student-t errors, fitted on the first `train_days` of `returns` (daily
    log returns) and run over all of them with those parameters: sigma_t of day t uses returns
    0..t-1 only (day 0: arch's backcast from the training days)."""
    from arch import arch_model  # statsmodels and arch load only where the GARCH baseline is wanted

    r = 100 * np.asarray(returns, dtype="float64")
    fit = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, dist="t").fit(last_obs=train_days, disp="off")
    variance = fit.forecast(horizon=1, start=0, reindex=False).variance.to_numpy()[:, 0]  # (n,): for day t + 1
    # made at the close of day t, so day t's sigma is the forecast made the day before
    first = fit.conditional_volatility[0]
    sigma = np.concatenate([[first], np.sqrt(variance[:-1])]) / 100
    params = fit.params
    return GarchT(float(params["omega"]), float(params["alpha[1]"]), float(params["beta[1]"]), float(params["nu"]), sigma)


# --- judging the misses ----------------------------------------------------------------------

def wilson_interval(inside: int, days: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a coverage of `inside` out of `days` (scipy's binomtest)."""
    ci = stats.binomtest(inside, days).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Christoffersen:
    statistic: float   # likelihood ratio, chi2(1) under independent misses
    p_value: float
    transitions: tuple[int, int, int, int]  # n00, n01, n10, n11 (0 inside, 1 missed; from, to)


def christoffersen_independence(misses) -> Christoffersen:
    """Christoffersen (1998): do misses cluster? Markov-chain likelihood of the day-to-day transitions
    against one miss rate for all days. NaN when there is nothing to test (no miss, or only misses)."""
    m = np.asarray(misses, dtype=bool).astype(int)
    pairs = m[:-1] * 2 + m[1:]
    n00, n01, n10, n11 = (int((pairs == k).sum()) for k in range(4))
    if n01 + n11 == 0 or n00 + n10 == 0:
        return Christoffersen(math.nan, math.nan, (n00, n01, n10, n11))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    log_null = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    log_alt = xlogy(n00, 1 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1 - pi1) + xlogy(n11, pi1)
    lr = float(-2 * (log_null - log_alt))
    return Christoffersen(lr, float(stats.chi2.sf(lr, df=1)), (n00, n01, n10, n11))
