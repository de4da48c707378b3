"""The sweep for a script's escaped descendants, narrowed to the pids allocated since the
script started (``kill_marked(..., recent=True)``): it still finds and kills one that left
the process group, and looks at no process older than the script."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gpuemu.engine.orphans import TOKEN_VAR, _pids, kill_marked

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/sys/kernel/ns_last_pid"),
                                reason="needs Linux /proc/sys/kernel/ns_last_pid")


def test_a_recent_sweep_sees_only_younger_pids_and_kills_an_escaped_descendant():
    leader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True, env={**os.environ, TOKEN_VAR: "t0ken"})
    try:
        window = _pids(leader.pid)
        assert escaped.pid in window and os.getpid() not in window and leader.pid not in window
        assert kill_marked("t0ken", group=leader.pid, recent=True) == [escaped.pid]
        assert escaped.wait(timeout=60) == -9
    finally:
        for proc in (leader, escaped):
            proc.kill()
            proc.wait()
