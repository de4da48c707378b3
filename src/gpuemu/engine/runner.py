"""The one fuzz runner: a case run and judged (``run_case``), and the cases of a run spread
over the warm workers (``fuzz_cases``), each handed to a sink as soon as it is judged.

Every place that judges an op's output on a case goes through ``check_case``: the daemon's
ValidateOp, FuzzOp, SubmitOutput, Reproduce and Minimize, a cluster node, and the
in-process path (``gpuemu.local``: regression tests, reproducer files, the debug REPL).
So one op gets one verdict everywhere:

- a case judged as part of a run (a ``health`` collects it) only lists the impostors that
  would pass it (the run's health check weighs them over all its cases); a case judged
  alone gets a VacuousCheck warning. Neither fails the case: a right output passes a
  vacuous check too.
- a reference must give one output (or one named ``output``): several are an
  InvalidRequest naming them, never silently the first.

What a run's sink does with a case is the caller's: the daemon stores it and checks for
cancellation (daemon.fuzzing), a cluster node sends it back (cluster.node).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import shm
from ..config import OpConfig
from ..errors import InvalidRequest, ReferenceScriptFailed
from ..fuzz.cases import CaseSpec, case_seed, materialize, spec_for_seed
from ..fuzz.config import FuzzConfig
from ..fuzz.failure import execution_error
from ..op_checks import predicted_pass
from ..oracle import judge
from ..fuzz.settings import FuzzConfigPayload
from ..validate import FailureReason, ValidationResult, fused
from .determinism import determinism_runs, op_options, run_op
from .executor import Executor
from .repro import repro_info
from .runs import Progress, Tally

Sink = Callable[[int, CaseSpec, ValidationResult], None]
"""Receives case ``index``'s spec and result as soon as it is judged (from a pool thread)."""


@dataclass(frozen=True, slots=True)
class Scripts:
    """Where an op's scripts run: an executor's workers, with the project root as cwd."""

    executor: Executor
    root: Path


def fuzz_config(op: OpConfig, payload: FuzzConfigPayload | None) -> FuzzConfig:
    """The op's fuzz config with a request's overrides."""
    return FuzzConfig.from_op(op).with_overrides(payload)


