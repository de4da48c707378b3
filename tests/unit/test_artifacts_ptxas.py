"""The physical numbers: ptxas's -v report and cuobjdump's SASS, on real kernels.

gpuemu's figures are compared with what the tools themselves printed (read here with
plain regexes): committed outputs where CUDA is absent, fresh ones where it is here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpuemu.artifacts import SassParser, Toolchain, find_tool, measure_ptx, parse_ptxas_output, run_ptxas
from gpuemu.artifacts.toolchain import sm_arch
from gpuemu.errors import CuobjdumpNotAvailable, InvalidRequest, PtxParseError

from ..cuda_artifacts import (
    NVCC_PTX, PTX_DIR, TOOLS, committed, needs_cuobjdump, needs_nvcc, needs_ptxas, nvcc_build,
    ptxas_figures,
)


@pytest.mark.parametrize("name", NVCC_PTX)
def test_committed_ptxas_reports(name):
    """Every kernel ptxas reported, with exactly the numbers it printed."""
    output = committed(f"{name}.ptxas.txt")
    report = parse_ptxas_output(output)
    entries = re.findall(r"Compiling entry function '(\w+)' for 'sm_80'", output)
    assert [n for n, f in report.functions.items() if f.entry] == entries
    for kernel in entries:
        info = report.functions[kernel]
        figures = {k: getattr(info, k) for k in ptxas_figures(output, kernel)}
        assert figures == ptxas_figures(output, kernel)
        assert info.arch == "sm_80"


def test_spilling_kernel_report():
    report = parse_ptxas_output(committed("local_spill.ptxas.txt"))
    info = report.functions["local_spill"]
    assert info.spills and (info.spill_stores_bytes, info.spill_loads_bytes) == (244, 244)
    assert (info.registers, info.stack_frame_bytes, info.cumulative_stack_bytes) == (32, 1152, 1152)
    assert report.metrics("local_spill")["constant_memory_bytes"] == 380


def test_shared_constant_memory_and_a_func():
    report = parse_ptxas_output(committed("reduce_sum.ptxas.txt"))
    kernel, helper = report.functions["reduce_sum"], report.functions["_Z8warp_sumf"]
    assert (kernel.registers, kernel.barriers, kernel.shared_memory_bytes) == (14, 1, 1024)
    assert not helper.entry and helper.registers is None and not helper.spills
    assert report.module.constant_memory_bytes == 256  # "0 bytes gmem, 256 bytes cmem[3]"
    metrics = report.metrics("reduce_sum")
    assert metrics["constant_memory_bytes"] == 372 + 256 and metrics["global_memory_bytes"] == 0
    assert metrics["shared_memory_bytes"] == 1024 and metrics["registers"] == 14


def test_older_ptxas_wording():
    """CUDA releases before 11 printed lmem and split smem ('static+dynamic')."""
    report = parse_ptxas_output(
        "ptxas info    : Compiling entry function '_Z6kernelPf' for 'sm_35'\n"
        "ptxas info    : Function properties for _Z6kernelPf\n"
        "    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\n"
        "ptxas info    : Used 22 registers, 16+0 bytes lmem, 4+16 bytes smem, 20 bytes cmem[1], 328 bytes cmem[0]\n")
    info = report.functions["_Z6kernelPf"]
    assert (info.registers, info.local_memory_bytes, info.shared_memory_bytes, info.constant_memory_bytes) == (
        22, 16, 20, 348)
    assert info.barriers is None and info.arch == "sm_35"


@needs_ptxas
@pytest.mark.parametrize("name", NVCC_PTX)
def test_run_ptxas_matches_its_own_output(name, tmp_path):
    report = run_ptxas(PTX_DIR / f"{name}.ptx", "sm_80", ptxas=TOOLS.ptxas, cubin=tmp_path / "k.cubin",
                       source=f"{name}.ptx")
    assert (tmp_path / "k.cubin").stat().st_size > 0
    for kernel, info in report.functions.items():
        if info.entry:
            assert {k: getattr(info, k) for k in ("registers", "stack_frame_bytes", "spill_stores_bytes",
                                                  "spill_loads_bytes")} == ptxas_figures(report.output, kernel)


@needs_nvcc
@needs_ptxas
def test_spilling_kernel_reports_the_counts_nvcc_prints():
    """nvcc -Xptxas -v on the .cu and gpuemu on nvcc's PTX: the same spills, registers, stack."""
    build = nvcc_build("local_spill")
    printed = ptxas_figures(build.ptxas_output, "local_spill")
    assert printed["spill_stores_bytes"] > 0 and printed["spill_loads_bytes"] > 0
    m = measure_ptx(build.ptx_text, source=str(build.ptx), tools=TOOLS)
    ptxas = m.metrics()["ptxas"]
    assert {k: ptxas[k] for k in printed} == printed
    virtual, physical = m.metrics()["ptx"]["registers"], ptxas["registers"]
    print(f"local_spill registers: PTX declares {virtual} virtual, ptxas allocates {physical}")
    assert virtual > physical == printed["registers"]


