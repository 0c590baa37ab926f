"""Rolling-origin backtest: at each fold origin, both cells refit on the days before it only, then
forecast the fold's days one step ahead; the errors of all folds are judged together.

A fold is a run of `step` target days starting at its origin. Its models train on the target days
before the origin (all of them, or the last `train_days`), early-stopped and calibrated on the last
15% of those, exactly as `train` does (train.train_dataset). Each (fold, cell, seed) task is a pure
function of the model settings, the fold bounds and the closes it reads, so its result file is named
by a hash of those: an interrupted backtest resumes where it stopped, and a changed setting never
reuses a stale result. A result file is sealed with the sha256 of its content and checked before it
is read back (check_record); one that fails is trained again, and the closes it is judged on always
come from the price file, never from a result file. Tasks run one after another in this process, or
in parallel on Ray (a local instance or a cluster); results are aggregated in (fold, cell, seed)
order, never completion order.
"""

from __future__ import annotations

from . import runtime  # noqa: F401, I001  (before anything loads TensorFlow, here or in a Ray worker)

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from . import jsonio
from .jsonio import dumps, jsonable
from .config import CELLS, MAX_SEED
from .jsonio import level_key
from .prices import Prices
from .sources import load_prices
from .errors import BacktestError, ConfigError, DataError, TooLittleData
from .metrics import DMTest, Forecast, ForecastMetrics, OverSeeds, dm_tests
from .files import write_atomic
from .model_info import DataInfo, Span
from .intervals import trailing_volatility
from .windows import Dataset, Split, get_scaling, make_windows, rows_needed

log = logging.getLogger(__name__)

DEFAULT_FOLDS = 12
MIN_FOLD_DAYS = 3        # days per fold, at least: --step below is refused, a shorter last partial fold dropped
MIN_SPLIT_DAYS = 3       # training and validation days before an origin, at least (as windows.split_targets)
MAX_CALLS = 8            # trainings per Ray worker process before Ray replaces it: each leaks ~15-20 MB
IN_FLIGHT_PER_CPU = 2    # Ray tasks submitted ahead per CPU: enough to keep every worker busy
CONNECT_TIMEOUT_S = 5    # to reach a cluster's address at all
PROBE_TIMEOUT_S = 5      # for a Ray cluster's GCS to answer; ray.init itself retries a wrong address forever
START_TIMEOUT_S = 120    # for a local Ray to start: Ray's own 30 s run out on a busy machine
GCS_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"  # Ray's setting for how long its GCS may take to start
TASK_SCHEMA = 2          # part of every task's hash: a new result layout never reads an old file


@dataclass(frozen=True)
class BacktestSettings:
    """How the backtest runs; the model and training settings stay in Config."""

    seeds: int = 3                    # seeds per cell and fold, from Config.seed on
    folds: int | None = None          # folds ending at the data end; None: DEFAULT_FOLDS, or up to the end from first_test
    first_test: date | None = None    # first out-of-sample day; folds follow each other up to the data end
    step: int = 30                    # out-of-sample target days per fold, each forecast one step ahead
    train_days: int | None = None     # keep only the last N target days before each origin (rolling); None: all (expanding)
    workers: int = 1                  # 1: in this process, without Ray; more: a local Ray with this many workers
    address: str | None = None        # an existing Ray cluster ("host:6379"); then Ray places the tasks

    def __post_init__(self):
        if self.folds is None and self.first_test is None:
            object.__setattr__(self, "folds", DEFAULT_FOLDS)
        for problem in _problems(self):
            raise ConfigError(problem)

    @property
    def engine(self) -> str:
        return "ray" if self.address or self.workers > 1 else "serial"


