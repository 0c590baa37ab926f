"""The checks every reader of settings and saved files shares: a whole number is an int that is
not a bool, a number is finite, a day is YYYY-MM-DD. Settings (config, the backtest's), model.json
(saved_model) and task files (backtest_task) build their messages on these."""

from __future__ import annotations

import math
from datetime import date


def is_whole(value, low: int | None = None) -> bool:
    """An int (True is not a count), at least `low` when given."""
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def is_number(value) -> bool:
    """A finite int or float (not a bool, not NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_iso_date(text) -> bool:
    """A day written YYYY-MM-DD (what every saved file uses)."""
    try:
        date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


def whole_problem(name: str, value, low: int) -> str | None:
    """The message for a setting that must be a whole number of at least `low`; None when it is one."""
    if not is_whole(value, low):
        return f"{name} must be a whole number of at least {low}, got {value!r}"
    return None
