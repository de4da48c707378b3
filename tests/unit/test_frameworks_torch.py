"""PyTorch adapter: every torch dtype gpuemu has, every layout torch can make, bit for bit."""

from __future__ import annotations

import warnings

import ml_dtypes
import msgspec
import numpy as np
import pytest

from gpuemu.client import as_tensor_data
from gpuemu.dtypes import DType
from gpuemu.frameworks import UnsupportedTensor, adapter_for, get_adapter
from gpuemu.tensor import to_numpy

torch = pytest.importorskip("torch")
from gpuemu.frameworks.torch_adapter import OFFSET_MODULUS  # noqa: E402  (needs torch)

ADAPTER = get_adapter("torch")

DTYPES = {
    torch.float16: DType.Float16, torch.bfloat16: DType.BFloat16, torch.float32: DType.Float32,
    torch.float64: DType.Float64, torch.int8: DType.Int8, torch.int16: DType.Int16,
    torch.int32: DType.Int32, torch.int64: DType.Int64, torch.uint8: DType.UInt8,
    torch.uint16: DType.UInt16, torch.uint32: DType.UInt32, torch.uint64: DType.UInt64,
    torch.bool: DType.Bool,
}
BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def random_storage(dtype: torch.dtype, n: int, seed: int) -> torch.Tensor:
    """``n`` elements of random bits: NaNs with payloads, infinities, subnormals, -0.0."""
    g = torch.Generator().manual_seed(seed)
    if dtype is torch.bool:
        return torch.randint(0, 2, (n,), generator=g, dtype=torch.uint8).view(torch.bool)
    size = torch.empty((), dtype=dtype).element_size()
    return torch.randint(0, 256, (n * size,), generator=g, dtype=torch.uint8).view(dtype)


# every layout torch makes, as a view of a 240-element storage
LAYOUTS = {
    "contiguous": lambda s: s[:120].view(4, 5, 6),
    "transposed": lambda s: s[:120].view(4, 5, 6).transpose(1, 2),
    "channels_last": lambda s: s.view(2, 3, 5, 8).contiguous(memory_format=torch.channels_last),
    "sliced": lambda s: s[:120].view(4, 5, 6)[:, ::2, 1:5],
    "offset": lambda s: s[7:67].view(6, 10),
    "row_of_batch": lambda s: s.view(24, 10)[23],
    "size1_dims": lambda s: s.as_strided((3, 1, 4), (4, 99, 1), 5),
    "scalar": lambda s: s[11],
    "empty": lambda s: s[:0].view(0, 3),
    "expanded": lambda s: s[:6].view(2, 1, 3).expand(2, 4, 3),
}


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(BITS[t.element_size()])


