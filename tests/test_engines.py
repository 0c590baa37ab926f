"""engines: run_serial and run_ray over any module-level function and items, a failing call as
one line, and starting Ray (a wrong or unreachable address, a local Ray that cannot start or is
slow to) with nothing of Ray's on the terminal."""

import os
import pickle
import re
import time
import types

import pytest

from forecast import engines
from forecast.__main__ import main
from forecast.errors import BacktestError, ModelError

from .backtest_helpers import TINY, counting, task_files, write_prices


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    return write_prices(tmp_path_factory)


# --- the interface: fn(*shared, item) over items, (item, result) as each finishes ------------------

def scaled(factor: int, offset: int, item: int) -> int:
    if item == 3:
        raise ValueError("three is not allowed\nsecond line")
    return factor * item + offset


def test_run_serial_calls_fn_with_shared_then_item_in_order():
    assert list(engines.run_serial(scaled, (10, 1), [0, 1, 2, 4], str)) == [(0, 1), (1, 11), (2, 21), (4, 41)]
    assert list(engines.run_serial(scaled, (10, 1), [], str)) == []


def test_run_serial_names_the_failing_item_in_one_line():
    runs = engines.run_serial(scaled, (10, 1), [2, 3, 4], lambda item: f"item {item}")
    assert next(runs) == (2, 21)
    with pytest.raises(BacktestError, match=r"^task item 3 failed: three is not allowed$"):
        next(runs)


