"""Engines: run one function over many items, one after another in this process (run_serial) or in
parallel on Ray (run_ray, a local instance or a cluster), yielding (item, result) as each finishes.

The interface knows nothing of folds, tasks, settings or prices: `fn` is a module-level function
(picklable by reference, so that a Ray worker imports it from the shipped package) called as
fn(*shared, item); `shared` holds what every call reads (sent to Ray's object store once), `items`
what differs per call (picklable), and describe(item) names an item in the one-line error that a
failing call becomes (BacktestError), and an optional after(item, result) gives the items that
may run only once that one has finished (work that depends on earlier work: a chain of warm refits,
each starting from the one before); they join the end of the queue. Results come in completion
order: a caller that needs a fixed order keys them by item. Any new kind of work, multi-coin tasks
say, runs on these engines unchanged: write a module-level function over its items and pass it here.

Ray is imported only in this module, inside the functions that need it: train/predict and serial
backtests never load it (start_ray and run_ray take the module from import_ray).
"""

from __future__ import annotations

from . import runtime  # noqa: I001  (before anything loads TensorFlow, here or in a Ray worker)

import collections
import contextlib
import logging
import os
import pickle
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BacktestError

MAX_CALLS = 8            # trainings per Ray worker process before Ray replaces it: each leaks ~15-20 MB
IN_FLIGHT_PER_CPU = 2    # Ray tasks submitted ahead per CPU: enough to keep every worker busy
CONNECT_TIMEOUT_S = 5    # to reach a cluster's address at all
PROBE_TIMEOUT_S = 5      # for a Ray cluster's GCS to answer; ray.init itself retries a wrong address forever
START_TIMEOUT_S = 120    # for a local Ray to start: Ray's own 30 s run out on a busy machine
GCS_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"  # Ray's setting for how long its GCS may take to start


@dataclass(frozen=True)
class Engine:
    name: str                  # "serial" or "ray"
    workers: int               # trainings at once: 1, the local Ray's CPUs, or the cluster's CPUs
    address: str | None        # the Ray cluster's address; None for serial and a local Ray
    cpu_count: int             # CPUs of the machine that ran the command
    versions: dict[str, str]   # runtime.versions(), with Ray's when it ran


def failed(what: str, error: BaseException) -> BacktestError:
    """A call that failed, in one line: what it was (describe(item)) and the first line of why."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return BacktestError(f"task {what} failed: {reason}")


After = Callable[[Any, Any], Iterable]   # after(item, result): the items that wait for this one


def run_serial(fn: Callable, shared: tuple, items: Iterable, describe: Callable[[Any], str],
               after: After | None = None) -> Iterator[tuple[Any, Any]]:
    """fn(*shared, item) for each item in turn, in this process; after(item, result)'s items last."""
    queue = collections.deque(items)
    while queue:
        item = queue.popleft()
        try:
            result = fn(*shared, item)
        except Exception as e:  # a KeyboardInterrupt goes through: main ends with exit 130
            raise failed(describe(item), e) from e
        if after is not None:
            queue.extend(after(item, result))
        yield item, result


def run_ray(ray, workers: int, fn: Callable, shared: tuple, items: Iterable, describe: Callable[[Any], str],
            after: After | None = None) -> Iterator[tuple[Any, Any]]:
    """fn(*shared, item) as Ray remote calls, at most IN_FLIGHT_PER_CPU x workers submitted at once;
    results are collected with ray.wait as they finish, and after(item, result)'s items queued then.
    `shared` goes to the object store once; fn and the item travel pickled, so that a worker imports
    their modules only after _ray_call has quieted TensorFlow (Ray unpickles a call's arguments before
    it runs the call)."""
    remote = ray.remote(num_cpus=1, max_calls=MAX_CALLS)(_ray_call)
    refs = tuple(ray.put(value) for value in shared)
    queue, in_flight = collections.deque(items), {}

    def submit() -> None:
        while queue and len(in_flight) < IN_FLIGHT_PER_CPU * workers:
            item = queue.popleft()
            in_flight[remote.remote(pickle.dumps((fn, item)), *refs)] = item

    submit()
    while in_flight:
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        item = in_flight.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            raise failed(describe(item), e.cause if e.cause is not None else e) from None
        except ray.exceptions.RayError as e:  # a worker died (out of memory, killed), the cluster went away
            raise failed(describe(item), e) from None
        if after is not None:
            queue.extend(after(item, result))
        yield item, result
        submit()


