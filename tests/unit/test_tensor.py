"""TensorData <-> numpy: bit-exact round trips that keep the view's layout, and precise rejections.

Values are compared as bytes (``tobytes`` is the C-ordered copy's bytes, for 0-d arrays too), so
NaN payloads, -0.0 and bool bytes must survive exactly.
"""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuemu.dtypes import DType
from gpuemu.errors import InvalidRequest, InvalidTensorData
from gpuemu.tensor import (
    TensorData, c_strides, decode_tensor, from_numpy, numpy_bytes, plain, span, to_numpy,
)

FIELD = "inputs.x"
PROPERTY = settings(max_examples=15, deadline=None)


# ---------------------------------------------------------------- strategies


def _filled(draw, dtype: DType, shape) -> np.ndarray:
    """A C-contiguous array of arbitrary bit patterns (bools kept to 0/1)."""
    n = int(np.prod(shape, dtype=np.int64))
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    bits = np.frombuffer(raw, np.uint8).copy()
    if dtype is DType.Bool:
        bits &= 1
    return bits.view(dtype.numpy).reshape(shape)


def _dims(min_size=1, max_size=4, lo=1, hi=4):
    return st.lists(st.integers(lo, hi), min_size=min_size, max_size=max_size)


def _contiguous(draw, dtype):
    base = _filled(draw, dtype, draw(_dims()))
    return base, base


def _transposed(draw, dtype):
    base = _filled(draw, dtype, draw(_dims(min_size=2)))
    perm = draw(st.permutations(range(base.ndim)))
    return base, base.transpose(perm)


def _sliced(draw, dtype):
    base = _filled(draw, dtype, draw(_dims(hi=7)))
    index = tuple(
        slice(draw(st.integers(0, n - 1)), None, draw(st.integers(1, 3))) for n in base.shape
    )
    return base, base[index]


def _channels_last(draw, dtype):
    nchw = _filled(draw, dtype, draw(_dims(min_size=4, max_size=4)))
    base = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))  # NHWC memory ...
    return base, base.transpose(0, 3, 1, 2)  # ... seen as NCHW


def _zero_d(draw, dtype):
    base = _filled(draw, dtype, draw(_dims(max_size=2)))
    index = tuple(draw(st.integers(0, n - 1)) for n in base.shape)
    return base, base[index + (...,)]  # `...` keeps a 0-d view instead of a numpy scalar


def _empty(draw, dtype):
    shape = draw(_dims(lo=0, max_size=3).filter(lambda s: 0 in s))
    base = _filled(draw, dtype, shape)
    return base, base


LAYOUTS = {
    "contiguous": _contiguous,
    "transposed": _transposed,
    "sliced": _sliced,
    "channels_last": _channels_last,
    "zero_d": _zero_d,
    "empty": _empty,
}


@st.composite
def views(draw, layout: str, dtype: DType):
    """(base, view): ``view`` is a view into the C-contiguous array ``base``."""
    return LAYOUTS[layout](draw, dtype)


# ---------------------------------------------------------------- helpers


