"""Scripts in the specification's form (JSON on stdin, JSON on stdout, no function to
call): a FuzzOp of a small softmax whose reference and op script are written as seeds
003 and 004 show them, forked per case from the daemon's preloaded fork servers. The
floor is the one-shot rate of the same pair (a fresh ``python SCRIPT`` per script and
case, which is how such scripts ran before the fork server), measured through an
executor in this process on the same shapes, so that it carries no daemon overhead.
"""

from __future__ import annotations

import numpy as np

from gpuemu.engine.executor import Executor

from .fuzz import SEED
from .project import Session
from .report import Figure, Section, Target
from .timing import interleave


def run(session: Session) -> Section:
    forked_cases, one_shot_cases = session.reps(200, 20), session.reps(6, 2)
    scripts = session.daemon.project / "scripts"
    x = np.random.default_rng(SEED).standard_normal((4, 16, 64), dtype=np.float32)
    with session.daemon.client() as client, Executor(warm=False) as one_shot:
        def fuzz() -> None:
            res = client.fuzz_op("fuzz_seed", iterations=forked_cases, seed=SEED)
            if res.failed or res.iterations != forked_cases:
                raise RuntimeError(f"fuzz_seed: {res.failed} of {res.iterations} cases failed;"
                                   f" the benchmark's softmax should pass: {res.failures[:1]}")

        def cold() -> None:
            for _ in range(one_shot_cases):
                ref = one_shot.run_script(scripts / "softmax_ref_seed.py", {"x": x})["result"]
                out = one_shot.run_script(scripts / "softmax_op_seed.py", {"x": x})["output"]
                np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)

        client.fuzz_op("fuzz_seed", iterations=2, seed=SEED)  # start the fork servers
        t = interleave({"forked": fuzz, "one_shot": cold}, reps=session.reps(3, 1), warmup=0)
    return Section("seedstyle", "seed-style scripts (JSON stdin/stdout), reference + op per case", [
        Figure.rate("one_shot", f"one-shot: python per script ({one_shot_cases} cases)",
                    one_shot_cases, "cases/s", t["one_shot"]),
        Figure.rate("forked", f"FuzzOp, forked from preloaded servers ({forked_cases} cases)",
                    forked_cases, "cases/s", t["forked"], target=Target(50, at_most=False)),
        Figure("speedup", "forked rate / one-shot rate",
               (forked_cases / t["forked"].median_s) / (one_shot_cases / t["one_shot"].median_s),
               "x", t["forked"].reps, target=Target(15, at_most=False)),
    ])
