"""Modules small enough to read in one sitting (DESIGN.md; issue 19): none over 400 lines."""

from __future__ import annotations

from pathlib import Path

import gpuemu

MAX_LINES = 400


def test_no_module_is_over_400_lines():
    src = Path(gpuemu.__file__).parent
    long = {str(p.relative_to(src)): n for p in src.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by responsibility: {long}"
