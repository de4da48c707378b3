"""``gpuemu coverage`` against a real daemon: what fuzz runs stored, as text, JSON and a
Codecov file pointing at the op's line in gpuemu.toml."""

from __future__ import annotations

import json
import subprocess

import pytest

from gpuemu.cli.report.locate import locate_op

from ..conftest import run_cli
from .test_fuzz import write_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def gpuemu(make_daemon, tmp_path):
    make_daemon(write_project(tmp_path) / "gpuemu.toml")

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=tmp_path)
    run.root = tmp_path
    return run


def test_coverage_counts_what_fuzzing_stored(gpuemu):
    before = json.loads(gpuemu("coverage", "--op", "softmax", "--format", "json").stdout)
    (op,) = before["coverage"]
    assert (op["results"], op["covered"]) == (0, 0)
    assert "dtype float64" in op["missing"] and "layout offset" in op["missing"]

    fuzz = gpuemu("fuzz", "softmax", "-n", "60", "--seed", "3", "--format", "json")
    assert fuzz.returncode == 0, fuzz.stderr
    tried = json.loads(fuzz.stdout)["ops"][0]["coverage"]

    out = gpuemu("coverage", "--op", "softmax", "--format", "json")
    assert out.returncode == 0, out.stderr
    (op,) = json.loads(out.stdout)["coverage"]
    assert op["results"] == 60 and op["failed"] == 0
    assert {k: v for k, v in op["dtypes"].items() if v} == tried["dtypes"]
    assert {k: v for k, v in op["layouts"].items() if v} == tried["layouts"]  # effective ones
    assert sum(op["shape_classes"].values()) == sum(op["ranks"].values()) == 60
    assert op["covered"] == op["configured"] - len(op["missing"])

    text = gpuemu("coverage", "--op", "softmax").stdout
    assert f"softmax: {op['covered']}/{op['configured']} configured dtypes" in text
    assert "    dtypes  float" in text


def test_codecov_file_and_fail_under(gpuemu):
    gpuemu("fuzz", "relu", "-n", "8", "--seed", "1")
    codecov = gpuemu("coverage", "--format", "codecov")
    assert codecov.returncode == 0, codecov.stderr
    lines = json.loads(codecov.stdout)["coverage"]["gpuemu.toml"]
    relu, softmax = (str(locate_op(gpuemu.root / "gpuemu.toml", n)) for n in ("relu", "softmax"))
    assert softmax in lines and lines[softmax] == 0  # configured, never run
    covered, configured = map(int, str(lines[relu]).split("/"))  # some, not all, after 8 cases
    assert 0 < covered < configured

    low = gpuemu("coverage", "--fail-under", "99")
    assert low.returncode == 1 and "--fail-under 99" in low.stdout
    assert gpuemu("coverage", "--fail-under", "1").returncode == 0
