"""The reports of a backtest over several sets of inputs: backtest.json, backtest.md and the terminal
text, each a table of every coin, set of inputs and cell (MAE and RMSE relative to naive, direction
right, DM against naive and against the first set), what it says (does any set beat the first, or
naive?), then every coin and set's own backtest report; and the summary chart's inputs.

Every set of a coin forecasts the same out-of-sample days with the same folds and seeds, so its
numbers compare directly and its forecasts pair day by day for the Diebold-Mariano tests.
"""

from __future__ import annotations

from .backtest import DM_ALPHA, Backtest, InputsBacktest
from .config import CELLS, inputs_label
from .report import _fmt, _label, p_value
from .report_backtest import backtest_markdown, backtest_record, engine_sentence
from .report_windows import _ratio, grid_head, grid_tail


def _spread(b: Backtest, cell: str, what: str):
    return b.cells[cell].spread(what)


def _dm_text(tests) -> str:
    return " / ".join(f"{t.statistic:.2f} (p {p_value(t.p_value)})" for t in tests)


def verdict(r: InputsBacktest) -> list[str]:
    """Per coin and cell, each set's MAE ratio and its DM tests against the first set; then across all
    of them, how many (coin, cell, seed) tests found a set better or worse than the first at DM_ALPHA,
    and which sets beat naive. Facts only, compared as printed (4 decimals)."""
    base = r.input_sets[0]
    lines, better, worse, tests = [], [], [], 0
    for coin, by in r.runs.items():
        for cell in CELLS:
            ratios = {i: round(_ratio(b, cell), 4) for i, b in by.items()}
            lowest = min(ratios.values())
            best = [inputs_label(i) for i, v in ratios.items() if v == lowest]
            parts = []
            for i, b in by.items():
                if i == base:
                    parts.append(f"{inputs_label(i)} {ratios[i]:.4f}")
                    continue
                dm = r.dm[coin][cell][i]
                tests += len(dm)
                better += [(coin, cell, i)] * sum(t.p_value < DM_ALPHA and t.statistic < 0 for t in dm)
                worse += [(coin, cell, i)] * sum(t.p_value < DM_ALPHA and t.statistic > 0 for t in dm)
                parts.append(f"{inputs_label(i)} {ratios[i]:.4f} (DM against {inputs_label(base)}, "
                             f"by seed: p {' / '.join(p_value(t.p_value) for t in dm)})")
            lines.append(f"{coin}, {cell.upper()}: MAE / naive " + "; ".join(parts)
                         + f". Lowest: {' and '.join(best)}.")
    others = ", ".join(inputs_label(i) for i in r.input_sets[1:])
    lines.append(
        f"Against {inputs_label(base)}, over {tests} Diebold-Mariano tests (each coin, cell, seed and set of "
        f"{others}): {len(better)} found the other inputs more accurate at {DM_ALPHA:.0%}, {len(worse)} less "
        "accurate" + (": " + ", ".join(f"{c} {cell.upper()} {inputs_label(i)}" for c, cell, i in dict.fromkeys(better))
                      if better else "") + ".")
    beat = [(coin, cell, i) for coin, by in r.runs.items() for i, b in by.items() for cell in CELLS
            if _ratio(b, cell) < 1]
    significant = [(coin, cell, i) for coin, cell, i in beat if r.runs[coin][i].dm[f"{cell}_vs_naive"].p_value < DM_ALPHA
                   and r.runs[coin][i].dm[f"{cell}_vs_naive"].statistic < 0]
    lines.append(
        "Below naive's MAE (seed mean): " + (", ".join(f"{c} {cell.upper()} {inputs_label(i)} ({_ratio(r.runs[c][i], cell):.4f})"
                                                      for c, cell, i in beat) or "none")
        + f"; of those, significantly better than naive by DM (first seed, {DM_ALPHA:.0%}): "
        + (", ".join(f"{c} {cell.upper()} {inputs_label(i)}" for c, cell, i in significant) or "none") + ".")
    return lines


