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
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from scipy.special import xlogy
from sklearn.metrics import mean_pinball_loss

from .config import INTERVAL_METHODS
from .intervals import band, conformal_quantile, conformal_rank, kupiec_p_value, log_scores, terciles, winkler_score

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


def scaled_scores(actual, predicted, sigma) -> np.ndarray:
    """|log(actual / predicted)| / sigma; on a day of sigma 0 (flat prices) an exact forecast
    scores 0 and any other inf, rather than NaN."""
    return errors_over_sigma(log_scores(actual, predicted), sigma)


def errors_over_sigma(errors, sigma) -> np.ndarray:
    """scaled_scores from the errors |log(actual / predicted)| themselves. (n,), (n,) -> (n,)"""
    errors, sigma = np.asarray(errors, dtype="float64"), np.asarray(sigma, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(errors == 0, 0.0, errors / sigma)


def times_sigma(q, sigma) -> np.ndarray:
    """q * sigma as a width: an unbounded q stays unbounded even where sigma is 0."""
    q, sigma = np.asarray(q, dtype="float64"), np.asarray(sigma, dtype="float64")
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(q), np.inf, q * sigma)


def scaled_quantile(actual, predicted, sigma, level: float) -> float:
    """The conformal q of the volatility-scaled scores |log(actual / predicted)| / sigma."""
    return conformal_quantile(scaled_scores(actual, predicted, sigma), level)


def scaled_band(point, sigma, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) = point * exp(-+q sigma_t): wide on wild days, narrow on calm ones."""
    return band(point, times_sigma(q, sigma))


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
    return mondrian_of(log_scores(actual, predicted), sigma, level)


def tercile_cuts(sigma) -> tuple[float, float]:
    """The sigmas at a run of days' tercile boundaries: Mondrian's cut points."""
    return tuple(float(c) for c in np.quantile(np.asarray(sigma, dtype="float64"), [1 / 3, 2 / 3]))


def mondrian_of(scores, sigma, level: float) -> Mondrian:
    """`mondrian` from the calibration days' errors |log(actual / predicted)| (n,) and sigmas (n,)."""
    sigma, scores = np.asarray(sigma, dtype="float64"), np.asarray(scores, dtype="float64")
    cuts = tercile_cuts(sigma)
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
    # Flat or very short series make arch warn; a baseline's warnings would reach every command's stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = arch_model(r, mean="Zero", vol="GARCH", p=1, q=1, dist="t").fit(last_obs=train_days, disp="off",
                                                                            show_warning=False)
        variance = fit.forecast(horizon=1, start=0, reindex=False).variance.to_numpy()[:, 0]  # (n,): for day t + 1
    # made at the close of day t, so day t's sigma is the forecast made the day before
    first = fit.conditional_volatility[0]
    sigma = np.concatenate([[first], np.sqrt(variance[:-1])]) / 100
    params = fit.params
    return GarchT(float(params["omega"]), float(params["alpha[1]"]), float(params["beta[1]"]), float(params["nu"]), sigma)


def garch_for(closes, train_closes: int, *parts) -> list[GarchT]:
    """GARCH-t fitted once on the daily log returns among the first `train_closes` of `closes`, as
    one GarchT per array of positions in `parts`, its .sigma for each (each from the returns before it)."""
    parts = [np.asarray(p) for p in parts]
    last = max(int(p.max()) for p in parts)
    returns = np.diff(np.log(np.asarray(closes, dtype="float64")[:last + 1]))  # return k: close k+1 over k
    fit = garch_t(returns, train_days=train_closes - 1)
    return [replace(fit, sigma=fit.sigma[p - 1]) for p in parts]


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


# --- the methods by name, and how each held ----------------------------------------------------

# ACI's step: the miss rate it targets moves by gamma x (nominal - missed) each day. 0.005 is Gibbs and
# Candes' (2021) choice; 0.05 adapts faster but, with a few hundred calibration days, asks for more than
# any score after a single 95% miss (an unbounded day): on models used for years after calibration,
# 0.005 held every case with no unbounded day, 0.05 left up to 12.9% of days unbounded (README).
ACI_GAMMA = 0.005


@dataclass(frozen=True)
class Days:
    """One forecast on a run of days, with what every method reads, all known the day before each
    day but `actual` (which only the online method reads, and only for the days before)."""

    point: np.ndarray                   # (n,) forecasts, USD
    actual: np.ndarray                  # (n,) closes, USD
    sigma: np.ndarray                   # (n,) EWMA sigma, log units
    garch: GarchT | None = None         # its .sigma (n,) on these days; None: the GARCH baseline is not run


