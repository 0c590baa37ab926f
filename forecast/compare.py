"""GRU vs LSTM on the same data, split and test days: error, intervals, significance, seeds, speed.

`compare` returns a typed Comparison (publish.run_compare writes it as comparison.json,
comparison.md and comparison.png). The models it trains are saved like `train`'s, through
the `save` it is given, and reused when a saved model was trained on the same prices with
the same settings. `compare_inputs` runs it once per set of inputs, each set's models in a
folder of its own, and tests every set against the first, cell by cell and seed by seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import bench, saved_model
from .config import CELLS, inputs_key, inputs_label
from .prices import Prices
from .sources import load_prices
from .errors import ConfigError, ModelError
from .metrics import DMTest, ErrorMetrics, Evaluation, ForecastMetrics, OverSeeds, Spread, dm_by_seed, dm_tests
from .model_info import DataInfo, Span, TrainedModel
from .inference import forecast_scored, predict_usd
from .train import judge_methods, train
from .windows import Dataset, build_dataset, rows_needed

log = logging.getLogger(__name__)

Save = Callable[[Path, TrainedModel], object]  # writes a trained model's run into a folder

@dataclass(frozen=True)
class SeedRun:
    trained: TrainedModel
    test: Evaluation          # on the comparison's test days
    reused: bool              # loaded from disk rather than trained
    methods: dict | None = None  # (method, "model"/"naive", level) -> MethodMetrics on the test days (train.judge_methods)


@dataclass(frozen=True)
class CellResult(OverSeeds):
    cell: str
    runs: tuple[SeedRun, ...]  # one per seed, in seed order

    @property
    def metrics(self) -> tuple[ForecastMetrics, ...]:
        return tuple(r.test.metrics for r in self.runs)

    def coverage(self, level: float) -> Spread:
        return self.interval(level, "coverage")

    def mean(self, metric: str) -> float:
        return self.spread(metric).mean

    @property
    def seconds_per_epoch(self) -> float:
        """Seconds per training epoch, averaged over the seeds."""
        return sum(r.trained.info.seconds_per_epoch for r in self.runs) / len(self.runs)


@dataclass(frozen=True)
class Comparison:
    command: str
    data: DataInfo
    split: dict[str, Span]
    settings: dict                     # the model settings both cells share
    seeds: tuple[int, ...]
    dates: object                      # (n,) test days, pd.DatetimeIndex
    actual: np.ndarray                 # (n,) closes on the test days
    previous: np.ndarray               # (n,) the naive forecast
    naive: ErrorMetrics
    cells: dict[str, CellResult]
    dm: dict[str, DMTest]              # "gru_vs_lstm", "gru_vs_naive", "lstm_vs_naive", first seed
    dm_by_seed: dict[int, dict[str, DMTest]]
    timing: bench.InferenceTiming | None  # of the first seed's trained models; None: not timed (calls 0)

    def paired(self, metric: str) -> Spread:
        """GRU minus LSTM per seed: the seed's noise cancels where both runs share it."""
        return Spread.of(getattr(g.test.metrics, metric) - getattr(l.test.metrics, metric)
                         for g, l in zip(self.cells["gru"].runs, self.cells["lstm"].runs))


def _reusable(directory: Path, cfg, prices: Prices) -> TrainedModel | None:
    """A saved model trained on exactly these prices with exactly these settings, if any."""
    try:
        info = saved_model.read_info(directory)
    except ModelError as e:
        if (Path(directory) / saved_model.META_FILE).exists():
            log.warning("replacing the model in %s: %s", directory, e)
        return None
    if info.settings != cfg.model_settings() or info.data.sha256 != prices.sha256(cfg.inputs):
        log.warning("replacing the model in %s: it was trained on other data or settings", directory)
        return None
    try:
        return saved_model.load_model(directory)
    except ModelError as e:
        log.warning("retraining: %s", e)
        return None


def get_run(cfg, prices: Prices, dataset: Dataset, directory: Path, save: Save) -> SeedRun:
    saved = _reusable(directory, cfg, prices)
    if saved is not None:
        log.info("%s seed %d: reusing %s (same data and settings)", cfg.cell.upper(), cfg.seed, directory)
        test = forecast_scored(saved, *dataset.part("test"), F=dataset.extra("test"))
        val_point = predict_usd(saved.model, saved.info.scaling, dataset.part("val")[0], dataset.extra("val"))  # (n_val,)
        return SeedRun(saved, test, reused=True, methods=judge_methods(
            dataset, saved.info.volatility.train_variance, val_point, test.forecast.point, cfg.levels))
    log.info("%s seed %d: training", cfg.cell.upper(), cfg.seed)
    trained = train(cfg, prices)
    save(directory, trained)
    return SeedRun(trained, trained.test, reused=False, methods=trained.methods)


