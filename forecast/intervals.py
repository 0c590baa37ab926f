"""Prediction intervals: split conformal calibration in the model's own target space, and
the measures that say whether they hold (coverage, Kupiec's test, width, Winkler score).

The model predicts a log return, so its errors are calibrated as |log(actual / predicted)|
on the validation days: q is the ceil((n+1) * level)-th smallest of those n scores, and the
interval is predicted * exp(+-q). The naive forecast gets its interval the same way, from
|log(actual / previous)|. Validation days are never training days and never test days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import xlogy


def conformal_rank(n: int, level: float) -> int:
    """1-based rank of the calibration score that bounds `level` percent: ceil((n+1) * level/100).
    The +1 is the finite-sample correction that makes coverage at least `level` on exchangeable days."""
    # Rounded before ceil so that 80% of 100 is 80, not 81 from 0.8's binary expansion.
    return math.ceil(round((n + 1) * level / 100, 9))


def conformal_quantile(scores, level: float) -> float:
    """The conformal q for `level` percent; inf when there are too few scores to bound it
    (rank > n: the interval is then unbounded, which is the honest answer)."""
    scores = np.sort(np.asarray(scores, dtype="float64"))
    rank = conformal_rank(len(scores), level)
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


def log_scores(actual, predicted) -> np.ndarray:
    """|log(actual / predicted)|: the error in the model's own space (a log return)."""
    return np.abs(np.log(np.asarray(actual, dtype="float64") / np.asarray(predicted, dtype="float64")))


@dataclass(frozen=True)
class Calibration:
    first_date: str                 # first calibration (validation) day
    last_date: str                  # last calibration day
    days: int                       # calibration days n
    model: dict[float, float]       # level (%) -> q for the model, in log units (inf: unbounded)
    naive: dict[float, float]       # level (%) -> q for the naive forecast

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(sorted(self.model))


def calibrate(actual, predicted, previous, levels, first_date: str, last_date: str) -> Calibration:
    model_scores, naive_scores = log_scores(actual, predicted), log_scores(actual, previous)
    return Calibration(
        first_date=first_date, last_date=last_date, days=len(model_scores),
        model={float(lv): conformal_quantile(model_scores, lv) for lv in levels},
        naive={float(lv): conformal_quantile(naive_scores, lv) for lv in levels},
    )


def band(point, q: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) = point * exp(-q), point * exp(q): always around the point forecast."""
    point = np.asarray(point, dtype="float64")
    return point * np.exp(-q), point * np.exp(q)


# --- how well intervals hold -------------------------------------------------------------

def coverage(actual, lower, upper) -> float:
    """Share of days whose actual close lies inside [lower, upper]."""
    actual = np.asarray(actual)
    return float(np.mean((actual >= lower) & (actual <= upper)))


def kupiec_p_value(misses: int, days: int, level: float) -> float:
    """Kupiec's proportion-of-failures test: p-value of `misses` outside out of `days`, when each
    day misses with probability 1 - level/100. Likelihood ratio against the observed rate, chi2(1)."""
    p, x, n = 1 - level / 100, misses, days
    observed = x / n
    log_null = xlogy(n - x, 1 - p) + xlogy(x, p)
    log_alt = xlogy(n - x, 1 - observed) + xlogy(x, observed)
    return float(stats.chi2.sf(-2 * (log_null - log_alt), df=1))


def winkler_score(actual, lower, upper, level: float) -> float:
    """Mean Winkler (interval) score in USD: the width, plus 2/alpha times the distance by which
    the actual close falls outside. Lower is better; it rewards narrow intervals that hold."""
    actual, lower, upper = (np.asarray(v, dtype="float64") for v in (actual, lower, upper))
    alpha = 1 - level / 100
    penalty = (2 / alpha) * (np.clip(lower - actual, 0, None) + np.clip(actual - upper, 0, None))
    return float(np.mean(upper - lower + penalty))


def terciles(values) -> list[np.ndarray]:
    """Positions of the lowest, middle and highest third of `values` by rank (ties by position)."""
    order = np.argsort(np.asarray(values), kind="stable")
    return np.array_split(order, 3)


VOLATILITY_DAYS = 30  # daily returns in the trailing volatility (fewer where the window is shorter)


def trailing_volatility(X: np.ndarray, days: int = VOLATILITY_DAYS) -> np.ndarray:
    """Std of the last `days` daily log returns in each window (n, window) -> (n,): what was known
    on the day before each target day, so grouping by it uses nothing from the future."""
    returns = np.diff(np.log(X[:, -(days + 1):]), axis=1)  # (n, days)
    return returns.std(axis=1)


@dataclass(frozen=True)
class IntervalMetrics:
    level: float                                      # nominal coverage, %
    coverage: float                                   # share of days inside
    kupiec_p_value: float                             # is the miss rate consistent with the level?
    mean_width: float                                 # USD
    mean_width_pct: float                             # % of the point forecast
    winkler: float                                    # mean interval score, USD
    coverage_by_volatility: tuple[float, float, float]  # calm, middle, volatile third of the days
    unbounded: bool                                   # too few calibration days for this level


def interval_metrics(actual, point, lower, upper, level: float, volatility) -> IntervalMetrics:
    actual, point = np.asarray(actual, dtype="float64"), np.asarray(point, dtype="float64")
    inside = (actual >= lower) & (actual <= upper)
    unbounded = bool(np.isinf(upper).any())
    return IntervalMetrics(
        level=float(level),
        coverage=float(inside.mean()),
        kupiec_p_value=kupiec_p_value(int((~inside).sum()), len(actual), level),
        mean_width=float(np.mean(upper - lower)),
        mean_width_pct=float(100 * np.mean((upper - lower) / point)),
        winkler=math.inf if unbounded else winkler_score(actual, lower, upper, level),
        coverage_by_volatility=tuple(float(inside[g].mean()) if len(g) else math.nan for g in terciles(volatility)),
        unbounded=unbounded,
    )
