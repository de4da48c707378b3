"""Load: many clients at once (threads sharing nothing, and separate processes), each
sending ValidateOps and FuzzOps whose answers only it can recognise. No reply reaches the
wrong client, none is lost, none is stored twice; the latencies are printed.

A ValidateOp of client c, request i sends inputs no other request sends, to one of two
ops whose references differ, with a seed that names (c, i); every fourth output is wrong
at an index that also depends on (c, i). A reply crossed with another request's would
carry another seed, op, verdict or mismatch index.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from gpuemu.client import Client

from .reliability_support import daemon_for, percentiles, project_dir, running, scaled

pytestmark = pytest.mark.e2e

THREADS = scaled(12, 32)
PROCESSES = scaled(3, 6)
REQUESTS = scaled(40, 300)  # per client
FUZZ_EVERY = 5  # every fifth request of a client is a FuzzOp
WARM_UP = 3  # ValidateOps per client that may wait for warm workers to start
FACTORS = {"scale2": 2.0, "scale3": 3.0}

SCALE = """
from gpuemu.script import main

def reference(inputs, factor=1.0, **kwargs):
    return factor * inputs["x"]

if __name__ == "__main__":
    main(reference)
"""
OP = """
def run(inputs, **kwargs):
    return 2 * inputs["x"]
"""
CONFIG = "[project]\nname = \"load\"\n" + "".join(f"""
[[ops]]
name = "{name}"
reference = "refs/scale.py"
input_names = ["x"]
kwargs = {{ factor = {factor} }}
""" for name, factor in FACTORS.items()) + """
[[ops]]
name = "fuzzed"
reference = "refs/scale.py"
op_script = "ops/double.py"
input_names = ["x"]
kwargs = { factor = 2.0 }
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [4]
hidden_dims = [8]
edge_case_prob = 0.0
"""


def one_client(socket: str, client: int, requests: int) -> tuple[list[float], list[str], list[int]]:
    """Run ``requests`` requests as client number ``client``: their latencies (ValidateOp
    only), everything that came back wrong, and the ValidateOp seeds sent."""
    latencies, wrong, seeds = [], [], []
    with Client(socket_path=socket, auto_start=False, timeout_ms=120_000) as c:
        for i in range(requests):
            seed = client << 32 | i
            if i % FUZZ_EVERY == FUZZ_EVERY - 1:
                run = c.fuzz_op("fuzzed", iterations=2, seed=seed)
                if (run.op_name, run.seed, run.iterations, run.passed) != ("fuzzed", seed, 2, 2):
                    wrong.append(f"client {client} FuzzOp seed {seed}: got {run}")
                continue
            op = sorted(FACTORS)[(client + i) % len(FACTORS)]
            x = np.full((4, 8), client * 1000.0 + i, np.float32) + np.arange(32).reshape(4, 8)
            out = FACTORS[op] * x
            bad_at = None
            if i % 4 == 0:
                bad_at = [(client + i) % 4, i % 8]
                out[tuple(bad_at)] += 1.0
            started = time.perf_counter()
            result = c.validate_op(op, {"x": x}, out, seed=seed)
            latencies.append(time.perf_counter() - started)
            seeds.append(seed)
            got = (result.op_name, result.seed, result.passed,
                   result.mismatch.max_abs_index if result.mismatch else None)
            if got != (op, seed, bad_at is None, bad_at):
                wrong.append(f"client {client} request {i}: sent {(op, seed, bad_at)}, got {got}")
    return latencies, wrong, seeds


def test_concurrent_clients_get_their_own_answers_and_lose_none():
    with project_dir("load", {"gpuemu.toml": CONFIG, "refs/scale.py": SCALE,
                              "ops/double.py": OP}) as root, running(daemon_for(root)) as daemon:
        socket = str(daemon.socket)
        outcomes: dict[int, tuple] = {}

        def thread_client(client: int) -> None:
            outcomes[client] = one_client(socket, client, REQUESTS)

        started = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(PROCESSES, mp_context=spawn) as pool:
            procs = {THREADS + p: pool.submit(one_client, socket, THREADS + p, REQUESTS)
                     for p in range(PROCESSES)}
            threads = [threading.Thread(target=thread_client, args=(t,)) for t in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            outcomes.update({client: fut.result() for client, fut in procs.items()})
        elapsed = time.perf_counter() - started

        clients = THREADS + PROCESSES
        assert sorted(outcomes) == list(range(clients))  # every client finished
        assert [w for _, wrong, _ in outcomes.values() for w in wrong] == []
        sent = [s for _, _, seeds in outcomes.values() for s in seeds]
        with daemon.client() as c:
            stored = [r.seed for r in c.list_results(limit=1_000_000)
                      if r.op_name in FACTORS]
        assert sorted(stored) == sorted(sent)  # none lost, none stored twice
        latencies = [x for lat, _, _ in outcomes.values() for x in lat]
        warm = [x for lat, _, _ in outcomes.values() for x in lat[WARM_UP:]]
        fuzz_ops = clients * (REQUESTS // FUZZ_EVERY)
        print(f"\nload: {clients} clients ({THREADS} threads, {PROCESSES} processes) x {REQUESTS}"
              f" requests = {len(sent)} ValidateOps + {fuzz_ops} FuzzOps in {elapsed:.1f} s,"
              " all answered to the right client. ValidateOp latency, all:"
              f" {percentiles(latencies)}; after each client's first {WARM_UP} (workers started):"
              f" {percentiles(warm)}")
