"""Windows, the chronological split and the two scalings, on tiny seeded series."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler
from tests.conftest import random_walk

from forecast.config import Config
from forecast.errors import DataError
from forecast.windows import (
    MIN_TARGETS,
    SCALINGS,
    MinMaxScaling,
    WindowScaling,
    build_dataset,
    get_scaling,
    input_windows,
    latest_window,
    make_windows,
    rows_needed,
    scaling_from_dict,
    scaling_to_dict,
    split_targets,
)

WINDOW = 60
SCALING_NAMES = ["window", "minmax"]


def days(n: int, start: str = "2021-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="D")


# --- windows ----------------------------------------------------------------------------------

def test_first_and_last_window_and_target():
    closes = random_walk(200).to_numpy()
    X, y = make_windows(closes, WINDOW)
    assert X.shape == (140, WINDOW) and y.shape == (140,)
    np.testing.assert_array_equal(X[0], closes[0:60])
    assert y[0] == closes[60]
    np.testing.assert_array_equal(X[-1], closes[139:199])
    assert y[-1] == closes[199]


def test_every_target_is_the_day_after_its_window():
    closes = np.arange(1.0, 31.0)  # close k on day k-1: positions are readable in the values
    X, y = make_windows(closes, 5)
    for i in range(len(y)):
        np.testing.assert_array_equal(X[i], closes[i:i + 5])
        assert y[i] == closes[i + 5]
    assert y.tolist() == list(range(6, 31))


@pytest.mark.parametrize("n", [59, 60])
def test_too_few_closes_for_one_window(n):
    with pytest.raises(DataError) as e:
        make_windows(np.ones(n), WINDOW)
    assert str(e.value) == f"need more than 60 closes for one 60-day window, got {n}"


def test_exactly_one_window():
    X, y = make_windows(np.arange(61.0), WINDOW)
    assert X.shape == (1, 60) and y.tolist() == [60.0]


def test_dataset_dates_are_the_target_days():
    close = random_walk(200)
    ds = build_dataset(close, Config())
    assert ds.dates[0] == close.index[60] and ds.dates[-1] == close.index[-1]
    np.testing.assert_array_equal(close.loc[ds.dates].to_numpy(), ds.y)
    # The window of target day d ends the day before d.
    assert (ds.X[:, -1] == close.shift(1).loc[ds.dates].to_numpy()).all()


# --- the chronological split -------------------------------------------------------------------

@pytest.mark.parametrize("n, sizes", [
    (100, (70, 15, 15)),
    (20, (14, 3, 3)),
    (4064, (2844, 610, 610)),  # the real 2014-09-17..2025-12-31 file with 60-day windows
])
def test_70_15_15_split_of_target_days(n, sizes):
    dates = days(n)
    split = split_targets(dates)
    parts = split.parts()
    assert list(parts) == ["train", "val", "test"]
    assert tuple(s.stop - s.start for s in parts.values()) == sizes
    # Each target day in exactly one split, in order, none shared.
    positions = np.concatenate([np.arange(n)[s] for s in parts.values()])
    np.testing.assert_array_equal(positions, np.arange(n))
    assert dates[split.train][-1] < dates[split.val][0] and dates[split.val][-1] < dates[split.test][0]


def test_split_description():
    split = split_targets(days(100))
    assert split.describe(days(100)) == {
        "train": {"first": "2021-01-01", "last": "2021-03-11", "days": 70},
        "val": {"first": "2021-03-12", "last": "2021-03-26", "days": 15},
        "test": {"first": "2021-03-27", "last": "2021-04-10", "days": 15},
    }


def test_test_start_sets_the_first_test_day():
    dates = days(200)
    split = split_targets(dates, test_start=date(2021, 5, 1))
    assert dates[split.test][0] == pd.Timestamp("2021-05-01") and split.test.stop == 200
    n_pre = split.test.start  # 120 days before the test; validation the 15/85 share of them
    assert n_pre == 120
    assert (split.train, split.val) == (slice(0, 99), slice(99, 120))


def test_test_start_after_the_last_target_day():
    with pytest.raises(DataError) as e:
        split_targets(days(100), test_start=date(2021, 4, 11))
    assert str(e.value) == "--test-start 2021-04-11 is after the last target day 2021-04-10"


@pytest.mark.parametrize("n, test_start, message", [
    (9, None, "the val split has 1 target days; need more data or another --test-start"),
    (100, date(2021, 4, 10), "the test split has 1 target days; need more data or another --test-start"),
    (100, date(2021, 1, 1), "the train split has 0 target days; need more data or another --test-start"),
    (100, date(2020, 6, 1), "the train split has 0 target days; need more data or another --test-start"),
    (100, date(2021, 1, 3), "the train split has 2 target days; need more data or another --test-start"),
    # Two test days are too few for the Diebold-Mariano test that compare runs on them.
    (100, date(2021, 4, 9), "the test split has 2 target days; need more data or another --test-start"),
])
def test_too_small_splits(n, test_start, message):
    with pytest.raises(DataError) as e:
        split_targets(days(n), test_start=test_start)
    assert str(e.value) == message


@pytest.mark.parametrize("window", [2, 10, 60])
@pytest.mark.parametrize("scaling", SCALING_NAMES)
def test_rows_needed_is_enough_for_a_dataset(window, scaling):
    assert rows_needed(window) == window + MIN_TARGETS
    ds = build_dataset(random_walk(rows_needed(window)), Config(window=window, scaling=scaling))
    sizes = [s.stop - s.start for s in ds.split.parts().values()]
    assert sum(sizes) == MIN_TARGETS and min(sizes) >= 2


# --- scaling ----------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=SCALING_NAMES)
def dataset(request):
    return build_dataset(random_walk(200, seed=3), Config(scaling=request.param))


def exact_targets(scaling, X, y):
    """The targets in float64, straight from each scaling's definition."""
    if scaling.name == "window":
        return np.log(y / X[:, -1]) / scaling.scale
    return (y - scaling.low) / (scaling.high - scaling.low)


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_targets_round_trip_to_usd(dataset, part):
    X, y, _ = dataset.part(part)
    z = dataset.scaling.targets(X, y)
    assert z.dtype == np.float32 and z.shape == y.shape
    np.testing.assert_allclose(dataset.scaling.to_usd(X, z), y, rtol=1e-6)  # float32 targets
    np.testing.assert_allclose(z, exact_targets(dataset.scaling, X, y), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dataset.scaling.to_usd(X, exact_targets(dataset.scaling, X, y)), y, rtol=1e-12)
    # Model outputs come back as (n, 1); to_usd takes that shape too.
    np.testing.assert_allclose(dataset.scaling.to_usd(X, z[:, None]), y, rtol=1e-6)


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_model_arrays(dataset, part):
    X, y, dates = dataset.part(part)
    inputs, targets = dataset.model_arrays(part)
    assert inputs.shape == (len(y), WINDOW, 1) and inputs.dtype == np.float32
    assert targets.shape == (len(y),) and targets.dtype == np.float32
    assert len(dates) == len(y)


