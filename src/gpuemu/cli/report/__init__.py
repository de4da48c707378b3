"""What a command produced, and the ways to present it (STYLE.md 6: produce and present
separately). Commands build a Report; the reporters (one module per format) only read it."""

from __future__ import annotations

import msgspec

from ...protocol import (
    ArtifactDiff,
    BaselineComparisonResponse,
    CiSkipped,
    FuzzResults,
    LintResult,
    MinimizeResult,
    OpCoverage,
)
from ...validate import ValidationResult


class TrendPoint(msgspec.Struct, omit_defaults=True, frozen=True):
    """One stored result of an op, for the max-diff trend across runs."""

    timestamp: float
    passed: bool
    seed: int
    max_diff: float | None = None


class Report(msgspec.Struct, omit_defaults=True):
    """Everything one command run found. ``results`` are single cases (a validation, a
    reproduction, the failures of a fuzz); ``ops`` the fuzz runs with their counts;
    ``config_path`` the gpuemu.toml the run used (SARIF locates its results there) and
    ``project`` its ``[project]`` name and version (report titles say it);
    ``history`` each op's stored results, oldest first (``gpuemu report`` fills it);
    ``coverage`` what the stored results cover (``gpuemu coverage``)."""

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
    config_path: str | None = None
    project: str = ""
    history: dict[str, list[TrendPoint]] = {}
    coverage: list[OpCoverage] = []


def title(report: Report) -> str:
    """``gpuemu COMMAND``, and the project it ran on when [project] names it."""
    return f"gpuemu {report.command}" + (f" ({report.project})" if report.project else "")


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    """The report in ``fmt`` (one of gpuemu.cli.common.FORMATS)."""
    if fmt == "json":
        from .json_report import render_json
        return render_json(report)
    if fmt == "junit":
        from .junit import render_junit
        return render_junit(report)
    if fmt == "sarif":
        from .sarif import render_sarif
        return render_sarif(report)
    if fmt == "pr-comment":
        from .markdown import render_markdown
        return render_markdown(report)
    if fmt == "codecov":  # gpuemu coverage only
        from .codecov import render_codecov
        return render_codecov(report)
    if fmt == "html":
        from .html_report import render_html
        return render_html(report)
    from .text import render_text
    return render_text(report, color=color)
