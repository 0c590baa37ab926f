"""The reports of a backtest or a comparison over several sets of inputs: backtest.json (comparison.json),
the markdown and the terminal text, each a table of every coin (a comparison has one price file), set
of inputs and cell (MAE and RMSE relative to naive, direction right, DM against naive and against the
first set), what it says (does any set beat the first, or naive?), then every coin and set's own
backtest or comparison report; and the charts' inputs.

Every set of a coin forecasts the same days (a backtest's folds, a comparison's test period) with the
same seeds, so its numbers compare directly and its forecasts pair day by day for the Diebold-Mariano
tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backtest import DM_ALPHA, Backtest, InputsBacktest
from .compare import InputsComparison, set_dir
from .jsonio import jsonable
from .config import CELLS, inputs_key, inputs_label
from .report import _fmt, _label, p_value
from .report_backtest import backtest_markdown, backtest_record, engine_sentence
from .report_compare import comparison_chart_inputs, comparison_markdown, comparison_record
from .report_windows import _ratio, grid_head, grid_tail


def _spread(b: Backtest, cell: str, what: str):
    return b.cells[cell].spread(what)


def _dm_text(tests) -> str:
    return " / ".join(f"{t.statistic:.2f} (p {p_value(t.p_value)})" for t in tests)


@dataclass(frozen=True)
class _Grid:
    """What the table and sentences read, of a backtest or a comparison over inputs alike."""

    runs: dict   # name ("" for a comparison's one price file) -> inputs -> Backtest or Comparison
    dm: dict     # name -> cell -> inputs (not the first) -> DM against the first, one per seed
    input_sets: list

    @staticmethod
    def of(r: InputsBacktest | InputsComparison) -> _Grid:
        if isinstance(r, InputsComparison):
            return _Grid({"": r.runs}, {"": r.dm}, r.input_sets)
        return _Grid(r.runs, r.dm, r.input_sets)


def _who(coin: str, cell: str, inputs: tuple[str, ...] | None = None, sep: str = " ") -> str:
    return sep.join(x for x in (coin, cell.upper(), inputs and inputs_label(inputs)) if x)


def verdict(r: InputsBacktest | InputsComparison) -> list[str]:
    """Per coin and cell, each set's MAE ratio and its DM tests against the first set; then across all
    of them, how many (coin, cell, seed) tests found a set better or worse than the first at DM_ALPHA,
    and which sets beat naive. Facts only, compared as printed (4 decimals)."""
    g = _Grid.of(r)
    base = g.input_sets[0]
    lines, better, worse, tests = [], [], [], 0
    for coin, by in g.runs.items():
        for cell in CELLS:
            ratios = {i: round(_ratio(b, cell), 4) for i, b in by.items()}
            lowest = min(ratios.values())
            best = [inputs_label(i) for i, v in ratios.items() if v == lowest]
            parts = []
            for i, b in by.items():
                if i == base:
                    parts.append(f"{inputs_label(i)} {ratios[i]:.4f}")
                    continue
                dm = g.dm[coin][cell][i]
                tests += len(dm)
                better += [(coin, cell, i)] * sum(t.p_value < DM_ALPHA and t.statistic < 0 for t in dm)
                worse += [(coin, cell, i)] * sum(t.p_value < DM_ALPHA and t.statistic > 0 for t in dm)
                parts.append(f"{inputs_label(i)} {ratios[i]:.4f} (DM against {inputs_label(base)}, "
                             f"by seed: p {' / '.join(p_value(t.p_value) for t in dm)})")
            lines.append(f"{_who(coin, cell, sep=', ')}: MAE / naive " + "; ".join(parts)
                         + f". Lowest: {' and '.join(best)}.")
    others = ", ".join(inputs_label(i) for i in g.input_sets[1:])
    each = "each coin, cell, seed" if any(g.runs) else "each cell, seed"
    lines.append(
        f"Against {inputs_label(base)}, over {tests} Diebold-Mariano tests ({each} and set of "
        f"{others}): {len(better)} found the other inputs more accurate at {DM_ALPHA:.0%}, {len(worse)} less "
        "accurate" + (": " + ", ".join(_who(*w) for w in dict.fromkeys(better)) if better else "") + ".")
    beat = [(coin, cell, i) for coin, by in g.runs.items() for i, b in by.items() for cell in CELLS
            if _ratio(b, cell) < 1]
    significant = [(coin, cell, i) for coin, cell, i in beat if g.runs[coin][i].dm[f"{cell}_vs_naive"].p_value < DM_ALPHA
                   and g.runs[coin][i].dm[f"{cell}_vs_naive"].statistic < 0]
    lines.append(
        "Below naive's MAE (seed mean): " + (", ".join(f"{_who(c, cell, i)} ({_ratio(g.runs[c][i], cell):.4f})"
                                                      for c, cell, i in beat) or "none")
        + f"; of those, significantly better than naive by DM (first seed, {DM_ALPHA:.0%}): "
        + (", ".join(_who(*w) for w in significant) or "none") + ".")
    return lines


def _row_record(g: _Grid, coin: str, inputs: tuple[str, ...], cell: str) -> dict:
    b = g.runs[coin][inputs]
    dm = g.dm[coin][cell].get(inputs)
    return {
        "mae_ratio_vs_naive": _spread(b, cell, "mae_ratio_vs_naive").mean,
        "rmse_ratio_vs_naive": _spread(b, cell, "rmse_ratio_vs_naive").mean,
        "directional_accuracy": _spread(b, cell, "directional_accuracy").mean,
        "mae_ratio_by_seed": list(_spread(b, cell, "mae_ratio_vs_naive").values),
        "dm_vs_naive": {"statistic": b.dm[f"{cell}_vs_naive"].statistic, "p_value": b.dm[f"{cell}_vs_naive"].p_value},
        "dm_vs_first_inputs_by_seed": None if dm is None else [
            {"seed": s, "statistic": t.statistic, "p_value": t.p_value} for s, t in zip(b.seeds, dm)],
    }


def _summary(r: InputsBacktest | InputsComparison, days: str) -> dict:
    g = _Grid.of(r)
    rows = {coin: {inputs_label(i): {cell: _row_record(g, coin, i, cell) for cell in CELLS} for i in by}
            for coin, by in g.runs.items()}
    return {
        "rule": f"ratios and direction: seed means over all {days}; DM vs naive: first seed; "
                "DM vs the first inputs: each seed, the same cell and seed's forecasts on the same days; "
                "a negative statistic favours the row's inputs",
        "rows": rows[""] if isinstance(r, InputsComparison) else rows,
        "dm_alpha": DM_ALPHA,
        "verdict": verdict(r),
    }


def inputs_record(r: InputsBacktest) -> dict:
    """backtest.json of a run over sets of inputs: the table and sentences, then every coin and set's
    backtest.json as `runs[coin][inputs]`."""
    return {
        **grid_head(r, "inputs", [inputs_label(i) for i in r.input_sets]),
        "summary": _summary(r, "out-of-sample days"),
        "runs": {coin: {inputs_label(i): {k: v for k, v in backtest_record(b).items() if k not in ("command", "engine")}
                        for i, b in by.items()} for coin, by in r.runs.items()},
    }


def section_name(r: InputsBacktest, coin: str, inputs: tuple[str, ...]) -> str:
    return f"inputs {inputs_label(inputs)}" if len(r.runs) == 1 else f"{coin}, inputs {inputs_label(inputs)}"


READS = ("close, open, high and low as log ratios to the window's last close, range as log(high / low), volume "
         "as log of the day's volume over the window's mean")  # what each input is, as every report says it


def _row(g: _Grid, coin: str, inputs: tuple[str, ...], cell: str) -> str:
    b = g.runs[coin][inputs]
    dm_naive = b.dm[f"{cell}_vs_naive"]
    dm = g.dm[coin][cell].get(inputs)
    values = [*([coin] if coin else []), inputs_label(inputs), _label(cell), _fmt(_spread(b, cell, "mae_ratio_vs_naive"), 4),
              _fmt(_spread(b, cell, "rmse_ratio_vs_naive"), 4), f"{100 * _spread(b, cell, 'directional_accuracy').mean:.1f}%",
              f"{dm_naive.statistic:.2f} (p {p_value(dm_naive.p_value)})", "—" if dm is None else _dm_text(dm)]
    return "| " + " | ".join(values) + " |"


def _table(r: InputsBacktest | InputsComparison, seeds: tuple[int, ...]) -> list[str]:
    """The markdown table of every (coin,) set and cell, what its columns mean, and the sentences."""
    g = _Grid.of(r)
    base = inputs_label(g.input_sets[0])
    named = any(g.runs)
    return [
        f"Direction right: share of days the forecast moved the way the close did (seed mean). DM: statistic (p), "
        f"squared error; against naive seed {seeds[0]}, a negative statistic favours the cell; against {base} one "
        f"test per seed ({' / '.join(map(str, seeds))}), a negative statistic favours the row's inputs.",
        "",
        ("| coin " if named else "") + f"| inputs | cell | MAE / naive | RMSE / naive | direction right | DM vs naive | DM vs {base} |",
        "|---" * (2 + named) + "|---:" * 5 + "|",
        *(_row(g, coin, i, cell) for coin, by in g.runs.items() for i in by for cell in CELLS),
        "",
        *(f"- {line}" for line in verdict(r)),
        "",
    ]


def inputs_markdown(r: InputsBacktest) -> str:
    first = r.all[0]
    s, seeds = first.settings, first.seeds
    lines = [
        "# Rolling-origin backtest over inputs: GRU vs LSTM vs naive, next-day close",
        "",
        f"Made by `{r.command}`.",
        "",
        f"Coins: {', '.join(r.coins)}. Inputs: {'; '.join(inputs_label(i) for i in r.input_sets)}: what each model "
        f"reads of every day of its window ({READS}; each standardised on "
        "the fold's training windows). Every set of a coin has the same folds, seeds and out-of-sample days "
        f"({first.dates[0]:%Y-%m-%d}..{first.dates[-1]:%Y-%m-%d} for {r.coins[0]}). Settings: window "
        f"{s['window']}, {s['units']} units, loss {s['loss']}, seeds {', '.join(map(str, seeds))}.",
        engine_sentence(r.engine, r.trained, r.tasks, r.wall_seconds),
        "",
        "## Every coin, set of inputs and cell" + (" (ratios: mean ± std over seeds)" if len(seeds) > 1 else ""),
        "",
        *_table(r, seeds),
    ]
    sections = [backtest_markdown(b, coin=section_name(r, coin, i)) for coin, by in r.runs.items() for i, b in by.items()]
    return "\n".join(lines) + "\n" + "\n".join(sections)


def _text_rows(r: InputsBacktest | InputsComparison) -> list[str]:
    """The terminal table: one row per (coin,) set of inputs and cell."""
    g = _Grid.of(r)
    base = inputs_label(g.input_sets[0])
    name = (lambda coin: f"{coin:<8}") if any(g.runs) else (lambda coin: "")
    rows = [f"{name('')}{'inputs':<16}{'cell':<6}{'MAE / naive':>16}{'RMSE / naive':>16}{'direction':>11}"
            f"{'DM vs naive p':>15}   DM vs {base} p (by seed)"]
    for coin, by in g.runs.items():
        for i, b in by.items():
            for cell in CELLS:
                dm = g.dm[coin][cell].get(i)
                rows.append(f"{name(coin)}{inputs_label(i):<16}{_label(cell):<6}"
                            f"{_fmt(_spread(b, cell, 'mae_ratio_vs_naive'), 4):>16}"
                            f"{_fmt(_spread(b, cell, 'rmse_ratio_vs_naive'), 4):>16}"
                            f"{100 * _spread(b, cell, 'directional_accuracy').mean:>10.1f}%"
                            f"{p_value(b.dm[f'{cell}_vs_naive'].p_value):>15}   "
                            + ("—" if dm is None else " / ".join(p_value(t.p_value) for t in dm)))
    return rows


def inputs_text(r: InputsBacktest, charts: list[str]) -> str:
    """The terminal summary: one row per coin, set of inputs and cell, then what they say."""
    seeds = len(r.all[0].seeds)
    return "\n".join([
        f"backtest of {len(r.runs)} coin{'s' if len(r.runs) > 1 else ''} with {len(r.input_sets)} sets of inputs, "
        f"{seeds} seed{'s' if seeds > 1 else ''} per cell and fold",
        *_text_rows(r),
        "",
        *verdict(r),
        "",
        *grid_tail(r, charts),
    ])


def _ratio_points(r: InputsBacktest | InputsComparison) -> dict:
    """coins_chart's ratio, ratio_low and ratio_high: per cell, each (coin and) set's seed-mean MAE
    ratio and its seed min and max, in table order."""
    runs = [b for by in _Grid.of(r).runs.values() for b in by.values()]
    return {key: {_label(c): [getattr(_spread(b, c, "mae_ratio_vs_naive"), what) for b in runs] for c in CELLS}
            for key, what in (("ratio", "mean"), ("ratio_low", "low"), ("ratio_high", "high"))}


def chart_name(r: InputsBacktest, coin: str, inputs: tuple[str, ...]) -> str:
    """backtest-<inputs>.png, or backtest-<coin>-<inputs>.png with several coins ("," as "+")."""
    key = inputs_key(inputs)
    return f"backtest-{key}.png" if len(r.runs) == 1 else f"backtest-{coin}-{key}.png"


def inputs_chart_inputs(r: InputsBacktest) -> dict:
    """plots_summary.coins_chart, one position per coin and set of inputs: each cell's seed-mean MAE
    ratio and its seed min..max."""
    names = [inputs_label(i) if len(r.runs) == 1 else f"{coin}\n{inputs_label(i)}" for coin, by in r.runs.items() for i in by]
    return dict(coins=names, **_ratio_points(r), seeds=len(r.all[0].seeds),
                per="set of inputs" if len(r.runs) == 1 else "coin and set of inputs")


# --- compare over sets of inputs: comparison.json, .md and the charts -------------------------------


def compare_chart_name(inputs: tuple[str, ...]) -> str:
    return f"comparison-{inputs_key(inputs)}.png"


def _trained(c: InputsComparison) -> tuple[int, int]:
    """(models trained now, models in all)."""
    runs = [run for r in c.runs.values() for cell in r.cells.values() for run in cell.runs]
    return sum(not run.reused for run in runs), len(runs)


def compare_inputs_record(c: InputsComparison) -> dict:
    """comparison.json of a comparison over sets of inputs: the table and sentences, then every set's
    own comparison.json as `runs[inputs]`."""
    f = c.first
    trained, models = _trained(c)
    return {
        "command": c.command,
        "inputs": [inputs_label(i) for i in c.input_sets],
        "data": jsonable(f.data),
        "split": jsonable(f.split),
        "seeds": list(f.seeds),
        "models": {"total": models, "trained": trained, "reused": models - trained,
                   "folders": {inputs_label(i): str(set_dir(c.out, i)) for i in c.input_sets}},
        "summary": _summary(c, "test days"),
        "runs": {inputs_label(i): {k: v for k, v in comparison_record(r).items() if k != "command"}
                 for i, r in c.runs.items()},
    }


def compare_inputs_markdown(c: InputsComparison) -> str:
    """comparison.md over sets of inputs: the table of every set and cell, then every set's own
    comparison, one level down."""
    f = c.first
    s, split, seeds = f.settings, f.split, f.seeds
    lines = [
        "# GRU vs LSTM over inputs: next-day close on one test period",
        "",
        f"Made by `{c.command}`.",
        "",
        f"Data: {f.data.source}, {f.data.first_date}..{f.data.last_date} ({f.data.rows} days). Every set of inputs "
        f"has the same test period {split['test'].first}..{split['test'].last} ({split['test'].days} days), training "
        f"{split['train'].first}..{split['train'].last} and validation {split['val'].first}..{split['val'].last}. "
        f"Inputs: {'; '.join(inputs_label(i) for i in c.input_sets)}: what each model reads of every day of its "
        f"window ({READS}; each standardised on the training windows). Settings: window {s['window']}, "
        f"{s['units']} units, loss {s['loss']}, seeds {', '.join(map(str, seeds))}. Each set's models are saved "
        f"in a folder of its own: " + ", ".join(f"`{set_dir(c.out, i)}`" for i in c.input_sets) + ".",
        "",
        "## Every set of inputs and cell" + (" (ratios: mean ± std over seeds)" if len(seeds) > 1 else ""),
        "",
        *_table(c, seeds),
    ]
    sections = [comparison_markdown(r, heading_level=2, title=f"Inputs {inputs_label(i)}") for i, r in c.runs.items()]
    return "\n".join(lines) + "\n" + "\n".join(sections)


def compare_inputs_text(c: InputsComparison, charts: list[str]) -> str:
    """The terminal summary: one row per set of inputs and cell, then what they say, then the files."""
    f = c.first
    test = f.split["test"]
    trained, models = _trained(c)
    return "\n".join([
        f"comparison of {len(c.runs)} sets of inputs on the test days {test.first}..{test.last} ({test.days} days), "
        f"{len(f.seeds)} seed{'s' if len(f.seeds) > 1 else ''} per cell",
        *_text_rows(c),
        "",
        *verdict(c),
        "",
        f"{trained} of {models} models trained now, {models - trained} reused; saved in "
        + ", ".join(str(set_dir(c.out, i)) for i in c.input_sets),
        f"written: {c.out / 'comparison.json'}, {c.out / 'comparison.md'}, {', '.join(charts)}",
    ])


def compare_inputs_chart_inputs(c: InputsComparison) -> dict:
    """plots_summary.coins_chart, one position per set of inputs: each cell's seed-mean MAE ratio on
    the test days and its seed min..max."""
    return dict(coins=[inputs_label(i) for i in c.input_sets], **_ratio_points(c), seeds=len(c.first.seeds),
                per="set of inputs", days=f"the {c.first.split['test'].days} test days")


def set_chart_inputs(c: InputsComparison, inputs: tuple[str, ...]) -> dict:
    """plots_summary.comparison_chart of one set, its inputs in the title."""
    return {**comparison_chart_inputs(c.runs[inputs]), "inputs": inputs_label(inputs)}
