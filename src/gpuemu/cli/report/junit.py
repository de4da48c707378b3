"""JUnit XML: one <testsuite> per op (and one for kernel lint), one <testcase> per failing
case plus one for the op's passing cases, so CI dashboards count what ran."""

from __future__ import annotations

import socket
import time
from xml.etree import ElementTree as ET

from ...validate import ValidationResult
from . import Report, title


def _case(suite: ET.Element, name: str, classname: str, seconds: float,
          failure: tuple[str, str] | None = None, skipped: str | None = None,
          warning: str | None = None) -> None:
    case = ET.SubElement(suite, "testcase", name=name, classname=classname, time=f"{seconds:.3f}")
    if failure:
        ET.SubElement(case, "failure", message=failure[0], type=failure[0].split(":")[0]).text = failure[1]
    if skipped:
        ET.SubElement(case, "skipped", message=skipped)
    if warning:  # JUnit has no warning element: a passing case says it on its output
        ET.SubElement(case, "system-out").text = warning


def _describe(r: ValidationResult) -> tuple[str, str]:
    kinds = ", ".join(r.failure_kinds)
    lines = [f"{f.kind}: {f.message}" for f in r.failures]
    if r.repro_info is not None:
        lines.append(f"reproduce: {r.repro_info.command}")
    return kinds, "\n".join(lines)


def _suite(root: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, hostname=socket.gethostname(),
                         timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _case_name(r: ValidationResult) -> str:
    dtype = r.dtype or (next(iter(r.repro_info.input_dtypes.values()), "") if r.repro_info else "")
    return f"{r.op_name}[seed={r.seed},{dtype}]"


def render_junit(report: Report) -> str:
    root = ET.Element("testsuites", name=title(report))
    loose = [r for r in report.results if r.op_name not in {o.op_name for o in report.ops}]
    for op in report.ops:
        suite = _suite(root, op.op_name)
        for r in op.failures:
            _case(suite, _case_name(r), f"gpuemu.{op.op_name}", r.duration_ms / 1e3, _describe(r))
        if op.passed:
            _case(suite, f"{op.op_name}[{op.passed} passing cases, seed={op.seed}]",
                  f"gpuemu.{op.op_name}", op.duration_ms / 1e3)
        if op.vacuous:
            _case(suite, f"{op.op_name}[fuzz health]", f"gpuemu.{op.op_name}", 0.0,
                  warning="warning: VacuousFuzz: the run could not have failed a wrong op\n"
                          + "\n".join(h.message for h in op.health))
    for s in report.skipped:
        _case(_suite(root, s.op_name), s.op_name, f"gpuemu.{s.op_name}", 0.0, skipped=s.reason)
    by_op: dict[str, list[ValidationResult]] = {}
    for r in loose:
        by_op.setdefault(r.op_name, []).append(r)
    for name, results in by_op.items():
        suite = _suite(root, name)
        for r in results:
            _case(suite, _case_name(r), f"gpuemu.{name}", r.duration_ms / 1e3,
                  None if r.passed else _describe(r))
    if report.lint:
        suite = _suite(root, "lint")
        for lint in report.lint:
            errors = [f for f in lint.findings if f.severity == "error"]
            failure = (f"lint: {len(errors)} error(s)", "\n".join(f.message for f in errors))
            _case(suite, lint.kernel_name, "gpuemu.lint", 0.0, None if lint.passed else failure)
    if report.baseline is not None:
        suite = _suite(root, f"baseline {report.baseline.tag}")
        for e in report.baseline.regressions:
            _case(suite, e.op_name, "gpuemu.baseline", 0.0, ("regression", e.reason))
        for e in report.baseline.improvements + report.baseline.unchanged:
            _case(suite, e.op_name, "gpuemu.baseline", 0.0)
    for diff in report.artifact_diffs:
        suite = _suite(root, f"artifact baseline {diff.tag}")
        failure = ("regression", "\n".join(f"{c.metric}: {c.baseline} -> {c.current}"
                                           for c in diff.regressions))
        _case(suite, diff.kernel_name, "gpuemu.artifacts", 0.0, failure if diff.regressions else None)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", "0")
        suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
        suite.set("time", f"{sum(float(c.get('time')) for c in cases):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
