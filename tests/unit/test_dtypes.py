"""DType: the 13 wire dtypes, their numpy mapping, and the spellings parse accepts."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from gpuemu.dtypes import DType
from gpuemu.errors import InvalidRequest

# name -> (itemsize, numpy dtype, short name, is_float, is_integer)
TABLE = {
    "Float16": (2, np.dtype("<f2"), "float16", True, False),
    "BFloat16": (2, np.dtype(ml_dtypes.bfloat16), "bfloat16", True, False),
    "Float32": (4, np.dtype("<f4"), "float32", True, False),
    "Float64": (8, np.dtype("<f8"), "float64", True, False),
    "Int8": (1, np.dtype("i1"), "int8", False, True),
    "Int16": (2, np.dtype("<i2"), "int16", False, True),
    "Int32": (4, np.dtype("<i4"), "int32", False, True),
    "Int64": (8, np.dtype("<i8"), "int64", False, True),
    "UInt8": (1, np.dtype("u1"), "uint8", False, True),
    "UInt16": (2, np.dtype("<u2"), "uint16", False, True),
    "UInt32": (4, np.dtype("<u4"), "uint32", False, True),
    "UInt64": (8, np.dtype("<u8"), "uint64", False, True),
    "Bool": (1, np.dtype("?"), "bool", False, False),
}


def test_the_enum_has_exactly_the_thirteen_spec_dtypes():
    assert [d.value for d in DType] == list(TABLE)


@pytest.mark.parametrize("name", TABLE)
def test_each_dtype_maps_to_its_numpy_dtype(name):
    itemsize, numpy_dtype, short, is_float, is_integer = TABLE[name]
    d = DType(name)
    assert d == name  # a StrEnum: the value is the wire spelling
    assert d.itemsize == itemsize
    assert d.numpy == numpy_dtype
    assert d.numpy.itemsize == itemsize
    assert d.short_name == short
    assert (d.is_float, d.is_integer) == (is_float, is_integer)


def test_bfloat16_is_a_real_bfloat16_not_float16():
    third = np.array([1 / 3])
    bf16 = third.astype(DType.BFloat16.numpy)
    f16 = third.astype(DType.Float16.numpy)
    assert DType.BFloat16.numpy != DType.Float16.numpy
    # bfloat16 keeps float32's 8 exponent bits and 7 mantissa bits; float16 has 5 and 10
    assert bf16.view(np.uint16)[0] == 0x3EAB
    assert f16.view(np.uint16)[0] == 0x3555
    assert float(bf16[0]) == 0.333984375
    assert float(f16[0]) == 0.333251953125
    # float16 overflows at 65504; bfloat16 reaches float32's range
    assert float(np.array([1e30]).astype(DType.BFloat16.numpy)[0]) == pytest.approx(1e30, rel=1e-2)
    with np.errstate(over="ignore"):
        assert np.isinf(np.array([1e30]).astype(DType.Float16.numpy)[0])


@pytest.mark.parametrize(
    "spelling, expected",
    [
        ("Float32", DType.Float32),
        ("float32", DType.Float32),
        ("FLOAT32", DType.Float32),
        ("bfloat16", DType.BFloat16),
        ("BFloat16", DType.BFloat16),
        ("bool", DType.Bool),
        ("uint64", DType.UInt64),
        ("UInt64", DType.UInt64),
        (DType.Int8, DType.Int8),
    ],
)
def test_parse_accepts_enum_and_numpy_spellings_in_any_case(spelling, expected):
    assert DType.parse(spelling) is expected


@pytest.mark.parametrize("d", list(DType))
def test_parse_round_trips_value_and_short_name(d):
    assert DType.parse(d.value) is d
    assert DType.parse(d.short_name) is d
    assert DType.parse(d.short_name.upper()) is d


@pytest.mark.parametrize("bad", ["float", "Float128", "", " float32", 3, None, 3.0])
def test_parse_rejects_unknown_names_naming_the_field(bad):
    expected = r"^inputs\.x\.dtype: unknown dtype .*; expected one of Float16, BFloat16, Float32"
    with pytest.raises(InvalidRequest, match=expected) as info:
        DType.parse(bad, field="inputs.x.dtype")
    assert info.value.field == "inputs.x.dtype"
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_default_field_is_dtype():
    with pytest.raises(InvalidRequest, match=r"^dtype: unknown dtype 'Float128'") as info:
        DType.parse("Float128")
    assert info.value.field == "dtype"


@pytest.mark.parametrize("d", list(DType))
def test_from_numpy_inverts_numpy(d):
    assert DType.from_numpy(d.numpy) is d
    assert DType.from_numpy(np.zeros(2, d.numpy).dtype) is d


@pytest.mark.parametrize(
    "spec, expected",
    [
        (">f4", DType.Float32),
        (">f2", DType.Float16),
        (">f8", DType.Float64),
        (">i2", DType.Int16),
        (">i8", DType.Int64),
        (">u4", DType.UInt32),
        ("=f4", DType.Float32),
        ("<i4", DType.Int32),
        (np.float32, DType.Float32),
        (ml_dtypes.bfloat16, DType.BFloat16),
        (float, DType.Float64),
        (bool, DType.Bool),
    ],
)
def test_from_numpy_accepts_either_byte_order_and_scalar_types(spec, expected):
    assert DType.from_numpy(spec) is expected


@pytest.mark.parametrize(
    "spec", [np.complex64, object, "U3", "datetime64[s]", ml_dtypes.float8_e4m3fn]
)
def test_from_numpy_rejects_unsupported_dtypes_naming_the_field(spec):
    expected = r"^inputs\.y: numpy dtype .* has no gpuemu DType; cast to one of .*bfloat16"
    with pytest.raises(InvalidRequest, match=expected) as info:
        DType.from_numpy(spec, field="inputs.y")
    assert info.value.field == "inputs.y"
