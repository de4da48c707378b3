"""Crash durability: the daemon is SIGKILLed again and again while clients write, and
after every restart each result that had been answered is there, failures included,
and the database passes ``PRAGMA integrity_check``.

Each round kills the daemon once its writers have had a number of requests answered,
drawn from a seeded RNG (printed): a count, not a delay, so that a busy machine, where
nothing may be answered for seconds, tests the same thing as a quiet one.
"""

from __future__ import annotations

import random
import signal
import threading

import numpy as np
import pytest

from gpuemu import paths
from gpuemu.client import ClientError

from .reliability_support import (
    DOUBLE, DOUBLE_OP, daemon_for, integrity, project_dir, scaled, wait_until_gone,
    zombie_children,
)

pytestmark = pytest.mark.e2e

ROUNDS = scaled(5, 40)
WRITERS = 3
KILL_SEED = 20261125
CONFIG = f"""
[project]
name = "crash"
{DOUBLE_OP}"""
X = np.arange(64, dtype=np.float32).reshape(8, 8)


def write_until_the_daemon_dies(daemon, writer: int, rnd: int, answered: dict[int, bool],
                                wrong: list[str], progress: threading.Condition) -> None:
    """ValidateOps with unique seeds, every third one failing (a failure row and an inputs
    snapshot are written too); a seed goes into ``answered`` only once its reply is in."""
    with daemon.client(timeout_ms=120_000) as c:
        for i in range(100_000):
            seed = (rnd << 40) | (writer << 32) | i
            passing = i % 3 != 0
            try:
                result = c.validate_op("double", {"x": X + i}, 2 * (X + i) + (0 if passing else 1),
                                       seed=seed)
            except ClientError:
                return  # the daemon is gone: this request was never answered
            if (result.seed, result.passed) != (seed, passing):
                wrong.append(f"sent seed {seed} passing={passing}, got {result}")
            with progress:
                answered[seed] = passing
                progress.notify_all()


def test_repeated_sigkill_under_write_load_loses_nothing_answered():
    kill_after = random.Random(KILL_SEED)
    progress = threading.Condition()
    answered: dict[int, bool] = {}
    wrong: list[str] = []
    with project_dir("crash", {"gpuemu.toml": CONFIG, "refs/double.py": DOUBLE}) as root:
        daemon = daemon_for(root)
        db = paths.db_path(daemon.home)
        for rnd in range(ROUNDS):
            daemon.start()
            with daemon.client() as c:  # everything answered before is still there
                stored = {r.seed: r.passed for r in c.list_results(limit=1_000_000)}
                assert {s: stored.get(s) for s in answered} == answered, f"round {rnd}"
                failed = {f.seed for f in c.list_failures(limit=1_000_000)}
                assert {s for s, ok in answered.items() if not ok} <= failed, f"round {rnd}"
            writers = [threading.Thread(target=write_until_the_daemon_dies,
                                        args=(daemon, w, rnd, answered, wrong, progress))
                       for w in range(WRITERS)]
            target = len(answered) + kill_after.randint(WRITERS, 8 * WRITERS)
            for w in writers:
                w.start()
            with progress:
                assert progress.wait_for(lambda: len(answered) >= target, timeout=300), \
                    f"round {rnd}: the writers got fewer than {target} answers"
            assert zombie_children(daemon.proc.pid) == []
            daemon.kill(signal.SIGKILL)
            for w in writers:
                w.join(timeout=60)
            assert integrity(db) == "ok", f"round {rnd} (kill seed {KILL_SEED})"
        daemon.start()
        with daemon.client() as c:
            stored = {r.seed: r.passed for r in c.list_results(limit=1_000_000)}
        assert {s: stored.get(s) for s in answered} == answered
        daemon.stop()
        assert wait_until_gone(root.name) == []  # workers exit when their daemon dies
    assert wrong == []
    print(f"\ncrash durability: {ROUNDS} SIGKILLs survived, {len(answered)} answered results"
          f" all present ({sum(not ok for ok in answered.values())} failures with snapshots),"
          " integrity_check ok after each")

