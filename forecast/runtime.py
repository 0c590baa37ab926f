"""Loading TensorFlow well: after yfinance's HTTP library, and without its start-up noise.

Every module that imports Keras imports this one first. TensorFlow ships its own libcurl; once it
is loaded, curl_cffi (which yfinance downloads with) binds to it instead of its own
curl-impersonate build, and every Yahoo request fails with "Impersonating chrome... is not
supported" (same cause as curl_cffi#362). Loading curl_cffi first avoids that.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile

import curl_cffi  # noqa: F401  (must be loaded before TensorFlow, see above)

from . import __version__
from .files import interrupts_deferred


def quiet_tensorflow() -> None:
    """Imports TensorFlow with its C++ start-up lines held back; they are shown only if it fails.

    Those lines (CUDA probing on CPU machines, oneDNN notes) are printed before TensorFlow's
    logging is initialised, so TF_CPP_MIN_LOG_LEVEL alone cannot stop them (tensorflow#100442);
    it does silence what comes later. Retracing notes from predict() on several models are about
    Keras internals, not the user's run.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                # A Ctrl-C inside the import can land in a C extension's initialisation and come
                # out as an ImportError or SystemError with a traceback; held back until the
                # import is done, it arrives as a plain KeyboardInterrupt (a second or two later).
                with interrupts_deferred():
                    import tensorflow  # noqa: F401
                    import keras  # noqa: F401  (as heavy, and every command that loads TF uses it)
            except BaseException as e:
                os.dup2(saved, 2)
                if not isinstance(e, KeyboardInterrupt):  # a Ctrl-C is the user's, not TF's failure
                    captured.seek(0)
                    sys.stderr.write(captured.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def versions() -> dict[str, str]:
    """What a saved result was made with."""
    # Not at the top: __main__ imports this module before quiet_tensorflow(), and a Ctrl-C there must
    # not land in a C extension's import; by the time a result is saved, all of these are loaded.
    import keras
    import numpy
    import pandas
    import sklearn
    import tensorflow

    return {
        "forecast": __version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
    }
