"""Where an op or kernel is declared in gpuemu.toml, so review tools can point at the line.

A plain scan of the text, not a TOML parse: the parsed config keeps no line numbers, and a
missing line only makes the location coarser (the whole file), never wrong."""

from __future__ import annotations

import re
from pathlib import Path

_TABLE = re.compile(r"^\s*\[\[\s*(\w+)\s*\]\]")
_NAME = re.compile(r"""^\s*name\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _locate(config_path: str | Path | None, table: str, name: str) -> int | None:
    if config_path is None:
        return None
    try:
        lines = Path(config_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    current = None
    for number, line in enumerate(lines, start=1):
        if header := _TABLE.match(line):
            current = header.group(1)
        elif line.lstrip().startswith("["):
            continue  # a sub-table ([ops.fuzz]) stays inside the current entry
        elif current == table and (m := _NAME.match(line)) and name in m.groups():
            return number
    return None


def locate_op(config_path: str | Path | None, op_name: str) -> int | None:
    """The 1-based line of ``name = "op_name"`` in an ``[[ops]]`` entry, or None."""
    return _locate(config_path, "ops", op_name)


def locate_kernel(config_path: str | Path | None, kernel_name: str) -> int | None:
    """The 1-based line of ``name = "kernel_name"`` in a ``[[kernels]]`` entry, or None."""
    return _locate(config_path, "kernels", kernel_name)


def config_uri(config_path: str | Path) -> str:
    """The config's path as review and coverage tools want it: relative to the working
    directory (the repository root in CI) when inside it, else an absolute file URI."""
    path = Path(config_path).resolve()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_uri()
