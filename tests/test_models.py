"""The two models: one GRU or one LSTM layer, then Dense(1); nothing else differs."""

import keras
import pytest

from forecast.models import CELLS, build_model, get_cell

CELL_CLASSES = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
ONLY_IN = {"gru": {"reset_after"}, "lstm": {"unit_forget_bias"}}  # each cell's own options


@pytest.fixture(scope="module")
def models():
    return {cell: build_model(cell, window=5, features=1, units=4) for cell in ("gru", "lstm")}


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_layers_and_shapes(models, cell):
    model = models[cell]
    assert [type(layer) for layer in model.layers] == [
        keras.layers.InputLayer, CELL_CLASSES[cell], keras.layers.Dense,
    ]
    assert tuple(model.input_shape) == (None, 5, 1)
    assert tuple(model.output_shape) == (None, 1)
    recurrent, dense = model.layers[1], model.layers[2]
    assert recurrent.units == 4
    assert recurrent.return_sequences is False  # one layer, its last state only
    assert dense.units == 1
    assert dense.get_config()["activation"] == "linear"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cudnn_compatible_defaults(models, cell):
    """The conditions under which TensorFlow runs the fused cuDNN kernel on a GPU."""
    config = models[cell].layers[1].get_config()
    assert config["activation"] == "tanh"
    assert config["recurrent_activation"] == "sigmoid"
    assert config["recurrent_dropout"] == 0
    assert config["use_bias"] is True
    assert config["unroll"] is False
    if cell == "gru":
        assert config["reset_after"] is True


def test_cells_differ_only_in_the_cell_type(models):
    gru, lstm = models["gru"], models["lstm"]
    g, l = gru.layers[1].get_config(), lstm.layers[1].get_config()
    assert set(g) - set(l) == ONLY_IN["gru"]
    assert set(l) - set(g) == ONLY_IN["lstm"]
    shared = (set(g) & set(l)) - {"name"}
    assert {k: g[k] for k in shared} == {k: l[k] for k in shared}
    assert g["units"] == l["units"] == 4
    # Input and output layers are identical, as is the compiled loss and optimizer.
    assert gru.layers[0].get_config() == lstm.layers[0].get_config()
    assert gru.layers[2].get_config() == lstm.layers[2].get_config()
    assert gru.optimizer.get_config()["learning_rate"] == lstm.optimizer.get_config()["learning_rate"]
    assert gru.loss == lstm.loss == "huber"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_build_options(cell):
    model = build_model(cell, window=7, features=3, units=2, learning_rate=0.01, loss="mse")
    assert tuple(model.input_shape) == (None, 7, 3)
    assert model.layers[1].units == 2
    assert model.loss == "mse"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)


def test_cell_registry():
    assert list(CELLS) == ["gru", "lstm"]
    assert get_cell("gru") is keras.layers.GRU
    assert get_cell("lstm") is keras.layers.LSTM


@pytest.mark.parametrize("call", [lambda: get_cell("rnn"), lambda: build_model("rnn", window=5, units=4)])
def test_unknown_cell(call):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == "unknown cell 'rnn'; valid: gru, lstm"


@pytest.mark.parametrize("units", [1, 4, 16])
def test_parameter_counts_follow_the_closed_forms(units):
    """Per step GRU has 3 gate blocks (update, reset, candidate) and LSTM 4 (input, forget, cell,
    output), each with input weights (units x 1), recurrent weights (units x units) and a bias;
    GRU with reset_after=True keeps a second bias per block. Dense(1) adds units + 1."""
    gru = 3 * (units + units * units + 2 * units) + units + 1
    lstm = 4 * (units + units * units + units) + units + 1
    assert build_model("gru", window=5, units=units).count_params() == gru
    assert build_model("lstm", window=5, units=units).count_params() == lstm
    if units == 16:
        assert (gru, lstm) == (929, 1169)  # the counts the README's speed discussion quotes


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize(("k", "units"), [(1, 16), (3, 16), (5, 16), (5, 4)])
def test_parameter_counts_for_k_inputs(cell, k, units):
    """With k inputs a day only the input weights grow: GRU 3(k*u + u*u + 2u), LSTM 4(k*u + u*u + u),
    plus the Dense head's u + 1."""
    closed = {"gru": 3 * (k * units + units * units + 2 * units), "lstm": 4 * (k * units + units * units + units)}
    model = build_model(cell, window=5, features=k, units=units)
    assert model.count_params() == closed[cell] + units + 1
    assert tuple(model.input_shape) == (None, 5, k)
    if (k, units) == (5, 16):  # ohlcv: what the backtests over inputs train
        assert model.count_params() == {"gru": 1121, "lstm": 1425}[cell]


def _fit_counting_traces(model, seed: int = 3) -> tuple[int, list]:
    """Fits `model` for two epochs on seeded noise; returns how often its train step was traced
    (Python runs it only while tracing) and the trained weights."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(40, 5, 1)).astype("float32"), rng.normal(size=40).astype("float32")  # (40, 5, 1), (40,)
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    keras.utils.set_random_seed(seed)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0)
    return len(traces), model.get_weights()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_training_traces_its_train_step_once_and_trains_the_same_weights(cell):
    """The optimizer's slots exist before fit: otherwise the first trace creates them and TensorFlow
    traces (with XLA: compiles) the step a second time. Built lazily or not, the weights are the same."""
    import numpy as np

    keras.utils.set_random_seed(1)
    built = build_model(cell, window=5, units=4)
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(5, 1))
    hidden = get_cell(cell)(4)(inputs)  # build_model's layers, created in its order
    lazy = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    lazy.compile(optimizer=keras.optimizers.Adam(1e-3), loss="huber")
    lazy_traces, lazy_weights = _fit_counting_traces(lazy)
    built_traces, built_weights = _fit_counting_traces(built)
    assert (built_traces, lazy_traces) == (1, 2)
    assert len(built_weights) == len(lazy_weights)
    for a, b in zip(built_weights, lazy_weights):
        np.testing.assert_array_equal(a, b)
