"""The saved-model format: model.keras and model.json in <out>/<cell>/, written, read and checked.

publish.save_run stages the run's folder and swaps it in whole, metrics and charts included; this
module owns what a model is on disk. model.json records the sha256 of model.keras and of its own
content, so a model and a description from different runs, or an edited description, are caught
on load; every field that is used is checked for type and range, and against each other and the
weights (q rising with the level, the cell of the recurrent layer), so no edit turns into a NaN
forecast or a traceback.
"""

from __future__ import annotations

from . import runtime  # noqa: F401, I001  (before Keras: see runtime.py)

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import zipfile
from pathlib import Path

import keras

from . import config
from .errors import ModelError
from .files import clean_leftovers
from .jsonio import content_sha256, dumps, jsonable, level_key
from .interval_methods import VolCalibration, volatility_calibration
from .intervals import Calibration, conformal_quantile
from .model_info import DataInfo, ModelInfo, Span, TestSummary, TrainedModel
from .models import CELLS
from .validate import is_iso_date, is_number
from .windows import scaling_from_dict, scaling_to_dict

SCHEMA = 5  # 3: data.csv / data.ticker, the source predict and evaluate default to; 4: intervals.volatility;
# 5: the validation days' sigmas and errors every stored q is checked against
MODEL_FILE = "model.keras"
META_FILE = "model.json"
RETRAIN = "retrain the model (python -m forecast train)"


def run_dir(out: Path, cell: str, seed: int | None = None) -> Path:
    """<out>/<cell>/ for the main run; <out>/seeds/<cell>-<seed>/ for extra seeds of `compare`."""
    return Path(out) / cell if seed is None else Path(out) / "seeds" / f"{cell}-{seed}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_sha256(meta: dict) -> str:
    return content_sha256(meta, leave_out="meta_sha256")


def seal(meta: dict) -> dict:
    """model.json's content with the hash of that content added."""
    return {**meta, "meta_sha256": _content_sha256(meta)}


def info_to_dict(info: ModelInfo) -> dict:
    cal = info.calibration
    return {
        **jsonable({k: getattr(info, k) for k in ("cell", "window")}),
        "features": len(info.inputs),
        "inputs": list(info.inputs),
        **jsonable({k: getattr(info, k) for k in ("units", "params")}),
        "scaling": scaling_to_dict(info.scaling),
        "intervals": {
            "method": "split conformal: q = the ceil((n+1)*level)-th smallest |log(actual / predicted)| "
                      "over the n validation days; interval = predicted * exp(+-q); null q: unbounded",
            "first_date": cal.first_date, "last_date": cal.last_date, "days": cal.days,
            "model": jsonable(cal.model), "naive": jsonable(cal.naive),
            "volatility": {
                "method": "EWMA sigma (lambda 0.94) of each window's daily log returns, started at train_variance; "
                          "sigma and errors: each validation day's sigma and |log(actual / predicted)|, in date order, "
                          "from which every value below is computed (and checked when read); "
                          "scores: the validation days' |log(actual / predicted)| / sigma, sorted (ACI's calibration); "
                          "scaled: their conformal q, interval predicted * exp(+-q sigma); "
                          "mondrian: q of |log(actual / predicted)| per third of the validation days by sigma, "
                          "split at cuts; null q: unbounded",
                **jsonable(info.volatility),
            },
        },
        **jsonable({f.name: getattr(info, f.name) for f in dataclasses.fields(info)
                    if f.name not in ("cell", "window", "units", "params", "scaling", "calibration", "volatility")}),
    }


def write_model(directory: Path, trained: TrainedModel) -> None:
    """model.keras and its model.json into `directory`: a folder publish.save_run has staged, so
    no temp files are needed (the folder is swapped in whole or not at all)."""
    model_path = Path(directory) / MODEL_FILE
    trained.model.save(model_path)
    meta = seal({"schema": SCHEMA, **info_to_dict(trained.info), "model_sha256": file_sha256(model_path)})
    text, path = dumps(meta), Path(directory) / META_FILE
    try:  # nothing is saved that predict and evaluate would refuse: the same checks, before the swap
        info_from_dict(json.loads(text), path)
    except ModelError as e:
        reason = str(e).removeprefix(f"{path}: ").removesuffix(f"; {RETRAIN}")
        raise ModelError(f"the trained {trained.info.cell.upper()} model fails the checks predict makes "
                         f"({reason}); nothing was saved") from None
    path.write_text(text)


# --- reading back, every used field checked ----------------------------------------------

