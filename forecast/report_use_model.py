"""The reports of `predict` and `evaluate` (use_model's NextDay and RangeEvaluation): terminal text,
JSON records and the evaluate chart's inputs. Apart from report.py so that `data`, which imports
report, never loads TensorFlow through use_model.
"""

from __future__ import annotations

import math

from .config import inputs_label
from .jsonio import level_key
from .report import (
    _band_inputs, _label, _level, coverage_notes, interval_table, methods_record, methods_table, metrics_record,
    metrics_table, times_naive,
)
from .interval_methods import PREDICT_METHODS
from .use_model import NextDay, RangeEvaluation


def next_day_record(r: NextDay) -> dict:
    return {
        "cell": r.cell, "source": r.source, "last_date": r.last_date, "last_close": r.last_close,
        "date": r.date, "predicted_close": r.predicted_close, "change_pct": r.change_pct,
        "intervals": _ranges(r.intervals),
        "interval_method": r.method,
        "volatility": {"sigma": r.sigma, "usual_sigma": r.usual_sigma, "ratio_to_usual": _ratio(r),
                       "third": THIRDS[r.third],
                       "meaning": "EWMA (lambda 0.94) std of daily log returns known today; usual: the median "
                                  "over the validation days; third: where today's falls among theirs"},
        "methods": {m: _ranges(iv) for m, iv in r.methods.items()},
        "test": None if r.test is None else {
            "first_date": r.test.first_date, "last_date": r.test.last_date, "days": r.test.days,
            "mae": r.test.mae, "naive_mae": r.test.naive_mae, "mae_ratio_vs_naive": r.test.mae_ratio_vs_naive},
        "trained_until": r.trained_until,
        "aci": {"gamma": r.aci_gamma, "adapted_days": r.adapted_days,
                "meaning": "ACI's level follows the misses of the days since the calibration whose close is known"},
        "inputs": list(r.inputs),
        "calibration": None if r.calibrated is None else {
            "first_date": r.calibrated[0], "last_date": r.calibrated[1], "days_before_forecast": r.calibration_age_days,
            "meaning": "the validation days every interval method was calibrated on, and how many days the "
                       "last of them lies before the day forecast"},
    }


THIRDS = ("calm", "middle", "volatile")


def _ratio(r: NextDay) -> float:
    """Today's sigma over the usual one; NaN (null in JSON) where the validation days never moved."""
    return r.sigma / r.usual_sigma if r.usual_sigma else math.nan


def _ranges(intervals: dict[float, tuple[float, float]]) -> dict:
    return {level_key(lv): {"lower": lo, "upper": hi} for lv, (lo, hi) in intervals.items()}


METHOD_WORDS = {"fixed": "one width for every day", "scaled": "width in proportion to today's volatility",
                "mondrian": "width of today's volatility third", "gauss": "normal quantile of today's volatility",
                "aci": "width in proportion to today's volatility, its level adapted to the misses since calibration"}


def next_day_text(r: NextDay) -> str:
    lines = [
        f"{r.source}: next-day forecast by {_label(r.cell)}" + ("" if r.inputs == ("close",) else
                                                                 f" from {inputs_label(r.inputs)}"),
        f"  last close  {r.last_date}  {r.last_close:>12,.2f} USD",
        f"  forecast    {r.date}  {r.predicted_close:>12,.2f} USD  ({r.change_pct:+.2f}%)",
    ]
    for lv, (lo, hi) in r.intervals.items():
        shown = "unbounded (too few validation days to calibrate)" if math.isinf(hi) else f"{lo:,.2f} .. {hi:,.2f} USD"
        lines.append(f"  {_level(lv):<4} range  {shown}")
    times = "" if math.isnan(_ratio(r)) else f"{_ratio(r):.2f}x "
    lines.append(f"  ranges by   {r.method} ({METHOD_WORDS[r.method]}); today's volatility {100 * r.sigma:.2f}% a day, "
                 f"{times}the validation days' median {100 * r.usual_sigma:.2f}% ({THIRDS[r.third]} third)")
    if r.calibrated is not None:
        age = r.calibration_age_days  # negative: prices cut (--end) before the model's validation days
        lines.append(f"  calibrated  on {r.calibrated[0]}..{r.calibrated[1]} (validation days), "
                     f"{abs(age)} day{'' if abs(age) == 1 else 's'} {'before' if age >= 0 else 'after'} the day forecast"
                     + ("" if r.method != "aci" else "; aci at its nominal level (no day since)" if not r.adapted_days
                        else f"; aci adapted over the {r.adapted_days} day{'' if r.adapted_days == 1 else 's'} since"))
    if r.test is not None:
        t = r.test
        lines.append(f"  context     on held-out test days {t.first_date}..{t.last_date} its MAE was "
                     f"{t.mae:,.2f} USD, {times_naive(t.mae_ratio_vs_naive)}")
    return "\n".join(lines)