def test_window_scaling_definition():
    ds = build_dataset(random_walk(200, seed=3), Config(scaling="window"))
    X, y, _ = ds.part("train")
    assert ds.scaling.scale == pytest.approx(np.std(np.log(y / X[:, -1])), rel=1e-12)
    inputs = ds.scaling.inputs(X)[..., 0]
    assert (inputs[:, -1] == 0).all()  # each window relative to its own last close
    np.testing.assert_allclose(inputs, np.log(X / X[:, -1:]) / ds.scaling.scale, rtol=1e-6, atol=1e-6)


def test_window_scaling_is_free_of_the_price_level():
    close = random_walk(200, seed=3)
    low, high = (build_dataset(close * k, Config(scaling="window")) for k in (1, 1000))
    assert low.scaling.scale == pytest.approx(high.scaling.scale, rel=1e-12)
    for part in ("train", "test"):
        for a, b in zip(low.model_arrays(part), high.model_arrays(part)):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_minmax_scaling_is_sklearn_fitted_on_training_rows():
    close = random_walk(200, seed=3)
    ds = build_dataset(close, Config(scaling="minmax"))
    n_train = ds.split.train.stop
    training_rows = close.to_numpy()[:WINDOW + n_train]  # every close a training window or target holds
    assert (ds.scaling.low, ds.scaling.high) == (training_rows.min(), training_rows.max())
    reference = MinMaxScaler().fit(training_rows[:, None])
    X, y, _ = ds.part("test")
    np.testing.assert_allclose(ds.scaling.inputs(X)[..., 0],
                               reference.transform(X.reshape(-1, 1)).reshape(X.shape), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ds.scaling.targets(X, y), reference.transform(y[:, None])[:, 0], rtol=1e-6, atol=1e-7)
    Xt, yt, _ = ds.part("train")
    assert ds.scaling.inputs(Xt).min() == 0 and ds.scaling.inputs(Xt).max() <= 1


