"""Loading TensorFlow must not break yfinance's downloads, nor print its start-up noise."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import {module}
import tensorflow
from curl_cffi import Curl
from curl_cffi.requests.impersonate import DEFAULT_CHROME
print(Curl().impersonate(DEFAULT_CHROME))  # 0: curl_cffi can still impersonate a browser
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_yahoo_requests_still_work_after_keras_is_loaded():
    """Through train, which loads Keras the way every command does: runtime first. That every
    module loading TensorFlow imports runtime first is checked from the source (test_architecture).
    No network needed: the failure is in setting up the request, before any connection."""
    done = run(PROBE.format(module="forecast.train"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"


def test_the_probe_catches_the_clash():
    # Without our module first, TensorFlow's libcurl shadows curl_cffi's: the probe must see it.
    done = run(PROBE.format(module="tensorflow"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() != "0"


def test_quiet_tensorflow_keeps_start_up_lines_off_stderr():
    done = run("from forecast.runtime import quiet_tensorflow; quiet_tensorflow(); import tensorflow as tf; "
               "print(tf.constant(1).numpy())")
    assert done.returncode == 0 and done.stdout.strip() == "1"
    assert done.stderr == ""