def _problems(s: BacktestSettings):
    def whole(name, low):
        value = getattr(s, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            return f"{name} must be a whole number of at least {low}, got {value!r}"

    return [p for p in (
        whole("seeds", 1),
        whole("folds", 1),
        s.folds is not None and s.first_test is not None and "give folds or first_test, not both",
        whole("step", MIN_FOLD_DAYS),
        whole("train_days", 2 * MIN_SPLIT_DAYS),
        whole("workers", 1),
        s.address is not None and not (isinstance(s.address, str) and s.address.strip())
        and f"address must name a Ray cluster (host:port), got {s.address!r}",
    ) if p]


# --- folds ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fold:
    index: int      # 0-based, in time order
    split: Split    # positions on the whole series' target-day axis: training, validation, the fold's days
    train: Span
    val: Span
    test: Span      # the out-of-sample days; test.first is the origin

    @property
    def number(self) -> int:
        return self.index + 1

    def bounds(self) -> dict[str, list[str]]:
        return {name: [s.first, s.last] for name, s in (("train", self.train), ("val", self.val), ("test", self.test))}


def fold_split(start: int, origin: int, stop: int, val_fraction: float) -> Split:
    """Target days start..origin-1 split in time order, the last `val_fraction` of them for validation
    (early stopping and interval calibration); origin..stop-1 are the fold's out-of-sample days."""
    n_val = round((origin - start) * val_fraction)
    return Split(slice(start, origin - n_val), slice(origin - n_val, origin), slice(origin, stop))


def days_before(val_fraction: float) -> int:
    """The fewest target days before an origin that leave MIN_SPLIT_DAYS for training and for validation."""
    n = 2 * MIN_SPLIT_DAYS
    while round(n * val_fraction) < MIN_SPLIT_DAYS or n - round(n * val_fraction) < MIN_SPLIT_DAYS:
        n += 1
    return n


def make_folds(dates: pd.DatetimeIndex, s: BacktestSettings, val_fraction: float = 0.15) -> tuple[Fold, ...]:
    """The folds over target days `dates`: the last `folds` x `step` days, or consecutive folds from
    `first_test` to the end (a last partial fold is kept if it has at least MIN_FOLD_DAYS days)."""
    n = len(dates)
    if s.first_test is not None:
        first = int(np.searchsorted(dates.values, np.datetime64(pd.Timestamp(s.first_test))))
        if first >= n:
            raise DataError(f"--first-test {s.first_test} is after the last target day {dates[-1]:%Y-%m-%d}")
        origins = [o for o in range(first, n, s.step) if min(o + s.step, n) - o >= MIN_FOLD_DAYS]
        if not origins:
            raise TooLittleData(f"--first-test {s.first_test} leaves {n - first} target days up to "
                                f"{dates[-1]:%Y-%m-%d}; a fold needs at least {MIN_FOLD_DAYS}")
    else:
        first = n - s.folds * s.step
        origins = [first + k * s.step for k in range(s.folds)]
    need = days_before(val_fraction)
    if s.train_days is not None and s.train_days < need:
        raise ConfigError(f"--train-days {s.train_days} is too few: {MIN_SPLIT_DAYS} training and {MIN_SPLIT_DAYS} "
                          f"validation days (the last {val_fraction:.0%}) need at least {need}")
    need = max(need, s.train_days or 0)
    if origins[0] < need:  # later folds have at least as many days before them
        has = max(origins[0], 0)
        raise TooLittleData(
            f"too little data for the backtest: the first fold needs {need} target days before its origin, "
            f"it has {has}; use fewer --folds, a smaller --step, a later --first-test or more data"
        )
    folds = []
    for k, origin in enumerate(origins):
        start = 0 if s.train_days is None else origin - s.train_days
        split = fold_split(start, origin, min(origin + s.step, n), val_fraction)
        folds.append(Fold(k, split, *(Span.of(dates[p]) for p in (split.train, split.val, split.test))))
    return tuple(folds)


def fold_dataset(X: np.ndarray, y: np.ndarray, dates: pd.DatetimeIndex, fold: Fold, scaling: str) -> Dataset:
    """The fold's rows only, from its first training day to its last out-of-sample day, with the
    scaling fitted on its training rows: nothing at or after the origin reaches the fit."""
    lo, hi = fold.split.train.start, fold.split.test.stop
    split = Split(*(slice(p.start - lo, p.stop - lo) for p in (fold.split.train, fold.split.val, fold.split.test)))
    X, y, dates = X[lo:hi], y[lo:hi], dates[lo:hi]  # (m, window), (m,), (m,): the fold's target days
    return Dataset(X=X, y=y, dates=dates, split=split,
                   scaling=get_scaling(scaling).fit(X[split.train], y[split.train]))


# --- tasks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    fold: Fold
    cell: str
    seed: int
    name: str   # file stem: readable fold, cell and seed, then the hash of everything the result depends on
    key: dict   # what the hash covers, JSON-ready, stored in the result file

    def describe(self) -> str:
        return f"fold {self.fold.number} ({self.fold.test.first}..{self.fold.test.last}), {self.cell.upper()}, seed {self.seed}"


def task_cfg(cfg, cell: str, seed: int):
    """The Config a task trains with: quiet (Keras' per-epoch lines would interleave), no all-data
    refit and no test_start (the fold decides the split)."""
    return cfg.replace(cell=cell, seed=seed, quiet=True, all_data=False, test_start=None)


def read_slice(close: pd.Series, fold: Fold, window: int) -> pd.Series:
    """The closes a fold's windows read: target position p's window is close[p : p+window] and its
    target close[p+window], so targets start..stop-1 read close[start : stop+window]."""
    return close.iloc[fold.split.train.start:fold.split.test.stop + window]


def make_task(cfg, fold: Fold, cell: str, seed: int, close: pd.Series) -> Task:
    """A task and its name. The hash covers the model settings (cell and seed included), the fold's
    bounds and the sha256 of the closes it reads; not where results go, nor --quiet."""
    key = {
        "schema": TASK_SCHEMA,
        "settings": task_cfg(cfg, cell, seed).model_settings(),
        "fold": fold.bounds(),
        "data_sha256": Prices(close=read_slice(close, fold, cfg.window), source="").sha256(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Task(fold, cell, seed, f"{fold.test.first}_{cell}_seed{seed}_{digest[:16]}", key)


def plan(cfg, folds: tuple[Fold, ...], seeds: tuple[int, ...], close: pd.Series) -> tuple[Task, ...]:
    """Every task in the fixed order results are aggregated in: fold, cell, seed."""
    return tuple(make_task(cfg, fold, cell, seed, close) for fold in folds for cell in CELLS for seed in seeds)


@dataclass(frozen=True)
class TaskResult:
    """What one (fold, cell, seed) task produced: its forecasts of the fold's days and its training.
    (Which fold it belongs to is the Task's business: the same bounds may be another run's fold 3.)"""

    cell: str
    seed: int
    actual: np.ndarray       # (m,) closes on the fold's days, USD: from the price file
    forecast: Forecast       # point and bands from the task file; previous (naive) and volatility from the price file
    epochs_run: int
    best_epoch: int
    train_seconds: float


@dataclass(frozen=True)
class FoldDays:
    """What the price file says about a fold's out-of-sample days; a task file is never asked."""

    dates: pd.DatetimeIndex   # (m,) target days
    actual: np.ndarray        # (m,) their closes, USD
    previous: np.ndarray      # (m,) the close before each: the naive forecast
    volatility: np.ndarray    # (m,) trailing volatility known the day before

    @property
    def days(self) -> list[str]:
        return [f"{d:%Y-%m-%d}" for d in self.dates]


def fold_days(close: pd.Series, fold: Fold, window: int) -> FoldDays:
    """The fold's days from the closes, exactly as run_task's evaluation computes them."""
    X, y = make_windows(close.to_numpy(), window)  # (n, window), (n,)
    X = np.asarray(X[fold.split.test], dtype="float64")
    return FoldDays(close.index[window:][fold.split.test], np.asarray(y[fold.split.test], dtype="float64"),
                    X[:, -1], trailing_volatility(X))


def run_task(cfg, task: Task, close: pd.Series, data: DataInfo) -> dict:
    """Trains one task's model on its fold and returns its result file's content. Pure: the same
    settings, fold and closes give the same numbers, in this process or a Ray worker."""
    import keras

    from .train import train_dataset

    # Each task starts from a fresh Keras state, wherever it runs and whatever ran before it.
    keras.backend.clear_session(free_memory=True)
    X, y = make_windows(close.to_numpy(), cfg.window)  # (n, window), (n,)
    dataset = fold_dataset(X, y, close.index[cfg.window:], task.fold, cfg.scaling)
    trained = train_dataset(task_cfg(cfg, task.cell, task.seed), dataset, data)
    ev, info = trained.test, trained.info
    return task_record(task, ev.actual, ev.forecast, info.epochs_run, info.best_epoch, info.train_seconds)


def task_record(task: Task, actual, f: Forecast, epochs_run: int, best_epoch: int, train_seconds: float) -> dict:
    """A task's result file: plain JSON (an unbounded interval's upper end is null), sealed with the
    sha256 of its content, task name and key included. `actual` and `previous` are there for people
    reading the file; the backtest takes both from the price file."""
    record = jsonable({
        "name": task.name, "key": task.key,
        "cell": task.cell, "seed": task.seed,
        "dates": [f"{d:%Y-%m-%d}" for d in f.dates],
        "point": _list(f.point), "actual": _list(actual), "previous": _list(f.previous),
        "intervals": {level_key(lv): {"model": _bounds(f.bands[lv]), "naive": _bounds(f.naive_bands[lv])}
                      for lv in f.bands},
        "epochs_run": epochs_run, "best_epoch": best_epoch, "train_seconds": train_seconds,
    })
    return record | {"content_sha256": content_sha256(record)}


def content_sha256(record: dict) -> str:
    """sha256 of a task file's canonical JSON, its own hash left out."""
    return jsonio.content_sha256(record, leave_out="content_sha256")


def _list(values) -> list[float]:
    return np.asarray(values, dtype="float64").tolist()  # Python floats: JSON writes them exactly


def _bounds(band) -> dict:
    return {"lower": _list(band[0]), "upper": _list(band[1])}


def _floats(values) -> np.ndarray:
    return np.array([math.inf if v is None else v for v in values], dtype="float64")


class Unusable(ValueError):
    """Why a task file cannot stand for its task, in a few words."""


BAND_TOLERANCE = 1e-9   # log units: a band written as point * exp(+-q) reads back within ~1e-15 of it


def check_record(record, task: Task, days: FoldDays) -> None:
    """Raises Unusable unless `record` is this task's sealed, untouched and sane result for the fold's
    days: hash, identity, dates, lengths, finite numbers, every configured level one band around its
    forecast (naive's around the previous close from the price file), bands nested, epochs in range.
    A value edited and resealed to pass all of these is the one edit no check here can see."""
    if not isinstance(record, dict):
        raise Unusable("not a task result")
    if record.get("content_sha256") != content_sha256(record):
        raise Unusable("content hash mismatch")
    if (record.get("name"), record.get("key"), record.get("cell"), record.get("seed")) != (
            task.name, jsonable(task.key), task.cell, task.seed):
        raise Unusable("made by another task")
    if record.get("dates") != days.days:
        raise Unusable(f"its dates are not the fold's days {days.days[0]}..{days.days[-1]}")
    point = _numbers(record.get("point"), "point", len(days.days))
    if not (point > 0).all():
        raise Unusable("point holds a forecast at or below zero")
    settings = task.key["settings"]
    levels = sorted(float(lv) for lv in settings["levels"])
    intervals = record.get("intervals")
    found = sorted(intervals, key=_level_order) if isinstance(intervals, dict) else []
    if found != [level_key(lv) for lv in levels]:
        raise Unusable(f"interval levels {', '.join(found) or 'none'} instead of {', '.join(map(level_key, levels))}")
    for who, centre in (("model", point), ("naive", days.previous)):
        widest = 0.0
        for lv in map(level_key, levels):
            q = _band(intervals[lv], who, lv, centre)
            if q < widest - BAND_TOLERANCE:
                raise Unusable(f"the {lv}% {who} interval is narrower than a lower level's")
            widest = max(widest, q)
    epochs, best = record.get("epochs_run"), record.get("best_epoch")
    if not (_whole(epochs) and _whole(best) and 1 <= best <= epochs <= settings["epochs"]):
        raise Unusable(f"epochs {epochs!r} (best {best!r}) outside 1..{settings['epochs']}")
    seconds = record.get("train_seconds")
    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds < math.inf):
        raise Unusable(f"train_seconds {seconds!r} is not a duration")


def _level_order(key: str) -> tuple:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(values, name: str, days: int, unbounded: bool = False) -> np.ndarray:
    """A list of `days` finite numbers (null, an unbounded end, only where `unbounded`)."""
    if not isinstance(values, list) or len(values) != days:
        has = len(values) if isinstance(values, list) else "no list of"
        raise Unusable(f"{name} has {has} values, the fold has {days} days")
    if not all((isinstance(v, (int, float)) and not isinstance(v, bool)) or (unbounded and v is None) for v in values):
        raise Unusable(f"{name} holds a value that is not a number")
    array = _floats(values)
    if not np.isfinite(array[[v is not None for v in values]]).all():
        raise Unusable(f"{name} holds a value that is not a finite number")
    return array


def _band(interval, who: str, level: str, centre: np.ndarray) -> float:
    """The q of one level's band, checked to be centre * exp(+-q) with one q on every day
    (unbounded: lower 0 and upper null on every day); raises Unusable if it is not."""
    name = f"the {level}% {who} interval"
    bounds = interval.get(who) if isinstance(interval, dict) else None
    if not isinstance(bounds, dict):
        raise Unusable(f"{name} is missing")
    lower = _numbers(bounds.get("lower"), f"{name}'s lower", len(centre))
    upper = _numbers(bounds.get("upper"), f"{name}'s upper", len(centre), unbounded=True)
    if np.isinf(upper).all() and (lower == 0).all():
        return math.inf
    if np.isinf(upper).any() or not (lower > 0).all():
        raise Unusable(f"{name} does not fit its forecast")
    above, below = np.log(upper / centre), np.log(centre / lower)  # (m,) each: q, q on every day
    if (above.min() < -BAND_TOLERANCE or np.abs(above - below).max() > BAND_TOLERANCE
            or above.max() - above.min() > BAND_TOLERANCE):
        raise Unusable(f"{name} does not fit its forecast")
    return float(above.mean())


def task_result(record: dict, days: FoldDays) -> TaskResult:
    """A checked result file back as a TaskResult, with the fold's closes, naive forecast and
    volatility from the price file."""
    bands, naive_bands = {}, {}
    for lv, iv in record["intervals"].items():
        bands[float(lv)] = (_floats(iv["model"]["lower"]), _floats(iv["model"]["upper"]))
        naive_bands[float(lv)] = (_floats(iv["naive"]["lower"]), _floats(iv["naive"]["upper"]))
    return TaskResult(
        cell=str(record["cell"]), seed=int(record["seed"]), actual=days.actual,
        forecast=Forecast(dates=days.dates, point=_floats(record["point"]), previous=days.previous,
                          volatility=days.volatility, bands=bands, naive_bands=naive_bands),
        epochs_run=int(record["epochs_run"]), best_epoch=int(record["best_epoch"]),
        train_seconds=float(record["train_seconds"]),
    )


def tasks_dir(out: Path) -> Path:
    return Path(out) / "backtest" / "tasks"


def read_finished(directory: Path, task: Task, days: FoldDays) -> dict | None:
    """The task's result file, if a finished run left one that passes check_record; a file that
    does not is named in one warning line, and the task is trained again."""
    path = directory / f"{task.name}.json"
    if not path.is_file():
        return None
    try:
        try:
            record = json.loads(path.read_bytes())
        except OSError as e:
            raise Unusable(f"cannot be read: {e.strerror or e}") from None
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's limit
            raise Unusable("not valid JSON") from None
        check_record(record, task, days)
    except Unusable as e:
        log.warning("task file %s failed its check (%s); training it again", path, e)
        return None
    return record


# --- engines: each yields (task, result record) as tasks finish -----------------------------------

@dataclass(frozen=True)
class Engine:
    name: str                  # "serial" or "ray"
    workers: int               # trainings at once: 1, the local Ray's CPUs, or the cluster's CPUs
    address: str | None        # the Ray cluster's address; None for serial and a local Ray
    cpu_count: int             # CPUs of the machine that ran the command
    versions: dict[str, str]   # runtime.versions(), with Ray's when it ran


def task_failed(task: Task, error: BaseException) -> BacktestError:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return BacktestError(f"task {task.describe()} failed: {reason}")


def run_serial(cfg, pending: list[Task], close: pd.Series, data: DataInfo) -> Iterator[tuple[Task, dict]]:
    for task in pending:
        try:
            record = run_task(cfg, task, close, data)
        except Exception as e:  # a KeyboardInterrupt goes through: main ends with exit 130
            raise task_failed(task, e) from e
        yield task, record


def repo_root() -> Path:
    """The folder holding the forecast package: what a Ray cluster's workers need."""
    return Path(__file__).resolve().parents[1]


def ship_excludes(out: Path) -> list[str]:
    """What stays behind when the project is shipped to a cluster: history, environments, price caches,
    results (the --out folder too, when it lies inside the project) and documents."""
    excludes = [".git", ".venv", "artifacts", "data/*.csv", "docs", "notebooks", ".pytest_cache", "__pycache__"]
    with contextlib.suppress(ValueError):
        inside = Path(out).resolve().relative_to(repo_root())
        if inside.parts:
            excludes.append(inside.as_posix())
    return excludes


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise BacktestError(f"parallel backtests need Ray ({e}): pip install -r requirements.txt") from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fails fast when nothing listens at host:port; ray.init would retry a wrong address forever."""
    if address in ("auto", "local"):
        return  # Ray finds (or refuses) the local cluster itself, quickly
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BacktestError(f"cannot use Ray address {address!r}: expected host:port, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e) or type(e).__name__)
        raise BacktestError(f"cannot reach a Ray cluster at {address}: {reason}") from None


@contextlib.contextmanager
def _stderr_held() -> Iterator[list[str]]:
    """Holds back what Ray's C++ core writes to stderr while it starts or connects (retry notes);
    the caller gets the text, to quote when starting fails."""
    import sys

    sys.stderr.flush()
    saved, held = os.dup(2), []
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            held.append(captured.read().decode(errors="replace"))


def probe_cluster(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Asks the GCS at host:port for an answer, with a time limit ray.init does not have: something
    that accepts connections but is not Ray, or a cluster that wants a token, fails here in seconds."""
    if address in ("auto", "local") or "://" in address:
        return  # found by Ray itself, or Ray Client's own protocol
    try:
        from ray._raylet import InnerGcsClient  # not public: where it is missing, ray.init alone decides
    except ImportError:
        return
    held: list[str] = []
    try:
        with _stderr_held() as held:
            InnerGcsClient.standalone(address, None, int(timeout * 1000))
    except AttributeError:
        return
    except Exception as e:
        raise BacktestError(f"cannot connect to the Ray cluster at {address}: {_init_reason(e, ''.join(held))}") from None


def start_ray(ray, s: BacktestSettings, out: Path) -> tuple[int, str | None]:
    """ray.init for a local instance of `workers` CPUs or the cluster at `address`, with Ray's own
    logging kept off the terminal; returns (CPUs Ray offers, address)."""
    common = dict(
        include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
        configure_logging=True, ignore_reinit_error=False,
        runtime_env={"working_dir": str(repo_root()), "excludes": ship_excludes(out)},
    )
    if s.address:
        check_reachable(s.address)
        probe_cluster(s.address)
        where, kwargs = f"the Ray cluster at {s.address}", dict(address=s.address)
    else:
        where, kwargs = f"a local Ray with {s.workers} workers", dict(address="local", num_cpus=s.workers)
    if ray.is_initialized():  # the caller's own Ray: neither reuse nor shut down what is not ours
        raise BacktestError("Ray is already initialised in this process; call ray.shutdown() first")
    held: list[str] = []
    try:
        with _stderr_held() as held, (contextlib.nullcontext() if s.address else patient_start(START_TIMEOUT_S)):
            ray.init(**kwargs, **common)
    except Exception as e:
        _shutdown(ray)
        if not s.address and _timed_out(e):
            raise BacktestError(f"{where} did not start within {START_TIMEOUT_S} s (the machine is busy?); "
                                "try again, or --workers 1") from None
        raise BacktestError(f"cannot {'connect to' if s.address else 'start'} {where}: "
                            f"{_init_reason(e, ''.join(held))}") from None
    return int(ray.cluster_resources().get("CPU", s.workers)), s.address


@contextlib.contextmanager
def patient_start(seconds: float) -> Iterator[None]:
    """A local ray.init given `seconds` instead of Ray's fixed 30 to start: its GCS through Ray's
    own setting (unless set already), and its raylet by repeating the node lookup that Ray 2.60
    polls for at most 30 s (ray/_private/node.py has no setting for that one). Both undone after."""
    saved = os.environ.get(GCS_WAIT_VARIABLE)
    os.environ[GCS_WAIT_VARIABLE] = saved if saved is not None else str(seconds)
    try:
        from ray._private import services  # not public: where it is missing, Ray's own 30 s apply
        lookup = services.get_node
    except (ImportError, AttributeError):
        services = lookup = None

    def patient(*args, **kwargs):
        deadline = time.monotonic() + seconds
        while True:
            try:
                return lookup(*args, **kwargs)
            except RuntimeError:  # the raylet has not registered yet
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    if lookup is not None:
        services.get_node = patient
    try:
        yield
    finally:
        if lookup is not None:
            services.get_node = lookup
        if saved is None:
            os.environ.pop(GCS_WAIT_VARIABLE, None)
        else:
            os.environ[GCS_WAIT_VARIABLE] = saved


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it, at most 10 deep."""
    chain, e = [], error
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _timed_out(error: BaseException) -> bool:
    """Whether a local ray.init failed by running out of time to start."""
    return any(isinstance(x, TimeoutError) or "timed out during startup" in str(x) for x in _chain(error))


def _init_reason(error: BaseException, held: str) -> str:
    """Why ray.init failed, in one line: its message, or what its causes or stderr said."""
    chain = _chain(error)
    if any("InvalidAuthToken" in str(x) or "Authentication token" in str(x) for x in chain):
        # `ray start` turns token authentication on by default (Ray 2.60), and ray.init sends the token
        # to an explicit address only with RAY_AUTH_MODE=token.
        return ("the cluster asks for its authentication token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "(`ray get-auth-token` on the head node prints it)")
    if any("Timed out while waiting for GCS" in str(x) for x in chain):
        return "no Ray cluster answers there (timed out)"
    notes = [line for line in held.splitlines() if line.strip()]
    text = str(error).strip()
    return (text.splitlines()[0] if text else notes[-1] if notes else type(error).__name__)[:300]


def _shutdown(ray) -> None:
    with contextlib.suppress(Exception):
        ray.shutdown()


def _ray_task(cfg, task: Task, close: pd.Series, data: DataInfo) -> dict:
    """A task in a Ray worker: forecast.runtime first (this module imports it), TensorFlow limited
    to the CPUs Ray gave the task, then the same run_task as in-process."""
    import ray

    cpus = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    runtime.quiet_tensorflow()
    use_threads(cpus)
    return run_task(cfg, task, close, data)


def use_threads(n: int) -> None:
    """TensorFlow's intra- and inter-op threads, set before it runs anything in this process; a
    recycled worker keeps what its first task set (the same n, since every task asks for the same)."""
    import tensorflow as tf

    threading_ = tf.config.threading
    if threading_.get_intra_op_parallelism_threads() == n and threading_.get_inter_op_parallelism_threads() == n:
        return
    with contextlib.suppress(RuntimeError):  # TensorFlow already initialised in this process
        threading_.set_intra_op_parallelism_threads(n)
        threading_.set_inter_op_parallelism_threads(n)


def run_ray(ray, workers: int, cfg, pending: list[Task], close: pd.Series, data: DataInfo) -> Iterator[tuple[Task, dict]]:
    """Tasks as Ray remote functions, at most IN_FLIGHT_PER_CPU x workers submitted at once; results
    are collected with ray.wait as they finish."""
    remote = ray.remote(num_cpus=1, max_calls=MAX_CALLS)(_ray_task)
    refs = (ray.put(cfg), ray.put(close), ray.put(data))
    queue, in_flight = iter(pending), {}

    def submit() -> None:
        for task in queue:
            in_flight[remote.remote(refs[0], task, refs[1], refs[2])] = task
            if len(in_flight) >= IN_FLIGHT_PER_CPU * workers:
                return

    submit()
    while in_flight:
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        task = in_flight.pop(ref)
        try:
            record = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            raise task_failed(task, e.cause if e.cause is not None else e) from None
        except ray.exceptions.RayError as e:  # a worker died (out of memory, killed), the cluster went away
            raise task_failed(task, e) from None
        yield task, record
        submit()


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

    def folds_ahead(self, cell: str) -> int:
        """Folds in which the cell's seed-mean MAE is below naive's."""
        return sum(fr.beats_naive(cell) for fr in self.folds)


# --- the whole run ------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def backtest(cfg, s: BacktestSettings, command: str = "backtest()",
             progress: Callable[[str], None] | None = None) -> Backtest:
    """Runs (or resumes) the backtest: every task not yet in <out>/backtest/tasks/ is trained and its
    result written there as it finishes; then all are aggregated in fixed order."""
    from . import report
    from .train import data_info

    started = time.perf_counter()
    progress = progress or log.info
    cfg = cfg.replace(test_start=None, all_data=False)
    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    close = prices.close
    dates = close.index[cfg.window:]
    if cfg.seed + s.seeds > MAX_SEED:
        raise ConfigError(f"seeds {cfg.seed}..{cfg.seed + s.seeds - 1} go past {MAX_SEED - 1}")
    folds = make_folds(dates, s, cfg.val_fraction)
    seeds = tuple(cfg.seed + k for k in range(s.seeds))
    tasks = plan(cfg, folds, seeds, close)
    directory = tasks_dir(cfg.out)
    days = {fold.index: fold_days(close, fold, cfg.window) for fold in folds}  # from the price file, never a task file
    records = {t.name: r for t in tasks if (r := read_finished(directory, t, days[t.fold.index])) is not None}
    pending = [t for t in tasks if t.name not in records]
    if records:
        progress(f"resuming: {len(records)} of {len(tasks)} tasks already finished in {directory}")
    data = data_info(prices)
    engine = Engine(s.engine, s.workers, s.address, os.cpu_count() or 1, {})
    ray = None
    if pending and s.engine == "ray":
        ray = _import_ray()
        workers, address = start_ray(ray, s, cfg.out)
        engine = dataclasses.replace(engine, workers=workers, address=address)
        progress(f"Ray: {'cluster at ' + address if address else 'local'}, {workers} CPUs for "
                 f"{len(pending)} tasks")
    try:
        runs = (run_ray(ray, engine.workers, cfg, pending, close, data) if ray is not None
                else run_serial(cfg, pending, close, data))
        with contextlib.closing(runs):
            for done, (task, record) in enumerate(runs, start=1):
                write_atomic(directory / f"{task.name}.json", lambda tmp, r=record: tmp.write_text(dumps(r)))
                records[task.name] = record
                elapsed = time.perf_counter() - started
                progress(report.backtest_progress(
                    len(records), len(tasks), task.describe(), record["epochs_run"], record["train_seconds"],
                    _duration(elapsed), _duration(elapsed / done * (len(pending) - done))))
    finally:
        if ray is not None:
            _shutdown(ray)
    versions = runtime.versions() | ({"ray": ray.__version__} if ray is not None else {})
    engine = dataclasses.replace(engine, versions=versions)
    results = {(t.fold.index, t.cell, t.seed): task_result(records[t.name], days[t.fold.index]) for t in tasks}
    a = aggregate(folds, seeds, results)
    return Backtest(
        **{f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
        command=command, data=data,
        settings={k: v for k, v in task_cfg(cfg, CELLS[0], cfg.seed).model_settings().items() if k not in ("cell", "seed")},
        options=s, seeds=seeds, engine=engine,
        tasks=len(tasks), trained=len(pending), wall_seconds=time.perf_counter() - started, out=Path(cfg.out),
    )