def compare(cfg, seeds: int = 1, calls: int = 200, command: str = "compare()", *, save: Save,
            prices: Prices | None = None) -> Comparison:
    """Both cells on one split, `seeds` seeds each; a model not reusable from <out> is trained and
    handed to `save` (publish.save_run) with the folder it belongs in. `prices`: cfg's source,
    already loaded."""
    cfg = cfg.replace(all_data=False)  # the comparison is about held-out test days
    if prices is None:
        prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    dataset = build_dataset(prices.close, cfg, prices.columns(cfg.inputs))  # one split for both cells
    X_test, y_test, dates = dataset.part("test")
    seed_list = tuple(cfg.seed + k for k in range(seeds))
    cells = {
        cell: CellResult(cell, tuple(
            get_run(cfg.replace(cell=cell, seed=s), prices, dataset,
                    saved_model.run_dir(cfg.out, cell, None if k == 0 else s), save)
            for k, s in enumerate(seed_list)))
        for cell in CELLS
    }
    previous = X_test[:, -1]

    def tests(k: int) -> dict[str, DMTest]:
        return dm_tests(y_test, {**{c: r.runs[k].test.forecast.point for c, r in cells.items()}, "naive": previous})

    timing = None
    if calls:  # 0: the accuracy only, without the few seconds (at 200 calls, about a minute) of timing
        log.info("timing inference: %d calls per path and cell, batch 1 and batch %d", calls, len(y_test))
        timing = bench.time_models({c: r.runs[0].trained.model for c, r in cells.items()}, cfg.window, calls,
                                   len(y_test), features=len(cfg.inputs))
    first = cells["gru"].runs[0].trained.info
    return Comparison(
        command=command,
        data=first.data,
        split=first.split,
        settings={k: v for k, v in cfg.model_settings().items() if k not in ("cell", "seed")},
        seeds=seed_list,
        dates=dates, actual=y_test, previous=previous,
        naive=cells["gru"].runs[0].test.metrics.naive,
        cells=cells,
        dm=tests(0),
        dm_by_seed={s: tests(k) for k, s in enumerate(seed_list)},
        timing=timing,
    )


@dataclass(frozen=True)
class InputsComparison:
    """compare under several sets of inputs on one price file, split and seeds: `runs[inputs]` in the
    order given, the first set the baseline the others are tested against."""

    command: str
    runs: dict[tuple[str, ...], Comparison]
    dm: dict[str, dict[tuple[str, ...], tuple[DMTest, ...]]]  # cell -> inputs (not the first) -> DM against the first, one per seed
    out: Path

    @property
    def input_sets(self) -> list[tuple[str, ...]]:
        return list(self.runs)

    @property
    def first(self) -> Comparison:
        return next(iter(self.runs.values()))


def set_dir(out: Path, inputs: tuple[str, ...]) -> Path:
    """Where one set's models live in a comparison over inputs: <out>/<inputs>/ ("close", "ohlcv",
    "close+high"), each a one-set compare's own folder, so `predict --out` reads it."""
    return Path(out) / inputs_key(inputs)


def compare_inputs(cfg, input_sets: list[tuple[str, ...]], seeds: int = 1, calls: int = 200,
                   command: str = "compare()", *, save: Save) -> InputsComparison:
    """compare once per set of inputs (each set's models in set_dir, reused like compare's), on the
    same split and seeds; then Diebold-Mariano of each set against the first, per cell and seed. A
    set the price file cannot give is refused before anything trains."""
    if len(input_sets) < 2 or len(set(input_sets)) < len(input_sets):
        raise ConfigError(f"a comparison over inputs needs at least 2 different sets of them, got "
                          f"{'; '.join(map(inputs_label, input_sets)) or 'none'}")
    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    for inputs in input_sets:
        prices.require(inputs)
    runs = {tuple(i): compare(cfg.replace(inputs=tuple(i), out=set_dir(cfg.out, i)), seeds, calls, command,
                              save=save, prices=prices) for i in input_sets}
    base = runs[tuple(input_sets[0])]
    for r in runs.values():
        if not r.dates.equals(base.dates):  # the split rests on the closes alone: never, unless a bug
            raise ValueError("two sets of inputs were tested on different days")

    def points(c: Comparison, cell: str) -> list[np.ndarray]:
        return [r.test.forecast.point for r in c.cells[cell].runs]  # (n,) per seed

    dm = {cell: {i: dm_by_seed(base.actual, points(base, cell), points(r, cell)) for i, r in runs.items() if r is not base}
          for cell in CELLS}
    return InputsComparison(command=command, runs=runs, dm=dm, out=Path(cfg.out))
