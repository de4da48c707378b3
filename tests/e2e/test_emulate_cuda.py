"""examples/cuda: a Triton kernel written for a CUDA GPU (it checks
``torch.cuda.is_available()`` and allocates with ``device="cuda"``) fuzzed unchanged
through a real daemon, because its op says ``emulate_cuda = true``; without the switch
the same files fail as they do on any GPU-less machine."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "triton")),
                       reason="the example kernel needs torch (a CPU build) and triton"),
]

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "cuda"
ITERATIONS = 6


def test_a_kernel_written_for_cuda_runs_unchanged_under_emulate_cuda(make_daemon, short_tmp):
    with make_daemon(PROJECT / "gpuemu.toml").client(timeout_ms=600_000) as client:
        fuzz = client.fuzz_op("fused_softmax", iterations=ITERATIONS, seed=1)
    assert (fuzz.passed, fuzz.failed) == (ITERATIONS, 0), [
        [r.message for r in f.failures] for f in fuzz.failures]


def test_without_the_switch_the_same_files_fail_for_want_of_cuda(make_daemon, short_tmp):
    project = shutil.copytree(PROJECT, short_tmp / "cuda")
    config = project / "gpuemu.toml"
    config.write_text(config.read_text().replace("emulate_cuda = true", "emulate_cuda = false"))
    with make_daemon(config).client(timeout_ms=600_000) as client:
        fuzz = client.fuzz_op("fused_softmax", iterations=1, seed=1)
    assert fuzz.failed == 1
    message = " ".join(r.message for r in fuzz.failures[0].failures)
    assert "CUDA" in message, message
