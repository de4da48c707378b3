"""Every result command of the ``gpuemu`` CLI as a real process against a real daemon:
its output, its exit code, and JSON and JUnit that parse and validate."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import xmlschema
from junitparser import JUnitXml

from ..conftest import run_cli, write
from .test_fuzz import CONFIG, write_project

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent.parent / "data"
FLAKY = """
import numpy as np
def run(inputs, **kw):  # a correct softmax whose last bit depends on the run (atomics-style)
    x = inputs["x"]
    e = np.exp(x - x.max(-1, keepdims=True))
    out = e / e.sum(-1, keepdims=True)
    flip = np.random.default_rng().random(out.shape) < 0.5
    return np.where(flip, np.nextafter(out, np.inf), out).astype(x.dtype)
"""
FLAKY_OP = """
[[ops]]
name = "flaky"
reference = "refs/softmax.py"
op_script = "ops/flaky.py"
input_names = ["x"]
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [4]
hidden_dims = [16, 33]
edge_case_prob = 0.0
"""
KERNELS = """
[[kernels]]
name = "saxpy"
ptx = "kernels/saxpy.ptx"
[kernels.artifact_checks]
max_registers = 64

[[kernels]]
name = "spills"
ptx = "kernels/local_spill.ptx"
[kernels.artifact_checks]
max_spills = 0
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cliproj")
    write_project(root, '[project]\nname = "cli-demo"\nversion = "2.1"\n' + CONFIG + FLAKY_OP + "\n[ci]\niterations = 20\nquick_iterations = 8\n"
                  + KERNELS)
    write(root / "ops" / "flaky.py", FLAKY)
    for name in ("saxpy.ptx", "local_spill.ptx"):
        write(root / "kernels" / name, (DATA / "ptx" / name).read_text())
    return root


@pytest.fixture
def gpuemu(make_daemon, project):
    """Run ``gpuemu ARGS`` in the project, against a daemon serving its config."""
    make_daemon(project / "gpuemu.toml")

    def run(*args: str, cwd: Path = project, env: dict | None = None) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=cwd, env=env)
    return run


def junit_ok(text: str) -> JUnitXml:
    xmlschema.XMLSchema(DATA / "junit.xsd").validate(text)
    return JUnitXml.fromstring(text)


def test_test_passes_a_correct_op_in_all_three_formats(gpuemu):
    text = gpuemu("test", "--op", "softmax", "--seed", "7", "--iterations", "12")
    assert text.returncode == 0, text.stdout + text.stderr
    assert "PASS softmax: 12/12 cases passed (seed 7" in text.stdout
    tried = next(line for line in text.stdout.splitlines() if "tried:" in line)
    assert re.match(r"    tried: 12 cases \((\d+) checked, 0 filtered, (\d+) empty, 0 op errors\);",
                    tried), tried
    assert "dtypes float32×" in tried and "distinct inputs" in tried
    assert text.stdout.splitlines()[-1] == "passed: cli-demo 2.1 (12 cases, 0 failed)"

    data = json.loads(gpuemu("test", "--op", "softmax", "--seed", "7", "--iterations", "12",
                             "--format", "json").stdout)
    assert data["passed"] is True and data["schema_version"] == 1 and data["project"] == "cli-demo 2.1"
    assert [(o["op_name"], o["iterations"], o["seed"]) for o in data["ops"]] == [("softmax", 12, 7)]

    xml = junit_ok(gpuemu("test", "--op", "softmax", "--seed", "7", "--iterations", "12",
                          "--format", "junit").stdout)
    suites = list(xml)
    assert [s.name for s in suites] == ["softmax"] and suites[0].failures == 0
    assert xml.name == "gpuemu test (cli-demo 2.1)"


def test_fuzz_finds_the_bug_and_prints_how_to_reproduce_it(gpuemu):
    out = gpuemu("fuzz", "softmax_tail", "-n", "30", "--seed", "2024")
    assert out.returncode == 1, out.stderr
    assert "FAIL softmax_tail" in out.stdout and "ToleranceExceeded" in out.stdout
    assert "elements (" in out.stdout and "exceed atol=" in out.stdout  # the mismatch report
    assert "reproduce: gpuemu reproduce --seed " in out.stdout

    xml = junit_ok(gpuemu("fuzz", "--op", "softmax_tail", "-n", "30", "--seed", "2024",
                          "--format", "junit").stdout)
    (suite,) = list(xml)
    assert suite.name == "softmax_tail" and suite.failures >= 1
    failing = [case for case in suite if case.result]
    assert "ToleranceExceeded" in failing[0].result[0].message
    assert "reproduce: gpuemu reproduce --seed" in failing[0].result[0].text


