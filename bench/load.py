"""Concurrent clients: ValidateOp latency (p50, p99) and throughput when many clients
share the daemon, next to one client alone (the floor) in the same run.

Each client thread has its own connection and sends 64x64 softmax ValidateOps with its
own inputs; every answer is checked to be its own (seed, op and verdict), so the figure
also says that nothing crossed or was lost under load.
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np

from .project import Session, load_function
from .report import Figure, Section

CLIENTS = 8


def _latencies(session: Session, clients: int, requests: int) -> tuple[list[float], float]:
    daemon = session.daemon
    reference = load_function(daemon.project / "scripts" / "softmax_ref.py", "reference")
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def client(k: int) -> None:
        x = np.random.default_rng(k).standard_normal((64, 64), dtype=np.float32)
        expected = reference({"x": x})
        with daemon.client() as c:
            for i in range(requests):
                started = time.perf_counter()
                seed = 1_000_000 * k + i
                r = c.validate_op("softmax", {"x": x}, expected, seed=seed)
                samples[k].append(time.perf_counter() - started)
                if not r.passed or r.seed != seed or r.op_name != "softmax":
                    errors.append(f"client {k} request {i}: got {r.op_name} seed {r.seed}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise AssertionError("answers crossed or failed under load: " + "; ".join(errors[:3]))
    return [s for per in samples for s in per], wall


def _pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def run(session: Session) -> Section:
    requests = session.reps(100, 10)
    one, one_wall = _latencies(session, 1, requests)
    many, many_wall = _latencies(session, CLIENTS, requests)

    def fig(key: str, label: str, value: float, n: int, **kw) -> Figure:
        return Figure(key, label, value, "s", n, **kw)

    return Section("load", f"{CLIENTS} concurrent clients x {requests} ValidateOps (64x64 softmax)", [
        fig("one_p50", "1 client: p50 latency", _pct(one, 50), len(one)),
        fig("one_p99", "1 client: p99 latency", _pct(one, 99), len(one)),
        fig("many_p50", f"{CLIENTS} clients: p50 latency", _pct(many, 50), len(many),
            vs=("one_p50",)),
        fig("many_p99", f"{CLIENTS} clients: p99 latency", _pct(many, 99), len(many),
            vs=("one_p99",)),
        Figure("one_rate", "1 client: requests/s", len(one) / one_wall, "cases/s", len(one)),
        Figure("many_rate", f"{CLIENTS} clients: requests/s", len(many) / many_wall, "cases/s",
               len(many), vs=("one_rate",)),
    ], notes=[f"every one of the {len(one) + len(many)} answers matched its own request"])
