"""The reports of a multi-coin backtest: backtest.json, backtest.md and the terminal text, each a
summary across coins and then every coin's own backtest report; and the summary chart's inputs.

Errors are in each coin's own currency (the price files' quote currency, USD for the X-USD files);
the ratios to naive and the DM tests are what compares across coins.
"""

from __future__ import annotations

from .backtest import DM_ALPHA, Backtest, CoinsBacktest
from .report import _fmt, _label, _level, _pair_name, amount, inputs_of, p_value
from .report_backtest import (backtest_markdown, backtest_record, backtest_verdict, band_level, engine_record,
                              engine_sentence, power_sentence)


def _coins(c: CoinsBacktest) -> str:
    return ", ".join(c.coins)


def _summary_sentences(c: CoinsBacktest) -> list[str]:
    s, n = c.summary, c.summary.coins
    dm = " ".join(f"{_pair_name(pair)} on {k} of {n};" for pair, k in s.dm_significant.items()).rstrip(";")
    return [
        f"GRU's MAE is below LSTM's on {s.gru_below_lstm} of {n} coins.",
        f"Below naive's MAE: GRU on {s.below_naive['gru']} of {n} coins, LSTM on {s.below_naive['lstm']} of {n}.",
        f"Diebold-Mariano significant at {DM_ALPHA:.0%} (first seed): {dm}.",
    ]


def coins_record(c: CoinsBacktest) -> dict:
    """backtest.json of a multi-coin run: the summary, then each coin's backtest.json as `coins[name]`."""
    s = c.summary
    return {
        "command": c.command,
        "coins": list(c.coins),
        "engine": engine_record(c.engine),
        "tasks": {"total": c.tasks, "trained": c.trained, "read_back": c.tasks - c.trained},
        "wall_seconds": c.wall_seconds,
        "summary": {
            "rule": "each coin by its seed-mean MAE over all its out-of-sample days; DM tests of its first seed",
            "coins": s.coins, "gru_below_lstm": s.gru_below_lstm, "below_naive": s.below_naive,
            "dm_alpha": DM_ALPHA, "dm_significant": s.dm_significant,
            "verdict": _summary_sentences(c),
        },
        "by_coin": {name: {k: v for k, v in backtest_record(b).items() if k not in ("command", "engine")}
                    for name, b in c.coins.items()},
    }


def _coverage(b: Backtest, cell: str | None) -> str:
    level = band_level(list(b.naive.naive_intervals))
    value = (b.naive.naive_intervals[level].coverage if cell is None
             else b.cells[cell].interval(level, "coverage").mean)
    return f"{100 * value:.1f}%"


def _summary_row(name: str, b: Backtest) -> str:
    r = {cell: b.cells[cell].spread("mae_ratio_vs_naive") for cell in ("gru", "lstm")}
    return (f"| {name} | {b.dates[0]:%Y-%m-%d}..{b.dates[-1]:%Y-%m-%d} | {len(b.dates)} | {len(b.folds)} | "
            f"{amount(b.naive.naive.mae)} | {_fmt(r['gru'], 4)} | {_fmt(r['lstm'], 4)} | "
            + " | ".join(f"{b.dm[pair].statistic:.2f} (p {p_value(b.dm[pair].p_value)})"
                         for pair in ("gru_vs_lstm", "gru_vs_naive", "lstm_vs_naive"))
            + f" | {b.folds_ahead('gru')} / {b.folds_ahead('lstm')} | "
              f"{_coverage(b, 'gru')} / {_coverage(b, 'lstm')} / {_coverage(b, None)} |")


def coins_markdown(c: CoinsBacktest) -> str:
    first = next(iter(c.coins.values()))
    s, seeds = first.settings, first.seeds
    many = len(seeds) > 1
    level = _level(band_level(list(first.naive.naive_intervals)))
    lines = [
        f"# Rolling-origin backtest over {len(c.coins)} coins: GRU vs LSTM vs naive, next-day close",
        "",
        f"Made by `{c.command}`.",
        "",
        f"Coins: {_coins(c)}, each from its own price file, with the same settings and fold rule: window "
        f"{s['window']}, {s['scaling']} scaling, inputs {inputs_of(s)}, {s['units']} units, loss {s['loss']}, seeds "
        f"{', '.join(map(str, seeds))}; every coin's section below gives its data, folds and training window.",
        engine_sentence(c.engine, c.trained, c.tasks, c.wall_seconds),
        "",
        "## Summary across coins" + (" (MAE ratios: mean ± std over seeds)" if many else ""),
        "",
        "Errors are in each coin's own currency; the ratios to naive and the DM tests compare across coins. "
        f"DM: statistic (p), squared error, seed {seeds[0]}; a negative statistic favours the first forecast.",
        "",
        "| coin | out-of-sample span | days | folds | naive MAE | GRU MAE / naive | LSTM MAE / naive | "
        f"DM GRU vs LSTM | DM GRU vs naive | DM LSTM vs naive | folds ahead of naive GRU / LSTM | "
        f"{level} coverage GRU / LSTM / naive |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_summary_row(name, b) for name, b in c.coins.items()),
        "",
        *(f"- {line}" for line in _summary_sentences(c)),
        "",
    ]
    sections = [backtest_markdown(b, coin=name) for name, b in c.coins.items()]
    return "\n".join(lines) + "\n" + "\n".join(sections)


def coins_text(c: CoinsBacktest, charts: list[str]) -> str:
    """The terminal summary: one row per coin, the counts across coins, each coin's verdict."""
    rows = [f"{'':<10}{'GRU MAE / naive':>20}{'LSTM MAE / naive':>20}{'DM GRU vs LSTM p':>18}"]
    for name, b in c.coins.items():
        rows.append(f"{name:<10}{_fmt(b.cells['gru'].spread('mae_ratio_vs_naive'), 4):>20}"
                    f"{_fmt(b.cells['lstm'].spread('mae_ratio_vs_naive'), 4):>20}"
                    f"{p_value(b.dm['gru_vs_lstm'].p_value):>18}")
    first = next(iter(c.coins.values()))
    out = c.out
    return "\n".join([
        f"backtest of {len(c.coins)} coins, {len(first.seeds)} seed{'s' if len(first.seeds) > 1 else ''} per cell "
        f"and fold",
        *rows,
        "",
        *_summary_sentences(c),
        "",
        *(line for name, b in c.coins.items() for line in (f"{name}:", *(f"  {v}" for v in backtest_verdict(b)),
                                                             f"  {power_sentence(b)}")),
        "",
        f"{c.trained} of {c.tasks} trainings run now ({c.engine.name}, {c.engine.workers} "
        f"worker{'s' if c.engine.workers != 1 else ''}), wall time {c.wall_seconds:,.0f} s",
        f"written: {out / 'backtest.json'}, {out / 'backtest.md'}, {', '.join(charts)}",
    ])


def coins_chart_inputs(c: CoinsBacktest) -> dict:
    """plots_summary.coins_chart: per coin and cell the seed-mean MAE ratio and its seed min..max."""
    def pick(what: str) -> dict:
        return {_label(cell): [getattr(b.cells[cell].spread("mae_ratio_vs_naive"), what) for b in c.coins.values()]
                for cell in ("gru", "lstm")}

    return dict(coins=list(c.coins), ratio=pick("mean"), ratio_low=pick("low"), ratio_high=pick("high"),
                seeds=len(next(iter(c.coins.values())).seeds))
