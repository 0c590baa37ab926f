"""backtest_plan: fold bounds (consecutive, ending at the data end or from --first-test, expanding
or rolling, validation the last 15% before each origin), the settings' own checks, and a fold's
scaling fitted on its training rows only."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecast.backtest_plan import BacktestSettings, fold_dataset, make_folds
from forecast.errors import ConfigError, DataError, TooLittleData
from forecast.windows import WindowScaling, make_windows

from .backtest_helpers import WINDOW
from .conftest import random_walk

DAYS = pd.date_range("2022-01-01", periods=120, freq="D")  # target days, positions 0..119


def test_default_folds_are_consecutive_and_end_at_the_data_end():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20))
    # 120 days, 2 folds of 20: origins at positions 80 and 100.
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(80, 100), (100, 120)]
    assert [(f.test.first, f.test.last, f.test.days) for f in folds] == [
        ("2022-03-22", "2022-04-10", 20), ("2022-04-11", "2022-04-30", 20)]


def test_validation_is_the_last_15_percent_before_the_origin():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20))
    # Origin 80: 80 days before it, 12 (15%) for validation, the last ones; origin 100: 15 of 100.
    assert [(f.split.train, f.split.val) for f in folds] == [
        (slice(0, 68), slice(68, 80)), (slice(0, 85), slice(85, 100))]
    for f in folds:
        assert pd.Timestamp(f.val.last) + pd.Timedelta(days=1) == pd.Timestamp(f.test.first)
        assert f.train.last < f.val.first <= f.val.last < f.test.first


def test_no_target_day_in_two_folds_and_none_used_at_or_after_its_origin():
    folds = make_folds(DAYS, BacktestSettings(folds=4, step=7))
    out_of_sample = np.concatenate([np.arange(120)[f.split.test] for f in folds])
    assert len(out_of_sample) == len(set(out_of_sample)) == 28
    assert out_of_sample.tolist() == list(range(92, 120))
    for f in folds:
        origin = f.split.test.start
        assert f.split.train.stop <= origin and f.split.val.stop == origin


def test_train_days_keeps_exactly_that_many_days():
    folds = make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=40))
    # Origins 80 and 100: target days 40..79 and 60..99; validation 6 (15% of 40), the last.
    assert [(f.split.train, f.split.val) for f in folds] == [
        (slice(40, 74), slice(74, 80)), (slice(60, 94), slice(94, 100))]
    assert [f.train.days + f.val.days for f in folds] == [40, 40]


def test_first_test_and_the_partial_last_fold():
    # From position 93 (2022-04-04): folds of 10 at 93, 103 and a last one of 7 days (kept: >= 3).
    folds = make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 4), step=10))
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(93, 103), (103, 113), (113, 120)]
    # From position 98: 98, 108, and 118..119 has only 2 days: dropped.
    folds = make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 9), step=10))
    assert [(f.split.test.start, f.split.test.stop) for f in folds] == [(98, 108), (108, 118)]


def test_fold_errors():
    with pytest.raises(TooLittleData, match=r"^too little data for the backtest: the first fold needs 17 target days "
                                            r"before its origin, it has 0; use fewer --folds, a smaller --step, "
                                            r"a later --first-test or more data$"):
        make_folds(DAYS, BacktestSettings(folds=4, step=30))
    with pytest.raises(TooLittleData, match=r"^too little data for the backtest: the first fold needs 100 target days "
                                            r"before its origin, it has 80;"):
        make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=100))
    with pytest.raises(DataError, match=r"^--first-test 2022-05-01 is after the last target day 2022-04-30$"):
        make_folds(DAYS, BacktestSettings(first_test=date(2022, 5, 1)))
    with pytest.raises(TooLittleData, match=r"^--first-test 2022-04-29 leaves 2 target days up to 2022-04-30; "
                                            r"a fold needs at least 3$"):
        make_folds(DAYS, BacktestSettings(first_test=date(2022, 4, 29)))
    with pytest.raises(ConfigError, match=r"^--train-days 10 is too few: 3 training and 3 validation days "
                                          r"\(the last 15%\) need at least 17$"):
        make_folds(DAYS, BacktestSettings(folds=2, step=20, train_days=10))


def test_settings_check_themselves():
    assert BacktestSettings().folds == 12 and BacktestSettings(first_test=date(2024, 1, 1)).folds is None
    with pytest.raises(ConfigError, match=r"^give folds or first_test, not both$"):
        BacktestSettings(folds=3, first_test=date(2024, 1, 1))
    with pytest.raises(ConfigError, match=r"^step must be a whole number of at least 3, got 2$"):
        BacktestSettings(step=2)
    with pytest.raises(ConfigError, match=r"^workers must be a whole number of at least 1, got 0$"):
        BacktestSettings(workers=0)
    assert (BacktestSettings().engine, BacktestSettings(workers=2).engine,
            BacktestSettings(address="h:1").engine) == ("serial", "ray", "ray")


def test_scaling_sees_only_training_rows():
    """The fold's scaling is the std of its training days' log returns, by hand from the raw series,
    and closes at or after the origin cannot move it or the training inputs."""
    close = random_walk(120 + WINDOW, seed=1)
    fold = make_folds(close.index[WINDOW:], BacktestSettings(folds=2, step=20))[0]  # train 0..67, val 68..79
    raw = close.to_numpy()
    by_hand = np.std(np.log(raw[WINDOW:WINDOW + 68] / raw[WINDOW - 1:WINDOW + 67]))

    def dataset(values):
        X, y = make_windows(values, WINDOW)
        return fold_dataset(X, y, close.index[WINDOW:], fold, "window")

    d = dataset(raw)
    assert isinstance(d.scaling, WindowScaling) and d.scaling.scale == pytest.approx(by_hand, rel=1e-12)
    assert len(d.y) == 100 and d.dates[-1] == pd.Timestamp(fold.test.last)  # nothing after the fold
    changed = raw.copy()
    changed[WINDOW + 80:] *= 3  # every close from the origin's target day on
    e = dataset(changed)
    assert e.scaling == d.scaling
    for part in ("train", "val"):
        np.testing.assert_array_equal(e.model_arrays(part)[0], d.model_arrays(part)[0])
        np.testing.assert_array_equal(e.model_arrays(part)[1], d.model_arrays(part)[1])
