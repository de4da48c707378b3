"""RunCi and GetCiSummary: every check of the project in one request, recorded as a ci_runs row.

A CI run fuzzes every script-based op (``[ci] iterations``, or ``quick_iterations`` and
``quick_dtypes`` with ``quick``), lints every ``[[kernels]]`` entry, and, given a baseline
tag, compares results and artifacts against it. Ops run in parallel (``parallel_jobs``);
each op's cases are themselves spread over the warm workers. Client-side ops cannot be
run by the daemon: they are reported as skipped, with the reason.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec

from ..config import OpConfig
from ..errors import BaselineNotFound, GpuemuError
from ..protocol import (
    CiRunComplete,
    CiSummary,
    CiSummaryStats,
    CompareBaseline,
    FuzzConfigPayload,
    FuzzResults,
    GetCiSummary,
    LintFinding,
    LintKernel,
    LintResult,
    RunCi,
)
from ..engine.modes import skipped_ops
from ..rng import generate_seed
from .artifact_handlers import diff_one, lint_kernel
from .fuzzing import run_fuzz
from .handlers import MAX_JOBS, bounded, compare_baseline_handler
from .state import DaemonState


def _fuzz(state: DaemonState, op: OpConfig, quick: bool, cluster: str | None) -> FuzzResults:
    ci = state.config.get().ci
    payload = None
    if quick:  # the quick dtypes the op supports; all of its own if it supports none of them
        dtypes = [d for d in ci.quick_dtypes if not op.dtypes or d in op.dtypes]
        payload = FuzzConfigPayload(dtypes=[d.value for d in dtypes]) if dtypes else None
    seed = op.fuzz.seed if op.fuzz.seed is not None else generate_seed()
    iterations = ci.quick_iterations if quick else ci.iterations
    with state.job(op.name, iterations) as progress:
        return run_fuzz(state, op, payload, iterations, seed, progress=progress, cluster=cluster)


def _lint(state: DaemonState, kernel_name: str) -> LintResult:
    try:
        return lint_kernel(LintKernel(kernel_name=kernel_name), state).lint[0]
    except GpuemuError as exc:  # one kernel that cannot be measured does not end the run
        return LintResult(kernel_name=kernel_name, passed=False, findings=[LintFinding(
            severity="error", rule="lint_failed", message=f"{type(exc).__name__}: {exc}")])


def run_ci(req: RunCi, state: DaemonState) -> CiRunComplete:
    config = state.config.get()
    started = time.time()
    if req.baseline is not None:
        state.storage.get_baseline(req.baseline)  # BaselineNotFound before any work
    runnable = [op for op in config.ops.values() if op.runs_in_daemon]
    skipped = skipped_ops(config.ops.values())
    if req.jobs is not None:
        bounded(req.jobs, "parallel_jobs" if req.parallel_jobs is not None else "parallel",
                MAX_JOBS, low=1)
    jobs = req.jobs or config.ci.parallel_jobs or (os.cpu_count() or 2)
    work = len(runnable) + len(config.kernels)
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, work))) as pool:
        fuzzed = list(pool.map(lambda op: _fuzz(state, op, req.quick, req.cluster), runnable))
        linted = list(pool.map(lambda name: _lint(state, name), config.kernels))
    baseline, diffs = None, []
    if req.baseline is not None:
        baseline = compare_baseline_handler(
            CompareBaseline(tag=req.baseline, fail_on_regression=True), state)
        for name in config.kernels:
            try:
                diffs.append(diff_one(state, req.baseline, name, fail=True))
            except BaselineNotFound:  # a kernel added since the baseline: nothing to compare
                pass
    cases = sum(f.iterations for f in fuzzed)
    failed = sum(f.failed for f in fuzzed)
    # A vacuous run is a health warning, not a failure: a right op cannot fix it.
    passed = (all(f.failed == 0 for f in fuzzed) and all(r.passed for r in linted)
              and (baseline is None or baseline.passed) and all(d.passed for d in diffs))
    run = CiRunComplete(
        run_id=0, passed=passed,
        summary=CiSummaryStats(total=cases, passed=cases - failed, failed=failed,
                               skipped=len(skipped)),
        results=[r for f in fuzzed for r in f.failures], duration_ms=(time.time() - started) * 1e3,
        ops=fuzzed, skipped=skipped, lint=linted, baseline=baseline, artifact_diffs=diffs)
    run.run_id = state.storage.add_ci_run(started, time.time(), passed, msgspec.to_builtins(run))
    return run


def get_ci_summary(req: GetCiSummary, state: DaemonState) -> CiSummary:
    latest = state.storage.latest_ci_run()
    if latest is None:
        return CiSummary(run=None)
    run = msgspec.convert(latest["summary"], CiRunComplete)
    run.run_id = latest["id"]
    return CiSummary(run=run)
