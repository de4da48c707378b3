"""Resource limits of script processes, and how much memory they hold.

A script's address space is capped with RLIMIT_AS (per op: ``max_memory_mb``), so that a
reference that touches 20 GB fails with a clear error instead of sending the host's OOM
killer after something else. Warm workers and one-shot scripts get the limit from the
executor right after they start (``prlimit``); a fork server's child sets its own.
"""

from __future__ import annotations

import os
import re
import resource

DEFAULT_MEMORY_FRACTION = 0.5  # of physical RAM, per script process
_OUT_OF_MEMORY = re.compile(r"MemoryError|std::bad_alloc|Cannot allocate memory|out of memory",
                            re.IGNORECASE)


def physical_memory_mb() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    except (ValueError, OSError):
        return 8192  # unknown: assume a small machine


def default_max_memory_mb() -> int:
    """Each script process may use half of the machine's RAM unless its op says otherwise."""
    return max(1, int(physical_memory_mb() * DEFAULT_MEMORY_FRACTION))


def _soft_limit(mb: int, hard: int) -> int:
    want = mb << 20
    return want if hard == resource.RLIM_INFINITY else min(want, hard)


def limit_memory(mb: int | None, pid: int = 0) -> None:
    """Cap the address space of ``pid`` (0: this process) at ``mb`` MiB; None: no cap."""
    if mb is None:
        return
    try:
        _, hard = resource.prlimit(pid, resource.RLIMIT_AS)
        resource.prlimit(pid, resource.RLIMIT_AS, (_soft_limit(mb, hard), hard))
    except (ProcessLookupError, PermissionError):
        pass  # it is gone already; its exit status tells the rest


def out_of_memory(text: str) -> bool:
    """Whether a traceback or stderr tail shows an allocation that failed."""
    return bool(_OUT_OF_MEMORY.search(text))


def memory_hint(mb: int | None) -> str:
    return (f"exceeded its memory limit (max_memory_mb = {mb}; raise it in gpuemu.toml for this op"
            " if the script really needs more)")


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` from /proc (0 when it is gone or /proc is absent)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0
