"""Config checks itself, the same for the CLI, scripts and the notebook; the settings that
decide whether a saved model is reusable follow from its fields."""

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from forecast.config import Config, inputs_key, inputs_label, parse_inputs
from forecast.errors import ConfigError


@pytest.mark.parametrize(("changes", "message"), [
    ({"window": 1}, "window must be a whole number of at least 2, got 1"),
    ({"window": 2.5}, "window must be a whole number of at least 2, got 2.5"),
    ({"units": 0}, "units must be a whole number of at least 1, got 0"),
    ({"epochs": True}, "epochs must be a whole number of at least 1, got True"),
    ({"cell": "rnn"}, "unknown cell 'rnn'; valid: gru, lstm"),
    ({"scaling": "zscore"}, "unknown scaling 'zscore'; valid: window, minmax"),
    ({"loss": "mae"}, "unknown loss 'mae'; valid: huber, mse"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive finite number, got nan"),
    ({"learning_rate": 0}, "learning_rate must be a positive finite number, got 0"),
    ({"seed": -1}, "seed must be a whole number of at least 0, got -1"),
    ({"seed": 2**32}, "seed must be below 4294967296, got 4294967296"),
    ({"levels": (80, 100)}, "an interval level is a percentage between 0 and 100 (exclusive), got 100"),
    ({"levels": ()}, "levels must name at least one interval level"),
    ({"val_fraction": 0.5, "test_fraction": 0.5},
     "val_fraction and test_fraction must be shares that leave training days, got 0.5 and 0.5"),
    ({"start": date(2024, 2, 1), "end": date(2024, 1, 1)}, "start 2024-02-01 is after end 2024-01-01"),
])
def test_bad_settings_are_refused_with_one_message(changes, message):
    with pytest.raises(ConfigError) as info:
        Config(**changes)
    assert str(info.value) == message


def test_replace_checks_too():
    with pytest.raises(ConfigError, match="^units must be"):
        Config().replace(units=-3)


def test_coercions():
    cfg = Config(csv="prices.csv", out="results", levels=[95, 80, 95])
    assert (cfg.csv, cfg.out, cfg.levels) == (Path("prices.csv"), Path("results"), (80.0, 95.0))


def test_model_settings_are_every_field_but_where_data_comes_from_and_results_go():
    io = {"ticker", "csv", "start", "end", "cache_dir", "out", "quiet", "interval_method", "aci_gamma"}
    settings = Config(test_start=date(2024, 5, 1)).model_settings()
    # inputs came later: at its default (the close alone) it is left out, so that models and task
    # files saved before it stay reusable; any other inputs are in, and make another model.
    assert set(settings) == {f.name for f in dataclasses.fields(Config)} - io - {"inputs"}
    assert Config(inputs=("close", "volume")).model_settings() == settings | {"inputs": ["close", "volume"],
                                                                              "test_start": None}
    assert settings["test_start"] == "2024-05-01" and settings["levels"] == [80.0, 95.0]
    # Changing where results go keeps a model reusable; changing the cell or a level does not.
    assert Config(out=Path("elsewhere"), quiet=True).model_settings() == Config().model_settings()
    assert Config(cell="lstm").model_settings() != Config().model_settings()
    assert Config(levels=(90,)).model_settings() != Config().model_settings()


@pytest.mark.parametrize(("text", "inputs"), [
    ("close", ("close",)),
    ("high,low", ("close", "high", "low")),           # close is always in, and first
    ("Volume, close ,RANGE", ("close", "range", "volume")),  # the channel order, whatever the order given
    ("ohlcv", ("close", "open", "high", "low", "volume")),
    ("ohlcv,range", ("close", "open", "high", "low", "range", "volume")),  # a shorthand inside a list (issue 31)
    (" Range , OHLCV", ("close", "open", "high", "low", "range", "volume")),
])
def test_inputs_are_read_in_one_order(text, inputs):
    assert parse_inputs(text) == inputs
    assert Config(inputs=text).inputs == inputs
    assert inputs_label(inputs) == {"ohlcv": "ohlcv"}.get(text, ",".join(inputs))
    assert inputs_key(inputs) == {"ohlcv": "ohlcv"}.get(text, "+".join(inputs))  # folder and file names


@pytest.mark.parametrize(("value", "message"), [
    ("close,vol", "unknown input 'vol'; valid: close, open, high, low, range, volume (or ohlcv), comma-separated"),
    ("low,low", "input 'low' is given twice in 'low,low'"),
    ("ohlcv,volume", "input 'volume' is given twice in 'ohlcv,volume' (ohlcv holds close,open,high,low,volume)"),
    ("ohlcv,ohlcv", "input 'close' is given twice in 'ohlcv,ohlcv' (ohlcv holds close,open,high,low,volume)"),
    ("ohlcv,vwap", "unknown input 'vwap'; valid: close, open, high, low, range, volume (or ohlcv), comma-separated"),
    (("high", "close"), "inputs must start with close, name each input once and follow the order close, open, high, "
                        "low, range, volume; got high, close"),
    (("close", "close"), "inputs must start with close, name each input once and follow the order close, open, high, "
                         "low, range, volume; got close, close"),
    (("close", "vwap"), "unknown input 'vwap'; valid: close, open, high, low, range, volume"),
    ((), "inputs must be a tuple of input names, got ()"),
])
def test_bad_inputs_are_refused(value, message):
    with pytest.raises(ConfigError) as info:
        Config(inputs=value)
    assert str(info.value) == message