class _Checker:
    """Reads fields of a model.json, each checked for type and range; a bad one is a ModelError."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, value, need: str):
        shown = "missing" if value is _MISSING else str(value) if isinstance(value, _Shown) else f"{value!r}"[:60]
        raise ModelError(f"{self.path}: {key} is {shown}, expected {need}; {RETRAIN}")

    def get(self, d: dict, key: str, kind, need: str, ok=lambda v: True, prefix: str = ""):
        value = d.get(key, _MISSING) if isinstance(d, dict) else _MISSING
        number = kind in (int, float, (int, float))
        good = isinstance(value, kind) and (is_number(value) if number else True) and ok(value)
        if not good:
            self.fail(prefix + key, value, need)
        return value

    def day(self, d, key, prefix=""):
        return self.get(d, key, str, "a date YYYY-MM-DD", is_iso_date, prefix)

    def span(self, d, key) -> Span:
        s = self.get(d, key, dict, "{first, last, days}")
        return Span(self.day(s, "first", f"{key}."), self.day(s, "last", f"{key}."),
                    self.get(s, "days", int, "a positive whole number", lambda v: v >= 1, f"{key}."))


_MISSING = object()


def _levels(c: _Checker, d: dict, key: str, zero_ok: bool) -> dict[float, float]:
    """level -> q, each q a width in log units (inf: unbounded) that does not fall as the level rises.
    `zero_ok`: a q of 0 (intervals whose low and high are equal) can be honest for the naive forecast,
    whose errors are exactly 0 on days the close did not move; a model's output is never exact."""
    qs = c.get(d, key, dict, "level -> q", lambda v: len(v) > 0, "intervals.")
    out = {}
    for level, q in qs.items():
        try:
            lv = float(level)
        except ValueError:
            lv = math.nan
        if not 0 < lv < 100:
            c.fail(f"intervals.{key} level", level, "a percentage between 0 and 100")
        if lv in out:  # "80" and "80.0": one level twice, one q would silently win
            c.fail(f"intervals.{key} level", level, f"each level once ({level_key(lv)} is there already)")
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q < 10):
            c.fail(f"intervals.{key}.{level}", q, "null (unbounded) or a log-scale width between 0 and 10")
        if q == 0 and not zero_ok:
            c.fail(f"intervals.{key}.{level}", q, "a width above 0 (0 gives intervals whose low and high are equal)")
        out[lv] = math.inf if q is None else float(q)
    # A wider level needs at least as wide an interval: an 80% q above the 95% one is an edit.
    ordered = sorted(out)
    for lower, higher in zip(ordered, ordered[1:]):
        if out[lower] > out[higher]:
            c.fail(f"intervals.{key}.{level_key(lower)}", _Shown(_q_json(out[lower])),
                   f"at most the {level_key(higher)}% q, {_q_json(out[higher])} (q cannot fall as the level rises)")
    return dict(sorted(out.items()))


class _Shown(str):
    """A value already written as it should be shown in a message."""

    def __repr__(self) -> str:
        return str(self)


def _q_json(q: float) -> str:
    """A q as model.json writes it: null when unbounded."""
    return "null" if math.isinf(q) else repr(q)


MAX_VARIANCE = 1.0  # a mean squared daily log return above 1 (a sigma of 100% a day, every day) is no market
MAX_LOG = 10.0      # a sigma or error of 10 log units is a move by a factor of 22,000 in a day