def _method_order(item) -> tuple:
    (method, who, level), _ = item
    return (level, PREDICT_METHODS.index(method), who != "model")


def evaluate_record(r: RangeEvaluation) -> dict:
    return {**metrics_record(r.evaluation.metrics, cell=r.cell, source=r.source, sample=r.sample,
                             days_in_sample=r.seen_days, model_saw_until=r.model_saw_until, interval_method=r.method,
                             aci_gamma=r.aci_gamma),
            "interval_methods": methods_record(r.methods or {})}


def _sample_text(r: RangeEvaluation) -> str:
    """Whether the model saw these days, in words: in-sample errors flatter a model."""
    if r.overlap:
        return (f"in sample: the model was trained or early-stopped on {r.seen_days} of them "
                f"(its training data end on {r.model_saw_until})")
    if r.evaluation.metrics.last_date < r.info.trained_on.first:  # older prices than it was trained on
        return f"out of sample: before the model's training data, which begin on {r.info.trained_on.first}"
    return f"out of sample: after the model's training data, which end on {r.model_saw_until}"


def evaluate_text(r: RangeEvaluation) -> str:
    m, name = r.evaluation.metrics, _label(r.cell)
    lines = [
        f"{name} on {r.source}, target days {m.first_date}..{m.last_date} ({m.days} days), {_sample_text(r)}",
        metrics_table({name: m}, m.naive),
        "",
        f"intervals by {r.method}:",
        interval_table({name: m.intervals, "naive": m.naive_intervals}),
        *(f"note: {n}" for n in coverage_notes(name, m.intervals)),
        "",
        f"every interval method a saved model can draw (ACI with gamma {r.aci_gamma:g}, its level adjusted after each "
        "day's outcome since the calibration); width and scores in % of the forecast:",
        methods_table([(f"{method} {_level(lv)}", name if who == "model" else "naive", x)
                       for (method, who, lv), x in sorted((r.methods or {}).items(), key=_method_order)]),
    ]
    if r.overlap:
        lines.append("note: the range overlaps the days the model was trained or early-stopped on "
                     f"(up to {r.model_saw_until}); those errors are not out-of-sample")
    if r.chart is not None:
        lines.append(f"chart: {r.chart}")
    return "\n".join(lines)


def evaluate_chart_inputs(r: RangeEvaluation) -> dict:
    ev, m, name = r.evaluation, r.evaluation.metrics, _label(r.cell)
    bands, level = _band_inputs(ev.forecast, name)
    split = r.info.split
    spans = {"training": (split["train"].first, split["train"].last),
             "validation": (split["val"].first, split["val"].last)}
    if r.info.refit_epochs is not None:  # refit on every day: all of them are training days
        spans = {"training": (r.info.trained_on.first, r.info.trained_on.last)}
    return dict(
        dates=ev.forecast.dates, actual=ev.actual, forecasts={name: ev.forecast.point}, naive=ev.forecast.previous,
        title=f"{name} next-day forecast {m.first_date}..{m.last_date}, {r.sample.replace('-', ' ')} "
              f"(MAE {m.mae:,.0f} USD, naive {m.naive.mae:,.0f} USD)",
        bands=bands, band_level=level, spans=spans, full_range=True,
    )
