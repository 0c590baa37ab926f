"""One backtest task: a (fold, cell, seed) trained on the fold's days before its origin, its
forecasts of the fold's days, and the task file that keeps them.

Each task is a pure function of the model settings, the fold bounds and the closes it reads, so its
task file is named by a hash of those: an interrupted backtest resumes where it stopped, and a changed
setting never reuses a stale result. A task file is sealed with the sha256 of its content and checked
before it is read back (check_record); one that fails is trained again, and the closes it is judged on
always come from the price file, never from a task file.

With warm refits (--refit warm) fold k of a (cell, seed) starts from fold k-1's trained weights: the
tasks of one (cell, seed) form a chain, each task's key names the task before it, and each task file
has its weights beside it (<name>.weights.npz, its sha256 in the task file), so a resumed chain starts
again at its first task without a usable file, from the weights of the one before.
"""

from __future__ import annotations

from . import runtime  # noqa: F401, I001  (before anything loads TensorFlow, here or in a Ray worker)

import hashlib
import io
import json
import logging
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import jsonio
from .backtest_plan import Fold, fold_dataset
from .config import CELLS
from .files import write_together
from .intervals import trailing_volatility
from .interval_methods import mean_square_return
from .jsonio import dumps, jsonable, level_key
from .metrics import Forecast
from .model_info import DataInfo
from .prices import Prices
from .train import train_dataset
from .validate import is_whole
from .windows import input_windows, windowed

log = logging.getLogger(__name__)

TASK_SCHEMA = 3          # part of every task's hash: a new result layout never reads an old file


@dataclass(frozen=True)
class Task:
    fold: Fold
    cell: str
    seed: int
    name: str   # file stem: readable fold, cell and seed, then the hash of everything the result depends on
    key: dict   # what the hash covers, JSON-ready, stored in the result file

    def describe(self) -> str:
        return f"fold {self.fold.number} ({self.fold.test.first}..{self.fold.test.last}), {self.cell.upper()}, seed {self.seed}"

    @property
    def chain(self) -> tuple:
        """What a warm task continues from the fold before: the same cell and seed (a tuple, so that
        more can join it)."""
        return (self.cell, self.seed)

    @property
    def warm(self) -> bool:
        return self.key.get("refit") == "warm"


def task_cfg(cfg, cell: str, seed: int):
    """The Config a task trains with: quiet (Keras' per-epoch lines would interleave), no all-data
    refit and no test_start (the fold decides the split)."""
    return cfg.replace(cell=cell, seed=seed, quiet=True, all_data=False, test_start=None)


def read_slice(close, fold: Fold, window: int):
    """The closes (or the other columns, on the same days) a fold's windows read: target position p's
    window is close[p : p+window] and its target close[p+window], so targets start..stop-1 read
    close[start : stop+window]."""
    return close.iloc[fold.split.train.start:fold.split.test.stop + window]


def make_task(cfg, fold: Fold, cell: str, seed: int, close: pd.Series, refit: str = "cold",
              after: str | None = None, table: pd.DataFrame | None = None) -> Task:
    """A task and its name. The hash covers the model settings (cell and seed included), the fold's
    bounds and the sha256 of the closes it reads (and of the other columns its inputs read, from
    `table`); not where results go, nor --quiet. A warm task's
    also covers the name of the task it starts from (`after`, None on the first fold), so that a
    changed earlier fold changes every later one; a cold task's key is what it always was."""
    key = {
        "schema": TASK_SCHEMA,
        "settings": task_cfg(cfg, cell, seed).model_settings(),
        "fold": fold.bounds(),
        "data_sha256": Prices(close=read_slice(close, fold, cfg.window), source="",
                              table=None if table is None else read_slice(table, fold, cfg.window)).sha256(cfg.inputs),
    }
    if refit == "warm":
        key |= {"refit": refit, "after": after}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Task(fold, cell, seed, f"{fold.test.first}_{cell}_seed{seed}_{digest[:16]}", key)


