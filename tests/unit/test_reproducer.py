"""The portable reproducer format: what it embeds, what it regenerates, what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.errors import InvalidRequest
from gpuemu.fuzz.cases import CaseSpec, materialize
from gpuemu.reproducer import (
    INLINE_BYTES, encode_reproducer, load_reproducer, make_reproducer, reproducer_inputs,
)

SPEC = CaseSpec(op_name="relu", seed=9, dtype="Float32", layout="offset",
                distribution="normal", shapes={"x": [3, 5]}, kwargs={"alpha": 0.5})


def round_trip(tmp_path, rep):
    path = tmp_path / "case.json"
    path.write_bytes(encode_reproducer(rep))
    return load_reproducer(path)


def test_small_inputs_are_embedded_with_their_offset_layout(tmp_path):
    inputs = materialize(SPEC)
    rep = round_trip(tmp_path, make_reproducer("relu", 9, inputs, SPEC.kwargs, spec=SPEC))
    assert rep.inputs and rep.layout == "offset" and rep.kwargs == {"alpha": 0.5}
    back = reproducer_inputs(rep)["x"]
    assert np.array_equal(back, inputs["x"]) and back.strides == inputs["x"].strides
    assert rep.inputs["x"].offset > 0  # the misaligned start travels too


def test_large_regenerable_inputs_are_regenerated_and_digest_checked(tmp_path):
    big = CaseSpec(op_name="relu", seed=1, dtype="Float32", layout="contiguous",
                   distribution="uniform", shapes={"x": [INLINE_BYTES // 4 + 1]})
    inputs = materialize(big)
    rep = round_trip(tmp_path, make_reproducer("relu", 1, inputs, {}, spec=big))
    assert not rep.inputs and rep.spec["shapes"] == {"x": [INLINE_BYTES // 4 + 1]}
    assert np.array_equal(reproducer_inputs(rep)["x"], inputs["x"])
    embedded = make_reproducer("relu", 1, inputs, {}, spec=big, embed=True)
    assert embedded.inputs
    rep.digests["x"] = "0" * 32
    with pytest.raises(InvalidRequest, match="input 'x' does not match the digest"):
        reproducer_inputs(rep, "case.json")


def test_inputs_without_a_spec_are_always_embedded():
    x = np.ones(INLINE_BYTES, np.float32)  # 4 MiB: over the limit, yet nothing regenerates it
    rep = make_reproducer("op", 3, {"x": x}, {}, output=x * 2)
    assert rep.spec is None and rep.inputs and rep.output.shape == [INLINE_BYTES]


@pytest.mark.parametrize("text, match", [
    ("{not json", "cannot read it as a JSON reproducer"),
    ('{"schema": "other/1"}', "schema 'other/1' is not 'gpuemu.reproducer/1'"),
    ('{"schema": "gpuemu.reproducer/1", "op_name": "x"}', "not a valid reproducer"),
])
def test_bad_files_are_named_with_what_is_wrong(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidRequest, match=f"bad.json: {match}"):
        load_reproducer(path)
