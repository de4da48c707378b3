"""The HTML report of a real fuzz run, drawn by a real browser: headless Chromium's DOM holds
the charts and their numbers, and its screenshot is a non-blank picture with the chart's
bars and red failing dots in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpuemu.cli.report import Report, TrendPoint, render
from gpuemu.cli.report.charts import COLORS, summed_histogram
from gpuemu.validate.histogram import error_histogram_labels

from .test_cli_report_formats import FUZZ, project  # noqa: F401  (the project fixture)

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1280, 2000


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not on PATH; `make test` installs Debian's chromium package")
    return path


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={profile}", *args, page.as_uri()],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


def png_pixels(path: Path) -> tuple[int, int, np.ndarray]:
    """Width, height and the RGB pixels (height x width x 3) of a PNG."""
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not a PNG"
        return image.width, image.height, np.asarray(image.convert("RGB"))


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def check_in_browser(page: Path, tmp: Path, expected: list[str], colour: str,
                     below: int = 0) -> str:
    """The page's DOM holds ``expected``; its screenshot is not blank and has chart
    ``colour`` pixels under row ``below`` (past a heading drawn in the same colour)."""
    dom = browse(page, tmp / "profile-dom", "--dump-dom").stdout
    for text in expected:
        assert text in dom, f"{text!r} not in the DOM of {page}"
    shot = tmp / (page.stem + ".png")
    browse(page, tmp / "profile-shot", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
           "--hide-scrollbars")
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = np.unique(pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32))
    assert len(colours) > 50, f"{shot} looks blank: {len(colours)} distinct colours"
    n = (pixels[below:] == rgb(colour)).all(axis=-1).sum()
    assert n > 100, f"only {n} pixels of the chart colour {colour} in {shot}"
    return dom


def test_fuzz_report_and_trend_render_in_chromium(make_daemon, project, tmp_path):  # noqa: F811
    daemon = make_daemon(project / "gpuemu.toml")
    page = tmp_path / "fuzz.html"
    with page.open("w") as f:
        run = subprocess.run([sys.executable, "-m", "gpuemu", *FUZZ, "--format", "html"],
                             cwd=project, stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    stored = sorted(daemon.client().list_results(limit=500, op_name="softmax_tail"),
                    key=lambda r: r.timestamp)
    failed = [r for r in stored if not r.passed]
    counts = summed_histogram(failed)
    assert failed and sum(counts) > 0
    rows = [f"<td>{escape(label, quote=False)}</td><td>{n}</td>"
            for label, n in zip(error_histogram_labels(), counts) if n]
    expected = [f"{len(failed)} failing case(s)",
                f"Error distribution of softmax_tail over {sum(counts)} elements", *rows]
    dom = check_in_browser(page, tmp_path, expected, COLORS["bar"])
    assert dom.count("<svg") == 1 and dom.count('class="bar"') == len(rows)
    assert "atol 1e-05" in dom

    points = [TrendPoint(r.timestamp, r.passed, r.seed, r.max_diff) for r in stored]
    drawn = [p for p in points if p.max_diff is not None]
    assert len(drawn) >= 2 and any(not p.passed for p in drawn)
    report = Report(command="report", passed=False, history={"softmax_tail": points})
    trend = tmp_path / "trend.html"
    trend.write_text(render(report, "html"))
    dom = check_in_browser(trend, tmp_path, ["<h2>Trend</h2>", "max diff of softmax_tail",
                                             f"seed {drawn[-1].seed}"],
                           COLORS["fail"], below=100)  # red dots, not the red "FAIL" title
    assert dom.count('class="point ') == len(drawn)
