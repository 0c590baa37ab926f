"""Do the interval methods hold when a model is used long after its calibration? (issue 31)

The default interval method was chosen on a backtest, where every fold is calibrated on the days just
before it. A user trains once and predicts for months. So here models are trained with the default
settings (plain `train`: the held-out split, not --all-data) on the snapshot's prices up to each
cutoff (`--end`), both cells, several seeds, and each is evaluated on every later day to the end of the
data, like `python -m forecast evaluate --cell C --since <cutoff + 1>`; the training, reuse and
evaluation are the package's (compare's reuse check, train.train, use_model.evaluate_range).

Per case (cutoff x cell x seed) and pooled per cutoff (the cases of one cutoff share their days), for
every method `predict` can draw (ACI's level run from the day after the calibration, as predict runs it):
coverage at each level, per volatility third, Kupiec's p and the interval score. Then the default by
verdicts.choose_default: among the methods holding every case (verdicts.LONG_HORIZON_BOUNDS),
choose_method's pick on the 2018-2025 backtest, whose numbers are read from its backtest.json (--backtest).

Models go to --out (<out>/end-<cutoff>/seed-<seed>/<cell>/) and are reused when a model there was
trained on the same prices with the same settings. Run from the project root:
  python benchmarks/interval_methods_long.py [--out artifacts/interval-methods-long] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from forecast.config import CELLS, Config
from forecast.interval_methods import PREDICT_METHODS, MethodMetrics
from forecast.jsonio import dumps
from forecast.verdicts import LONG_HORIZON_BOUNDS, DefaultChoice, choose_default, long_horizon_verdict

CUTOFFS = ("2019-12-31", "2020-12-31", "2021-12-31", "2022-12-31")
SEEDS = (42, 43, 44)
LEVELS = (80.0, 95.0)
METHODS = PREDICT_METHODS


def say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def model_for(cfg):
    """The saved model of cfg (trained on prices up to cfg.end) in run_dir(cfg.out, cfg.cell): reused
    where compare would reuse it, else trained and saved. (reused, seconds, epochs run)."""
    from forecast import publish, saved_model
    from forecast.compare import _reusable   # compare's check: same prices (sha256) and model settings
    from forecast.sources import load_prices
    from forecast.train import train
    from forecast.windows import rows_needed

    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    directory = saved_model.run_dir(cfg.out, cfg.cell)
    started = time.perf_counter()
    saved = _reusable(directory, cfg, prices)
    if saved is not None:
        return True, time.perf_counter() - started, saved.info.epochs_run
    trained = train(cfg, prices)
    publish.save_trained(cfg.out, trained)
    return False, time.perf_counter() - started, trained.info.epochs_run


def evaluate_after(cfg, cutoff: date):
    """use_model.evaluate_range on every day after `cutoff` to the end of the prices."""
    from forecast.use_model import evaluate_range

    return evaluate_range(cfg.replace(end=None), since=cutoff + timedelta(days=1))


# --- the backtest's numbers, from its backtest.json ---------------------------------------------

def backtest_metrics(path: Path) -> dict[tuple[str, str, float], MethodMetrics]:
    """(method, "gru"/"lstm", level) -> MethodMetrics from a backtest.json's `interval_methods` (what
    `python -m forecast backtest` writes). Every field choose_method reads is checked; a file without
    them stops the script in one line."""
    try:
        methods = json.loads(path.read_text())["interval_methods"]["methods"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: {path} holds no backtest interval methods ({type(e).__name__}: {e})") from None
    found = {}
    for method, by_cell in methods.items():
        for cell in ("gru", "lstm"):
            for key, r in by_cell.get(cell, {}).items():
                try:
                    thirds = r["coverage_by_volatility"]
                    score = math.inf if r["interval_score_pct"] is None else float(r["interval_score_pct"])
                    found[method, cell, float(key)] = MethodMetrics(
                        level=float(key), days=int(r["days"]), coverage=float(r["coverage"]), wilson=tuple(r["wilson_95"]),
                        kupiec_p_value=float(r["kupiec_p_value"]), christoffersen_p_value=math.nan,
                        mean_width_pct=math.nan, interval_score_pct=score, pinball_pct=math.nan,
                        coverage_by_volatility=tuple(float(thirds[t]) for t in ("calm", "middle", "volatile")),
                        unbounded=bool(r["unbounded"]))
                except (KeyError, TypeError, ValueError) as e:
                    raise SystemExit(f"error: {path}: interval_methods.methods.{method}.{cell}.{key} is unusable "
                                     f"({type(e).__name__}: {e})") from None
    if not found:
        raise SystemExit(f"error: no interval methods for gru and lstm in {path}")
    return found


# --- report ------------------------------------------------------------------------------------

def pc(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}"


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def score_text(x: float) -> str:
    return "unbounded" if math.isinf(x) else f"{x:.2f}"


def thirds_text(m: MethodMetrics) -> str:
    return " / ".join(pc(c) for c in m.coverage_by_volatility)


def span(xs) -> str:
    return f"{pc(min(xs))}..{pc(max(xs))}"


def pooled(ms: list[MethodMetrics]) -> dict:
    """The cases of one cutoff share their days (and their volatility thirds): coverages average exactly."""
    assert len({m.days for m in ms}) == 1, "cases of one cutoff on different days"
    n = len(ms)
    return {"coverage": sum(m.coverage for m in ms) / n,
            "thirds": tuple(sum(m.coverage_by_volatility[g] for m in ms) / n for g in range(3)),
            "kupiec": (min(m.kupiec_p_value for m in ms), max(m.kupiec_p_value for m in ms)),
            "score": sum(m.interval_score_pct for m in ms) / n, "days": ms[0].days}


def case_table(cases: dict[str, dict], metrics_key: str) -> list[str]:
    lines = ["| case | " + " | ".join(f"{m} {lv:g}%" for lv in LEVELS for m in METHODS) + " |",
             "|---|" + "---:|" * (len(LEVELS) * len(METHODS))]
    for name, c in cases.items():
        row = []
        for lv in LEVELS:
            for method in METHODS:
                m = c[metrics_key][method, lv]
                row.append(f"{pc(m.coverage)} ({thirds_text(m)}); p {p_text(m.kupiec_p_value)}; "
                           f"score {score_text(m.interval_score_pct)}")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def pooled_table(by_cutoff: dict[str, list[dict]]) -> list[str]:
    lines = ["| cutoff | days | method | 80%: coverage | 80%: calm / middle / volatile | 80%: Kupiec p (cases) "
             "| 80%: score % | 95%: coverage | 95%: calm / middle / volatile | 95%: Kupiec p (cases) | 95%: score % |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cutoff, cs in by_cutoff.items():
        for method in METHODS:
            cells = []
            for lv in LEVELS:
                p = pooled([c["model"][method, lv] for c in cs])
                low, high = p["kupiec"]
                cells += [pc(p["coverage"]), " / ".join(pc(t) for t in p["thirds"]),
                          f"{p_text(low)}..{p_text(high)}", score_text(p["score"])]
            days = pooled([c["model"][method, LEVELS[0]] for c in cs])["days"]
            lines.append(f"| {cutoff} | {days:,} | {method} | " + " | ".join(cells) + " |")
    return lines


def compact_table(by_cutoff: dict[str, list[dict]]) -> list[str]:
    """Per method: each cutoff's pooled 80% coverage (thirds) and 95% coverage; README's table."""
    lines = ["| method | " + " | ".join(f"to {c[:4]}: 80% (calm / mid / volatile); 95%" for c in by_cutoff) + " |",
             "|---|" + "---|" * len(by_cutoff)]
    for method in METHODS:
        cells = []
        for cs in by_cutoff.values():
            p80, p95 = (pooled([c["model"][method, lv] for c in cs]) for lv in LEVELS)
            cells.append(f"{pc(p80['coverage'])} ({' / '.join(pc(t) for t in p80['thirds'])}); {pc(p95['coverage'])}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def ranges_table(cases: dict[str, dict], choice: DefaultChoice) -> list[str]:
    """Per method, the lowest and highest coverage over every case, and how many cases break the bounds."""
    lines = ["| method | 80% over all days | 80% per third | 95% over all days | cases outside the bounds | "
             "worst miss |", "|---|---:|---:|---:|---:|---|"]
    verdicts = {v.method: v for v in choice.long_horizon}
    for method in METHODS:
        m80 = [c["model"][method, 80.0] for c in cases.values()]
        m95 = [c["model"][method, 95.0] for c in cases.values()]
        thirds = [t for m in m80 for t in m.coverage_by_volatility]
        v = verdicts.get(method) or long_horizon_verdict(method, {n: c["model"] for n, c in cases.items()})
        worst = v.worst
        lines.append(f"| {method} | {span([m.coverage for m in m80])} | {span(thirds)} | "
                     f"{span([m.coverage for m in m95])} | {len(v.failing_cases)} of {v.cases} | "
                     + ("none" if worst is None else miss_text(worst)) + " |")
    return lines


def miss_text(m) -> str:
    low, high = m.bounds
    part = "all days" if m.part == "all days" else f"{m.part} third"
    return (f"{m.case}, {m.level:g}% {part}: {100 * m.coverage:.2f}% (bounds {pc(low)}-{pc(high)}, "
            f"{100 * m.by:.2f} points out)")


def miss_lines(choice: DefaultChoice) -> list[str]:
    lines = []
    for v in choice.long_horizon:
        lines.append(f"- **{v.method}**: " + ("none" if v.holds else
                     f"{len(v.misses)} in {len(v.failing_cases)} of {v.cases} cases"))
        lines += [f"  - {miss_text(m)}" for m in v.misses]
    return lines


def choice_lines(choice: DefaultChoice) -> list[str]:
    lines = ["| method | long-horizon cases outside the bounds | worst miss | backtest within the bounds "
             "| backtest: worst third, in tolerances | Kupiec ok | score / fixed's | meets the backtest bar |",
             "|---|---:|---|---|---:|---|---:|---|"]
    bt = {v.method: v for v in choice.backtest.verdicts}
    inside = {v.method: v for v in choice.backtest_bounds}
    for v in choice.long_horizon:
        b, w = bt.get(v.method), inside[v.method]
        within = "yes" if w.holds else f"no: {miss_text(w.worst)}"
        backtest = ("not ranked (does not hold both) | | |" if b is None else
                    f"{b.worst_gap:.2f} | {'yes' if b.kupiec_ok else 'no'} | {b.score_vs_fixed:.3f} | "
                    f"{'yes' if b.meets else 'no'}")
        lines.append(f"| {v.method} | {len(v.failing_cases)} of {v.cases} | "
                     f"{'none' if v.worst is None else miss_text(v.worst)} | {within} | {backtest} |")
    return lines


def verdict_text(choice: DefaultChoice) -> str:
    holding = [v.method for v, b in zip(choice.long_horizon, choice.backtest_bounds) if v.holds and b.holds]
    if not holding:
        by = {v.method: v for v in choice.long_horizon}
        closest = min(choice.long_horizon, key=lambda v: v.worst.by)
        return (f"**No method holds every long-horizon case and the backtest**, so the rule falls back to the backtest alone: "
                f"**{choice.chosen}**, outside the bounds on {len(by[choice.chosen].failing_cases)} of "
                f"{by[choice.chosen].cases} cases (worst {100 * by[choice.chosen].worst.by:.2f} points out). "
                f"Closest to the bounds is {closest.method} (worst {100 * closest.worst.by:.2f} points out, "
                f"{len(closest.failing_cases)} of {closest.cases} cases outside).")
    text = (f"Holding every long-horizon case and, by the same bounds, the backtest: {', '.join(holding)}. Among "
            "them the backtest rule picks "
            f"**{choice.chosen}**")
    if choice.meets_backtest:
        return text + ", which meets the backtest's whole bar."
    return text + (" (closest to nominal in its worst volatility third; it does not meet the backtest's whole bar, "
                   "which no method did).")


def write_report(path: Path, command: str, cases: dict[str, dict], choice: DefaultChoice, csv: Path,
                 backtest_report: Path, wall: float, trained: int, reused: int, cutoffs, seeds) -> None:
    by_cutoff: dict[str, list[dict]] = {}
    for c in cases.values():
        by_cutoff.setdefault(c["cutoff"], []).append(c)
    minutes, seconds = divmod(round(wall), 60)
    lo80, hi80 = LONG_HORIZON_BOUNDS[80.0][0]
    lo_t, hi_t = LONG_HORIZON_BOUNDS[80.0][1]
    lo95, hi95 = LONG_HORIZON_BOUNDS[95.0][0]
    lines = [
        "# Interval methods long after calibration (issue 31)", "",
        f"Made by `{command}` ({len(cases)} cases: cutoffs {', '.join(cutoffs)} x GRU, LSTM x seeds "
        f"{', '.join(map(str, seeds))}; {trained} trainings, {reused} models reused; {minutes} min {seconds} s "
        "on a 2-core CPU shared with other work).", "",
        f"Each model was trained with the default settings on `{csv}` up to its cutoff (`python -m forecast "
        "train --csv ... --end CUTOFF --cell C --seed S`: the held-out split, early stopping and calibration on "
        "the validation days, which end months before the cutoff) and evaluated on every day after the cutoff "
        "to the end of the data (`python -m forecast evaluate --cell C --since CUTOFF+1`), never recalibrated. "
        "Coverage in %, per third of the evaluated days by trailing 30-day volatility (calm / middle / volatile), "
        "Kupiec's p, interval (Winkler) score in % of the forecast. ACI's level runs from the day after the "
        "calibration and reads each day's outcome before the next, as `predict` runs it over the days since "
        "the calibration.", "",
        "## The default", "",
        f"Rule (`verdicts.choose_default`): a method holds the long horizon where, on every case, its 80% "
        f"coverage is within {pc(lo80)}-{pc(hi80)}% with each volatility third within {pc(lo_t)}-{pc(hi_t)}%, and "
        f"its 95% coverage within {pc(lo95)}-{pc(hi95)}%; to hold both, its GRU's and LSTM's coverage over all the "
        f"backtest's days must be within the same bounds. Among the methods that hold both, the backtest rule "
        f"(`verdicts.choose_method`, on the 2018-2025 backtest's numbers in `{backtest_report}`) "
        "picks: meeting its bar, the lowest interval score; else the closest to nominal in its worst third.", "",
        *choice_lines(choice), "",
        verdict_text(choice), "",
        "## Every case: lowest and highest coverage", "",
        *ranges_table(cases, choice), "",
        "## Every coverage outside the bounds", "",
        *miss_lines(choice), "",
        "## Per cutoff, pooled over cells and seeds", "",
        "The mean over the six cases of a cutoff (they share their days and volatility thirds); Kupiec's p is "
        "the lowest and highest over those cases (the cases are not independent, so no pooled test).", "",
        *pooled_table(by_cutoff), "",
        "Compact (80% coverage with its thirds; 95% coverage):", "",
        *compact_table(by_cutoff), "",
        "## Every case", "",
        "Each cell: coverage (calm / middle / volatile); Kupiec p; interval score %.", "",
    ]
    for cutoff, cs in by_cutoff.items():
        first = cs[0]
        lines += [f"### Trained on data to {cutoff}: target days {first['first']}..{first['last']} "
                  f"({first['days']:,} days)", "",
                  *case_table({c["name"]: c for c in cs}, "model"), "",
                  "Calibration (validation) days of each model: "
                  + "; ".join(f"{c['name']}: {c['calibrated'][0]}..{c['calibrated'][1]}" for c in cs) + ".", "",
                  "The naive forecast (the same for every case of this cutoff), for comparison:", "",
                  *case_table({f"naive, to {cutoff}": first}, "naive"), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=Path("data/snapshot/btc-usd.csv"))
    parser.add_argument("--cutoff", action="append", type=date.fromisoformat, dest="cutoffs",
                        help="last day of training data, repeatable (default: " + ", ".join(CUTOFFS) + ")")
    parser.add_argument("--seed", action="append", type=int, dest="seeds",
                        help="repeatable (default: " + ", ".join(map(str, SEEDS)) + ")")
    parser.add_argument("--epochs", type=int, default=Config.epochs, help="most epochs (default: %(default)s; "
                        "fewer only for a quick check of this script)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/interval-methods-long"),
                        help="folder of the models, reused when trained on the same prices and settings (default: %(default)s)")
    parser.add_argument("--report", type=Path, default=Path("docs/interval-methods-long-horizon.md"))
    parser.add_argument("--backtest", type=Path, default=Path("docs/interval-methods-2018-2025.json"),
                        help="the 2018-2025 backtest's backtest.json (or its interval_methods record), which the rule reads too "
                             "(default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="only the verdict and where the report went")
    args = parser.parse_args()
    cutoffs = args.cutoffs or [date.fromisoformat(c) for c in CUTOFFS]
    seeds = args.seeds or list(SEEDS)
    command = " ".join(["python benchmarks/interval_methods_long.py", shlex.join(sys.argv[1:])]).rstrip()
    backtest = backtest_metrics(args.backtest)
    from forecast.runtime import quiet_tensorflow

    quiet_tensorflow()
    started, cases, trained, reused = time.perf_counter(), {}, 0, 0
    todo = [(c, s, cell) for c in cutoffs for s in seeds for cell in CELLS]
    for k, (cutoff, seed, cell) in enumerate(todo, 1):
        cfg = Config(csv=args.csv, end=cutoff, cell=cell, seed=seed, epochs=args.epochs, quiet=True,
                     out=args.out / f"end-{cutoff}" / f"seed-{seed}")
        was_reused, seconds, epochs = model_for(cfg)
        trained, reused = trained + (not was_reused), reused + was_reused
        t0 = time.perf_counter()
        r = evaluate_after(cfg, cutoff)
        m = r.evaluation.metrics
        name = f"{cutoff} {cell.upper()} seed {seed}"
        cases[name] = {
            "name": name, "cutoff": str(cutoff), "cell": cell, "seed": seed, "first": m.first_date,
            "last": m.last_date, "days": m.days,
            "calibrated": (r.info.calibration.first_date, r.info.calibration.last_date),
            "model": {(meth, lv): x for (meth, who, lv), x in r.methods.items() if who == "model"},
            "naive": {(meth, lv): x for (meth, who, lv), x in r.methods.items() if who == "naive"},
        }
        c80, s80 = cases[name]["model"]["scaled", 80.0], cases[name]["model"][Config.interval_method, 80.0]
        say(args.quiet, f"[{k}/{len(todo)}] {name}: {'reused' if was_reused else 'trained'} "
                        f"({epochs} epochs, {seconds:.0f} s), evaluated {m.first_date}..{m.last_date} ({m.days} days) in "
                        f"{time.perf_counter() - t0:.0f} s; 80% coverage {Config.interval_method} {pc(s80.coverage)}%, "
                        f"scaled {pc(c80.coverage)}%; {time.perf_counter() - started:.0f} s so far")
    choice = choose_default(backtest, {n: c["model"] for n, c in cases.items()}, PREDICT_METHODS, ("gru", "lstm"), LEVELS)
    wall = time.perf_counter() - started
    write_report(args.report, command, cases, choice, args.csv, args.backtest, wall, trained, reused,
                 [str(c) for c in cutoffs], seeds)
    record = {"command": command, "wall_seconds": wall, "trained": trained, "reused": reused, "chosen": choice.chosen,
              "holds_long": choice.holds_long, "meets_backtest": choice.meets_backtest,
              "cases": {n: {**{k: v for k, v in c.items() if k not in ("model", "naive")},
                            **{who: {f"{meth} {lv:g}": vars(x) for (meth, lv), x in c[who].items()}
                               for who in ("model", "naive")}} for n, c in cases.items()}}
    (args.out / "long-horizon.json").write_text(dumps(record))
    by_cutoff: dict[str, list[dict]] = {}
    for c in cases.values():
        by_cutoff.setdefault(c["cutoff"], []).append(c)
    print("\n".join(compact_table(by_cutoff)))
    print()
    print("\n".join(ranges_table(cases, choice)))
    print()
    print(verdict_text(choice).replace("**", ""))
    print(f"{len(cases)} cases, {trained} trained, {reused} reused, {wall:.0f} s; report: {args.report}, "
          f"numbers: {args.out / 'long-horizon.json'}")


if __name__ == "__main__":
    main()
