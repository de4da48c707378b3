"""The replies of protocol version 1, with the names they had before seed 000's.

Replies are lenient: a client ignores fields it does not know (gpuemu.message.Response).
The results that the domain produces travel as they are (FuzzResults, LintResult,
ArtifactDiff, ValidationResult, Reproducer); the lint and artifact replies are in
artifact_replies.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..artifacts.results import ArtifactDiff, LintResult
from ..coverage import FuzzCoverage, OpCoverage
from ..engine.fuzz_results import FuzzResults, HealthIssue
from ..engine.modes import CiSkipped
from ..message import Response
from ..reproducer import Reproducer
from ..tensor import TensorData
from ..validate.result import ValidationResult


class Error(Response):
    code: str
    message: str
    field: str | None = None


class JobProgress(msgspec.Struct, omit_defaults=True):
    """A long request in flight (a fuzz run, a CI run's op): ``done`` of ``total`` cases."""

    op_name: str
    done: int
    total: int


class WorkerFigures(msgspec.Struct, omit_defaults=True):
    """The daemon's warm workers and fork servers: how many live and idle, their resident
    memory together, the caps they are held under, and how many were stopped (idle past
    the timeout, to make room under max_workers, to get under the memory cap)."""

    live: int
    idle: int
    rss_bytes: int
    max_workers: int
    max_memory_bytes: int
    idle_timeout_s: float
    reaped_idle: int = 0
    reaped_cap: int = 0
    reaped_memory: int = 0


class Pong(Response):
    """``jobs``: the long requests in flight, so a client waiting on one can draw progress
    by pinging on a second connection (REQ/REP has no way to stream it). ``config_path``:
    the gpuemu.toml the daemon serves, so a client of another project can tell."""

    version: str
    protocol_version: int
    uptime_secs: float
    jobs: list[JobProgress] = []
    config_path: str | None = None
    workers: WorkerFigures | None = None


class ShutdownAck(Response):
    """Shutdown's reply before seed 000's ``Ok``; still decoded."""


class Ok(Response):
    """Seed 000's generic acknowledgment (Shutdown, StoreBaseline, StoreArtifact,
    StoreArtifactBaseline). The optional fields (ours) say what was stored."""

    tag: str | None = None
    ops: int | None = None
    kernel_name: str | None = None
    artifact_id: int | None = None
    kernels: dict[str, int] = {}
    """StoreArtifactBaseline of every kernel: kernel name -> the artifact id stored."""


class ValidationResultResponse(Response, tag="ValidationResult"):
    result: ValidationResult


class ResultList(Response):
    """ListResults' reply before seed 000's ``Results``; still decoded. ``next_offset`` (ours):
    the offset of the next page when more rows were asked for (or exist beyond MAX_PAGE)
    than this reply holds; None at the end."""

    results: list[ValidationResult]
    next_offset: int | None = None


class SubmitResult(Response):
    """SubmitOutput's reply (seed 000)."""

    result: ValidationResult


class BaselineStored(Response):
    tag: str
    ops: int


class BaselineEntry(msgspec.Struct, omit_defaults=True):
    op_name: str
    reason: str = ""
    baseline: ValidationResult | None = None
    current: ValidationResult | None = None


class BaselineComparisonResponse(Response, tag="BaselineComparison"):
    tag: str
    passed: bool
    regressions: list[BaselineEntry] = []
    improvements: list[BaselineEntry] = []
    unchanged: list[BaselineEntry] = []
    missing: list[BaselineEntry] = []
    new: list[BaselineEntry] = []


class CoverageReport(Response, tag="Coverage"):
    ops: list[OpCoverage] = []


class FuzzHealth(Response):
    """What FinishFuzzRun reports: the run's coverage, its health issues, and whether they
    make it vacuous (an error-severity issue: the run fails)."""

    op_name: str
    run: int
    coverage: FuzzCoverage
    health: list[HealthIssue] = []
    vacuous: bool = False


class ReproduceResult(Response):
    """``inputs`` (seed 000) are the case's inputs, as plain tensors."""

    seed: int
    op_name: str
    still_fails: bool
    result: ValidationResult
    reproducer: Reproducer | None = None
    inputs: dict[str, TensorData] = {}


class MinimizeResult(Response):
    """What Client.minimize returns and reports show: ``original_shape``/``minimized_shape``
    map each input to its shape. ``minimized_case`` is the shrunk case spec;
    Reproduce(minimized_seed) regenerates it. On the wire it travels as MinimizeReply."""

    original_seed: int
    minimized_seed: int
    original_shape: dict[str, list[int]]
    minimized_shape: dict[str, list[int]]
    strategy: str
    steps: list[str]
    calls: int
    result: ValidationResult
    minimized_case: dict[str, Any] = {}
    outside_schema: list[str] = []  # dims of the minimized case not among the schema's candidates


class MinimizeReply(Response, tag="MinimizeResult"):
    """Minimize's reply. ``minimized_shape`` is the case's shape as seed 002 has it (a tuple:
    the first input's); ``original_shapes``/``minimized_shapes`` (ours) give every input's."""

    original_seed: int
    minimized_seed: int
    minimized_shape: list[int]
    result: ValidationResult
    original_shape: list[int] = []
    original_shapes: dict[str, list[int]] = {}
    minimized_shapes: dict[str, list[int]] = {}
    strategy: str = ""
    steps: list[str] = []
    calls: int = 0
    minimized_case: dict[str, Any] = {}
    outside_schema: list[str] = []

    @classmethod
    def of(cls, m: MinimizeResult) -> MinimizeReply:
        return cls(original_seed=m.original_seed, minimized_seed=m.minimized_seed,
                   minimized_shape=first_shape(m.minimized_shape), result=m.result,
                   original_shape=first_shape(m.original_shape),
                   original_shapes=m.original_shape, minimized_shapes=m.minimized_shape,
                   strategy=m.strategy, steps=m.steps, calls=m.calls,
                   minimized_case=m.minimized_case, outside_schema=m.outside_schema)

    def as_result(self) -> MinimizeResult:
        return MinimizeResult(
            original_seed=self.original_seed, minimized_seed=self.minimized_seed,
            original_shape=self.original_shapes, minimized_shape=self.minimized_shapes,
            strategy=self.strategy, steps=self.steps, calls=self.calls, result=self.result,
            minimized_case=self.minimized_case, outside_schema=self.outside_schema)


def first_shape(shapes: dict[str, list[int]]) -> list[int]:
    """The shape of a case as one tuple (seed 002): its first input's."""
    return list(next(iter(shapes.values()), []))


class FailureSummary(msgspec.Struct, omit_defaults=True):
    op_name: str
    seed: int
    kinds: list[str]
    timestamp: float
    result: ValidationResult | None = None


class FailureList(Response):
    """ListFailures' reply before seed 000's ``Results``; still decoded. ``next_offset``: as
    in ResultList."""

    failures: list[FailureSummary]
    next_offset: int | None = None


class Results(Response):
    """ListResults' and ListFailures' reply (seed 000): ``results`` are ValidationResults;
    for ListFailures ``failures`` (ours) also summarises each one. ``next_offset`` (ours):
    the offset of the next page (paging: MAX_PAGE rows a reply); None at the end."""

    results: list[ValidationResult]
    failures: list[FailureSummary] | None = None
    next_offset: int | None = None


class CiSummaryStats(msgspec.Struct, omit_defaults=True):
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0


class CiRunComplete(Response):
    """``results`` are the failing cases of every op; ``ops`` the per-op fuzz runs (counts,
    coverage, health); ``lint`` one result per ``[[kernels]]`` entry; ``baseline`` and
    ``artifact_diffs`` are there when the run compared against a baseline tag."""

    run_id: int
    passed: bool
    summary: CiSummaryStats
    results: list[ValidationResult] = []
    duration_ms: float = 0.0
    ops: list[FuzzResults] = []
    skipped: list[CiSkipped] = []
    lint: list[LintResult] = []
    baseline: BaselineComparisonResponse | None = None
    artifact_diffs: list[ArtifactDiff] = []


class CiSummary(Response):
    run: CiRunComplete | None = None


class TestCase(Response):
    """``shape`` (seed 002) is the case's shape, its first input's; ``metadata`` (seed 000)
    repeats what describes the case: op_name, dtype, layout, distribution, shapes, kwargs."""

    op_name: str
    seed: int
    inputs: dict[str, TensorData]
    kwargs: dict[str, Any] = {}
    dtype: str = ""
    layout: str = ""
    distribution: str = ""
    shape: list[int] = []
    metadata: dict[str, Any] = {}


class TestBatch(Response):
    """``cases`` (seed 002); the envelope form also carries them as ``test_cases`` (seed 000)."""

    cases: list[TestCase]
    test_cases: list[TestCase] | None = None
