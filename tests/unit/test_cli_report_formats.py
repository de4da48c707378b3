"""The sarif, markdown and html reporters, on Reports built from genuine validation verdicts."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from gpuemu.cli.common import FORMATS
from gpuemu.cli.report import Report, render
from gpuemu.cli.report.locate import locate_kernel, locate_op
from gpuemu.cli.report.markdown import render_markdown
from gpuemu.protocol import (
    BaselineComparisonResponse,
    BaselineEntry,
    CiSkipped,
    FuzzResults,
    HealthIssue,
    LintFinding,
    LintResult,
)
from gpuemu.validate import ReproductionInfo, ValidationResult, validate_output

from ..conftest import assert_valid_sarif

CONFIG = """\
[project]
name = "demo"

[[ops]]
name = "relu"
reference = "refs/relu.py"
[ops.fuzz]
seq_lengths = [3]

[[ops]]
name = 'softmax'
reference = "refs/softmax.py"

[[kernels]]
name = "relu"
ptx = "kernels/relu.ptx"
"""


def failing(op: str, seed: int, bad: float) -> ValidationResult:
    """A real failing verdict: one element off by ``bad``, one NaN."""
    expected = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    actual = expected.copy()
    actual[0, 1] += bad
    actual[2, 3] = np.nan
    result = validate_output(actual, expected, op_name=op, seed=seed)
    assert not result.passed
    result.repro_info = ReproductionInfo(seed=seed, op_name=op, command=f"gpuemu reproduce {seed} --op {op}",
                                         input_shapes={"x": [3, 4]})
    return result


@pytest.fixture
def report(tmp_path, monkeypatch) -> Report:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpuemu.toml").write_text(CONFIG)
    ok = validate_output(np.arange(6.0), np.arange(6.0), op_name="softmax", seed=3)
    assert ok.passed
    relu = FuzzResults(op_name="relu", seed=11, iterations=20, passed=18, failed=2,
                       failures=[failing("relu", 18446744073709551615, 0.5),
                                 failing("relu", 42, 1 << 20)])
    softmax = FuzzResults(op_name="softmax", seed=11, iterations=20, passed=20, failed=0, vacuous=True,
                          health=[HealthIssue(kind="AllFiltered", message="every case <was> filtered")])
    lint = LintResult(kernel_name="relu", passed=False, findings=[
        LintFinding(severity="error", rule="ExcessiveRegisters", message="uses 96 registers > 64"),
        LintFinding(severity="info", rule="Note", message="just so you know")])
    baseline = BaselineComparisonResponse(tag="main", passed=False, regressions=[
        BaselineEntry(op_name="relu", reason="max diff 1e-6 -> 0.5")])
    return Report(command="ci run", passed=False, ops=[relu, softmax], lint=[lint], baseline=baseline,
                  skipped=[CiSkipped(op_name="client_op", reason="no op_script")],
                  config_path=str(tmp_path / "gpuemu.toml"), notes=["ci run 1: 0.4s"])


def test_every_format_is_registered_and_renders(report):
    assert {"sarif", "pr-comment", "html"} <= set(FORMATS)
    for fmt in FORMATS:
        assert "relu" in render(report, fmt)


def test_locate_finds_the_name_line_of_the_right_table(tmp_path):
    path = tmp_path / "gpuemu.toml"
    path.write_text(CONFIG)
    assert locate_op(path, "relu") == 5
    assert locate_op(path, "softmax") == 11  # single-quoted
    assert locate_kernel(path, "relu") == 15  # same name, other table
    assert locate_op(path, "missing") is None
    assert locate_op(tmp_path / "absent.toml", "relu") is None
    assert locate_op(None, "relu") is None


def test_sarif_is_valid_and_has_what_code_scanning_reads(report):
    sarif = json.loads(render(report, "sarif"))
    assert_valid_sarif(sarif)
    with pytest.raises(AssertionError, match=r"\['version'\]: '2.0' is not one of"):
        assert_valid_sarif({**sarif, "version": "2.0"})  # the schema has teeth
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gpuemu"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert {"validation/ToleranceExceeded", "health/AllFiltered", "lint/ExcessiveRegisters",
            "baseline/Regression"} <= set(rule_ids)
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning") and result["message"]["text"]
        assert result["partialFingerprints"]["gpuemu/v1"]
        (loc,) = result["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "gpuemu.toml"
    assert not any("just so you know" in r["message"]["text"] for r in run["results"])  # info dropped


def test_sarif_results_carry_the_seed_the_reproduce_command_and_the_line(report):
    results = json.loads(render(report, "sarif"))["runs"][0]["results"]
    cases = [r for r in results if r["ruleId"].startswith("validation/")]
    assert [c["properties"]["seed"] for c in cases] == [18446744073709551615, 42]  # u64 intact
    first = cases[0]
    assert first["ruleId"] == "validation/ToleranceExceeded"
    assert "NaNDetected" in first["message"]["text"]
    assert "reproduce: gpuemu reproduce 18446744073709551615 --op relu" in first["message"]["text"]
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}
    lint = next(r for r in results if r["ruleId"] == "lint/ExcessiveRegisters")
    assert lint["locations"][0]["physicalLocation"]["region"] == {"startLine": 15}


def test_sarif_without_a_config_has_no_locations(report):
    results = json.loads(render(Report(command="fuzz", passed=False, ops=report.ops[:1]), "sarif"))
    assert all("locations" not in r for r in results["runs"][0]["results"])


def test_markdown_summarises_and_folds_the_failures(report):
    md = render(report, "pr-comment")
    assert md.startswith("## gpuemu ci run: ❌ FAILED")
    assert "| relu | 20 | 2 | ❌ fail |" in md
    assert "| softmax | 20 | 0 | ⚠️ vacuous — every case <was> filtered |" in md
    assert "| client_op | 0 | 0 | ⏭️ skipped — no op_script |" in md
    assert "<details><summary><b>relu</b>: 2 failing case(s)</summary>" in md
    assert "```sh\ngpuemu reproduce 42 --op relu\n```" in md
    assert "exceed atol" in md
    assert "### Kernel lint" in md and "`ExcessiveRegisters`: uses 96 registers > 64" in md
    assert "### Baseline `main`" in md and "max diff 1e-6 -> 0.5" in md


def test_markdown_is_cut_to_the_comment_limit_with_a_note(report):
    many = [FuzzResults(op_name=f"op{i}", seed=1, iterations=5, passed=0, failed=5,
                        failures=[failing(f"op{i}", s, 0.5) for s in range(5)]) for i in range(60)]
    big = Report(command="ci run", passed=False, ops=many)
    md = render_markdown(big)
    assert len(md) <= 8_000
    assert "more section(s) left out to fit a comment" in md
    assert "| op59 | 5 | 5 | ❌ fail |" in md  # the table is never cut
    small = render_markdown(big, max_chars=6_000)
    assert len(small) <= 6_000 and "59 more section(s)" in small  # heading and op0 fit


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_escaped_and_complete(report):
    page = render(report, "html")
    parser = _Collect()
    parser.feed(page)
    assert {"html", "style", "table", "details", "pre"} <= set(parser.tags)
    assert not {"script", "link", "img"} & set(parser.tags)
    assert "http" not in page
    text = "".join(parser.text)
    assert "every case <was> filtered" in text  # shown as text ...
    assert "<was>" not in page  # ... because it was escaped
    assert "gpuemu reproduce 18446744073709551615 --op relu" in text
    assert "uses 96 registers > 64" in text and "max diff 1e-6 -> 0.5" in text


def test_a_vacuous_run_is_a_warning_in_every_format(report):
    """A run that cannot tell a right op from a wrong one passes, with a warning (issue 18)."""
    from xml.etree import ElementTree as ET

    text = render(report, "text")
    assert "WARN softmax: 20/20 cases passed" in text and "health: every case <was> filtered" in text
    junit = ET.fromstring(render(report, "junit"))
    (health,) = [c for c in junit.iter("testcase") if c.get("name") == "softmax[fuzz health]"]
    assert health.find("failure") is None
    assert health.find("system-out").text.startswith("warning: VacuousFuzz")
    sarif = json.loads(render(report, "sarif"))["runs"][0]["results"]
    assert {r["level"] for r in sarif if r["ruleId"].startswith("health/")} == {"warning"}
