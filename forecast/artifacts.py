"""Saved runs: <out>/<cell>/{model.keras, model.json, metrics.json, forecast.png, history.png}.

A run is built in a temp folder beside its destination and swapped in whole (files.replace_folder):
a failed, interrupted or killed run leaves exactly the previous run, a finished one exactly the
new one. model.json records the sha256 of model.keras and of its own content, so a model and a
description from different runs, or an edited description, are caught on load; every field that
is used is checked for type and range, so no edit turns into a NaN forecast or a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import zipfile
from datetime import date
from pathlib import Path

from . import config
from .errors import ModelError
from .files import clean_leftovers, replace_folder, write_atomic
from .inference import DataInfo, ModelInfo, Span, TestSummary, TrainedModel
from .intervals import Calibration
from .windows import scaling_from_dict, scaling_to_dict

SCHEMA = 2
MODEL_FILE = "model.keras"
META_FILE = "model.json"
METRICS_FILE = "metrics.json"
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


# --- JSON ----------------------------------------------------------------------------------

def jsonable(obj):
    """Plain JSON values: dataclasses as dicts, float keys as "80", non-finite numbers as null
    (JSON has no NaN or Infinity; null reads as "undefined" or "unbounded" in context)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {level_key(k) if isinstance(k, float) else str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (date, Path)):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return jsonable(obj.item())
    return obj


def level_key(level: float) -> str:
    return f"{level:g}"


def dumps(obj) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


def write_json(path: Path, obj) -> None:
    text = dumps(obj)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def save_figure(path: Path, fig) -> None:
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))


def _content_sha256(meta: dict) -> str:
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal(meta: dict) -> dict:
    """model.json's content with the hash of that content added."""
    return {**meta, "meta_sha256": _content_sha256(meta)}


def info_to_dict(info: ModelInfo) -> dict:
    cal = info.calibration
    return {
        **jsonable({k: getattr(info, k) for k in ("cell", "window")}),
        "features": 1,
        **jsonable({k: getattr(info, k) for k in ("units", "params")}),
        "scaling": scaling_to_dict(info.scaling),
        "intervals": {
            "method": "split conformal: q = the ceil((n+1)*level)-th smallest |log(actual / predicted)| "
                      "over the n validation days; interval = predicted * exp(+-q); null q: unbounded",
            "first_date": cal.first_date, "last_date": cal.last_date, "days": cal.days,
            "model": jsonable(cal.model), "naive": jsonable(cal.naive),
        },
        **jsonable({f.name: getattr(info, f.name) for f in dataclasses.fields(info)
                    if f.name not in ("cell", "window", "units", "params", "scaling", "calibration")}),
    }


def save_model_files(directory: Path, trained: TrainedModel) -> None:
    """model.keras and its model.json into `directory` (a staged folder: no temp files needed)."""
    model_path = Path(directory) / MODEL_FILE
    trained.model.save(model_path)
    meta = seal({"schema": SCHEMA, **info_to_dict(trained.info), "model_sha256": file_sha256(model_path)})
    (Path(directory) / META_FILE).write_text(dumps(meta))


def save_run(directory: Path, trained: TrainedModel, extra: dict | None = None) -> Path:
    """The whole run, swapped in at once: the model pair, metrics.json (the held-out test result)
    and the charts. `extra` maps more file names to writers (path -> None)."""
    from . import plots, report

    def fill(tmp: Path) -> None:
        save_model_files(tmp, trained)
        if trained.test is not None:
            (tmp / METRICS_FILE).write_text(dumps(report.metrics_record(trained.test.metrics, split="test")))
            plots.forecast_chart(**report.train_chart_inputs(trained)).savefig(
                tmp / "forecast.png", dpi=110, bbox_inches="tight")
        if trained.history is not None:
            plots.history_chart(**report.history_chart_inputs(trained)).savefig(
                tmp / "history.png", dpi=110, bbox_inches="tight")
        for name, write in (extra or {}).items():
            write(tmp / name)

    replace_folder(Path(directory), fill)
    return Path(directory)


# --- reading back, every used field checked ----------------------------------------------

