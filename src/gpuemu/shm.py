"""Shared memory for large tensors between processes of one host.

Every hop of a tensor (client to daemon over NNG, daemon to a warm worker and back over
a pipe) used to copy its bytes several times through message buffers: ~0.03 GiB/s end
to end for a 64 MiB ValidateOp (docs/performance.md). A TensorData of at least
``MIN_BYTES`` now travels as the name of a file in the daemon's shared-memory directory:
the sender writes the bytes once, the receiver maps the file and unlinks it at once --
Linux keeps a mapped file alive until the mapping goes.

The directory: each daemon creates its own when it starts (``publish``), a fresh
``mkdtemp`` under /dev/shm (mode 0700, an unguessable name), and names it in a file
beside its socket (``<socket>.shm``, 0600) for its clients and in ``GPUEMU_SHM_DIR``
for its workers. Whoever uses a directory first checks that it is a real directory of
this user that no one else can enter (``trusted``); if it is not, or there is none,
tensors travel inline, as they always can. So no other local user can make a daemon
refuse tensors by squatting a well-known name (issue 22), and cleanup is exact: the
next start of a daemon removes its previous directory and whatever a crashed client,
daemon or worker left in it, and a daemon that exits removes its own.

In the daemon a received file is kept under a second name (``.held``) for as long as
its mapping lives, mapped read-only: the daemon hands that same file to its worker
(``held``) instead of writing the tensor again, and the worker maps it copy-on-write
(the op may write into its inputs) without unlinking it. Read-only mappings also let
the compare hand pages back as it goes (``release``), so the daemon never holds a
whole received tensor in memory at once.

A process other than the daemon (a client, a warm worker) writes into files it keeps
(``.pool``, gpuemu.shm_pool) instead of new ones: the pages are there already. A receiver
maps such a file under a ``.held`` link as above and never unlinks it; the sender
rewrites it once it is free again, and the daemon reaps those of senders that died.

Only names matching ``NAME`` inside the directory are ever opened, so a request cannot
make a receiver read another file. ``GPUEMU_SHM=0`` turns the path off.
"""

from __future__ import annotations

import mmap
import os
import re
import secrets
import shutil
import stat
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from . import shm_maps, shm_pool
from .errors import InvalidTensorData

MIN_BYTES = 1 << 20
"""Smaller tensors stay inline: a file per tensor costs more than copying them."""

NAME = re.compile(r"^[0-9a-f]{32}\.(tensor|held|pool)$")
ENV = "GPUEMU_SHM_DIR"

_own: Path | None = None  # set in the daemon by publish()
_held: dict[int, tuple[int, str]] = {}  # mapping address -> (bytes, held name), daemon only


def enabled() -> bool:
    return os.environ.get("GPUEMU_SHM", "1") != "0"


def trusted(path: Path) -> bool:
    """A real directory (not a link) of this user, closed to everyone else."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & 0o077)


def pointer(socket: Path) -> Path:
    """The file beside a daemon's socket that names its shared-memory directory."""
    return socket.with_name(socket.name + ".shm")