def _fixed(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    return np.full(len(days.point), conformal_quantile(log_scores(cal.actual, cal.point), level))


def _scaled(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    return times_sigma(scaled_quantile(cal.actual, cal.point, cal.sigma, level), days.sigma)


def _mondrian(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    m = mondrian(cal.actual, cal.point, cal.sigma, level)
    return np.asarray(m.q)[m.group(days.sigma)]


def _gauss(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    return stats.norm.ppf(0.5 + level / 200) * days.sigma


def _garch(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    return days.garch.z(level) * days.garch.sigma


def _aci(cal: Days, days: Days, level: float, gamma: float) -> np.ndarray:
    return aci_widths(scaled_scores(cal.actual, cal.point, cal.sigma), days, level, gamma)


def aci_q(ascending: np.ndarray, alpha: float) -> float:
    """ACI's q on a day whose target miss rate is `alpha`: the calibration scores' (`ascending`, sorted
    once by the caller, not on every day) conformal quantile at 1 - alpha; unbounded at alpha <= 0 (no
    score is wide enough), zero at alpha >= 1."""
    if alpha <= 0:
        return math.inf
    if alpha >= 1:
        return 0.0
    rank = conformal_rank(len(ascending), 100 * (1 - alpha))
    return float(ascending[rank - 1]) if rank <= len(ascending) else math.inf


def aci_widths(scores, days: Days, level: float, gamma: float = ACI_GAMMA) -> np.ndarray:
    """Volatility-scaled conformal whose level follows the misses so far: day t's q is the
    calibration `scores`' (|log error| / sigma) quantile at 1 - alpha_t (aci_q), alpha_t from the
    misses of the days before (aci_alphas), each day's outcome read only after its band is drawn.
    A day whose actual is NaN (tomorrow, in predict) gets its band; its outcome is never read. (n,)"""
    scores = np.sort(np.asarray(scores, dtype="float64"))             # (n_cal,)
    with np.errstate(invalid="ignore"):
        outcome = log_scores(days.actual, days.point)                 # (n,)
    target, alpha, widths = 1 - level / 100, 1 - level / 100, np.empty(len(days.point))
    for t in range(len(days.point)):
        widths[t] = times_sigma(aci_q(scores, alpha), days.sigma[t])
        alpha += gamma * (target - float(outcome[t] > widths[t]))     # alpha_{t+1}: aci_alphas' step
    return widths


METHODS = {   # name -> half-widths (n,) in log units on `days`, calibrated on `cal`
    "fixed": _fixed,        # split conformal on |log(actual / predicted)| (the method before issue 20)
    "scaled": _scaled,      # the same scores over the EWMA sigma, times today's sigma
    "mondrian": _mondrian,  # fixed-width conformal per EWMA-sigma tercile of the calibration days
    "aci": _aci,            # scaled, with adaptive conformal inference over the days in sequence
    "gauss": _gauss,        # the EWMA sigma times the normal quantile: no calibration
    "garch-t": _garch,      # GARCH(1,1) sigma times its unit-variance t quantile: no calibration
}
ONLINE = ("aci",)  # reads each day's outcome before the next: drawn over a run of days (inference.forecast)


def check_method(name: str) -> str:
    if name not in METHODS:
        raise ValueError(f"unknown interval method {name!r}; valid: {', '.join(METHODS)}")
    return name


def half_widths(method: str, cal: Days, days: Days, level: float, gamma: float = ACI_GAMMA) -> np.ndarray:
    """The half-widths (log units) of `method`'s `level`% band on each of `days`: the band is
    point * exp(+-width). (n,)"""
    return METHODS[check_method(method)](cal, days, level, gamma)


def widths_by_method(cal: Days, days: Days, levels, gamma: float = ACI_GAMMA) -> dict[tuple[str, float], np.ndarray]:
    """Every method's half-widths at every level: (method, level) -> (n,)."""
    return {(method, float(lv)): half_widths(method, cal, days, lv, gamma) for method in METHODS for lv in levels}


@dataclass(frozen=True)
class MethodMetrics:
    level: float                                        # nominal coverage, %
    days: int
    coverage: float                                     # share of days inside
    wilson: tuple[float, float]                         # Wilson 95% interval of the coverage
    kupiec_p_value: float                               # is the miss rate the level's?
    christoffersen_p_value: float                       # do misses cluster? (NaN: nothing to test)
    mean_width_pct: float                               # % of the point forecast
    interval_score_pct: float                           # mean Winkler score, % of the point forecast
    pinball_pct: float                                  # mean pinball loss at the two quantiles, % of the point
    coverage_by_volatility: tuple[float, float, float]  # calm, middle, volatile third of the days
    unbounded: bool                                     # some day's band has no upper end


def method_metrics(actual, point, widths, level: float, volatility) -> MethodMetrics:
    """How a band point * exp(+-widths) held on `actual`; the scores in % of the point forecast so
    that years of very different prices weigh alike. Terciles of `volatility` over these days."""
    actual, point, widths = (np.asarray(v, dtype="float64") for v in (actual, point, widths))
    lower, upper = band(point, widths)
    inside = (actual >= lower) & (actual <= upper)
    alpha, n, unbounded = 1 - level / 100, len(actual), bool(np.isinf(widths).any())
    scaled = (actual / point, lower / point, upper / point)   # % of the point, after * 100
    if unbounded:
        score = pinball = math.inf
    else:
        score = 100 * winkler_score(*scaled, level)
        pinball = 100 * (mean_pinball_loss(scaled[0], scaled[1], alpha=alpha / 2)
                         + mean_pinball_loss(scaled[0], scaled[2], alpha=1 - alpha / 2)) / 2
    return MethodMetrics(
        level=float(level), days=n, coverage=float(inside.mean()),
        wilson=wilson_interval(int(inside.sum()), n),
        kupiec_p_value=kupiec_p_value(int((~inside).sum()), n, level),
        christoffersen_p_value=christoffersen_independence(~inside).p_value,
        mean_width_pct=math.inf if unbounded else float(100 * np.mean((upper - lower) / point)),
        interval_score_pct=score, pinball_pct=pinball,
        coverage_by_volatility=tuple(float(inside[g].mean()) if len(g) else math.nan for g in terciles(volatility)),
        unbounded=unbounded,
    )


# --- what a saved model keeps: every method `predict` offers, drawn from a window alone -----------

PREDICT_METHODS = INTERVAL_METHODS  # garch-t needs a fit; aci the outcomes of the days since calibration


@dataclass(frozen=True)
class VolCalibration:
    """The volatility methods' calibration on the validation days, for the model and the naive forecast:
    the days' sigmas and errors, and everything drawn from them (volatility_calibration), which a
    reader recomputes to check (saved_model)."""

    train_variance: float                            # mean squared daily log return of the training closes: the EWMA's start
    sigma: tuple[float, ...]                         # each validation day's EWMA sigma, in date order
    errors: dict[str, tuple[float, ...]]             # "model" / "naive" -> each validation day's |log(actual / forecast)|
    cuts: tuple[float, float]                        # EWMA sigma at the calibration days' tercile boundaries
    median_sigma: float                              # the calibration days' median EWMA sigma: "usual"
    scores: dict[str, tuple[float, ...]]             # "model" / "naive" -> the sorted |log error| / sigma: ACI's calibration
    scaled: dict[str, dict[float, float]]            # "model" / "naive" -> level -> q of |log error| / sigma
    mondrian: dict[str, dict[float, tuple[float, float, float]]]  # "model" / "naive" -> level -> q per third (inf: unbounded)

    def group(self, sigma) -> np.ndarray:
        return Mondrian(self.cuts, (0.0, 0.0, 0.0), (0, 0, 0)).group(sigma)


def calibrate_volatility(actual, point, previous, windows, levels, train_variance: float) -> VolCalibration:
    """VolCalibration from the validation days: their closes, the model's forecasts, the closes
    before them (naive) and their windows (v, window), with the training days' variance."""
    errors = {"model": log_scores(actual, point), "naive": log_scores(actual, previous)}  # (v,) each
    return volatility_calibration(train_variance, window_sigma(windows, train_variance), errors, levels)


def volatility_calibration(train_variance: float, sigma, errors: dict, levels) -> VolCalibration:
    """Every q and cut point the volatility methods draw, from the validation days' sigmas (v,) and
    each forecast's errors (v,): one pure function, so a saved calibration can be recomputed and checked."""
    sigma = np.asarray(sigma, dtype="float64")
    scores = {who: tuple(float(x) for x in np.sort(errors_over_sigma(e, sigma))) for who, e in errors.items()}
    return VolCalibration(
        train_variance=float(train_variance), sigma=tuple(float(x) for x in sigma),
        errors={who: tuple(float(x) for x in e) for who, e in errors.items()},
        cuts=tercile_cuts(sigma), median_sigma=float(np.median(sigma)), scores=scores,
        scaled={who: {float(lv): conformal_quantile(s, lv) for lv in levels} for who, s in scores.items()},
        mondrian={who: {float(lv): mondrian_of(e, sigma, lv).q for lv in levels} for who, e in errors.items()})


def saved_widths(method: str, fixed_q: float, vc: VolCalibration, who: str, sigma, level: float) -> np.ndarray:
    """The half-widths (log units) of a `PREDICT_METHODS` method's `level`% band for days of EWMA
    `sigma` (n,), from what a saved model keeps (`fixed_q`: its fixed-width q for `who` at `level`)."""
    sigma = np.asarray(sigma, dtype="float64")
    if method == "fixed":
        return np.full(len(sigma), fixed_q)
    if method == "scaled":
        return times_sigma(vc.scaled[who][level], sigma)
    if method == "mondrian":
        return np.asarray(vc.mondrian[who][level])[vc.group(sigma)]
    if method == "gauss":
        return stats.norm.ppf(0.5 + level / 200) * sigma
    if method in ONLINE:
        raise ValueError(f"{method} reads the days before: draw it over a run of days (inference.forecast)")
    raise ValueError(f"unknown interval method {method!r}; valid: {', '.join(PREDICT_METHODS)}")