def test_reproduce_minimize_and_failures_from_a_fuzz_seed(gpuemu, tmp_path):
    fuzz = json.loads(gpuemu("fuzz", "softmax_tail", "-n", "30", "--seed", "2024",
                             "--format", "json").stdout)
    seed = str(fuzz["ops"][0]["failures"][-1]["seed"])  # a u64: kept exact as a JSON integer

    again = gpuemu("reproduce", "--seed", seed)
    assert again.returncode == 1 and f"still fails: seed {seed} (softmax_tail)" in again.stdout

    small = gpuemu("minimize", "--seed", seed, "--max-iters", "40", "--write-test", str(tmp_path))
    assert small.returncode == 1, small.stderr  # the minimized case still fails, as it must
    assert f"minimized seed {seed} -> " in small.stdout and "shrink_dims" in small.stdout
    written = list(tmp_path.glob("test_softmax_tail_seed_*.py"))
    assert len(written) == 1 and written[0].with_suffix(".npz").exists()

    listed = json.loads(gpuemu("failures", "--limit", "2", "--format", "json").stdout)
    assert len(listed["results"]) == 2 and listed["passed"] is True


def test_determinism_catches_an_op_that_passes_once(gpuemu):
    once = gpuemu("test", "--op", "flaky", "--iterations", "5", "--seed", "3")
    assert once.returncode == 0, once.stdout  # each run is within tolerance
    twice = gpuemu("test", "--op", "flaky", "--iterations", "5", "--seed", "3", "--determinism", "2")
    assert twice.returncode == 1 and "NonDeterministic" in twice.stdout, twice.stdout


def test_baseline_store_and_compare(gpuemu):
    gpuemu("test", "--op", "softmax", "--iterations", "5", "--seed", "1")
    assert gpuemu("baseline", "store", "v1").returncode == 0
    same = gpuemu("baseline", "compare", "v1", "--fail-on-regression")
    assert same.returncode == 0 and "baseline v1: 0 regressions" in same.stdout
    missing = gpuemu("baseline", "compare", "nope")
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "nope" in missing.stderr


def test_a_kernel_that_grew_registers_is_a_baseline_regression(gpuemu, project):
    ptx = project / "kernels" / "saxpy.ptx"
    gpuemu("test", "--op", "softmax", "--iterations", "3", "--seed", "1")
    assert gpuemu("baseline", "store", "k1").returncode == 0
    original = ptx.read_text()
    try:
        # The unrolled build of the same kernel (also named saxpy) uses more registers.
        ptx.write_text((DATA / "ptx" / "saxpy_unrolled.ptx").read_text())
        grown = gpuemu("baseline", "compare", "k1", "--fail-on-regression")
    finally:
        ptx.write_text(original)
    assert grown.returncode == 1, grown.stdout + grown.stderr
    assert "FAIL artifacts saxpy vs k1" in grown.stdout and "registers" in grown.stdout


def test_lint_reports_the_spilling_kernel_and_exits_1(gpuemu):
    ok = gpuemu("lint", "saxpy")
    assert ok.returncode == 0 and "PASS lint saxpy" in ok.stdout
    both = gpuemu("lint", "--format", "junit")
    assert both.returncode == 1
    (suite,) = list(junit_ok(both.stdout))
    assert suite.name == "lint" and suite.tests == 2 and suite.failures == 1


def test_ci_run_fuzzes_lints_records_and_reports(gpuemu):
    run = gpuemu("ci", "run", "--quick", "--format", "json")
    data = json.loads(run.stdout)
    assert run.returncode == 1  # the buggy ops and the spilling kernel fail it
    ops = {o["op_name"]: o for o in data["ops"]}
    assert ops["softmax"]["failed"] == 0 and ops["softmax_tail"]["iterations"] == 8
    assert [s["op_name"] for s in data["skipped"]] == ["softmax_client"]
    assert {k["kernel_name"]: k["passed"] for k in data["lint"]} == {"saxpy": True, "spills": False}
    junit_ok(gpuemu("ci", "run", "--quick", "--format", "junit").stdout)
    status = gpuemu("status")
    assert status.returncode == 0 and "last ci run 2: FAILED" in status.stdout


