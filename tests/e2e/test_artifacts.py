"""Artifact requests through a real daemon and the Client, on real kernels from gpuemu.toml.

``Client.lint`` returns the daemon's LintResult; ``lint_kernel`` is seed 002's form
(ptx_content first, a list of dicts), tested in tests/conformance/test_api_client.py."""

from __future__ import annotations

import pytest

from gpuemu.artifacts import PtxParser
from gpuemu.errors import (
    ArtifactNotFound, BaselineNotFound, KernelNotFound, PtxParseError,
)
from gpuemu.protocol import LintKernel

from ..conftest import write
from ..cuda_artifacts import CUDA_DIR, TOOLS, committed, nvcc_build, ptxas_figures, ptxas_output

pytestmark = pytest.mark.e2e


def ptx_text(name: str) -> str:
    """The kernel compiled now by nvcc when it is installed, else the committed PTX."""
    return nvcc_build(name).ptx_text if TOOLS.nvcc else committed(f"{name}.ptx")


@pytest.fixture
def project(short_tmp):
    root = short_tmp / "proj"
    write(root / "kernels" / "saxpy.ptx", ptx_text("saxpy"))
    write(root / "kernels" / "local_spill.ptx", committed("local_spill.ptx"))
    write(root / "kernels" / "saxpy.cu", (CUDA_DIR / "saxpy.cu").read_text())
    write(root / "gpuemu.toml", """
        [project]
        name = "artifacts-e2e"

        [[kernels]]
        name = "saxpy"
        ptx = "kernels/saxpy.ptx"
        [kernels.artifact_checks]
        max_registers = 64
        required_patterns = ["fma\\\\.rn\\\\.f32"]

        [[kernels]]
        name = "saxpy_src"
        source = "kernels/saxpy.cu"
    """)
    return root


@pytest.fixture
def daemon(make_daemon, project):
    return make_daemon(project / "gpuemu.toml")


def names(changes) -> list[str]:
    return [c.metric for c in changes]


def test_store_baseline_then_more_registers_is_a_regression(daemon, project):
    kernel_file = project / "kernels" / "saxpy.ptx"
    with daemon.client() as c:
        lint = c.lint("saxpy")
        assert lint.kernel_name == "saxpy" and lint.passed, lint.findings
        assert lint.metrics["ptx"]["registers"] == PtxParser().parse(kernel_file.read_text()).kernels[0].registers
        assert ("ptxas" in lint.metrics) == (TOOLS.ptxas is not None)
        (first,) = c.list_artifacts("saxpy").artifacts  # LintKernel keeps what it measured
        stored = c.get_artifact("saxpy")
        assert stored.artifact_id == first.artifact_id and stored.metrics == lint.metrics
        assert stored.ptx_content == kernel_file.read_text()

        baseline = c.store_artifact_baseline("v1", "saxpy")
        assert (baseline.tag, baseline.kernel_name, baseline.artifact_id) == ("v1", "saxpy", first.artifact_id)

        kernel_file.write_text(ptx_text("saxpy_unrolled"))  # the same kernel, more values live
        newer = c.store_artifact("saxpy")
        assert newer > first.artifact_id
        assert [a.artifact_id for a in c.list_artifacts("saxpy").artifacts] == [newer, first.artifact_id]

        diff = c.diff_artifact_baseline("v1", "saxpy")
        assert diff.passed and (diff.tag, diff.kernel_name) == ("v1", "saxpy")
        grew = {m.metric: (m.baseline, m.current) for m in diff.regressions}
        assert grew["ptx.registers"][1] > grew["ptx.registers"][0]
        if TOOLS.ptxas:
            assert grew["ptxas.registers"][1] > grew["ptxas.registers"][0]
        assert not c.diff_artifact_baseline("v1", "saxpy", fail_on_regression=True).passed
        assert c.get_artifact("saxpy", first.artifact_id).metrics == lint.metrics


def test_unregistered_spilling_kernel_by_path_and_content(daemon):
    with daemon.client() as c:
        by_path = c.lint(ptx_path="kernels/local_spill.ptx")
        by_content = c.lint(ptx_content=committed("local_spill.ptx"))
        assert by_path.kernel_name == by_content.kernel_name == "local_spill"  # found in the PTX
        assert by_path.metrics == by_content.metrics and not by_path.passed
        errors = {f.metric: (f.rule, f.value) for f in by_path.findings if f.severity == "error"}
        if TOOLS.ptxas:  # the defaults (max_spills = 0) and ptxas's own numbers
            printed = ptxas_figures(ptxas_output("local_spill"), "local_spill")
            assert errors["ptxas.spill_stores_bytes"] == ("max_spills", printed["spill_stores_bytes"])
            assert errors["ptxas.spill_loads_bytes"] == ("max_spills", printed["spill_loads_bytes"])
        else:
            assert errors["ptx.local_memory_bytes"] == ("max_local_memory_bytes", 1024)
        assert {a.kernel_name for a in c.list_artifacts().artifacts} == {"local_spill"}


def test_kernel_from_cuda_source(daemon):
    with daemon.client() as c:
        if TOOLS.nvcc is None:
            with pytest.raises(ArtifactNotFound, match="nvcc is not installed to compile it"):
                c.lint("saxpy_src")
            return
        result = c.lint("saxpy_src")
        assert result.kernel_name == "saxpy_src" and result.passed and result.metrics["kernel"] == "saxpy"
        assert result.metrics["ptx"]["registers"] == PtxParser().parse(ptx_text("saxpy")).kernels[0].registers


def test_errors_name_what_is_missing(daemon):
    with daemon.client() as c:
        with pytest.raises(KernelNotFound, match=r"kernel 'sxapy' is not configured .*configured kernels: saxpy, saxpy_src"):
            c.lint("sxapy")
        with pytest.raises(ArtifactNotFound, match="no artifact for kernel 'saxpy'"):
            c.get_artifact("saxpy")
        with pytest.raises(ArtifactNotFound, match="no artifact for kernel 'saxpy'"):
            c.store_artifact_baseline("v1", "saxpy")
        c.store_artifact("saxpy")
        with pytest.raises(BaselineNotFound, match="no artifact baseline tagged 'v9' for kernel 'saxpy'"):
            c.diff_artifact_baseline("v9", "saxpy")
        with pytest.raises(PtxParseError, match=r"<ptx_content of the request>:1: unexpected 'this is not PTX'"):
            c.lint(ptx_content="this is not PTX;")
        with pytest.raises(ArtifactNotFound, match=r"ptx_path 'kernels/gone.ptx': no file at .*kernels/gone\.ptx"):
            c.lint(ptx_path="kernels/gone.ptx")
        # seeds 000/002: a LintKernel naming no kernel and sending no PTX lints every kernel
        every = c.request(LintKernel())
        assert [r.kernel_name for r in every.lint] == ["saxpy", "saxpy_src"]
        assert [e.kernel_name for e in every.results] == ["saxpy", "saxpy_src"]
        assert c.ping().protocol_version == 1
