"""What linting and diffing a kernel's artifacts produce (the replies carry them as they are)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..message import Response


class LintFinding(msgspec.Struct, omit_defaults=True):
    severity: str  # error | warning | info
    rule: str
    message: str
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    source: str | None = None  # "ptx" | "ptxas" | "sass"


class LintResult(Response):
    kernel_name: str
    passed: bool
    findings: list[LintFinding] = []
    metrics: dict[str, Any] = {}


class MetricChange(msgspec.Struct, omit_defaults=True):
    metric: str
    baseline: float | None
    current: float | None


class ArtifactDiff(Response):
    tag: str
    kernel_name: str
    passed: bool
    regressions: list[MetricChange] = []
    improvements: list[MetricChange] = []
    unchanged: list[MetricChange] = []
