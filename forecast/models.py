"""Two interchangeable models: one GRU or one LSTM layer, then Dense(1). Nothing else differs."""

from __future__ import annotations

from . import runtime  # noqa: F401, I001  (before Keras: see runtime.py)

import keras

from . import config

# Each layer keeps its Keras defaults (tanh / sigmoid, no recurrent dropout, GRU reset_after=True):
# those are the conditions under which TensorFlow runs the fused cuDNN kernel on a GPU.
CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
assert tuple(CELLS) == config.CELLS


def get_cell(name: str):
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; valid: {', '.join(CELLS)}") from None


def build_model(
    cell: str,
    window: int = 60,
    features: int = 1,
    units: int = 16,
    learning_rate: float = 1e-3,
    loss: str = "huber",
    jit_compile: bool = False,
) -> keras.Model:
    layer = get_cell(cell)
    inputs = keras.Input(shape=(window, features), name="window")  # (batch, window, features)
    hidden = layer(units, name=cell)(inputs)                        # (batch, units)
    outputs = keras.layers.Dense(1, name="next_day")(hidden)        # (batch, 1)
    model = keras.Model(inputs, outputs, name=f"{cell}_{units}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=jit_compile)
    # Adam's slots now, not lazily inside the first traced train step: a step that creates variables
    # is traced twice (with XLA, compiled twice), about 0.6 s more per training. The slots start at
    # zero either way, so the trained weights are bit for bit the same.
    model.optimizer.build(model.trainable_variables)
    return model

