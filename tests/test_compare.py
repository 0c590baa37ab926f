"""compare: both cells on one split, seeds, DM tests on the right pairs, timing, the report files."""

import dataclasses
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from forecast import compare, metrics, report_compare
from forecast.__main__ import main
from forecast.csv_source import load_csv

from .conftest import COMPARE_TINY, random_walk, write_yahoo_csv

TINY = COMPARE_TINY


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
        expected = {"gru_vs_lstm": metrics.diebold_mariano(actual, gru, lstm),
                    "gru_vs_naive": metrics.diebold_mariano(actual, gru, previous),
                    "lstm_vs_naive": metrics.diebold_mariano(actual, lstm, previous)}
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


def test_reuses_matching_saved_models_and_retrains_on_change(compared, tmp_path, capsys):
    cfg, _, _ = compared
    out = tmp_path / "out"
    shutil.copytree(cfg.out, out)  # copy2 keeps the modification times
    before = (out / "gru" / "model.keras").stat().st_mtime_ns
    args = ["compare", "--csv", str(cfg.csv), "--out", str(out), *TINY, "--calls", "0"]  # timing: not the point here
    assert main([*args, "--seeds", "2"]) == 0
    again = json.loads((out / "comparison.json").read_text())
    assert again["gru"]["reused_saved_model"] == [True, True]
    assert (out / "gru" / "model.keras").stat().st_mtime_ns == before
    text = capsys.readouterr().out  # the table, the verdict and the files on stdout
    assert text.startswith("| forecast | MAE (USD) |") and "\nlatency: not timed (--calls 0)\n" in text
    assert text.rstrip().endswith(f"written: {out / 'comparison.json'}, {out / 'comparison.md'}, {out / 'comparison.png'}")
    # Any other setting that changes the model: the saved one no longer matches and is retrained (a
    # tampered one is, end to end, in test_hostile).
    prices = load_csv(cfg.csv)
    gru = dataclasses.replace(cfg, cell="gru")
    assert compare._reusable(out / "gru", gru, prices) is not None
    for change in ({"units": 3}, {"patience": 2}, {"seed": 7}, {"loss": "mse"}, {"inputs": ("close", "high")}):
        assert compare._reusable(out / "gru", dataclasses.replace(gru, **change), prices) is None, change
    one_day_less = load_csv(cfg.csv, None, prices.close.index[-2].date())
    assert compare._reusable(out / "gru", gru, one_day_less) is None


def test_inputs_beside_the_close(compared, tmp_path, capsys):
    """Both cells read the close, high and volume; the timing feeds them windows of 3 numbers a day;
    they are reusable for the same inputs and prices, and another high on one training day makes them stale."""
    cfg, _, _ = compared
    out = tmp_path / "out"
    args = ["compare", "--csv", str(cfg.csv), "--out", str(out), *TINY, "--seeds", "1", "--calls", "2",
            "--inputs", "close,high,volume"]
    assert main(args) == 0
    record = json.loads((out / "comparison.json").read_text())
    assert record["settings"]["inputs"] == ["close", "high", "volume"]
    assert record["gru"]["params"] == 3 * (3 * 4 + 4 * 4 + 2 * 4) + 5 and record["lstm"]["params"] == 4 * (3 * 4 + 16 + 4) + 5
    assert "inputs close,high,volume, 4 units" in (out / "comparison.md").read_text()
    for cell in ("gru", "lstm"):
        assert json.loads((out / cell / "model.json").read_text())["inputs"] == ["close", "high", "volume"]
    gru = dataclasses.replace(cfg, cell="gru", inputs=("close", "high", "volume"))
    prices = load_csv(cfg.csv)
    assert compare._reusable(out / "gru", gru, prices) is not None
    higher = pd.read_csv(cfg.csv)
    higher.loc[10, "High"] *= 1.01  # a training day's high: the close is the same, the model's data is not
    higher.to_csv(tmp_path / "higher.csv", index=False)
    assert compare._reusable(out / "gru", gru, load_csv(tmp_path / "higher.csv")) is None
    capsys.readouterr()


def test_markdown_has_tables_and_verdict(compared):
    cfg, c, _ = compared
    text = (cfg.out / "comparison.md").read_text()
    for heading in ("## Next-day error on the test period", "## Seeds", "## Prediction intervals",
                    "## Is the difference real?", "## Speed (this machine)", "## What this means"):
        assert heading in text
    for line in report_compare.comparison_verdict(c):
        assert f"- {line}" in text


def test_bad_data_is_one_line_error(tmp_path, capsys):
    csv = write_yahoo_csv(tmp_path / "short.csv", random_walk(20))
    assert main(["compare", "--csv", str(csv), "--out", str(tmp_path / "out"), *TINY]) == 1
    err = capsys.readouterr().err
    assert err == f"error: too little data: 20 daily closes from {csv}, need at least 25\n"
    assert not (tmp_path / "out").exists()


