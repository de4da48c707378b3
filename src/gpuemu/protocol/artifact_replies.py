"""The replies of the artifact requests: LintKernel, StoreArtifact, GetArtifact,
ListArtifacts, StoreArtifactBaseline and DiffArtifactBaseline."""

from __future__ import annotations

from typing import Any

import msgspec

from ..artifacts.results import ArtifactDiff, LintFinding, LintResult
from ..message import Response


class LintEntry(msgspec.Struct):
    """One kernel's lint as seed 002 reads it; ``metrics`` by the original's names."""

    kernel_name: str
    passed: bool
    metrics: dict[str, Any]
    violations: list[str]
    timestamp: float


class LintResults(Response):
    """LintKernel's reply (seeds 000 and 002): ``results`` one LintEntry per kernel, the
    findings' messages by severity in ``errors``/``warnings``/``info``; ``lint`` (ours)
    the full LintResult of each kernel. For one kernel its LintResult's fields are also
    at the top level."""

    results: list[LintEntry] = []
    errors: list[str] = []
    warnings: list[str] = []
    info: list[str] = []
    lint: list[LintResult] = []
    passed: bool = True
    kernel_name: str | None = None
    findings: list[LintFinding] = []
    metrics: dict[str, Any] = {}


class ArtifactStored(Response):
    kernel_name: str
    artifact_id: int


class Artifact(Response):
    kernel_name: str
    artifact_id: int
    timestamp: float
    metrics: dict[str, Any] = {}
    ptx_content: str | None = None


class ArtifactMetricsResult(Response):
    """GetArtifact's reply (seed 000): the seed's metric names (``registers``, ``spills``,
    ...) at the top level, beside ours: ``metrics`` as measured, per source."""

    kernel_name: str
    artifact_id: int
    timestamp: float
    registers: int | None = None
    spills: int | None = None
    shared_memory_bytes: int | None = None
    local_memory_bytes: int | None = None
    instruction_count: int | None = None
    metrics: dict[str, Any] = {}
    ptx_content: str | None = None


class ArtifactSummary(msgspec.Struct, omit_defaults=True):
    """One stored artifact; ``registers``/``spills`` as in ArtifactMetricsResult."""

    kernel_name: str
    artifact_id: int
    timestamp: float
    registers: int | None = None
    spills: int | None = None


class ArtifactList(Response):
    """``next_offset``: as in ResultList."""

    artifacts: list[ArtifactSummary]
    next_offset: int | None = None


class ArtifactBaselineStored(Response):
    tag: str
    kernel_name: str
    artifact_id: int


class ArtifactDiffs(Response):
    """DiffArtifactBaseline's reply (seed 000): one ArtifactDiff per kernel compared."""

    tag: str
    passed: bool
    diffs: list[ArtifactDiff] = []
