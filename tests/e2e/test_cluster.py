"""Fuzz campaigns on a real Ray cluster of two nodes on this machine (gpuemu.cluster).

One cluster (two `ray start` nodes, token authentication on, its own --temp-dir) serves the
whole module; the last test kills its second node mid-run. Each test drives a real daemon
and compares what it stored with what a local run of the same root seed stores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpuemu.fuzz.cases import case_seed

from ..conftest import run_cli, wait_for, write

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),  # a busy 2-core machine takes minutes to start two Ray nodes
    pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                       reason="ray is not installed: pip install 'gpuemu[ray]' (make test does)"),
]

RELU_REF = """
import numpy as np
from gpuemu.script import main
def reference(inputs, **kw):
    return np.maximum(inputs["x"], 0)
if __name__ == "__main__":
    main(reference)
"""
# Reads the buffer in C order whatever the strides: wrong on every transposed case, so a
# run has passes and failures to compare.
RELU_STRIDES = """
import os
import time
import numpy as np
from numpy.lib.stride_tricks import as_strided
def run(inputs, **kw):
    if kw.get("needs_gpu") and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        raise RuntimeError("no GPU was assigned to this task")
    time.sleep(kw.get("sleep_s", 0))
    x = inputs["x"]
    return np.maximum(as_strided(x, x.shape, np.empty(x.shape, x.dtype).strides), 0)
"""
OP = """
[[ops]]
name = "{name}"
reference = "ref.py"
op_script = "op.py"
input_names = ["x"]
num_gpus = {gpus}
kwargs = {{ sleep_s = {sleep}, needs_gpu = {needs_gpu} }}
[ops.fuzz]
layouts = ["contiguous", "transposed"]
batch_sizes = [2, 3]
seq_lengths = [4, 8]
hidden_dims = [16]
edge_case_prob = 0.0
"""
CONFIG = "[cluster]\ncases_per_task = 4\n" + "".join([
    OP.format(name="relu", gpus=0, sleep=0, needs_gpu="false"),
    OP.format(name="relu_slow", gpus=0, sleep=0.05, needs_gpu="false"),
    OP.format(name="relu_gpu", gpus=1, sleep=0, needs_gpu="true"),
])


@pytest.fixture(scope="module")
def ray_cluster():
    """Head and a second node, one CPU each; the second declares a GPU. Its directory is
    short: Ray's Unix sockets live under it and their paths must stay under 107 bytes."""
    from gpuemu.cluster.local import LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="gr-", dir="/tmp"))
    cluster = LocalCluster.start(tmp, nodes=2, cpus=1, gpus=(0, 1))
    yield cluster
    cluster.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster_daemon(ray_cluster):
    """One daemon for the module (one Ray job, so the nodes' workers stay warm from test to
    test), with the cluster's token and RAY_ADDRESS (for `auto`) in its environment."""
    from ..conftest import DaemonProcess

    tmp = Path(tempfile.mkdtemp(prefix="ge-", dir="/tmp"))  # short: the socket path
    write(tmp / "proj" / "ref.py", RELU_REF)
    write(tmp / "proj" / "op.py", RELU_STRIDES)
    write(tmp / "proj" / "gpuemu.toml", CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("GPUEMU_SOCKET", "CUDA_VISIBLE_DEVICES")}
    env.update(ray_cluster.env, GPUEMU_HOME=str(tmp / "home"), GPUEMU_AUTO_START="0")
    daemon = DaemonProcess(home=tmp / "home", config=tmp / "proj" / "gpuemu.toml", env=env)
    try:
        yield daemon.start()
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def config_plus(daemon, text: str = "", cluster_line: str = ""):
    """The project's gpuemu.toml with ``text`` appended (and a line in [cluster]) for a while;
    the daemon re-reads the file when it changes."""
    original = daemon.config.read_text()
    daemon.config.write_text(original.replace("[cluster]\n", f"[cluster]\n{cluster_line}") + text)
    try:
        yield
    finally:
        daemon.config.write_text(original)


def cli(daemon, *args: str):
    return run_cli(*args, "--format", "json", cwd=daemon.config.parent, env=daemon.env)


