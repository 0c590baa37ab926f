"""All settings of a run in one frozen dataclass, passed explicitly to every stage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Config:
    # where prices come from
    ticker: str = "BTC-USD"              # Yahoo Finance symbol, used when no CSV is given
    csv: Path | None = None              # local price file instead of Yahoo
    start: date | None = None            # first day of prices to use (inclusive)
    end: date | None = None              # last day of prices to use (inclusive)
    cache_dir: Path = Path("data")       # Yahoo prices are cached here as <TICKER>.csv
    # windows and splits
    window: int = 60                     # days of history that predict the next day's close
    val_fraction: float = 0.15           # share of target days for validation (early stopping)
    test_fraction: float = 0.15          # share of target days for the test, ignored with test_start
    test_start: date | None = None       # first test target day; validation is the 15/85 before it
    scaling: str = "window"              # "window": log ratios to the window's last close; "minmax"
    # model and training (defaults chosen on the validation split, see README)
    cell: str = "gru"                    # "gru" or "lstm"; nothing else differs between the two
    units: int = 16                      # recurrent units: 16 and 32 tie on validation, so the smaller
    learning_rate: float = 1e-3          # Adam
    batch_size: int = 64                 # windows per gradient step
    epochs: int = 100                    # upper bound; early stopping usually ends sooner
    patience: int = 10                   # epochs without a better validation loss before stopping
    loss: str = "huber"                  # robust to the fat tails of daily returns
    seed: int = 42                       # one seed makes a run repeatable on the same machine
    # output
    out: Path = Path("artifacts")        # models, metrics and charts go to <out>/<cell>/
    quiet: bool = False                  # only the final summary

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)
