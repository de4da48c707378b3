"""What every fuzz loop shares: the fail-fast rule, the tally, the FuzzResults built from
it, and the run's verdict.

The daemon's parallel loop (engine.runner), the client-side loop
(``Client.fuzz_op_client_side``), ``SeededFuzzer.run`` and the pytest plugin all count
their cases with a ``Tally``, so a run stops, counts and reads the same wherever it ran.
No scripts run here: the client imports this without the executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from ..coverage import FuzzCoverage
from .fuzz_results import FuzzResults, HealthIssue
from ..validate import ValidationResult

C = TypeVar("C")
Progress = Callable[[int, int], None]
Verdict = tuple[FuzzCoverage | None, list[HealthIssue], bool]
"""A run's health check: coverage, issues, and whether they make it vacuous."""


class RunVerdict(StrEnum):
    """What a fuzz run says about its op; "vacuous": no case failed, but the run could not
    have failed a wrong op either (a health error), so its pass means nothing."""

    passed = "pass"
    failed = "fail"
    vacuous = "vacuous"


def run_verdict(run: FuzzResults) -> RunVerdict:
    """The verdict of ``run``: a failed case wins over vacuity."""
    if run.failed:
        return RunVerdict.failed
    return RunVerdict.vacuous if run.vacuous else RunVerdict.passed


@dataclass
class Tally:
    """The cases of one run as they are judged: how many, and the failures by case index."""

    fail_fast: bool = False
    done: int = 0
    failures: dict[int, ValidationResult] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, index: int, result: ValidationResult | None) -> None:
        """Case ``index`` was judged: ``result`` (None or a passing one: it passed)."""
        self.done += 1
        if result is not None and not result.passed:
            if result.case_index is None:
                result.case_index = index
            self.failures[index] = result

    @property
    def stopped(self) -> bool:
        """The one fail-fast rule: a fail_fast run takes no new case once one failed (cases
        already running finish and count)."""
        return self.fail_fast and bool(self.failures)

    def results(self, op_name: str, seed: int, verdict: Verdict | None = None) -> FuzzResults:
        """The run as FuzzResults: failures in case order, and its health (``verdict``)."""
        failures = [self.failures[i] for i in sorted(self.failures)]
        run = FuzzResults(op_name=op_name, seed=seed, iterations=self.done,
                          passed=self.done - len(failures), failed=len(failures),
                          failures=failures,
                          duration_ms=(time.perf_counter() - self.started) * 1e3)
        if verdict is not None:
            run.coverage, run.health, run.vacuous = verdict
        return run


def run_each(cases: Iterable[C], judge: Callable[[C], ValidationResult | None], tally: Tally,
             total: int | None = None, progress: Progress | None = None) -> Tally:
    """Judge ``cases`` one after another (lazily: a stopped run draws no more of them)."""
    for index, case in enumerate(cases, start=tally.done):
        tally.add(index, judge(case))
        if progress is not None:
            progress(tally.done, tally.done if total is None else total)
        if tally.stopped:
            break
    return tally