def expected_offset(t: torch.Tensor) -> int:
    n = t.numel() and 1 + sum((d - 1) * s for d, s in zip(t.shape, t.stride()))
    start = t.storage_offset()
    if not n:
        return 0
    return start if start <= max(n, OFFSET_MODULUS) else OFFSET_MODULUS + start % OFFSET_MODULUS


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip_through_tensor_data_keeps_bits_strides_and_offset(dtype, layout):
    t = LAYOUTS[layout](random_storage(dtype, 240, seed=list(LAYOUTS).index(layout)))
    td = ADAPTER.to_tensor_data(t)
    assert td.dtype == DTYPES[dtype].value
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(td), type=type(td))  # as it travels
    back = ADAPTER.from_tensor_data(wire)
    assert back.dtype == dtype and back.shape == t.shape
    assert torch.equal(bits(back), bits(t))
    if layout == "expanded":  # overlapping memory cannot travel: a contiguous copy does
        assert back.is_contiguous()
        return
    assert back.stride() == t.stride()
    assert back.storage_offset() == expected_offset(t)
    assert back.is_contiguous() == t.is_contiguous()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_numpy_view_has_the_gpuemu_dtype_and_element_strides(dtype, layout):
    t = LAYOUTS[layout](random_storage(dtype, 240, seed=3))
    arr = ADAPTER.to_numpy(t)
    assert arr.dtype == DTYPES[dtype].numpy and arr.shape == tuple(t.shape)
    assert [s // arr.itemsize for s in arr.strides] == list(t.stride())
    back = ADAPTER.from_numpy(arr)
    assert torch.equal(bits(back), bits(t)) and back.stride() == t.stride()


def test_bfloat16_is_exact_not_a_float16_proxy():
    # 3e38 and 1e-39 do not exist in float16; the last two differ only in bfloat16's low bits
    t = torch.tensor([3e38, 1e-39, -0.0, float("inf"), 1.0078125, 1.015625], dtype=torch.bfloat16)
    arr = to_numpy(ADAPTER.to_tensor_data(t))
    assert arr.dtype == np.dtype(ml_dtypes.bfloat16)
    assert arr.view(np.int16).tolist() == t.view(torch.int16).tolist()
    assert arr.astype(np.float64).tolist() == t.double().tolist()
    assert np.signbit(arr[2])


def test_nan_payloads_survive():
    t = torch.tensor([0x7FC00001, 0x7F800123, -0x400001], dtype=torch.int32).view(torch.float32)
    back = ADAPTER.from_tensor_data(ADAPTER.to_tensor_data(t))
    assert back.view(torch.int32).tolist() == [0x7FC00001, 0x7F800123, -0x400001]


def test_large_storage_offset_keeps_its_alignment_without_shipping_the_prefix():
    big = torch.arange(100_000, dtype=torch.float32)
    row = big.view(1000, 100)[999]
    td = ADAPTER.to_tensor_data(row)
    assert td.offset == OFFSET_MODULUS + 99_900 % OFFSET_MODULUS
    assert len(td.data) == (td.offset + 100) * 4
    back = ADAPTER.from_tensor_data(td)
    assert back.storage_offset() == td.offset and torch.equal(back, row)


def test_grad_tensors_and_parameters_convert():
    p = torch.nn.Parameter(torch.ones(2, 3))
    y = (p * 2).t()
    assert adapter_for(p) is ADAPTER and adapter_for(y) is ADAPTER
    assert to_numpy(as_tensor_data(y)).tolist() == [[2.0, 2.0]] * 3
    assert as_tensor_data(y).strides == [1, 3]


def test_numpy_input_layout_and_offset_reach_torch():
    buf = np.arange(40, dtype=np.float32)
    x = buf[3:39].reshape(4, 9)[:, 1::2]  # offset 4, strides (9, 2)
    t = ADAPTER.from_numpy(x)
    assert (t.storage_offset(), t.stride()) == (4, (9, 2))
    assert np.array_equal(t.numpy(), x)


@pytest.mark.parametrize("make", [
    lambda: np.arange(12, dtype=np.float32).reshape(3, 4)[::-1],  # negative stride
    lambda: np.frombuffer(bytes(range(16)), dtype=np.int32).reshape(2, 2),  # read-only
    lambda: np.arange(6, dtype=">f8").reshape(2, 3),  # big-endian
    lambda: np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
], ids=["negative", "readonly", "bigendian", "fortran"])
def test_numpy_layouts_torch_cannot_share_still_convert_exactly(make):
    x = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's "non-writable array" warning
        t = ADAPTER.from_numpy(x)
    assert t.numpy().tolist() == x.tolist()
    if x.strides[0] > 0:
        assert [s // x.itemsize for s in x.strides] == list(t.stride())


@pytest.mark.parametrize("value, match", [
    (lambda: torch.zeros(2, dtype=torch.complex64), "torch dtype torch.complex64 has no gpuemu"),
    (lambda: torch.zeros(2, dtype=torch.float8_e4m3fn), "float8_e4m3fn has no gpuemu DType; cast"),
    (lambda: torch.zeros(3).to_sparse(), "layout torch.sparse_coo .* call .to_dense"),
    (lambda: torch.empty(3, device="meta"), "'meta' device has no data"),
])
def test_unconvertible_tensors_are_refused_with_the_fix(value, match):
    with pytest.raises(UnsupportedTensor, match=match):
        as_tensor_data(value())
    with pytest.raises(TypeError):  # UnsupportedTensor is also a TypeError
        ADAPTER.to_numpy(value())
