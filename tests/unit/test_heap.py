"""A warm worker's malloc settings (gpuemu.engine.heap): added only where the user set
none, out of the script's sight once glibc has read them, and the kept heap handed back
when the worker idles."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from gpuemu.engine import heap


def test_worker_malloc_settings_are_added_only_where_unset_and_then_forgotten(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_MAX_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "5")
    added = heap.env()
    assert added == {"MALLOC_MMAP_MAX_": "0", heap.MARK: "MALLOC_MMAP_MAX_"}
    for name, value in added.items():
        monkeypatch.setenv(name, value)
    heap.forget()
    assert "MALLOC_MMAP_MAX_" not in os.environ and heap.MARK not in os.environ
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "5"


IDLER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from gpuemu.engine import heap

    def rss_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024

    heap.forget()
    a = np.ones(64 << 20, np.uint8)  # 64 MiB, faulted in, then freed: the heap keeps it
    del a
    kept = rss_mib()
    read, write = os.pipe()
    heap.IDLE_S = 0.0
    heap.idle(read)  # no call is coming: the free heap goes back
    os.write(write, b"x")
    heap.idle(read)  # a call is waiting: returns at once
    print(kept, rss_mib())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_an_idle_worker_hands_its_kept_heap_back():
    env = {**os.environ, **heap.env()}
    if heap.MARK not in env:
        pytest.skip("MALLOC_* set in this environment already")
    done = subprocess.run([sys.executable, "-c", IDLER], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    kept, after = map(int, done.stdout.split())
    assert kept - after >= 48, (kept, after)  # most of the 64 MiB went back
