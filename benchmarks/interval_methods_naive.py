"""Which interval method holds on wild days? The naive forecast over the multi-year backtest's folds.

No model is trained: the naive forecast (tomorrow = today) gets every method of
forecast/interval_methods.py on the folds of `backtest --first-test 2018-01-01` (monthly, expanding,
the last 15% of each fold's history for calibration, exactly backtest_plan.make_folds), so the
methods can be compared in seconds without training (issue 20; `backtest` runs them on the models). Per method and
level, over all out-of-sample days: coverage with its Wilson 95% interval, Kupiec's p, Christoffersen's
independence p, mean width (% of the forecast), Winkler score (% of the forecast), and coverage per
tercile of the ex-ante EWMA volatility (cut points over the out-of-sample days, for the report only).

Methods, each calibrated on the fold's validation days only:
  fixed     split conformal, |log(actual / forecast)| (today's method)
  scaled    the same scores divided by the EWMA sigma (lambda 0.94, seeded from the first fold's
            training days), band forecast * exp(+-q sigma_t)
  mondrian  fixed-width conformal per tercile of the calibration days' EWMA sigma
  gauss     forecast * exp(+-z sigma_t), z the normal quantile (no calibration)
  garch-t   forecast * exp(+-z_t(nu) sigma_t), GARCH(1,1) with Student-t errors fitted on the fold's
            training days (arch), filtered forward with those parameters
  aci       scaled, with adaptive conformal inference inside each fold (gamma --gamma)

Run from the project root:  python benchmarks/interval_methods_naive.py [--csv PATH] [--gamma 0.05]
"""

from __future__ import annotations

import argparse
import math
from datetime import date

import numpy as np
from scipy import stats

from forecast import intervals
from forecast.backtest_plan import BacktestSettings, make_folds
from forecast.csv_source import load_csv
from forecast.interval_methods import (Days, aci_widths, christoffersen_independence, ewma_sigma, garch_t, mondrian,
                                       scaled_band, scaled_quantile, wilson_interval)

WINDOW = 60
LEVELS = (80.0, 95.0)
METHODS = ("fixed", "scaled", "mondrian", "gauss", "garch-t", "aci")


def bands_for_fold(fold, days, close, returns, sigma, level, gamma):
    """(method -> (lower, upper)) on the fold's out-of-sample days; positions index the close series."""
    val = np.arange(days[fold.split.val][0], days[fold.split.val][-1] + 1)
    test = np.arange(days[fold.split.test][0], days[fold.split.test][-1] + 1)
    point, actual_val, point_val = close[test - 1], close[val], close[val - 1]
    q = intervals.conformal_quantile(intervals.log_scores(actual_val, point_val), level)
    qs = scaled_quantile(actual_val, point_val, sigma[val], level)
    m = mondrian(actual_val, point_val, sigma[val], level)
    z = stats.norm.ppf(0.5 + level / 200)
    garch = garch_t(returns[1:test[-1] + 1], train_days=val[0] - 1)  # returns[1] is day 1's; fitted up to val
    g_sigma = garch.sigma[test - 1]
    # ACI: each day's level from the misses of the fold's days before it, on the scaled scores
    scores_val = intervals.log_scores(actual_val, point_val) / sigma[val]
    aci = aci_widths(scores_val, Days(point, close[test], sigma[test]), level, gamma)
    return test, {
        "fixed": intervals.band(point, q),
        "scaled": scaled_band(point, sigma[test], qs),
        "mondrian": m.band(point, sigma[test]),
        "gauss": scaled_band(point, sigma[test], z),
        "garch-t": scaled_band(point, g_sigma, garch.z(level)),
        "aci": intervals.band(point, aci),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="data/snapshot/btc-usd.csv")
    parser.add_argument("--first-test", default="2018-01-01")
    parser.add_argument("--gamma", type=float, default=0.05)
    args = parser.parse_args()
    prices = load_csv(args.csv)
    close = prices.close.to_numpy()
    returns = np.concatenate([[0.0], np.diff(np.log(close))])  # returns[t]: day t over day t-1
    targets = prices.close.index[WINDOW:]
    folds = make_folds(targets, BacktestSettings(first_test=date.fromisoformat(args.first_test), step=30))
    days = np.arange(WINDOW, len(close))  # target-day axis -> close positions
    first_val = days[folds[0].split.val][0]
    sigma = np.concatenate([[math.nan], ewma_sigma(returns[1:], initial_variance=float(np.mean(returns[1:first_val] ** 2)))])
    # sigma[t]: from returns up to day t-1 (ewma_sigma's day k is returns[k + 1]'s day)
    print(f"{args.csv}: naive forecast, {len(folds)} folds, {folds[0].test.first}..{folds[-1].test.last}; "
          f"ACI gamma {args.gamma}")
    for level in LEVELS:
        rows = {name: ([], [], []) for name in METHODS}  # actual, lower, upper per method
        positions = []
        for fold in folds:
            test, bands = bands_for_fold(fold, days, close, returns, sigma, level, args.gamma)
            positions.append(test)
            for name, (lo, hi) in bands.items():
                rows[name][0].append(close[test])
                rows[name][1].append(lo)
                rows[name][2].append(hi)
        positions = np.concatenate(positions)
        thirds = intervals.terciles(sigma[positions])
        print(f"\n{level:.0f}% | coverage [Wilson 95%] | Kupiec p | Christoffersen p | width % | Winkler % | "
              "calm / middle / volatile third")
        for name in METHODS:
            actual, lower, upper = (np.concatenate(v) for v in rows[name])
            inside = (actual >= lower) & (actual <= upper)
            low, high = wilson_interval(int(inside.sum()), len(inside))
            kupiec = intervals.kupiec_p_value(int((~inside).sum()), len(inside), level)
            chris = christoffersen_independence(~inside).p_value
            point = close[positions - 1]
            width = 100 * np.mean((upper - lower) / point)
            alpha = 1 - level / 100
            penalty = (2 / alpha) * (np.clip(lower - actual, 0, None) + np.clip(actual - upper, 0, None))
            winkler = 100 * np.mean((upper - lower + penalty) / point)
            by = " / ".join(f"{100 * inside[g].mean():.1f}" for g in thirds)
            print(f"{name:9s} | {100 * inside.mean():.1f}% [{100 * low:.1f}, {100 * high:.1f}] | {kupiec:.3f} | "
                  f"{chris:.3f} | {width:.2f} | {winkler:.2f} | {by}")


if __name__ == "__main__":
    main()
