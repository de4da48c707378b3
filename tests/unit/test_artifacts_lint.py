"""ArtifactLinter on real kernels: configured budgets, defaults, and the source of every number."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from gpuemu.artifacts import LIMITS, ArtifactLinter, lint_ptx, measure_ptx
from gpuemu.config import ArtifactChecks, parse_config
from gpuemu.errors import InvalidRequest, KernelNotFound

from ..cuda_artifacts import (
    PTX_ONLY, PTXAS, TOOLS, committed, needs_nvcc, needs_ptxas, nvcc_build, ptxas_figures, ptxas_output,
)


def config(tmp_path, kernels: str, policies: str = ""):
    text = textwrap.dedent(kernels) + textwrap.dedent(policies)
    return parse_config(text, tmp_path / "gpuemu.toml")


def by_rule(result, rule):
    return [f for f in result.findings if f.rule == rule]


def test_every_limit_reads_a_field_of_artifact_checks():
    fields = {f.name for f in dataclasses.fields(ArtifactChecks)}
    assert {limit.check for limit in LIMITS} <= fields


def test_unregistered_kernel_gets_the_defaults_and_its_name_from_the_ptx():
    result = lint_ptx(committed("saxpy.ptx"), source="saxpy.ptx", tools=PTX_ONLY)
    assert result.kernel_name == "saxpy" and result.passed
    assert set(result.metrics) == {"kernel", "arch", "ptx"}  # no tools: PTX numbers only
    assert result.metrics["ptx"]["registers"] == 19 and result.metrics["arch"] == "sm_80"
    (missing,) = by_rule(result, "ptxas_missing")
    assert missing.severity == "info" and "ptxas was not found" in missing.message
    (registers,) = by_rule(result, "registers")
    assert registers.message == ("'saxpy': 19 virtual registers declared in the PTX (+2 predicates); "
                                 "the physical count needs ptxas")
    spills = by_rule(result, "max_spills")
    assert [f.severity for f in spills] == ["info", "info"]
    assert "max_spills is not checked for 'saxpy': spill stores are measured only by ptxas" in spills[0].message


def test_ptx_only_virtual_registers_warn_but_local_memory_fails():
    result = lint_ptx(committed("local_spill.ptx"), source="local_spill.ptx", tools=PTX_ONLY)
    (registers,) = by_rule(result, "max_registers")
    assert registers.severity == "warning" and registers.source == "ptx"
    assert (registers.metric, registers.value, registers.limit) == ("ptx.registers", 577, 64)
    assert "the PTX declares 577 virtual registers, more than max_registers = 64" in registers.message
    (local,) = by_rule(result, "max_local_memory_bytes")
    assert local.severity == "error" and (local.metric, local.value, local.limit) == ("ptx.local_memory_bytes", 1024, 0)
    assert not result.passed and result.findings[0].severity == "error"  # errors come first


@needs_ptxas
def test_spilling_kernel_fails_with_ptxas_counts():
    result = lint_ptx(committed("local_spill.ptx"), source="local_spill.ptx", tools=TOOLS)
    printed = ptxas_figures(ptxas_output("local_spill"), "local_spill")
    spills = by_rule(result, "max_spills")
    assert [(f.severity, f.metric, f.value, f.limit, f.source) for f in spills] == [
        ("error", "ptxas.spill_stores_bytes", printed["spill_stores_bytes"], 0, "ptxas"),
        ("error", "ptxas.spill_loads_bytes", printed["spill_loads_bytes"], 0, "ptxas")]
    assert spills[0].message.startswith(
        f"'local_spill': spill stores = {printed['spill_stores_bytes']} bytes (ptxas, sm_80) exceeds max_spills = 0")
    (local,) = by_rule(result, "max_local_memory_bytes")
    assert (local.metric, local.value) == ("ptxas.stack_frame_bytes", printed["stack_frame_bytes"])
    assert not by_rule(result, "max_registers")  # 32 physical registers is within 64
    (registers,) = by_rule(result, "registers")
    assert registers.message.endswith(f"ptxas allocates {printed['registers']} physical registers for sm_80")
    assert "577 virtual registers declared in the PTX" in registers.message
    if "sass" in result.metrics:  # cuobjdump reads the cubin ptxas made: the same registers
        assert result.metrics["sass"]["registers"] == printed["registers"]
        assert result.metrics["sass"]["local_stores"] > 0


@needs_ptxas
def test_configured_register_budget(tmp_path):
    cfg = config(tmp_path, """
        [[kernels]]
        name = "saxpy"
        ptx = "saxpy.ptx"
        [kernels.artifact_checks]
        max_registers = 16
    """)
    fast = lint_ptx(committed("saxpy.ptx"), config=cfg, tools=PTXAS)
    assert fast.passed and not by_rule(fast, "max_registers")
    unrolled = lint_ptx(committed("saxpy_unrolled.ptx"), config=cfg, tools=PTXAS)
    (finding,) = by_rule(unrolled, "max_registers")
    physical = unrolled.metrics["ptxas"]["registers"]
    assert physical > 16 and not unrolled.passed
    assert (finding.severity, finding.value, finding.limit, finding.source) == ("error", physical, 16, "ptxas")
    assert f"'saxpy': registers = {physical} (ptxas, sm_80) exceeds max_registers = 16" in finding.message
    assert "raise max_registers in the kernel's [kernels.artifact_checks]" in finding.message


@needs_ptxas
def test_near_the_limit_is_a_warning_with_the_policy_threshold(tmp_path):
    physical = lint_ptx(committed("saxpy.ptx"), tools=PTXAS).metrics["ptxas"]["registers"]
    kernels = f"""
        [[kernels]]
        name = "saxpy"
        ptx = "saxpy.ptx"
        [kernels.artifact_checks]
        max_registers = {physical + 1}
    """
    near = lint_ptx(committed("saxpy.ptx"), config=config(tmp_path, kernels), tools=PTXAS)
    (finding,) = by_rule(near, "max_registers")
    assert near.passed and finding.severity == "warning"
    assert f"is within 10% of max_registers = {physical + 1}" in finding.message
    strict = config(tmp_path, kernels, "[policies]\nwarn_threshold = 0.0\n")
    assert not by_rule(lint_ptx(committed("saxpy.ptx"), config=strict, tools=PTXAS), "max_registers")


def test_checks_follow_the_kernel_found_by_its_cpp_name(tmp_path):
    cfg = config(tmp_path, """
        [[kernels]]
        name = "scale"
        ptx = "elementwise.ptx"
        [kernels.artifact_checks]
        forbidden_instructions = ["div", "st.local"]
        max_instructions = 10
    """)
    text = committed("elementwise.ptx")
    scale = lint_ptx(text, kernel_name="scale", config=cfg, source="elementwise.ptx", tools=PTX_ONLY)
    assert scale.kernel_name == "scale" and not scale.passed
    (div,) = by_rule(scale, "forbidden_instructions")
    assert div.message == "'scale': forbidden instruction 'div' occurs 1 time(s) in its PTX (div.rn.f32 x1)"
    (size,) = by_rule(scale, "max_instructions")
    assert (size.severity, size.value, size.limit) == ("error", scale.metrics["ptx"]["instructions"], 10)
    relu = lint_ptx(text, kernel_name="relu", config=cfg, source="elementwise.ptx", tools=PTX_ONLY)
    assert relu.kernel_name == "relu" and relu.passed  # not configured: the defaults
    with pytest.raises(InvalidRequest, match="defines 2 kernels"):
        lint_ptx(text, config=cfg, tools=PTX_ONLY)
    with pytest.raises(KernelNotFound, match="has no kernel 'gelu'"):
        lint_ptx(text, kernel_name="gelu", config=cfg, tools=PTX_ONLY)


def test_required_and_forbidden_patterns_name_the_line(tmp_path):
    checks = ArtifactChecks(max_registers=None, max_spills=None, max_local_memory_bytes=None,
                            required_patterns=(r"ld\.global", r"st\.shared"),
                            forbidden_patterns=(r"st\.local",))
    text = committed("local_spill.ptx")
    m = measure_ptx(text, source="local_spill.ptx", tools=PTX_ONLY)
    result = ArtifactLinter(checks).lint(m)
    (required,) = by_rule(result, "required_patterns")
    assert required.message.startswith("'local_spill': required pattern 'st\\\\.shared' does not occur")
    (forbidden,) = by_rule(result, "forbidden_patterns")
    first = next(i for i, ln in enumerate(text.splitlines(), 1) if "st.local" in ln)
    count = text.count("st.local")
    assert forbidden.message == (f"'local_spill': forbidden pattern 'st\\\\.local' occurs {count} time(s) in its "
                                 f"PTX, first at local_spill.ptx:{first}: "
                                 f"{text.splitlines()[first - 1].strip()!r}")


def test_shared_memory_budget():
    checks = ArtifactChecks(max_shared_memory_bytes=512)
    result = ArtifactLinter(checks).lint(measure_ptx(committed("reduce_sum.ptx"), tools=PTX_ONLY))
    (finding,) = by_rule(result, "max_shared_memory_bytes")
    assert (finding.severity, finding.metric, finding.value, finding.limit) == (
        "error", "ptx.shared_memory_bytes", 1024, 512)


def test_triton_kernel_lints():
    result = lint_ptx(committed("triton_softmax.ptx"), source="triton_softmax.ptx", tools=PTX_ONLY)
    assert result.kernel_name == "softmax_kernel"
    assert result.metrics["ptx"]["dynamic_shared_memory"] is True


@needs_ptxas
def test_triton_kernel_fits_its_register_budget_in_physical_registers():
    # PTX virtual registers exceed 64; ptxas allocates the 1024-wide softmax within it.
    result = lint_ptx(committed("triton_softmax.ptx"), source="triton_softmax.ptx", tools=PTXAS)
    assert result.passed and "ptxas" in result.metrics


@needs_ptxas
def test_ptxas_failure_is_an_error_finding():
    broken = committed("saxpy.ptx").replace("%r5;\n\tsetp", "%r99;\n\tsetp")
    result = lint_ptx(broken, source="saxpy.ptx", tools=PTXAS)
    (failed,) = by_rule(result, "ptxas_failed")
    assert failed.severity == "error" and not result.passed
    assert "could not compile saxpy.ptx for sm_80" in failed.message and "%r99" in failed.message


@needs_ptxas
def test_ptxas_older_than_the_ptx_is_a_warning():
    """A toolchain mismatch is not the kernel's fault: the PTX numbers stand, with a warning."""
    newer = committed("saxpy.ptx").replace(".version 9.0", ".version 99.9")
    result = lint_ptx(newer, source="saxpy.ptx", tools=PTXAS)
    (old,) = by_rule(result, "ptxas_too_old")
    assert old.severity == "warning" and result.passed and "ptxas" not in result.metrics
    assert "is older than saxpy.ptx (PTX 99.9)" in old.message


@needs_nvcc
@needs_ptxas
def test_nvcc_built_kernel_with_its_configured_arch(tmp_path):
    build = nvcc_build("reduce_sum")
    cfg = config(tmp_path, f"""
        [[kernels]]
        name = "reduce_sum"
        ptx = "{build.ptx}"
        arch = "sm_90"
    """)
    result = lint_ptx(build.ptx_text, kernel_name="reduce_sum", config=cfg, tools=PTXAS)
    assert result.metrics["arch"] == "sm_90" and result.passed
    assert result.metrics["ptxas"]["shared_memory_bytes"] == 1024
