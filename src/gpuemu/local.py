"""Run an op and its reference here, without a daemon, as script-based mode does.

For what must work with no daemon and no database: the regression tests that
``gpuemu minimize --write-test`` writes, portable reproducers replayed on another machine,
and ``gpuemu debug`` recomputing a case's outputs. The scripts run in warm worker
subprocesses (so ``run()``-only scripts work too), the verdict is the daemon's: both
go through the engine (gpuemu.engine.runner), and nothing here imports the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import OpConfig
from .errors import ConfigError, ReferenceScriptFailed
from .validate import ValidationResult


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
    exception in the op is an ExecutionError verdict; one in the reference is raised. The
    case is judged as the daemon judges a lone case (engine.runner.check_case).
    ``where`` names what asked (a file) in the error for an op that cannot run here."""
    from .engine.determinism import run_op
    from .engine.executor import Executor
    from .engine.runner import Scripts, check_case
    from .fuzz.failure import execution_error

    if actual is None and op.op_script is None:
        raise ConfigError(f"op {op.name!r} has no op_script, so {where or 'gpuemu'} cannot run it"
                          " here; add `op_script = \"...\"` to its [[ops]] entry in gpuemu.toml")
    with Executor(max_workers_per_script=1) as executor:
        if actual is None:
            try:
                actual = run_op(executor, op, inputs, kwargs, cwd=root).output
            except ReferenceScriptFailed as exc:
                return LocalRun(execution_error(op.name, seed, str(exc)), None, None)
        expected, result = check_case(Scripts(executor, root), op, actual, inputs, kwargs, seed)
    return LocalRun(result, actual, expected)
