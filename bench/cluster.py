"""Fuzz throughput on a Ray cluster: one node, then two, on this machine (gpuemu.cluster).

A local cluster (gpuemu.cluster.local: token authentication, its own temp dir) starts
with a head of one CPU; the warm softmax of the fuzz benchmark runs on it, then a second
one-CPU node joins and the same run goes again. The floor is the same daemon fuzzing on
this machine without Ray. Unlike the other benchmarks the variants cannot interleave (a
node cannot leave and come back cheaply), so the one-node and two-node figures are taken
one after the other; on a shared machine read the ratio with that in mind. Needs ray
(`pip install 'gpuemu[ray]'`); skipped with a note when it is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from .project import Session, running_daemon
from .report import Figure, Section
from .timing import interleave

SEED = 20240602


def run(session: Session) -> Section:
    title = "FuzzOp on a Ray cluster of one, then two one-CPU nodes on this machine"
    if importlib.util.find_spec("ray") is None:
        return Section("cluster", title, [], notes=[
            "skipped: ray is not installed (pip install 'gpuemu[ray]')"])
    from gpuemu.cluster.local import LocalCluster

    cases, reps = session.reps(400, 50), session.reps(3, 1)
    temp = Path(tempfile.mkdtemp(prefix="gr-", dir="/tmp"))
    cluster = LocalCluster.start(temp, nodes=1, cpus=1)
    try:
        with running_daemon(extra_env=cluster.env) as daemon, daemon.client() as client:
            def fuzz(where: str):
                def call() -> None:
                    res = client.fuzz_op("fuzz_warm", iterations=cases, seed=SEED, cluster=where)
                    if res.failed or res.iterations != cases:
                        raise RuntimeError(f"{res.failed} of {res.iterations} cases failed on"
                                           f" {where}; the benchmark's softmax should pass")
                return call

            here = interleave({"here": fuzz("local")}, reps=reps)["here"]
            one = interleave({"one": fuzz(cluster.address)}, reps=reps)["one"]
            cluster.add_node(cpus=1)
            two = interleave({"two": fuzz(cluster.address)}, reps=reps)["two"]
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
    return Section("cluster", title, [
        Figure.rate("here", f"this machine, no Ray ({cases} cases per FuzzOp)", cases,
                    "cases/s", here),
        Figure.rate("one_node", "Ray cluster, one node", cases, "cases/s", one, vs=("here",)),
        Figure.rate("two_nodes", "Ray cluster, two nodes", cases, "cases/s", two,
                    vs=("one_node", "here")),
    ], notes=[f"speed-up of two nodes over one: {one.median_s / two.median_s:.2f}x (measured one"
              " after the other, not interleaved)"])
