"""GRU vs LSTM on the same data, split and test days: error, significance, seeds and speed.

Writes <out>/comparison.json (everything), comparison.md (the table a person reads) and
comparison.png (forecasts on the test period, error and latency bars).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifacts, bench, evaluate, plots
from .data import Prices, load_prices
from .files import write_atomic
from .errors import ModelError
from .models import CELLS
from .train import TrainResult, predict_usd, settings, train
from .windows import Dataset, build_dataset, rows_needed

log = logging.getLogger(__name__)

METRICS = ("mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive",
           "rmse_ratio_vs_naive", "beats_naive_share")


@dataclass(frozen=True)
class Run:
    cell: str
    seed: int
    model: object           # keras.Model
    meta: dict              # its model.json
    test_pred: np.ndarray   # (n_test,) USD
    metrics: dict           # forecast_metrics on the test split
    reused: bool


def _reusable(directory: Path, cfg, prices: Prices) -> artifacts.SavedModel | None:
    """A saved model trained on exactly these prices with exactly these settings, if any."""
    try:
        meta = artifacts.read_meta(directory)
    except ModelError:
        return None
    if meta["settings"] != settings(cfg) or meta["data"].get("sha256") != prices.sha256():
        log.warning("replacing the model in %s: it was trained on other data or settings", directory)
        return None
    try:
        return artifacts.load_model(directory)
    except ModelError as e:
        log.warning("retraining: %s", e)
        return None


def get_run(cfg, prices: Prices, dataset: Dataset, directory: Path) -> Run:
    X_test, y_test, _ = dataset.part("test")
    saved = _reusable(directory, cfg, prices)
    if saved is not None:
        log.info("%s seed %d: reusing %s (same data and settings)", cfg.cell.upper(), cfg.seed, directory)
        pred = predict_usd(saved.model, dataset.scaling, X_test)
        model, meta = saved.model, saved.meta
    else:
        log.info("%s seed %d: training", cfg.cell.upper(), cfg.seed)
        result: TrainResult = train(cfg, prices, directory=directory)
        model, meta, pred = result.model, result.meta, result.test_pred
    metrics = evaluate.forecast_metrics(y_test, pred, X_test[:, -1])
    return Run(cfg.cell, cfg.seed, model, meta, pred, metrics, saved is not None)


def _spread(values: list[float]) -> dict:
    # ddof=1: the sample std over seeds; one seed has no spread to report.
    return {"mean": float(np.mean(values)),
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "values": [float(v) for v in values]}


def _dm_tests(y, runs: dict[str, Run], naive) -> dict:
    gru, lstm = runs["gru"].test_pred, runs["lstm"].test_pred
    return {
        "loss": "squared error; negative statistic: the first forecast is more accurate",
        "gru_vs_lstm": evaluate.diebold_mariano(y, gru, lstm),
        "gru_vs_naive": evaluate.diebold_mariano(y, gru, naive),
        "lstm_vs_naive": evaluate.diebold_mariano(y, lstm, naive),
    }


def compare(cfg, seeds: int = 1, calls: int = 200, command: str = "compare()") -> dict:
    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    dataset = build_dataset(prices.close, cfg)  # one split for both cells
    X_test, y_test, dates = dataset.part("test")
    naive = X_test[:, -1]
    seed_list = [cfg.seed + k for k in range(seeds)]
    runs: dict[str, list[Run]] = {}
    for cell in CELLS:
        runs[cell] = [
            get_run(cfg.replace(cell=cell, seed=s), prices, dataset,
                    artifacts.run_dir(cfg.out, cell, None if k == 0 else s))
            for k, s in enumerate(seed_list)
        ]
    first = {cell: rs[0] for cell, rs in runs.items()}
    log.info("timing inference: %d calls per path and cell, batch 1 and batch %d", calls, len(y_test))
    timing = bench.time_models({c: r.model for c, r in first.items()}, cfg.window, calls, len(y_test))

    result: dict = {
        "command": command,
        "data": first["gru"].meta["data"],
        "split": dataset.split.describe(dataset.dates),
        "settings": {k: v for k, v in settings(cfg).items() if k not in ("cell", "seed")},
        "seeds": seed_list,
        "naive": first["gru"].metrics["naive"],
    }
    for cell, rs in runs.items():
        spread = {m: _spread([r.metrics[m] for r in rs]) for m in METRICS}
        result[cell] = {
            **{m: spread[m]["mean"] for m in METRICS},
            "params": int(first[cell].model.count_params()),
            **{k: timing[cell][k] for k in ("latency_ms", "predict_latency_ms", "throughput_windows_per_s")},
            "train_seconds_per_epoch": float(np.mean([r.meta["seconds_per_epoch"] for r in rs])),
            "epochs_run": [r.meta["epochs_run"] for r in rs],
            "reused_saved_model": [r.reused for r in rs],
            "seeds": spread,
        }
    result["paired_difference_gru_minus_lstm"] = {
        m: _spread([g.metrics[m] - l.metrics[m] for g, l in zip(runs["gru"], runs["lstm"])]) for m in METRICS
    }
    result["dm_test"] = {**_dm_tests(y_test, first, naive), "seed": seed_list[0]}
    if seeds > 1:
        result["dm_test_gru_vs_lstm_by_seed"] = [
            {"seed": s, **evaluate.diebold_mariano(y_test, g.test_pred, l.test_pred)}
            for s, g, l in zip(seed_list, runs["gru"], runs["lstm"])
        ]
    result["timing"] = {k: v for k, v in timing.items() if k not in CELLS}
    _write(cfg.out, result, dates, y_test, {c.upper(): r.test_pred for c, r in first.items()}, naive)
    return result


def verdict(result: dict) -> list[str]:
    """Plain words for what the numbers say, including when nothing beats 'tomorrow = today'."""
    lines = []
    for cell in CELLS:
        r, dm = result[cell], result["dm_test"][f"{cell}_vs_naive"]
        ratio, p, name = r["mae_ratio_vs_naive"], dm["p_value"], cell.upper()
        if p < 0.05 and dm["statistic"] < 0:
            lines.append(f"{name} beats the naive forecast significantly (MAE ratio {ratio:.4f}, DM p = {p:.3f}).")
        elif p < 0.05:
            lines.append(f"{name} is significantly worse than the naive forecast (MAE ratio {ratio:.4f}, DM p = {p:.3f}).")
        elif ratio < 1:
            lines.append(f"{name} has a slightly lower MAE than the naive forecast (ratio {ratio:.4f}), "
                         f"but the difference is not significant (DM p = {p:.3f}).")
        else:
            lines.append(f"{name} does not beat the naive forecast (MAE ratio {ratio:.4f}, DM p = {p:.3f}).")
    dm = result["dm_test"]["gru_vs_lstm"]
    better = "GRU" if dm["statistic"] < 0 else "LSTM"
    if dm["p_value"] < 0.05:
        lines.append(f"{better} is significantly more accurate than the other cell (DM p = {dm['p_value']:.3f}).")
    else:
        lines.append(f"GRU and LSTM are not significantly different (DM p = {dm['p_value']:.3f}): "
                     "on this data the choice of cell does not matter for accuracy.")
    if all(result[c]["mae_ratio_vs_naive"] >= 1 for c in CELLS):
        lines.append("Neither model beats 'tomorrow = today': daily closes are close to a random walk.")
    return lines


def _fmt(spread: dict, digits: int, scale: float = 1) -> str:
    mean = f"{spread['mean'] * scale:,.{digits}f}"
    return mean if spread["std"] is None else f"{mean} ± {spread['std'] * scale:,.{digits}f}"


def markdown(result: dict) -> str:
    g, l = result["gru"], result["lstm"]
    split = result["split"]
    seeds = result["seeds"]
    lines = [
        "# GRU vs LSTM: next-day BTC close",
        "",
        f"Made by `{result['command']}`.",
        "",
        f"Data: {result['data']['source']}, {result['data']['first_date']}..{result['data']['last_date']} "
        f"({result['data']['rows']} days). Test period {split['test']['first']}..{split['test']['last']} "
        f"({split['test']['days']} days); training {split['train']['first']}..{split['train']['last']}, "
        f"validation (early stopping) {split['val']['first']}..{split['val']['last']}.",
        f"Settings: window {result['settings']['window']}, {result['settings']['scaling']} scaling, "
        f"{result['settings']['units']} units, loss {result['settings']['loss']}, seeds {', '.join(map(str, seeds))}.",
        "",
        "## Next-day error on the test period (USD)" + (" — mean over seeds" if len(seeds) > 1 else ""),
        "",
        evaluate.metrics_table({"GRU": g, "LSTM": l}, result["naive"]),
        "",
    ]
    if len(seeds) > 1:
        diff = result["paired_difference_gru_minus_lstm"]
        lines += [
            f"## Seeds: mean ± std over {len(seeds)} seeds, and the paired difference",
            "",
            "| metric | GRU | LSTM | GRU − LSTM (paired) |",
            "|---|---:|---:|---:|",
            *(f"| {name} | {_fmt(g['seeds'][m], d, s)} | {_fmt(l['seeds'][m], d, s)} | {_fmt(diff[m], d, s)} |"
              for name, m, d, s in [("MAE (USD)", "mae", 2, 1), ("RMSE (USD)", "rmse", 2, 1),
                                    ("MAPE (%)", "mape", 3, 1), ("direction right (%)", "directional_accuracy", 1, 100),
                                    ("MAE / naive", "mae_ratio_vs_naive", 4, 1)]),
            "",
        ]
    dm = result["dm_test"]
    lines += [
        f"## Is the difference real? Diebold-Mariano (squared error, HLN small-sample correction, seed {dm['seed']})",
        "",
        "| pair | statistic | p-value |",
        "|---|---:|---:|",
        *(f"| {label} | {dm[pair]['statistic']:.3f} | {dm[pair]['p_value']:.3f} |"
          for pair, label in (("gru_vs_lstm", "GRU vs LSTM"), ("gru_vs_naive", "GRU vs naive"),
                              ("lstm_vs_naive", "LSTM vs naive"))),
        "",
        "A negative statistic means the first forecast has the smaller loss.",
        "",
        "## Speed (this machine)",
        "",
        "| | GRU | LSTM | GRU / LSTM |",
        "|---|---:|---:|---:|",
        f"| parameters | {g['params']:,} | {l['params']:,} | {g['params'] / l['params']:.2f} |",
        f"| latency, one window, fast path p50 / p95 (ms) | {g['latency_ms']['p50']:.3f} / {g['latency_ms']['p95']:.3f} "
        f"| {l['latency_ms']['p50']:.3f} / {l['latency_ms']['p95']:.3f} | {g['latency_ms']['p50'] / l['latency_ms']['p50']:.2f} |",
        f"| latency, one window, model.predict p50 / p95 (ms) | {g['predict_latency_ms']['p50']:.1f} / {g['predict_latency_ms']['p95']:.1f} "
        f"| {l['predict_latency_ms']['p50']:.1f} / {l['predict_latency_ms']['p95']:.1f} | "
        f"{g['predict_latency_ms']['p50'] / l['predict_latency_ms']['p50']:.2f} |",
        f"| throughput, whole test set in one batch (windows/s) | {g['throughput_windows_per_s']:,.0f} "
        f"| {l['throughput_windows_per_s']:,.0f} | {g['throughput_windows_per_s'] / l['throughput_windows_per_s']:.2f} |",
        f"| training (s per epoch) | {g['train_seconds_per_epoch']:.2f} | {l['train_seconds_per_epoch']:.2f} "
        f"| {g['train_seconds_per_epoch'] / l['train_seconds_per_epoch']:.2f} |",
        "",
        f"Measured here: at batch 1 GRU takes {g['latency_ms']['p50'] / l['latency_ms']['p50']:.2f}x LSTM's time "
        f"(per-call overhead dominates); with the whole test set in one batch, "
        f"{l['throughput_windows_per_s'] / g['throughput_windows_per_s']:.2f}x (GRU has 3 gate blocks to LSTM's 4).",
        "",
        "## What this means",
        "",
        *(f"- {v}" for v in verdict(result)),
        "",
    ]
    return "\n".join(lines)


def _write(out: Path, result: dict, dates, actual, predictions: dict, naive) -> None:
    out = Path(out)
    artifacts.write_json(out / "comparison.json", result)
    write_atomic(out / "comparison.md", lambda tmp: tmp.write_text(markdown(result)))
    fig = plots.comparison_chart(dates, actual, predictions, naive, **chart_inputs(result))
    artifacts.save_figure(out / "comparison.png", fig)


def chart_inputs(result: dict) -> dict:
    """The comparison chart's bars, from a compare result."""
    names = {"GRU": "gru", "LSTM": "lstm"}
    return {
        "mae_ratio": {n: result[c]["mae_ratio_vs_naive"] for n, c in names.items()},
        "mae_ratio_std": {n: result[c]["seeds"]["mae_ratio_vs_naive"]["std"] or 0 for n, c in names.items()},
        "latency_ms": {n: {"fast path": result[c]["latency_ms"]["p50"],
                           "model.predict": result[c]["predict_latency_ms"]["p50"]} for n, c in names.items()},
    }


def run_compare(cfg, seeds: int = 1, calls: int = 200, command: str = "compare()") -> str:
    result = compare(cfg, seeds, calls, command)
    out = Path(cfg.out)
    g, l = result["gru"], result["lstm"]
    return "\n".join([
        evaluate.metrics_table({"GRU": g, "LSTM": l}, result["naive"]),
        "",
        *verdict(result),
        "",
        f"latency p50 (fast path): GRU {g['latency_ms']['p50']:.3f} ms, LSTM {l['latency_ms']['p50']:.3f} ms",
        f"written: {out / 'comparison.json'}, {out / 'comparison.md'}, {out / 'comparison.png'}",
    ])
