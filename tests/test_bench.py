"""The bench's result shape, its internal consistency and the CLI wiring, on tiny models.

No timing thresholds here: CI machines are noisy, so the speed goals are checked and reported by
`python -m forecast bench` itself, never asserted in a unit test.
"""

import copy
import json

import numpy as np
import pytest

from forecast import bench
from forecast.__main__ import main

TINY = {"window": 8, "units": 4, "calls": 5, "batch": 16}
CELL_KEYS = {"params", "latency_ms", "predict_latency_ms", "throughput_windows_per_s", "us_per_window_full_batch"}


@pytest.fixture(scope="module")
def result() -> dict:
    return bench.run_bench(**TINY, seed=42)


def test_result_is_json_with_the_documented_keys(result):
    assert json.loads(json.dumps(result)) == result
    assert {"gru", "lstm", "settings", "ratios", "targets"} <= set(result)
    for cell in ("gru", "lstm"):
        assert CELL_KEYS <= set(result[cell])
        assert isinstance(result[cell]["params"], int)
    settings = result["settings"]
    for key, value in TINY.items():
        assert settings[key] == value
    assert {"warmup", "fast_path", "tensorflow", "cpu_count"} <= set(settings)
    assert set(result["ratios"]) == {"gru_over_lstm", "predict_over_fast"}
    assert set(result["ratios"]["gru_over_lstm"]) == {"latency_p50", "predict_p50", "us_per_window_full_batch"}
    assert set(result["ratios"]["predict_over_fast"]) == {"gru", "lstm"}
    assert set(result["targets"]) == {"fast_vs_predict_at_least_50x", "gru_faster_per_window_full_batch"}
    assert all(isinstance(v, bool) for v in result["targets"].values())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_times_are_positive_and_ordered(result, cell):
    r = result[cell]
    for path in ("latency_ms", "predict_latency_ms"):
        assert isinstance(r[path]["p50"], float)
        assert r[path]["p95"] >= r[path]["p50"] > 0
    assert r["throughput_windows_per_s"] > 0
    assert r["us_per_window_full_batch"] == pytest.approx(1e6 / r["throughput_windows_per_s"])


def test_params_are_the_models_and_gru_has_fewer(result):
    from forecast.models import build_model

    for cell in ("gru", "lstm"):
        assert result[cell]["params"] == build_model(cell, TINY["window"], 1, TINY["units"]).count_params()
    assert result["gru"]["params"] < result["lstm"]["params"]


def test_ratios_and_targets_follow_from_the_per_cell_numbers(result):
    g, l, r = result["gru"], result["lstm"], result["ratios"]
    assert r["gru_over_lstm"]["latency_p50"] == pytest.approx(g["latency_ms"]["p50"] / l["latency_ms"]["p50"])
    assert r["gru_over_lstm"]["predict_p50"] == pytest.approx(
        g["predict_latency_ms"]["p50"] / l["predict_latency_ms"]["p50"])
    assert r["gru_over_lstm"]["us_per_window_full_batch"] == pytest.approx(
        g["us_per_window_full_batch"] / l["us_per_window_full_batch"])
    for cell, c in (("gru", g), ("lstm", l)):
        assert r["predict_over_fast"][cell] == pytest.approx(c["predict_latency_ms"]["p50"] / c["latency_ms"]["p50"])
    t = result["targets"]
    assert t["fast_vs_predict_at_least_50x"] == (min(r["predict_over_fast"].values()) >= 50)
    assert t["gru_faster_per_window_full_batch"] == (g["us_per_window_full_batch"] < l["us_per_window_full_batch"])


def test_fast_path_computes_what_predict_computes(result):
    for cell in ("gru", "lstm"):
        assert result[cell]["fast_vs_predict_max_abs_diff"] < 1e-4


def test_table_has_the_rows_targets_and_note(result):
    table = bench.bench_table(result)
    for row in ("parameters", "latency p50, fast path", "latency p95, fast path", "model.predict p50",
                "predict / fast path", "throughput, batch 16", "µs per window, batch 16"):
        assert row in table
    assert "| GRU | LSTM | GRU/LSTM |" in table
    assert "fast path vs predict at batch 1:" in table and "target >= 50x" in table
    assert "GRU time per window at batch 16:" in table and "target < 1" in table
    assert table.count(": met") + table.count(": NOT met") == 2
    assert "at batch 1 per-call overhead" in table


@pytest.mark.parametrize("met", [True, False])
def test_table_says_whether_each_target_was_met(result, met):
    """Both outcomes, without depending on how fast this machine happens to be."""
    fake = copy.deepcopy(result)
    fake["targets"] = {k: met for k in fake["targets"]}
    lines = bench.target_lines(fake)
    assert all(line.endswith(": met" if met else ": NOT met") for line in lines)


def test_time_models_takes_any_named_models():
    """compare times trained models through the same loops; names other than gru/lstm work."""
    from forecast.models import build_model

    model = build_model("gru", window=4, units=2)
    timing = bench.time_models({"tiny": model}, window=4, calls=3, batch=5, warmup=1)
    assert timing["tiny"]["params"] == model.count_params()
    assert timing["tiny"]["latency_ms"]["p95"] >= timing["tiny"]["latency_ms"]["p50"] > 0
    assert timing["settings"]["batch"] == 5
    assert "ratios" not in timing and "targets" not in timing
    with pytest.raises(ValueError, match="clash"):
        bench.time_models({"settings": model}, window=4, calls=3, batch=5)


def test_interleaving_alternates_who_goes_first():
    order = []
    fns = {name: (lambda x, n=name: order.append(n)) for name in ("a", "b")}
    times = bench.time_interleaved(fns, np.zeros(1), calls=4, warmup=0)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(t) == 4 and (t >= 0).all() for t in times.values())


def test_cli_json(capsys):
    code = main(["bench", "--window", "8", "--units", "4", "--calls", "5", "--batch", "16", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)  # stdout is exactly one JSON object
    assert out["settings"]["batch"] == 16 and out["settings"]["calls"] == 5
    assert out["gru"]["params"] < out["lstm"]["params"]


@pytest.mark.parametrize("args", [["--calls", "0"], ["--batch", "0"], ["--units", "-1"], ["--window", "1"],
                                  ["--calls", "many"]])
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
