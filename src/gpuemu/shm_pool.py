"""Shared-memory files a sender keeps and rewrites in place (gpuemu.shm's ``.pool`` files).

A fresh tmpfs file costs its pages' allocation and zeroing on the sender's first write
and their freeing when the last name goes: on this project's VMs 4-6x a memcpy, most of
a large ValidateOp (docs/performance.md). So a process that sends large tensors again
and again -- a client, a warm worker -- keeps its files and writes the next tensor into
a free one, where the pages already are.

A file is free when this process is not sending it (``busy``: from ``write`` until the
sender ``release``s it after the reply) and no receiver maps it: a receiver links a
``.held`` name to a pool file for as long as its mapping lives (``shm.take``), so the
file's link count is 1 again only once every receiver let go.

Each file is created under a temporary name, locked (``flock`` LOCK_SH) and only then
renamed to its pool name, and the lock lives as long as this process: whoever owns the
directory (the daemon) ``reap``s the pool files whose lock is free, i.e. whose sender
died, so a killed client or worker leaves nothing behind once its request is over. A
process that exits normally removes its own files.
"""

from __future__ import annotations

import atexit
import fcntl
import mmap
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SUFFIX = ".pool"


class Pool:
    """This process's pool files, per directory; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[Path, int] = {}  # path -> descriptor holding the LOCK_SH
        self._maps: dict[Path, mmap.mmap | None] = {}
        self._busy: set[Path] = set()
        self._sent: dict[int, Path] = {}  # a reserved mapping's address -> its file

    def write(self, chunks: Sequence[Any], nbytes: int, where: Path) -> str:
        """A pool file in ``where`` now holding ``chunks`` (``nbytes`` in all); its name.
        Busy until ``release``d. The file stays mapped here, so rewriting it is a memcpy."""
        name, buffer = self.reserve(nbytes, where)
        try:
            offset = 0
            for chunk in chunks:
                view = np.frombuffer(chunk, np.uint8) if isinstance(chunk, bytes) else chunk.view(np.uint8)
                buffer[offset:offset + len(view)] = view
                offset += len(view)
        except BaseException:
            del buffer
            self.drop([name], where)
            raise
        return name

    def reserve(self, nbytes: int, where: Path) -> tuple[str, np.ndarray]:
        """A pool file of ``nbytes`` in ``where``, busy until ``release``d, and its mapping
        as a writable uint8 array for the caller to fill: ``write`` copies chunks into it, a
        warm worker's compare copies its output as it reads it (gpuemu.validate.fused).
        ``sending`` finds the file again from an array over that mapping."""
        with self._lock:
            path = self._free(where, nbytes) or self._create(where)
            self._busy.add(path)
            fd, mapped = self._fds[path], self._maps.get(path)
        try:
            if mapped is None or len(mapped) != nbytes:
                if mapped is not None:
                    mapped.close()
                os.ftruncate(fd, nbytes)
                mapped = mmap.mmap(fd, nbytes) if nbytes else None
                with self._lock:
                    self._maps[path] = mapped
        except BaseException:
            self.drop([path.name], where)
            raise
        if mapped is None:
            return path.name, np.empty(0, np.uint8)
        buffer = np.frombuffer(mapped, np.uint8)
        with self._lock:
            self._sent[buffer.__array_interface__["data"][0]] = path
        return path.name, buffer

    def sending(self, arr: np.ndarray, where: Path) -> str | None:
        """The busy file in ``where`` whose whole mapping ``arr`` is (``reserve``), if any."""
        if not self._sent or not arr.flags.c_contiguous:
            return None
        with self._lock:
            path = self._sent.get(arr.__array_interface__["data"][0])
            mapped = self._maps.get(path)
            if path in self._busy and path.parent == where and mapped is not None \
                    and len(mapped) == arr.nbytes:
                return path.name
        return None

    def owns(self, name: str, where: Path) -> bool:
        return where / name in self._fds

    def release(self, names: Iterable[str], where: Path) -> None:
        """The requests that carried these files were answered: they may be rewritten
        once no receiver maps them any more."""
        with self._lock:
            self._busy.difference_update(where / name for name in names)
            self._forget_sent()

    def release_all(self) -> None:
        """Every file may be rewritten once its receivers let go (a warm worker, whose
        previous reply the executor has taken by the time the next call arrives)."""
        with self._lock:
            self._busy.clear()
            self._forget_sent()

    def drop(self, names: Iterable[str], where: Path) -> None:
        """Remove these files (a request that failed on the way: its receiver may still
        come to read it, and must not find another tensor there)."""
        with self._lock:
            for name in names:
                self._remove(where / name)

    def trim(self) -> None:
        """Remove the files that are free now (a client closing)."""
        with self._lock:
            for path in [p for p in self._fds if p not in self._busy]:
                self._remove(path)

    def clear(self) -> None:
        with self._lock:
            for path in list(self._fds):
                self._remove(path)

    def _forget_sent(self) -> None:
        self._sent = {address: path for address, path in self._sent.items() if path in self._busy}

    def _free(self, where: Path, nbytes: int) -> Path | None:
        """A free file in ``where``: one of ``nbytes`` if there is one (nothing to resize)."""
        found = None
        for path, fd in list(self._fds.items()):
            if path in self._busy:
                continue
            info = os.fstat(fd)
            if info.st_nlink == 0:  # removed under us (its daemon's directory went): let go
                self._remove(path)
            elif info.st_nlink == 1 and path.parent == where:
                if info.st_size == nbytes:
                    return path
                found = found or path
        return found

    def _create(self, where: Path) -> Path:
        token = secrets.token_hex(16)
        new, path = where / f".{token}.new", where / f"{token}{SUFFIX}"
        fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # before the name that reap() looks at exists
            os.rename(new, path)
        except BaseException:
            os.close(fd)
            os.unlink(new)
            raise
        self._fds[path] = fd
        return path

    def _remove(self, path: Path) -> None:
        self._busy.discard(path)
        self._forget_sent()
        fd, mapped = self._fds.pop(path, None), self._maps.pop(path, None)
        if mapped is not None:
            mapped.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        if fd is not None:
            os.close(fd)


def reap(where: Path) -> None:
    """Remove the pool files in ``where`` whose sender is gone (their lock is free)."""
    try:
        entries = list(os.scandir(where))
    except OSError:
        return
    for entry in entries:
        if not entry.name.endswith(SUFFIX):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its sender lives
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)


POOL = Pool()
atexit.register(POOL.clear)