def test_ci_run_against_a_baseline(gpuemu):
    missing = gpuemu("ci", "run", "--quick", "--baseline", "nope")
    assert missing.returncode == 2 and "gpuemu baseline store nope" in missing.stderr
    gpuemu("test", "--op", "softmax", "--iterations", "3", "--seed", "1")
    assert gpuemu("baseline", "store", "b1").returncode == 0
    data = json.loads(gpuemu("ci", "run", "--quick", "--baseline", "b1", "--format", "json").stdout)
    assert data["baseline"]["tag"] == "b1"
    assert {d["kernel_name"] for d in data["artifact_diffs"]} == {"saxpy", "spills"}
    assert all(not d.get("regressions") for d in data["artifact_diffs"])  # nothing was rebuilt


def test_errors_name_the_problem_and_exit_2_or_3(gpuemu, project, tmp_path):
    bare = gpuemu("test", cwd=tmp_path)
    assert bare.returncode == 2 and "gpuemu init" in bare.stderr
    write(tmp_path / "gpuemu.toml", "[[ops]]\nname = 'x'\nrefrence = 'r.py'\n")
    bad = gpuemu("test", cwd=tmp_path)
    assert bad.returncode == 2 and "gpuemu.toml" in bad.stderr and "refrence" in bad.stderr
    unknown = gpuemu("fuzz", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr and "softmax" in unknown.stderr
    down = gpuemu("test", "--op", "softmax", env={"GPUEMU_SOCKET": str(tmp_path / "no.sock"),
                                                  "GPUEMU_AUTO_START": "0"})
    assert down.returncode == 3 and "gpuemu daemon start" in down.stderr


def test_version_and_help(gpuemu):
    assert gpuemu("version").stdout.startswith("gpuemu 0.1.0 (protocol 1)")
    for command in ("test", "fuzz", "reproduce", "minimize", "failures", "lint", "status",
                    "version", "init", "debug", "baseline store", "baseline compare", "ci run",
                    "daemon start", "daemon status"):
        out = gpuemu(*command.split(), "--help")
        assert out.returncode == 0 and "Examples:" in out.stdout, command


def test_a_daemon_serving_another_project_is_named_not_used(gpuemu, project, tmp_path):
    other = tmp_path / "other"
    write(other / "gpuemu.toml", '[[ops]]\nname = "other_op"\nreference = "ref.py"\n'
          'input_names = ["x"]\n')
    write(other / "ref.py", "def reference(inputs, **kw):\n    return inputs['x']\n")
    out = gpuemu("test", cwd=other)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"serves {project / 'gpuemu.toml'}, not {other / 'gpuemu.toml'}: one daemon serves" \
           " one project" in out.stderr
    assert "GPUEMU_HOME=DIR" in out.stderr
    assert gpuemu("test", "--op", "softmax", "--iterations", "2").returncode == 0  # its own: fine


def test_fuzz_runs_n_cases_per_dtype_and_test_takes_dash_n(gpuemu):
    proc = gpuemu("fuzz", "softmax", "-n", "4", "--seed", "3", "--dtype", "float32",
                  "--dtype", "float16", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = json.loads(proc.stdout)["ops"]
    assert [(r["op_name"], r["iterations"]) for r in runs] == [("softmax", 4), ("softmax", 4)]
    assert [list(r["coverage"]["dtypes"]) for r in runs] == [["float32"], ["float16"]]
    data = json.loads(gpuemu("test", "--op", "softmax", "-n", "3", "--format", "json").stdout)
    assert [o["iterations"] for o in data["ops"]] == [3]


def test_a_run_that_checked_nothing_fails_and_says_so(gpuemu):
    proc = gpuemu("test", "--op", "softmax_client")  # client-side: the daemon never runs it
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing was checked: none of the 1 op(s) runs in the daemon" in proc.stdout
    zero = gpuemu("fuzz", "softmax", "-n", "0")
    assert zero.returncode == 1 and "every run had 0 cases" in zero.stdout