def publish(socket: Path) -> Path | None:
    """The daemon's start: remove the directory its previous run left (with whatever a
    crash left in it), create a fresh private one, and name it for clients and workers.
    None when shared memory is off or cannot be had (tensors then travel inline)."""
    global _own
    _remove(socket)
    if not enabled():
        return None
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    try:
        path = Path(tempfile.mkdtemp(prefix="gpuemu-", dir=base))  # 0700, unguessable
        tmp = pointer(socket).with_name(f".{pointer(socket).name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(path))
        os.replace(tmp, pointer(socket))
    except OSError:
        return None
    _own = path
    os.environ[ENV] = str(path)  # the daemon's workers inherit it
    return path


def withdraw(socket: Path) -> None:
    """The daemon's exit: its directory and the file naming it go."""
    global _own
    _remove(socket)
    _own = None
    os.environ.pop(ENV, None)


def _remove(socket: Path) -> None:
    where = locate(socket)
    if where is not None:
        shutil.rmtree(where, ignore_errors=True)
    try:
        os.unlink(pointer(socket))
    except FileNotFoundError:
        pass


def locate(socket: Path) -> Path | None:
    """The shared-memory directory of the daemon on ``socket``, if it has a trusted one."""
    if not enabled():
        return None
    try:
        fd = os.open(pointer(socket), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd) as f:
        info = os.fstat(f.fileno())
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        path = Path(f.read(4096).strip())
    return path if path.is_absolute() and trusted(path) else None


def directory() -> Path | None:
    """This process's directory: the daemon's own, or the one its daemon named for it
    (a worker); None (inline) when there is none or it cannot be trusted."""
    if not enabled():
        return None
    if _own is not None:
        return _own
    env = os.environ.get(ENV)
    return Path(env) if env and trusted(Path(env)) else None


def wanted(nbytes: int, where: Path | None) -> bool:
    """Whether a tensor of ``nbytes`` should travel through shared memory in ``where``."""
    return where is not None and nbytes >= MIN_BYTES and enabled()


def write(*chunks: Any, where: Path) -> str:
    """A shared-memory file in ``where`` holding ``chunks`` (bytes or contiguous arrays)
    in order, written straight from their memory; returns its name. Into another
    process's directory (a client's, a worker's) a pool file, rewritten in place
    (``discard`` lets it be reused); into the daemon's own, a new file: a pool there
    would stay mapped, and count, in the daemon's memory."""
    if where != _own:
        return shm_pool.POOL.write(chunks, sum(len(c) if isinstance(c, bytes) else c.nbytes
                                               for c in chunks), where)
    name = f"{secrets.token_hex(16)}.tensor"
    fd = os.open(where / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        for chunk in chunks:
            f.write(chunk if isinstance(chunk, bytes) else memoryview(chunk.view(np.uint8)))
    return name


def spill(td: Any, where: Path | None) -> Any:
    """``td`` (a TensorData) with its bytes moved to a shared-memory file in ``where``
    when they are large; otherwise ``td`` itself. (``tensor.from_numpy(..., shared=...)``
    does the same without first copying an array into ``data``.)"""
    if td.shm is not None or not wanted(len(td.data), where):
        return td
    return msgspec.structs.replace(td, data=b"", shm=write(td.data, where=where))


def held(arr: np.ndarray, where: Path | None = None) -> str | None:
    """The file whose whole mapping ``arr`` is, to hand on by name instead of writing the
    tensor again: one the daemon holds, or (in ``where``) a pool file this process
    reserved to send (gpuemu.shm_pool)."""
    if where is not None and (name := shm_pool.POOL.sending(arr, where)):
        return name
    if not _held or not arr.flags.c_contiguous:
        return None
    found = _held.get(arr.__array_interface__["data"][0])
    return found[1] if found is not None and found[0] == arr.nbytes else None


def take(name: str, nbytes: int, field: str) -> np.ndarray:
    """The bytes of shared-memory file ``name`` as a uint8 array that is the receiver's
    own: copy-on-write, or read-only in the daemon, which keeps the file as held (see
    the module docstring). A ``.tensor`` file is unlinked: it goes when the array does; a
    ``.pool`` file is the sender's, held under a link while the array lives."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidTensorData(f"{field}.shm: {name!r} is not a gpuemu shared-memory name",
                                field=f"{field}.shm")
    where = directory()
    if where is None:
        raise InvalidTensorData(
            f"{field}.shm: this process has no trusted shared-memory directory; send the"
            " tensor inline (GPUEMU_SHM=0)", field=f"{field}.shm")
    path, keep = where / name, not name.endswith(".tensor")
    try:
        size = path.stat().st_size
        if size != nbytes:
            raise InvalidTensorData(
                f"{field}.shm: the file holds {size} bytes but the tensor's shape, strides"
                f" and offset cover {nbytes}", field=f"{field}.shm")
        if not nbytes:
            return np.empty(0, np.uint8)
        if name.endswith(shm_pool.SUFFIX):
            return _hold(path, nbytes, "c" if _own is None else "r")
        if name.endswith(".held") and shm_maps.MAPS.active:  # a warm worker's input
            return shm_maps.MAPS.take(path, nbytes)
        if _own is None or keep:
            return np.memmap(path, dtype=np.uint8, mode="c", shape=(nbytes,))
        return _hold(path, nbytes, "r")
    except FileNotFoundError:
        raise InvalidTensorData(
            f"{field}.shm: no shared-memory file {name!r} (taken already, or the sender is on"
            " another host: set GPUEMU_SHM=0 there)", field=f"{field}.shm") from None
    finally:
        if not keep:
            discard([name], where)


def _hold(path: Path, nbytes: int, mode: str) -> np.ndarray:
    """Map ``path`` (``mode`` "r" or copy-on-write "c") under a held name that lives as
    long as the mapping."""
    held_path = path.with_name(f"{secrets.token_hex(16)}.held")
    os.link(path, held_path)
    arr = np.memmap(held_path, dtype=np.uint8, mode=mode, shape=(nbytes,))
    address = arr.__array_interface__["data"][0]
    _held[address] = (nbytes, held_path.name)
    weakref.finalize(arr, _let_go, address, held_path)
    return arr


def _let_go(address: int, path: Path) -> None:
    _held.pop(address, None)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    reap()  # a request is over: the files of senders that died go


def reap() -> None:
    """In the daemon: remove the pool files of senders that are gone (gpuemu.shm_pool)."""
    if _own is not None:
        shm_pool.reap(_own)


def release(view: np.ndarray) -> None:
    """Hand back the whole pages under ``view`` when it lies in a read-only memory map
    (a tensor the daemon received): they stay in the file and come back on the next
    touch. Anything else is left alone (a private page would lose its writes)."""
    owner = view  # up the chain of bases (views, as_strided's holders) to the mapping
    while owner is not None and not isinstance(getattr(owner, "base", None), mmap.mmap):
        owner = getattr(owner, "base", None)
    if not isinstance(owner, np.memmap) or owner.mode != "r":
        return
    start = view.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # our maps start at offset 0
    last = (start + view.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        owner.base.madvise(mmap.MADV_DONTNEED, first, last - first)


def names(tensors: Iterable[Any]) -> list[str]:
    """The shared-memory files of ``tensors`` (TensorData), for ``discard`` after a reply."""
    return [td.shm for td in tensors if td is not None and td.shm is not None]


def discard(files: Iterable[str], where: Path | None = None, answered: bool = True) -> None:
    """A request that carried these files is over: unlink them (in ``where``, default
    this process's directory) if they are still there (the receiver normally took them);
    this process's pool files may be rewritten (``answered``) or are removed (a request
    that failed on the way: its receiver may still come to read them). Held files are
    their holder's."""
    files = list(files)
    where = (where or directory()) if files else None  # most requests carry none
    if where is None:
        return
    pooled = [name for name in files if shm_pool.POOL.owns(name, where)]
    if answered:
        shm_pool.POOL.release(pooled, where)
    else:
        shm_pool.POOL.drop(pooled, where)
    for name in files:
        if NAME.match(name) and name.endswith(".tensor"):
            try:
                os.unlink(where / name)
            except FileNotFoundError:
                pass
