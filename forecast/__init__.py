"""GRU vs LSTM for next-day Bitcoin prices.

The pipeline, one module per stage: data -> windows -> models -> train -> evaluate / bench -> plots.
Importing the package is cheap: TensorFlow loads only when a model is built or loaded.
"""

__version__ = "0.1.0"
