"""Next-day error in USD, beside the naive forecast "tomorrow's close = today's close".

Small pure functions over aligned arrays of the same target days: `actual` closes,
`predicted` closes and `previous` closes (the last close of each window, which is also
the naive forecast).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    root_mean_squared_error,
)


def mae(actual, predicted) -> float:
    return float(mean_absolute_error(actual, predicted))


def rmse(actual, predicted) -> float:
    return float(root_mean_squared_error(actual, predicted))


def mape(actual, predicted) -> float:
    """In percent."""
    return float(100 * mean_absolute_percentage_error(actual, predicted))


def directional_accuracy(actual, predicted, previous) -> float:
    """Share of days where the predicted move from `previous` has the sign of the actual move."""
    actual, predicted, previous = map(np.asarray, (actual, predicted, previous))
    return float(np.mean(np.sign(predicted - previous) == np.sign(actual - previous)))


def beats_naive(actual, predicted, previous) -> float:
    """Share of days on which the model's absolute error is smaller than the naive one's."""
    actual, predicted, previous = map(np.asarray, (actual, predicted, previous))
    return float(np.mean(np.abs(actual - predicted) < np.abs(actual - previous)))


def error_metrics(actual, predicted) -> dict[str, float]:
    return {"mae": mae(actual, predicted), "rmse": rmse(actual, predicted), "mape": mape(actual, predicted)}


def forecast_metrics(actual, predicted, previous) -> dict:
    """Everything reported for one model on one set of target days, naive included."""
    model = error_metrics(actual, predicted)
    naive = error_metrics(actual, previous)
    return {
        **model,
        "directional_accuracy": directional_accuracy(actual, predicted, previous),
        # NaN where the naive forecast is exact on every day (a flat stretch of prices).
        "mae_ratio_vs_naive": model["mae"] / naive["mae"] if naive["mae"] else math.nan,
        "rmse_ratio_vs_naive": model["rmse"] / naive["rmse"] if naive["rmse"] else math.nan,
        "beats_naive_share": beats_naive(actual, predicted, previous),
        "days": int(len(actual)),
        "naive": naive,
    }


def diebold_mariano(actual, pred_a, pred_b, h: int = 1, power: int = 2) -> dict[str, float]:
    """Diebold-Mariano test of equal accuracy with the Harvey-Leybourne-Newbold correction.

    Loss |error|**power (2: squared error, as R's forecast::dm.test). A negative statistic
    means `pred_a` has the smaller loss. Two-sided p-value from Student's t with n-1 df.
    """
    actual, pred_a, pred_b = (np.asarray(v, dtype="float64") for v in (actual, pred_a, pred_b))
    d = np.abs(actual - pred_a) ** power - np.abs(actual - pred_b) ** power
    n = len(d)
    if n < 3:
        raise ValueError(f"the Diebold-Mariano test needs at least 3 days, got {n}")
    centred = d - d.mean()
    # Long-run variance of the mean loss difference: autocovariances up to lag h-1.
    gamma = [np.dot(centred[k:], centred[: n - k]) / n for k in range(h)]
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    if variance <= 0:
        return {"statistic": math.nan, "p_value": math.nan, "days": n}
    dm = d.mean() / math.sqrt(variance)
    correction = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    statistic = dm * correction
    p_value = 2 * stats.t.sf(abs(statistic), df=n - 1)
    return {"statistic": float(statistic), "p_value": float(p_value), "days": n}


def metrics_table(results: dict[str, dict], naive: dict | None = None) -> str:
    """Markdown table: one row per model, then the naive forecast on the same days
    (`naive`, or the "naive" entry of the first result)."""
    rows = ["| forecast | MAE (USD) | RMSE (USD) | MAPE | direction right | MAE / naive | RMSE / naive | beats naive |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in results.items():
        rows.append(
            f"| {name} | {m['mae']:,.2f} | {m['rmse']:,.2f} | {m['mape']:.3f}% | "
            f"{100 * m['directional_accuracy']:.1f}% | {m['mae_ratio_vs_naive']:.4f} | "
            f"{m['rmse_ratio_vs_naive']:.4f} | {100 * m['beats_naive_share']:.1f}% of days |"
        )
    naive = naive or next(iter(results.values()))["naive"]
    rows.append(f"| naive (tomorrow = today) | {naive['mae']:,.2f} | {naive['rmse']:,.2f} | "
                f"{naive['mape']:.3f}% | n/a | 1 | 1 | n/a |")
    return "\n".join(rows)
