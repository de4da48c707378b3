"""ArtifactDiffer on the metrics of real kernels: saxpy, and its unrolled variant that needs more registers."""

from __future__ import annotations

import dataclasses

from gpuemu.artifacts import ArtifactDiffer, flatten_metrics, measure_ptx, parse_ptxas_output

from ..cuda_artifacts import PTX_ONLY, PTXAS, committed, needs_ptxas


def metrics(name: str, with_ptxas: bool = True) -> dict:
    """The kernel's PTX metrics, plus ptxas's from its committed report (no CUDA needed)."""
    m = measure_ptx(committed(f"{name}.ptx"), source=f"{name}.ptx", tools=PTX_ONLY)
    if with_ptxas:
        m = dataclasses.replace(m, ptxas=parse_ptxas_output(committed(f"{name}.ptxas.txt")))
    return m.metrics()


def names(changes) -> list[str]:
    return [c.metric for c in changes]


def test_flatten_keeps_the_comparable_numbers_by_source():
    flat = flatten_metrics(metrics("reduce_sum"))
    assert flat["ptx.registers"] == 42 and flat["ptxas.registers"] == 14
    assert flat["ptx.shared_memory_bytes"] == flat["ptxas.shared_memory_bytes"] == 1024
    assert not any(k.endswith(("instruction_mix", "registers_by_type", "version", "target", "calls",
                                "dynamic_shared_memory")) for k in flat)
    assert "kernel" not in flat and "arch" not in flat


def test_more_registers_is_a_regression():
    diff = ArtifactDiffer().diff(metrics("saxpy"), metrics("saxpy_unrolled"), tag="v1", kernel_name="saxpy")
    regressions = {c.metric: (c.baseline, c.current) for c in diff.regressions}
    assert regressions["ptxas.registers"] == (10, 24)
    assert regressions["ptx.registers"] == (19, 101)
    assert "ptx.instructions" in regressions
    assert "ptxas.spill_stores_bytes" in names(diff.unchanged)
    assert diff.passed and (diff.tag, diff.kernel_name) == ("v1", "saxpy")
    assert not ArtifactDiffer().diff(metrics("saxpy"), metrics("saxpy_unrolled"), tag="v1", kernel_name="saxpy",
                                     fail_on_regression=True).passed


def test_fewer_registers_is_an_improvement():
    diff = ArtifactDiffer().diff(metrics("saxpy_unrolled"), metrics("saxpy"), tag="v1", kernel_name="saxpy",
                                 fail_on_regression=True)
    assert diff.passed and not diff.regressions
    assert {"ptx.registers", "ptxas.registers", "ptx.instructions"} <= set(names(diff.improvements))


def test_the_same_kernel_is_unchanged():
    same = metrics("local_spill")
    diff = ArtifactDiffer().diff(same, same, tag="t", kernel_name="local_spill", fail_on_regression=True)
    assert diff.passed and not diff.regressions and not diff.improvements
    assert names(diff.unchanged) == sorted(flatten_metrics(same))


def test_a_source_measured_on_one_side_only_is_not_compared():
    """ptxas was there for the baseline but is not now: nothing regresses, nothing fails."""
    diff = ArtifactDiffer().diff(metrics("saxpy"), metrics("saxpy", with_ptxas=False), tag="v1",
                                 kernel_name="saxpy", fail_on_regression=True)
    assert diff.passed and not diff.regressions and not diff.improvements
    registers = next(c for c in diff.unchanged if c.metric == "ptxas.registers")
    assert (registers.baseline, registers.current) == (10, None)


@needs_ptxas
def test_diff_of_live_ptxas_measurements():
    before, after = (measure_ptx(committed(f"{n}.ptx"), tools=PTXAS).metrics() for n in ("saxpy", "saxpy_unrolled"))
    diff = ArtifactDiffer().diff(before, after, tag="v1", kernel_name="saxpy", fail_on_regression=True)
    grew = {c.metric: (c.baseline, c.current) for c in diff.regressions}
    assert grew["ptxas.registers"] == (before["ptxas"]["registers"], after["ptxas"]["registers"])
    assert not diff.passed
