"""Chooses the model defaults by measurement on the VALIDATION split only.

The test split is never predicted or looked at here: every score is the validation MAE
divided by the naive forecast's (tomorrow = today) MAE on the same days; below 1 beats naive.
Early stopping also watches validation (forecast.train.fit), so the scores are slightly
optimistic for every setting alike; they rank settings, they do not estimate future error.

Search, for both cells with the default window scaling (one setting must serve both cells):
  1. units x loss at learning rate 1e-3, batch 64 (first seed)
  2. learning rate x batch size for the best units x loss (first seed)
  3. the best few settings, plus the current defaults, again with the remaining seeds
  4. patience: the recommended setting with a longer patience, all seeds

Run from the project root:  python benchmarks/tune.py [--csv PATH] [--seeds N] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from forecast.runtime import quiet_tensorflow

quiet_tensorflow()  # before the modules that load it; also quiets retracing notes (each fit is a new model)

from forecast import config, csv_source, inference, metrics, train, windows  # noqa: E402

CELLS = ("gru", "lstm")
NOISE = 0.002     # mean ratio differences below this are treated as ties
FINALISTS = 4     # best settings after stages 1-2 that get the extra seeds (plus the defaults)


def score(prices, setting, cell, seed, **extra):
    """One fit; validation MAE ratio vs naive, epochs run and training seconds."""
    units, lr, batch, loss = setting
    cfg = config.Config(csv=prices.source, cell=cell, units=units, learning_rate=lr,
                        batch_size=batch, loss=loss, seed=seed, quiet=True, **extra)
    dataset = windows.build_dataset(prices.close, cfg)
    model, history, seconds = train.fit(cfg, dataset.model_arrays("train"), dataset.model_arrays("val"))
    X_val, y_val, _ = dataset.part("val")
    pred = inference.predict_usd(model, dataset.scaling, X_val)
    ratio = metrics.ratio(metrics.mae(y_val, pred), metrics.mae(y_val, X_val[:, -1]))
    return {"ratio": ratio, "epochs": len(history["loss"]), "seconds": seconds}


class Search:
    def __init__(self, prices, extra):
        self.prices, self.extra, self.runs = prices, extra, {}  # (setting, cell, patience) -> {seed: run}
        self.patience = extra.get("patience", config.Config().patience)

    def run(self, settings, seeds, patience=None):
        patience = patience or self.patience
        for setting, cell, seed in itertools.product(settings, CELLS, seeds):
            done = self.runs.setdefault((setting, cell, patience), {})
            if seed not in done:
                r = done[seed] = score(self.prices, setting, cell, seed, **{**self.extra, "patience": patience})
                print(f"  {label(setting)} {cell:4} patience {patience:2} seed {seed}: ratio {r['ratio']:.4f}"
                      f"  {r['epochs']:3d} epochs  {r['seconds']:5.1f} s", flush=True)

    def mean(self, setting, patience=None, what="ratio"):
        """Mean over both cells and all seeds run so far."""
        runs = [self.runs[(setting, c, patience or self.patience)] for c in CELLS]
        return statistics.fmean(r[what] for by_seed in runs for r in by_seed.values())

    def best(self, settings, n=1):
        return sorted(settings, key=self.mean)[:n]


def label(setting):
    units, lr, batch, loss = setting
    return f"units {units:2d} lr {lr:.0e} batch {batch:2d} {loss:5}"


def table(search):
    rows = []
    for (setting, cell, patience), by_seed in search.runs.items():
        r = list(by_seed.values())
        ratios = [x["ratio"] for x in r]
        rows.append((statistics.fmean(ratios), label(setting), cell, patience, len(r),
                     statistics.stdev(ratios) if len(r) > 1 else float("nan"),
                     statistics.fmean(x["epochs"] for x in r), statistics.fmean(x["seconds"] for x in r)))
    print("\nvalidation MAE / naive MAE, sorted (std across seeds; nan = one seed)")
    print(f"{'config':38} {'cell':4} {'pat':>3} {'seeds':>5} {'mean':>7} {'std':>7} {'epochs':>6} {'seconds':>7}")
    for mean, cfg, cell, pat, n, std, ep, sec in sorted(rows):
        print(f"{cfg:38} {cell:4} {pat:3d} {n:5d} {mean:7.4f} {std:7.4f} {ep:6.1f} {sec:7.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="../shared/data/btc-usd.csv")
    parser.add_argument("--seeds", type=int, default=2, help="seeds for the finalists (first is 42)")
    parser.add_argument("--quick", action="store_true", help="tiny grid and 3 epochs: a smoke run")
    args = parser.parse_args(argv)

    prices = csv_source.load_csv(args.csv)
    default = config.Config()
    seeds = [default.seed + i for i in range(args.seeds)]
    if args.quick:
        units, losses, lrs, batches, extra, patiences = (16,), ("huber",), (1e-3,), (64,), {"epochs": 3, "patience": 1}, (2,)
    else:
        units, losses, lrs, batches, extra, patiences = (16, 32, 64), ("mse", "huber"), (1e-3, 3e-4), (32, 64), {}, (20,)
    search = Search(prices, extra)

    print("stage 1: units x loss at lr 1e-3, batch 64", flush=True)
    stage1 = [(u, 1e-3, 64, loss) for u, loss in itertools.product(units, losses)]
    search.run(stage1, seeds[:1])
    u, _, _, loss = search.best(stage1)[0]

    print("stage 2: lr x batch for the best units x loss", flush=True)
    stage2 = [(u, lr, b, loss) for lr, b in itertools.product(lrs, batches) if (lr, b) != (1e-3, 64)]
    search.run(stage2, seeds[:1])

    print("stage 3: finalists with all seeds", flush=True)
    current = (default.units, default.learning_rate, default.batch_size, default.loss)
    finalists = list(dict.fromkeys(search.best(stage1 + stage2, FINALISTS) + [current]))
    search.run(finalists, seeds)

    # Within NOISE of the best mean: the fewest units, then the current defaults, then the fastest.
    top = search.mean(search.best(finalists)[0])
    chosen = min((s for s in finalists if search.mean(s) - top < NOISE),
                 key=lambda s: (s[0], s != current, search.mean(s, what="seconds")))

    print("stage 4: patience for the chosen setting", flush=True)
    for p in patiences:
        search.run([chosen], seeds, patience=p)

    table(search)
    print("\nmean over both cells and all seeds (finalists):")
    for s in sorted(finalists, key=search.mean):
        print(f"  {label(s)}  {search.mean(s):.4f}" + ("  <- current defaults" if s == current else ""))
    for p in (search.patience, *patiences):
        print(f"  {label(chosen)}  patience {p:2d}: ratio {search.mean(chosen, p):.4f}, "
              f"{search.mean(chosen, p, 'epochs'):.1f} epochs, {search.mean(chosen, p, 'seconds'):.1f} s")
    for cell in CELLS:
        stds = [statistics.stdev(r["ratio"] for r in by_seed.values())
                for (_, c, _), by_seed in search.runs.items() if c == cell and len(by_seed) > 1]
        if stds:  # one seed has no spread
            print(f"  seed noise, {cell}: std across seeds {min(stds):.4f} .. {max(stds):.4f}")
    epochs = extra.get("epochs", default.epochs)
    capped = sum(r["epochs"] >= epochs for by_seed in search.runs.values() for r in by_seed.values())
    print(f"  fits that reached the {epochs}-epoch cap: {capped} of {sum(map(len, search.runs.values()))}")
    units_, lr, batch, loss = chosen
    print(f"\nrecommendation (ties within {NOISE} go to fewer units, then the current defaults, then faster): "
          f"units={units_} learning_rate={lr:g} batch_size={batch} loss={loss!r}")


if __name__ == "__main__":
    main()
