"""GRU vs LSTM for next-day Bitcoin prices.

A pipeline of stages that import in one direction (docs/architecture.md): sources -> windows ->
statistics -> models -> inference -> training -> saved models -> uses -> reports -> charts ->
publishing -> the command line and the notebook. Importing the package is cheap: TensorFlow loads
only with a module that builds, trains or loads a model.
"""

__version__ = "0.1.0"