@needs_ptxas
def test_ptxas_rejection_is_a_parse_error_with_ptxas_line(tmp_path):
    text = committed("saxpy.ptx")
    line = text[:text.index("mad.lo.s32")].count("\n") + 1
    bad = tmp_path / "bad.ptx"
    bad.write_text(text.replace("mad.lo.s32 \t%r1, %r3, %r4, %r5", "mad.lo.s32 \t%r1, %r3, %r4, %r99"))
    with pytest.raises(PtxParseError, match=rf"ptxas .* could not compile saxpy-edited.ptx for sm_80: "
                                            rf"ptxas saxpy-edited.ptx, line {line}; error"):
        run_ptxas(bad, "sm_80", ptxas=TOOLS.ptxas, cubin=tmp_path / "k.cubin", source="saxpy-edited.ptx")
    with pytest.raises(PtxParseError, match=r"for sm_20: .*sm_20.*set the kernel's arch in gpuemu.toml"):
        run_ptxas(PTX_DIR / "saxpy.ptx", "sm_20", ptxas=TOOLS.ptxas, cubin=tmp_path / "k.cubin")


def test_arch_and_tool_lookup():
    assert (sm_arch("compute_80"), sm_arch("sm_90a")) == ("sm_80", "sm_90a")
    assert find_tool("gpuemu-no-such-cuda-tool") is None
    assert Toolchain().ptxas is None


# -- SASS -----------------------------------------------------------------------------


def test_committed_cuobjdump_output():
    report = SassParser().parse(committed("reduce_sum.resource-usage.txt"), committed("reduce_sum.sass.txt"))
    sass = committed("reduce_sum.sass.txt")
    kernel = report.functions["reduce_sum"]
    assert kernel.resources["REG"] == 14 and report.common["CONSTANT[3]"] == 256
    metrics = report.metrics("reduce_sum")
    assert (metrics["registers"], metrics["shared_memory_bytes"], metrics["stack_bytes"]) == (14, 1024, 0)
    assert metrics["constant_memory_bytes"] == 372 + 256
    assert metrics["instructions"] == len(re.findall(r"^\s+/\*[0-9a-f]{4}\*/ ", sass, re.M))
    assert metrics["instruction_mix"]["BAR"] == sass.count(" BAR.SYNC") == 4
    assert metrics["local_loads"] == metrics["local_stores"] == 0


@needs_nvcc
@needs_cuobjdump
def test_sass_of_the_spilling_kernel_agrees_with_ptxas():
    build = nvcc_build("local_spill")
    printed = ptxas_figures(build.ptxas_output, "local_spill")
    metrics = SassParser().parse_cubin(build.cubin, TOOLS).metrics("local_spill")
    assert metrics["registers"] == printed["registers"]
    assert metrics["stack_bytes"] == printed["stack_frame_bytes"]
    assert metrics["local_loads"] > 0 and metrics["local_stores"] > 0  # LDL/STL: spills and the array


def test_no_cuobjdump_is_cuobjdump_not_available(tmp_path):
    cubin = tmp_path / "k.cubin"
    with pytest.raises(CuobjdumpNotAvailable, match=r"cuobjdump is needed to read the SASS of .*k\.cubin but "
                                                    r"is not installed; .*pip install nvidia-cuda-cuobjdump"):
        SassParser().parse_cubin(cubin, Toolchain())
    missing = Toolchain(cuobjdump=Path("/nonexistent/cuobjdump"))
    with pytest.raises(CuobjdumpNotAvailable, match="cannot run cuobjdump at /nonexistent/cuobjdump"):
        SassParser().parse_cubin(cubin, missing)


@needs_cuobjdump
def test_cuobjdump_on_something_else_than_a_cubin():
    with pytest.raises(InvalidRequest, match=r"could not read .*saxpy\.ptx.*pass a cubin"):
        SassParser().parse_cubin(PTX_DIR / "saxpy.ptx", TOOLS)


@needs_nvcc
@needs_cuobjdump
def test_without_nvdisasm_the_resource_usage_still_comes():
    build = nvcc_build("reduce_sum")
    no_disassembler = Toolchain(ptxas=TOOLS.ptxas, cuobjdump=TOOLS.cuobjdump)
    metrics = SassParser().parse_cubin(build.cubin, no_disassembler).metrics("reduce_sum")
    assert metrics["registers"] == ptxas_figures(build.ptxas_output, "reduce_sum")["registers"]
    assert "instructions" not in metrics
    m = measure_ptx(build.ptx_text, tools=no_disassembler)
    assert m.metrics()["sass"]["shared_memory_bytes"] == 1024
    (note,) = m.notes
    assert note.rule == "sass_unavailable" and "pip install nvidia-cuda-nvdisasm" in note.message
