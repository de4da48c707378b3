"""Run an op and its reference here, without a daemon, as script-based mode does.

For what must work with no daemon and no database: the regression tests that
``gpuemu minimize --write-test`` writes, portable reproducers replayed on another machine,
and ``gpuemu debug`` recomputing a case's outputs. The scripts run in warm worker
subprocesses (so ``run()``-only scripts work too), the verdict is the daemon's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import OpConfig
from .errors import ConfigError, ReferenceScriptFailed
from .validate import FailureKind, FailureReason, ValidationResult


@dataclass(frozen=True, slots=True)
class LocalRun:
    """The verdict, and the outputs it was drawn from (``actual`` None: the op raised)."""

    result: ValidationResult
    actual: np.ndarray | None
    expected: np.ndarray | None


def run_here(op: OpConfig, root: Path, inputs: dict[str, np.ndarray], kwargs: dict, seed: int,
             *, actual: np.ndarray | None = None, where: str = "") -> LocalRun:
    """Check ``op`` on ``inputs``: run its op script (unless ``actual``, an output computed
    elsewhere, is given) and its reference, with scripts resolved against ``root``. An
    exception in the op is an ExecutionError verdict; one in the reference is raised.
    ``where`` names what asked (a file) in the error for an op that cannot run here."""
    from .engine.executor import Executor, op_options, single_output
    from .oracle import judge

    if actual is None and op.op_script is None:
        raise ConfigError(f"op {op.name!r} has no op_script, so {where or 'gpuemu'} cannot run it"
                          " here; add `op_script = \"...\"` to its [[ops]] entry in gpuemu.toml")
    with Executor(max_workers_per_script=1) as executor:
        def output(script: Path, kw: dict, given: dict[str, np.ndarray] = inputs) -> np.ndarray:
            return single_output(executor.run_script(script, given, kw, **op_options(op),
                                                     cwd=root))

        if actual is None:
            try:
                actual = output(op.op_script, kwargs)
            except ReferenceScriptFailed as exc:
                failed = ValidationResult(passed=False, op_name=op.name, seed=seed, failures=[
                    FailureReason(kind=FailureKind.ExecutionError, message=str(exc))])
                return LocalRun(failed, None, None)
        expected, result = judge(op, actual, inputs, seed,
                                 lambda given: output(op.reference, {**op.kwargs, **kwargs}, given))
    return LocalRun(result, actual, expected)
