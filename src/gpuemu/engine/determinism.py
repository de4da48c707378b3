"""Determinism and input integrity of an op script: run it several times on one case.

A kernel that races (atomics landing in a different order, uninitialised memory, a
missing barrier) can pass once and fail in CI; one that writes into its inputs corrupts
its caller's data. ``run_op`` runs the op ``runs`` times on the same inputs -- each call
serialises them anew, so every run gets a fresh copy -- requires bitwise-identical
outputs, and has the warm worker compare the inputs before and after each call. Scripts
that cannot be kept warm (no top-level ``run``/``reference``) run one-shot, where the
inputs are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import OpConfig
from ..errors import InvalidRequest
from ..validate import FailureKind, FailureReason
from .executor import Executor

def op_options(op) -> dict:
    """How an op's scripts run (gpuemu.toml): ``run_script``'s keyword arguments."""
    return {"timeout_s": op.timeout_s, "max_memory_mb": op.max_memory_mb,
            "emulate_cuda": op.emulate_cuda}


def single_output(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The output an op is checked on: the one named ``output``, else the first."""
    return outputs["output"] if "output" in outputs else next(iter(outputs.values()))


DEFAULT_RUNS = 3
"""Runs per case for an op with ``deterministic = true``: a flip every other run shows."""


@dataclass(frozen=True, slots=True)
class OpOutcome:
    """The output of the op's first run, and what the extra runs found wrong."""

    output: np.ndarray
    failures: tuple[FailureReason, ...] = ()


def determinism_runs(op: OpConfig, requested: int | None = None) -> int:
    """How often to run the op per case: the request's count, else DEFAULT_RUNS for an op
    with ``deterministic = true``, else once (no check)."""
    if requested is None:
        return DEFAULT_RUNS if op.deterministic else 1
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise InvalidRequest(f"determinism: expected the number of runs per case (>= 1; 1 "
                             f"means no check), got {requested!r}", field="determinism")
    return requested


def run_op(executor: Executor, op: OpConfig, inputs: dict[str, np.ndarray], kwargs: dict, *,
           runs: int = 1, cwd: Path | None = None) -> OpOutcome:
    """Run the op script ``runs`` times on ``inputs``; with runs > 1 also check that every
    run matches the first bitwise and that no run wrote into its inputs."""
    first: dict[str, np.ndarray] | None = None
    failures: dict[str, FailureReason] = {}
    for i in range(1, runs + 1):
        run = executor.run_checked(op.op_script, inputs, kwargs, cwd=cwd, check_inputs=runs > 1,
                                   **op_options(op))
        if run.mutated_inputs and FailureKind.InputMutated not in failures:
            failures[FailureKind.InputMutated] = _mutated(run.mutated_inputs, i, runs)
        if first is None:
            first = run.outputs
        elif FailureKind.NonDeterministic not in failures:
            differs = _difference(first, run.outputs, i, runs)
            if differs is not None:
                failures[FailureKind.NonDeterministic] = differs
    return OpOutcome(single_output(first), tuple(failures.values()))


def _mutated(names: tuple[str, ...], run: int, runs: int) -> FailureReason:
    listed = ", ".join(repr(n) for n in names)
    return FailureReason(
        kind=FailureKind.InputMutated, count=len(names), actual=", ".join(names),
        message=f"the op wrote into its input{'s' if len(names) > 1 else ''} {listed} (run "
                f"{run} of {runs}): a caller's data would be corrupted; write the result to a "
                "new array (or copy the input first)")


def _difference(first: dict[str, np.ndarray], other: dict[str, np.ndarray], run: int,
                runs: int) -> FailureReason | None:
    """How run ``run``'s outputs differ bitwise from run 1's, or None when they do not."""
    if set(first) != set(other):
        return _nondeterministic(f"run {run} of {runs} returned outputs {sorted(other)} but run "
                                 f"1 returned {sorted(first)}", None, None)
    for name, a in first.items():
        b = other[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            return _nondeterministic(
                f"output {name!r} of run {run} of {runs} has shape {list(b.shape)} and dtype "
                f"{b.dtype} but run 1's has {list(a.shape)}, {a.dtype}", None, None)
        if a.tobytes() == b.tobytes():
            continue
        unsigned = np.dtype(f"u{a.itemsize}")
        differs = np.ascontiguousarray(a).view(unsigned) != np.ascontiguousarray(b).view(unsigned)
        count = int(np.count_nonzero(differs))
        where = [int(k) for k in np.unravel_index(int(np.argmax(differs)), a.shape)]
        return _nondeterministic(
            f"output {name!r} of run {run} of {runs} differs bitwise from run 1 at {count} of "
            f"{a.size} elements, first at {where} (run 1: {a[tuple(where)]!s}, run {run}: "
            f"{b[tuple(where)]!s})", count, where)
    return None


def _nondeterministic(what: str, count: int | None, where: list[int] | None) -> FailureReason:
    return FailureReason(
        kind=FailureKind.NonDeterministic, count=count, index=where,
        message=f"the op is not deterministic: {what}, on copies of the same inputs; look for "
                "races (atomics, a missing barrier, uninitialised memory) or set "
                "deterministic = false if the op is meant to vary")