def elem_strides(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


def layout(a: np.ndarray) -> tuple[tuple[int, int], ...]:
    """(size, element stride) of the dims that have a layout: those of size > 1."""
    return tuple((n, s) for n, s in zip(a.shape, elem_strides(a)) if n > 1)


def assert_same_view(out: np.ndarray, src: np.ndarray, td: TensorData) -> None:
    assert out.dtype == DType.from_numpy(src.dtype).numpy
    assert out.shape == src.shape
    assert out.tobytes() == src.astype(out.dtype).tobytes()
    if src.size:  # an empty view has no layout worth keeping
        assert elem_strides(out) == elem_strides(src)
        assert out.flags.c_contiguous == src.flags.c_contiguous
    assert out.flags.writeable
    assert not np.shares_memory(out, np.frombuffer(td.data, np.uint8))
    assert not np.shares_memory(out, src)


def decode_routes(td: TensorData) -> dict[str, np.ndarray]:
    """Every way a TensorData reaches the decoder: in-process, typed JSON, parsed JSON, msgpack."""
    wire = msgspec.json.encode(td)
    return {
        "struct": to_numpy(td, FIELD),
        "json": msgspec.json.decode(wire, type=TensorData).to_numpy(FIELD),
        "dict": decode_tensor(json.loads(wire), FIELD),
        "msgpack": msgspec.msgpack.decode(msgspec.msgpack.encode(td), type=TensorData).to_numpy(),
    }


def by_hand(base: np.ndarray, view: np.ndarray) -> TensorData:
    """``view`` as ``base``'s bytes up to the view's last element plus an element offset."""
    item = base.itemsize
    offset = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // item
    end = offset + span(view.shape, elem_strides(view))
    return TensorData(
        shape=list(view.shape),
        dtype=DType.from_numpy(view.dtype).value,
        data=base.tobytes()[: end * item],
        strides=list(elem_strides(view)),
        offset=offset,
    )


CASES = [(layout, d) for layout in LAYOUTS for d in DType]
CASE_IDS = [f"{layout}-{d.short_name}" for layout, d in CASES]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("layout, dtype", CASES, ids=CASE_IDS)
@PROPERTY
@given(data=st.data())
def test_round_trip_is_bit_exact_and_keeps_the_layout(layout, dtype, data):
    _, view = data.draw(views(layout, dtype))
    td = from_numpy(view)
    assert td.dtype == dtype.value
    for out in decode_routes(td).values():
        assert_same_view(out, view, td)


@pytest.mark.parametrize("layout", [k for k in LAYOUTS if k != "empty"])
@PROPERTY
@given(data=st.data(), dtype=st.sampled_from(list(DType)))
def test_hand_built_offset_views_decode_to_the_view(layout, data, dtype):
    base, view = data.draw(views(layout, dtype))
    td = by_hand(base, view)
    out = decode_tensor(json.loads(msgspec.json.encode(td)), FIELD)
    assert_same_view(out, view, td)


@pytest.mark.parametrize("dtype", [d for d in DType if d.itemsize > 1 and d is not DType.BFloat16])
@PROPERTY
@given(data=st.data())
def test_big_endian_input_is_sent_little_endian(dtype, data):
    _, view = data.draw(views("transposed", dtype))
    big = view.astype(view.dtype.newbyteorder(">"))
    td = from_numpy(big)
    assert td.dtype == dtype.value
    out = to_numpy(td)
    assert out.dtype == dtype.numpy
    assert out.tobytes() == view.tobytes()
    # the byte swap re-lays out the copy; only strides of dims of size 1 (meaningless) may change
    assert layout(out) == layout(big)


@pytest.mark.parametrize(
    "dtype, bits",
    [
        # -0.0, quiet NaN with a payload, negative signalling NaN, -inf, smallest subnormal
        (DType.Float16, [0x8000, 0x7E01, 0xFC01, 0xFC00, 0x0001]),
        (DType.BFloat16, [0x8000, 0x7FC1, 0xFF81, 0xFF80, 0x0001]),
        (DType.Float32, [0x80000000, 0x7FC00001, 0xFF800001, 0xFF800000, 0x00000001]),
        (DType.Float64, [1 << 63, 0x7FF8000000000001, 0xFFF0000000000001, 0xFFF0 << 48, 1]),
    ],
)
def test_special_float_bit_patterns_survive(dtype, bits):
    uint = np.dtype(f"<u{dtype.itemsize}")
    src = np.array(bits, uint).view(dtype.numpy)[::-1][::2]  # strided too, to go through a copy
    td = from_numpy(src)
    for out in decode_routes(td).values():
        np.testing.assert_array_equal(out.view(uint), src.view(uint))


# ---------------------------------------------------------------- wire layout


def test_contiguous_views_omit_strides_and_offset_on_the_wire():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    td = from_numpy(x)
    assert td.strides is None and td.offset == 0
    assert json.loads(msgspec.json.encode(td)).keys() == {"shape", "dtype", "data"}


def test_strided_views_send_only_the_span_they_touch():
    x = np.arange(20, dtype=np.int16)[3::4]  # elements 3, 7, 11, 15, 19
    td = from_numpy(x)
    assert (td.shape, td.strides, td.offset) == ([5], [4], 0)
    assert np.frombuffer(td.data, np.int16).tolist() == list(range(3, 20))


def test_channels_last_strides_on_the_wire():
    n, c, h, w = 2, 3, 4, 5
    x = np.ascontiguousarray(np.zeros((n, c, h, w), np.float32).transpose(0, 2, 3, 1))
    td = from_numpy(x.transpose(0, 3, 1, 2))
    assert td.shape == [n, c, h, w]
    assert td.strides == [h * w * c, 1, w * c, c]
    assert len(td.data) == n * c * h * w * 4


def test_hand_built_offset_example():
    base = np.arange(10, dtype=np.float32)
    td = TensorData(shape=[3], dtype="float32", data=base[:9].tobytes(), strides=[2], offset=4)
    out = td.to_numpy()
    assert out.tolist() == [4.0, 6.0, 8.0]
    assert out.strides == (8,)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x[::-1],
        lambda x: x.reshape(3, 4)[::-1, ::2],
        lambda x: x.reshape(3, 4)[:, ::-1].T,
        lambda x: np.broadcast_to(x[:4], (3, 4)),
        lambda x: x.view(np.uint8)[1:-3].view(np.float32),  # misaligned
    ],
    ids=["reversed", "reversed-rows", "reversed-transposed", "broadcast", "misaligned"],
)
def test_negative_or_overlapping_strides_encode_as_a_contiguous_copy(make):
    src = make(np.arange(12, dtype=np.float32))
    td = from_numpy(src)
    assert td.strides is None
    out = to_numpy(td)
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, src)


