"""compare over several sets of inputs (repeated --inputs): each set a one-set comparison of its own,
saved in its own folder and reused like one; the DM tests between sets of the same cell and seed; the
table, sentences and files; the CLI's rules."""

import json
import math
import shutil

import numpy as np
import pytest

from forecast import compare, publish, report_inputs
from forecast.csv_source import load_csv
from forecast.errors import ConfigError

from .backtest_helpers import run_cli
from .conftest import COMPARE_TINY
from .test_backtest_coins import _usage_error

OTHER = "close,high,volume"
OTHER_SET = ("close", "high", "volume")


@pytest.fixture(scope="module")
def over_inputs(compared, tmp_path_factory):
    """The tiny two-seed comparison's models (the close alone) copied into <out>/close/, then a
    comparison of the close against the close, high and volume: the close's four models are
    reused, the other set's four trained. (cfg, out, result, record, text)."""
    cfg, _, _ = compared
    out = tmp_path_factory.mktemp("compare-inputs") / "out"
    for name in ("gru", "lstm", "seeds"):
        shutil.copytree(cfg.out / name, out / "close" / name)
    result, charts = publish.run_compare_inputs(cfg.replace(out=out), [("close",), OTHER_SET], seeds=2, calls=3,
                                                command="test")
    return (cfg, out, result, json.loads((out / "comparison.json").read_text()),
            report_inputs.compare_inputs_text(result, list(map(str, charts))))


