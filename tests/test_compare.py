"""compare: both cells on one split, seeds, DM tests on the right pairs, timing, the report files."""

import json
import shutil

import numpy as np
import pytest

from forecast import compare, evaluate, report
from forecast.__main__ import main
from forecast.config import Config
from forecast.data_csv import load_csv

from .conftest import random_walk, write_yahoo_csv

TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
        "--calls", "3", "--quiet"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny two-seed comparison, shared by the tests that only read its outputs."""
    tmp = tmp_path_factory.mktemp("compare")
    csv = write_yahoo_csv(tmp / "prices.csv", random_walk(150, seed=3))
    cfg = Config(csv=csv, out=tmp / "out", window=5, units=4, epochs=2, batch_size=16, patience=1, quiet=True)
    result = compare.run_compare(cfg, seeds=2, calls=3, command="test")
    return cfg, result, json.loads((cfg.out / "comparison.json").read_text())


def test_writes_the_three_files_and_the_runs(compared):
    cfg, _, _ = compared
    assert (cfg.out / "comparison.md").read_text().startswith("# GRU vs LSTM")
    assert (cfg.out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in cfg.out.iterdir()) == [
        "comparison.json", "comparison.md", "comparison.png", "gru", "lstm", "seeds"]
    assert sorted(p.name for p in (cfg.out / "seeds").iterdir()) == ["gru-43", "lstm-43"]


def test_dm_tests_use_the_right_pairs_seed_and_naive(compared):
    """Naive is the previous close, taken from the raw series; seed 42's forecasts make `dm`,
    each seed's its own entry of `dm_by_seed`."""
    cfg, c, _ = compared
    close = load_csv(cfg.csv).close
    actual = close.loc[c.split["test"].first:].to_numpy()
    previous = close.shift(1).loc[c.split["test"].first:].to_numpy()
    np.testing.assert_array_equal(c.previous, previous)
    for k, seed in enumerate(c.seeds):
        gru, lstm = (c.cells[cell].runs[k].test.forecast.point for cell in ("gru", "lstm"))
        assert c.cells["gru"].runs[k].trained.info.seed == seed
        expected = {"gru_vs_lstm": evaluate.diebold_mariano(actual, gru, lstm),
                    "gru_vs_naive": evaluate.diebold_mariano(actual, gru, previous),
                    "lstm_vs_naive": evaluate.diebold_mariano(actual, lstm, previous)}
        assert c.dm_by_seed[seed] == expected
        if k == 0:
            assert c.dm == expected
    assert c.dm_by_seed[43] != c.dm_by_seed[42]


def test_seed_spreads_and_paired_differences(compared):
    _, c, record = compared
    for cell in ("gru", "lstm"):
        maes = [r.test.metrics.mae for r in c.cells[cell].runs]
        assert record[cell]["seeds"]["mae"] == {"mean": pytest.approx(np.mean(maes)),
                                               "std": pytest.approx(np.std(maes, ddof=1)), "values": maes}
        assert record[cell]["mae"] == pytest.approx(np.mean(maes))
    gru = record["gru"]["seeds"]["mae"]["values"]
    lstm = record["lstm"]["seeds"]["mae"]["values"]
    assert record["paired_difference_gru_minus_lstm"]["mae"]["values"] == pytest.approx([g - l for g, l in zip(gru, lstm)])


def test_json_layout(compared):
    _, _, record = compared
    for cell in ("gru", "lstm"):
        r = record[cell]
        for key in ("mae", "rmse", "mape", "directional_accuracy", "mae_ratio_vs_naive", "params", "latency_ms",
                    "predict_latency_ms", "throughput_windows_per_s", "train_seconds_per_epoch", "intervals"):
            assert key in r, key
        assert set(r["intervals"]) == {"80", "95"}
        assert len(r["intervals"]["80"]["coverage"]["values"]) == 2
    assert {"mae", "rmse", "mape", "intervals"} == set(record["naive"])
    assert record["dm_test"]["seed"] == 42
    assert [d["seed"] for d in record["dm_test_by_seed"]] == [42, 43]


def test_both_cells_share_the_test_days_and_naive(compared):
    cfg, c, record = compared
    for cell in ("gru", "lstm"):
        metrics = json.loads((cfg.out / cell / "metrics.json").read_text())
        assert metrics["first_date"] == record["split"]["test"]["first"]
        assert {k: metrics["naive"][k] for k in ("mae", "rmse", "mape")} == pytest.approx(
            {k: record["naive"][k] for k in ("mae", "rmse", "mape")})


def test_reuses_matching_saved_models_and_retrains_on_change(compared, tmp_path):
    cfg, _, _ = compared
    out = tmp_path / "out"
    shutil.copytree(cfg.out, out)  # copy2 keeps the modification times
    before = (out / "gru" / "model.keras").stat().st_mtime_ns
    args = ["compare", "--csv", str(cfg.csv), "--out", str(out), *TINY]
    assert main([*args, "--seeds", "2"]) == 0
    again = json.loads((out / "comparison.json").read_text())
    assert again["gru"]["reused_saved_model"] == [True, True]
    assert (out / "gru" / "model.keras").stat().st_mtime_ns == before
    # Other settings: the saved models no longer match and are retrained.
    assert main([*args, "--units", "3", "--seeds", "1"]) == 0
    changed = json.loads((out / "comparison.json").read_text())
    assert changed["gru"]["reused_saved_model"] == [False]
    assert changed["gru"]["params"] != again["gru"]["params"]


def test_markdown_has_tables_and_verdict(compared):
    cfg, c, _ = compared
    text = (cfg.out / "comparison.md").read_text()
    for heading in ("## Next-day error on the test period", "## Seeds", "## Prediction intervals",
                    "## Is the difference real?", "## Speed (this machine)", "## What this means"):
        assert heading in text
    for line in report.comparison_verdict(c):
        assert f"- {line}" in text


def test_cli_prints_table_verdict_and_files(compared, tmp_path, capsys):
    cfg, _, _ = compared
    out = tmp_path / "out"
    shutil.copytree(cfg.out, out)
    assert main(["compare", "--csv", str(cfg.csv), "--out", str(out), "--seeds", "2", *TINY]) == 0
    text = capsys.readouterr().out
    assert text.startswith("| forecast | MAE (USD) |")
    assert text.rstrip().endswith(f"written: {out / 'comparison.json'}, {out / 'comparison.md'}, {out / 'comparison.png'}")


def test_bad_data_is_one_line_error(tmp_path, capsys):
    csv = write_yahoo_csv(tmp_path / "short.csv", random_walk(20))
    assert main(["compare", "--csv", str(csv), "--out", str(tmp_path / "out"), *TINY]) == 1
    err = capsys.readouterr().err
    assert err == f"error: too little data: 20 daily closes from {csv}, need at least 25\n"
    assert not (tmp_path / "out").exists()