def _ray_call(call: bytes, *shared):
    """One call in a Ray worker: forecast.runtime first (this module imports it), TensorFlow quiet
    and limited to the CPUs Ray gave the call, then the same fn(*shared, item) as in-process."""
    import ray  # Ray only in engines: train/predict and serial backtests never load it

    cpus = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    runtime.quiet_tensorflow()
    use_threads(cpus)
    fn, item = pickle.loads(call)  # imports fn's module (Keras, for a backtest task) only now
    return fn(*shared, item)


def use_threads(n: int) -> None:
    """TensorFlow's intra- and inter-op threads, set before it runs anything in this process; a
    recycled worker keeps what its first task set (the same n, since every task asks for the same)."""
    import tensorflow as tf  # loaded by runtime.quiet_tensorflow first: importing engines never loads it

    threading_ = tf.config.threading
    if threading_.get_intra_op_parallelism_threads() == n and threading_.get_inter_op_parallelism_threads() == n:
        return
    with contextlib.suppress(RuntimeError):  # TensorFlow already initialised in this process
        threading_.set_intra_op_parallelism_threads(n)
        threading_.set_inter_op_parallelism_threads(n)


# --- starting Ray ---------------------------------------------------------------------------------

def repo_root() -> Path:
    """The folder holding the forecast package: what a Ray cluster's workers need."""
    return Path(__file__).resolve().parents[1]


def ship_excludes(out: Path) -> list[str]:
    """What stays behind when the project is shipped to a cluster: history, environments, price caches,
    results (the --out folder too, when it lies inside the project) and documents."""
    excludes = [".git", ".venv", "artifacts", "data/*.csv", "docs", "notebooks", ".pytest_cache", "__pycache__"]
    with contextlib.suppress(ValueError):
        inside = Path(out).resolve().relative_to(repo_root())
        if inside.parts:
            excludes.append(inside.as_posix())
    return excludes


def import_ray():
    """The ray module, or a one-line BacktestError saying how to install it."""
    try:
        import ray  # Ray only in engines: train/predict and serial backtests never load it
    except ImportError as e:
        raise BacktestError(f"parallel backtests need Ray ({e}): pip install -r requirements.txt") from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fails fast when nothing listens at host:port; ray.init would retry a wrong address forever."""
    if address in ("auto", "local"):
        return  # Ray finds (or refuses) the local cluster itself, quickly
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise BacktestError(f"cannot use Ray address {address!r}: expected host:port, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e) or type(e).__name__)
        raise BacktestError(f"cannot reach a Ray cluster at {address}: {reason}") from None


@contextlib.contextmanager
def _stderr_held() -> Iterator[list[str]]:
    """Holds back what Ray's C++ core writes to stderr while it starts or connects (retry notes);
    the caller gets the text, to quote when starting fails."""
    sys.stderr.flush()
    saved, held = os.dup(2), []
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            held.append(captured.read().decode(errors="replace"))


def probe_cluster(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Asks the GCS at host:port for an answer, with a time limit ray.init does not have: something
    that accepts connections but is not Ray, or a cluster that wants a token, fails here in seconds."""
    if address in ("auto", "local") or "://" in address:
        return  # found by Ray itself, or Ray Client's own protocol
    try:
        from ray._raylet import InnerGcsClient  # not public: where it is missing, ray.init alone decides
    except ImportError:
        return
    held: list[str] = []
    try:
        with _stderr_held() as held:
            InnerGcsClient.standalone(address, None, int(timeout * 1000))
    except AttributeError:
        return
    except Exception as e:
        raise BacktestError(f"cannot connect to the Ray cluster at {address}: {_init_reason(e, ''.join(held))}") from None


