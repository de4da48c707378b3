"""gpuemu.cluster without a cluster: [cluster] and num_gpus in gpuemu.toml, the task options,
the partition into tasks, and the errors when Ray is missing. (tests/e2e/test_cluster.py
runs campaigns on a real two-node Ray cluster.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuemu.config import ClusterSettings, parse_config
from gpuemu.errors import ConfigError

OP = """
[[ops]]
name = "relu"
reference = "ref.py"
op_script = "op.py"
input_names = ["x"]
{op_extra}
"""


def config(tmp_path: Path, head: str = "", op_extra: str = ""):
    for name in ("ref.py", "op.py"):
        (tmp_path / name).write_text("")
    return parse_config(head + OP.format(op_extra=op_extra), tmp_path / "gpuemu.toml")


def test_cluster_table_and_num_gpus(tmp_path):
    cfg = config(tmp_path, '[cluster]\nbackend = "ray"\naddress = "ray://head:10001"\n'
                           'ship = "runtime_env"\ncases_per_task = 16\nmax_retries = 5\n',
                 "num_gpus = 0.5")
    assert cfg.cluster == ClusterSettings(address="ray://head:10001", ship="runtime_env",
                                          cases_per_task=16, max_retries=5)
    assert cfg.op("relu").num_gpus == 0.5
    assert config(tmp_path).cluster.address is None and config(tmp_path).op("relu").num_gpus == 0


@pytest.mark.parametrize("head, match", [
    ('[cluster]\naddress = "head"\n', r"cluster\.address: expected 'auto', 'local', 'HOST:PORT' or"
                                      r" 'ray://HOST:PORT', got 'head'"),
    ('[cluster]\nbackend = "dask"\n', r"cluster\.backend: expected one of 'ray'"),
    ('[cluster]\nship = "nfs"\n', r"cluster\.ship: expected one of 'shared', 'runtime_env'"),
    ('[cluster]\ncases_per_task = 0\n', r"cluster\.cases_per_task: expected an integer >= 1"),
])
def test_cluster_mistakes(tmp_path, head, match):
    with pytest.raises(ConfigError, match=match):
        config(tmp_path, head)


def test_task_options_ask_for_a_gpu_only_when_the_op_does(tmp_path):
    from gpuemu.cluster.campaign import task_options

    cfg = config(tmp_path, op_extra="num_gpus = 1")
    options = task_options(cfg.op("relu"), cfg.cluster)
    assert (options["num_cpus"], options["num_gpus"], options["max_retries"]) == (1, 1, 3)
    assert "num_gpus" not in task_options(config(tmp_path).op("relu"), cfg.cluster)


def test_runtime_env_uploads_the_project_and_gpuemu_and_notices_an_edit(tmp_path):
    from gpuemu.cluster.campaign import job_env

    path, env, stamp = job_env(config(tmp_path, '[cluster]\nship = "runtime_env"\n'))
    assert path == "gpuemu.toml"  # inside the uploaded working_dir
    assert env["working_dir"] == str(tmp_path) and Path(env["py_modules"][0]).name == "gpuemu"
    (tmp_path / "op.py").write_text("def run(inputs): ...\n")
    assert job_env(config(tmp_path, '[cluster]\nship = "runtime_env"\n'))[2] != stamp
    shared = config(tmp_path)
    assert job_env(shared)[0] == str(shared.path)  # the daemon's own path, seen by every node


def test_partition_covers_every_index_once():
    from gpuemu.cluster.campaign import partition

    chunks = list(partition(range(5, 27), 8))
    assert chunks == [list(range(5, 13)), list(range(13, 21)), list(range(21, 27))]


def test_ray_missing_names_the_address_and_the_install(monkeypatch):
    from gpuemu.cluster import campaign

    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without Ray: import fails
    with pytest.raises(ConfigError, match=r"cluster 'auto': Ray is not installed.*"
                                          r"pip install 'gpuemu\[ray\]'"):
        with campaign.connected("auto", None):
            pass


def test_nothing_imports_ray_unless_a_cluster_is_asked_for():
    code = textwrap.dedent("""
        import sys
        import gpuemu, gpuemu.cli, gpuemu.client, gpuemu.daemon.server, gpuemu.daemon.fuzzing
        import gpuemu.daemon.ci, gpuemu.cluster, gpuemu.cluster.node, gpuemu.cluster.local
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_answers_are_stored_in_seed_order_each_once(tmp_path):
    """SeedOrder: cases answered out of order (as tasks finish) are stored in index order; a
    case answered twice (a task Ray reran) is stored once; a flush stores what came after a
    gap (a fail_fast stop) still in order."""
    from gpuemu.cluster.campaign import SeedOrder
    from gpuemu.cluster.node import CaseOutcome
    from gpuemu.daemon.state import DaemonState
    from gpuemu.daemon.storage import Storage
    from gpuemu.fuzz.cases import CaseSpec
    from gpuemu.validate import ValidationResult

    storage = Storage.open(tmp_path / "db.sqlite3")
    order = SeedOrder(DaemonState(config=None, storage=storage, executor=None), range(10, 16))

    def answer(i: int) -> None:
        spec = CaseSpec(op_name="relu", seed=1000 + i, dtype="float32", layout="contiguous",
                        distribution="uniform", shapes={"x": [2]})
        order.add(CaseOutcome(index=i, spec=spec, seen=None,
                              result=ValidationResult(passed=True, op_name="relu", seed=1000 + i)))

    def seeds() -> list[int]:
        return [r.seed for r in reversed(storage.list_results(op_name="relu"))]

    for i in (12, 11, 10):
        answer(i)
    assert seeds() == [1010, 1011, 1012]
    answer(11)  # again: already stored
    answer(15)
    assert seeds() == [1010, 1011, 1012]  # 13 and 14 are not in yet
    order.flush()
    assert seeds() == [1010, 1011, 1012, 1015]
