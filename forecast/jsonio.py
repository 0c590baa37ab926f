"""JSON as every file and --json output of the tool writes it, and the content hash that seals
the files read back later (model.json, backtest task files)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import date
from pathlib import Path



def level_key(v: float) -> str:
    """"80", "95", "99.99999": the shortest text that reads back as exactly this level (repr's, less a
    trailing ".0"), the key of a level in every JSON record. `f"{v:g}"` wrote 99.99999 as "100"."""
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


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


def dumps(obj) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"


def content_sha256(record: dict, leave_out: str) -> str:
    """sha256 of a record's canonical JSON (sorted keys, no spaces), the key holding this hash left out."""
    body = {k: v for k, v in record.items() if k != leave_out}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