def reference_output(op: OpConfig, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The one output the op is checked against: the reference's only one, or the one it
    names ``output``; several others are an error that names them."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    if "output" in outputs:
        return outputs["output"]
    raise InvalidRequest(
        f"reference {op.reference} of op {op.name!r} returned outputs {sorted(outputs)}; a"
        " case compares one output: return a single array or name one 'output'"
    )


def run_reference(scripts: Scripts, op: OpConfig, inputs: dict[str, np.ndarray], kwargs: dict,
                  against: np.ndarray | None = None, tolerance_dtype: str | None = None,
                  oracle: np.dtype | None = None) -> np.ndarray:
    """The reference script's output for ``inputs``, run as they are, or with ``oracle``
    (a native dtype) on them promoted to float64 and cast back (gpuemu.promotion).
    ``against``: the output it will be judged against; a warm worker makes the check's
    fused pass beside the reference's output when it can (gpuemu.validate.fused)."""
    params = (None if against is None or shm.held(against) is None  # only a held output goes
              else predicted_pass(op, against, inputs, tolerance_dtype))
    run = scripts.executor.run_checked(
        op.reference, inputs, {**op.kwargs, **kwargs}, cwd=scripts.root, oracle=oracle,
        against=None if params is None else (against, params), **op_options(op))
    expected = reference_output(op, run.outputs)
    if run.compared is not None:
        fused.remember(expected, against, params, run.compared)
    return expected


def check_case(scripts: Scripts, op: OpConfig, actual: np.ndarray,
               inputs: dict[str, np.ndarray], kwargs: dict, seed: int, *, in_run: bool = False,
               tolerance_dtype: str | None = None) -> tuple[np.ndarray, ValidationResult]:
    """The expected output (from the op's oracle, gpuemu.oracle) and the verdict on ``actual``,
    validated as the op is configured (gpuemu.op_checks). ``in_run``: the case belongs to a
    fuzz run, whose health check weighs its impostors (else a VacuousCheck warning)."""
    def expected_of(given: dict[str, np.ndarray], native: np.dtype | None) -> np.ndarray:
        return run_reference(scripts, op, given, kwargs, actual, tolerance_dtype, native)

    return judge(op, actual, inputs, seed, lambda given: run_reference(scripts, op, given, kwargs),
                 vacuous="report" if in_run else "warn", tolerance_dtype=tolerance_dtype,
                 expected_of=expected_of)


def run_case(scripts: Scripts, op: OpConfig, spec: CaseSpec, *, seed: int | None = None,
             actual: np.ndarray | None = None, error: str | None = None,
             runs: int | None = None, health=None,
             inputs: dict[str, np.ndarray] | None = None) -> ValidationResult:
    """Run (or take) the op's output for ``spec``, check it against the reference.

    ``seed`` is the public seed the result is filed under (a minimized case keeps its
    spec's data seed but gets its own name). An exception in the op is an
    ExecutionError verdict, not an error of the request; one in the reference is.
    ``runs`` (default: the op's ``deterministic``) runs the op several times
    (determinism.run_op); ``health`` (a RunHealth, or anything with its ``observe``)
    collects the case for its run's health check.
    ``inputs``: what the op ran on, when a client sent them (else the spec's).
    """
    seed = spec.seed if seed is None else seed
    started = time.perf_counter()
    inputs = materialize(spec) if inputs is None else inputs
    extra: tuple[FailureReason, ...] = ()
    if actual is None and error is None:
        try:
            outcome = run_op(scripts.executor, op, inputs, dict(spec.kwargs),
                             runs=determinism_runs(op, runs), cwd=scripts.root)
            actual, extra = outcome.output, outcome.failures
        except ReferenceScriptFailed as exc:
            error = str(exc)
    expected = None
    if error is not None:
        result = execution_error(op.name, seed, error, spec)
    else:
        expected, result = check_case(scripts, op, actual, inputs, dict(spec.kwargs), seed,
                                      in_run=health is not None)
        result.failures += extra
        result.passed = not result.failures
    if health is not None:
        health.observe(spec, inputs, expected, result)
    result.duration_ms = (time.perf_counter() - started) * 1e3
    result.repro_info = repro_info(op.name, seed, inputs, dict(spec.kwargs), spec=spec)
    return result


def reference_failure(op: OpConfig, config: FuzzConfig, spec: CaseSpec,
                      exc: ReferenceScriptFailed) -> ValidationResult:
    """A fuzz case on which the reference itself failed: recorded, so the run goes on and the
    author sees the case (often an edge shape the reference does not handle)."""
    result = execution_error(
        op.name, spec.seed, f"the reference script failed on this case (shapes {spec.shapes},"
                            f" {spec.dtype}): {exc}. Fix the reference, or keep such cases"
                            f" out: {config.keep_out_hint()}", spec)
    result.repro_info = repro_info(op.name, spec.seed, materialize(spec), dict(spec.kwargs),
                                   spec=spec)
    return result


def fuzz_case(scripts: Scripts, op: OpConfig, config: FuzzConfig, seed: int, i: int,
              runs: int, health) -> tuple[CaseSpec, ValidationResult]:
    """Case ``i`` of root ``seed``, run and checked. ``health`` is a RunHealth, or anything
    with its ``observe`` and ``filtered`` (a cluster node's collector)."""
    spec = spec_for_seed(config, case_seed(seed, i), op.name)
    try:
        result = run_case(scripts, op, spec, runs=runs, health=health)
    except ReferenceScriptFailed as exc:  # one case the reference cannot do ends no run
        health.filtered(spec)
        result = reference_failure(op, config, spec, exc)
    result.case_index = i
    return spec, result


def fuzz_cases(scripts: Scripts, op: OpConfig, config: FuzzConfig, seed: int, indices: range,
               runs: int, health, tally: Tally, sink: Sink, *,
               progress: Progress | None = None,
               checkpoint: Callable[[], None] | None = None) -> Tally:
    """Cases ``indices`` of root ``seed`` over the executor's warm workers, a few per core in
    flight. Each judged case goes to ``sink`` and into ``tally``; ``checkpoint`` runs after
    each batch of completions and may raise to stop the run there (cases not started are
    dropped, those running finish and reach the sink)."""
    width = os.cpu_count() or 2

    def one(i: int) -> ValidationResult:
        spec, result = fuzz_case(scripts, op, config, seed, i, runs, health)
        sink(i, spec, result)
        return result

    todo = iter(indices)
    with ThreadPoolExecutor(max_workers=width) as pool:
        pending = {pool.submit(one, i): i for i in _take(todo, 2 * width)}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    tally.add(pending.pop(fut), fut.result())
                    if progress:
                        progress(tally.done, len(indices))
                if checkpoint is not None:
                    checkpoint()
                if not tally.stopped:
                    pending.update({pool.submit(one, i): i for i in _take(todo, len(finished))})
        finally:
            for fut in pending:
                fut.cancel()
    return tally


def _take(it: Iterator[int] | Iterable[int], n: int) -> list[int]:
    it = iter(it)
    return [i for _, i in zip(range(n), it)]