@pytest.mark.parametrize("scaling", SCALING_NAMES)
@pytest.mark.parametrize("factor", [100.0, 0.01])
def test_no_validation_or_test_row_reaches_the_fitted_scaling(scaling, factor):
    close = random_walk(200, seed=5)
    base = build_dataset(close, Config(scaling=scaling))
    first_val_day = base.dates[base.split.val.start]
    changed = close.copy()
    changed.loc[first_val_day:] *= factor  # every validation and test target day
    moved = build_dataset(changed, Config(scaling=scaling))
    assert moved.split == base.split
    assert moved.scaling.params() == base.scaling.params()
    # The contrast: the same change to the last training target day does move the fit.
    last_train_day = base.dates[base.split.train.stop - 1]
    changed.loc[last_train_day] *= factor
    assert build_dataset(changed, Config(scaling=scaling)).scaling.params() != base.scaling.params()


def test_get_scaling():
    assert get_scaling("window") is WindowScaling and get_scaling("minmax") is MinMaxScaling
    assert sorted(SCALINGS) == sorted(SCALING_NAMES)
    with pytest.raises(ValueError) as e:
        get_scaling("bad")
    assert str(e.value) == "unknown scaling 'bad'; valid: window, minmax"


def test_scaling_saves_and_loads_as_a_dict(dataset):
    d = scaling_to_dict(dataset.scaling)
    assert d["name"] == dataset.scaling.name
    assert scaling_from_dict(d) == dataset.scaling
    X, y, _ = dataset.part("test")
    np.testing.assert_array_equal(scaling_from_dict(d).targets(X, y), dataset.scaling.targets(X, y))


def test_constant_prices_do_not_divide_by_zero():
    close = pd.Series(50_000.0, index=days(100))
    for name in SCALING_NAMES:
        ds = build_dataset(close, Config(scaling=name))
        X, y, _ = ds.part("test")
        assert np.isfinite(ds.scaling.inputs(X)).all()
        np.testing.assert_allclose(ds.scaling.to_usd(X, ds.scaling.targets(X, y)), y)


# --- inputs beside the close ------------------------------------------------------------------

def ohlcv(n: int = 8, seed: int = 3) -> tuple[pd.Series, pd.DataFrame]:
    """A tiny seeded daily series with an open, high, low and volume that hold together."""
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), index=days(n))
    open_ = close.shift(1).fillna(100.0)
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.03, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.03, n))
    volume = rng.uniform(1e6, 5e6, n)
    return close, pd.DataFrame({"open": open_, "high": high, "low": low, "volume": volume}, index=close.index)


