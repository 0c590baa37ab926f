"""Rolling-origin backtest: at each fold origin, both cells refit on the days before it only, then
forecast the fold's days one step ahead; the errors of all folds are judged together.

The parts: the fold plan (backtest_plan), one task and its task file (backtest_task), the engines
that run the pending tasks (engines: one after another in this process, or in parallel on Ray, a
local instance or a cluster), and here the whole run and its aggregation. An interrupted backtest
resumes where it stopped: each finished task's file is written as it finishes, and read back (after
its check) by the next run. Results are aggregated in (fold, cell, seed) order, never completion order.
"""

from __future__ import annotations

from . import runtime  # noqa: I001  (before anything loads TensorFlow: see runtime.py)

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import engines, metrics, regimes
from .backtest_plan import BacktestSettings, Fold, make_folds, window_name
from .backtest_task import (Task, TaskResult, finished, fold_days, following, plan, read_finished, resume_warm,
                            run_link, run_task, task_cfg, task_result, tasks_dir, write_finished)
from .config import CELLS, MAX_SEED, inputs_label
from .engines import Engine
from .errors import ConfigError
from .intervals import VOLATILITY_DAYS
from .metrics import DMTest, Forecast, ForecastMetrics, OverSeeds, dm_tests
from .backtest_intervals import BacktestIntervals, backtest_intervals
from .model_info import DataInfo
from .regimes import Breakdown
from .sources import load_prices
from .train import data_info
from .windows import rows_needed, target_days

log = logging.getLogger(__name__)


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FoldCell(OverSeeds):
    """One cell on one fold, one entry per seed."""

    cell: str
    metrics: tuple[ForecastMetrics, ...]   # on the fold's days
    epochs_run: tuple[int, ...]
    best_epoch: tuple[int, ...]
    train_seconds: tuple[float, ...]


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    cells: dict[str, FoldCell]
    naive: ForecastMetrics   # the naive forecast's numbers are in its naive / naive_intervals fields

    @property
    def train_seconds(self) -> float:
        return float(sum(sum(c.train_seconds) for c in self.cells.values()))

    def beats_naive(self, cell: str) -> bool:
        """The seed-mean MAE below naive's (naive is the same for every seed)."""
        return self.cells[cell].spread("mae_ratio_vs_naive").mean < 1


@dataclass(frozen=True)
class CellBacktest(OverSeeds):
    """One cell over all folds' days together."""

    cell: str
    metrics: tuple[ForecastMetrics, ...]    # on the concatenated out-of-sample days, one per seed
    points: tuple[np.ndarray, ...]          # (n,) forecasts on those days, one per seed
    excess: np.ndarray                      # (n,) cumulative seed-mean |error| - naive |error|, USD
    folds_beating_naive: float              # share of folds with a seed-mean MAE below naive's
    folds_beating_naive_by_seed: tuple[float, ...]


def concat_forecasts(forecasts: list[Forecast]) -> Forecast:
    """One Forecast of runs of days placed one after the other."""
    levels = forecasts[0].bands

    def joined(name):
        return np.concatenate([getattr(f, name) for f in forecasts])

    return Forecast(
        dates=pd.DatetimeIndex(np.concatenate([f.dates.values for f in forecasts])),
        point=joined("point"), previous=joined("previous"), volatility=joined("volatility"),
        bands={lv: tuple(np.concatenate([f.bands[lv][i] for f in forecasts]) for i in (0, 1)) for lv in levels},
        naive_bands={lv: tuple(np.concatenate([f.naive_bands[lv][i] for f in forecasts]) for i in (0, 1))
                     for lv in levels},
    )


@dataclass(frozen=True)
class Aggregate:
    """Every number of a backtest, from its task results."""

    folds: tuple[FoldResult, ...]
    cells: dict[str, CellBacktest]
    naive: ForecastMetrics                  # naive's numbers: its naive and naive_intervals fields
    dm: dict[str, DMTest]                   # metrics.PAIRS on all days, first seed
    dm_by_seed: dict[int, dict[str, DMTest]]
    dates: pd.DatetimeIndex                 # (n,) every out-of-sample day, fold after fold
    actual: np.ndarray                      # (n,) closes on those days
    previous: np.ndarray                    # (n,) the naive forecast