def stored(home: Path, op: str, after: int = 0, upto: int = 1 << 62) -> list[tuple[int, int, dict]]:
    """(id, seed, result without when and how long) of the op's stored results, in storage order."""
    with sqlite3.connect(home / "db" / "gpuemu.sqlite3") as db:
        rows = db.execute("SELECT id, result FROM results WHERE op_name = ? AND id > ?"
                          " AND id <= ? ORDER BY id", (op, after, upto)).fetchall()
    out = []
    for row_id, text in rows:  # the seed column is a signed 64-bit view of the u64 seed
        result = json.loads(text)
        for timing in ("duration_ms", "timestamp"):
            result.pop(timing, None)
        out.append((row_id, result["seed"], result))
    return out


def last_id(home: Path) -> int:
    with sqlite3.connect(home / "db" / "gpuemu.sqlite3") as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM results").fetchone()[0]


def two_runs(daemon, op: str, local, remote):
    """``local()`` then ``remote()``: their answers, and the rows each stored for ``op``."""
    before = last_id(daemon.home)
    here = local()
    middle = last_id(daemon.home)
    there = remote()
    return here, there, stored(daemon.home, op, before, middle), stored(daemon.home, op, middle)


def assert_same_run(local_rows, cluster_rows, seed: int, n: int) -> None:
    seeds = [case_seed(seed, i) for i in range(n)]
    assert [s for _, s, _ in cluster_rows] == seeds  # each case once, stored in seed order
    by_seed = {s: r for _, s, r in local_rows}
    assert sorted(by_seed) == sorted(seeds)
    assert [r for _, _, r in cluster_rows] == [by_seed[s] for s in seeds]


def test_the_daemon_loads_ray_only_for_a_cluster_run(cluster_daemon, ray_cluster):
    """First in the module: the shared daemon has not met the cluster yet."""
    def ray_loaded() -> bool:
        return "_raylet" in Path(f"/proc/{cluster_daemon.proc.pid}/maps").read_text()

    with cluster_daemon.client() as client:
        client.fuzz_op("relu", iterations=4, seed=1)
        assert not ray_loaded()
        client.fuzz_op("relu", iterations=4, seed=1, cluster=ray_cluster.address)
        assert ray_loaded()  # the check above can see Ray


def test_fuzz_on_the_cluster_stores_the_local_run(cluster_daemon):
    args = ("fuzz", "relu", "-n", "24", "--seed", "2024", "--cluster")
    local, remote, here, there = two_runs(cluster_daemon, "relu",
                                          lambda: cli(cluster_daemon, *args, "local"),
                                          lambda: cli(cluster_daemon, *args, "auto"))
    assert remote.returncode == local.returncode == 1, remote.stderr  # transposed cases fail
    ours, theirs = json.loads(remote.stdout)["ops"][0], json.loads(local.stdout)["ops"][0]
    assert 0 < ours["failed"] == theirs["failed"] < 24
    assert ours["coverage"] == theirs["coverage"]
    assert ours.get("health") == theirs.get("health")
    assert_same_run(here, there, 2024, 24)


def test_test_and_ci_run_take_the_cluster_from_the_flag_and_the_config(cluster_daemon, ray_cluster):
    test = cli(cluster_daemon, "test", "--op", "relu", "--iterations", "8", "--seed", "5",
               "--cluster", ray_cluster.address)
    assert json.loads(test.stdout)["ops"][0]["iterations"] == 8, test.stderr
    before = last_id(cluster_daemon.home)
    with config_plus(cluster_daemon, cluster_line=f'address = "{ray_cluster.address}"\n'):
        ci = cli(cluster_daemon, "ci", "run", "--quick")
    ops = {op["op_name"]: op for op in json.loads(ci.stdout)["ops"]}
    assert ops["relu"]["iterations"] == 10, ci.stderr
    assert not any("no GPU" in str(f) for f in ops["relu_gpu"].get("failures", []))  # a GPU node's
    assert len(stored(cluster_daemon.home, "relu", after=before)) == 10


