"""Does the interval method a backtest picks depend on the seed? The pick, seed by seed, from a
finished backtest's task files (nothing is trained; a task not yet finished is an error).

`backtest` reports the interval methods of its first seed; this prints, for every seed of the run,
each candidate's verdict (verdicts.choose_method: worst volatility third in tolerances, Kupiec at
every level, interval score against fixed's) and the method chosen, with GRU and LSTM coverage per
third at each level for the chosen one and for fixed.

Run from the project root, with the settings of the backtest whose --out folder it reads, e.g.:
  python benchmarks/interval_methods_seeds.py --csv data/snapshot/btc-usd.csv --first-test 2018-01-01 \
      --seeds 3 --out /path/to/backtest/out
"""

from __future__ import annotations

import argparse
import logging
from datetime import date

from forecast.backtest import prepare
from forecast.backtest_intervals import backtest_intervals
from forecast.backtest_plan import BacktestSettings
from forecast.backtest_task import task_result, tasks_dir
from forecast.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--first-test", required=True, type=date.fromisoformat)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cfg = Config(csv=args.csv, out=args.out, quiet=True)
    settings = BacktestSettings(first_test=args.first_test, seeds=args.seeds)
    p = prepare(cfg, settings, tasks_dir(cfg.out), logging.getLogger(__name__).info)
    if p.pending:
        raise SystemExit(f"{len(p.pending)} of {len(p.tasks)} tasks are not finished in {p.directory}")
    results = {(t.fold.index, t.cell, t.seed): task_result(p.records[t.name], p.days[t.fold.index]) for t in p.tasks}
    print(f"{args.csv}: {len(p.folds)} folds, {p.folds[0].test.first}..{p.folds[-1].test.last}, seeds {p.seeds}")
    for seed in p.seeds:
        bi = backtest_intervals(p.close, p.folds, p.days, results, seed, cfg.levels, cfg.window, cfg.aci_gamma)
        print(f"\nseed {seed}: chosen {bi.choice.chosen} ({'meets the bar' if bi.choice.met else 'no method meets the bar'})")
        print("method    | worst third (tolerances) | Kupiec ok | score / fixed | meets")
        for v in bi.choice.verdicts:
            print(f"{v.method:9s} | {v.worst_gap:24.2f} | {str(v.kupiec_ok):9s} | {v.score_vs_fixed:13.3f} | {v.meets}")
        for method in dict.fromkeys(("fixed", bi.choice.chosen)):
            for lv in cfg.levels:
                cells = []
                for cell in ("gru", "lstm"):
                    m = bi.get(method, cell, lv).overall
                    thirds = " / ".join(f"{100 * c:.1f}" for c in m.coverage_by_volatility)
                    cells.append(f"{cell.upper()} {100 * m.coverage:.1f}% (Kupiec p {m.kupiec_p_value:.3f}; {thirds})")
                print(f"  {method} {lv:g}%: " + "; ".join(cells))


if __name__ == "__main__":
    main()