def aggregate(folds: tuple[Fold, ...], seeds: tuple[int, ...],
              results: dict[tuple[int, str, int], TaskResult]) -> Aggregate:
    """Per fold and cell, over all folds, and the DM tests, from the task results keyed and read in
    (fold, cell, seed) order: which finished first never matters."""
    fold_results = []
    for fold in folds:
        cells = {}
        for cell in CELLS:
            runs = [results[fold.index, cell, s] for s in seeds]
            cells[cell] = FoldCell(
                cell=cell,
                metrics=tuple(metrics.score(r.actual, r.forecast) for r in runs),
                epochs_run=tuple(r.epochs_run for r in runs), best_epoch=tuple(r.best_epoch for r in runs),
                train_seconds=tuple(r.train_seconds for r in runs),
            )
        fold_results.append(FoldResult(fold, cells, naive=cells[CELLS[0]].metrics[0]))
    first = [results[fold.index, CELLS[0], seeds[0]] for fold in folds]
    actual = np.concatenate([r.actual for r in first])          # (n,)
    previous = np.concatenate([r.forecast.previous for r in first])  # (n,)
    dates = pd.DatetimeIndex(np.concatenate([r.forecast.dates.values for r in first]))
    cells = {}
    for cell in CELLS:
        joined = [concat_forecasts([results[fold.index, cell, s].forecast for fold in folds]) for s in seeds]
        points = tuple(f.point for f in joined)
        mean_abs = np.mean([np.abs(actual - p) for p in points], axis=0)  # (n,) seed-mean |error|
        by_seed = tuple(float(np.mean([fr.cells[cell].metrics[k].mae_ratio_vs_naive < 1 for fr in fold_results]))
                        for k in range(len(seeds)))
        cells[cell] = CellBacktest(
            cell=cell,
            metrics=tuple(metrics.score(actual, f) for f in joined),
            points=points,
            excess=np.cumsum(mean_abs - np.abs(actual - previous)),
            folds_beating_naive=float(np.mean([fr.beats_naive(cell) for fr in fold_results])),
            folds_beating_naive_by_seed=by_seed,
        )

    def tests(k: int) -> dict[str, DMTest]:
        return dm_tests(actual, {**{c: cells[c].points[k] for c in CELLS}, "naive": previous})

    return Aggregate(folds=tuple(fold_results), cells=cells, naive=cells[CELLS[0]].metrics[0], dm=tests(0),
                     dm_by_seed={s: tests(k) for k, s in enumerate(seeds)}, dates=dates, actual=actual,
                     previous=previous)


@dataclass(frozen=True)
class Backtest(Aggregate):
    """Every number of a backtest, and how it was run."""

    command: str
    data: DataInfo
    settings: dict                          # model settings every task shares (all but cell and seed)
    options: BacktestSettings
    seeds: tuple[int, ...]
    engine: Engine
    tasks: int
    trained: int                            # tasks trained by this run; the others were read back
    wall_seconds: float
    out: Path
    directory: Path                         # its task files
    breakdown: Breakdown                    # by year and market regime, and the GRU-vs-LSTM test's power
    intervals: BacktestIntervals            # every interval method, calibrated fold by fold (first seed)

    @property
    def train_seconds(self) -> float:
        """Training time of every task, read back ones included (each as its own run measured it)."""
        return float(sum(fr.train_seconds for fr in self.folds))

    def folds_ahead(self, cell: str) -> int:
        """Folds in which the cell's seed-mean MAE is below naive's."""
        return sum(fr.beats_naive(cell) for fr in self.folds)


