"""The one path from a model's output to USD, checked with stub models whose outputs are known:
what a forecast must be follows from the scaling's definition, not from the code under test."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import inference, model_info
from forecast.errors import ModelError
from forecast.intervals import Calibration
from forecast.windows import MinMaxScaling, WindowScaling

X = np.array([[100.0, 110.0, 105.0], [200.0, 190.0, 210.0]])  # two windows of 3 closes


class Stub:
    """A model that outputs the same scaled value for every window."""

    def __init__(self, value: float):
        self.value = value
        self.seen = None

    def predict(self, inputs, batch_size=None, verbose=0):
        self.seen = inputs
        return np.full((len(inputs), 1), self.value, dtype="float32")  # (n, 1)


def trained(model, scaling, q=None):
    cal = Calibration("2024-01-01", "2024-01-10", 10,
                      model={} if q is None else {80.0: q}, naive={} if q is None else {80.0: 2 * q})
    info = model_info.ModelInfo(
        cell="gru", window=3, units=1, params=1, scaling=scaling, calibration=cal, settings={},
        data=None, split={}, trained_on=None, seed=0, epochs_run=1, best_epoch=1, refit_epochs=None,
        train_seconds=0.0, seconds_per_epoch=0.0, test=None, trained_at="", versions={}, volatility=None)
    return model_info.TrainedModel(model=model, info=info)


def test_zero_output_is_the_naive_forecast_under_window_scaling():
    point = inference.predict_usd(Stub(0.0), WindowScaling(scale=0.03), X)
    np.testing.assert_array_equal(point, [105.0, 210.0])


def test_one_scaled_unit_is_one_training_std_of_log_return():
    point = inference.predict_usd(Stub(1.0), WindowScaling(scale=0.03), X)
    np.testing.assert_allclose(point, [105.0 * math.exp(0.03), 210.0 * math.exp(0.03)], rtol=1e-12)
    point = inference.predict_usd(Stub(-2.0), WindowScaling(scale=0.05), X)
    np.testing.assert_allclose(point, [105.0 * math.exp(-0.1), 210.0 * math.exp(-0.1)], rtol=1e-12)


def test_window_scaling_feeds_log_ratios_to_the_last_close():
    stub = Stub(0.0)
    inference.predict_usd(stub, WindowScaling(scale=0.5), X)
    assert stub.seen.shape == (2, 3, 1)
    np.testing.assert_allclose(stub.seen[0, :, 0], np.log([100 / 105, 110 / 105, 1.0]) / 0.5, rtol=1e-6)


@pytest.mark.parametrize(("output", "usd"), [(0.0, 1_000.0), (0.5, 3_000.0), (1.0, 5_000.0), (1.5, 7_000.0)])
def test_minmax_maps_outputs_onto_the_training_range(output, usd):
    # Training range 1,000..5,000: 0 is the minimum, 0.5 the mid-range, 1 the maximum, beyond it linear.
    point = inference.predict_usd(Stub(output), MinMaxScaling(low=1_000.0, high=5_000.0), X)
    np.testing.assert_allclose(point, [usd, usd], rtol=1e-12)


def test_forecast_bands_and_naive():
    t = trained(Stub(1.0), WindowScaling(scale=0.02), q=0.01)
    dates = pd.to_datetime(["2024-02-01", "2024-02-02"])
    f = inference.forecast(t, X, dates)
    expected = X[:, -1] * math.exp(0.02)
    np.testing.assert_allclose(f.point, expected, rtol=1e-12)
    np.testing.assert_array_equal(f.previous, [105.0, 210.0])
    np.testing.assert_allclose(f.bands[80.0], (expected * math.exp(-0.01), expected * math.exp(0.01)), rtol=1e-12)
    np.testing.assert_allclose(f.naive_bands[80.0], ([105 * math.exp(-0.02), 210 * math.exp(-0.02)],
                                                      [105 * math.exp(0.02), 210 * math.exp(0.02)]), rtol=1e-12)
    assert list(f.dates) == list(dates)


def test_evaluate_windows_scores_against_the_actual_closes():
    t = trained(Stub(0.0), WindowScaling(scale=0.02), q=0.01)
    ev = inference.forecast_scored(t, X, np.array([106.0, 200.0]), pd.to_datetime(["2024-02-01", "2024-02-02"]))
    # The stub is the naive forecast: errors 1 and 10, ratio 1.
    assert ev.metrics.mae == pytest.approx(5.5)
    assert ev.metrics.mae_ratio_vs_naive == 1.0
    # 106 lies within 105 * exp(+-0.01) = [103.96, 106.06]; 200 not within 210's [207.9, 212.1].
    assert ev.metrics.intervals[80.0].coverage == 0.5


def test_an_unbounded_level_stays_unbounded():
    t = trained(Stub(0.0), WindowScaling(scale=0.02), q=math.inf)
    f = inference.forecast(t, X, pd.to_datetime(["2024-02-01", "2024-02-02"]))
    assert np.isinf(f.bands[80.0][1]).all() and (f.bands[80.0][0] == 0).all()
    assert replace(t.info, cell="lstm").cell == "lstm"  # ModelInfo is a plain frozen dataclass


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # the 3e38 output, on purpose
@pytest.mark.parametrize(("scaling", "output"), [
    (WindowScaling(scale=0.5), 3e38),               # exp(1.5e38) overflows: inf USD
    (WindowScaling(scale=0.02), math.nan),
    (MinMaxScaling(low=1_000.0, high=5_000.0), math.nan),
])
def test_a_loaded_model_with_non_finite_forecasts_is_corrupt(scaling, output):
    """A model read from disk that gives inf or NaN is one error naming its file; a model just
    trained is left to training's own check (\"training diverged\")."""
    loaded = replace(trained(Stub(output), scaling, q=0.01), path=Path("out/gru/model.keras"))
    with pytest.raises(ModelError) as info:
        inference.forecast(loaded, X, pd.to_datetime(["2024-02-01", "2024-02-02"]))
    assert str(info.value) == ("out/gru/model.keras: the model gives non-finite forecasts (corrupt weights?); "
                               "retrain the model (python -m forecast train)")
    fresh = inference.forecast(trained(Stub(output), scaling, q=0.01), X, pd.to_datetime(["2024-02-01", "2024-02-02"]))
    assert not np.isfinite(fresh.point).any()
