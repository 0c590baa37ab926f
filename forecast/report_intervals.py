"""The interval methods of a backtest (issue 20) in words, markdown, JSON and chart inputs: how each
method held for each forecast and level over all days and fold by fold, and which one the rule
(verdicts.choose_method) picks for `predict`."""

from __future__ import annotations

import numpy as np

from .backtest_intervals import FORECASTS, BacktestIntervals
from .interval_methods import METHODS, PREDICT_METHODS, MethodMetrics
from .jsonio import level_key
from .report import _level, method_record, methods_table, number
from .verdicts import ALPHA, MethodVerdict, tercile_tolerance

METHOD_NOTES = {
    "fixed": "split conformal on |log(actual / forecast)|: one width for every day (the method before issue 20)",
    "scaled": "the same scores divided by the EWMA sigma (RiskMetrics lambda 0.94, known the day before); "
              "band forecast * exp(+-q sigma_t)",
    "mondrian": "fixed-width conformal per tercile of the calibration days' EWMA sigma, cut points from those days",
    "aci": "scaled, with adaptive conformal inference over each fold's days in sequence (gamma {gamma:g}), "
           "as `predict` runs it over the days since its calibration: each day's outcome is read after its band",
    "gauss": "forecast * exp(+-z sigma_t), z the normal quantile: the EWMA sigma, no calibration",
    "garch-t": "GARCH(1,1) with Student-t errors (arch), fitted on the fold's training days and filtered "
               "forward without refitting; no calibration; a baseline `predict` does not draw",
}
NAMES = {"gru": "GRU", "lstm": "LSTM", "naive": "naive"}


def _fold_record(m: MethodMetrics) -> dict:
    """Per fold, the four numbers that fit a fold's few days (JSON stays small over a hundred folds)."""
    return {"coverage": m.coverage, "kupiec_p_value": m.kupiec_p_value, "mean_width_pct": m.mean_width_pct,
            "interval_score_pct": m.interval_score_pct}


def _verdict_record(v: MethodVerdict) -> dict:
    return {"worst_tercile_gap_in_tolerances": v.worst_gap, "kupiec_ok": v.kupiec_ok,
            "interval_score_below_fixed": v.beats_fixed, "interval_score_vs_fixed": v.score_vs_fixed,
            "meets": v.meets}


def intervals_record(bi: BacktestIntervals) -> dict:
    return {
        "seed": bi.seed, "aci_gamma": bi.gamma,
        "calibration": "each fold's validation days; scores in % of the point forecast",
        "terciles": "the trailing volatility of every out-of-sample day, as the interval tables' calm / middle / volatile",
        "methods": {method: {forecast: {level_key(lv): {
            **method_record(bi.get(method, forecast, lv).overall),
            "folds": [_fold_record(m) for m in bi.get(method, forecast, lv).folds]}
            for lv in bi.levels} for forecast in FORECASTS} for method in METHODS},
        "choice": {"rule": choice_rule(bi), "chosen": bi.choice.chosen, "meets": bi.choice.met,
                   "candidates": {v.method: _verdict_record(v) for v in bi.choice.verdicts}},
    }


def choice_rule(bi: BacktestIntervals) -> str:
    tolerances = ", ".join(f"{_level(lv)} within {100 * tercile_tolerance(lv):g} points" for lv in bi.levels)
    return (f"of the methods `predict` can use ({', '.join(PREDICT_METHODS)}), judged on "
            f"GRU and LSTM: coverage in every volatility third ({tolerances}), Kupiec p >= {ALPHA:g} and an "
            "interval score below fixed's at every level; of those the lowest interval score relative to fixed; "
            "if none, the closest to nominal in its worst third")


def choice_sentence(bi: BacktestIntervals) -> str:
    v = next(v for v in bi.choice.verdicts if v.method == bi.choice.chosen)
    if bi.choice.met:
        return (f"The rule picks **{v.method}**: it meets the bar, with an interval score {v.score_vs_fixed:.3f} "
                "times fixed's on average.")
    return (f"No method meets the bar; the closest to nominal in its worst volatility third is **{v.method}** "
            f"(its worst third is {v.worst_gap:.2f} tolerances off; interval score {v.score_vs_fixed:.3f} times "
            "fixed's).")