def start_ray(ray, workers: int, address: str | None, out: Path) -> tuple[int, str | None]:
    """ray.init for a local instance of `workers` CPUs or the cluster at `address`, with Ray's own
    logging kept off the terminal and the project shipped without `out`; returns (CPUs Ray offers,
    address)."""
    common = dict(
        include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
        configure_logging=True, ignore_reinit_error=False,
        runtime_env={"working_dir": str(repo_root()), "excludes": ship_excludes(out)},
    )
    if address:
        check_reachable(address)
        probe_cluster(address)
        where, kwargs = f"the Ray cluster at {address}", dict(address=address)
    else:
        where, kwargs = f"a local Ray with {workers} workers", dict(address="local", num_cpus=workers)
    if ray.is_initialized():  # the caller's own Ray: neither reuse nor shut down what is not ours
        raise BacktestError("Ray is already initialised in this process; call ray.shutdown() first")
    held: list[str] = []
    try:
        with _stderr_held() as held, (contextlib.nullcontext() if address else patient_start(START_TIMEOUT_S)):
            ray.init(**kwargs, **common)
    except Exception as e:
        shutdown(ray)
        if not address and _timed_out(e):
            raise BacktestError(f"{where} did not start within {START_TIMEOUT_S} s (the machine is busy?); "
                                "try again, or --workers 1") from None
        raise BacktestError(f"cannot {'connect to' if address else 'start'} {where}: "
                            f"{_init_reason(e, ''.join(held))}") from None
    return int(ray.cluster_resources().get("CPU", workers)), address


@contextlib.contextmanager
def patient_start(seconds: float) -> Iterator[None]:
    """A local ray.init given `seconds` instead of Ray's fixed 30 to start: its GCS through Ray's
    own setting (unless set already), and its raylet by repeating the node lookup that Ray 2.60
    polls for at most 30 s (ray/_private/node.py has no setting for that one). Both undone after."""
    saved = os.environ.get(GCS_WAIT_VARIABLE)
    os.environ[GCS_WAIT_VARIABLE] = saved if saved is not None else str(seconds)
    try:
        from ray._private import services  # not public: where it is missing, Ray's own 30 s apply
        lookup = services.get_node
    except (ImportError, AttributeError):
        services = lookup = None

    def patient(*args, **kwargs):
        deadline = time.monotonic() + seconds
        while True:
            try:
                return lookup(*args, **kwargs)
            except RuntimeError:  # the raylet has not registered yet
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    if lookup is not None:
        services.get_node = patient
    try:
        yield
    finally:
        if lookup is not None:
            services.get_node = lookup
        if saved is None:
            os.environ.pop(GCS_WAIT_VARIABLE, None)
        else:
            os.environ[GCS_WAIT_VARIABLE] = saved


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it, at most 10 deep."""
    chain, e = [], error
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    return chain


def _timed_out(error: BaseException) -> bool:
    """Whether a local ray.init failed by running out of time to start: its raylet did not register
    ("timed out during startup"), or its GCS did not write its port file (Ray 2.60 raises a RuntimeError
    "Timed out waiting for file .../gcs_server_port_...", not a TimeoutError)."""
    return any(isinstance(x, TimeoutError) or "timed out during startup" in str(x)
               or "Timed out waiting for file" in str(x) for x in _chain(error))


def _init_reason(error: BaseException, held: str) -> str:
    """Why ray.init failed, in one line: its message, or what its causes or stderr said."""
    chain = _chain(error)
    if any("InvalidAuthToken" in str(x) or "Authentication token" in str(x) for x in chain):
        # `ray start` turns token authentication on by default (Ray 2.60), and ray.init sends the token
        # to an explicit address only with RAY_AUTH_MODE=token.
        return ("the cluster asks for its authentication token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "(`ray get-auth-token` on the head node prints it)")
    if any("Timed out while waiting for GCS" in str(x) for x in chain):
        return "no Ray cluster answers there (timed out)"
    notes = [line for line in held.splitlines() if line.strip()]
    text = str(error).strip()
    return (text.splitlines()[0] if text else notes[-1] if notes else type(error).__name__)[:300]


def shutdown(ray) -> None:
    """ray.shutdown, whatever state a failed start left Ray in."""
    with contextlib.suppress(Exception):
        ray.shutdown()
