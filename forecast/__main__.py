"""Command line: python -m forecast {data,train,predict,evaluate,compare,backtest,bench} ...

Arguments become one Config in `config_from_args`; domain errors become one `error: ...`
line and an exit code in `main`. TensorFlow is imported only by the commands that need it,
and inside `main`, so that even a Ctrl-C while it loads ends as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import shlex
import sys
import warnings
from datetime import date
from pathlib import Path

from .config import CELLS, INPUT_SETS, INPUTS, INTERVAL_METHODS, MAX_SEED, SCALINGS, Config, inputs_label, parse_inputs
from .errors import ConfigError, ForecastError
from .jsonio import dumps

DEFAULTS = Config()


# --- argument types: each bad value is an argparse error (exit 2) -----------------------

def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def window_size(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a window needs at least 2 days, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def seed_value(text: str) -> int:
    value = _integer(text)
    if not 0 <= value < 2**32:  # the range numpy's and TensorFlow's generators accept
        raise argparse.ArgumentTypeError(f"must be between 0 and 4294967295, got {value}")
    return value


def level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"an interval level is a percentage between 0 and 100, got {text}")
    return value


def fold_days(text: str) -> int:
    from .backtest_plan import MIN_FOLD_DAYS  # inside main: pandas loads with it (see cmd_train)

    value = _integer(text)
    if value < MIN_FOLD_DAYS:
        raise argparse.ArgumentTypeError(f"a fold needs at least {MIN_FOLD_DAYS} days, got {value}")
    return value


COIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")   # also a folder name: <out>/backtest/tasks/<name>/


def coin_file(text: str) -> tuple[str, Path]:
    """--csv of a backtest: PATH (named by its file's stem) or NAME=PATH, its NAME checked before the path."""
    name, eq, path = text.partition("=")
    if not eq or Path(text).is_file():
        name, path = Path(text).stem, text
        if not COIN_NAME.fullmatch(name):
            raise argparse.ArgumentTypeError(f"cannot name a coin by {text!r}; name it: NAME=PATH, NAME of letters, "
                                             "digits, '.', '_' and '-'")
    elif not COIN_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"invalid coin name {name!r} in {text!r}: a NAME is letters, digits, '.', '_' "
                                         "and '-', starting with a letter or digit (NAME=PATH)")
    if not path:
        raise argparse.ArgumentTypeError(f"no file after the name in {text!r}; expected PATH or NAME=PATH")
    return name, Path(path)


def train_window(text: str) -> int | None:
    """--train-days: a whole number of days (rolling), or "all" (expanding: None)."""
    return None if text == "all" else positive_int(text)


def inputs_list(text: str) -> tuple[str, ...]:
    """--inputs: comma-separated input names, or a shorthand (ohlcv)."""
    try:
        return parse_inputs(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class OneInputSet(argparse.Action):
    """train's --inputs: a repeat is a usage error pointing to compare (not the last one silently)."""
    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} is given twice; train fits one set of inputs (to compare sets: "
                         f"python -m forecast compare {option_string} A {option_string} B)")
        setattr(namespace, self.dest, values)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


# --- parser -----------------------------------------------------------------------------

def _source(p: argparse.ArgumentParser, saved_model: bool = False, many: bool = False) -> None:
    """The price options; with `saved_model` (predict, evaluate) the default is the model's own source;
    with `many` (backtest) --csv may be repeated, one file per coin."""
    g = p.add_argument_group("prices (the saved model's own source by default, or Yahoo Finance, or a CSV file)"
                             if saved_model else "prices (Yahoo Finance by default, or a CSV file)")
    src = g.add_mutually_exclusive_group()
    # None when not given, so that predict and evaluate can tell; Config holds the default symbol.
    src.add_argument("--ticker", default=None, help="Yahoo Finance symbol (default: " + (
        "the CSV or symbol the model was trained on, from its model.json)" if saved_model else f"{DEFAULTS.ticker})"))
    if many:
        src.add_argument("--csv", type=coin_file, action="append", metavar="[NAME=]PATH",
                         help="price file instead of Yahoo: Yahoo/yfinance layouts or a unix-seconds Timestamp file; "
                              "repeat it to backtest several coins in one run, each named NAME or by its file name")
    else:
        src.add_argument("--csv", type=Path, metavar="PATH",
                         help="price file instead of Yahoo: Yahoo/yfinance layouts or a unix-seconds Timestamp file")
    g.add_argument("--start", type=iso_date, metavar="DATE", help="first day of prices to use")
    g.add_argument("--end", type=iso_date, metavar="DATE", help="last day of prices to use")
    g.add_argument("--cache-dir", type=Path, default=DEFAULTS.cache_dir, metavar="DIR",
                   help="where Yahoo prices are cached (default: %(default)s)")