def breakdown(a: Aggregate, close: pd.Series, volatility: np.ndarray, window: int) -> Breakdown:
    """The days by year and regime: labels from the closes of the price file (`volatility` (n,), the
    trailing volatility of each day's window, from them too), never from a task file."""
    labels = regimes.label_days(close, a.dates, volatility, min(VOLATILITY_DAYS, window - 1))
    return regimes.breakdown(labels, a.actual, a.previous, {c: r.points for c, r in a.cells.items()},
                             [fr.fold.test.days for fr in a.folds],
                             {c: [fr.beats_naive(c) for fr in a.folds] for c in a.cells})


# --- the whole run ------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _progress_line(done: int, total: int, task: str, epochs: int, seconds: float, elapsed: str, remaining: str) -> str:
    """One line per finished task."""
    return (f"[{done}/{total}] {task}: {epochs} epochs in {seconds:.1f} s; "
            f"elapsed {elapsed}, about {remaining} left")


@dataclass(frozen=True)
class CoinPlan:
    """One price series' share of a run: its folds and tasks, and which are finished already."""

    name: str | None                        # the coin's name in a multi-coin run; None for a single series
    cfg: object                             # the Config its tasks train with (its own price file)
    close: pd.Series
    table: pd.DataFrame | None              # the columns cfg.inputs read beside the close; None for the close alone
    data: DataInfo
    folds: tuple[Fold, ...]
    seeds: tuple[int, ...]
    tasks: tuple[Task, ...]
    directory: Path                         # its task files
    days: dict[int, object]                 # fold index -> FoldDays, from the price file
    records: dict[str, dict]                # task name -> result record: read back, then filled as tasks finish
    pending: tuple[Task, ...]               # trained by this run
    items: tuple                            # the engine's first items: pending tasks, or (warm) each chain's first pending Link

    def label(self, item) -> str:
        """A task or Link in progress lines and errors, with its coin's name in a multi-coin run."""
        return item.describe() if self.name is None else f"{self.name}: {item.describe()}"


def prepare(cfg, s: BacktestSettings, directory: Path, progress: Callable[[str], None],
            name: str | None = None) -> CoinPlan:
    """Loads one series, plans its folds and tasks, and reads back the task files already in `directory`."""
    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    close = prices.close
    dates = target_days(close.index, cfg.window)
    if cfg.seed + s.seeds > MAX_SEED:
        raise ConfigError(f"seeds {cfg.seed}..{cfg.seed + s.seeds - 1} go past {MAX_SEED - 1}")
    folds = make_folds(dates, s, cfg.val_fraction)
    seeds = tuple(cfg.seed + k for k in range(s.seeds))
    table = prices.columns(cfg.inputs)
    tasks = plan(cfg, folds, seeds, close, s.refit, table)
    days = {fold.index: fold_days(close, fold, cfg.window) for fold in folds}  # from the price file, never a task file
    if s.refit == "warm":  # a chain per cell and seed: each item one task, which queues its chain's next fold
        records, items = resume_warm(directory, tasks, days)
    else:
        records = {t.name: r for t in tasks if (r := read_finished(directory, t, days[t.fold.index])) is not None}
        items = [t for t in tasks if t.name not in records]
    if records:
        progress(f"resuming{'' if name is None else ' ' + name}: {len(records)} of {len(tasks)} tasks already "
                 f"finished in {directory}")
    return CoinPlan(name, cfg, close, table, data_info(prices), folds, seeds, tasks, directory, days, records,
                    tuple(t for t in tasks if t.name not in records), tuple(items))


