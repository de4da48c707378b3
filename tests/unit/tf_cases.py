"""TensorFlow adapter: every TF dtype gpuemu has, eager tensors and variables, exact values.

Run in a child process by test_frameworks_tf.py (see there why), or directly:
``pytest tests/unit/tf_cases.py``.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from gpuemu.client import as_tensor_data
from gpuemu.dtypes import DType
from gpuemu.frameworks import UnsupportedTensor, adapter_for, get_adapter
from gpuemu.tensor import from_numpy, to_numpy

tf = pytest.importorskip("tensorflow")

ADAPTER = get_adapter("tf")


def random_values(dtype: DType, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random bit patterns (NaN payloads, infinities, subnormals included) of ``dtype``."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype is DType.Bool:
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    return rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype.numpy).reshape(shape)


# numpy layouts a case can arrive in; TF has no strides, so only the values must survive
LAYOUTS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.T,
    "strided": lambda x: x[:, ::2],
    "offset": lambda x: x.reshape(-1)[3:11].reshape(2, 4),
    "scalar": lambda x: x[0, 0].reshape(()),
    "empty": lambda x: x[:0],
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", list(DType))
def test_round_trip_keeps_every_bit(dtype, layout):
    x = LAYOUTS[layout](random_values(dtype, (3, 6), seed=len(layout)))
    t = ADAPTER.from_tensor_data(from_numpy(x))
    assert isinstance(t, tf.Tensor) and np.dtype(t.dtype.as_numpy_dtype) == dtype.numpy
    td = as_tensor_data(t)
    assert td.dtype == dtype.value
    back = to_numpy(td)
    assert back.shape == x.shape and back.tobytes() == x.tobytes()


def test_variables_convert_like_tensors():
    v = tf.Variable([[1.5, 2.5]], dtype=tf.bfloat16)
    assert adapter_for(v) is ADAPTER
    arr = to_numpy(as_tensor_data(v))
    assert arr.dtype == np.dtype(ml_dtypes.bfloat16) and arr.tolist() == [[1.5, 2.5]]


def test_graph_mode_tensors_are_refused_with_the_way_out():
    @tf.function
    def op(x):
        with pytest.raises(UnsupportedTensor, match="symbolic \\(graph-mode\\) .*outside it"):
            as_tensor_data(x)
        return x + 1

    assert op(tf.constant([1.0])).numpy().tolist() == [2.0]


@pytest.mark.parametrize("value, match", [
    (lambda: tf.constant(["a"]), "tensorflow dtype string has no gpuemu DType"),
    (lambda: tf.zeros(2, tf.complex64), "tensorflow dtype complex64 has no gpuemu DType"),
    (lambda: tf.ragged.constant([[1], [2, 3]]), "expected an eager tf.Tensor .*to_tensor"),
])
def test_unconvertible_values_are_refused(value, match):
    with pytest.raises(UnsupportedTensor, match=match):
        as_tensor_data(value())


def test_seed_module_name_gpuemu_frameworks_tensorflow():
    """Seeds 001 and 003 name the module gpuemu.frameworks.tensorflow (checked here, in
    the TensorFlow child process, rather than in a process of its own)."""
    from gpuemu.frameworks.base import BaseAdapter
    from gpuemu.frameworks.tensorflow import TensorFlowAdapter, validate_tensorflow

    assert issubclass(TensorFlowAdapter, BaseAdapter) and callable(validate_tensorflow)
    a = TensorFlowAdapter().to_numpy(tf.constant([[1.0, 2.0]]))
    assert np.array_equal(a, [[1.0, 2.0]]) and a.dtype == np.float32
