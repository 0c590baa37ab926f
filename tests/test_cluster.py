"""The cluster path on a real two-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head
node and a second node, one CPU each, started in this process as `ray start` would on two machines):
a tiny two-coin backtest through --address gives exactly the serial numbers per coin, and its tasks
ran on both nodes; a warm backtest's chains give exactly the serial task files and weights."""

import json

import pytest

from forecast import backtest_task, engines

from .backtest_helpers import TINY, metrics_only, run_cli, stdout_of
from .conftest import random_walk, write_yahoo_csv

ONE_FOLD = [*TINY, "--folds", "1", "--seeds", "1"]  # per coin a GRU and an LSTM task
COINS = ("BIG", "SMALL")
TASKS = 2 * len(COINS)


@pytest.fixture(scope="module")
def coins(tmp_path_factory):
    """Two price files, the second the first times 2**-15 (an XRP beside a BTC), as --csv NAME=PATH."""
    folder = tmp_path_factory.mktemp("prices")
    close = random_walk(150, seed=7)
    files = (write_yahoo_csv(folder / "big.csv", close), write_yahoo_csv(folder / "small.csv", close * 2.0 ** -15))
    return [arg for name, path in zip(COINS, files) for arg in ("--csv", f"{name}={path}")]


def task_records(out) -> dict:
    """(coin, fold origin, cell, seed) -> the task's result file."""
    records = {}
    for name in COINS:
        for path in (out / "backtest" / "tasks" / name).glob("*.json"):
            r = json.loads(path.read_text())
            records[name, r["dates"][0], r["cell"], r["seed"]] = r
    return records


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node of 1 CPU each; shut down whatever happens."""
    from ray.cluster_utils import Cluster  # Ray only where a test needs it: collecting tests never loads it

    two_nodes = Cluster()  # the nodes are added inside try: a node that fails to start is shut down too
    try:
        two_nodes.add_node(num_cpus=1, include_dashboard=False, include_log_monitor=False)  # the head: the address
        two_nodes.add_node(num_cpus=1)
        two_nodes.wait_for_nodes()
        yield two_nodes
    finally:
        two_nodes.shutdown()


def run_task_on_node(cfg, close, table, data, task):
    """backtest_task.run_task in a Ray worker, and the id of the node it ran on."""
    import ray  # in a Ray worker, where Ray is loaded already

    return backtest_task.run_task(cfg, close, table, data, task), ray.get_runtime_context().get_node_id()


@pytest.fixture
def nodes_of_tasks(monkeypatch):
    """engines.run_ray over run_task_on_node instead of run_task: the backtest gets the same records,
    the test the node of each task (task name -> node id)."""
    nodes, run_ray = {}, engines.run_ray

    def run_ray_noting_nodes(ray, workers, fn, shared, items, describe, after=None):
        assert fn is backtest_task.run_task and after is None
        for task, (record, node) in run_ray(ray, workers, run_task_on_node, shared, items, describe, after):
            nodes[task.name] = node
            yield task, record

    monkeypatch.setattr(engines, "run_ray", run_ray_noting_nodes)
    return nodes


@pytest.mark.slow
def test_a_two_node_cluster_gives_exactly_the_serial_numbers(cluster, nodes_of_tasks, monkeypatch, coins, tmp_path):
    """The same tiny two-coin backtest serially and through --address on the cluster (one Ray
    connection for both coins): every coin's metrics and every task's forecast identical, each task
    run on a node of that cluster and both nodes used (Ray spills a task to the second node while the
    head's one CPU is busy)."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    serial = tmp_path / "serial"
    code, _, stderr = run_cli(["backtest", *coins, *ONE_FOLD, "--out", str(serial)])
    assert code == 0, stderr
    out = tmp_path / "cluster"
    code, _, stderr = run_cli(["backtest", *coins, *ONE_FOLD, "--out", str(out),
                               "--address", cluster.address])
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert lines[0] == f"INFO: Ray: cluster at {cluster.address}, 2 CPUs for {TASKS} tasks"
    assert len(lines) == 1 + TASKS and all(line.startswith("INFO: [") for line in lines[1:])  # nothing from Ray
    record = json.loads(stdout_of(out))
    assert record["engine"]["name"] == "ray" and record["engine"]["address"] == cluster.address
    assert record["engine"]["workers"] == 2
    for name in COINS:
        assert metrics_only(record["by_coin"][name]) == metrics_only(json.loads(stdout_of(serial))["by_coin"][name])
    timing = ("train_seconds", "content_sha256")  # the hash seals the training time too
    strip = lambda r: {k: v for k, v in r.items() if k not in timing}  # noqa: E731
    assert len(task_records(out)) == TASKS
    assert {k: strip(r) for k, r in task_records(out).items()} == \
           {k: strip(r) for k, r in task_records(serial).items()}
    node_ids = {node.node_id for node in cluster.list_all_nodes()}
    assert len(nodes_of_tasks) == TASKS and set(nodes_of_tasks.values()) == node_ids and len(node_ids) == 2


@pytest.mark.slow
def test_warm_chains_on_the_cluster_give_exactly_the_serial_files(cluster, monkeypatch, coins, tmp_path):
    """--refit warm, one coin, 2 folds, one seed: two chains (GRU, LSTM) of two folds each, every
    second fold queued by the engine's `after` hook once its first is done, on the cluster as serially:
    the same task files (but for the training time) and the same weights, byte for byte."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    warm = [*coins[:2], *TINY, "--seeds", "1", "--refit", "warm"]
    runs = {}
    for name, extra in (("serial", []), ("cluster", ["--address", cluster.address])):
        runs[name] = tmp_path / name
        code, _, stderr = run_cli(["backtest", *warm, "--out", str(runs[name]), *extra])
        assert code == 0, stderr
    assert stderr.splitlines()[0] == f"INFO: Ray: cluster at {cluster.address}, 2 CPUs for 4 tasks"
    files = {name: sorted((out / "backtest" / "tasks").iterdir()) for name, out in runs.items()}
    assert [p.name for p in files["cluster"]] == [p.name for p in files["serial"]]
    assert sum(p.name.endswith(".weights.npz") for p in files["serial"]) == 4
    timing = ("train_seconds", "content_sha256")
    for a, b in zip(files["serial"], files["cluster"]):
        if a.suffix == ".json":
            strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k not in timing}  # noqa: E731
            assert strip(a) == strip(b)
        else:
            assert a.read_bytes() == b.read_bytes()
    assert metrics_only(json.loads(stdout_of(runs["cluster"]))) == metrics_only(json.loads(stdout_of(runs["serial"])))