def test_every_input_by_hand():
    close, t = ohlcv()
    c, o, h, lo, v = (np.asarray(x, dtype=float) for x in (close, t["open"], t["high"], t["low"], t["volume"]))
    inputs = ("close", "open", "high", "low", "range", "volume")
    F = input_windows(close, t, inputs, 3)  # windows 0..4 of 3 days, targets days 3..7
    assert F.shape == (5, 3, 5)
    # Window 1 reads days 1, 2, 3; its last close is c[3]; it forecasts day 4.
    np.testing.assert_allclose(F[1, :, 0], [np.log(o[1] / c[3]), np.log(o[2] / c[3]), np.log(o[3] / c[3])])
    np.testing.assert_allclose(F[1, :, 1], [np.log(h[1] / c[3]), np.log(h[2] / c[3]), np.log(h[3] / c[3])])
    np.testing.assert_allclose(F[1, :, 2], [np.log(lo[1] / c[3]), np.log(lo[2] / c[3]), np.log(lo[3] / c[3])])
    np.testing.assert_allclose(F[1, :, 3], [np.log(h[1] / lo[1]), np.log(h[2] / lo[2]), np.log(h[3] / lo[3])])
    mean = (v[1] + v[2] + v[3]) / 3
    np.testing.assert_allclose(F[1, :, 4], [np.log(v[1] / mean), np.log(v[2] / mean), np.log(v[3] / mean)])
    assert input_windows(close, None, ("close",), 3) is None  # the close alone: nothing beside it


@pytest.mark.parametrize("name", ["open", "high", "low", "range", "volume"])
def test_no_input_reads_the_day_it_forecasts(name):
    """Window i's inputs end the day before its target: whatever the target day and every later day
    hold, in every column, window i's inputs are the same."""
    close, t = ohlcv(12)
    inputs = ("close", name)
    F = input_windows(close, t, inputs, 4)  # window i reads days i..i+3 and forecasts day i+4
    for i in range(len(F)):
        later = t.copy()
        later.iloc[i + 4:] *= 1.5  # the target day on: other highs, lows, opens, volumes
        changed_close = close.copy()
        changed_close.iloc[i + 4:] *= 1.5
        np.testing.assert_array_equal(input_windows(changed_close, later, inputs, 4)[i], F[i])
        # ...and a change on the window's last day does reach it (the check above can fail).
        moved = t.copy()
        moved.iloc[i + 3] *= [1.1, 1.2, 0.8, 2.0]
        assert not np.array_equal(input_windows(close, moved, inputs, 4)[i], F[i])


def test_the_volume_input_by_hand_and_as_the_plain_formula_gives_it():
    """log(v / mean(v)) over the window, computed in log space: the same numbers on real volumes."""
    close, t = ohlcv(6)
    t["volume"] = [5.0, 1.0, 2.0, 6.0, 4.0, 9.0]
    F = input_windows(close, t, ("close", "volume"), 3)[..., 0]  # windows of days 0..2, 1..3, 2..4
    # Window 1 reads volumes 1, 2, 6: mean 3, so log(1/3), log(2/3), log(2).
    np.testing.assert_allclose(F[1], [np.log(1 / 3), np.log(2 / 3), np.log(2)], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(F[2], [np.log(2 / 4), np.log(6 / 4), np.log(4 / 4)], rtol=1e-15, atol=1e-15)
    # Real volumes (Yahoo's BTC-USD: 6e6..3.5e11 a day), 60-day windows: the plain formula to float precision.
    close, t = ohlcv(300, seed=5)
    t["volume"] = np.exp(np.random.default_rng(5).uniform(np.log(6e6), np.log(3.5e11), 300))
    F = input_windows(close, t, ("close", "volume"), 60)[..., 0]
    v = make_windows(t["volume"].to_numpy(), 60)[0]
    np.testing.assert_allclose(F, np.log(v / v.mean(axis=1, keepdims=True)), rtol=0, atol=1e-13)


def test_volumes_of_1e308_give_finite_inputs_and_a_finite_scaling():
    """Two volumes of 1.7e308 in a window made the plain mean inf and the input -inf on every day of it;
    fitted on such days, the scaling's center was -inf (a traceback in train)."""
    close, t = ohlcv(6)
    t["volume"] = [1.7e308, 1.7e308, 1.0, 1.7e308, 1.0, 1.0]
    F = input_windows(close, t, ("close", "volume"), 3)[..., 0]
    assert np.isfinite(F).all()
    # Window 0 reads 1.7e308, 1.7e308, 1: the mean is 1.7e308 * 2/3 (1 is nothing beside it).
    # To float precision of the logs subtracted (log 1.7e308 is 709.8: its last bit is 1e-13).
    np.testing.assert_allclose(F[0], [np.log(1.5), np.log(1.5), -np.log(1.7e308) - np.log(2 / 3)], rtol=0, atol=1e-12)
    close, t = ohlcv(200)
    t.iloc[[30, 31], t.columns.get_loc("volume")] = 1.7e308
    d = build_dataset(close, Config(window=10, inputs=("close", "volume")), t)
    assert np.isfinite(d.F).all() and np.isfinite(d.scaling.center + d.scaling.spread).all()


def test_the_latest_window_is_the_next_days_window():
    close, t = ohlcv(10)
    inputs = ("close", "high", "volume")
    X, F = latest_window(close, t, inputs, 4)
    # The window that forecasts the day after the last is the one a day appended would give.
    extra_day = close.index[-1] + pd.Timedelta(days=1)
    longer = pd.concat([close, pd.Series([1.0], index=[extra_day])])
    longer_t = pd.concat([t, pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "volume": [1.0]}, index=[extra_day])])
    np.testing.assert_array_equal(X[0], make_windows(longer.to_numpy(), 4)[0][-1])
    np.testing.assert_allclose(F[0], input_windows(longer, longer_t, inputs, 4)[-1])
    assert latest_window(close, None, ("close",), 4)[1] is None


