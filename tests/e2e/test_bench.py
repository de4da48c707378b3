"""``python -m bench`` end to end: a quick roundtrip run writes its figures and ratios as
JSON. Nothing about speed is asserted; timings only mean something on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RATIOS = {"ping_vs_in_process", "daemon_msgpack_vs_in_process", "daemon_json_vs_in_process",
          "daemon_json_vs_daemon_msgpack", "spawn_vs_daemon_msgpack", "spawn_vs_in_process"}


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=110)


def test_quick_roundtrip_writes_every_ratio_next_to_its_figures(tmp_path):
    out = tmp_path / "results.json"
    proc = bench("--quick", "--only", "roundtrip", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert list(data["sections"]) == ["roundtrip"]
    assert data["meta"]["quick"] is True and data["meta"]["nproc"] >= 1
    section = data["sections"]["roundtrip"]
    figures, ratios = section["figures"], section["ratios"]
    assert set(ratios) == RATIOS
    for name, ratio in ratios.items():  # a time ratio is the figure over its floor
        figure, floor = name.split("_vs_")
        assert ratio == pytest.approx(figures[figure]["value"] / figures[floor]["value"])
        assert figures[figure]["unit"] == "s" and figures[figure]["reps"] >= 1
    assert set(section["targets"]) == {"daemon_msgpack", "spawn"}
    assert all(isinstance(t["met"], bool) for t in section["targets"].values())
    assert "daemon ValidateOp, msgpack" in proc.stdout and str(out) in proc.stdout


def test_an_unknown_benchmark_is_refused_with_the_known_ones():
    proc = bench("--only", "nope")
    assert proc.returncode == 2
    assert "invalid choice: 'nope'" in proc.stderr
    assert all(name in proc.stderr for name in ("roundtrip", "fuzz", "large", "rss"))
