"""What a benchmark produces (figures, each with the floors it is measured against)
and the two ways it is shown: a text table for people, JSON for later comparison.

A ratio is always a cost multiple: how many times slower (or bigger) a figure is than
its floor, whichever way its unit points, so that a ratio above 1 means "costs more
than the floor" in every row of the table.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .timing import Timing

# unit -> (higher is better, how one value is printed)
UNITS = {
    "s": (False, lambda v: _scaled(v, ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")))),
    "B": (False, lambda v: f"{v / 2**20:.1f} MiB"),
    "B/s": (True, lambda v: f"{v / 2**30:.3g} GiB/s"),
    "cases/s": (True, lambda v: f"{v:.3g} cases/s"),
    "x": (False, lambda v: f"{v:.2f}x"),
}


def _scaled(value: float, scales: tuple[tuple[float, str], ...]) -> str:
    for factor, name in scales:
        if value >= factor or factor == scales[-1][0]:
            return f"{value / factor:.3g} {name}"
    raise AssertionError("unreachable")


def _ratio(r: float) -> str:
    return f"{r:.3g}x" if r < 1000 else f"{r:.0f}x"


@dataclass(frozen=True, slots=True)
class Target:
    """A DESIGN.md performance target: on the figure's value, or on its ratio to its
    first floor (``on_ratio``)."""

    bound: float
    at_most: bool
    on_ratio: bool = False

    def met(self, value: float, ratio: float | None) -> bool:
        x = ratio if self.on_ratio else value
        return x is not None and (x <= self.bound if self.at_most else x >= self.bound)

    def describe(self, unit: str, floor_label: str = "") -> str:
        bound = f"{self.bound:g}x {floor_label}" if self.on_ratio else UNITS[unit][1](self.bound)
        return f"{'<=' if self.at_most else '>='} {bound}".strip()


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    value: float
    unit: str
    reps: int
    vs: tuple[str, ...] = ()
    """Keys of the floors (figures of the same section) this one is compared with."""
    target: Target | None = None
    spread: tuple[float, float] | None = None
    """The interquartile range, in the figure's unit."""

    @classmethod
    def time(cls, key: str, label: str, t: Timing, **kw) -> Figure:
        return cls(key, label, t.median_s, "s", t.reps, spread=(t.p25_s, t.p75_s), **kw)

    @classmethod
    def rate(cls, key: str, label: str, amount: float, unit: str, t: Timing, **kw) -> Figure:
        """``amount`` (bytes, cases) per call, as a rate from the call's timing."""
        return cls(key, label, amount / t.median_s, unit, t.reps,
                   spread=(amount / t.p75_s, amount / t.p25_s), **kw)

    def cost_ratio(self, floor: Figure) -> float:
        higher_is_better = UNITS[self.unit][0]
        return floor.value / self.value if higher_is_better else self.value / floor.value


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    title: str
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    def ratios(self) -> dict[str, float]:
        return {f"{f.key}_vs_{k}": f.cost_ratio(self.figure(k)) for f in self.figures for k in f.vs}

    def targets(self) -> dict[str, dict]:
        out = {}
        for f in self.figures:
            if f.target:
                floor = self.figure(f.vs[0]) if f.vs else None
                ratio = f.cost_ratio(floor) if floor else None
                out[f.key] = {"target": f.target.describe(f.unit, f.vs[0] if f.vs else ""),
                              "met": f.target.met(f.value, ratio)}
        return out

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "figures": {f.key: {"label": f.label, "value": f.value, "unit": f.unit, "reps": f.reps,
                                "iqr": list(f.spread) if f.spread else None} for f in self.figures},
            "ratios": self.ratios(),
            "targets": self.targets(),
            "notes": self.notes,
        }

    def render(self) -> str:
        targets = self.targets()
        rows = [("", "median", "reps", "vs floor", "target")]
        for f in self.figures:
            fmt = UNITS[f.unit][1]
            vs = ", ".join(f"{_ratio(f.cost_ratio(self.figure(k)))} {k}" for k in f.vs) or ("(floor)" if self._is_floor(f) else "")
            t = targets.get(f.key)
            mark = f"{t['target']}: {'met' if t['met'] else 'MISSED'}" if t else ""
            rows.append((f.label, fmt(f.value), str(f.reps), vs, mark))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{self.name}: {self.title}"]
        lines += ["  " + "  ".join(c.ljust(w) if i != 1 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                  for r in rows]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    def _is_floor(self, f: Figure) -> bool:
        return any(f.key in other.vs for other in self.figures)


def machine() -> dict:
    """Where the numbers came from: they mean little without it."""
    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) * 1024 for line in _lines("/proc/meminfo")
                if line.startswith("MemTotal:")), None)
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "memory_bytes": mem,
            "python": sys.version.split()[0], "numpy": np.__version__,
            "platform": platform.platform(), "commit": _commit(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def describe_machine(m: dict) -> str:
    mem = f", {m['memory_bytes'] / 2**30:.0f} GiB RAM" if m["memory_bytes"] else ""
    return (f"{m['nproc']} cores ({m['cpu']}){mem}; Python {m['python']}, numpy {m['numpy']};"
            f" {m['platform']}; commit {m['commit']}")


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