def test_decoded_array_is_private_and_writable():
    x = np.arange(12, dtype=np.int32).reshape(3, 4).T
    td = from_numpy(x)
    out = to_numpy(td)
    out[...] = -1
    np.testing.assert_array_equal(to_numpy(td), x)  # the message bytes are untouched


@pytest.mark.parametrize("dtype", [d for d in DType if d is not DType.BFloat16], ids=str)
def test_every_spelling_of_a_c_order_tensor_decodes_alike(dtype):
    """The usual tensor takes a shorter path than one with strides; both give the same array."""
    src = np.arange(24).astype(dtype.numpy).reshape(2, 3, 4)
    for name in (dtype.value, dtype.short_name, dtype.value.upper()):
        for strides in (None, [12, 4, 1]):
            td = TensorData(shape=[2, 3, 4], dtype=name, data=src.tobytes(), strides=strides)
            out = to_numpy(td, FIELD)
            assert_same_view(out, src, td)
            assert out.dtype == dtype.numpy


def test_c_strides_and_span():
    assert c_strides([2, 3, 4]) == [12, 4, 1]
    assert c_strides([]) == []
    assert span([2, 3], [1, 2]) == 6
    assert span([3, 0], [1, 3]) == 0
    assert span([], []) == 1


def test_zero_strides_are_fine_on_dims_of_size_one():
    td = TensorData(shape=[1, 3], dtype="Int8", data=b"\x01\x02\x03", strides=[0, 1])
    assert to_numpy(td).tolist() == [[1, 2, 3]]


def test_tuple_shape_is_accepted_from_python_callers():
    td = TensorData(shape=(2, 2), dtype="UInt8", data=b"\x01\x02\x03\x04", strides=(1, 2))
    assert to_numpy(td).tolist() == [[1, 3], [2, 4]]


# ---------------------------------------------------------------- rejections

F32_2x3 = {"shape": [2, 3], "dtype": "Float32", "data": bytes(24)}

