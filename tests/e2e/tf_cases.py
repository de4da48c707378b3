"""TensorFlow ops validated and fuzzed client-side through a real daemon.

Run in a child process by test_frameworks.py (TensorFlow must not share a process with
triton; see tests/unit/test_frameworks_tf.py), or directly: ``pytest tests/e2e/tf_cases.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.client import ValidationError
from gpuemu.dtypes import DType
from gpuemu.frameworks import validate_tensorflow

from .test_frameworks import client, project, random_bits  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
tf = pytest.importorskip("tensorflow")


def test_tensorflow_every_dtype_reaches_the_reference_bit_for_bit(client):
    for i, dtype in enumerate(DType):
        x = tf.convert_to_tensor(random_bits(dtype, 24, seed=i).reshape(4, 6))
        bits = tf.convert_to_tensor(np.invert(x.numpy().view(np.dtype(f"i{dtype.itemsize}"))))
        assert client.validate_op("bits", {"x": x}, bits).passed, dtype


def test_tensorflow_op_validated_and_fuzzed_client_side(client):
    x = np.random.default_rng(3).standard_normal((2, 24)).astype(np.float32)
    with validate_tensorflow(client, "softmax", {"x": x}) as ctx:
        assert isinstance(ctx["inputs"]["x"], tf.Tensor)
        ctx["output"] = tf.function(tf.nn.softmax)(ctx["inputs"]["x"])
    assert ctx.result.passed

    fuzz = client.fuzz_op_client_side("softmax_finite", lambda inputs: tf.nn.softmax(inputs["x"]),
                                      iterations=12, seed=4, framework="tensorflow")
    assert (fuzz.passed, fuzz.failed) == (12, 0), [f.failures for f in fuzz.failures]
    with pytest.raises(ValidationError, match="ToleranceExceeded"):
        with validate_tensorflow(client, "softmax", {"x": x}) as ctx:
            ctx["output"] = tf.nn.softmax(ctx["inputs"]["x"] * 1.01)  # a wrong scale