def run_pending(plans: list[CoinPlan], s: BacktestSettings, out: Path, started: float,
                progress: Callable[[str], None]) -> Engine:
    """Trains every plan's pending tasks, one series after another on one engine (one Ray start for
    all), each task file written as its task finishes; returns the engine that ran them."""
    engine = Engine(s.engine, s.workers, s.address, os.cpu_count() or 1, {})
    pending = sum(len(p.pending) for p in plans)
    total = sum(len(p.tasks) for p in plans)
    finished_before = total - pending
    ray = None
    if pending and s.engine == "ray":
        ray = engines.import_ray()
        workers, address = engines.start_ray(ray, s.workers, s.address, out)
        engine = dataclasses.replace(engine, workers=workers, address=address)
        progress(f"Ray: {'cluster at ' + address if address else 'local'}, {workers} CPUs for {pending} tasks")
    done = 0
    try:
        for p in plans:
            shared = (p.cfg, p.close, p.table, p.data)  # run_task(cfg, close, table, data, task), run_link(..., link)
            fn, after = (run_link, following(p.tasks)) if s.refit == "warm" else (run_task, None)
            runs = (engines.run_ray(ray, engine.workers, fn, shared, p.items, p.label, after) if ray is not None
                    else engines.run_serial(fn, shared, p.items, p.label, after))
            with contextlib.closing(runs):
                for item, result in runs:
                    task, record, weights = finished(item, result)
                    write_finished(p.directory, task, record, weights)
                    p.records[task.name] = record
                    done += 1
                    elapsed = time.perf_counter() - started
                    progress(_progress_line(
                        finished_before + done, total, p.label(task), record["epochs_run"], record["train_seconds"],
                        _duration(elapsed), _duration(elapsed / done * (pending - done))))
    finally:
        if ray is not None:
            engines.shutdown(ray)
    versions = runtime.versions() | ({"ray": ray.__version__} if ray is not None else {})
    return dataclasses.replace(engine, versions=versions)


