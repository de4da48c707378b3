"""Portable reproducers: written from a real daemon's stored failure, replayed in a copy of
the project on "another machine" (a fresh GPUEMU_HOME, no daemon, no database)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from gpuemu.reproducer import SCHEMA

from ..conftest import run_cli, write
from .test_fuzz import OPS, write_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path / "proj")


def gpuemu(cwd, *args, env=None):
    return run_cli(*args, cwd=cwd, env=env)


def elsewhere(project, tmp_path):
    """A copy of the project and an empty GPUEMU_HOME: nothing stored, no daemon."""
    other = tmp_path / "other-machine"
    shutil.copytree(project, other / "proj")
    home = other / "home"
    home.mkdir()
    env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_SOCKET": str(home / "gpuemu.sock")}
    return other / "proj", home, env


def test_strided_failure_replays_elsewhere_until_the_op_is_fixed(make_daemon, project, tmp_path):
    make_daemon(project / "gpuemu.toml")
    fuzz = gpuemu(project, "fuzz", "relu", "-n", "20", "--seed", "11", "--format", "json")
    failures = json.loads(fuzz.stdout)["ops"][0]["failures"]
    seed = failures[0]["seed"]
    kinds = [f["kind"] for f in failures[0]["failures"]]
    strides = failures[0]["repro_info"]["input_strides"]["x"]

    out = gpuemu(project, "reproduce", str(seed), "--reproducer", "case.json")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "wrote reproducer case.json (inputs embedded); replay it with `gpuemu reproduce" \
           " --from case.json`" in out.stdout
    rep = json.loads((project / "case.json").read_text())
    assert rep["schema"] == SCHEMA and (rep["op_name"], rep["seed"]) == ("relu", seed)
    assert rep["strides"]["x"] == strides and rep["layout"] in ("transposed", "strided")
    assert rep["dtypes"]["x"] and rep["distribution"] and rep["spec"]["shapes"] == rep["shapes"]
    assert rep["inputs"]["x"]["strides"] == strides  # the layout that trips the bug, kept
    assert rep["failure_kinds"] == kinds

    proj, home, env = elsewhere(project, tmp_path)
    replay = gpuemu(proj, "reproduce", "--from", "case.json", "--format", "json", env=env)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    result = json.loads(replay.stdout)["results"][0]
    assert result["seed"] == seed and [f["kind"] for f in result["failures"]] == kinds
    assert result["repro_info"]["input_strides"]["x"] == strides
    assert not list(home.iterdir())  # no daemon started, no database written

    write(proj / "ops" / "relu_ignores_strides.py", OPS["relu_ref.py"].replace("reference", "run"))
    fixed = gpuemu(proj, "reproduce", "--from", "case.json", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "passes now: case.json (op relu, seed" in fixed.stdout


def test_regenerated_inputs_are_checked_against_their_digest(make_daemon, project, tmp_path):
    make_daemon(project / "gpuemu.toml")
    out = gpuemu(project, "reproduce", "--seed", "5", "--op", "softmax_tail", "--reproducer",
                 "tail.json")
    assert out.returncode in (0, 1), out.stderr
    rep = json.loads((project / "tail.json").read_text())
    del rep["inputs"]  # as a reproducer of inputs too big to embed is written
    (project / "tail.json").write_text(json.dumps(rep))
    proj, _, env = elsewhere(project, tmp_path)
    again = gpuemu(proj, "reproduce", "--from", "tail.json", "--format", "json", env=env)
    assert again.returncode == out.returncode, again.stderr
    rep["digests"]["x"] = "0" * 32
    (proj / "tail.json").write_text(json.dumps(rep))
    bad = gpuemu(proj, "reproduce", "--from", "tail.json", env=env)
    assert bad.returncode == 2
    assert "tail.json: input 'x' does not match the digest the reproducer recorded" in bad.stderr
    (proj / "tail.json").write_text(json.dumps({**rep, "schema": "gpuemu.reproducer/9"}))
    newer = gpuemu(proj, "reproduce", "--from", "tail.json", env=env)
    assert newer.returncode == 2 and "schema 'gpuemu.reproducer/9' is not" in newer.stderr


def test_client_side_failure_carries_its_inputs_and_output(make_daemon, project, tmp_path):
    daemon = make_daemon(project / "gpuemu.toml")
    x = np.random.default_rng(3).standard_normal((2, 4, 16)).astype(np.float32)
    with daemon.client() as client:
        bad = client.validate_op("softmax_client", {"x": x}, np.full_like(x, 1 / 16), seed=77)
    assert not bad.passed
    out = gpuemu(project, "reproduce", "77", "--reproducer", "client.json")
    assert out.returncode == 1, out.stdout + out.stderr
    rep = json.loads((project / "client.json").read_text())
    assert "spec" not in rep and rep["output"]["shape"] == [2, 4, 16]
    proj, _, env = elsewhere(project, tmp_path)
    replay = gpuemu(proj, "reproduce", "--from", "client.json", env=env)
    assert replay.returncode == 1 and "its recorded output against the reference" in replay.stdout
