"""Errors a user can cause. The CLI turns each into one `error: ...` line and exit code 1
(ConfigError: exit code 2, like any other usage error)."""


class ForecastError(Exception):
    """Base class: a problem with the user's input, data or saved files, not a bug."""


class ConfigError(ForecastError, ValueError):
    """A setting out of range or unknown: the same check for the CLI, scripts and the notebook."""


class DataError(ForecastError):
    """Prices could not be loaded, or are not usable."""


class TooLittleData(DataError):
    """Valid prices, but fewer days than the job needs."""


class ModelError(ForecastError):
    """A saved model is missing, corrupt or does not fit the data."""


class SaveError(ForecastError):
    """Results could not be written (disk full, no permission); what was saved before is intact."""


class BacktestError(ForecastError):
    """The backtest could not run: Ray would not start, a cluster address is wrong, a task failed."""
