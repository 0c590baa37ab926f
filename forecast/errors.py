"""Errors a user can cause. The CLI turns each into one `error: ...` line and exit code 1."""


class ForecastError(Exception):
    """Base class: a problem with the user's input, data or saved files, not a bug."""


class DataError(ForecastError):
    """Prices could not be loaded, or are not usable."""


class TooLittleData(DataError):
    """Valid prices, but fewer days than the job needs."""


class ModelError(ForecastError):
    """A saved model is missing, corrupt or does not fit the data."""