def _volatility(c: _Checker, iv: dict, levels: tuple[float, ...], days: int,
                fixed: dict[str, dict[float, float]]) -> VolCalibration:
    """intervals.volatility: the validation days' sigmas and errors (each finite, at least 0, below
    MAX_LOG, one per calibration day) and the training variance (0..MAX_VARIANCE) are what it rests
    on; every q, cut point, score and median beside them (and the fixed-width q's, `fixed`) must be
    what they give (interval_methods.volatility_calibration), so an edited one is refused by name."""
    v = c.get(iv, "volatility", dict, "the volatility calibration", prefix="intervals.")
    pre = "intervals.volatility."
    sigma = lambda x: 0 <= x < math.inf  # noqa: E731  (0: prices that never moved)
    train_variance = c.get(v, "train_variance", (int, float), f"a variance between 0 and {MAX_VARIANCE:g}",
                           lambda x: 0 <= x <= MAX_VARIANCE, pre)
    per_day = lambda x: (isinstance(x, list) and len(x) == days  # noqa: E731
                         and all(is_number(y) and 0 <= y < MAX_LOG for y in x))
    need = f"{days} numbers from 0 to {MAX_LOG:g}, one per validation day"
    sigmas = c.get(v, "sigma", list, need, per_day, pre)
    errors = {who: c.get(v.get("errors"), who, list, need, per_day, f"{pre}errors.") for who in ("model", "naive")}
    cuts = c.get(v, "cuts", list, "two sigmas in order", lambda x: len(x) == 2 and all(is_number(y) and sigma(y)
                                                                                     for y in x) and x[0] <= x[1], pre)

    def qs(kind: str, who: str, width: int | None) -> dict:
        found = c.get(v.get(kind), who, dict, f"level -> q at levels {', '.join(map(level_key, levels))}",
                      lambda x: sorted(x) == sorted(map(level_key, levels)), f"{pre}{kind}.")
        out, before = {}, None
        for lv in sorted(levels):
            raw = found[level_key(lv)]
            items = [raw] if width is None else raw if isinstance(raw, list) and len(raw) == width else [False]
            if not all(q is None or (is_number(q) and 0 <= q < 1e6) for q in items):
                c.fail(f"{pre}{kind}.{who}.{level_key(lv)}", raw,
                       "null (unbounded) or a width of at least 0" + ("" if width is None else f", {width} of them"))
            q = tuple(math.inf if q is None else float(q) for q in items)
            if before is not None and any(a > b for a, b in zip(before, q)):
                c.fail(f"{pre}{kind}.{who}.{level_key(lv)}", raw, "no narrower than a lower level's")
            if who == "model" and 0 in q:  # as for the fixed-width q: a model's forecast is never exact
                c.fail(f"{pre}{kind}.{who}.{level_key(lv)}", raw, "widths above 0 (0 gives ranges whose low and high are equal)")
            out[lv], before = (q if width else q[0]), q
        return out

    stored = VolCalibration(
        train_variance=float(train_variance), sigma=tuple(map(float, sigmas)),
        errors={who: tuple(map(float, e)) for who, e in errors.items()},
        cuts=(float(cuts[0]), float(cuts[1])),
        median_sigma=float(c.get(v, "median_sigma", (int, float), "a sigma of at least 0", sigma, pre)),
        scores={who: _scores(c, v, who, days) for who in ("model", "naive")},
        scaled={who: qs("scaled", who, None) for who in ("model", "naive")},
        mondrian={who: qs("mondrian", who, 3) for who in ("model", "naive")},
    )
    _recomputed(c, stored, fixed, levels)
    return stored


def _recomputed(c: _Checker, stored: VolCalibration, fixed: dict[str, dict[float, float]], levels) -> None:
    """Each value drawn from the validation days' sigmas and errors is what they give: the first that
    is not is refused, named, with the value they give."""
    want = volatility_calibration(stored.train_variance, stored.sigma, stored.errors, levels)
    pre = "intervals.volatility."
    shown = lambda x: _Shown(_q_json(x) if isinstance(x, float) else "[" + ", ".join(map(_q_json, x)) + "]")  # noqa: E731
    checks = [(f"{pre}cuts", stored.cuts, want.cuts, "the validation sigmas' tercile boundaries"),
              (f"{pre}median_sigma", stored.median_sigma, want.median_sigma, "the validation sigmas' median")]
    for who in ("model", "naive"):
        checks.append((f"{pre}scores.{who}", stored.scores[who], want.scores[who], "its errors over its sigmas, sorted"))
        for lv in sorted(levels):
            key = level_key(lv)
            checks += [
                (f"intervals.{who}.{key}", fixed[who][lv], conformal_quantile(stored.errors[who], lv),
                 "the conformal q of its validation errors"),
                (f"{pre}scaled.{who}.{key}", stored.scaled[who][lv], want.scaled[who][lv], "the conformal q of its scores"),
                (f"{pre}mondrian.{who}.{key}", stored.mondrian[who][lv], want.mondrian[who][lv],
                 "the conformal q's of its errors in each third of the days by sigma"),
            ]
    for key, found, expected, what in checks:
        if found != expected:
            if isinstance(found, tuple) and len(found) > 3:
                c.fail(key, _Shown("not what its errors and sigmas give"), what)
            c.fail(key, shown(found), f"{what}, {shown(expected)}")


def _scores(c: _Checker, v: dict, who: str, days: int) -> tuple[float, ...]:
    """intervals.volatility.scores.<who>: one score per calibration day, each null (inf) or at least 0,
    in ascending order."""
    found = c.get(v.get("scores"), who, list, f"{days} scores in ascending order (null: unbounded)",
                  lambda x: len(x) == days and all(y is None or (is_number(y) and y >= 0) for y in x),
                  "intervals.volatility.scores.")
    values = tuple(math.inf if y is None else float(y) for y in found)
    if list(values) != sorted(values):
        c.fail(f"intervals.volatility.scores.{who}", _Shown("not in ascending order"), f"{days} scores in ascending order")
    return values


