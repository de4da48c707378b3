"""glibc malloc settings for warm workers: keep the heap between calls, not while idle.

A reference's large output (a numpy array) came from a fresh ``mmap`` on every call and
went back to the system when freed, so each call paid a full pass of page faults on it
(on this project's VMs first touch runs at a fraction of memcpy speed). A warm worker
therefore starts with ``MALLOC_MMAP_MAX_=0`` (large blocks come from the heap) and a
1 GiB ``MALLOC_TRIM_THRESHOLD_`` (freed blocks stay, already faulted in, for the next
call). glibc reads them when the process starts; the worker then takes them out of its
environment again (``forget``), so the script and its children see the environment they
would have seen. A setting the user made already is left as it is.

The kept heap only pays while calls come one after another: a worker that has had no
call for ``IDLE_S`` gives its free heap back (``idle``), so an idle warm worker costs
the memory it did before.
"""

from __future__ import annotations

import ctypes
import os
import select

SETTINGS = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
MARK = "GPUEMU_WORKER_MALLOC"  # the settings this module added, for forget()
IDLE_S = 10.0


def env() -> dict[str, str]:
    """What a warm worker's environment gets on top of the daemon's."""
    added = {name: value for name, value in SETTINGS.items() if name not in os.environ}
    return {**added, MARK: ",".join(added)} if added else {}


def forget() -> None:
    """In the worker, once started: drop the settings ``env`` added (glibc has read them)."""
    for name in os.environ.pop(MARK, "").split(","):
        if name in SETTINGS:
            os.environ.pop(name, None)


def idle(fd: int) -> None:
    """Return once ``fd`` is readable (the next call); if none comes within IDLE_S, give
    the free heap back to the system first."""
    if not select.select([fd], [], [], IDLE_S)[0]:
        trim()


def trim() -> None:
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its malloc keeps no such heap
        pass
