"""Saved runs: <out>/<cell>/{model.keras, model.json, metrics.json, forecast.png, history.png}.

Every file is written to a temp file and renamed into place, so a crash or Ctrl-C never
leaves a half-written file and never destroys the previous one. model.json records the
sha256 of model.keras, so a model and a description from different runs are caught on load.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .files import write_atomic, write_together
from .errors import ModelError

SCHEMA = 1
MODEL_FILE = "model.keras"
META_FILE = "model.json"
METRICS_FILE = "metrics.json"
# What predict, evaluate and compare read from a model.json, and the type each must have.
REQUIRED = {"cell": str, "window": int, "features": int, "scaling": dict, "settings": dict,
            "data": dict, "split": dict, "model_sha256": str}


def run_dir(out: Path, cell: str, seed: int | None = None) -> Path:
    """<out>/<cell>/ for the main run; <out>/seeds/<cell>-<seed>/ for extra seeds of `compare`."""
    return Path(out) / cell if seed is None else Path(out) / "seeds" / f"{cell}-{seed}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    import keras
    import numpy
    import pandas
    import sklearn
    import tensorflow

    from . import __version__

    return {
        "forecast": __version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
    }


def write_json(path: Path, obj) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))


def save_figure(path: Path, fig) -> None:
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))


def save_model(directory: Path, model, meta: dict) -> None:
    """model.keras and the model.json that names its hash, renamed into place together:
    an interrupted save leaves the previous pair, never a new model with an old description."""
    directory = Path(directory)
    digest = {}

    def write_model(tmp: Path) -> None:
        model.save(tmp)
        digest["sha256"] = file_sha256(tmp)

    def write_meta(tmp: Path) -> None:
        full = {"schema": SCHEMA, **meta, "model_sha256": digest["sha256"]}
        tmp.write_text(json.dumps(full, indent=2) + "\n")

    write_together([(directory / MODEL_FILE, write_model), (directory / META_FILE, write_meta)])


@dataclass(frozen=True)
class SavedModel:
    model: object    # keras.Model
    meta: dict       # the model.json
    directory: Path


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise ModelError(f"no {META_FILE} in {directory}: train first (python -m forecast train)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON ({e}); retrain the model") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        found = meta.get("schema") if isinstance(meta, dict) else None
        raise ModelError(
            f"{path} has schema {found!r}, this version reads schema {SCHEMA}; retrain the model"
        )
    wrong = [key for key, kind in REQUIRED.items() if not isinstance(meta.get(key), kind)]
    if wrong:
        raise ModelError(f"{path} lacks or garbles {', '.join(wrong)}; retrain the model")
    return meta


def load_model(directory: Path) -> SavedModel:
    """Loads in Keras' safe mode (no code from the file runs) and without the optimizer."""
    directory = Path(directory)
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"no saved model at {model_path}: train first (python -m forecast train)")
    meta = read_meta(directory)
    if meta.get("model_sha256") != file_sha256(model_path):
        raise ModelError(
            f"{model_path} is not the model described by {directory / META_FILE} "
            "(changed, truncated or from another run); retrain the model"
        )
    import keras

    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as e:  # zip, HDF5 and Keras errors all mean the same to a user
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if not zipfile.is_zipfile(model_path):
            # Keras reports any non-zip file (truncated, overwritten) as "File not found", which misleads.
            reason = "not a zip archive: truncated or overwritten"
        raise ModelError(f"cannot load {model_path}: corrupt or not a Keras model ({reason})") from None
    expected = (None, meta["window"], meta.get("features", 1))
    if tuple(model.input_shape) != expected:
        raise ModelError(
            f"{model_path} takes inputs of shape {tuple(model.input_shape)}, "
            f"but {META_FILE} says {expected}; retrain the model"
        )
    return SavedModel(model=model, meta=meta, directory=directory)
