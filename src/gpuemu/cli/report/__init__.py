"""What a command produced, and the three ways to present it (STYLE.md 6: produce and
present separately). Commands build a Report; ``text``, ``json`` and ``junit`` only read it."""

from __future__ import annotations

import msgspec

from ...protocol import (
    ArtifactDiff,
    BaselineComparisonResponse,
    CiSkipped,
    FuzzResults,
    LintResult,
    MinimizeResult,
)
from ...validate import ValidationResult

FORMATS = ("text", "json", "junit")


class Report(msgspec.Struct, omit_defaults=True):
    """Everything one command run found. ``results`` are single cases (a validation, a
    reproduction, the failures of a fuzz); ``ops`` the fuzz runs with their counts."""

    command: str
    passed: bool
    results: list[ValidationResult] = []
    ops: list[FuzzResults] = []
    skipped: list[CiSkipped] = []
    lint: list[LintResult] = []
    baseline: BaselineComparisonResponse | None = None
    artifact_diffs: list[ArtifactDiff] = []
    minimize: MinimizeResult | None = None
    notes: list[str] = []


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    """The report in ``fmt`` (one of FORMATS)."""
    if fmt == "json":
        from .json_report import render_json
        return render_json(report)
    if fmt == "junit":
        from .junit import render_junit
        return render_junit(report)
    from .text import render_text
    return render_text(report, color=color)
