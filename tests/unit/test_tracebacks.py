"""Tracebacks quoted with the author's frames and the final error (engine/tracebacks.py),
from real exceptions raised through a real library module."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import traceback

import pytest

from gpuemu.engine.tracebacks import quote_traceback
from gpuemu.engine.process import last_lines

LIBRARY = """
def launch(kernel, depth=15):
    # An interpreter's launcher: deep, and it wraps what the kernel raised.
    if depth:
        return launch(kernel, depth - 1)
    try:
        kernel()
    except Exception as exc:
        raise RuntimeError("kernel failed under the interpreter") from exc
"""

USER = """
import fakelib

def kernel():
    raise ValueError("tail block reads past the row")  # the author's line

def run():
    return fakelib.launch(kernel)
"""


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def raised(tmp_path):
    """The traceback of user code that raised inside a library in site-packages."""
    lib = tmp_path / "venv" / "lib" / "site-packages" / "fakelib.py"
    lib.parent.mkdir(parents=True)
    lib.write_text(textwrap.dedent(LIBRARY))
    (tmp_path / "user_op.py").write_text(textwrap.dedent(USER))
    _load(lib, "fakelib")
    user = _load(tmp_path / "user_op.py", "user_op")
    try:
        user.run()
    except RuntimeError:
        yield traceback.format_exc()
    finally:
        sys.modules.pop("fakelib", None)
        sys.modules.pop("user_op", None)


def test_the_authors_frame_and_the_final_error_are_kept_and_library_frames_left_out(raised):
    assert "the author's line" not in last_lines(raised)  # what the last 20 lines lost
    quoted = quote_traceback(raised)
    assert 'raise ValueError("tail block reads past the row")' in quoted
    assert "ValueError: tail block reads past the row" in quoted
    assert "The above exception was the direct cause of the following exception:" in quoted
    assert quoted.rstrip().endswith("RuntimeError: kernel failed under the interpreter")
    assert "return fakelib.launch(kernel)" in quoted  # the author's call into the library
    # Library frames are counted (Python's "[Previous line repeated]" too), not shown: of the
    # 16 launch frames only the last, which raised, is.
    assert "[15 frames of gpuemu or library code left out]" in quoted
    assert quoted.count("fakelib.py") == 1  # where the final exception was raised
    assert quoted.count("Traceback (most recent call last):") == 2
    assert len(quoted.splitlines()) < 25 < len(raised.splitlines())


def test_what_the_script_printed_before_its_traceback_is_kept(raised):
    quoted = quote_traceback(("loading weights\n" + raised).encode())
    assert quoted.startswith("loading weights\nTraceback (most recent call last):")


def test_text_without_a_traceback_is_quoted_by_its_last_lines():
    text = "\n".join(f"line {i}" for i in range(50))
    assert quote_traceback(text) == last_lines(text) == "\n".join(f"line {i}" for i in range(30, 50))


def test_a_traceback_of_library_code_alone_is_quoted_as_it_ends():
    try:
        int("x")
    except ValueError:
        text = traceback.format_exc()
    # The frame of this test file is the author's; a traceback of no author's frame falls back.
    library_only = text.replace(__file__, "/usr/lib/python3/somewhere.py")
    assert quote_traceback(library_only) == last_lines(library_only)
    assert "invalid literal for int()" in quote_traceback(text)