# --- built by hand: three seeds with an asymmetric value, and naive intervals unlike the model's ------

# Four test days; naive (yesterday's close) is 100 USD off every day. Each seed's model is `e` USD
# above the actual close every day: its MAE is e, its MAE ratio e / 100. GRU e = 100, 101, 105:
# ratios 1.00, 1.01, 1.05, mean 1.02 (the median, 1.01, must not pass). LSTM e = 101, 102, 109:
# ratios 1.01, 1.02, 1.09, mean 1.04 (median 1.02). GRU − LSTM per seed: −1, −1, −4 USD, mean −2 (median −1).
ACTUAL = np.array([1100.0, 1000.0, 1100.0, 1000.0])
PREVIOUS = np.array([1000.0, 1100.0, 1000.0, 1100.0])
ERRORS = {"gru": (100.0, 101.0, 105.0), "lstm": (101.0, 102.0, 109.0)}
SEEDS = (42, 43, 44)


def seed_run(cell: str, e: float) -> compare.SeedRun:
    from types import SimpleNamespace

    point = ACTUAL + e
    # Model 80% band: point ± 300, holds every day. Naive's: previous − 50 .. previous + 150, which
    # holds the days the price rose 100 (1 and 3) and misses the days it fell 100 (2 and 4).
    forecast = metrics.Forecast(
        dates=pd.date_range("2024-01-01", periods=4), point=point, previous=PREVIOUS, volatility=np.zeros(4),
        bands={80.0: (point - 300, point + 300)}, naive_bands={80.0: (PREVIOUS - 50, PREVIOUS + 150)})
    info = SimpleNamespace(seconds_per_epoch=0.5, epochs_run=3, params=929)
    return compare.SeedRun(trained=SimpleNamespace(info=info), test=metrics.score_forecast(ACTUAL, forecast), reused=False)


@pytest.fixture(scope="module")
def by_hand() -> compare.Comparison:
    from forecast.bench import FastPathChoice, InferenceTiming, ModelTiming, Percentiles
    from forecast.model_info import DataInfo, Span

    speed = ModelTiming(929, Percentiles(0.2, 0.3), Percentiles(40.0, 45.0), Percentiles(1.0, 1.1), 1e5, 10.0, 0.0)
    dm = {"gru_vs_lstm": metrics.DMTest(-1.0, 0.3, 4), "gru_vs_naive": metrics.DMTest(1.0, 0.4, 4),
          "lstm_vs_naive": metrics.DMTest(1.2, 0.35, 4)}
    return compare.Comparison(
        command="by hand", data=DataInfo("hand.csv", "2023-12-01", "2024-01-04", 35, 0, "0" * 64),
        split={"train": Span("2023-12-06", "2023-12-24", 19), "val": Span("2023-12-25", "2023-12-31", 7),
               "test": Span("2024-01-01", "2024-01-04", 4)},
        settings={"window": 5, "scaling": "window", "units": 4, "loss": "huber"}, seeds=SEEDS,
        dates=pd.date_range("2024-01-01", periods=4), actual=ACTUAL, previous=PREVIOUS,
        naive=metrics.error_metrics(ACTUAL, PREVIOUS),
        cells={cell: compare.CellResult(cell, tuple(seed_run(cell, e) for e in errors)) for cell, errors in ERRORS.items()},
        dm=dm, dm_by_seed={s: dm for s in SEEDS},
        timing=InferenceTiming({"gru": speed, "lstm": speed}, 5, 3, 4, 1, 1, FastPathChoice(True, 1.0, 2.0),
                               FastPathChoice(False, 2.0, 1.0), "2.x", 2))


def test_over_three_seeds_the_mean_is_reported_not_the_median(by_hand):
    record = report_compare.comparison_record(by_hand)
    assert record["gru"]["mae"] == pytest.approx(102.0) and record["lstm"]["mae"] == pytest.approx(104.0)
    assert record["gru"]["mae_ratio_vs_naive"] == pytest.approx(1.02)
    assert record["lstm"]["mae_ratio_vs_naive"] == pytest.approx(1.04)
    gru = record["gru"]["seeds"]["mae_ratio_vs_naive"]
    assert gru["values"] == pytest.approx([1.00, 1.01, 1.05])
    assert gru["mean"] == pytest.approx(1.02) and gru["std"] == pytest.approx(0.0007 ** 0.5)  # (4+1+9)e-4 / 2
    paired = record["paired_difference_gru_minus_lstm"]["mae"]
    assert paired["values"] == pytest.approx([-1.0, -1.0, -4.0])
    assert paired["mean"] == pytest.approx(-2.0) and paired["std"] == pytest.approx(3 ** 0.5)  # (1+1+4) / 2
    text = report_compare.comparison_markdown(by_hand)
    assert "| GRU | 102.00 | 102.00 |" in text and "| LSTM | 104.00 | 104.00 |" in text
    assert "| MAE / naive | 1.0200 ± 0.0265 | 1.0400 ± 0.0436 | -0.0200 ± 0.0173 |" in text
    assert "| MAE (USD) | 102.00 ± 2.65 | 104.00 ± 4.36 | -2.00 ± 1.73 |" in text
    assert report_compare.comparison_verdict(by_hand)[:2] == [
        "GRU does not beat the naive forecast (MAE ratio 1.0200, DM p = 0.400).",
        "LSTM does not beat the naive forecast (MAE ratio 1.0400, DM p = 0.350)."]
    inputs = report_compare.comparison_chart_inputs(by_hand)
    assert inputs["mae_ratio"] == pytest.approx({"GRU": 1.02, "LSTM": 1.04})
    assert inputs["mae_ratio_std"] == pytest.approx({"GRU": 0.0007 ** 0.5, "LSTM": 0.0019 ** 0.5})
    assert "Read these with the seeds table" in text


