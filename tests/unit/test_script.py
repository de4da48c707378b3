"""gpuemu.script: the helpers a reference script uses to speak the stdin/stdout protocol."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import ml_dtypes
import msgspec
import numpy as np
import pytest

from gpuemu.errors import InvalidRequest, ReferenceScriptFailed
from gpuemu.script import Request, encode_outputs, read_request, write_output
from gpuemu.tensor import TensorData, from_numpy, to_numpy


def request_bytes(inputs: dict[str, np.ndarray], **kwargs) -> bytes:
    return msgspec.json.encode(
        Request(inputs={k: from_numpy(v) for k, v in inputs.items()}, kwargs=kwargs)
    )


def test_read_request_keeps_layout_and_kwargs():
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T
    inputs, kwargs = read_request(io.BytesIO(request_bytes({"x": x}, dim=-1, name="a")))
    assert kwargs == {"dim": -1, "name": "a"}
    assert not inputs["x"].flags.c_contiguous
    assert inputs["x"].strides == x.strides
    np.testing.assert_array_equal(inputs["x"], x)
    inputs["x"][0, 0] = 99  # a private, writable copy
    assert x[0, 0] == 0


def test_read_request_names_what_is_wrong_with_stdin():
    with pytest.raises(InvalidRequest, match=r"stdin: expected gpuemu's request JSON .*b'hello'"):
        read_request(io.BytesIO(b"hello"))


def test_write_output_of_an_array_is_one_bare_tensordata_line():
    out = io.BytesIO()
    y = np.linspace(0, 1, 6, dtype=np.float64).reshape(2, 3)
    write_output(y, out)
    text = out.getvalue()
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    np.testing.assert_array_equal(msgspec.json.decode(text, type=TensorData).to_numpy(), y)


def test_write_output_of_a_dict_is_an_outputs_object():
    out = io.BytesIO()
    bf = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    write_output({"a": bf, "b": np.array([True, False])}, out)
    decoded = msgspec.json.decode(out.getvalue(), type=dict[str, dict[str, TensorData]])
    a = to_numpy(decoded["outputs"]["a"])
    assert a.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(a, bf)
    np.testing.assert_array_equal(to_numpy(decoded["outputs"]["b"]), [True, False])


def test_encode_outputs_names_a_single_array_output():
    assert list(encode_outputs(np.zeros(2, np.float32))) == ["output"]
    assert list(encode_outputs({"y": np.zeros(2), "z": np.ones(1)})) == ["y", "z"]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([1.0, 2.0], r"output 'output' is a list, not an array; return a numpy array"),
        ({"y": "text"}, r"output 'y' is a str, not an array"),
        ({}, r"returned an empty dict"),
        ({3: np.zeros(1)}, r"output names must be strings, got 3"),
        (np.zeros(2, np.complex64), r"complex64 has no gpuemu DType"),
    ],
)
def test_bad_results_are_refused_with_the_fix(result, message):
    with pytest.raises((ReferenceScriptFailed, InvalidRequest), match=message):
        write_output(result, io.BytesIO())


def test_main_runs_a_script_whose_prints_go_to_stderr(tmp_path):
    script = tmp_path / "double.py"
    script.write_text(textwrap.dedent("""
        from gpuemu.script import main

        def reference(inputs, scale=2, **kwargs):
            print("computing", inputs["x"].shape)
            return inputs["x"] * scale

        if __name__ == "__main__":
            main(reference)
    """))
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    done = subprocess.run([sys.executable, str(script)], input=request_bytes({"x": x}, scale=3),
                          capture_output=True, check=True, timeout=60)
    assert done.stdout.count(b"\n") == 1  # only the result
    np.testing.assert_array_equal(msgspec.json.decode(done.stdout, type=TensorData).to_numpy(),
                                  x * 3)
    assert b"computing (2, 3)" in done.stderr
