"""Where the prices come from: a user's CSV file, or Yahoo Finance with its cache and the embedded
snapshot behind it. `load_prices` is the pipeline's first stage; what it returns is checked and
daily (prices.Prices) whatever the source.
"""

from __future__ import annotations

from .csv_source import load_csv
from .prices import Prices
from .yahoo_source import load_yahoo


def load_prices(cfg, min_rows: int = 1, **yahoo_kwargs) -> Prices:
    """The data stage of the pipeline: the configured source, validated and sliced."""
    if cfg.csv is not None:
        return load_csv(cfg.csv, cfg.start, cfg.end, min_rows)
    return load_yahoo(cfg.ticker, cfg.cache_dir, cfg.start, cfg.end, min_rows, **yahoo_kwargs)
