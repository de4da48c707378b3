"""JAX adapter: every JAX dtype gpuemu has (64-bit ones with x64 on), exact values."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from gpuemu.client import as_tensor_data
from gpuemu.dtypes import DType
from gpuemu.frameworks import UnsupportedTensor, adapter_for, get_adapter
from gpuemu.tensor import from_numpy, to_numpy

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

ADAPTER = get_adapter("jax")
DTYPES_32 = [DType.Float16, DType.BFloat16, DType.Float32, DType.Int8, DType.Int16, DType.Int32,
             DType.UInt8, DType.UInt16, DType.UInt32, DType.Bool]
DTYPES_64 = [DType.Float64, DType.Int64, DType.UInt64]


def random_values(dtype: DType, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random bit patterns (NaN payloads, infinities, subnormals included) of ``dtype``."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype is DType.Bool:
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    return rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype.numpy).reshape(shape)


# numpy layouts a case can arrive in; JAX has no strides, so only the values must survive
LAYOUTS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.T,
    "strided": lambda x: x[:, ::2],
    "offset": lambda x: x.reshape(-1)[3:].reshape(-1)[:8].reshape(2, 4),
    "scalar": lambda x: x[0, 0].reshape(()),
    "empty": lambda x: x[:0],
}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def round_trip(dtype: DType, layout: str) -> None:
    x = LAYOUTS[layout](random_values(dtype, (3, 6), seed=len(layout)))
    arr = ADAPTER.from_tensor_data(from_numpy(x))
    assert isinstance(arr, jax.Array) and np.dtype(arr.dtype) == dtype.numpy
    td = as_tensor_data(arr)
    assert td.dtype == dtype.value
    assert same_bits(to_numpy(td), x)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES_32)
def test_round_trip_keeps_every_bit(dtype, layout):
    round_trip(dtype, layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES_64)
def test_64_bit_dtypes_round_trip_with_x64_enabled(dtype, layout):
    with jax.enable_x64(True):
        round_trip(dtype, layout)


def test_bfloat16_is_ml_dtypes_bfloat16():
    x = jnp.asarray([3e38, 1e-39, 1.0078125], dtype=jnp.bfloat16)
    arr = to_numpy(as_tensor_data(x))
    assert arr.dtype == np.dtype(ml_dtypes.bfloat16)
    assert arr.astype(np.float64).tolist() == np.asarray(x).astype(np.float64).tolist()


@pytest.mark.parametrize("dtype", DTYPES_64)
def test_64_bit_input_without_x64_is_refused_not_truncated(dtype):
    with pytest.raises(UnsupportedTensor, match=f"{dtype.short_name} array into .*jax_enable_x64"):
        ADAPTER.from_numpy(np.zeros(3, dtype.numpy))


def test_traced_values_are_refused():
    seen = []

    @jax.jit
    def op(x):
        with pytest.raises(UnsupportedTensor, match="traced JAX value .* outside it"):
            as_tensor_data(x)
        seen.append(adapter_for(x).name)
        return x * 2

    assert np.asarray(op(jnp.ones(3))).tolist() == [2.0] * 3
    assert seen == ["jax"]


def test_unsupported_dtype_names_the_jax_dtype():
    with pytest.raises(UnsupportedTensor, match="jax dtype complex64 has no gpuemu DType"):
        as_tensor_data(jnp.zeros(2, jnp.complex64))


def test_big_endian_numpy_becomes_the_same_values():
    x = np.arange(6, dtype=">i4").reshape(2, 3)
    assert np.asarray(ADAPTER.from_numpy(x)).tolist() == x.tolist()
