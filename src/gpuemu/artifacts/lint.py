"""Checks a measured kernel against its budgets (``[kernels.artifact_checks]``).

Each limit is a row of ``LIMITS``: which check holds it, and the sources that measure
it, most trusted first; the first source present is the one checked. Over the limit
is an error; within ``warn_threshold`` of it (``[policies]``, default 10 %) a warning.
PTX register counts are virtual (ptxas usually allocates far fewer), so a PTX-only
register count over the limit is a warning, never an error. A kernel without a
[[kernels]] entry gets the defaults of ArtifactChecks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ArtifactChecks, KernelConfig, Policies, ProjectConfig
from .results import LintFinding, LintResult
from .measure import Measurement, measure_ptx
from .toolchain import Toolchain

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Limit:
    check: str
    """The ArtifactChecks field that holds the limit."""
    what: str
    unit: str
    sources: tuple[tuple[str, str], ...]
    """``(source, metric)`` pairs, most trusted first."""
    fix: str
    estimates: frozenset[str] = frozenset()
    """Sources whose number is only an estimate: over the limit is a warning."""


_PHYSICAL = "keep fewer values live (smaller tiles, less unrolling, __launch_bounds__)"
LIMITS = (
    Limit("max_registers", "registers", "",
          (("ptxas", "registers"), ("sass", "registers"), ("ptx", "registers")), _PHYSICAL,
          estimates=frozenset({"ptx"})),
    Limit("max_spills", "spill stores", " bytes", (("ptxas", "spill_stores_bytes"),), _PHYSICAL),
    Limit("max_spills", "spill loads", " bytes", (("ptxas", "spill_loads_bytes"),), _PHYSICAL),
    Limit("max_local_memory_bytes", "local memory", " bytes",
          (("ptxas", "stack_frame_bytes"), ("sass", "stack_bytes"), ("ptx", "local_memory_bytes")),
          "index local arrays with compile-time constants so they stay in registers, and avoid spills"),
    Limit("max_shared_memory_bytes", "static shared memory", " bytes",
          (("ptxas", "shared_memory_bytes"), ("sass", "shared_memory_bytes"),
           ("ptx", "shared_memory_bytes")), "use smaller shared tiles"),
    Limit("max_instructions", "PTX instructions", "", (("ptx", "instructions"),),
          "unroll less, or split the kernel"),
)


def _finding(severity: str, rule: str, message: str, metric: tuple[str, str] | None = None,
             value: float | None = None, limit: float | None = None) -> LintFinding:
    return LintFinding(severity=severity, rule=rule, message=message,
                       metric=f"{metric[0]}.{metric[1]}" if metric else None, value=value,
                       limit=limit, source=metric[0] if metric else None)


def _mnemonic_matches(entry: str, mnemonic: str) -> bool:
    """``div`` forbids ``div.rn.f32``; ``st.local`` forbids ``st.local.f32`` but not ``st.global``."""
    return mnemonic == entry or mnemonic.startswith(entry + ".")


class ArtifactLinter:
    """Lints Measurements against one kernel's ArtifactChecks."""

    def __init__(self, checks: ArtifactChecks | None = None, *, warn_threshold: float = 0.1):
        self.checks = checks if checks is not None else ArtifactChecks()
        self.warn_threshold = warn_threshold

    @classmethod
    def for_kernel(cls, kernel: KernelConfig | None, policies: Policies | None = None) -> ArtifactLinter:
        """The kernel's configured checks (defaults for an unregistered kernel) and warn threshold."""
        return cls(kernel.artifact_checks if kernel else None,
                   warn_threshold=(policies or Policies()).warn_threshold)

    def lint(self, m: Measurement) -> LintResult:
        metrics = m.metrics()
        findings = [*m.notes, *self._registers_compared(m, metrics)]
        for limit in LIMITS:
            findings += self._limit(m, metrics, limit)
        findings += self._patterns(m) + self._instructions(m)
        findings.sort(key=lambda f: SEVERITIES.index(f.severity))
        return LintResult(kernel_name=m.name, passed=not any(f.severity == "error" for f in findings),
                          findings=findings, metrics=metrics)

    def _where(self, m: Measurement, source: str) -> str:
        return "PTX" if source == "ptx" else f"{source}, {m.arch}"

    def _limit(self, m: Measurement, metrics: dict, rule: Limit) -> list[LintFinding]:
        limit = getattr(self.checks, rule.check)
        if limit is None:
            return []
        measured = [(s, k) for s, k in rule.sources if k in metrics.get(s, {})]
        if not measured:
            needs = " or ".join(dict.fromkeys(s for s, _ in rule.sources))
            return [_finding("info", rule.check, f"{rule.check} is not checked for {m.name!r}: "
                                                 f"{rule.what} are measured only by {needs}, "
                                                 "which is not available here")]
        source, key = measured[0]
        value = metrics[source][key]
        shown = f"{rule.what} = {value}{rule.unit} ({self._where(m, source)})"
        if value > limit and source in rule.estimates:
            return [_finding("warning", rule.check, (
                f"{m.name!r}: the PTX declares {value} virtual {rule.what}, more than {rule.check} = "
                f"{limit}; virtual registers are not physical ones (ptxas usually allocates far "
                "fewer) and ptxas is not available to count those: install the CUDA toolkit"),
                (source, key), value, limit)]
        if value > limit:
            return [_finding("error", rule.check, (
                f"{m.name!r}: {shown} exceeds {rule.check} = {limit}{rule.unit}; {rule.fix}, "
                f"or raise {rule.check} in the kernel's [kernels.artifact_checks]"),
                (source, key), value, limit)]
        if limit > 0 and value > limit * (1 - self.warn_threshold):
            return [_finding("warning", rule.check, (
                f"{m.name!r}: {shown} is within {self.warn_threshold:.0%} of {rule.check} = "
                f"{limit}{rule.unit}"), (source, key), value, limit)]
        return []

    def _registers_compared(self, m: Measurement, metrics: dict) -> list[LintFinding]:
        """PTX's virtual count beside the physical one, so nobody mistakes one for the other."""
        ptx = metrics["ptx"]
        text = (f"{m.name!r}: {ptx['registers']} virtual registers declared in the PTX "
                f"(+{ptx['predicate_registers']} predicates)")
        physical = next(((s, metrics[s]["registers"]) for s in ("ptxas", "sass")
                         if "registers" in metrics.get(s, {})), None)
        if physical:
            text += f"; {physical[0]} allocates {physical[1]} physical registers for {m.arch}"
        else:
            text += "; the physical count needs ptxas"
        return [_finding("info", "registers", text, ("ptx", "registers"), ptx["registers"])]

    def _patterns(self, m: Measurement) -> list[LintFinding]:
        where, out = m.module.source, []
        for pattern in self.checks.required_patterns:
            if not m.kernel.find(pattern):
                out.append(_finding("error", "required_patterns", (
                    f"{m.name!r}: required pattern {pattern!r} does not occur in its PTX "
                    f"({where}, from line {m.kernel.line}); check the kernel still does what the "
                    "pattern asks, or remove it from required_patterns")))
        for pattern in self.checks.forbidden_patterns:
            if hits := m.kernel.find(pattern):
                line, text = hits[0]
                out.append(_finding("error", "forbidden_patterns", (
                    f"{m.name!r}: forbidden pattern {pattern!r} occurs {len(hits)} time(s) in its "
                    f"PTX, first at {where}:{line}: {text!r}")))
        return out

    def _instructions(self, m: Measurement) -> list[LintFinding]:
        sass = m.sass.functions.get(m.kernel.name) if m.sass else None
        tables = [("PTX", m.kernel.mnemonics), ("SASS", sass.opcodes if sass else {})]
        out = []
        for entry in self.checks.forbidden_instructions:
            for what, table in tables:
                used = {k: n for k, n in table.items() if _mnemonic_matches(entry, k)}
                if used:
                    detail = ", ".join(f"{k} x{n}" for k, n in sorted(used.items()))
                    out.append(_finding("error", "forbidden_instructions", (
                        f"{m.name!r}: forbidden instruction {entry!r} occurs {sum(used.values())} "
                        f"time(s) in its {what} ({detail})"), value=sum(used.values())))
        return out


def lint_ptx(text: str, *, kernel_name: str | None = None, config: ProjectConfig | None = None,
             source: str = "<ptx>", tools: Toolchain | None = None) -> LintResult:
    """Measure and lint one kernel of a PTX text (``kernel_name``, or the file's only kernel)
    with its [[kernels]] checks from ``config``, or the defaults when it has no entry."""
    m = measure_ptx(text, kernel_name=kernel_name, config=config, source=source, tools=tools)
    return ArtifactLinter.for_kernel(m.config, config.policies if config else None).lint(m)
