"""The bench's result, its internal consistency and the CLI wiring, on tiny models.

No timing thresholds here: CI machines are noisy, so speed is measured and reported by
`python -m forecast bench` itself, never asserted in a unit test.
"""

import json

import numpy as np
import pytest

from forecast import bench, report_compare
from forecast.__main__ import main

TINY = {"window": 8, "units": 4, "calls": 5, "batch": 16, "train_epochs": 1, "train_rows": 32, "batch_size": 16}


@pytest.fixture(scope="module")
def result() -> bench.Bench:
    return bench.run_bench(**TINY, seed=42)


def test_record_is_json_with_the_documented_keys(result):
    record = report_compare.bench_record(result)
    assert json.loads(json.dumps(record)) == record
    assert {"gru", "lstm", "settings", "ratios", "training"} <= set(record)
    assert "targets" not in record  # the bench reports numbers, not acceptance targets
    settings = record["settings"]
    assert (settings["window"], settings["units"], settings["calls"], settings["batch"]) == (8, 4, 5, 16)
    assert set(record["training"]["seconds_per_epoch"]) == {"gru", "lstm"}
    assert set(record["training"]["seconds_per_epoch"]["gru"]) == {"plain", "xla"}
    assert (record["training"]["rows"], record["training"]["timed_epochs"]) == (32, 1)


def test_ratios_follow_from_the_per_cell_numbers(result):
    record = report_compare.bench_record(result)
    g, l, r = record["gru"], record["lstm"], record["ratios"]
    assert r["gru_over_lstm"]["latency_p50"] == pytest.approx(g["latency_ms"]["p50"] / l["latency_ms"]["p50"])
    assert r["gru_over_lstm"]["us_per_window_full_batch"] == pytest.approx(
        g["us_per_window_full_batch"] / l["us_per_window_full_batch"])
    for cell, c in (("gru", g), ("lstm", l)):
        assert r["predict_over_fast"][cell] == pytest.approx(c["predict_latency_ms"]["p50"] / c["latency_ms"]["p50"])
    s = record["training"]["seconds_per_epoch"]
    assert r["gru_over_lstm"]["train_seconds_per_epoch"] == pytest.approx(s["gru"]["plain"] / s["lstm"]["plain"])
    assert r["gru_over_lstm"]["train_seconds_per_epoch_xla"] == pytest.approx(s["gru"]["xla"] / s["lstm"]["xla"])
    for cell in ("gru", "lstm"):
        m = result.inference.models[cell]
        assert m.us_per_window_full_batch == pytest.approx(1e6 / m.throughput_windows_per_s)


def test_fast_path_computes_what_predict_computes(result):
    for cell in ("gru", "lstm"):
        assert result.inference.models[cell].fast_vs_predict_max_abs_diff < 1e-4


def test_table_rows(result):
    table = report_compare.bench_table(result)
    for row in ("| parameters |", "| latency p50 / p95, one window, fast path (ms) |",
                "| model.predict / fast path, p50 |", "| throughput, batch 16 (windows/s) |",
                "| µs per window, batch 16 |", "| training, s per epoch (32 windows, batch 16) |",
                "| training with XLA (jit_compile=True), s per epoch |"):
        assert row in table, row
    assert "target" not in table
    assert "XLA makes a training epoch GRU " in table


def test_training_times_go_to_their_cell_and_compile_mode(monkeypatch):
    """Which median belongs to which model: fake timings, one distinct number per model."""
    def fake(fns, x, calls, warmup):
        assert calls == 3 and warmup == 1  # one untimed epoch (tracing, XLA compilation) first
        return {key: np.full(calls, 1e9 * (10 * ("gru", "lstm").index(key[0]) + int(key[1]) + 1)) for key in fns}

    monkeypatch.setattr(bench, "time_interleaved", fake)
    t = bench.time_training(("gru", "lstm"), window=4, units=2, rows=8, batch_size=4, epochs=3, seed=0)
    assert t.seconds_per_epoch == {"gru": {False: 1.0, True: 2.0}, "lstm": {False: 11.0, True: 12.0}}


def test_time_models_takes_any_named_models():
    """compare times trained models through the same loops; names other than gru/lstm work."""
    from forecast.models import build_model

    model = build_model("gru", window=4, units=2)
    timing = bench.time_models({"tiny": model}, window=4, calls=3, batch=5, warmup=1)
    assert timing.models["tiny"].params == model.count_params()
    assert timing.batch == 5 and timing.calls == 3
    assert "ratios" not in report_compare.timing_record(timing)


def test_interleaving_alternates_who_goes_first():
    order = []
    fns = {name: (lambda x, n=name: order.append(n)) for name in ("a", "b")}
    times = bench.time_interleaved(fns, np.zeros(1), calls=4, warmup=0)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(t) == 4 for t in times.values())


# bench --json through the CLI: test_json_output.test_bench


def test_cli_quiet_prints_only_the_table(capsys):
    assert main(["bench", "--window", "8", "--units", "4", "--calls", "3", "--batch", "8", "--train-epochs", "0",
                 "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("Inference of fresh models: window 8, 4 units")


@pytest.mark.parametrize("args", [["--calls", "0"], ["--batch", "0"], ["--units", "-1"], ["--window", "1"],
                                  ["--calls", "many"], ["--train-epochs", "-1"]])
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
