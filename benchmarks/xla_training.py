"""Keras' jit_compile (XLA) on and off for training: wall time and VALIDATION error, per cell and seed.

The choice of the default (Config.jit_compile) rests on this: XLA is kept only if it is faster and
the validation MAE ratio stays within the spread between seeds. Only validation numbers are printed
or compared (train() scores its test split too, as always; this script never reads it).
Each pair (off, on) runs back to back, so machine load hits both alike.

Run from the project root:  python benchmarks/xla_training.py [--csv PATH] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time

from forecast.runtime import quiet_tensorflow

quiet_tensorflow()

from forecast import csv_source, inference, train  # noqa: E402
from forecast.config import CELLS, Config  # noqa: E402
from forecast.windows import build_dataset  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="../shared/data/btc-usd.csv")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell, from 42")
    args = parser.parse_args(argv)
    prices = csv_source.load_csv(args.csv)
    total = {False: 0.0, True: 0.0}
    print(f"{'cell':4} {'seed':>4} {'XLA':>5} {'wall s':>7} {'epochs':>6} {'s/epoch':>7} {'val MAE / naive':>15}")
    for seed in range(42, 42 + args.seeds):
        for cell in CELLS:
            for jit in (False, True):
                cfg = Config(cell=cell, seed=seed, jit_compile=jit, quiet=True)
                started = time.perf_counter()
                trained = train.train(cfg, prices)
                wall = time.perf_counter() - started
                total[jit] += wall
                val = inference.forecast_scored(trained, *build_dataset(prices.close, cfg).part("val"))
                print(f"{cell:4} {seed:4d} {'on' if jit else 'off':>5} {wall:7.1f} {trained.info.epochs_run:6d} "
                      f"{trained.info.seconds_per_epoch:7.3f} {val.metrics.mae_ratio_vs_naive:15.5f}", flush=True)
    print(f"total wall: XLA off {total[False]:.1f} s, on {total[True]:.1f} s ({total[False] / total[True]:.2f}x)")


if __name__ == "__main__":
    main()
