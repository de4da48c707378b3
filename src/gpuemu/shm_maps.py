"""A warm worker's mappings of its input files, kept from one call to the next.

The daemon hands its worker each large input as a ``.held`` link to the file the client
wrote (gpuemu.shm); a client rewrites the same pool file for its next request
(gpuemu.shm_pool). Mapping that file afresh per call cost a full pass of page faults in
the worker (on this project's VMs first touch of a mapping runs at a fraction of memcpy
speed), so the worker keeps its copy-on-write mapping of each file, keyed by the file's
identity (device, inode), and hands the op the same pages next time: Linux shows a
private mapping's untouched pages as the file's current contents.

A mapping is kept only while it is exactly the file: the op may write into its inputs,
and a written page of a private mapping is the worker's own copy, no longer the file's.
So after each call, once its arrays are gone (``settle``), the pages the worker wrote
are looked up (``/proc/self/pagemap``: a present page that is not a file page); a
mapping with any is dropped and the next call maps the file afresh. A mapping whose
array outlived its call (the script kept it, and may write into it later) is looked at
again before it is handed out next. A look costs a walk of the mapping's page table
(~2 ms per 64 MiB), so it is made only then. One file is handed out once per call (two
inputs never share pages), a mapping of a size other than the file's is never used, at
most LIMIT mappings taking at most a quarter of the worker's address-space cap
(max_memory_mb) are kept, and a mapping goes as soon as its file has no name left
(every call, and once a second from a thread while the worker idles), so a file its
sender and the daemon removed does not live on in the worker. Without a readable
pagemap nothing is kept.
"""

from __future__ import annotations

import mmap
import os
import resource
import threading
import time
import weakref
from pathlib import Path

import numpy as np

LIMIT = 8  # mappings kept at most (the least recently used goes first)
SHARE = 4  # and at most this fraction of the worker's address-space cap (RLIMIT_AS)
_FILE_PAGE, _SWAPPED, _PRESENT = np.uint64(1 << 61), np.uint64(1 << 62), np.uint64(1 << 63)


class Maps:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._maps: dict[tuple[int, int], tuple[int, mmap.mmap]] = {}  # id -> (fd, map)
        self._used: dict[tuple[int, int], weakref.ref] = {}  # handed out in this call: its array
        self._escaped: set[tuple[int, int]] = set()  # an array of it outlived its call
        self._pagemap: int | None = None
        self._on = False
        self._sweeper: threading.Thread | None = None

    def enable(self) -> None:
        """Keep mappings in this process (a warm worker) if written pages can be seen."""
        try:
            self._pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
            self._on = True
        except OSError:
            self._on = False

    @property
    def active(self) -> bool:
        return self._on

    def take(self, path: Path, nbytes: int) -> np.ndarray:
        """The bytes of ``path`` (``nbytes`` long) as a copy-on-write uint8 array."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            info = os.fstat(fd)
            key = (info.st_dev, info.st_ino)
            with self._lock:
                if key in self._used or info.st_size != nbytes:  # never two views of one map
                    return np.frombuffer(mmap.mmap(fd, nbytes, access=mmap.ACCESS_COPY), np.uint8)
                kept = self._maps.pop(key, None)
                if kept is not None and (len(kept[1]) != nbytes or (
                        key in self._escaped and self._written(kept[1]))):
                    self._close(kept)
                    kept = None
                if kept is None:
                    self._make_room(nbytes)
                    kept, fd = (fd, mmap.mmap(fd, nbytes, access=mmap.ACCESS_COPY)), None
                self._maps[key] = kept  # most recently used last
                self._start_sweeper()
                arr = np.frombuffer(kept[1], np.uint8)
                self._used[key] = weakref.ref(arr)
                return arr
        finally:
            if fd is not None:
                os.close(fd)

    def _make_room(self, nbytes: int) -> None:
        """Drop the least recently used mappings not in use in this call until one more
        of ``nbytes`` stays within LIMIT and the address-space budget: kept mappings
        must not make the op's own allocations fail under its max_memory_mb."""
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        budget = (1 << 62) if soft == resource.RLIM_INFINITY else soft // SHARE
        total = nbytes + sum(len(m) for _, m in self._maps.values())
        for key in [k for k in self._maps if k not in self._used]:
            if len(self._maps) < LIMIT and total <= budget:
                break
            fd, mapped = self._maps.pop(key)
            total -= len(mapped)
            self._close((fd, mapped))

    def settle(self) -> None:
        """A call is over and its arrays are dropped: drop the mappings it wrote into and
        those of removed files. A mapping whose array lives on (the script kept it) may
        still be written: it is looked at again before it is handed out next."""
        with self._lock:
            for key, handed in self._used.items():
                kept = self._maps.get(key)
                self._escaped.discard(key)
                if kept is not None and self._written(kept[1]):
                    self._close(self._maps.pop(key))
                elif handed() is not None:
                    self._escaped.add(key)
            self._used.clear()
        self.sweep()

    def sweep(self) -> None:
        """Drop the mappings of files that no longer have a name."""
        with self._lock:
            for key, kept in list(self._maps.items()):
                if key not in self._used and os.fstat(kept[0]).st_nlink == 0:
                    self._close(self._maps.pop(key))

    def clear(self) -> None:
        with self._lock:
            while self._maps:
                self._close(self._maps.popitem()[1])
            self._used.clear()
            self._escaped.clear()

    def __len__(self) -> int:
        return len(self._maps)

    def _written(self, mapped: mmap.mmap) -> bool:
        """Whether this process wrote into any page of ``mapped`` (it has a private page)."""
        if not len(mapped):
            return False
        view = np.frombuffer(mapped, np.uint8)
        try:
            first = view.__array_interface__["data"][0] // mmap.PAGESIZE
        finally:
            del view
        pages = -(-len(mapped) // mmap.PAGESIZE)
        try:
            entries = np.frombuffer(os.pread(self._pagemap, 8 * pages, 8 * first), np.uint64)
        except OSError:
            return True  # cannot tell: do not keep it
        if len(entries) != pages:
            return True
        private = ((entries & (_PRESENT | _SWAPPED)) != 0) & ((entries & _FILE_PAGE) == 0)
        return bool(private.any())

    @staticmethod
    def _close(kept: tuple[int, mmap.mmap]) -> None:
        os.close(kept[0])
        try:
            kept[1].close()
        except BufferError:  # the script still holds an array of it: it goes with the array
            pass

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_forever, daemon=True,
                                             name="gpuemu-shm-maps")
            self._sweeper.start()

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                self.sweep()
            except OSError:
                pass


MAPS = Maps()
