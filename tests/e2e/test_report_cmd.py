"""``gpuemu report``: the stored CI run with its pictures, from a real daemon, drawn by a
real browser: a failing op's histogram, the max-diff trend over two CI runs, and a
kernel's metrics against the baseline after its PTX changed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gpuemu.cli.report.charts import COLORS

from ..conftest import SOFTMAX_REF, run_cli, write
from .test_fuzz import OPS
from .test_html_render import check_in_browser

pytestmark = pytest.mark.e2e

PTX = Path(__file__).parents[1] / "data" / "ptx"

CONFIG = """
[ci]
iterations = 12

[[ops]]
name = "softmax_tail"
reference = "refs/softmax.py"
op_script = "ops/softmax_tail.py"
input_names = ["x"]
[ops.fuzz]
seed = 5
batch_sizes = [1, 2]
seq_lengths = [4]
hidden_dims = [16, 40]

[[kernels]]
name = "saxpy"
ptx = "kernels/saxpy.ptx"
"""


@pytest.fixture
def gpuemu(make_daemon, tmp_path):
    write(tmp_path / "refs" / "softmax.py", SOFTMAX_REF)
    write(tmp_path / "ops" / "softmax_tail.py", OPS["softmax_tail.py"])
    write(tmp_path / "gpuemu.toml", CONFIG)
    (tmp_path / "kernels").mkdir()
    shutil.copy(PTX / "saxpy.ptx", tmp_path / "kernels" / "saxpy.ptx")
    make_daemon(tmp_path / "gpuemu.toml")

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=tmp_path)
    run.root = tmp_path
    return run


def test_report_before_any_ci_run_says_how_to_get_one(gpuemu):
    out = gpuemu("report")
    assert out.returncode == 2 and "no CI run is stored yet; `gpuemu ci run`" in out.stderr


def test_report_shows_the_last_ci_run_with_its_pictures(gpuemu, tmp_path):
    assert gpuemu("ci", "run").returncode == 1  # softmax_tail drops its tail block
    assert gpuemu("baseline", "store", "v1").returncode == 0
    shutil.copy(PTX / "saxpy_unrolled.ptx", gpuemu.root / "kernels" / "saxpy.ptx")
    second = gpuemu("ci", "run", "--baseline", "v1")
    assert second.returncode == 1

    text = gpuemu("report")
    assert text.returncode == 1 and "FAIL softmax_tail:" in text.stdout
    page = tmp_path / "report.html"
    html = gpuemu("report", "--format", "html")
    page.write_text(html.stdout)
    dom = check_in_browser(page, tmp_path, [
        "gpuemu report", "Error distribution of softmax_tail", "<h2>Trend</h2>",
        "max diff of softmax_tail", "saxpy", "<h2>Coverage</h2>"], COLORS["bar"])
    assert dom.count("<svg") == 3, "histogram, trend and artifact chart"
    data = json.loads(gpuemu("report", "--format", "json").stdout)
    (cov,) = data["coverage"]
    assert cov["op_name"] == "softmax_tail" and cov["results"] == 24
    assert f"<td>softmax_tail</td><td>{cov['covered']}/{cov['configured']}</td>" in dom
    history = data["history"]
    points = history["softmax_tail"]
    assert len(points) == 24  # both CI runs' cases, in the order they were stored
    assert dom.count('class="point ') == sum(p.get("max_diff") is not None for p in points)