class FakeRay:
    """The few calls run_ray makes, in this process: remote calls run when submitted and finish in
    reverse order of submission among those in flight."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            def __init__(self, cause):
                super().__init__(str(cause))
                self.cause = cause

    def __init__(self):
        self.store, self.in_flight_max, self.outcomes = {}, 0, {}

    def put(self, value):
        ref = ("put", len(self.store))
        self.store[ref] = value
        return ref

    def remote(self, num_cpus, max_calls):
        assert (num_cpus, max_calls) == (1, engines.MAX_CALLS)

        def wrap(fn):
            ray = self

            class Remote:
                @staticmethod
                def remote(call, *refs):
                    fn, item = pickle.loads(call)
                    ref = ("call", item)
                    try:
                        ray.outcomes[ref] = (True, fn(*(ray.store[r] for r in refs), item))
                    except Exception as e:
                        ray.outcomes[ref] = (False, ray.exceptions.RayTaskError(e))
                    return ref

            return Remote

        return wrap

    def wait(self, refs, num_returns):
        self.in_flight_max = max(self.in_flight_max, len(refs))
        return [refs[-1]], refs[:-1]

    def get(self, ref):
        ok, value = self.outcomes.pop(ref)
        if not ok:
            raise value
        return value


def test_run_ray_yields_every_item_as_it_finishes_with_a_bounded_queue():
    ray = FakeRay()
    items = [0, 1, 2, 4, 5, 6, 7]
    done = list(engines.run_ray(ray, 1, scaled, (10, 1), items, str))
    assert sorted(done) == [(i, 10 * i + 1) for i in items] and len(done) == len(items)
    assert [item for item, _ in done] != items  # completion order, not submission order
    assert ray.in_flight_max == engines.IN_FLIGHT_PER_CPU * 1


def test_run_ray_names_the_failing_item_by_its_cause():
    ray = FakeRay()
    with pytest.raises(BacktestError, match=r"^task item 3 failed: three is not allowed$"):
        list(engines.run_ray(ray, 2, scaled, (10, 1), [1, 3], lambda item: f"item {item}"))


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_wrong_address_is_one_line_and_fails_fast(capsys, monkeypatch, prices_csv, tmp_path, how):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path)]
    if how == "flag":
        argv += ["--address", "127.0.0.1:1"]
    else:
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    started = time.perf_counter()
    assert main(argv) == 1
    assert time.perf_counter() - started < 30
    assert capsys.readouterr().err == "error: cannot reach a Ray cluster at 127.0.0.1:1: Connection refused\n"


def test_address_that_is_not_host_port(capsys, monkeypatch, prices_csv, tmp_path):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--address", "nowhere"]) == 1
    assert capsys.readouterr().err == ("error: cannot use Ray address 'nowhere': expected host:port, "
                                       "e.g. 10.0.0.5:6379\n")


def test_local_ray_that_cannot_start(capsys, monkeypatch, prices_csv, tmp_path):
    import ray

    def refuse(**kwargs):
        raise RuntimeError("no room for the object store\nsecond line")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", refuse)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--workers", "2"]) == 1
    assert capsys.readouterr().err == "error: cannot start a local Ray with 2 workers: no room for the object store\n"


@pytest.mark.parametrize("error", [
    # what Ray 2.60 raises when its raylet has not registered in time (ray/_private/node.py)
    Exception("The current node timed out during startup. This could happen because some of the raylet failed "
              "to startup or the GCS has become overloaded."),
    # ... and when its GCS has not written its port file in time (ray._raylet.wait_for_persisted_port)
    RuntimeError("Timed out waiting for file /tmp/ray/session_2026-12-03_12-46-07_427809_7055/gcs_server_port_ab"),
    TimeoutError("timed out"),
], ids=["raylet", "gcs", "timeout-error"])
def test_local_ray_that_does_not_start_in_time_names_the_timeout(capsys, monkeypatch, prices_csv, tmp_path, error):
    import ray

    def slow(**kwargs):
        raise error

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", slow)
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path), "--workers", "2"]) == 1
    assert capsys.readouterr().err == ("error: a local Ray with 2 workers did not start within 120 s (the machine is "
                                       "busy?); try again, or --workers 1\n")


@pytest.mark.parametrize("preset", [None, "300"])
def test_a_local_ray_gets_120_s_to_start(monkeypatch, tmp_path, preset):
    """Ray 2.60 polls ray._private.services.get_node for its raylet for 30 s, and waits for its GCS
    RAY_gcs_server_port_wait_time_s (default 30): during a local start the first keeps asking for up
    to 120 s, the second is 120 unless the user set it; both are as before afterwards."""
    from ray._private import services

    lookups = []

    def lookup(gcs_address, node_id):  # the raylet registers at the 4th look
        lookups.append((gcs_address, node_id))
        if len(lookups) < 4:
            raise RuntimeError("node info not available yet")
        return {"node_id": node_id}

    seen = {}

    def init(**kwargs):  # as Node.__init__ does, through the module attribute
        seen["wait"] = os.environ.get("RAY_gcs_server_port_wait_time_s")
        seen["node"] = services.get_node("127.0.0.1:1", "n1")

    if preset is None:
        monkeypatch.delenv("RAY_gcs_server_port_wait_time_s", raising=False)
    else:
        monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", preset)
    monkeypatch.setattr(services, "get_node", lookup)
    fake_ray = types.SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None,
                                     cluster_resources=lambda: {"CPU": 2.0})
    assert engines.start_ray(fake_ray, 2, None, tmp_path) == (2, None)
    assert seen == {"wait": preset or "120", "node": {"node_id": "n1"}} and len(lookups) == 4
    assert services.get_node is lookup and os.environ.get("RAY_gcs_server_port_wait_time_s") == preset
    # It does give up: here after 0.3 s, with Ray's own error.
    lookups.clear()

    def never(*args):
        lookups.append(args)
        raise RuntimeError("no")

    monkeypatch.setattr(services, "get_node", never)
    started = time.monotonic()
    with engines.patient_start(0.3), pytest.raises(RuntimeError, match="^no$"):
        services.get_node("127.0.0.1:1", "n1")
    assert 0.3 <= time.monotonic() - started < 5 and len(lookups) >= 2


def test_the_installed_ray_waits_where_patient_start_reaches():
    """The test above fakes Ray's side; this one reads the installed Ray's Node: patient_start works only
    while Node polls for its raylet through the module attribute ray._private.services.get_node (a name
    imported at load would keep Ray's own function) and reads the GCS wait from GCS_WAIT_VARIABLE. A Ray
    that changed either would silently give a busy machine its fixed 30 s again."""
    import inspect

    from ray._private import node

    source = inspect.getsource(node.Node)
    assert "ray._private.services.get_node(" in source and "raylet_start_wait_time_s = 30" in source
    assert f'os.environ.get("{engines.GCS_WAIT_VARIABLE}", default_wait)' in source
    assert "get_node" not in vars(node)  # not imported by name into node.py


def test_failed_task_is_one_line_and_finished_results_stay(capsys, monkeypatch, prices_csv, tmp_path):
    calls = counting(monkeypatch, fail_at=2, error=ModelError("training diverged (the model predicts non-finite "
                                                              "prices); try a smaller --learning-rate"))
    assert main(["backtest", "--csv", str(prices_csv), *TINY, "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: task fold 1 (2021-05-19..2021-05-24), GRU, seed 43 failed: training diverged (the model predicts "
        "non-finite prices); try a smaller --learning-rate")
    assert len(calls) == 2 and [p.name.split("_")[:3] for p in task_files(tmp_path)] == [["2021-05-19", "gru", "seed42"]]
    assert not (tmp_path / "backtest.json").exists()


def test_a_task_failing_in_a_ray_worker_is_one_line(capsys, monkeypatch, prices_csv, tmp_path):
    """A real exception raised inside a Ray worker process (a learning rate that makes every training
    diverge), not a fake in this process: Ray's wrapper is unwrapped to the domain error's one line."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["backtest", "--csv", str(prices_csv), *TINY, "--learning-rate", "1e30", "--out", str(tmp_path),
            "--workers", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"error: task fold [12] \(2021-\d\d-\d\d\.\.2021-\d\d-\d\d\), (GRU|LSTM), seed 4[23] "
                        r"failed: training diverged \(the model predicts non-finite prices\); try a smaller "
                        r"--learning-rate", err[-1]), err[-1]
    assert err[:-1] == ["INFO: Ray: local, 2 CPUs for 8 tasks"]  # nothing from Ray, no traceback
    assert not (tmp_path / "backtest.json").exists()
