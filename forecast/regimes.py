"""The backtest's days by calendar year and by market regime, and the power of its GRU-vs-LSTM test.

Each out-of-sample day is labelled from closes known the day before it: its year, its trend (the
trailing 90-day log return) and its volatility tercile (the trailing volatility of its window, cut
into thirds over the backtest's own days, as intervals.terciles does). Per group of days: the MAE
and RMSE ratio to naive per cell over seeds, Diebold-Mariano on the first seed, and for years the
folds ahead of naive. Power: the smallest GRU-LSTM MAE difference the run could detect.
Pure functions over arrays; the thresholds below were fixed before any run and are written into
the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .intervals import terciles
from .metrics import DMTest, Spread, dm_tests, mae, ratio, rmse
from .verdicts import ALPHA

# Fixed in advance, before any backtest was run, and stated in every report: not tuned to the data.
TREND_DAYS = 90        # the trend is log(close[t-1] / close[t-1-TREND_DAYS]), known the day before day t
TREND_THRESHOLD = 0.10  # bull above +0.10, bear below -0.10; exactly +-0.10 is sideways
TRENDS = ("bull", "sideways", "bear")
UNKNOWN = "unknown"    # fewer than TREND_DAYS + 1 closes before the day: no trend to label
VOLATILITIES = ("calm", "middle", "volatile")  # thirds of the backtest's days by trailing volatility
POWER = 0.80           # the power at which the detectable difference is stated, at ALPHA two-sided
MIN_DM_DAYS = 3        # metrics.diebold_mariano needs at least 3 days; a smaller group has no DM


# --- labels ---------------------------------------------------------------------------------------

def trailing_return(close: np.ndarray, positions: np.ndarray, days: int = TREND_DAYS) -> np.ndarray:
    """log(close[p-1] / close[p-1-days]) for each position p in `close`: the trend known the day
    before day p. NaN where there are fewer than days + 1 closes before p."""
    close, positions = np.asarray(close, dtype="float64"), np.asarray(positions)
    known = positions - 1 - days >= 0
    out = np.full(len(positions), math.nan)
    p = positions[known]
    out[known] = np.log(close[p - 1] / close[p - 1 - days])
    return out


def trend_labels(returns: np.ndarray, threshold: float = TREND_THRESHOLD) -> np.ndarray:
    """"bull" above +threshold, "bear" below -threshold, "sideways" between them, the boundaries
    included (strict inequalities: exactly +-threshold is sideways); UNKNOWN where the return is NaN."""
    returns = np.asarray(returns, dtype="float64")
    labels = np.full(len(returns), "sideways", dtype=object)
    labels[returns > threshold] = "bull"
    labels[returns < -threshold] = "bear"
    labels[np.isnan(returns)] = UNKNOWN
    return labels


def volatility_labels(volatility: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Each day's third of `volatility` by rank (intervals.terciles: ties by position), and the cut
    points: the highest volatility in the calm and in the middle third (NaN for an empty third)."""
    labels = np.empty(len(volatility), dtype=object)
    thirds = terciles(volatility)
    for name, positions in zip(VOLATILITIES, thirds):
        labels[positions] = name
    volatility = np.asarray(volatility, dtype="float64")
    calm, middle = (float(volatility[p].max()) if len(p) else math.nan for p in thirds[:2])
    return labels, (calm, middle)


@dataclass(frozen=True)
class DayLabels:
    """What each out-of-sample day was, from closes known the day before it."""

    year: np.ndarray                      # (n,) the day's calendar year
    trend_return: np.ndarray              # (n,) log(close[t-1] / close[t-91]); NaN with too little history
    trend: np.ndarray                     # (n,) "bull", "sideways", "bear" or UNKNOWN
    volatility: np.ndarray                # (n,) trailing std of daily log returns in the day's window
    volatility_tercile: np.ndarray        # (n,) "calm", "middle" or "volatile"
    volatility_cuts: tuple[float, float]  # highest volatility of the calm and of the middle third
    volatility_returns: int               # daily log returns the trailing volatility spans


def label_days(close: pd.Series, dates: pd.DatetimeIndex, volatility: np.ndarray, volatility_returns: int) -> DayLabels:
    """Labels of the days `dates` of the daily close series `close` (every day present: prices.Prices);
    `volatility` (n,) is the trailing volatility of each day's window (intervals.trailing_volatility)."""
    positions = close.index.get_indexer(dates)
    if (positions < 0).any():
        raise ValueError("every day to label must be in the close series")
    returns = trailing_return(close.to_numpy(), positions)
    vol_labels, cuts = volatility_labels(volatility)
    return DayLabels(year=np.asarray(dates.year), trend_return=returns, trend=trend_labels(returns),
                     volatility=np.asarray(volatility, dtype="float64"), volatility_tercile=vol_labels,
                     volatility_cuts=cuts, volatility_returns=volatility_returns)


# --- per group of days ----------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupCell:
    """One cell on one group of days, over seeds."""

    mae_ratio: Spread
    rmse_ratio: Spread
    folds_ahead: int | None   # folds with a seed-mean MAE below naive's (years only)


@dataclass(frozen=True)
class Group:
    name: str                       # "2024", "bull", "calm", ...
    days: int
    naive_mae: float                # USD
    naive_rmse: float               # USD
    cells: dict[str, GroupCell]
    dm: dict[str, DMTest] | None    # metrics.PAIRS on the group's days, first seed; None under MIN_DM_DAYS
    folds: int | None               # folds counted in the group (years only)


