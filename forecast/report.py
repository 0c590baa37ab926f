"""The wording every report shares, and the reports of `data` and `train`, from typed results:
p-values, ratios to naive, tables of metrics and intervals, their JSON records, the notes and the
verdict in words. Nothing here computes a statistic or decides what a number means: the numbers
come from metrics, the rules from verdicts; a sentence is printed only where its rule holds.

report_use_model (predict, evaluate), report_compare (compare, bench) and report_backtest build
on this module.
"""

from __future__ import annotations

import math

import numpy as np

from . import verdicts
from .config import inputs_label
from .interval_methods import MethodMetrics
from .intervals import IntervalMetrics
from .jsonio import level_key
from .metrics import SCALAR_METRICS, DMTest, ErrorMetrics, ForecastMetrics, OverSeeds, Spread
from .model_info import TrainedModel
from .prices import Prices
from .verdicts import Standing, Versus

BAND_LEVEL = 80   # the interval level charts shade


def inputs_of(settings: dict) -> str:
    """The inputs a settings record names ("close" where it has none: saved before --inputs)."""
    return inputs_label(tuple(settings.get("inputs", ["close"])))


def _label(cell: str) -> str:
    return cell.upper()


def _level(level: float) -> str:
    return f"{level:g}%"


def p_value(p: float | None) -> str:
    """A p-value as every report prints it: three decimals, "< 0.001" below that (never "0.000",
    which reads as impossible), "n/a" when there is none."""
    if p is None or math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float | None) -> str:
    """A p-value inside a sentence: "p = 0.014", "p < 0.001"."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


NO_RATIO = "no ratio: naive's error is 0"  # a ratio to naive's error when naive was exact on every day


def fmt_ratio(value: float, digits: int = 4) -> str:
    """A ratio to naive's error for a table or a parenthesis; NaN (naive exact on every day: flat
    prices) reads "n/a (naive's error is 0)", never "nan"."""
    return "n/a (naive's error is 0)" if math.isnan(value) else f"{value:.{digits}f}"


def ratio_words(value: float, digits: int = 3) -> str:
    """"ratio 1.012  (worse than naive)", or NO_RATIO."""
    return NO_RATIO if math.isnan(value) else f"ratio {value:.{digits}f}  ({versus_naive(value)})"


def times_naive(value: float) -> str:
    """"1.012x naive's (worse than naive)", or NO_RATIO: never "nanx naive's"."""
    return NO_RATIO if math.isnan(value) else f"{value:.3f}x naive's ({versus_naive(value)})"


VERSUS_NAIVE = {Versus.NO_RATIO: NO_RATIO, Versus.WORSE: "worse than naive",
                Versus.BETTER: "better than naive", Versus.SAME: "the same as naive"}


def versus_naive(ratio: float) -> str:
    """What an MAE ratio to the naive forecast means, in words."""
    return VERSUS_NAIVE[verdicts.versus_naive(ratio)]


def decimals(value: float, least: int) -> int:
    """Decimals that show an amount with at least 3 significant digits and never fewer than `least`:
    a BTC error of 1,234.5 USD keeps `least`, an XRP error of 0.0345 USD gets 4."""
    if not math.isfinite(value) or value == 0:
        return least
    return max(least, 2 - math.floor(math.log10(abs(value))))


def amount(value: float, least: int = 2) -> str:
    """A price or an error in the series' own currency, readable for any price range."""
    return f"{value:,.{decimals(value, least)}f}"


def _fmt(spread: Spread, digits: int, scale: float = 1) -> str:
    """"1.0200 ± 0.0265": a mean over seeds and its std (the mean alone for one seed)."""
    if math.isnan(spread.mean):
        return "n/a"  # a ratio to a naive error of 0
    mean = f"{spread.mean * scale:,.{digits}f}"
    return mean if spread.std is None else f"{mean} ± {spread.std * scale:,.{digits}f}"


def _pair_name(pair: str) -> str:
    return pair.replace("_vs_", " vs ").replace("gru", "GRU").replace("lstm", "LSTM")


# --- data --------------------------------------------------------------------------------

