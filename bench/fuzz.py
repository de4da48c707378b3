"""Script-based fuzz throughput (FuzzOp) for a small softmax, with and without warm workers.

Both ops run the same softmax op script and reference on the same seeded cases
(shapes up to 4x16x64 float32); the cold pair defines neither ``reference`` nor
``run``, so the daemon forks two children of the scripts' fork servers per case (it
started two Python processes per case before there were fork servers; the seedstyle
benchmark measures that rate). Every case is checked and stored, as in a real run.
"""

from __future__ import annotations

from .project import Session
from .report import Figure, Section, Target
from .timing import interleave

SEED = 20240601


def run(session: Session) -> Section:
    warm_cases, cold_cases = session.reps(300, 20), session.reps(60, 4)
    with session.daemon.client() as client:
        def fuzz(op: str, iterations: int):
            def call() -> None:
                res = client.fuzz_op(op, iterations=iterations, seed=SEED)
                if res.failed or res.iterations != iterations:
                    raise RuntimeError(f"{op}: {res.failed} of {res.iterations} cases failed;"
                                       f" the benchmark's softmax should pass: {res.failures[:1]}")
            return call

        fuzz("fuzz_warm", 8)()  # start the warm workers; find the cold scripts cold
        fuzz("fuzz_cold", 1)()
        t = interleave({"warm": fuzz("fuzz_warm", warm_cases),
                        "cold": fuzz("fuzz_cold", cold_cases)},
                       reps=session.reps(3, 1), warmup=0)
    return Section("fuzz", "FuzzOp throughput, script-based softmax (op + reference per case)", [
        Figure.rate("warm", f"warm workers ({warm_cases} cases per FuzzOp)", warm_cases,
                    "cases/s", t["warm"], target=Target(300, at_most=False)),
        Figure.rate("cold", f"no function: forked per case ({cold_cases} cases per FuzzOp)",
                    cold_cases, "cases/s", t["cold"], vs=("warm",)),
    ])