def _source(c: _Checker, d: dict) -> dict:
    """data.csv (an absolute path) or data.ticker: exactly one, the source predict and evaluate default to."""
    if d.get("csv") is None:
        need = "a Yahoo Finance symbol (or data.csv set instead)"
        return {"csv": None, "ticker": c.get(d, "ticker", str, need, lambda v: v.strip() != "", "data.")}
    csv = c.get(d, "csv", str, "an absolute path", lambda v: os.path.isabs(v) and "\0" not in v, "data.")
    if d.get("ticker") is not None:
        c.fail("data.ticker", d["ticker"], "null beside data.csv (one source)")
    return {"csv": csv, "ticker": None}


def info_from_dict(meta: dict, path: Path) -> ModelInfo:
    c = _Checker(path)
    whole = lambda low: (lambda v: v >= low)  # noqa: E731
    try:
        scaling = scaling_from_dict(meta.get("scaling"))
    except ValueError as e:
        raise ModelError(f"{path}: unusable scaling {meta.get('scaling')!r:.80} ({e}); {RETRAIN}") from None
    iv = c.get(meta, "intervals", dict, "the interval calibration")
    calibration = Calibration(
        first_date=c.day(iv, "first_date", "intervals."), last_date=c.day(iv, "last_date", "intervals."),
        days=c.get(iv, "days", int, "a whole number", whole(1), "intervals."),
        model=_levels(c, iv, "model", zero_ok=False), naive=_levels(c, iv, "naive", zero_ok=True),
    )
    if calibration.model.keys() != calibration.naive.keys():  # each level is reported beside naive's
        c.fail("intervals.naive levels", _Shown(", ".join(map(level_key, calibration.naive)) or "none"),
               f"the model's levels ({', '.join(map(level_key, calibration.model))})")
    volatility = _volatility(c, iv, calibration.levels, calibration.days,
                             {"model": calibration.model, "naive": calibration.naive})
    d = c.get(meta, "data", dict, "the data description")
    data = DataInfo(
        source=c.get(d, "source", str, "text", prefix="data."),
        first_date=c.day(d, "first_date", "data."), last_date=c.day(d, "last_date", "data."),
        rows=c.get(d, "rows", int, "a whole number", whole(1), "data."),
        gap_days_filled=c.get(d, "gap_days_filled", int, "a whole number", whole(0), "data."),
        sha256=c.get(d, "sha256", str, "64 hex digits", lambda v: re.fullmatch(r"[0-9a-f]{64}", v), "data."),
        **_source(c, d),
    )
    split = c.get(meta, "split", dict, "train, val and test spans")
    test = meta.get("test")
    epochs_run = c.get(meta, "epochs_run", int, "a whole number", whole(1))
    inputs = ("close",) + tuple(getattr(scaling, "extra", ()))  # what the scaling maps to the model's channels
    # Files written before --inputs have no "inputs": they read the close alone.
    c.get(meta | {"inputs": meta.get("inputs", ["close"])}, "inputs", list, f"the scaling's inputs {','.join(inputs)}",
          lambda v: tuple(v) == inputs)
    c.get(meta, "features", int, f"{len(inputs)}, one per input", lambda v: v == len(inputs))
    settings = c.get(meta, "settings", dict, "the training settings")
    c.get(settings | {"inputs": settings.get("inputs", ["close"])}, "inputs", list,
          f"the scaling's inputs {','.join(inputs)}", lambda v: tuple(v) == inputs, "settings.")
    return ModelInfo(
        cell=c.get(meta, "cell", str, f"one of {', '.join(config.CELLS)}", lambda v: v in config.CELLS),
        window=c.get(meta, "window", int, "a whole number of at least 2", whole(2)),
        units=c.get(meta, "units", int, "a whole number", whole(1)),
        params=c.get(meta, "params", int, "a whole number", whole(1)),
        scaling=scaling,
        calibration=calibration,
        volatility=volatility,
        settings=settings,
        data=data,
        split={name: c.span(split, name) for name in ("train", "val", "test")},
        trained_on=c.span(meta, "trained_on"),
        seed=c.get(meta, "seed", int, "a whole number", whole(0)),
        epochs_run=epochs_run,
        best_epoch=c.get(meta, "best_epoch", int, f"1..{epochs_run}", lambda v: 1 <= v <= epochs_run),
        refit_epochs=None if meta.get("refit_epochs") is None else c.get(meta, "refit_epochs", int, "a whole number", whole(1)),
        train_seconds=c.get(meta, "train_seconds", (int, float), "seconds", whole(0)),
        seconds_per_epoch=c.get(meta, "seconds_per_epoch", (int, float), "seconds", whole(0)),
        test=None if test is None else TestSummary(
            first_date=c.day(test, "first_date", "test."), last_date=c.day(test, "last_date", "test."),
            days=c.get(test, "days", int, "a whole number", whole(1), "test."),
            mae=c.get(test, "mae", (int, float), "USD", whole(0), "test."),
            naive_mae=c.get(test, "naive_mae", (int, float), "USD", whole(0), "test."),
            # null: the naive forecast was exact on every test day, so no ratio exists
            mae_ratio_vs_naive=math.nan if test.get("mae_ratio_vs_naive") is None else
            c.get(test, "mae_ratio_vs_naive", (int, float), "a ratio", whole(0), "test."),
        ),
        trained_at=c.get(meta, "trained_at", str, "a timestamp"),
        versions=c.get(meta, "versions", dict, "package versions"),
    )