def finish(p: CoinPlan, s: BacktestSettings, command: str, engine: Engine, started: float) -> Backtest:
    """One series' Backtest from its task records, aggregated in fixed order."""
    cfg, days = p.cfg, p.days
    results = {(t.fold.index, t.cell, t.seed): task_result(p.records[t.name], days[t.fold.index]) for t in p.tasks}
    a = aggregate(p.folds, p.seeds, results)
    return Backtest(
        **{f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
        command=command, data=p.data,
        settings={k: v for k, v in task_cfg(cfg, CELLS[0], cfg.seed).model_settings().items() if k not in ("cell", "seed")},
        options=s, seeds=p.seeds, engine=engine,
        tasks=len(p.tasks), trained=len(p.pending), wall_seconds=time.perf_counter() - started, out=Path(cfg.out),
        directory=p.directory,
        breakdown=breakdown(a, p.close, np.concatenate([days[f.index].volatility for f in p.folds]), cfg.window),
        intervals=backtest_intervals(p.close, p.folds, days, results, p.seeds[0], cfg.levels, cfg.window, cfg.aci_gamma),
    )


def backtest(cfg, s: BacktestSettings, command: str = "backtest()",
             progress: Callable[[str], None] | None = None) -> Backtest:
    """Runs (or resumes) the backtest: every task not yet in <out>/backtest/tasks/ is trained and its
    result written there as it finishes; then all are aggregated in fixed order."""
    started = time.perf_counter()
    progress = progress or log.info
    cfg = cfg.replace(test_start=None, all_data=False)
    p = prepare(cfg, s, tasks_dir(cfg.out), progress)
    engine = run_pending([p], s, cfg.out, started, progress)
    return finish(p, s, command, engine, started)


# --- several coins --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoinsSummary:
    """Across coins, each counted by its seed-mean MAE over all its out-of-sample days and its DM
    tests of the first seed."""

    coins: int
    gru_below_lstm: int                     # coins where GRU's MAE is below LSTM's
    below_naive: dict[str, int]             # cell -> coins where its MAE is below naive's
    dm_significant: dict[str, int]          # metrics.PAIRS -> coins where that DM test has p < DM_ALPHA


DM_ALPHA = 0.05


@dataclass(frozen=True)
class CoinsBacktest:
    """One backtest per coin, run together (one engine, the same settings), and the summary across them."""

    coins: dict[str, Backtest]              # name -> its backtest, in the order given
    summary: CoinsSummary
    command: str
    engine: Engine
    wall_seconds: float
    out: Path

    @property
    def tasks(self) -> int:
        return sum(b.tasks for b in self.coins.values())

    @property
    def trained(self) -> int:
        return sum(b.trained for b in self.coins.values())


def coins_summary(coins: dict[str, Backtest]) -> CoinsSummary:
    def mae(b: Backtest, cell: str) -> float:
        return b.cells[cell].spread("mae").mean

    first = next(iter(coins.values()))
    return CoinsSummary(
        coins=len(coins),
        gru_below_lstm=sum(mae(b, "gru") < mae(b, "lstm") for b in coins.values()),
        below_naive={c: sum(b.cells[c].spread("mae_ratio_vs_naive").mean < 1 for b in coins.values())
                     for c in CELLS},
        dm_significant={pair: sum(b.dm[pair].p_value < DM_ALPHA for b in coins.values()) for pair in first.dm},
    )


def coins_dir(out: Path, name: str) -> Path:
    """A coin's task files, apart from every other coin's: two names for one file never share a task file."""
    return tasks_dir(out) / name


def backtest_coins(cfg, s: BacktestSettings, sources: dict[str, Path], command: str = "backtest()",
                   progress: Callable[[str], None] | None = None) -> CoinsBacktest:
    """The backtest of each named price file (name -> CSV path) with the same settings and folds
    rule, trained on one engine; each coin's task files in <out>/backtest/tasks/<name>/."""
    if len(sources) < 2:
        raise ConfigError(f"a multi-coin backtest needs at least 2 price files, got {len(sources)}")
    started = time.perf_counter()
    progress = progress or log.info
    cfg = cfg.replace(test_start=None, all_data=False)
    plans = [prepare(cfg.replace(csv=Path(path)), s, coins_dir(cfg.out, name), progress, name)
             for name, path in sources.items()]
    engine = run_pending(plans, s, cfg.out, started, progress)
    coins = {p.name: finish(p, s, command, engine, started) for p in plans}
    return CoinsBacktest(coins=coins, summary=coins_summary(coins), command=command, engine=engine,
                         wall_seconds=time.perf_counter() - started, out=Path(cfg.out))


# --- several training windows ---------------------------------------------------------------------

@dataclass(frozen=True)
class GridBacktest:
    """The same backtest of each coin under several variants of its settings, run together (one
    engine): `runs[coin][key]` is the Backtest of that coin and variant."""

    runs: dict[str, dict]   # coin -> variant key -> its backtest, in report order
    command: str
    engine: Engine
    wall_seconds: float
    out: Path

    @property
    def coins(self) -> list[str]:
        return list(self.runs)

    @property
    def keys(self) -> list:
        return list(next(iter(self.runs.values())))

    @property
    def all(self) -> list[Backtest]:
        return [b for by_key in self.runs.values() for b in by_key.values()]

    @property
    def tasks(self) -> int:
        return sum(b.tasks for b in self.all)

    @property
    def trained(self) -> int:
        return sum(b.trained for b in self.all)


@dataclass(frozen=True)
class WindowsBacktest(GridBacktest):
    """A grid over training windows: `runs[coin][train_days]` (None: expanding), windows shortest first."""

    @property
    def windows(self) -> list[int | None]:
        return self.keys


def backtest_windows(cfg, s: BacktestSettings, sources: dict[str, Path | None], command: str = "backtest()",
                     progress: Callable[[str], None] | None = None) -> WindowsBacktest:
    """The backtest of each named price file (name -> CSV path; None: cfg's own source) under each of
    `s.windows`, trained on one engine. A window's tasks are the tasks a run with that --train-days
    alone would plan, in the same folder (<out>/backtest/tasks/, or .../<name>/ with several coins):
    each window reads back what a one-window run trained, and the other way round."""
    if len(s.windows) < 2:
        raise ConfigError(f"a backtest over training windows needs at least 2 of them, got {len(s.windows)}")
    started = time.perf_counter()
    variants = {ws.train_days: (cfg, ws, window_name(ws.train_days)) for ws in s.per_window()}
    runs, engine = _grid(sources, variants, s, cfg.out, command, started, progress or log.info)
    return WindowsBacktest(runs=runs, command=command, engine=engine, wall_seconds=time.perf_counter() - started,
                           out=Path(cfg.out))


def _grid(sources: dict[str, Path | None], variants: dict, s: BacktestSettings, out: Path, command: str,
          started: float, progress: Callable[[str], None]) -> tuple[dict[str, dict], Engine]:
    """Each coin (name -> CSV path; None: the variant's own source) under each variant (key -> (Config,
    BacktestSettings, label)), trained on one engine: coin -> key -> Backtest. A variant's tasks are
    the tasks a run with its settings alone plans, in the same folder (<out>/backtest/tasks/, or
    .../<name>/ with several coins), so each reads back what a one-variant run trained, and the other
    way round."""
    plans = {}
    for name, path in sources.items():
        directory = tasks_dir(out) if len(sources) == 1 else coins_dir(out, name)
        for key, (cfg, vs, label) in variants.items():
            cfg = cfg.replace(test_start=None, all_data=False)
            plans[name, key] = prepare(cfg if path is None else cfg.replace(csv=Path(path)), vs, directory, progress,
                                       label if len(sources) == 1 else f"{name}, {label}")
    engine = run_pending(list(plans.values()), s, out, started, progress)
    runs = {}
    for (name, key), p in plans.items():
        runs.setdefault(name, {})[key] = finish(p, variants[key][1], command, engine, started)
    return runs, engine


# --- several sets of inputs -----------------------------------------------------------------------

@dataclass(frozen=True)
class InputsBacktest(GridBacktest):
    """A grid over sets of inputs: `runs[coin][inputs]`, in the order given, the first set the
    baseline the others are tested against, cell by cell and seed by seed, on the same days."""

    dm: dict[str, dict[str, dict[tuple[str, ...], tuple[DMTest, ...]]]]  # coin -> cell -> inputs (not the first) -> DM against the first, one per seed

    @property
    def input_sets(self) -> list[tuple[str, ...]]:
        return self.keys


def inputs_dm(base: Backtest, other: Backtest, cell: str) -> tuple[DMTest, ...]:
    """Diebold-Mariano of `other`'s forecasts against `base`'s for one cell, seed by seed (the same
    seed's on the same days); a negative statistic: `other`'s inputs have the smaller loss."""
    if not base.dates.equals(other.dates):  # one folds rule on one price file: never, unless a bug
        raise ValueError("the two runs forecast different days")
    return metrics.dm_by_seed(base.actual, base.cells[cell].points, other.cells[cell].points)


def backtest_inputs(cfg, s: BacktestSettings, sources: dict[str, Path | None], input_sets: list[tuple[str, ...]],
                    command: str = "backtest()", progress: Callable[[str], None] | None = None) -> InputsBacktest:
    """The backtest of each named price file (name -> CSV path; None: cfg's own source) with each set
    of inputs, trained on one engine, every set's tasks a one-set run's own; then DM of each set
    against the first, per coin, cell and seed."""
    if len(input_sets) < 2 or len(set(input_sets)) < len(input_sets):
        raise ConfigError(f"a backtest over inputs needs at least 2 different sets of them, got "
                          f"{'; '.join(map(inputs_label, input_sets)) or 'none'}")
    if s.windows:
        raise ConfigError("compare several training windows or several sets of inputs in one run, not both")
    started = time.perf_counter()
    variants = {tuple(i): (cfg.replace(inputs=tuple(i)), s, f"inputs {inputs_label(i)}") for i in input_sets}
    runs, engine = _grid(sources, variants, s, cfg.out, command, started, progress or log.info)
    base = tuple(input_sets[0])
    dm = {coin: {cell: {i: inputs_dm(by[base], by[i], cell) for i in by if i != base} for cell in CELLS}
          for coin, by in runs.items()}
    return InputsBacktest(runs=runs, dm=dm, command=command, engine=engine,
                          wall_seconds=time.perf_counter() - started, out=Path(cfg.out))