class _Checker:
    """Reads fields of a model.json, each checked for type and range; a bad one is a ModelError."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, value, need: str):
        shown = "missing" if value is _MISSING else f"{value!r}"[:60]
        raise ModelError(f"{self.path}: {key} is {shown}, expected {need}; {RETRAIN}")

    def get(self, d: dict, key: str, kind, need: str, ok=lambda v: True, prefix: str = ""):
        value = d.get(key, _MISSING) if isinstance(d, dict) else _MISSING
        number = kind in (int, float, (int, float))
        good = (isinstance(value, kind) and not (number and isinstance(value, bool))
                and (not isinstance(value, float) or math.isfinite(value)) and ok(value))
        if not good:
            self.fail(prefix + key, value, need)
        return value

    def day(self, d, key, prefix=""):
        return self.get(d, key, str, "a date YYYY-MM-DD", _is_iso_date, prefix)

    def span(self, d, key) -> Span:
        s = self.get(d, key, dict, "{first, last, days}")
        return Span(self.day(s, "first", f"{key}."), self.day(s, "last", f"{key}."),
                    self.get(s, "days", int, "a positive whole number", lambda v: v >= 1, f"{key}."))


_MISSING = object()


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _levels(c: _Checker, d: dict, key: str) -> dict[float, float]:
    qs = c.get(d, key, dict, "level -> q", lambda v: len(v) > 0, "intervals.")
    out = {}
    for level, q in qs.items():
        try:
            lv = float(level)
        except ValueError:
            lv = math.nan
        if not 0 < lv < 100:
            c.fail(f"intervals.{key} level", level, "a percentage between 0 and 100")
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q < 10):
            c.fail(f"intervals.{key}.{level}", q, "null (unbounded) or a log-scale width between 0 and 10")
        out[lv] = math.inf if q is None else float(q)
    return out


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
        model=_levels(c, iv, "model"), naive=_levels(c, iv, "naive"),
    )
    d = c.get(meta, "data", dict, "the data description")
    data = DataInfo(
        source=c.get(d, "source", str, "text", prefix="data."),
        first_date=c.day(d, "first_date", "data."), last_date=c.day(d, "last_date", "data."),
        rows=c.get(d, "rows", int, "a whole number", whole(1), "data."),
        gap_days_filled=c.get(d, "gap_days_filled", int, "a whole number", whole(0), "data."),
        sha256=c.get(d, "sha256", str, "64 hex digits", lambda v: re.fullmatch(r"[0-9a-f]{64}", v), "data."),
    )
    split = c.get(meta, "split", dict, "train, val and test spans")
    test = meta.get("test")
    epochs_run = c.get(meta, "epochs_run", int, "a whole number", whole(1))
    c.get(meta, "features", int, "1 (daily closes only)", lambda v: v == 1)
    return ModelInfo(
        cell=c.get(meta, "cell", str, f"one of {', '.join(config.CELLS)}", lambda v: v in config.CELLS),
        window=c.get(meta, "window", int, "a whole number of at least 2", whole(2)),
        units=c.get(meta, "units", int, "a whole number", whole(1)),
        params=c.get(meta, "params", int, "a whole number", whole(1)),
        scaling=scaling,
        calibration=calibration,
        settings=c.get(meta, "settings", dict, "the training settings"),
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


def read_meta(directory: Path) -> tuple[dict, ModelInfo]:
    """model.json as saved (for the hash checks) and as a checked ModelInfo."""
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
    return meta, info_from_dict(meta, path)


def read_info(directory: Path) -> ModelInfo:
    return read_meta(directory)[1]


def load_model(directory: Path) -> TrainedModel:
    """Loads in Keras' safe mode (no code from the file runs) and without the optimizer."""
    directory = Path(directory)
    with contextlib.suppress(OSError):  # a read-only folder is fine to read from
        clean_leftovers(directory)       # puts back a run moved aside by a killed save
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"no saved model at {model_path}: train first (python -m forecast train)")
    meta, info = read_meta(directory)
    if meta.get("model_sha256") != file_sha256(model_path):
        raise ModelError(
            f"{model_path} is not the model described by {directory / META_FILE} "
            f"(changed, truncated or from another run); {RETRAIN}"
        )
    from . import runtime  # noqa: F401, I001  (before Keras: see runtime.py)
    import keras

    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as e:  # zip, HDF5 and Keras errors all mean the same to a user
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if not zipfile.is_zipfile(model_path):
            # Keras reports any non-zip file (truncated, overwritten) as "File not found", which misleads.
            reason = "not a zip archive: truncated or overwritten"
        raise ModelError(f"cannot load {model_path}: corrupt or not a Keras model ({reason})") from None
    expected = (None, info.window, 1)
    if tuple(model.input_shape) != expected:
        raise ModelError(
            f"{model_path} takes inputs of shape {tuple(model.input_shape)}, "
            f"but {META_FILE} says {expected}; {RETRAIN}"
        )
    return TrainedModel(model=model, info=info)