def test_a_gpu_op_gets_a_gpu_per_task(cluster_daemon):
    from gpuemu.errors import ConfigError

    with cluster_daemon.client() as client:
        results = client.fuzz_op("relu_gpu", iterations=8, seed=3, cluster="auto")
        assert results.iterations == 8
        assert not any("no GPU" in str(f.failures) for f in results.failures)
        local = client.fuzz_op("relu_gpu", iterations=8, seed=3, cluster="local")
        assert local.failed == 8 and all("no GPU" in str(f.failures) for f in local.failures)
        with config_plus(cluster_daemon, OP.format(name="relu_2gpus", gpus=2, sleep=0,
                                                   needs_gpu="true")):
            with pytest.raises(ConfigError, match=r"relu_2gpus.*num_gpus = 2.*has 1 GPUs"):
                client.fuzz_op("relu_2gpus", iterations=4, seed=3, cluster="auto")


def test_runtime_env_ships_the_project_and_gpuemu_to_the_nodes(cluster_daemon):
    """ship = "runtime_env": Ray uploads the project directory and gpuemu's package; the
    nodes open the uploaded gpuemu.toml, and store the same run."""
    with cluster_daemon.client() as client, \
            config_plus(cluster_daemon, cluster_line='ship = "runtime_env"\n'):
        local, remote, here, there = two_runs(
            cluster_daemon, "relu",
            lambda: client.fuzz_op("relu", iterations=8, seed=11, cluster="local"),
            lambda: client.fuzz_op("relu", iterations=8, seed=11, cluster="auto"))
    assert remote.failed == local.failed
    assert_same_run(here, there, 11, 8)


def test_unreachable_cluster_names_the_address_and_how_to_start_one(cluster_daemon):
    from gpuemu.cluster.local import free_port

    address = f"127.0.0.1:{free_port()}"
    out = cli(cluster_daemon, "fuzz", "relu", "-n", "4", "--cluster", address)
    assert out.returncode == 2
    assert address in out.stderr and "ray start --head" in out.stderr


def test_a_cluster_run_whose_client_left_is_cancelled(cluster_daemon, ray_cluster):
    """As a local run: the daemon stops submitting tasks and cancels the pending ones once
    the client that asked is gone, and answers the next request."""
    import pynng

    from gpuemu import paths
    from gpuemu.protocol import Form, FuzzOp, encode_message

    before = last_id(cluster_daemon.home)
    sock = pynng.Req0(dial=paths.socket_url(cluster_daemon.socket), block_on_dial=True,
                      send_timeout=5000)
    sock.send(encode_message(FuzzOp(op_name="relu_slow", iterations=20_000, seed=3,
                                    cluster=ray_cluster.address), Form.FLAT))
    with cluster_daemon.client() as poll:
        wait_for(lambda: any(j.done >= 4 for j in poll.ping().jobs), "the cluster run to start")
        sock.close()
        # Not cancelled, the run would take minutes more (20,000 cases of 50 ms on 2 CPUs).
        wait_for(lambda: not poll.ping().jobs, "the run of the client that left to stop", 300)
        assert poll.fuzz_op("relu", iterations=4, seed=1).iterations == 4
    assert 4 <= len(stored(cluster_daemon.home, "relu_slow", after=before)) < 20_000


def test_a_node_that_dies_mid_run_loses_nothing(cluster_daemon, ray_cluster):
    """The second node is killed once a few cases are in: its tasks rerun on the head, and
    the stored run is still exactly the local one."""
    n, seed = 48, 77

    def kill_midway(client):
        box = {}
        run = threading.Thread(target=lambda: box.setdefault("r", client.fuzz_op(
            "relu_slow", iterations=n, seed=seed, cluster=ray_cluster.address)))
        run.start()
        with cluster_daemon.client() as poll:
            while run.is_alive() and not any(j.done >= 8 for j in poll.ping().jobs):
                run.join(0.05)
        ray_cluster.kill_node(ray_cluster.nodes[1])
        box["mid_run"] = run.is_alive()
        run.join()
        assert box["mid_run"], "the run ended before the node was killed"
        return box["r"]

    with cluster_daemon.client() as client:
        local, remote, here, there = two_runs(
            cluster_daemon, "relu_slow",
            lambda: client.fuzz_op("relu_slow", iterations=n, seed=seed, cluster="local"),
            lambda: kill_midway(client))
    assert remote.iterations == n and remote.failed == local.failed
    assert_same_run(here, there, seed, n)