def _row_record(r: InputsBacktest, coin: str, inputs: tuple[str, ...], cell: str) -> dict:
    b = r.runs[coin][inputs]
    dm = r.dm[coin][cell].get(inputs)
    return {
        "mae_ratio_vs_naive": _spread(b, cell, "mae_ratio_vs_naive").mean,
        "rmse_ratio_vs_naive": _spread(b, cell, "rmse_ratio_vs_naive").mean,
        "directional_accuracy": _spread(b, cell, "directional_accuracy").mean,
        "mae_ratio_by_seed": list(_spread(b, cell, "mae_ratio_vs_naive").values),
        "dm_vs_naive": {"statistic": b.dm[f"{cell}_vs_naive"].statistic, "p_value": b.dm[f"{cell}_vs_naive"].p_value},
        "dm_vs_first_inputs_by_seed": None if dm is None else [
            {"seed": s, "statistic": t.statistic, "p_value": t.p_value} for s, t in zip(b.seeds, dm)],
    }


def inputs_record(r: InputsBacktest) -> dict:
    """backtest.json of a run over sets of inputs: the table and sentences, then every coin and set's
    backtest.json as `runs[coin][inputs]`."""
    return {
        **grid_head(r, "inputs", [inputs_label(i) for i in r.input_sets]),
        "summary": {
            "rule": "ratios and direction: seed means over all out-of-sample days; DM vs naive: first seed; "
                    "DM vs the first inputs: each seed, the same cell and seed's forecasts on the same days; "
                    "a negative statistic favours the row's inputs",
            "rows": {coin: {inputs_label(i): {cell: _row_record(r, coin, i, cell) for cell in CELLS} for i in by}
                     for coin, by in r.runs.items()},
            "dm_alpha": DM_ALPHA,
            "verdict": verdict(r),
        },
        "runs": {coin: {inputs_label(i): {k: v for k, v in backtest_record(b).items() if k not in ("command", "engine")}
                        for i, b in by.items()} for coin, by in r.runs.items()},
    }


def section_name(r: InputsBacktest, coin: str, inputs: tuple[str, ...]) -> str:
    return f"inputs {inputs_label(inputs)}" if len(r.runs) == 1 else f"{coin}, inputs {inputs_label(inputs)}"


def _row(r: InputsBacktest, coin: str, inputs: tuple[str, ...], cell: str) -> str:
    b = r.runs[coin][inputs]
    dm_naive = b.dm[f"{cell}_vs_naive"]
    dm = r.dm[coin][cell].get(inputs)
    return (f"| {coin} | {inputs_label(inputs)} | {_label(cell)} | {_fmt(_spread(b, cell, 'mae_ratio_vs_naive'), 4)} | "
            f"{_fmt(_spread(b, cell, 'rmse_ratio_vs_naive'), 4)} | "
            f"{100 * _spread(b, cell, 'directional_accuracy').mean:.1f}% | "
            f"{dm_naive.statistic:.2f} (p {p_value(dm_naive.p_value)}) | {'—' if dm is None else _dm_text(dm)} |")