def data_record(p: Prices) -> dict:
    """`data --json`: what `data` prints (Prices.summary), as one object."""
    c = p.close
    return {
        "source": p.source, "rows": len(c),
        "first_date": f"{c.index[0]:%Y-%m-%d}", "last_date": f"{c.index[-1]:%Y-%m-%d}", "last_close": float(c.iloc[-1]),
        "gaps": {"filled_days": p.filled_days, "runs": [[str(a), str(b)] for a, b in p.gaps]},
        "cache": None if p.cache is None else str(p.cache),
        "inputs": list(p.supported_inputs()), "unsupported_inputs": p.unsupported(),
    }


# --- metrics -----------------------------------------------------------------------------

def interval_record(m: IntervalMetrics) -> dict:
    calm, middle, volatile = m.coverage_by_volatility
    return {
        "coverage": m.coverage, "kupiec_p_value": m.kupiec_p_value,
        "mean_width_usd": m.mean_width, "mean_width_pct": m.mean_width_pct, "winkler_usd": m.winkler,
        "coverage_by_volatility": {"calm": calm, "middle": middle, "volatile": volatile},
        "unbounded": m.unbounded,
    }


def naive_record(m: ForecastMetrics) -> dict:
    """The naive forecast's numbers in a ForecastMetrics (its naive and naive_intervals fields)."""
    return {"mae": m.naive.mae, "rmse": m.naive.rmse, "mape": m.naive.mape,
            "intervals": {level_key(lv): interval_record(i) for lv, i in m.naive_intervals.items()}}


def metrics_record(m: ForecastMetrics, **first) -> dict:
    """The JSON of one model on one set of days (metrics.json, evaluate --json): `first` keys
    lead, then the model's numbers, then the naive forecast's on the same days."""
    return {
        **first,
        "first_date": m.first_date, "last_date": m.last_date,
        "mae": m.mae, "rmse": m.rmse, "mape": m.mape,
        "directional_accuracy": m.directional_accuracy,
        "mae_ratio_vs_naive": m.mae_ratio_vs_naive, "rmse_ratio_vs_naive": m.rmse_ratio_vs_naive,
        "beats_naive_share": m.beats_naive_share,
        "days": m.days,
        "intervals": {level_key(lv): interval_record(i) for lv, i in m.intervals.items()},
        "naive": naive_record(m),
    }


def method_record(m: MethodMetrics) -> dict:
    """How one interval method held (interval_methods.method_metrics), as every JSON record gives it."""
    calm, middle, volatile = m.coverage_by_volatility
    return {"coverage": m.coverage, "wilson_95": list(m.wilson), "kupiec_p_value": m.kupiec_p_value,
            "christoffersen_p_value": m.christoffersen_p_value, "mean_width_pct": m.mean_width_pct,
            "interval_score_pct": m.interval_score_pct, "pinball_pct": m.pinball_pct,
            "coverage_by_volatility": {"calm": calm, "middle": middle, "volatile": volatile},
            "days": m.days, "unbounded": m.unbounded}


def methods_record(methods: dict[tuple[str, str, float], MethodMetrics]) -> dict:
    """(method, forecast, level) -> metrics as method -> forecast -> level -> record."""
    out: dict = {}
    for (method, who, lv), m in methods.items():
        out.setdefault(method, {}).setdefault(who, {})[level_key(lv)] = method_record(m)
    return out


def number(value: float, digits: int = 2) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.{digits}f}"


