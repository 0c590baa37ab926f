"""What notebooks/gru_vs_lstm.ipynb calls, so that the notebook holds no logic of its own.

`start()` reads the notebook's settings from the environment, keeps TensorFlow's start-up lines
out of the notebook, shows charts inline and turns a ForecastError into one `error: ...` line
instead of a traceback. `load_prices` reads FORECAST_CSV when it is set (Yahoo Finance is then
never contacted) and otherwise downloads from Yahoo Finance with the cache in <root>/data/, or,
offline, runs on the newer of that cache and the embedded snapshot data/snapshot/btc-usd.csv.

Settings (environment variables; an empty one counts as unset):

    FORECAST_CSV     price file; unset: Yahoo Finance BTC-USD, cached in <root>/data/ (offline: the
                     embedded snapshot <root>/data/snapshot/btc-usd.csv)
    FORECAST_EPOCHS  most training epochs per model (default 100; early stopping usually ends sooner)
    FORECAST_SEEDS   seeds per cell in the comparison (default 3)
    FORECAST_CALLS   timed inference calls per path and cell (default 200)
    FORECAST_OUT     where models, metrics, charts and the executed notebook go (default
                     <root>/artifacts/notebook: its own folder, so the models the command line saves
                     in <root>/artifacts/<cell>/ are never replaced by a notebook run)

<root> is the repository root: the folder above notebooks/ when the kernel runs there (Jupyter
starts a kernel in its notebook's folder), else the working folder. Relative paths in
FORECAST_CSV and FORECAST_OUT are relative to it, as they are for `python -m forecast` run from
the root.

`python -m forecast.notebook` runs the notebook headless (it needs requirements-dev.txt) and
writes the executed copy, with every table and chart, to <FORECAST_OUT>/gru_vs_lstm.ipynb.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import ConfigError, ForecastError, TooLittleData
from .files import write_atomic
from .plots import window_chart as draw_window
from .runtime import quiet_tensorflow
from .sources import load_prices as load
from .windows import rows_needed

NOTEBOOK = Path("notebooks") / "gru_vs_lstm.ipynb"
OFFLINE_HINT = "set FORECAST_CSV=path/to/prices.csv (relative to the repository root) to run offline"
# The command line's advice ("pass a price file: --csv PATH") at the end of a data error, which
# the notebook replaces with its own: the notebook has no --csv.
_CLI_HINT = re.compile(r"[;,]?\s*(or |to run offline, )?pass (a price file: )?--csv PATH\.?\s*$")
_DEFAULTS = Config()
# The notebook's own output folder: `python -m forecast train` and `compare` save to artifacts/<cell>/,
# and a notebook run (other epochs, other seeds) must never replace those models.
DEFAULT_OUT = Path("artifacts") / "notebook"


@dataclass(frozen=True)
class Settings:
    root: Path       # the repository root: relative paths start here
    cfg: Config      # every stage's settings; epochs, csv, cache_dir and out from the environment
    seeds: int       # seeds per cell in the comparison
    calls: int       # timed inference calls per path and cell

    def describe(self) -> str:
        cfg = self.cfg
        prices = (f"{cfg.csv} (FORECAST_CSV; Yahoo Finance is not contacted)" if cfg.csv is not None else
                  f"Yahoo Finance {cfg.ticker}, cached in {cfg.cache_dir}; offline, the newer of that cache "
                  "and the embedded snapshot data/snapshot/btc-usd.csv")
        return "\n".join([
            f"prices:  {prices}",
            f"epochs:  at most {cfg.epochs} per model (FORECAST_EPOCHS); early stopping on validation loss",
            f"seeds:   {self.seeds} per cell, from {cfg.seed} (FORECAST_SEEDS)",
            f"timing:  {self.calls} calls per path and cell (FORECAST_CALLS)",
            f"output:  {cfg.out} (FORECAST_OUT)",
        ])


def repo_root(cwd: Path | None = None) -> Path:
    """The folder above notebooks/ when `cwd` (default: the working folder) is notebooks/, else `cwd`."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    return cwd.parent if cwd.name == NOTEBOOK.parent.name else cwd


def _whole(environ, name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {text!r}")
    return value


def _path(environ, name: str, root: Path) -> Path | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(root / path))