def inputs_markdown(r: InputsBacktest) -> str:
    first = r.all[0]
    s, seeds = first.settings, first.seeds
    base = inputs_label(r.input_sets[0])
    lines = [
        "# Rolling-origin backtest over inputs: GRU vs LSTM vs naive, next-day close",
        "",
        f"Made by `{r.command}`.",
        "",
        f"Coins: {', '.join(r.coins)}. Inputs: {'; '.join(inputs_label(i) for i in r.input_sets)}: what each model "
        "reads of every day of its window (close, open, high and low as log ratios to the window's last close, "
        "range as log(high / low), volume as log of the day's volume over the window's mean; each standardised on "
        "the fold's training windows). Every set of a coin has the same folds, seeds and out-of-sample days "
        f"({first.dates[0]:%Y-%m-%d}..{first.dates[-1]:%Y-%m-%d} for {r.coins[0]}). Settings: window "
        f"{s['window']}, {s['units']} units, loss {s['loss']}, seeds {', '.join(map(str, seeds))}.",
        engine_sentence(r.engine, r.trained, r.tasks, r.wall_seconds),
        "",
        "## Every coin, set of inputs and cell" + (" (ratios: mean ± std over seeds)" if len(seeds) > 1 else ""),
        "",
        f"Direction right: share of days the forecast moved the way the close did (seed mean). DM: statistic (p), "
        f"squared error; against naive seed {seeds[0]}, a negative statistic favours the cell; against {base} one "
        f"test per seed ({' / '.join(map(str, seeds))}), a negative statistic favours the row's inputs.",
        "",
        f"| coin | inputs | cell | MAE / naive | RMSE / naive | direction right | DM vs naive | DM vs {base} |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        *(_row(r, coin, i, cell) for coin, by in r.runs.items() for i in by for cell in CELLS),
        "",
        *(f"- {line}" for line in verdict(r)),
        "",
    ]
    sections = [backtest_markdown(b, coin=section_name(r, coin, i)) for coin, by in r.runs.items() for i, b in by.items()]
    return "\n".join(lines) + "\n" + "\n".join(sections)


def inputs_text(r: InputsBacktest, charts: list[str]) -> str:
    """The terminal summary: one row per coin, set of inputs and cell, then what they say."""
    base = inputs_label(r.input_sets[0])
    rows = [f"{'':<8}{'inputs':<16}{'cell':<6}{'MAE / naive':>16}{'RMSE / naive':>16}{'direction':>11}"
            f"{'DM vs naive p':>15}   DM vs {base} p (by seed)"]
    for coin, by in r.runs.items():
        for i, b in by.items():
            for cell in CELLS:
                dm = r.dm[coin][cell].get(i)
                rows.append(f"{coin:<8}{inputs_label(i):<16}{_label(cell):<6}"
                            f"{_fmt(_spread(b, cell, 'mae_ratio_vs_naive'), 4):>16}"
                            f"{_fmt(_spread(b, cell, 'rmse_ratio_vs_naive'), 4):>16}"
                            f"{100 * _spread(b, cell, 'directional_accuracy').mean:>10.1f}%"
                            f"{p_value(b.dm[f'{cell}_vs_naive'].p_value):>15}   "
                            + ("—" if dm is None else " / ".join(p_value(t.p_value) for t in dm)))
    seeds = len(r.all[0].seeds)
    return "\n".join([
        f"backtest of {len(r.runs)} coin{'s' if len(r.runs) > 1 else ''} with {len(r.input_sets)} sets of inputs, "
        f"{seeds} seed{'s' if seeds > 1 else ''} per cell and fold",
        *rows,
        "",
        *verdict(r),
        "",
        *grid_tail(r, charts),
    ])


def chart_name(r: InputsBacktest, coin: str, inputs: tuple[str, ...]) -> str:
    """backtest-<inputs>.png, or backtest-<coin>-<inputs>.png with several coins ("," as "+")."""
    key = inputs_label(inputs).replace(",", "+")
    return f"backtest-{key}.png" if len(r.runs) == 1 else f"backtest-{coin}-{key}.png"


def inputs_chart_inputs(r: InputsBacktest) -> dict:
    """plots_summary.coins_chart, one position per coin and set of inputs: each cell's seed-mean MAE
    ratio and its seed min..max."""
    def pick(what: str) -> dict:
        return {_label(c): [getattr(_spread(b, c, "mae_ratio_vs_naive"), what) for b in r.all] for c in CELLS}

    names = [inputs_label(i) if len(r.runs) == 1 else f"{coin}\n{inputs_label(i)}" for coin, by in r.runs.items() for i in by]
    return dict(coins=names, ratio=pick("mean"), ratio_low=pick("low"), ratio_high=pick("high"),
                seeds=len(r.all[0].seeds), per="set of inputs" if len(r.runs) == 1 else "coin and set of inputs")
