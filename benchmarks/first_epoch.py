"""What building Adam's slots before fit saves: the first epoch of a default training, side by side.

models.build_model builds the optimizer's slot variables right after compile. Before, Keras created
them inside the first traced training step, and TensorFlow traces (with XLA: compiles) a step that
creates variables a second time. This trains the default model (window 60, 16 units, batch 64, XLA on
unless --no-jit-compile) on the first training split of the embedded snapshot for --epochs epochs,
alternately as build_model makes it and with the slots left to the first step (the same layers in the
same order, the same seed), --repeats times each, and prints per way the mean seconds of epoch 1 and
of a later epoch, the first-epoch ratio, and whether the trained weights are bit for bit the same.

Run from the project root:  python benchmarks/first_epoch.py [--epochs 3] [--repeats 3] [--no-jit-compile]
Seconds are this machine's; read the ratio, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import time

from forecast import runtime  # noqa: F401, I001  (before Keras: see runtime.py)

import keras
import numpy as np

from forecast.config import Config
from forecast.csv_source import load_csv
from forecast.models import build_model, get_cell
from forecast.windows import build_dataset

SNAPSHOT = "data/snapshot/btc-usd.csv"


class EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)

    def on_train_begin(self, logs=None):
        self.seconds = []


def lazy_model(cfg: Config) -> keras.Model:
    """build_model's model without its optimizer.build: the slots come with the first step."""
    inputs = keras.Input(shape=(cfg.window, 1), name="window")      # (batch, window, 1)
    hidden = get_cell(cfg.cell)(cfg.units, name=cfg.cell)(inputs)    # (batch, units)
    model = keras.Model(inputs, keras.layers.Dense(1, name="next_day")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=cfg.loss, jit_compile=cfg.jit_compile)
    return model


def train_once(cfg: Config, data, lazy: bool, epochs: int) -> tuple[list[float], np.ndarray]:
    keras.utils.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    model = lazy_model(cfg) if lazy else build_model(cfg.cell, cfg.window, 1, cfg.units, cfg.learning_rate,
                                                     cfg.loss, cfg.jit_compile)
    timer = EpochTimes()
    model.fit(*data.model_arrays("train"), validation_data=data.model_arrays("val"), epochs=epochs,
              batch_size=cfg.batch_size, shuffle=True, verbose=0, callbacks=[timer])
    return timer.seconds, np.concatenate([w.ravel() for w in model.get_weights()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--no-jit-compile", dest="jit", action="store_false")
    args = parser.parse_args()
    cfg = Config(cell=args.cell, jit_compile=args.jit)
    data = build_dataset(load_csv(SNAPSHOT).close, cfg)
    times, weights = {"built": [], "lazy": []}, {"built": [], "lazy": []}
    for _ in range(args.repeats):
        for way in ("lazy", "built"):  # interleaved, so a busy spell hits both ways
            seconds, w = train_once(cfg, data, way == "lazy", args.epochs)
            times[way].append(seconds)
            weights[way].append(w)
    first = {way: float(np.mean([t[0] for t in ts])) for way, ts in times.items()}
    later = {way: float(np.mean([np.mean(t[1:]) for t in ts])) for way, ts in times.items()}
    same = all(np.array_equal(weights["built"][0], w) for ws in weights.values() for w in ws)
    print(f"{cfg.cell.upper()}, XLA {'on' if cfg.jit_compile else 'off'}, {args.epochs} epochs x {args.repeats} "
          f"repeats, {len(data.model_arrays('train')[1])} training windows")
    for way in ("lazy", "built"):
        print(f"  slots {'built before fit' if way == 'built' else 'made in the first step'}: "
              f"epoch 1 {first[way]:.2f} s, later epochs {later[way]:.2f} s")
    print(f"  epoch 1, built / lazy: {first['built'] / first['lazy']:.2f}; "
          f"saved per training: {first['lazy'] - first['built']:.2f} s")
    print(f"  trained weights bit for bit the same: {same}")


if __name__ == "__main__":
    main()
