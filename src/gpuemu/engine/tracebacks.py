"""A script's traceback as its author needs it: their own frames and the final error.

An exception in a script reaches gpuemu as text: a warm worker's ``format_exc``, or the
stderr of a forked or one-shot run. Its last lines are often the wrong ones: a Triton
kernel's error arrives wrapped ("The above exception was the direct cause of the
following exception:") in frames of the interpreter, so the last twenty lines begin
inside the library, after the line of the kernel that raised. ``quote_traceback`` keeps,
for every exception of the chain, the frames of the author's files, the innermost frame
(where it was raised) and the exception's lines, and says how many frames it left out.
Frames of gpuemu itself, the standard library and installed packages are the ones left
out. Text without a traceback is quoted by its last lines, as before.
"""

from __future__ import annotations

import os
import re
import sysconfig
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^  File "(?P<file>.+)", line \d+')
_REPEATED = re.compile(r"^  \[Previous line repeated (\d+) more times?\]")
_SEPARATORS = ("The above exception was the direct cause of the following exception:",
               "During handling of the above exception, another exception occurred:")

TAIL_LINES = 20
"""Lines quoted of text that holds no traceback (the executor's stderr tails too)."""
LEADING_LINES = 5
"""Lines the script printed before its traceback that are kept."""
FRAMES_PER_EXCEPTION = 8
"""The author's frames kept per exception (the innermost ones: deep recursion is cut)."""
ERROR_LINES = 12
"""Lines of one exception's message kept (its first and last ones)."""


@dataclass(slots=True)
class _Frame:
    file: str
    lines: list[str]


@dataclass(slots=True)
class _Exception:
    separator: str | None  # how it is chained to the one before; None for the first
    frames: list[_Frame] = field(default_factory=list)
    error: list[str] = field(default_factory=list)


def quote_traceback(text: str | bytes, n: int = TAIL_LINES) -> str:
    """``text`` (a traceback, or stderr holding one) with the frames of library code left
    out; the last ``n`` lines of ``text`` when it holds no traceback."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = text.rstrip().splitlines()
    if HEADER not in lines:
        return "\n".join(lines[-n:])
    start = lines.index(HEADER)
    leading = [line for line in lines[:start] if line.strip()][-LEADING_LINES:]
    chain = _parse(lines[start:])
    if not any(_is_users(f.file) for e in chain for f in e.frames):
        return "\n".join(lines[-n:])  # gpuemu's or a library's own error: nothing to single out
    out = list(leading)
    for exc in chain:
        if exc.separator is not None:
            out += ["", exc.separator, ""]
        out.append(HEADER)
        out += _frames(exc.frames)
        out += _shortened(exc.error)
    return "\n".join(out)


def _parse(lines: list[str]) -> list[_Exception]:
    chain: list[_Exception] = []
    separator: str | None = None
    for line in lines:
        if line == HEADER:
            chain.append(_Exception(separator))
            separator = None
        elif line in _SEPARATORS:
            separator = line
        elif chain and not chain[-1].error and (match := _FRAME.match(line)):
            chain[-1].frames.append(_Frame(match["file"], [line]))
        elif chain and not chain[-1].error and chain[-1].frames and line.startswith("  "):
            chain[-1].frames[-1].lines.append(line)  # its source line, carets, "[Previous line repeated]"
        elif chain and (line.strip() or chain[-1].error):
            chain[-1].error.append(line)
    for exc in chain:  # the blank line before a separator belongs to neither
        while exc.error and not exc.error[-1].strip():
            exc.error.pop()
    return chain


def _frames(frames: list[_Frame]) -> list[str]:
    """The author's frames (the innermost FRAMES_PER_EXCEPTION) and the innermost frame."""
    keep = [i for i, f in enumerate(frames) if _is_users(f.file)][-FRAMES_PER_EXCEPTION:]
    if frames and len(frames) - 1 not in keep:
        keep.append(len(frames) - 1)
    out, shown = [], 0
    for i in keep:
        if i > shown:
            out.append(_omitted(sum(_count(f) for f in frames[shown:i])))
        out += frames[i].lines
        shown = i + 1
    return out


def _count(frame: _Frame) -> int:
    """How many frames one printed frame stands for ("[Previous line repeated 12 more times]")."""
    return 1 + sum(int(m[1]) for line in frame.lines if (m := _REPEATED.match(line)))


def _omitted(count: int) -> str:
    return f"  [{count} frame{'s' if count > 1 else ''} of gpuemu or library code left out]"


def _shortened(error: list[str]) -> list[str]:
    if len(error) <= ERROR_LINES:
        return error
    head, tail = ERROR_LINES // 3, ERROR_LINES - ERROR_LINES // 3
    return [*error[:head], f"[{len(error) - head - tail} lines left out]", *error[-tail:]]


@cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(str(Path(__file__).resolve().parents[1]))  # gpuemu itself
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)



def _is_users(file: str) -> bool:
    """Whether a frame's file is the author's: not gpuemu, not installed, not built in."""
    if file.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    if any(part in file for part in ("/site-packages/", "/dist-packages/")):
        return False
    real = os.path.realpath(file)
    return not real.startswith(_library_dirs())