def plan(cfg, folds: tuple[Fold, ...], seeds: tuple[int, ...], close: pd.Series,
         refit: str = "cold", table: pd.DataFrame | None = None) -> tuple[Task, ...]:
    """Every task in the fixed order results are aggregated in: fold, cell, seed; warm ones each
    after the same cell and seed's task on the fold before."""
    if refit != "warm":
        return tuple(make_task(cfg, fold, cell, seed, close, table=table)
                     for fold in folds for cell in CELLS for seed in seeds)
    tasks, before = [], {}
    for fold in folds:
        for cell in CELLS:
            for seed in seeds:
                task = make_task(cfg, fold, cell, seed, close, refit, before.get((cell, seed)), table)
                tasks.append(task)
                before[task.chain] = task.name
    return tuple(tasks)


def chains(tasks: tuple[Task, ...]) -> dict[tuple, list[Task]]:
    """The tasks of each chain in fold order."""
    found: dict[tuple, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.fold.index):
        found.setdefault(task.chain, []).append(task)
    return found


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
    val_point: np.ndarray | None = None  # (v,) forecasts of the fold's validation days, USD: what interval methods calibrate on


@dataclass(frozen=True)
class FoldDays:
    """What the price file says about a fold's out-of-sample days; a task file is never asked."""

    dates: pd.DatetimeIndex   # (m,) target days
    actual: np.ndarray        # (m,) their closes, USD
    previous: np.ndarray      # (m,) the close before each: the naive forecast
    volatility: np.ndarray    # (m,) trailing volatility known the day before
    val_dates: pd.DatetimeIndex  # (v,) the validation days before the origin: calibration days
    val_actual: np.ndarray       # (v,) their closes, USD
    val_previous: np.ndarray     # (v,) the close before each
    val_windows: np.ndarray      # (v, window) the closes each validation day's forecast reads
    windows: np.ndarray          # (m, window) the closes each of the fold's days' forecast reads
    train_variance: float        # mean squared daily log return of the training closes (seeds the EWMA)

    @property
    def days(self) -> list[str]:
        return [f"{d:%Y-%m-%d}" for d in self.dates]

    @property
    def val_days(self) -> list[str]:
        return [f"{d:%Y-%m-%d}" for d in self.val_dates]


def fold_days(close: pd.Series, fold: Fold, window: int) -> FoldDays:
    """The fold's days from the closes, exactly as run_task's evaluation computes them."""
    X, y, dates = windowed(close, window)  # (n, window), (n,), (n,)
    X, y = np.asarray(X, dtype="float64"), np.asarray(y, dtype="float64")
    test, val, train = (fold.split.test, fold.split.val, fold.split.train)
    return FoldDays(dates[test], y[test], X[test][:, -1], trailing_volatility(X[test]),
                    dates[val], y[val], X[val][:, -1], X[val], X[test], mean_square_return(X[train], y[train]))


def run_task(cfg, close: pd.Series, table: pd.DataFrame | None, data: DataInfo, task: Task) -> dict:
    """Trains one task's model on its fold and returns its result file's content. Pure: the same
    settings, fold and closes give the same numbers, in this process or a Ray worker. The arguments
    every task shares come first, the task last: the engines call it fn(*shared, item). `table`: the
    columns cfg.inputs read beside the close (Prices.columns), None for the close alone."""
    trained = _train(cfg, close, table, data, task, None)
    ev, info = trained.test, trained.info
    return task_record(task, ev.actual, ev.forecast, trained.val_point, info.epochs_run, info.best_epoch,
                       info.train_seconds)


def _train(cfg, close: pd.Series, table: pd.DataFrame | None, data: DataInfo, task: Task,
           initial: list[np.ndarray] | None):
    # Each task starts from a fresh Keras state, wherever it runs and whatever ran before it.
    keras.backend.clear_session(free_memory=True)
    X, y, dates = windowed(close, cfg.window)  # (n, window), (n,), (n,)
    F = input_windows(close, table, cfg.inputs, cfg.window)  # (n, window, k) or None
    dataset = fold_dataset(X, y, dates, task.fold, cfg.scaling, F, cfg.inputs)
    return train_dataset(task_cfg(cfg, task.cell, task.seed), dataset, data, initial)