def _an(cell: str) -> str:
    return f"an {cell.upper()}" if cell == "lstm" else f"a {cell.upper()}"


def read_meta(directory: Path, cell: str | None = None) -> tuple[dict, ModelInfo]:
    """model.json as saved (for the hash checks) and as a checked ModelInfo; with `cell`, one that
    describes a model of that cell (a folder copied from the other cell is refused, not used)."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise ModelError(f"no {META_FILE} in {directory}: train first (python -m forecast train)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON ({e}); {RETRAIN}") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        found = meta.get("schema") if isinstance(meta, dict) else None
        raise ModelError(f"{path} has schema {found!r}, this version reads schema {SCHEMA}; {RETRAIN}")
    if meta.get("meta_sha256") != _content_sha256(meta):
        raise ModelError(f"{path} was changed after it was saved (its content hash does not match); {RETRAIN}")
    info = info_from_dict(meta, path)
    if cell is not None and info.cell != cell:
        raise ModelError(f"{path} describes {_an(info.cell)} model, not {_an(cell)} one (a folder copied "
                         f"from the other cell?); retrain the model (python -m forecast train --cell {cell})")
    return meta, info


def read_info(directory: Path) -> ModelInfo:
    return read_meta(directory)[1]


def load_model(directory: Path, cell: str | None = None) -> TrainedModel:
    """Loads in Keras' safe mode (no code from the file runs) and without the optimizer; with
    `cell`, only a model of that cell."""
    directory = Path(directory)
    with contextlib.suppress(OSError):  # a read-only folder is fine to read from
        clean_leftovers(directory)       # puts back a run moved aside by a killed save
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"no saved model at {model_path}: train first (python -m forecast train)")
    meta, info = read_meta(directory, cell)
    if meta.get("model_sha256") != file_sha256(model_path):
        raise ModelError(
            f"{model_path} is not the model described by {directory / META_FILE} "
            f"(changed, truncated or from another run); {RETRAIN}"
        )
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as e:  # zip, HDF5 and Keras errors all mean the same to a user
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if not zipfile.is_zipfile(model_path):
            # Keras reports any non-zip file (truncated, overwritten) as "File not found", which misleads.
            reason = "not a zip archive: truncated or overwritten"
        raise ModelError(f"cannot load {model_path}: corrupt or not a Keras model ({reason})") from None
    expected = (None, info.window, len(info.inputs))
    if tuple(model.input_shape) != expected:
        raise ModelError(
            f"{model_path} takes inputs of shape {tuple(model.input_shape)}, "
            f"but {META_FILE} says {expected}; {RETRAIN}"
        )
    _check_cell(model, info, model_path)
    return TrainedModel(model=model, info=info, path=model_path)


def _check_cell(model, info: ModelInfo, model_path: Path) -> None:
    """The weights' recurrent layer is the cell model.json names: a resealed edit of `cell` would
    otherwise label an LSTM's forecasts GRU."""
    layers = [type(layer).__name__ for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    want = CELLS[info.cell].__name__
    if layers != [want]:
        found = ("no recurrent layer" if not layers else " and ".join(layers) + " layers" if len(layers) > 1
                 else f"{_an(layers[0].lower()) if layers[0].lower() in CELLS else 'a ' + layers[0]} layer")
        raise ModelError(f"{model_path} holds {found}, but {META_FILE} says cell {info.cell} ({want}); {RETRAIN}")
