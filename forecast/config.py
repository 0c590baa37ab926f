"""All settings of a run in one frozen dataclass, passed explicitly to every stage.

The names of the cells, scalings and losses are plain tuples here, so that checking a setting
never loads TensorFlow; models.py and windows.py map the names to classes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .errors import ConfigError
from .jsonio import jsonable, level_key
from .validate import whole_problem

CELLS = ("gru", "lstm")
INTERVAL_METHODS = ("fixed", "scaled", "mondrian", "gauss", "aci")  # the bands predict and evaluate can draw (interval_methods)
SCALINGS = ("window", "minmax")
# What a model may read of each day, in the one order its input channels take. close: the close as a
# log ratio to the window's last close (the one input of the window scaling, always first); open, high,
# low: the same ratio for that price; range: log(high / low), the day's range; volume: log of the
# day's volume over the window's mean volume. Every one is known at the window's last day.
INPUTS = ("close", "open", "high", "low", "range", "volume")
INPUT_SETS = {"ohlcv": ("close", "open", "high", "low", "volume")}  # shorthands --inputs takes
LOSSES = ("huber", "mse")
MAX_SEED = 2**32  # numpy's and TensorFlow's generators take seeds below this


def _since(default):
    """A setting added after models and backtest task files were saved: at its default it is left
    out of model_settings(), so that what was saved before it stays reusable; any other value is in."""
    return field(default=default, metadata={"omit_default": True})


def _io(default):
    """A setting about where data comes from or results go: it does not change a trained model
    (the data hash stands for the prices), so a saved model stays reusable across it."""
    return field(default=default, metadata={"io": True})


@dataclass(frozen=True)
class Config:
    # where prices come from
    ticker: str = _io("BTC-USD")            # Yahoo Finance symbol, used when no CSV is given
    csv: Path | None = _io(None)            # local price file instead of Yahoo
    start: date | None = _io(None)          # first day of prices to use (inclusive)
    end: date | None = _io(None)            # last day of prices to use (inclusive)
    cache_dir: Path = _io(Path("data"))     # Yahoo prices are cached here as <TICKER>.csv
    # windows and splits
    window: int = 60                        # days of history that predict the next day's close
    val_fraction: float = 0.15              # share of target days for validation (early stopping)
    test_fraction: float = 0.15             # share of target days for the test, ignored with test_start
    test_start: date | None = None          # first test target day; validation is the 15/85 before it
    scaling: str = "window"                 # "window": log ratios to the window's last close; "minmax"
    inputs: tuple[str, ...] = _since(("close",))  # what the model reads of each day (INPUTS), close first
    # model and training (defaults chosen on the validation split, see README)
    cell: str = "gru"                       # "gru" or "lstm"; nothing else differs between the two
    units: int = 16                         # recurrent units: 16 and 32 tie on validation, so the smaller
    learning_rate: float = 1e-3             # Adam
    batch_size: int = 64                    # windows per gradient step
    epochs: int = 100                       # upper bound; early stopping usually ends sooner
    patience: int = 10                      # epochs without a better validation loss before stopping
    loss: str = "huber"                     # robust to the fat tails of daily returns
    seed: int = 42                          # one seed makes a run repeatable on the same machine
    jit_compile: bool = True                # XLA training steps: ~1.7x faster here, same results (README)
    all_data: bool = False                  # then refit on every day with the early-stopped epochs
    # prediction intervals
    levels: tuple[float, ...] = (80.0, 95.0)  # central coverage in %, calibrated on validation
    # the band predict and evaluate show; every one is calibrated at training, so it does not change
    # a trained model. The default is verdicts.choose_default's pick: the method that held both on the
    # 2018-2025 backtest and on models used for years after their calibration
    # (benchmarks/interval_methods_long.py; README, "Prediction intervals")
    interval_method: str = _io("aci")
    aci_gamma: float = _io(0.005)           # adaptive conformal inference's step (interval_methods.ACI_GAMMA says why)
    # output
    out: Path = _io(Path("artifacts"))      # models, metrics and charts go to <out>/<cell>/
    quiet: bool = _io(False)                # only the final summary

    def __post_init__(self):
        # Coercions first, so that Config(csv="prices.csv", levels=[95, 80]) means what it says.
        for name in ("csv", "cache_dir", "out"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value))
        if isinstance(self.inputs, (list, str)):
            object.__setattr__(self, "inputs", parse_inputs(self.inputs) if isinstance(self.inputs, str) else tuple(self.inputs))
        if not isinstance(self.levels, tuple) or list(self.levels) != sorted(set(self.levels)):
            object.__setattr__(self, "levels", tuple(sorted({float(v) for v in self.levels})))
        for problem in _problems(self):
            raise ConfigError(problem)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def model_settings(self) -> dict:
        """Every setting that shapes a trained model (all but the io ones), JSON-ready: a saved
        model is reused only when these and the data hash match."""
        return {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not f.metadata.get("io") and not (f.metadata.get("omit_default") and getattr(self, f.name) == f.default)
        }


def parse_inputs(text: str) -> tuple[str, ...]:
    """"close,high,low", a shorthand ("ohlcv") or both ("ohlcv,range") -> the inputs in their channel
    order; ConfigError quoting a name that is not an input, or one given twice."""
    tokens = [t.strip().lower() for t in text.split(",")]
    names = [name for token in tokens for name in INPUT_SETS.get(token, (token,))]
    for name in names:
        if name not in INPUTS:
            raise ConfigError(f"unknown input {name!r}; valid: {', '.join(INPUTS)} "
                              f"(or {', '.join(INPUT_SETS)}), comma-separated")
    twice = sorted({n for n in names if names.count(n) > 1}, key=INPUTS.index)
    if twice:
        within = [f"{k} holds {','.join(v)}" for k, v in INPUT_SETS.items() if k in tokens and twice[0] in v]
        raise ConfigError(f"input {twice[0]!r} is given twice in {text!r}" + (f" ({within[0]})" if within else ""))
    if "close" not in names:  # the forecast is the next close relative to the window's last close
        names.insert(0, "close")
    return tuple(sorted(names, key=INPUTS.index))


def inputs_label(inputs: tuple[str, ...]) -> str:
    """How reports name a set of inputs: "close", "close,high,low", "ohlcv"."""
    return next((short for short, names in INPUT_SETS.items() if names == tuple(inputs)), ",".join(inputs))


def inputs_key(inputs: tuple[str, ...]) -> str:
    """A set of inputs in folder and file names: its label with "+" for "," ("close+high", "ohlcv")."""
    return inputs_label(inputs).replace(",", "+")


def _problems(c: Config):
    """Each broken setting as one message, in field order."""
    def whole(name, low):
        return whole_problem(name, getattr(c, name), low)

    def choice(name, valid):
        if getattr(c, name) not in valid:
            return f"unknown {name} {getattr(c, name)!r}; valid: {', '.join(valid)}"

    checks = [
        c.start and c.end and c.start > c.end and f"start {c.start} is after end {c.end}",
        whole("window", 2),
        not (0 < c.val_fraction < 1 and 0 <= c.test_fraction < 1 and c.val_fraction + c.test_fraction < 1)
        and f"val_fraction and test_fraction must be shares that leave training days, "
            f"got {c.val_fraction!r} and {c.test_fraction!r}",
        choice("scaling", SCALINGS),
        *_input_problems(c),
        choice("cell", CELLS),
        choice("interval_method", INTERVAL_METHODS),
        not (isinstance(c.aci_gamma, (int, float)) and not isinstance(c.aci_gamma, bool) and 0 < c.aci_gamma < 1)
        and f"aci_gamma must be a number between 0 and 1 (exclusive), got {c.aci_gamma!r}",
        whole("units", 1),
        not (isinstance(c.learning_rate, (int, float)) and math.isfinite(c.learning_rate) and c.learning_rate > 0)
        and f"learning_rate must be a positive finite number, got {c.learning_rate!r}",
        whole("batch_size", 1),
        whole("epochs", 1),
        whole("patience", 1),
        choice("loss", LOSSES),
        (whole("seed", 0) or (c.seed >= MAX_SEED and f"seed must be below {MAX_SEED}, got {c.seed}")),
        not c.levels and "levels must name at least one interval level",
        *(not (0 < v < 100) and f"an interval level is a percentage between 0 and 100 (exclusive), got {v:g}"
          for v in c.levels),
        *_alike(c.levels),
    ]
    return [problem for problem in checks if problem]


def _input_problems(c: Config) -> list[str]:
    inputs = c.inputs
    if not (isinstance(inputs, tuple) and inputs and all(isinstance(n, str) for n in inputs)):
        return [f"inputs must be a tuple of input names, got {inputs!r}"]
    unknown = [n for n in inputs if n not in INPUTS]
    if unknown:
        return [f"unknown input {unknown[0]!r}; valid: {', '.join(INPUTS)}"]
    if list(inputs) != sorted(set(inputs), key=INPUTS.index) or inputs[0] != "close":
        return [f"inputs must start with close, name each input once and follow the order {', '.join(INPUTS)}; "
                f"got {', '.join(inputs)}"]
    if len(inputs) > 1 and c.scaling != "window":
        return [f"inputs other than close need scaling 'window' (minmax scales price levels), got {c.scaling!r}"]
    return []


def _alike(levels) -> list[str]:
    """Levels that print alike ("80%" for 80 and 80.0000001) would share one line of every table
    and one key of every JSON record: one of them would silently vanish."""
    shown: dict[str, list[float]] = {}
    for v in levels:
        shown.setdefault(f"{v:g}", []).append(v)
    return [f"interval levels {' and '.join(level_key(v) for v in vs)} print alike ({text}%); "
            "use levels that differ within 6 significant digits" for text, vs in shown.items() if len(vs) > 1]