def methods_table(rows: list[tuple[str, str, MethodMetrics]]) -> str:
    """Markdown table of interval methods: (method, forecast name, metrics) per row."""
    lines = ["| method | forecast | coverage [Wilson 95%] | Kupiec p | Christoffersen p | width % | "
             "interval score % | pinball % | calm / middle / volatile |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for method, name, m in rows:
        low, high = m.wilson
        lines.append(f"| {method} | {name} | {100 * m.coverage:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | "
                     f"{p_value(m.kupiec_p_value)} | {p_value(m.christoffersen_p_value)} | {number(m.mean_width_pct)} | "
                     f"{number(m.interval_score_pct)} | {number(m.pinball_pct, 3)} | "
                     f"{' / '.join(f'{100 * c:.1f}%' for c in m.coverage_by_volatility)} |")
    return "\n".join(lines)


def spread_record(s: Spread) -> dict:
    return {"mean": s.mean, "std": s.std, "values": list(s.values)}


INTERVAL_MEASURES = ("coverage", "kupiec_p_value", "mean_width", "mean_width_pct", "winkler")


def metric_spreads(r: OverSeeds) -> dict:
    """Each of SCALAR_METRICS as mean, std and values over the seeds."""
    return {m: spread_record(r.spread(m)) for m in SCALAR_METRICS}


def interval_spreads(r: OverSeeds) -> dict:
    """Per level, each interval measure as mean, std and values over the seeds."""
    return {level_key(lv): {k: spread_record(r.interval(lv, k)) for k in INTERVAL_MEASURES}
            for lv in r.metrics[0].intervals}


def over_seeds_record(r: OverSeeds) -> dict:
    """A cell's metrics over seeds (compare's CellResult, backtest's FoldCell or CellBacktest): every
    metric, then its intervals, as mean, std and values."""
    return {**metric_spreads(r), "intervals": interval_spreads(r)}


def dm_record(t: DMTest) -> dict:
    return {"statistic": t.statistic, "p_value": t.p_value, "days": t.days}


def metrics_table(rows: dict[str, ForecastMetrics], naive: ErrorMetrics) -> str:
    """Markdown table: one row per model, then the naive forecast on the same days."""
    lines = ["| forecast | MAE (USD) | RMSE (USD) | MAPE | direction right | MAE / naive | RMSE / naive | beats naive |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {amount(m.mae)} | {amount(m.rmse)} | {m.mape:.3f}% | "
            f"{100 * m.directional_accuracy:.1f}% | {fmt_ratio(m.mae_ratio_vs_naive)} | "
            f"{fmt_ratio(m.rmse_ratio_vs_naive)} | {100 * m.beats_naive_share:.1f}% of days |"
        )
    lines.append(f"| naive (tomorrow = today) | {amount(naive.mae)} | {amount(naive.rmse)} | "
                 f"{naive.mape:.3f}% | n/a | 1 | 1 | n/a |")
    return "\n".join(lines)


def _width(m: IntervalMetrics, unit: str = "") -> str:
    return "unbounded" if m.unbounded else f"{amount(m.mean_width, 0)}{unit} ({m.mean_width_pct:.2f}%)"


def interval_table(rows: dict[str, dict[float, IntervalMetrics]]) -> str:
    """Markdown table: per forecast and level, coverage, Kupiec's p, width, Winkler score, and
    coverage on the calm, middle and volatile third of the days."""
    lines = ["| forecast | level | coverage | Kupiec p | mean width, USD (%) | Winkler (USD) "
             "| coverage calm / middle / volatile days |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, by_level in rows.items():
        for lv, m in by_level.items():
            winkler = "unbounded" if m.unbounded else amount(m.winkler, 0)
            lines.append(
                f"| {name} | {_level(lv)} | {100 * m.coverage:.1f}% | {p_value(m.kupiec_p_value)} | {_width(m)} | "
                f"{winkler} | {' / '.join(f'{100 * c:.1f}%' for c in m.coverage_by_volatility)} |")
    return "\n".join(lines)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def interval_notes(rows: dict[str, dict[float, IntervalMetrics]]) -> list[str]:
    """Sentences only where the numbers call for one (verdicts.interval_findings): rejected coverage,
    unbounded intervals, a volatile third of the days covered clearly less than the calm third. One
    sentence per level and finding, naming every forecast it holds for (GRU, LSTM and naive often
    share one: the same sentence three times read as three findings)."""
    notes = []
    for found in verdicts.interval_findings(rows):
        lv, unbounded = found.level, found.unbounded
        if len(unbounded) == 1:
            notes.append(f"{unbounded[0]}'s {_level(lv)} interval is unbounded: too few validation days to calibrate it.")
        elif unbounded:
            notes.append(f"The {_level(lv)} intervals of {_and(unbounded)} are unbounded: too few validation days "
                         "to calibrate them.")
        for side, off in found.off.items():
            if len(off) == 1:
                (name, m), = off.items()
                notes.append(f"{name}'s {_level(lv)} interval {side}-covers: {100 * m.coverage:.1f}% of days "
                             f"(Kupiec {p_is(m.kupiec_p_value)}).")
            elif off:
                notes.append(f"The {_level(lv)} intervals {side}-cover: " + _and(
                    [f"{name} on {100 * m.coverage:.1f}% of days (Kupiec {p_is(m.kupiec_p_value)})"
                     for name, m in off.items()]) + ".")
        narrow = {name: m.coverage_by_volatility for name, m in found.narrow.items()}
        if len(narrow) == 1:
            (name, (calm, _, volatile)), = narrow.items()
            notes.append(f"{name}'s {_level(lv)} interval covers {100 * volatile:.1f}% of the most volatile third "
                         f"of days against {100 * calm:.1f}% of the calmest: it is too narrow when markets move.")
        elif narrow:
            notes.append(f"The {_level(lv)} intervals are too narrow when markets move: on the most volatile third "
                         "of days against the calmest, " + _and(
                             [f"{name} covers {100 * volatile:.1f}% against {100 * calm:.1f}%"
                              for name, (calm, _, volatile) in narrow.items()]) + ".")
    return notes


def coverage_notes(name: str, by_level: dict[float, IntervalMetrics]) -> list[str]:
    """interval_notes for one forecast."""
    return interval_notes({name: by_level})


# --- significance and verdicts --------------------------------------------------------------

def _p(test: DMTest) -> str:
    return "n/a (identical losses)" if math.isnan(test.p_value) else p_value(test.p_value)


def _dm_p(test: DMTest) -> str:
    """ "DM p = 0.012", "DM p < 0.001", "DM p = n/a (identical losses)", for sentences."""
    return f"DM p = {_p(test)}" if math.isnan(test.p_value) else f"DM {p_is(test.p_value)}"


def _standing(name: str, standing: Standing, ratio: float, dm: DMTest) -> str:
    if standing is Standing.NO_RATIO:
        return f"{name} cannot be measured against the naive forecast ({NO_RATIO}: the prices never moved)."
    if standing is Standing.BEATS:
        return f"{name} beats the naive forecast significantly (MAE ratio {ratio:.4f}, {_dm_p(dm)})."
    if standing is Standing.WORSE:
        return f"{name} is significantly worse than the naive forecast (MAE ratio {ratio:.4f}, {_dm_p(dm)})."
    if standing is Standing.SLIGHTLY_LOWER:
        return (f"{name} has a slightly lower MAE than the naive forecast (ratio {ratio:.4f}), "
                f"but the difference is not significant ({_dm_p(dm)}).")
    return f"{name} does not beat the naive forecast (MAE ratio {ratio:.4f}, {_dm_p(dm)})."


def verdict(mae_ratio: dict[str, float], vs_naive: dict[str, DMTest], between: DMTest) -> list[str]:
    """Plain words for what the numbers say (verdicts.verdict), including when nothing beats
    'tomorrow = today'. `mae_ratio` and `vs_naive` are keyed by cell; `between` tests the first
    cell against the second."""
    said = verdicts.verdict(mae_ratio, vs_naive, between)
    lines = [_standing(_label(cell), s, mae_ratio[cell], vs_naive[cell]) for cell, s in said.standings.items()]
    if said.ahead is not None:
        better, worse = (_label(c) for c in said.ahead)
        lines.append(f"{better} is significantly more accurate than {worse} ({_dm_p(between)}).")
    else:
        first, second = (_label(c) for c in mae_ratio)
        lines.append(f"{first} and {second} are not significantly different ({_dm_p(between)}): "
                     "on this data the choice of cell does not matter for accuracy.")
    if said.neither_beats_naive:
        lines.append("Neither model beats 'tomorrow = today': daily closes are close to a random walk.")
    return lines


# --- train -------------------------------------------------------------------------------

def train_summary(trained: TrainedModel, directory=None) -> str:
    info, m = trained.info, trained.test.metrics
    lines = [
        f"{_label(info.cell)}: test {m.first_date}..{m.last_date} ({m.days} days)",
        f"  MAE  {m.mae:>10,.2f} USD   naive {m.naive.mae:>10,.2f} USD   "
        f"{ratio_words(m.mae_ratio_vs_naive)}",
        f"  RMSE {m.rmse:>10,.2f} USD   naive {m.naive.rmse:>10,.2f} USD   "
        f"{ratio_words(m.rmse_ratio_vs_naive)}",
        f"  MAPE {m.mape:.2f}%   direction right {100 * m.directional_accuracy:.1f}% of days",
        *(f"  {_level(lv)} interval: held on {100 * i.coverage:.1f}% of days (naive's: "
          f"{100 * m.naive_intervals[lv].coverage:.1f}%), mean width {_width(i, ' USD')}"
          for lv, i in m.intervals.items()),
        *_methods_lines(trained),
        f"  {info.epochs_run} epochs (best {info.best_epoch}) in {info.train_seconds:.1f} s",
    ]
    if info.refit_epochs is not None:
        epochs = f"{info.refit_epochs} epoch{'s' if info.refit_epochs != 1 else ''}"
        lines.append(f"  then refit on all {info.trained_on.days:,} target days ({info.trained_on.first}.."
                     f"{info.trained_on.last}) for {epochs}: the saved model, for predict")
    if directory is not None:
        lines.append(f"  saved to {directory}/")
    return "\n".join(lines)


def _methods_lines(trained: TrainedModel) -> list[str]:
    """Each interval method at the charts' level on the test days: coverage overall and per
    volatility third, and the interval score (metrics.json has every level and the naive's)."""
    if not trained.methods:
        return []
    levels = sorted({lv for _, _, lv in trained.methods})
    level = BAND_LEVEL if BAND_LEVEL in levels else levels[0]
    rows = [f"  {_level(level)} interval by method: coverage, calm / middle / volatile third, interval score (% of forecast)"]
    for (method, who, lv), m in trained.methods.items():
        if who == "model" and lv == level:
            thirds = " / ".join(f"{100 * c:.1f}" for c in m.coverage_by_volatility)
            rows.append(f"    {method:<9}{100 * m.coverage:5.1f}%   {thirds:<18}  {number(m.interval_score_pct)}")
    return rows


def test_record(trained: TrainedModel) -> dict:
    """metrics.json: the held-out test result, every interval method included."""
    return {**metrics_record(trained.test.metrics, split="test"),
            "interval_methods": methods_record(trained.methods or {})}


def train_record(trained: TrainedModel, directory) -> dict:
    """`train --json`: metrics.json's content (the held-out test result), led by the cell and
    where the run was saved, followed by how training went."""
    info = trained.info
    return {
        "cell": info.cell, "saved_to": str(directory),
        **test_record(trained),
        "epochs_run": info.epochs_run, "best_epoch": info.best_epoch, "train_seconds": info.train_seconds,
        "refit_epochs": info.refit_epochs, "trained_on": info.trained_on,
    }


def training_summary(trained: TrainedModel, directory=None) -> str:
    """What training did, without the test result (the comparison reports that, once)."""
    info = trained.info
    saved = f"; saved to {directory}/" if directory is not None else ""
    epochs = f"{info.epochs_run} epoch" + ("s" if info.epochs_run != 1 else "")
    return (f"{_label(info.cell)}: {info.params:,} parameters, {epochs} "
            f"(best {info.best_epoch}, its weights kept) in {info.train_seconds:.1f} s "
            f"({info.seconds_per_epoch:.2f} s per epoch){saved}")


def _band_inputs(forecast, label: str) -> tuple[dict, float]:
    """The band a chart shades: BAND_LEVEL if it was calibrated, else the lowest level."""
    if not forecast.bands:
        return {}, BAND_LEVEL
    level = BAND_LEVEL if BAND_LEVEL in forecast.bands else min(forecast.bands)
    lo, hi = forecast.bands[level]
    return ({} if np.isinf(hi).any() else {label: (lo, hi)}), level


def train_chart_inputs(trained: TrainedModel) -> dict:
    ev, name = trained.test, _label(trained.info.cell)
    m = ev.metrics
    bands, level = _band_inputs(ev.forecast, name)
    return dict(
        dates=ev.forecast.dates, actual=ev.actual, forecasts={name: ev.forecast.point}, naive=ev.forecast.previous,
        title=f"{name} next-day forecast, test period (MAE {m.mae:,.0f} USD, naive {m.naive.mae:,.0f} USD)",
        bands=bands, band_level=level,
    )


def history_chart_inputs(trained: TrainedModel) -> dict:
    info = trained.info
    return dict(history=trained.history,
                title=f"{_label(info.cell)} training ({info.scaling.name} scaling)",
                loss=info.settings.get("loss", "huber"), best_epoch=info.best_epoch)
