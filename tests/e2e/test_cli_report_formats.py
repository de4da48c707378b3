"""``gpuemu fuzz --format sarif | markdown | html`` as a real process against a real daemon."""

from __future__ import annotations

import json

import pytest

from gpuemu.cli.report.locate import locate_op

from ..conftest import assert_valid_sarif, run_cli
from .test_fuzz import write_project

pytestmark = pytest.mark.e2e

FUZZ = ("fuzz", "softmax_tail", "-n", "30", "--seed", "2024")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("reportproj"))


@pytest.fixture
def gpuemu(make_daemon, project):
    make_daemon(project / "gpuemu.toml")
    return lambda *args: run_cli(*args, cwd=project)


def test_fuzz_failures_as_sarif_markdown_and_html(gpuemu, project):
    as_json = gpuemu(*FUZZ, "--format", "json")
    assert as_json.returncode == 1, as_json.stderr
    seeds = [f["seed"] for op in json.loads(as_json.stdout)["ops"] for f in op["failures"]]
    assert seeds

    out = gpuemu(*FUZZ, "--format", "sarif")
    assert out.returncode == 1, out.stderr
    sarif = json.loads(out.stdout)
    assert_valid_sarif(sarif)
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "gpuemu"
    results = run["results"]
    assert [r["properties"]["seed"] for r in results] == seeds
    line = locate_op(project / "gpuemu.toml", "softmax_tail")
    for r in results:
        assert r["ruleId"] == "validation/ToleranceExceeded" and r["level"] == "error"
        assert f"--seed {r['properties']['seed']}" in r["message"]["text"]
        assert r["locations"][0]["physicalLocation"] == {
            "artifactLocation": {"uri": "gpuemu.toml"}, "region": {"startLine": line}}

    md = gpuemu(*FUZZ, "--format", "pr-comment").stdout
    assert f"| softmax_tail | 30 | {len(seeds)} | ❌ fail |" in md and f"seed {seeds[0]}" in md
    page = gpuemu(*FUZZ, "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and f"seed {seeds[-1]}" in page


def test_pr_comment_of_every_op_stays_within_a_comment(gpuemu):
    out = gpuemu("test", "--iterations", "40", "--seed", "3", "--format", "pr-comment")
    assert out.returncode == 1, out.stderr
    md = out.stdout
    assert len(md) <= 8_000
    for op in ("relu", "softmax_tail", "softmax_naive"):  # the buggy ops, all in the table
        assert f"| {op} | 40 |" in md
    if "left out to fit a comment" not in md:  # nothing dropped: every failing op is shown
        assert md.count("<details>") == 3
