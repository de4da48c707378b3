"""SARIF 2.1.0: the format code-review tools (GitHub code scanning, VS Code's SARIF viewer)
annotate pull requests with. One run, tool "gpuemu", one rule per failure kind, one result
per failing case, lint finding or regression, located at its entry in gpuemu.toml."""

from __future__ import annotations

import json

from ... import __version__
from ...validate import FailureKind, ValidationResult
from . import Report
from .locate import config_uri, locate_kernel, locate_op

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "gpuemu/v1"
"""partialFingerprints key: the same op, kind and seed is the same alert across runs."""

RULES = {
    FailureKind.ShapeMismatch: "The op's output shape differs from the reference's.",
    FailureKind.DtypeMismatch: "The op's output dtype differs from the reference's.",
    FailureKind.ToleranceExceeded: "Outputs differ from the reference beyond atol/rtol (or ULPs).",
    FailureKind.NaNDetected: "The op produced NaN where the reference did not.",
    FailureKind.InfDetected: "The op produced Inf where the reference did not.",
    FailureKind.InvariantViolation: "An invariant of the op's output does not hold.",
    FailureKind.ExecutionError: "The op raised or crashed.",
    FailureKind.VacuousCheck: "An impostor output (zeros, a constant, NaN, an input) would pass too.",
    FailureKind.NonDeterministic: "Runs on the same inputs gave bitwise different outputs.",
    FailureKind.InputMutated: "The op wrote into one of its inputs.",
}
"""Descriptions of the validation rules; lint, health and baseline rules are described by
their findings."""

LEVELS = {"error": "error", "warning": "warning"}
"""Lint severity -> SARIF level; info findings are not reported."""


class _Run:
    """Collects rules (in order of first use) and results for one SARIF run."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self.rules: dict[str, dict] = {}
        self.results: list[dict] = []

    def add(self, rule: str, description: str, level: str, text: str, line: int | None,
            fingerprint: str, properties: dict) -> None:
        if rule not in self.rules:
            self.rules[rule] = {"id": rule, "name": rule.split("/")[-1],
                                "shortDescription": {"text": description}}
        result = {"ruleId": rule, "ruleIndex": list(self.rules).index(rule), "level": level,
                  "message": {"text": text},
                  "partialFingerprints": {FINGERPRINT: fingerprint}, "properties": properties}
        if self.config_path is not None:
            location: dict = {"artifactLocation": {"uri": config_uri(self.config_path)}}
            if line is not None:
                location["region"] = {"startLine": line}
            result["locations"] = [{"physicalLocation": location}]
        self.results.append(result)

    def case(self, r: ValidationResult) -> None:
        kind = r.failures[0].kind if r.failures else FailureKind.ExecutionError
        lines = [f"{r.op_name} seed {r.seed}" + (f" ({r.dtype})" if r.dtype else "") + ":"]
        lines += [f"{f.kind}: {f.message}" for f in r.failures]
        if r.repro_info is not None and r.repro_info.command:
            lines.append(f"reproduce: {r.repro_info.command}")
        props = {"op": r.op_name, "seed": r.seed, "failureKinds": r.failure_kinds}
        if r.case_index is not None:
            props["caseIndex"] = r.case_index
        if r.repro_info is not None and r.repro_info.command:
            props["reproduce"] = r.repro_info.command
        self.add(f"validation/{kind}", RULES.get(kind, f"Validation failure {kind}."), "error",
                 "\n".join(lines), locate_op(self.config_path, r.op_name),
                 f"{r.op_name}:{kind}:{r.seed}", props)


def render_sarif(report: Report) -> str:
    run = _Run(report.config_path)
    in_ops = {o.op_name for o in report.ops}
    for op in report.ops:
        for r in op.failures:
            run.case(r)
        for h in op.health:
            if h.severity == "error":
                # a warning: a right op cannot fix a run that cannot tell it from a wrong one
                run.add(f"health/{h.kind}", "The fuzz run could not have failed a wrong op.",
                        "warning", f"{op.op_name}: {h.message}", locate_op(report.config_path, op.op_name),
                        f"{op.op_name}:{h.kind}", {"op": op.op_name, "seed": op.seed})
    for r in report.results:
        if not r.passed and r.op_name not in in_ops:
            run.case(r)
    for lint in report.lint:
        for f in lint.findings:
            if f.severity in LEVELS:
                run.add(f"lint/{f.rule}", f"Kernel lint rule {f.rule}.", LEVELS[f.severity],
                        f"{lint.kernel_name}: {f.message}",
                        locate_kernel(report.config_path, lint.kernel_name),
                        f"{lint.kernel_name}:{f.rule}", {"kernel": lint.kernel_name})
    for diff in report.artifact_diffs:
        for c in diff.regressions:
            run.add("lint/Regression", "A kernel metric grew since the baseline.", "error",
                    f"{diff.kernel_name}: {c.metric} {c.baseline} -> {c.current} (baseline {diff.tag})",
                    locate_kernel(report.config_path, diff.kernel_name),
                    f"{diff.kernel_name}:{c.metric}", {"kernel": diff.kernel_name})
    if report.baseline is not None:
        for e in report.baseline.regressions:
            run.add("baseline/Regression", "An op got worse than at the baseline.", "error",
                    f"{e.op_name}: {e.reason} (baseline {report.baseline.tag})",
                    locate_op(report.config_path, e.op_name), f"{e.op_name}:baseline",
                    {"op": e.op_name})
    driver = {"name": "gpuemu", "version": __version__, "rules": list(run.rules.values())}
    sarif = {"$schema": SCHEMA, "version": "2.1.0",
             "runs": [{"tool": {"driver": driver}, "results": run.results,
                       "automationDetails": {"id": f"gpuemu/{report.command}/"}}]}
    return json.dumps(sarif, indent=2)