def group_stats(name: str, mask: np.ndarray, actual: np.ndarray, previous: np.ndarray,
                points: dict[str, tuple[np.ndarray, ...]]) -> Group:
    """`points` holds per cell one (n,) forecast per seed, the first seed first; `mask` (n,) picks the days."""
    a, naive = actual[mask], previous[mask]
    naive_mae, naive_rmse = mae(a, naive), rmse(a, naive)
    cells = {cell: GroupCell(mae_ratio=Spread.of(ratio(mae(a, p[mask]), naive_mae) for p in seeds),
                             rmse_ratio=Spread.of(ratio(rmse(a, p[mask]), naive_rmse) for p in seeds),
                             folds_ahead=None)
             for cell, seeds in points.items()}
    days = int(mask.sum())
    dm = dm_tests(a, {**{c: s[0][mask] for c, s in points.items()}, "naive": naive}) if days >= MIN_DM_DAYS else None
    return Group(name=name, days=days, naive_mae=naive_mae, naive_rmse=naive_rmse, cells=cells, dm=dm, folds=None)


def by_labels(labels: np.ndarray, order, actual, previous, points) -> tuple[Group, ...]:
    """One Group per label in `order` that has days, in that order (a label without days is left out)."""
    return tuple(group_stats(str(name), labels == name, actual, previous, points)
                 for name in order if (labels == name).any())


def fold_years(year: np.ndarray, fold_days: list[int]) -> list[int]:
    """Each fold's year: the year holding most of its days, the earlier year on a tie. The folds'
    days lie one after the other in `year` (n,), fold_days[k] of them for fold k."""
    out, start = [], 0
    for days in fold_days:
        # np.unique sorts the years, so argmax takes the earlier of two with as many days
        years, counts = np.unique(year[start:start + days], return_counts=True)
        out.append(int(years[np.argmax(counts)]))
        start += days
    return out


def by_year(year: np.ndarray, actual, previous, points, fold_days: list[int],
            fold_beats: dict[str, list[bool]]) -> tuple[Group, ...]:
    """One Group per calendar year, with its folds (fold_years) and per cell the folds ahead of
    naive among them; `fold_beats[cell][k]` says whether fold k's seed-mean MAE is below naive's."""
    counted = np.array(fold_years(year, fold_days))
    groups = []
    for g in by_labels(year, sorted(set(year.tolist())), actual, previous, points):
        mine = counted == int(g.name)
        cells = {c: GroupCell(r.mae_ratio, r.rmse_ratio, int(np.sum(np.asarray(fold_beats[c])[mine])))
                 for c, r in g.cells.items()}
        groups.append(Group(g.name, g.days, g.naive_mae, g.naive_rmse, cells, g.dm, int(mine.sum())))
    return tuple(groups)


# --- power ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Power:
    """The smallest MAE difference between two forecasts that a test on these days would find at
    ALPHA two-sided with POWER: (z_(1-ALPHA/2) + z_POWER) * sd(d) / sqrt(n), d the daily loss differences."""

    days: int
    alpha: float
    power: float
    sd: float            # sample std (ddof=1) of d_t = |error_a,t| - |error_b,t|, USD
    detectable: float    # USD
    naive_mae: float     # USD

    @property
    def pct_of_naive(self) -> float:
        return 100 * ratio(self.detectable, self.naive_mae)


def detectable_difference(d, alpha: float = ALPHA, power: float = POWER) -> tuple[float, float]:
    """(sd(d), the detectable mean of d) for the daily loss differences d; NaN under 2 days."""
    d = np.asarray(d, dtype="float64")
    if len(d) < 2:
        return math.nan, math.nan
    sd = float(np.std(d, ddof=1))
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return sd, float(z * sd / math.sqrt(len(d)))


def mae_power(actual, a, b, previous, alpha: float = ALPHA, power: float = POWER) -> Power:
    """Power of an MAE comparison of forecasts a and b (n,) on the same days, beside naive's MAE."""
    actual = np.asarray(actual, dtype="float64")
    sd, detectable = detectable_difference(np.abs(actual - a) - np.abs(actual - b), alpha, power)
    return Power(days=len(actual), alpha=alpha, power=power, sd=sd, detectable=detectable,
                 naive_mae=mae(actual, previous))


# --- all of it ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Breakdown:
    """A backtest's days by year and regime, and the power of its first-against-second-cell test."""

    labels: DayLabels
    by_year: tuple[Group, ...]
    by_trend: tuple[Group, ...]
    by_volatility: tuple[Group, ...]
    power: Power          # first cell against second, first seed


def breakdown(labels: DayLabels, actual, previous, points: dict[str, tuple[np.ndarray, ...]],
              fold_days: list[int], fold_beats: dict[str, list[bool]]) -> Breakdown:
    """`actual`, `previous` (n,) and `points` (per cell, one (n,) forecast per seed, first seed first)
    on the backtest's days, folds one after the other (fold_days[k] days for fold k)."""
    actual, previous = np.asarray(actual, dtype="float64"), np.asarray(previous, dtype="float64")
    first, second = points
    return Breakdown(
        labels=labels,
        by_year=by_year(labels.year, actual, previous, points, fold_days, fold_beats),
        by_trend=by_labels(labels.trend, (*TRENDS, UNKNOWN), actual, previous, points),
        by_volatility=by_labels(labels.volatility_tercile, VOLATILITIES, actual, previous, points),
        power=mae_power(actual, points[first][0], points[second][0], previous),
    )
