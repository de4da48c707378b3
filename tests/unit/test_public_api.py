"""The facade: every public name resolves, and a reference script's import stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gpuemu


@pytest.mark.parametrize("name", gpuemu.__all__)
def test_every_public_name_resolves(name):
    assert getattr(gpuemu, name) is not None
    assert name in dir(gpuemu)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        gpuemu.Clinet  # noqa: B018


def test_reference_scripts_do_not_load_the_client_or_pynng():
    code = "import sys, gpuemu.script; print(sorted(m for m in ('pynng', 'gpuemu.client') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