# name -> (TensorData fields overriding F32_2x3, field suffix, message pattern)
BAD = {
    "short data": ({"data": bytes(20)}, "data", r"holds 20 bytes .* cover exactly 24 bytes"),
    "long data": ({"data": bytes(28)}, "data", r"holds 28 bytes .* cover exactly 24 bytes"),
    "offset past the data": ({"offset": 1}, "data", r"offset 1 .* cover exactly 28 bytes"),
    "wrong dtype name": ({"dtype": "float"}, "dtype", r"unknown dtype 'float'; expected one of"),
    "dtype not a string": ({"dtype": 3}, "dtype", r"unknown dtype 3"),
    "negative stride": ({"strides": [-3, 1]}, "strides", r"non-negative integers, got \[-3, 1\]"),
    "overlapping strides": ({"strides": [1, 1]}, "strides", r"\[1, 1\] make elements .* overlap"),
    "zero stride": ({"strides": [0, 1]}, "strides", r"\[0, 1\] make elements .* overlap"),
    "too few strides": ({"strides": [1]}, "strides", r"has 1 entries but shape \[2, 3\] has 2"),
    "too many strides": ({"strides": [3, 1, 1]}, "strides", r"has 3 entries"),
    "negative offset": ({"offset": -1}, "offset", r"non-negative integer, got -1"),
    "float offset": ({"offset": 1.0}, "offset", r"non-negative integer, got 1\.0"),
    "negative dim": ({"shape": [2, -3]}, "shape", r"non-negative integers, got \[2, -3\]"),
    "float dim": ({"shape": [2.0, 3]}, "shape", r"non-negative integers, got \[2\.0, 3\]"),
    "string dim": ({"shape": ["2", 3]}, "shape", r"non-negative integers, got \['2', 3\]"),
    "bool dim": ({"shape": [True, 3]}, "shape", r"non-negative integers, got \[True, 3\]"),
    "shape not a list": ({"shape": 6}, "shape", r"non-negative integers, got 6"),
    "base64 text as data": ({"data": "AAAA"}, "data", r"expected bytes, got str"),
    "65 dims": (
        {"shape": [1] * 65, "data": bytes(4)}, "shape", r"numpy cannot build a view .*64",
    ),
    "empty view beyond 63 bits": (
        {"shape": [0, 5], "strides": [2**61, 2**61], "data": b""}, "shape", r"cannot build a view",
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_tensor_data_names_the_field(name):
    fields, suffix, pattern = BAD[name]
    td = TensorData(**(F32_2x3 | fields))
    field = f"{FIELD}.{suffix}"
    with pytest.raises(InvalidTensorData, match=rf"^{field}: .*{pattern}") as info:
        to_numpy(td, FIELD)
    assert info.value.field == field
    assert isinstance(info.value, InvalidRequest) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value, field, pattern",
    [
        ({"shape": [2], "dtype": "Float32", "data": "not base64!"}, "data", r"Invalid base64"),
        ({"shape": [2.5], "dtype": "Float32", "data": ""}, "shape[0]", r"Expected `int`"),
        ({"shape": [2], "dtype": "Float32", "data": "AAAAAAAAAAA=", "strides": "1"},
         "strides", r"Expected `array \| null`"),
        ({"dtype": "Float32", "data": ""}, "shape", r"Object missing required field `shape`"),
        ([1, 2], "", r"Expected `object`, got `array`"),
        ({"shape": [2], "dtype": "Float128", "data": "AAAAAAAAAAA="}, "dtype", r"unknown dtype"),
        ({"shape": [3], "dtype": "Float32", "data": "AAAAAAAAAAA="}, "data", r"holds 8 bytes"),
    ],
)
def test_decode_tensor_names_the_field_of_a_malformed_dict(value, field, pattern):
    where = f"{FIELD}.{field}" if field else FIELD
    with pytest.raises(InvalidTensorData, match=rf"^{_escape(where)}: {pattern}") as info:
        decode_tensor(value, FIELD)
    assert info.value.field == where


def _escape(field: str) -> str:
    return field.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")


_junk_ints = st.lists(
    st.one_of(st.integers(-2, 5), st.integers(2**60, 2**64), st.floats(0, 3), st.booleans()),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    shape=_junk_ints,
    strides=st.none() | _junk_ints,
    dtype=st.sampled_from([d.value for d in DType] + ["bool", "float", "Float128", ""]),
    data=st.binary(max_size=40),
    offset=st.integers(-1, 3) | st.integers(2**61, 2**64),
)
def test_any_tensor_data_decodes_or_raises_invalid_tensor_data(shape, strides, dtype, data, offset):
    td = TensorData(shape=shape, dtype=dtype, data=data, strides=strides, offset=offset)
    try:
        out = to_numpy(td, FIELD)
    except InvalidTensorData as exc:
        assert exc.field.startswith(f"{FIELD}.") and str(exc).startswith(f"{exc.field}: ")
    else:
        assert out.shape == tuple(shape) and out.flags.writeable


def test_keep_offset_sends_the_lead_so_a_misaligned_view_stays_misaligned():
    buf = np.arange(12, dtype=np.float32)
    view = buf[3:].reshape(3, 3)
    td = from_numpy(view, keep_offset=True)
    assert td.offset == 3 and len(td.data) == 12 * 4
    back = to_numpy(td)
    assert np.array_equal(back, view)
    assert back.ctypes.data % 16 == 12  # numpy allocates 16-byte aligned: 3 floats in
    assert from_numpy(view).offset == 0  # off by default: only the covered bytes
    assert from_numpy(np.arange(4.0), keep_offset=True).offset == 0  # no base, no lead


# -- the original client's byte strides, and plain tensors for the seeds' readers ----------


def numpy_style(arr: np.ndarray) -> TensorData:
    """What the original Python client sends: numpy's byte strides and arr.tobytes()."""
    return TensorData(shape=list(arr.shape), dtype=str(arr.dtype), data=arr.tobytes(),
                      strides=list(arr.strides))


@pytest.mark.parametrize("view", ["contiguous", "transposed", "sliced"])
def test_numpy_byte_strides_of_c_order_bytes_are_read_as_c_order(view):
    x = np.arange(128, dtype=np.float32).reshape(8, 16)
    arr = {"contiguous": x, "transposed": x.T, "sliced": x[:, ::3]}[view]
    np.testing.assert_array_equal(to_numpy(numpy_style(arr)), arr)


def test_strides_that_fit_as_element_strides_are_element_strides():
    # shape [3], strides [1] of int8: bytes and elements agree; [2] spans 5 bytes as elements
    assert not numpy_bytes([3], [2], 1, 5)
    td = TensorData(shape=[3], dtype="int8", data=bytes(range(5)), strides=[2])
    np.testing.assert_array_equal(to_numpy(td), [0, 2, 4])


def test_byte_strides_are_not_guessed_with_an_offset_or_a_wrong_byte_count():
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with pytest.raises(InvalidTensorData, match=r"x\.data: holds 32 bytes"):
        to_numpy(msgspec.structs.replace(numpy_style(x), offset=1), "x")
    with pytest.raises(InvalidTensorData, match=r"x\.data: holds 28 bytes"):
        to_numpy(msgspec.structs.replace(numpy_style(x), data=x.tobytes()[:-4]), "x")
    assert not numpy_bytes([2, 4], [16, 6], 4, 32)  # 6 is no multiple of the item size


@pytest.mark.parametrize("make", [lambda b: b.reshape(6, 4).T, lambda b: b[3:].reshape(3, 7),
                                  lambda b: b.reshape(4, 6)[:, 1::2], lambda b: b.reshape(4, 6)])
def test_plain_is_read_by_frombuffer_and_rebuilt_with_its_layout(make):
    arr = make(np.arange(24, dtype=np.float16))
    td = plain(arr)
    assert td.dtype == "float16" and td.strides == c_strides(arr.shape)
    wire = json.loads(msgspec.json.encode(td))
    seed_view = np.frombuffer(decode_tensor(wire | {"view_strides": None}, "t").tobytes(),
                              np.dtype(wire["dtype"])).reshape(wire["shape"])
    np.testing.assert_array_equal(seed_view, arr)
    back = decode_tensor(wire, "t")
    np.testing.assert_array_equal(back, arr)
    assert back.strides == arr.strides and back.flags.c_contiguous == arr.flags.c_contiguous
    expect_view = not arr.flags.c_contiguous or td.view_offset > 0
    assert td.view_strides == ([s // 2 for s in arr.strides] if expect_view else None)


def test_view_strides_with_non_contiguous_strides_are_refused():
    td = msgspec.structs.replace(plain(np.ones((2, 3), np.float32).T), strides=[1, 3])
    with pytest.raises(InvalidTensorData, match=r"t\.view_strides: a view is rebuilt from C-order"):
        to_numpy(td, "t")