@dataclass(frozen=True)
class Link:
    """A warm task as an engine item: the task and the weights it starts from (weights_bytes of the
    chain's task on the fold before; None on the first fold: fresh weights, as a cold task)."""

    task: Task
    start: bytes | None

    def describe(self) -> str:
        return self.task.describe()


@dataclass(frozen=True)
class Trained:
    """A warm task's result: its result file's content and its trained weights (weights_bytes)."""

    record: dict
    weights: bytes


def run_link(cfg, close: pd.Series, table: pd.DataFrame | None, data: DataInfo, link: Link) -> Trained:
    """run_task for a warm task: from the weights the link carries, and with its trained weights
    returned (their sha256 in the result) for the next fold of its chain and for its task file."""
    trained = _train(cfg, close, table, data, link.task, None if link.start is None else weights_from(link.start))
    ev, info = trained.test, trained.info
    weights = weights_bytes(trained.model.get_weights())
    return Trained(task_record(link.task, ev.actual, ev.forecast, trained.val_point, info.epochs_run,
                               info.best_epoch, info.train_seconds, hashlib.sha256(weights).hexdigest()), weights)


def following(tasks: tuple[Task, ...]) -> Callable[[Link, Trained], list[Link]]:
    """The engines' `after` for warm tasks: a finished task's next fold in its chain, starting from
    the weights it trained (none after a chain's last fold)."""
    after = {a.name: b for chain in chains(tasks).values() for a, b in zip(chain, chain[1:])}

    def next_links(link: Link, trained: Trained) -> list[Link]:
        task = after.get(link.task.name)
        return [] if task is None else [Link(task, trained.weights)]

    return next_links


ZIP_TIME = (1980, 1, 1, 0, 0, 0)   # every member's timestamp: np.savez stamps the current time, so its bytes vary


def weights_bytes(weights: list[np.ndarray]) -> bytes:
    """model.get_weights() as an .npz (np.load reads it: arr_0, arr_1, ...) holding the exact floats,
    byte for byte the same for the same weights, so that its sha256 can seal them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for k, w in enumerate(weights):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(w), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"arr_{k}.npy", date_time=ZIP_TIME), member.getvalue())
    return buffer.getvalue()


def weights_from(data: bytes) -> list[np.ndarray]:
    """weights_bytes back as the list model.set_weights takes."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return [npz[f"arr_{k}"] for k in range(len(npz.files))]


def task_record(task: Task, actual, f: Forecast, val_point, epochs_run: int, best_epoch: int,
                train_seconds: float, weights_sha256: str | None = None) -> dict:
    """A task's result file: plain JSON (an unbounded interval's upper end is null), sealed with the
    sha256 of its content, task name and key included. `actual` and `previous` are there for people
    reading the file; the backtest takes both from the price file. `validation` holds the forecasts
    of the fold's validation days, which every other interval method calibrates on. A warm task's
    also holds the sha256 of its weights file (a cold task's has no such field)."""
    record = jsonable({
        "name": task.name, "key": task.key,
        "cell": task.cell, "seed": task.seed,
        "dates": [f"{d:%Y-%m-%d}" for d in f.dates],
        "point": _list(f.point), "actual": _list(actual), "previous": _list(f.previous),
        "intervals": {level_key(lv): {"model": _bounds(f.bands[lv]), "naive": _bounds(f.naive_bands[lv])}
                      for lv in f.bands},
        "validation": {"dates": [f"{d:%Y-%m-%d}" for d in _val_dates(task)], "point": _list(val_point)},
        "epochs_run": epochs_run, "best_epoch": best_epoch, "train_seconds": train_seconds,
    } | ({} if weights_sha256 is None else {"weights_sha256": weights_sha256}))
    return record | {"content_sha256": content_sha256(record)}