def settings(environ=None, cwd: Path | None = None) -> Settings:
    """The notebook's settings from `environ` (default: os.environ); see the module docstring."""
    environ = os.environ if environ is None else environ
    root = repo_root(cwd)
    cfg = Config(
        csv=_path(environ, "FORECAST_CSV", root),
        epochs=_whole(environ, "FORECAST_EPOCHS", _DEFAULTS.epochs),
        cache_dir=root / "data",
        out=_path(environ, "FORECAST_OUT", root) or root / DEFAULT_OUT,
        quiet=True,  # no Keras progress lines in the notebook; each step prints its summary
    )
    return Settings(root=root, cfg=cfg, seeds=_whole(environ, "FORECAST_SEEDS", 3),
                    calls=_whole(environ, "FORECAST_CALLS", 200))


def error_line(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's custom exception handler for ForecastError: the cell fails (Run All stops there)
    and shows the error as one `error: ...` line, no traceback. A ForecastError is the user's
    input or environment, not a bug; its message says what to do."""
    stb = [f"error: {value}"]
    # IPython ignores what a custom handler returns: it must show the error itself. _showtraceback
    # is the hook IPython's front ends implement (ipykernel sends it as the cell's error output).
    shell._showtraceback(etype, value, stb)
    return stb


def start(environ=None) -> Settings:
    """Run first in the notebook: one-line errors, inline charts, TensorFlow without its start-up
    noise, then the settings (a bad one is a one-line error too)."""
    shell = _ipython()
    if shell is not None:
        shell.set_custom_exc((ForecastError,), error_line)
        shell.run_line_magic("matplotlib", "inline")  # plots builds Figures without pyplot: show them as images
    quiet_tensorflow()  # before any module that loads Keras
    return settings(environ)


def _ipython():
    try:
        from IPython import get_ipython  # Jupyter's, present only where the notebook tools are installed
    except ImportError:
        return None
    return get_ipython()


def load_prices(run: Settings, **yahoo_kwargs):
    """The prices the notebook uses: FORECAST_CSV if set, else Yahoo Finance with the cache in
    <root>/data/ (offline: the newer of the cache and the embedded snapshot). A failure without
    FORECAST_CSV says how to run on a price file."""
    try:
        return load(run.cfg, min_rows=rows_needed(run.cfg.window), **yahoo_kwargs)
    except TooLittleData:
        raise
    except ForecastError as e:
        if run.cfg.csv is not None:
            raise
        raise type(e)(f"{_CLI_HINT.sub('', str(e))}; {OFFLINE_HINT}") from None


def split_table(dataset) -> str:
    """Markdown: first and last target day and the number of days of each split."""
    names = {"train": "training", "val": "validation (early stopping, interval calibration)",
             "test": "test (reported errors only)"}
    lines = ["| split | first target day | last target day | days |", "|---|---|---|---:|"]
    for name, span in dataset.split.describe(dataset.dates).items():
        lines.append(f"| {names[name]} | {span['first']} | {span['last']} | {span['days']:,} |")
    return "\n".join(lines)


def window_chart(prices, dataset, index: int | None = None):
    """One example (default: the first test window) in USD and as the model sees it."""
    i = dataset.split.test.start if index is None else index
    X, y = dataset.X[i:i + 1], dataset.y[i:i + 1]
    days = prices.close.index[i:i + X.shape[1] + 1]  # the window's days and its target day
    return draw_window(days, X[0], y[0], dataset.scaling.inputs(X)[0], dataset.scaling.targets(X, y)[0])


def parameter_table(cfg: Config) -> str:
    """Markdown: the weights of a fresh GRU and LSTM model with cfg's window and units, as Keras
    counts them (shapes and sizes of each weight, the Dense head, the total)."""
    quiet_tensorflow()
    from .models import build_model  # Keras: only in the kernel, after quiet_tensorflow()

    cells = ("gru", "lstm")
    models = {cell: build_model(cell, cfg.window, 1, cfg.units) for cell in cells}
    weights = {cell: {w.name: tuple(w.shape) for w in m.get_layer(cell).weights} for cell, m in models.items()}
    rows = (("kernel", "input weights W (1 feature → every block)"),
            ("recurrent_kernel", "recurrent weights U (state → every block)"),
            ("bias", "biases"))

    def size(shape) -> int:
        n = 1
        for d in shape:
            n *= d
        return n

    def cell_text(shape) -> str:
        return f"{' × '.join(map(str, shape))} = {size(shape):,}" if len(shape) > 1 else f"{size(shape):,}"

    lines = [f"| weights ({cfg.units} units) | GRU | LSTM |", "|---|---:|---:|"]
    for key, label in rows:
        lines.append(f"| {label} | {cell_text(weights['gru'][key])} | {cell_text(weights['lstm'][key])} |")
    head = {cell: m.get_layer("next_day").count_params() for cell, m in models.items()}
    lines.append(f"| Dense(1) head: {cfg.units} weights + 1 bias | {head['gru']:,} | {head['lstm']:,} |")
    total = {cell: m.count_params() for cell, m in models.items()}
    lines.append(f"| **total** | **{total['gru']:,}** | **{total['lstm']:,}** |")
    lines.append(f"| GRU / LSTM | {total['gru'] / total['lstm']:.2f} | |")
    return "\n".join(lines)


def train_and_save(run: Settings, prices, cell: str):
    """train.train for one cell, saved to <out>/<cell>/ (the comparison then reuses it); prints
    what training did."""
    from . import publish, report, train  # TensorFlow: only in the kernel, after start()

    trained = train.train(run.cfg.replace(cell=cell), prices)
    directory = publish.save_trained(run.cfg.out, trained)
    print(report.training_summary(trained, directory))
    return trained


# --- python -m forecast.notebook: the notebook, headless ----------------------------------


def _headings(nb) -> dict[int, str]:
    """For each code cell's index, the last markdown heading above it."""
    heading, out = "", {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found = [line for line in cell.source.splitlines() if line.startswith("#")]
            heading = found[-1].lstrip("# ").strip() if found else heading
        else:
            out[i] = heading
    return out


def _error_line(nb, error) -> str:
    """What the failed cell showed: one `error: ...` line for a ForecastError, else everything."""
    for cell in reversed(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = out.get("traceback", [])
                if len(tb) == 1 and tb[0].startswith("error: "):
                    return tb[0]
    return str(error)


def execute(path: Path, timeout: int = 3600, progress=None):
    """Runs the notebook at `path` in a fresh kernel, in the notebook's folder; returns the
    executed notebook, or raises nbclient's CellExecutionError (its `notebook` attribute set
    to the notebook as far as it ran)."""
    # The notebook tools (requirements-dev.txt): main checks they are there before this runs.
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    headings = _headings(nb)
    seen = set()

    def on_start(cell, cell_index, **_):
        heading = headings.get(cell_index)
        if progress is not None and heading and heading not in seen:
            seen.add(heading)
            progress(heading)

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", on_cell_start=on_start,
                            resources={"metadata": {"path": str(Path(path).resolve().parent)}},
                            # the kernel's own warnings (plain TCP on localhost) are not the user's business
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    try:
        client.execute()
    except CellExecutionError as e:
        e.notebook = nb
        raise
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forecast.notebook",
        description="Run the notebook top to bottom in a fresh kernel, with the FORECAST_* settings "
                    "from the environment (see the README's quick start), and save the executed copy.",
    )
    parser.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK,
                        help=f"the notebook (default: {NOTEBOOK}, from the repository root)")
    parser.add_argument("--output", type=Path,
                        help="where the executed copy goes; - for stdout, the progress then on stderr "
                             "(default: <FORECAST_OUT>/<notebook name>)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take (default 3600)")
    args = parser.parse_args(argv)

    def fail(message: str) -> int:
        print(message if message.startswith("error: ") else f"error: {message}", file=sys.stderr)
        return 1

    try:  # the notebook tools are in requirements-dev.txt: without them, one line saying so
        import nbclient  # noqa: F401
        import nbformat
    except ImportError:
        return fail("running the notebook needs the notebook tools: pip install -r requirements-dev.txt")
    if not args.notebook.is_file():
        return fail(f"no notebook at {args.notebook}; run this from the repository root or pass its path")
    try:
        run = settings(cwd=args.notebook.resolve().parent)  # the settings the kernel will read
    except ForecastError as e:
        return fail(str(e))
    output = args.output or run.cfg.out / args.notebook.name
    to_stdout = str(output) == "-"
    progress = sys.stderr if to_stdout else sys.stdout  # stdout carries the notebook alone
    print(f"running {args.notebook} with", textwrap.indent(run.describe(), "  "), sep="\n", file=progress, flush=True)
    from nbclient.exceptions import CellExecutionError  # there: checked above

    try:
        nb = execute(args.notebook, args.timeout, progress=lambda h: print(f"- {h}", file=progress, flush=True))
    except CellExecutionError as e:
        return fail(_error_line(e.notebook, e))
    if to_stdout:
        nbformat.write(nb, sys.stdout)
        return 0
    try:
        write_atomic(Path(output), lambda tmp: nbformat.write(nb, str(tmp)))
    except ForecastError as e:  # SaveError: no space, no permission
        return fail(str(e))
    print(f"executed notebook: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