def test_naive_intervals_are_naives_own_in_the_json_and_the_markdown(by_hand):
    """Naive's band holds 2 of 4 days (200 USD wide), the models' every day (600 wide): a report
    that put the model's intervals in naive's place would show 100% and 600."""
    naive = report_compare.comparison_record(by_hand)["naive"]["intervals"]["80"]
    kupiec = math.erfc(math.sqrt(-4 * math.log(0.64) / 2))  # LR = -2 (2 ln .8 + 2 ln .2 - 4 ln .5), chi2(1)
    assert naive["coverage"] == 0.5 and naive["mean_width_usd"] == pytest.approx(200.0)
    assert naive["mean_width_pct"] == pytest.approx(100 * (0.2 + 200 / 1100) / 2)
    assert naive["kupiec_p_value"] == pytest.approx(kupiec)
    assert naive["coverage_by_volatility"] == {"calm": 0.5, "middle": 1.0, "volatile": 0.0}  # days 1-2, 3, 4
    assert naive["winkler_usd"] == pytest.approx(200 + 10 * 50 / 2)  # misses by 50 on two of 4 days, 2/alpha = 10
    model = report_compare.comparison_record(by_hand)["gru"]["intervals"]["80"]
    assert model["coverage"]["values"] == [1.0, 1.0, 1.0] and model["mean_width"]["mean"] == pytest.approx(600.0)
    rows = [line for line in report_compare.comparison_markdown(by_hand).splitlines() if line.startswith("| naive | 80% |")]
    assert rows == [f"| naive | 80% | 50.0% | {kupiec:.3f} | 200 ({100 * (0.2 + 200 / 1100) / 2:.2f}%) | 450 "
                    "| 50.0% / 100.0% / 0.0% |"]
    gru_row = [line for line in report_compare.comparison_markdown(by_hand).splitlines() if line.startswith("| GRU | 80% |")]
    assert gru_row and "| 100.0% |" in gru_row[0] and "| 600 (" in gru_row[0]


def test_one_seed_says_the_seed_spread_is_not_measured(by_hand):
    import dataclasses

    one = dataclasses.replace(by_hand, seeds=(42,), cells={c: compare.CellResult(c, r.runs[:1])
                                                            for c, r in by_hand.cells.items()})
    text = report_compare.comparison_markdown(one)
    assert "seeds table" not in text and "## Seeds" not in text
    assert "With one seed per cell, how much these numbers move with the seed is not measured" in text


def test_without_timing_the_speed_section_keeps_parameters_and_training(by_hand, tmp_path):
    """compare --calls 0: no inference numbers anywhere, and nothing that pretends to be one."""
    import dataclasses

    from forecast import plots_summary

    untimed = dataclasses.replace(by_hand, timing=None)
    text = report_compare.comparison_markdown(untimed, sections=("speed",))
    assert text.splitlines() == [
        "## Speed (this machine)", "", "| | GRU | LSTM | GRU / LSTM |", "|---|---:|---:|---:|",
        "| parameters | 929 | 929 | 1.00 |",  # by_hand's models have 929 parameters each
        "| training (s per epoch, with validation) | 0.50 | 0.50 | 1.00 |", "",
        "Inference was not timed (`--calls 0`).", "Training: about the same time per epoch (1.00x)."]
    record = report_compare.comparison_record(untimed)
    assert record["timing"] is None and record["gru"]["latency_ms"] is None and record["gru"]["params"] == 929
    assert "latency: not timed (--calls 0)" in report_compare.comparison_text(untimed, tmp_path).splitlines()
    inputs = report_compare.comparison_chart_inputs(untimed)
    assert inputs["us_per_window"] is None
    fig = plots_summary.comparison_chart(**inputs)
    assert [t.get_text() for ax in fig.axes for t in ax.texts if "not timed" in t.get_text()] == [
        "inference not timed\n(--calls 0)"]
    fig.savefig(tmp_path / "untimed.png")
