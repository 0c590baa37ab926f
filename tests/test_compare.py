"""compare: both cells on one split, seeds, DM tests, timing, and the three report files."""

import json
import shutil

import pytest

from forecast.__main__ import main
from forecast.compare import METRICS

from .conftest import random_walk, write_yahoo_csv

TINY = ["--window", "5", "--units", "4", "--epochs", "2", "--batch-size", "16", "--patience", "1",
        "--calls", "3", "--quiet"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny two-seed comparison, shared by the tests that only read its outputs."""
    tmp = tmp_path_factory.mktemp("compare")
    csv = write_yahoo_csv(tmp / "prices.csv", random_walk(150, seed=3))
    out = tmp / "out"
    assert main(["compare", "--csv", str(csv), "--seeds", "2", "--out", str(out), *TINY]) == 0
    return csv, out, json.loads((out / "comparison.json").read_text())


def test_writes_the_three_files(compared):
    _, out, _ = compared
    assert (out / "comparison.md").read_text().startswith("# GRU vs LSTM")
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_json_keys_per_cell(compared, cell):
    _, _, result = compared
    r = result[cell]
    for key in (*METRICS, "params", "latency_ms", "predict_latency_ms", "throughput_windows_per_s",
                "train_seconds_per_epoch"):
        assert key in r, key
    assert set(r["latency_ms"]) == {"p50", "p95"} and set(r["predict_latency_ms"]) == {"p50", "p95"}
    assert len(r["seeds"]["mae"]["values"]) == 2
    assert r["mae"] == pytest.approx(sum(r["seeds"]["mae"]["values"]) / 2)
    assert r["seeds"]["mae"]["std"] is not None


def test_json_naive_dm_and_paired_differences(compared):
    _, _, result = compared
    assert set(result["naive"]) == {"mae", "rmse", "mape"}
    for pair in ("gru_vs_lstm", "gru_vs_naive", "lstm_vs_naive"):
        assert set(result["dm_test"][pair]) == {"statistic", "p_value", "days"}
        assert result["dm_test"][pair]["days"] == result["split"]["test"]["days"]
    diff = result["paired_difference_gru_minus_lstm"]["mae"]
    gru, lstm = result["gru"]["seeds"]["mae"]["values"], result["lstm"]["seeds"]["mae"]["values"]
    assert diff["values"] == pytest.approx([g - l for g, l in zip(gru, lstm)])
    assert len(result["dm_test_gru_vs_lstm_by_seed"]) == 2


def test_both_cells_share_the_test_days_and_naive(compared):
    _, out, result = compared
    for cell in ("gru", "lstm"):
        metrics = json.loads((out / cell / "metrics.json").read_text())
        assert metrics["first_date"] == result["split"]["test"]["first"]
        assert metrics["naive"] == pytest.approx(result["naive"])


def test_reuses_matching_saved_models_and_retrains_on_change(compared, tmp_path):
    csv, shared_out, _ = compared
    out = tmp_path / "out"
    shutil.copytree(shared_out, out)  # copy2 keeps the modification times
    before = (out / "gru" / "model.keras").stat().st_mtime_ns
    assert main(["compare", "--csv", str(csv), "--seeds", "2", "--out", str(out), *TINY]) == 0
    again = json.loads((out / "comparison.json").read_text())
    assert again["gru"]["reused_saved_model"] == [True, True]
    assert (out / "gru" / "model.keras").stat().st_mtime_ns == before
    # Other settings: the saved models no longer match and are retrained.
    assert main(["compare", "--csv", str(csv), "--out", str(out), *TINY, "--units", "3", "--seeds", "1"]) == 0
    changed = json.loads((out / "comparison.json").read_text())
    assert changed["gru"]["reused_saved_model"] == [False]
    assert changed["gru"]["params"] != again["gru"]["params"]


def test_markdown_has_tables_and_verdict(compared):
    _, out, _ = compared
    text = (out / "comparison.md").read_text()
    for heading in ("## Next-day error on the test period", "## Seeds", "## Is the difference real?",
                    "## Speed (this machine)", "## What this means"):
        assert heading in text
    assert "python -m forecast compare --csv" in text


def test_bad_data_is_one_line_error(tmp_path, capsys):
    csv = write_yahoo_csv(tmp_path / "short.csv", random_walk(20))
    assert main(["compare", "--csv", str(csv), "--out", str(tmp_path / "out"), *TINY]) == 1
    err = capsys.readouterr().err
    assert err == f"error: too little data: 20 daily closes from {csv}, need at least 25\n"
    assert not (tmp_path / "out").exists()
