"""What a cluster task runs on a node: cases of one fuzz run, with the engine's own runner.

Nothing here imports Ray: Ray calls ``run_cases`` in one of its worker processes. Each
worker process keeps one DaemonState per project (no storage: the daemon stores), so
the reference and op scripts stay warm from one task to the next.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ..engine.executor import Executor
from ..engine.health import Observation, observation
from ..engine.runner import fuzz_case, fuzz_config
from ..daemon.state import ConfigSource, DaemonState
from ..fuzz.cases import CaseSpec
from ..protocol import FuzzConfigPayload
from ..validate import ValidationResult


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case as a node answers it: enough for the daemon to store it and weigh its health."""

    index: int
    spec: CaseSpec
    result: ValidationResult
    seen: Observation | None
    """None: the reference failed on the case (the run's health counts it as filtered)."""


class _Seen:
    """Stands in for the run's RunHealth on a node: keeps the case's observation to send back."""

    seen: Observation | None = None

    def observe(self, spec: CaseSpec, inputs, expected, result: ValidationResult) -> None:
        self.seen = observation(spec, inputs, expected)

    def filtered(self, spec: CaseSpec) -> None:
        self.seen = None


_states: dict[Path, DaemonState] = {}
_lock = threading.Lock()


def node_state(config_path: Path) -> DaemonState:
    """This worker process's state for the project at ``config_path`` (made once)."""
    with _lock:
        if config_path not in _states:
            _states[config_path] = DaemonState(config=ConfigSource(config_path), storage=None,
                                               executor=Executor())
        return _states[config_path]


def run_cases(config_path: str, op_name: str, payload: FuzzConfigPayload | None, seed: int,
              indices: list[int], runs: int) -> list[CaseOutcome]:
    """Cases ``indices`` of root ``seed`` for ``op_name``, as the daemon would run them.

    ``config_path`` is the project's gpuemu.toml as this node sees it: the daemon's own
    path on a shared file system, or a relative one inside the uploaded working_dir.
    """
    state = node_state(Path(config_path).resolve())
    op = state.config.get().op(op_name)
    config = fuzz_config(op, payload)
    outcomes = []
    for i in indices:
        seen = _Seen()
        spec, result = fuzz_case(state.scripts(), op, config, seed, i, runs, seen)
        outcomes.append(CaseOutcome(index=i, spec=spec, result=result, seen=seen.seen))
    return outcomes