def intervals_markdown(bi: BacktestIntervals, band: float) -> list[str]:
    """The section of backtest.md: the methods, one table per level, the choice, and per fold the
    band level's coverage of fixed and the chosen method."""
    lines = [f"## Interval methods (issue 20), seed {bi.seed}", "",
             "Each calibrated at every origin on that fold's validation days only, in the model's log-return space:", "",
             *(f"- **{m}**: {note.format(gamma=bi.gamma)}" for m, note in METHOD_NOTES.items()), "",
             "Coverage with its Wilson 95% interval; Kupiec's test of the miss rate; Christoffersen's test of "
             "misses on consecutive days; width, interval (Winkler) score and pinball loss at the two quantiles "
             "in % of the forecast (so that every year weighs alike); coverage per third of the days by trailing "
             "volatility.", ""]
    for lv in bi.levels:
        lines += [f"### {_level(lv)}", "",
                  methods_table([(m, NAMES[f], bi.get(m, f, lv).overall) for m in METHODS for f in FORECASTS]), ""]
    lines += ["### The backtest's pick", "", f"Rule: {choice_rule(bi)}.", "",
              "This is the backtest's half of the rule for `predict`'s default: `verdicts.choose_default` also asks "
              "every method to hold on models used for years after their calibration "
              "(`benchmarks/interval_methods_long.py`), and ranks by this rule only among those that hold both.", "",
              "| method | worst third, in tolerances | Kupiec p >= 0.05 everywhere | interval score / fixed's | meets |",
              "|---|---:|---|---:|---|",
              *(f"| {v.method} | {number(v.worst_gap)} | {'yes' if v.kupiec_ok else 'no'} | {number(v.score_vs_fixed, 3)} "
                f"| {'yes' if v.meets else 'no'} |" for v in bi.choice.verdicts),
              "", choice_sentence(bi), ""]
    chosen = bi.choice.chosen if bi.choice.chosen != "fixed" else "scaled"
    folds = len(bi.get("fixed", "naive", band).folds)
    lines += [f"### {_level(band)} coverage per fold: fixed and {chosen}", "",
              "| fold | " + " | ".join(f"{NAMES[f]} fixed | {NAMES[f]} {chosen}" for f in FORECASTS) + " |",
              "|---|" + "---:|" * (2 * len(FORECASTS)),
              *(f"| {k + 1} | " + " | ".join(
                  f"{100 * bi.get('fixed', f, band).folds[k].coverage:.0f}% | "
                  f"{100 * bi.get(chosen, f, band).folds[k].coverage:.0f}%" for f in FORECASTS) + " |"
                for k in range(folds)), ""]
    return lines


STRETCH_DAYS = 90


def volatile_stretch(sigma: np.ndarray, days: int = STRETCH_DAYS) -> slice:
    """The run of `days` consecutive out-of-sample days with the highest mean sigma (all of them if fewer)."""
    if len(sigma) <= days:
        return slice(0, len(sigma))
    means = np.convolve(sigma, np.ones(days) / days, mode="valid")  # (n - days + 1,)
    start = int(np.argmax(means))
    return slice(start, start + days)


def intervals_chart_inputs(bi: BacktestIntervals, band: float, cell: str = "gru") -> dict:
    """plots_summary.interval_methods_chart's data: `cell`'s band of fixed and of the chosen method
    (scaled if fixed is chosen) over the most volatile stretch, and every method's coverage per third."""
    chosen = bi.choice.chosen if bi.choice.chosen != "fixed" else "scaled"
    part = volatile_stretch(bi.sigma)
    point = bi.points[cell][part]
    bands = {}
    for method in ("fixed", chosen):
        w = bi.get(method, cell, band).widths[part]
        bands[method] = (point * np.exp(-w), point * np.exp(w))
    return {
        "dates": bi.dates[part], "actual": bi.actual[part], "point": point, "bands": bands,
        "cell": NAMES[cell], "level": band,
        "coverage": {lv: {m: bi.get(m, cell, lv).overall.coverage_by_volatility for m in METHODS} for lv in bi.levels},
        "tolerance": {lv: tercile_tolerance(lv) for lv in bi.levels},
    }