def test_files_folders_and_reuse(compared, over_inputs):
    cfg, out, result, record, text = over_inputs
    assert sorted(p.name for p in out.iterdir()) == [
        "close", "close+high+volume", "comparison-close+high+volume.png", "comparison-close.png",
        "comparison.json", "comparison.md", "comparison.png"]
    for path in ("comparison.png", "comparison-close.png", "comparison-close+high+volume.png"):
        assert (out / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for cell, seed_dir in (("gru", "gru-43"), ("lstm", "lstm-43")):
        for folder in (out / "close+high+volume" / cell, out / "close+high+volume" / "seeds" / seed_dir):
            assert json.loads((folder / "model.json").read_text())["inputs"] == list(OTHER_SET)
    assert record["inputs"] == ["close", OTHER]
    assert record["models"] == {"total": 8, "trained": 4, "reused": 4, "folders": {
        "close": str(out / "close"), OTHER: str(out / "close+high+volume")}}
    assert [record["runs"][s]["gru"]["reused_saved_model"] for s in ("close", OTHER)] == [[True, True], [False, False]]
    assert record["runs"][OTHER]["settings"]["inputs"] == list(OTHER_SET)
    # Read back, the close's models give the one-set comparison's forecasts exactly.
    for cell in ("gru", "lstm"):
        for k in (0, 1):
            np.testing.assert_array_equal(result.runs[("close",)].cells[cell].runs[k].test.forecast.point,
                                          compared[1].cells[cell].runs[k].test.forecast.point)
    assert text.splitlines()[-2] == (f"4 of 8 models trained now, 4 reused; saved in {out / 'close'}, "
                                       f"{out / 'close+high+volume'}")


def test_dm_between_sets_pairs_the_same_cell_and_seed(over_inputs):
    """Diebold-Mariano with h = 1 by hand: d = e_other² − e_close² per day, statistic
    mean(d) / sqrt(var(d) / n) times the HLN factor sqrt((n − 1) / n), a negative one favouring the
    other set; each seed against the same seed, on the closes read from the file."""
    cfg, out, result, record, _ = over_inputs
    close = load_csv(cfg.csv).close
    actual = close.loc[record["split"]["test"]["first"]:].to_numpy()
    n = len(actual)
    for cell in ("gru", "lstm"):
        tests = record["summary"]["rows"][OTHER][cell]["dm_vs_first_inputs_by_seed"]
        assert [t["seed"] for t in tests] == [42, 43]
        for k, t in enumerate(tests):
            base, other = (result.runs[i].cells[cell].runs[k].test.forecast.point for i in (("close",), OTHER_SET))
            d = (actual - other) ** 2 - (actual - base) ** 2
            statistic = d.mean() / math.sqrt(((d - d.mean()) ** 2).mean() / n) * math.sqrt((n - 1) / n)
            assert t["statistic"] == pytest.approx(statistic, rel=1e-9)
            assert result.dm[cell][OTHER_SET][k].statistic == t["statistic"]
        assert record["summary"]["rows"]["close"][cell]["dm_vs_first_inputs_by_seed"] is None


def test_table_and_sentences(over_inputs):
    cfg, out, result, record, text = over_inputs
    md = (out / "comparison.md").read_text()
    assert md.startswith("# GRU vs LSTM over inputs: next-day close on one test period\n")
    assert ("| inputs | cell | MAE / naive | RMSE / naive | direction right | DM vs naive | DM vs close |\n"
            "|---|---|---:|---:|---:|---:|---:|\n| close | GRU | ") in md
    assert "\n## Inputs close\n" in md and f"\n## Inputs {OTHER}\n" in md
    rows = record["summary"]["rows"]
    for s in ("close", OTHER):
        for cell in ("gru", "lstm"):
            by_seed = rows[s][cell]["mae_ratio_by_seed"]
            assert rows[s][cell]["mae_ratio_vs_naive"] == pytest.approx(sum(by_seed) / 2)
            assert by_seed == [record["runs"][s][cell]["seeds"]["mae_ratio_vs_naive"]["values"][k] for k in (0, 1)]
    verdict = record["summary"]["verdict"]
    assert verdict[0].startswith(f"GRU: MAE / naive close {rows['close']['gru']['mae_ratio_vs_naive']:.4f}; "
                                 f"{OTHER} {rows[OTHER]['gru']['mae_ratio_vs_naive']:.4f} (DM against close, by seed: p ")
    assert verdict[2].startswith(f"Against close, over 4 Diebold-Mariano tests (each cell, seed and set of {OTHER}): ")
    assert all(line in text.splitlines() for line in verdict)
    assert text.splitlines()[0] == (f"comparison of 2 sets of inputs on the test days {record['split']['test']['first']}"
                                      f"..{record['split']['test']['last']} (22 days), 2 seeds per cell")


def test_the_command_line_reuses_every_model(over_inputs, tmp_path):
    cfg, out, _, record, _ = over_inputs
    again = tmp_path / "out"
    shutil.copytree(out, again)
    code, stdout, stderr = run_cli(["compare", "--csv", str(cfg.csv), "--out", str(again), *COMPARE_TINY,
                                    "--seeds", "2", "--inputs", "close", "--inputs", OTHER, "--json"])
    assert code == 0, stderr
    rerun = json.loads(stdout)
    assert rerun == json.loads((again / "comparison.json").read_text())
    assert rerun["models"]["trained"] == 0 and rerun["summary"]["rows"] == record["summary"]["rows"]


def test_chart_inputs_name_each_set(over_inputs):
    _, _, result, record, _ = over_inputs
    rows = record["summary"]["rows"]
    summary = report_inputs.compare_inputs_chart_inputs(result)
    assert summary["coins"] == ["close", OTHER] and summary["days"] == "the 22 test days"
    assert summary["ratio"] == {label: [rows[s][cell]["mae_ratio_vs_naive"] for s in ("close", OTHER)]
                                for label, cell in (("GRU", "gru"), ("LSTM", "lstm"))}
    assert summary["ratio_low"]["LSTM"] == [min(rows[s]["lstm"]["mae_ratio_by_seed"]) for s in ("close", OTHER)]
    assert report_inputs.set_chart_inputs(result, OTHER_SET)["inputs"] == OTHER


def test_refusals(compared, tmp_path):
    cfg, _, _ = compared
    with pytest.raises(ConfigError) as e:
        compare.compare_inputs(cfg.replace(out=tmp_path / "x"), [("close",)], save=publish.save_run)
    assert str(e.value) == "a comparison over inputs needs at least 2 different sets of them, got close"
    code, out, err = _usage_error(["compare", "--csv", str(cfg.csv), "--inputs", "ohlcv", "--inputs",
                              "close,open,high,low,volume"])
    assert (code, out) == (2, "") and err.splitlines()[-1] == "python -m forecast: error: --inputs ohlcv is given twice"
    # A price file without a column one set reads: one line, exit 1, before any training.
    close_only = tmp_path / "close.csv"
    close_only.write_text("Date,Close\n" + "".join(
        f"{line.split(',')[0]},{line.split(',')[4]}\n" for line in cfg.csv.read_text().splitlines()[1:]))
    code, out, err = run_cli(["compare", "--csv", str(close_only), *COMPARE_TINY, "--inputs", "close",
                              "--inputs", "close,volume", "--out", str(tmp_path / "out")])
    assert (code, out, err) == (1, "", f"error: {close_only} cannot give the input 'volume': no 'Volume' column; "
                                       "it supports close\n")
    assert not (tmp_path / "out").exists()
