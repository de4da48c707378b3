"""Shared memory for large tensors between processes of one host.

Every hop of a tensor (client to daemon over NNG, daemon to a warm worker and back over
a pipe) used to copy its bytes several times through message buffers: ~0.03 GiB/s end
to end for a 64 MiB ValidateOp (docs/performance.md). A TensorData of at least
``MIN_BYTES`` now travels as the name of a file in a private shared-memory directory
(``/dev/shm/gpuemu-UID``, mode 0700): the sender writes the bytes once, the receiver
maps the file copy-on-write (so the op under test may still write into its inputs) and
unlinks it at once -- Linux keeps a mapped file alive until the mapping goes. The
sender unlinks its files after the reply too, in case the receiver never took them;
what a crash leaves behind ``sweep`` removes when a daemon starts.

Only names matching ``NAME`` inside that directory are ever opened, so a request cannot
make the daemon read another file. ``GPUEMU_SHM=0`` turns the path off (every tensor
then travels inline, as before).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from .errors import InvalidTensorData

MIN_BYTES = 1 << 20
"""Smaller tensors stay inline: a file per tensor costs more than copying them."""

NAME = re.compile(r"^[0-9a-f]{32}\.tensor$")
STALE_S = 3600.0


def enabled() -> bool:
    return os.environ.get("GPUEMU_SHM", "1") != "0"


def directory() -> Path:
    """The per-user directory, created private; one that someone else could write to is
    refused rather than used."""
    base = Path("/dev/shm") if os.path.isdir("/dev/shm") else Path(tempfile.gettempdir())
    path = base / f"gpuemu-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & 0o077):
        raise PermissionError(f"{path}: not a private directory of this user; remove it, or"
                              " set GPUEMU_SHM=0 to send tensors inline")
    return path


def wanted(nbytes: int) -> bool:
    """Whether a tensor of ``nbytes`` should travel through shared memory."""
    return nbytes >= MIN_BYTES and enabled()


def write(*chunks: Any) -> str:
    """A new shared-memory file holding ``chunks`` (bytes or contiguous arrays) in order,
    written straight from their memory; returns its name."""
    name = f"{secrets.token_hex(16)}.tensor"
    fd = os.open(directory() / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        for chunk in chunks:
            f.write(chunk if isinstance(chunk, bytes) else memoryview(chunk.view(np.uint8)))
    return name


def spill(td: Any) -> Any:
    """``td`` (a TensorData) with its bytes moved to a shared-memory file when they are
    large and the path is on; otherwise ``td`` itself. (``tensor.from_numpy(...,
    shared=True)`` does the same without first copying an array into ``data``.)"""
    if td.shm is not None or not wanted(len(td.data)):
        return td
    return msgspec.structs.replace(td, data=b"", shm=write(td.data))


def take(name: str, nbytes: int, field: str) -> np.ndarray:
    """The bytes of shared-memory file ``name`` as a private (copy-on-write) uint8 array;
    the file is unlinked, so it goes when the array does."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidTensorData(f"{field}.shm: {name!r} is not a gpuemu shared-memory name",
                                field=f"{field}.shm")
    path = directory() / name
    try:
        size = path.stat().st_size
        if size != nbytes:
            raise InvalidTensorData(
                f"{field}.shm: the file holds {size} bytes but the tensor's shape, strides"
                f" and offset cover {nbytes}", field=f"{field}.shm")
        return np.memmap(path, dtype=np.uint8, mode="c", shape=(nbytes,)) if nbytes else \
            np.empty(0, np.uint8)
    except FileNotFoundError:
        raise InvalidTensorData(
            f"{field}.shm: no shared-memory file {name!r} (taken already, or the sender is on"
            " another host: set GPUEMU_SHM=0 there)", field=f"{field}.shm") from None
    finally:
        discard([name])


def names(tensors: Iterable[Any]) -> list[str]:
    """The shared-memory files of ``tensors`` (TensorData), for ``discard`` after a reply."""
    return [td.shm for td in tensors if td is not None and td.shm is not None]


def discard(files: Iterable[str]) -> None:
    """Unlink these files if they are still there (the receiver normally took them)."""
    for name in files:
        if NAME.match(name):
            try:
                os.unlink(directory() / name)
            except FileNotFoundError:
                pass


def sweep(max_age_s: float = STALE_S) -> int:
    """Remove files older than ``max_age_s`` (left by a crash); returns how many."""
    removed, now = 0, time.time()
    for path in directory().iterdir():
        try:
            if NAME.match(path.name) and now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