def _val_dates(task: Task) -> pd.DatetimeIndex:
    first, last = task.key["fold"]["val"]
    return pd.date_range(first, last, freq="D")


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
    validation = record.get("validation")
    if not isinstance(validation, dict) or validation.get("dates") != days.val_days:
        raise Unusable(f"its validation dates are not the fold's {days.val_days[0]}..{days.val_days[-1]}")
    if not (_numbers(validation.get("point"), "the validation point", len(days.val_days), of="validation days") > 0).all():
        raise Unusable("the validation point holds a forecast at or below zero")
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
    if not (is_whole(epochs) and is_whole(best) and 1 <= best <= epochs <= settings["epochs"]):
        raise Unusable(f"epochs {epochs!r} (best {best!r}) outside 1..{settings['epochs']}")
    seconds = record.get("train_seconds")
    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds < math.inf):
        raise Unusable(f"train_seconds {seconds!r} is not a duration")
    if task.warm and not _is_sha256(record.get("weights_sha256")):
        raise Unusable("no sha256 of its weights")


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _level_order(key: str) -> tuple:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _numbers(values, name: str, days: int, unbounded: bool = False, of: str = "days") -> np.ndarray:
    """A list of `days` finite numbers (null, an unbounded end, only where `unbounded`)."""
    if not isinstance(values, list) or len(values) != days:
        has = len(values) if isinstance(values, list) else "no list of"
        raise Unusable(f"{name} has {has} values, the fold has {days} {of}")
    if not all((isinstance(v, (int, float)) and not isinstance(v, bool)) or (unbounded and v is None) for v in values):
        raise Unusable(f"{name} holds a value that is not a number")
    try:
        array = _floats(values)
    except OverflowError:  # an int past float's range (JSON allows any number of digits)
        raise Unusable(f"{name} holds a value that is not a finite number") from None
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
        val_point=_floats(record["validation"]["point"]),
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


def weights_path(directory: Path, task: Task) -> Path:
    return directory / f"{task.name}.weights.npz"


def read_weights(directory: Path, task: Task, record: dict) -> bytes | None:
    """A warm task's weights file, if it holds what its checked task file says (its sha256) and reads
    as weights; one that does not is named in one warning line, and its task is trained again."""
    path = weights_path(directory, task)
    try:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise Unusable("missing") from None
        except OSError as e:
            raise Unusable(f"cannot be read: {e.strerror or e}") from None
        if hashlib.sha256(data).hexdigest() != record["weights_sha256"]:
            raise Unusable("sha256 mismatch")
    except Unusable as e:
        log.warning("weights file %s failed its check (%s); training its task and the later ones of its chain again",
                    path, e)
        return None
    return data


def resume_warm(directory: Path, tasks: tuple[Task, ...], days: dict[int, FoldDays]) -> tuple[dict, list[Link]]:
    """What a warm backtest finds done: the checked task files (by name) of each chain's tasks up to
    its first one without a usable task file or weights file, and a Link for each chain with tasks
    left, starting there from the weights of the task before. The tasks after it are trained again
    whatever files they have: they start from what it trains."""
    records, links = {}, []
    for chain in chains(tasks).values():
        start = None
        for task in chain:
            record = read_finished(directory, task, days[task.fold.index])
            weights = None if record is None else read_weights(directory, task, record)
            if weights is None:
                links.append(Link(task, start))
                break
            records[task.name], start = record, weights
    return records, links


def finished(item, result) -> tuple[Task, dict, bytes | None]:
    """An engine's (item, result): cold (Task, record) or warm (Link, Trained), as (task, record,
    weights or None)."""
    if isinstance(item, Link):
        return item.task, result.record, result.weights
    return item, result, None


def write_finished(directory: Path, task: Task, record: dict, weights: bytes | None = None) -> None:
    """A finished task's file, and a warm task's weights beside it, written whole or not at all (the
    weights first): what read_finished and read_weights read back."""
    files = [] if weights is None else [(weights_path(directory, task), lambda tmp: tmp.write_bytes(weights))]
    write_together(files + [(directory / f"{task.name}.json", lambda tmp: tmp.write_text(dumps(record)))])