def _cell(p, required=False) -> None:
    p.add_argument("--cell", choices=CELLS, default=None if required else DEFAULTS.cell,
                   required=required, help="recurrent layer of the model to use (default: %(default)s)")


def _interval_method(p) -> None:
    p.add_argument("--interval-method", choices=INTERVAL_METHODS, default=DEFAULTS.interval_method,
                   help="how the ranges are drawn: aci (scaled, its level adapted to the misses since calibration), "
                        "scaled (width in proportion to volatility), mondrian (per volatility third), fixed, gauss "
                        "(default: %(default)s, which held on the backtest and long after calibration: README)")


def _aci_gamma(p) -> None:
    p.add_argument("--aci-gamma", type=float, default=DEFAULTS.aci_gamma, metavar="GAMMA", help="aci's step: after "
                   "each day its target miss rate moves by GAMMA x (nominal - missed) (default: %(default)s)")


def _out(p) -> None:
    p.add_argument("--out", type=Path, default=DEFAULTS.out, metavar="DIR",
                   help="folder of saved models and results (default: %(default)s)")


def _quiet(p) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress or notes, only the result (or one error line)")


def _json(p, what: str) -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as one JSON object on stdout; progress and notes go to stderr")


def _training(p, test_start: bool = True, sets: bool = False) -> None:
    g = p.add_argument_group("windows and training")
    g.add_argument("--window", type=window_size, default=DEFAULTS.window, help="days of history per input (default: %(default)s)")
    many = sets or not test_start  # compare and backtest compare several sets of inputs in one run
    shorthands = ", ".join(f"{k} ({'+'.join(v)})" for k, v in INPUT_SETS.items())
    g.add_argument("--inputs", type=inputs_list, action="append" if many else OneInputSet, metavar="NAMES",
                   help=f"what the model reads of each day, comma-separated: {', '.join(INPUTS)}, or {shorthands}; "
                        "close is always in (default: close)"
                        + ("; repeat it to compare sets of inputs in one run" if many else ""))
    if test_start:  # a backtest has folds instead
        g.add_argument("--test-start", type=iso_date, metavar="DATE",
                       help="first test target day (default: the last 15%% of target days)")
    g.add_argument("--scaling", choices=SCALINGS, default=DEFAULTS.scaling,
                   help="window: log ratios to each window's last close; minmax: price levels (default: %(default)s)")
    g.add_argument("--units", type=positive_int, default=DEFAULTS.units, help="recurrent units (default: %(default)s)")
    g.add_argument("--epochs", type=positive_int, default=DEFAULTS.epochs, help="most epochs (default: %(default)s)")
    g.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size,
                   help="windows per gradient step (default: %(default)s)")
    g.add_argument("--learning-rate", type=positive_float, default=DEFAULTS.learning_rate,
                   help="Adam's step size (default: %(default)s)")
    g.add_argument("--patience", type=positive_int, default=DEFAULTS.patience,
                   help="epochs without a better validation loss before training stops (default: %(default)s)")
    g.add_argument("--seed", type=seed_value, default=DEFAULTS.seed, help="makes the run repeatable (default: %(default)s)")
    g.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=DEFAULTS.jit_compile,
                   help="compile training steps with XLA (default: %(default)s; see README for the timings)")
    g.add_argument("--level", type=level, action="append", dest="levels", metavar="PERCENT",
                   help="prediction interval level, repeatable (default: "
                        + " and ".join(f"{v:g}" for v in DEFAULTS.levels) + ")")
    _quiet(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m forecast",
        description="GRU vs LSTM for next-day Bitcoin closes, measured against 'tomorrow = today'.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="load, validate and cache prices; print a summary")
    _source(p)
    p.add_argument("--window", type=window_size, default=DEFAULTS.window,
                   help="check there is enough data for this window (default: %(default)s)")
    _json(p, "the summary")
    _quiet(p)

    p = sub.add_parser("train", help="train a GRU or LSTM model and save it with metrics and charts")
    _cell(p)
    _source(p)
    _training(p)
    p.add_argument("--all-data", action="store_true",
                   help="after the held-out run, refit on every day up to the last with the epochs early "
                        "stopping chose, and save that model for predict (metrics stay the held-out ones)")
    _out(p)
    _json(p, "the test metrics (metrics.json) and where the run was saved")

    p = sub.add_parser("predict", help="forecast the next day's close with a saved model")
    _cell(p)
    _source(p, saved_model=True)
    _interval_method(p)
    _aci_gamma(p)
    _out(p)
    _json(p, "the forecast")
    _quiet(p)

    p = sub.add_parser("evaluate", help="evaluate a saved model on any range of days")
    _cell(p)
    _source(p, saved_model=True)
    p.add_argument("--since", type=iso_date, metavar="DATE",
                   help="first target day (default: the day after the model's training data, out of sample)")
    p.add_argument("--until", type=iso_date, metavar="DATE", help="last target day (default: the last)")
    p.add_argument("--in-sample", action="store_true",
                   help="without --since/--until: every target day, including those the model was trained on")
    _interval_method(p)
    _aci_gamma(p)
    _out(p)
    _json(p, "the metrics")
    _quiet(p)

    p = sub.add_parser("compare", help="train both cells on the same split, evaluate, time and report")
    _source(p)
    _training(p, sets=True)
    p.add_argument("--seeds", type=positive_int, default=3,
                   help="seeds per cell, from --seed on: small RNNs vary with the seed (default: %(default)s)")
    p.add_argument("--calls", type=non_negative_int, default=200,
                   help="timed inference calls per path and cell; 0 skips the timing (default: %(default)s)")
    _out(p)
    _json(p, "the comparison (comparison.json)")

    p = sub.add_parser("backtest", help="rolling-origin backtest: refit both cells at each fold's origin, "
                                        "forecast the fold's days, judge all folds together")
    _source(p, many=True)
    _training(p, test_start=False)
    g = p.add_argument_group("folds")
    g.add_argument("--seeds", type=positive_int, default=3, help="seeds per cell and fold, from --seed on (default: %(default)s)")
    folds = g.add_mutually_exclusive_group()
    folds.add_argument("--folds", type=positive_int, metavar="N",
                       help="the last N folds before the data end (default: 12)")
    folds.add_argument("--first-test", type=iso_date, metavar="DATE",
                       help="first out-of-sample day instead; folds follow up to the data end")
    g.add_argument("--step", type=fold_days, default=30, help="out-of-sample days per fold (default: %(default)s)")
    g.add_argument("--train-days", type=train_window, action="append", metavar="N|all",
                   help="train on the last N target days before each origin (rolling), or on all of them (all: "
                        "expanding, the default); repeat it to compare training windows in one run")
    g.add_argument("--refit", choices=("cold", "warm"), default="cold",
                   help="each fold's models from fresh weights (cold), or from the same cell and seed's on the "
                        "fold before (warm, early-stopped on its own validation days) (default: %(default)s)")
    g = p.add_argument_group("parallel runs (Ray)")
    g.add_argument("--workers", type=positive_int, default=1,
                   help="trainings at once; 1 runs in this process without Ray, more start a local Ray (default: %(default)s)")
    g.add_argument("--address", metavar="HOST:PORT",
                   help="run on the existing Ray cluster at this address (default: $RAY_ADDRESS if set)")
    _aci_gamma(p)
    _out(p)
    _json(p, "the backtest (backtest.json)")

    p = sub.add_parser("bench", help="inference and training time of fresh GRU and LSTM models")
    p.add_argument("--window", type=window_size, default=DEFAULTS.window, help="days per input window (default: %(default)s)")
    p.add_argument("--units", type=positive_int, default=DEFAULTS.units, help="recurrent units (default: %(default)s)")
    p.add_argument("--calls", type=positive_int, default=200, help="timed calls per path and cell (default: %(default)s)")
    p.add_argument("--batch", type=positive_int, default=610,
                   help="windows per throughput call, a full test set (default: %(default)s)")
    p.add_argument("--train-epochs", type=non_negative_int, default=7,
                   help="timed training epochs per cell, with and without XLA; 0 skips training (default: %(default)s)")
    p.add_argument("--train-rows", type=positive_int, default=2900,
                   help="windows per training epoch, about the default training split (default: %(default)s)")
    p.add_argument("--seed", type=seed_value, default=DEFAULTS.seed, help="seed of the fresh weights (default: %(default)s)")
    _json(p, "the timings")
    _quiet(p)
    return parser


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Config:
    """The one place where command-line arguments become settings; a setting Config refuses
    is a usage error (exit 2), like any flag argparse refuses."""
    seeds = getattr(args, "seeds", None)  # compare and backtest: seeds --seed, --seed + 1, ...
    if seeds is not None and args.seed + seeds - 1 >= MAX_SEED:
        parser.error(f"--seed {args.seed} with --seeds {seeds} needs seeds up to {args.seed + seeds - 1}; "
                     f"the largest is {MAX_SEED - 1}")
    if isinstance(getattr(args, "csv", None), list):  # backtest: one --csv per coin
        args.sources = dict(args.csv)
        if len(args.sources) < len(args.csv):
            twice = next(n for n in args.sources if [c for c, _ in args.csv].count(n) > 1)
            parser.error(f"coin name {twice!r} is given twice; name each file: --csv NAME=PATH")
        args.csv = args.csv[0][1] if len(args.csv) == 1 else None
    if isinstance(getattr(args, "inputs", None), list):  # compare and backtest: each --inputs one set to compare
        args.input_sets = list(dict.fromkeys(args.inputs))
        if len(args.input_sets) < len(args.inputs):
            twice = next(i for i in args.input_sets if args.inputs.count(i) > 1)
            parser.error(f"--inputs {inputs_label(twice)} is given twice")
        args.inputs = args.inputs[0]
        if len(args.input_sets) > 1 and len(getattr(args, "train_days", None) or ()) > 1:
            parser.error("compare several --train-days or several --inputs in one run, not both")
    fields = set(Config.__dataclass_fields__)
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    try:
        return Config(**values)
    except ConfigError as e:
        parser.error(str(e))


def backtest_settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The backtest's own settings; the cluster address from --address, else $RAY_ADDRESS."""
    from .backtest_plan import BacktestSettings  # inside main: pandas loads with it (see cmd_train)

    days = args.train_days or [None]
    try:
        return BacktestSettings(
            seeds=args.seeds, folds=args.folds, first_test=args.first_test, step=args.step,
            train_days=days[0] if len(days) == 1 else None, windows=tuple(days) if len(days) > 1 else (),
            workers=args.workers, refit=args.refit,
            address=args.address or os.environ.get("RAY_ADDRESS") or None,
        )
    except ConfigError as e:
        parser.error(str(e))


# --- commands ---------------------------------------------------------------------------

def _result(args, text, record) -> int:
    """A command's result: text(); with --json the JSON of record() on the real stdout, and the
    text, unless --quiet, where main has sent everything else (Keras' progress bars too): stderr.
    So nothing a reader would have seen, a note or a chart's path, is lost to --json."""
    if not (args.json and args.quiet):
        print(text())
    if args.json:
        print(dumps(record()).rstrip(), file=args.stdout, flush=True)
    return 0


def cmd_data(cfg: Config, args) -> int:
    # Here, inside main: a Ctrl-C while pandas loads is one line, and `data` never loads TensorFlow.
    from . import report
    from .sources import load_prices
    from .windows import rows_needed

    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    return _result(args, prices.summary, lambda: report.data_record(prices))


def cmd_train(cfg: Config, args) -> int:
    # Each command imports its modules here: after quiet_tensorflow(), and inside main, so that a
    # Ctrl-C while TensorFlow loads is one line.
    from . import publish, report
    from .sources import load_prices
    from .train import train
    from .windows import rows_needed

    prices = load_prices(cfg, min_rows=rows_needed(cfg.window))
    prices.require(cfg.inputs)
    logging.getLogger("forecast").info("training %s on %d days from %s", cfg.cell.upper(), len(prices.close), prices.source)
    trained = train(cfg, prices)
    directory = publish.save_trained(cfg.out, trained)
    return _result(args, lambda: report.train_summary(trained, directory),
                   lambda: report.train_record(trained, directory))


def _own_source(args) -> bool:
    """No --csv or --ticker: predict and evaluate read the prices the model was trained on."""
    return args.csv is None and args.ticker is None


def cmd_predict(cfg: Config, args) -> int:
    # TensorFlow loads here, after quiet_tensorflow() (see cmd_train)
    from . import report_use_model
    from .use_model import next_day

    result = next_day(cfg, own_source=_own_source(args))
    return _result(args, lambda: report_use_model.next_day_text(result),
                   lambda: report_use_model.next_day_record(result))


def cmd_evaluate(cfg: Config, args) -> int:
    # TensorFlow loads here, after quiet_tensorflow() (see cmd_train)
    from . import publish, report_use_model
    from .use_model import evaluate_range

    result = evaluate_range(cfg, args.since, args.until, in_sample=args.in_sample, own_source=_own_source(args))
    result = publish.with_evaluate_chart(cfg.out, result)
    return _result(args, lambda: report_use_model.evaluate_text(result),
                   lambda: report_use_model.evaluate_record(result))


def cmd_compare(cfg: Config, args) -> int:
    # TensorFlow loads here, after quiet_tensorflow() (see cmd_train)
    from . import report_compare, report_inputs
    from .publish import run_compare, run_compare_inputs

    input_sets = getattr(args, "input_sets", [cfg.inputs])  # set where --inputs was given
    if len(input_sets) > 1:
        result, charts = run_compare_inputs(cfg, input_sets, seeds=args.seeds, calls=args.calls, command=args.command_line)
        return _result(args, lambda: report_inputs.compare_inputs_text(result, list(map(str, charts))),
                       lambda: report_inputs.compare_inputs_record(result))
    result = run_compare(cfg, seeds=args.seeds, calls=args.calls, command=args.command_line)
    return _result(args, lambda: report_compare.comparison_text(result, Path(cfg.out)),
                   lambda: report_compare.comparison_record(result))


def cmd_backtest(cfg: Config, args) -> int:
    # TensorFlow loads here, after quiet_tensorflow() (see cmd_train)
    from . import report_backtest, report_coins, report_inputs, report_windows
    from .publish import run_backtest, run_backtest_coins, run_backtest_inputs, run_backtest_windows

    input_sets = getattr(args, "input_sets", [cfg.inputs])  # set where --inputs was given
    if len(input_sets) > 1:
        sources = getattr(args, "sources", None) or {cfg.ticker: None}
        result, record, charts = run_backtest_inputs(cfg, args.backtest, sources, input_sets,
                                                     command=args.command_line)
        return _result(args, lambda: report_inputs.inputs_text(result, list(map(str, charts))), lambda: record)
    if args.backtest.windows:
        sources = getattr(args, "sources", None) or {cfg.ticker: None}
        result, record, charts = run_backtest_windows(cfg, args.backtest, sources, command=args.command_line)
        return _result(args, lambda: report_windows.windows_text(result, list(map(str, charts))), lambda: record)
    if len(getattr(args, "sources", None) or ()) > 1:
        result, record, charts = run_backtest_coins(cfg, args.backtest, args.sources, command=args.command_line)
        return _result(args, lambda: report_coins.coins_text(result, list(map(str, charts))), lambda: record)
    result, record = run_backtest(cfg, args.backtest, command=args.command_line)
    return _result(args, lambda: report_backtest.backtest_text(result), lambda: record)


def cmd_bench(cfg: Config, args) -> int:
    # TensorFlow loads here, after quiet_tensorflow() (see cmd_train)
    from . import report_compare
    from .bench import run_bench

    result = run_bench(window=args.window, units=args.units, calls=args.calls, batch=args.batch, seed=args.seed,
                       train_epochs=args.train_epochs, train_rows=args.train_rows)
    return _result(args, lambda: report_compare.bench_table(result),
                   lambda: report_compare.bench_record(result))


COMMANDS = {
    "data": cmd_data, "train": cmd_train, "predict": cmd_predict,
    "evaluate": cmd_evaluate, "compare": cmd_compare, "backtest": cmd_backtest, "bench": cmd_bench,
}


NEEDS_TENSORFLOW = {"train", "predict", "evaluate", "compare", "backtest", "bench"}


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("forecast")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _out_of_memory(e: BaseException) -> bool:
    """numpy's MemoryError, or TensorFlow's ResourceExhaustedError (an allocation it could not make)."""
    return isinstance(e, MemoryError) or type(e).__name__ == "ResourceExhaustedError"


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        args.command_line = "python -m forecast " + shlex.join(argv)
        _setup_logging(args.quiet)
        cfg = config_from_args(args, parser)
        if args.command == "backtest":
            args.backtest = backtest_settings_from_args(args, parser)
        # --json: stdout carries the one JSON object and nothing else; whatever else is printed
        # (Keras' progress bars write to sys.stdout) goes to stderr, and _result prints to this.
        args.stdout = sys.stdout
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            # Library warnings (pandas' ParserWarning, Keras notes) are not the user's business;
            # what matters reaches them as a log line or one error line.
            warnings.simplefilter("ignore")
            if args.command in NEEDS_TENSORFLOW:
                from .runtime import quiet_tensorflow  # inside main, as every command's imports (cmd_train)

                quiet_tensorflow()
            return COMMANDS[args.command](cfg, args)
    except ForecastError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; files already saved are intact", file=sys.stderr)
        return 130
    except Exception as e:
        if _out_of_memory(e):
            print("error: out of memory; try a smaller --units, --batch-size or --batch", file=sys.stderr)
            return 1
        if isinstance(e, OSError):  # unwritable --out, a folder where a file should be: the user's to fix
            print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
