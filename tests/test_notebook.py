"""The notebook, as a newcomer runs it: installed package, settings from the environment, headless run.

The two notebook runs here (marked slow, about 20 s and 10 s) execute a copy of the notebook in a
temporary checkout layout (<root>/notebooks/gru_vs_lstm.ipynb) through `python -m forecast.notebook`'s
code, with a seeded price file written by the test: they need no shared data, never read or write
this checkout's data/ cache, and never contact Yahoo Finance (yfinance is replaced in the kernel by
a module that records any use and fails). The kernel imports this checkout's `forecast` (PYTHONPATH),
whatever the virtual environment has installed.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest

from forecast import notebook
from forecast.errors import ConfigError, DataError
from tests.conftest import random_walk, write_yahoo_csv

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "gru_vs_lstm.ipynb"

# The notebook's outline: its markdown headings, in order. Report output adds none.
OUTLINE = [
    "# GRU or LSTM for next-day Bitcoin prices?",
    "## Settings",
    "## 1. Prices",
    "## 2. The series and the chronological split",
    "## 3. One 60-day window",
    "## 4. Two recurrent cells",
    "## 5. Train the GRU and the LSTM",
    "## 6. GRU vs LSTM vs naive",
    "## 7. Prediction intervals",
    "## 8. Inference speed",
    "## 9. What it means",
]
# Each chart once, in the section it belongs to: price split, window, two loss histories, comparison.
CHARTS = {
    "## 2. The series and the chronological split": 1,
    "## 3. One 60-day window": 1,
    "## 5. Train the GRU and the LSTM": 2,
    "## 6. GRU vs LSTM vs naive": 1,
}
# The verdict's sentence about GRU against LSTM: exactly one of these is always in it.
BETWEEN_CELLS = re.compile(r"GRU and LSTM are not significantly different|is significantly more accurate than")
TF_NOISE = re.compile(r"I0000|W0000|E0000|oneDNN|cuda|TF_ENABLE_ONEDNN_OPTS|absl::", re.IGNORECASE)

# Runs in the kernel before the notebook (IPython startup file): yfinance is a module whose every
# use is written to FORECAST_TEST_YAHOO_LOG and fails like a dead network (the connectivity probe
# leaves the answer to it), the download retries do not wait, and there is no embedded snapshot to
# fall back on (as in a checkout without data/snapshot/; the fallback's tests: test_yahoo_source.py).
BLOCK_YAHOO = '''
import os, sys, types
from pathlib import Path

class _NoYahoo(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        with Path(os.environ["FORECAST_TEST_YAHOO_LOG"]).open("a") as log:
            log.write(name + "\\n")
        raise ConnectionError(f"tests/test_notebook.py blocks Yahoo Finance (yfinance.{name})")

sys.modules["yfinance"] = _NoYahoo("yfinance")
import forecast.yahoo_source
forecast.yahoo_source.BACKOFF_S = 0.0
forecast.yahoo_source.reach_yahoo = lambda *args, **kwargs: None
forecast.yahoo_source.SNAPSHOTS.clear()
'''


def code_sources(nb) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def headings(nb) -> list[str]:
    return [line for c in nb["cells"] if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if line.startswith("#")]


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_notebook_outline_and_no_path_hacks():
    nb = json.loads(NOTEBOOK.read_text())
    assert headings(nb) == OUTLINE
    for source in code_sources(nb) + [p.read_text() for p in (ROOT / "benchmarks").glob("*.py")]:
        assert "sys.path" not in source, "the package is installed (pip install -r requirements.txt)"


def test_the_project_installs_as_a_package_with_the_same_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    assert meta["name"] == "btc-forecast" and meta["requires-python"] == ">=3.11"
    assert project["tool"]["setuptools"]["packages"] == ["forecast"]
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "-e ." in lines, "pip install -r requirements.txt installs the package (editable)"
    assert meta["dependencies"] == [line for line in lines if line != "-e ."]


# --- settings and errors, in this process ------------------------------------------------


def test_settings_default_to_yahoo_with_the_cache_and_output_in_the_root(tmp_path):
    run = notebook.settings({}, cwd=tmp_path / "notebooks")
    assert run.root == tmp_path
    assert run.cfg.csv is None and run.cfg.cache_dir == tmp_path / "data"
    assert run.cfg.out == tmp_path / "artifacts" / "notebook"  # its own folder: never the CLI's artifacts/<cell>/
    assert (run.cfg.epochs, run.seeds, run.calls) == (100, 3, 200)
    assert "embedded snapshot data/snapshot/btc-usd.csv" in run.describe()  # says what offline runs on


def test_relative_paths_are_relative_to_the_root_not_notebooks(tmp_path):
    env = {"FORECAST_CSV": "../shared/data/btc-usd.csv", "FORECAST_OUT": "out", "FORECAST_EPOCHS": " 3 ",
           "FORECAST_SEEDS": "2", "FORECAST_CALLS": "5"}
    for cwd in (tmp_path / "repo" / "notebooks", tmp_path / "repo"):  # the kernel's folder, or the root
        run = notebook.settings(env, cwd=cwd)
        assert run.cfg.csv == tmp_path / "shared" / "data" / "btc-usd.csv"
        assert run.cfg.out == tmp_path / "repo" / "out"
        assert (run.cfg.epochs, run.seeds, run.calls) == (3, 2, 5)
    assert notebook.settings({"FORECAST_CSV": str(tmp_path / "p.csv")}, cwd=tmp_path).cfg.csv == tmp_path / "p.csv"
    assert notebook.settings({"FORECAST_CSV": "  "}, cwd=tmp_path).cfg.csv is None  # empty: unset


@pytest.mark.parametrize("name, value", [("FORECAST_EPOCHS", "0"), ("FORECAST_SEEDS", "two"),
                                         ("FORECAST_CALLS", "1.5")])
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"^{name} must be a whole number of at least 1, got '{value}'$"):
        notebook.settings({name: value}, cwd=tmp_path)


def test_without_network_and_forecast_csv_the_error_says_how_to_run_offline(tmp_path):
    def no_network(ticker, start):
        raise ConnectionError("network is unreachable")

    run = notebook.settings({}, cwd=tmp_path / "notebooks")
    with pytest.raises(DataError) as caught:
        # Without the embedded snapshot (with it, BTC-USD runs on the snapshot: tests/test_yahoo_source.py).
        notebook.load_prices(run, fetch=no_network, sleep=lambda s: None, snapshots={})
    message = str(caught.value)
    assert "\n" not in message and "--csv" not in message  # the notebook has no --csv
    assert message.startswith("could not download 'BTC-USD' from Yahoo Finance (no network connection")
    assert message.endswith(notebook.OFFLINE_HINT) and "FORECAST_CSV=" in message
    assert not (tmp_path / "data").exists()  # nothing cached


# --- the notebook itself, in a kernel -----------------------------------------------------


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A checkout's layout in tmp: notebooks/ with a copy of the notebook, a garbage data/ cache;
    the kernel's environment: this checkout's package, yfinance blocked, no TF_CPP_MIN_LOG_LEVEL."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
    (root / "data").mkdir()
    (root / "data" / "BTC-USD.csv").write_text("Date,Close\n2020-01-01,not a price\n")
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-block-yahoo.py").write_text(BLOCK_YAHOO)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("FORECAST_TEST_YAHOO_LOG", str(tmp_path / "yahoo-calls.log"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the notebook must quiet TensorFlow itself
    for name in ("FORECAST_CSV", "FORECAST_EPOCHS", "FORECAST_SEEDS", "FORECAST_CALLS", "FORECAST_OUT"):
        monkeypatch.delenv(name, raising=False)
    return root


def outputs_by_section(nb) -> list[tuple[str, dict]]:
    """(the heading of the section a code cell is in, one of its outputs), in order."""
    section, found = None, []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            section = next((h for h in reversed("".join(cell["source"]).splitlines()) if h.startswith("## ")), section)
        else:
            found += [(section, out) for out in cell["outputs"]]
    return found


def text_of(out: dict) -> str:
    data = out.get("data", {})
    return "".join(out.get("text", "")) + "".join(data.get("text/markdown", "")) + "".join(data.get("text/plain", ""))


@pytest.mark.slow
def test_notebook_runs_offline_from_a_price_file(checkout, tmp_path, monkeypatch):
    """With FORECAST_OUT unset: the notebook writes to artifacts/notebook/ (the executed copy too)
    and leaves the models `python -m forecast train` saved in artifacts/gru/ byte for byte."""
    cache = (checkout / "data" / "BTC-USD.csv").read_bytes()
    (checkout / "prices").mkdir()
    write_yahoo_csv(checkout / "prices" / "tiny.csv", random_walk(300, seed=7))  # seeded, BTC-like
    cli_run = checkout / "artifacts" / "gru"  # what `python -m forecast train --cell gru` left
    cli_run.mkdir(parents=True)
    (cli_run / "model.json").write_text('{"cell": "gru", "made by": "python -m forecast train"}\n')
    (cli_run / "model.keras").write_bytes(b"PK\x03\x04 the CLI's weights")
    before = {p.name: p.read_bytes() for p in cli_run.iterdir()}
    monkeypatch.setenv("FORECAST_CSV", "prices/tiny.csv")  # relative to the root, not to notebooks/
    monkeypatch.setenv("FORECAST_EPOCHS", "1")
    monkeypatch.setenv("FORECAST_SEEDS", "2")
    monkeypatch.setenv("FORECAST_CALLS", "3")
    own = checkout / "artifacts" / "notebook"
    executed = own / NOTEBOOK.name  # the default place of the executed copy
    # ipykernel forwards the C++ libraries' output (TensorFlow's start-up lines) into the notebook,
    # as it does for a user, only when it does not see pytest (PYTEST_CURRENT_TEST, set per phase).
    monkeypatch.delenv("PYTEST_CURRENT_TEST")

    assert notebook.main([str(checkout / "notebooks" / NOTEBOOK.name)]) == 0

    assert {p.name: p.read_bytes() for p in cli_run.iterdir()} == before, "the notebook replaced the CLI's model"
    assert sorted(p.name for p in (checkout / "artifacts").iterdir()) == ["gru", "notebook"]

    nb = json.loads(executed.read_text())
    outputs = outputs_by_section(nb)
    assert all(out["output_type"] != "error" for _, out in outputs)
    images = {}
    for section, out in outputs:
        if "image/png" in out.get("data", {}):
            images[section] = images.get(section, 0) + 1
    assert images == CHARTS, "each chart once, as an image, in its section"
    assert not [t for _, o in outputs if "image/png" not in o.get("data", {}) and "<Figure" in (t := text_of(o))]
    assert headings(nb) == OUTLINE
    report_headings = [line for _, o in outputs for line in text_of(o).splitlines() if line.lstrip().startswith("#")]
    assert report_headings == [], "report output must not add headings to the notebook's outline"
    verdicts = [section for section, o in outputs for _ in BETWEEN_CELLS.finditer(text_of(o))]
    assert verdicts == ["## 9. What it means"], "the verdict is shown once, at the end"
    seeds_notes = [section for section, o in outputs if "seeds table" in text_of(o)]
    assert seeds_notes == ["## 9. What it means"], "two seeds: the verdict is read with the seeds table"
    assert not any(p in text_of(o) for _, o in outputs for p in ("p = 0.000", "nanx", " nan ")), \
        "p-values below 0.001 read '< 0.001'; a missing ratio is said"
    noise = [text_of(o) for _, o in outputs if o.get("name") == "stderr" and TF_NOISE.search(text_of(o))]
    assert noise == [], "TensorFlow's start-up lines leaked into the notebook"

    result = json.loads((own / "comparison.json").read_text())
    assert result["data"]["source"] == str(checkout / "prices" / "tiny.csv") and result["data"]["rows"] == 300
    assert result["seeds"] == [42, 43]
    assert result["gru"]["reused_saved_model"][0] and result["lstm"]["reused_saved_model"][0], \
        "compare reuses the models the notebook trained"
    assert (own / "gru" / "model.keras").is_file() and (own / "lstm" / "model.keras").is_file()
    assert sorted(p.name for p in (checkout / "notebooks").iterdir()) == [NOTEBOOK.name]  # nothing written there
    assert not (tmp_path / "yahoo-calls.log").exists(), "Yahoo Finance was contacted"
    assert sorted(p.name for p in (checkout / "data").iterdir()) == ["BTC-USD.csv"]
    assert (checkout / "data" / "BTC-USD.csv").read_bytes() == cache


@pytest.mark.slow
def test_offline_without_forecast_csv_ends_in_one_line_naming_it(checkout, tmp_path, capsys):
    (checkout / "data" / "BTC-USD.csv").unlink()  # no cache: nothing to fall back on
    assert notebook.main([str(checkout / "notebooks" / NOTEBOOK.name), "--output", str(tmp_path / "x.ipynb")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("error: could not download 'BTC-USD' from Yahoo Finance (no network connection")
    assert err.rstrip().endswith(notebook.OFFLINE_HINT)
    assert (tmp_path / "yahoo-calls.log").read_text().split() == ["Ticker"]  # it did try, once: no network
    assert not (tmp_path / "x.ipynb").exists()


def test_output_dash_writes_the_executed_notebook_to_stdout(checkout, capsys):
    """`--output -`: stdout is the executed notebook alone (the progress goes to stderr), no file."""
    import nbformat

    tiny = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## 1. Sum"),
                                           nbformat.v4.new_code_cell("print(20 + 22)")])
    path = checkout / "notebooks" / "tiny.ipynb"
    nbformat.write(tiny, str(path))
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))

    assert notebook.main([str(path), "--output", "-"]) == 0

    out, err = capsys.readouterr()
    executed = json.loads(out)
    assert "".join(executed["cells"][1]["outputs"][0]["text"]) == "42\n"
    assert err.startswith(f"running {path} with") and "- 1. Sum" in err
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before  # no file named "-" or other