def test_inputs_are_standardised_on_training_rows_only():
    close, t = ohlcv(200)
    cfg = Config(window=10, inputs=("close", "high", "volume"))
    d = build_dataset(close, cfg, t)
    F_train = d.extra("train")
    assert d.scaling.extra == ("high", "volume")
    np.testing.assert_allclose(d.scaling.center, F_train.mean(axis=(0, 1)))
    np.testing.assert_allclose(d.scaling.spread, F_train.std(axis=(0, 1)))
    # Other validation and test days change nothing fitted.
    later = t.copy()
    later.iloc[d.split.train.stop + 10:] *= [1.0, 1.3, 1.0, 7.0]
    assert build_dataset(close, cfg, later).scaling == d.scaling
    X, y = d.model_arrays("test")
    assert X.shape == (len(y), 10, 3)
    np.testing.assert_array_equal(X[..., :1], WindowScaling(d.scaling.scale).inputs(d.part("test")[0]))
    np.testing.assert_allclose(X[..., 1:], ((d.extra("test") - d.scaling.center) / d.scaling.spread).astype("float32"))


def test_a_scaling_with_inputs_saves_and_loads_and_refuses_edits():
    s = WindowScaling(0.02, ("high", "volume"), (0.01, 0.0), (0.02, 0.3))
    d = scaling_to_dict(s)
    assert d == {"name": "window", "params": {"scale": 0.02, "extra": ["high", "volume"], "center": [0.01, 0.0],
                                              "spread": [0.02, 0.3]}}
    assert scaling_from_dict(d) == s
    assert scaling_to_dict(WindowScaling(0.02)) == {"name": "window", "params": {"scale": 0.02}}  # as before inputs
    bad = [
        ({"extra": ["volume", "high"]}, "extra must name inputs of open, high, low, range, volume once each, in that order; got ('volume', 'high')"),
        ({"extra": ["close"]}, "extra must name inputs of open, high, low, range, volume once each, in that order; got ('close',)"),
        ({"center": [0.01]}, "center must hold one finite number per extra input, got (0.01,)"),
        ({"spread": [0.02, 0.0]}, "spread must be positive, got (0.02, 0.0)"),
        ({"spread": [0.02, float("nan")]}, "spread must hold one finite number per extra input, got (0.02, nan)"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError) as e:
            scaling_from_dict({"name": "window", "params": d["params"] | change})
        assert str(e.value) == message
    with pytest.raises(ValueError, match=r"the model reads close,high,volume: windows of shape \(2, 3, 2\)"):
        s.inputs(np.ones((2, 3)))  # no inputs beside the closes
