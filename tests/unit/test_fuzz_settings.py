"""One fuzz-settings model (gpuemu.fuzz.settings): read by one validator from gpuemu.toml and
from a request, its wire form an all-optional overlay; op schemas in either layout."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest

from gpuemu.config import parse_config
from gpuemu.config_schema import Where
from gpuemu.errors import ConfigError, InvalidRequest
from gpuemu.fuzz import FuzzConfig, spec_for_seed
from gpuemu.fuzz.settings import (NOT_ON_THE_WIRE, WIRE_ONLY, FuzzConfigPayload, FuzzSettings,
                                  read_fuzz)

OURS = """
[ops.schema]
output = ["M", "N"]
[ops.schema.dims]
M = [1, 7, 64]
K = [16, 3]
N = [3, 5]
[ops.schema.inputs]
a = ["M", "K"]
b = ["K", "N", 1]
"""
ORIGINAL = """
[ops.schema]
name = "matmul"
dims = [{ name = "M", candidates = [1, 7, 64] }, { name = "K", candidates = [16, 3] },
        { name = "N", candidates = [3, 5] }]
inputs = [{ name = "a", dims = ["M", "K"] }, { name = "b", dims = ["K", "N", 1] }]
output = { name = "out", dims = ["M", "N"] }
"""
ORIGINAL_TABLES = """
[ops.schema]
output = { name = "out", dims = ["M", "N"] }
[[ops.schema.dims]]
name = "M"
candidates = [1, 7, 64]
[[ops.schema.dims]]
name = "K"
candidates = [16, 3]
[[ops.schema.dims]]
name = "N"
candidates = [3, 5]
[[ops.schema.inputs]]
name = "a"
dims = ["M", "K"]
[[ops.schema.inputs]]
name = "b"
dims = ["K", "N", 1]
"""


def op_with(tmp_path, schema: str):
    (tmp_path / "ref.py").write_text("")
    text = ('[[ops]]\nname = "matmul"\nreference = "ref.py"\n[ops.fuzz]\n'
            'layouts = ["contiguous", "transposed"]\ndtypes = ["float32", "float16"]\n' + schema)
    return parse_config(text, tmp_path / "gpuemu.toml").op("matmul")


@pytest.mark.parametrize("layout", [ORIGINAL, ORIGINAL_TABLES])
def test_the_originals_schema_layout_fuzzes_the_same_cases_as_ours(tmp_path, layout):
    ours, theirs = op_with(tmp_path, OURS), op_with(tmp_path, layout)
    assert theirs.schema.name == ("matmul" if layout is ORIGINAL else None)  # kept, for messages
    assert replace(theirs.schema, name=None) == ours.schema and theirs.input_names == ("a", "b")
    a, b = FuzzConfig.from_op(ours), FuzzConfig.from_op(theirs)
    assert [spec_for_seed(a, s) for s in range(40)] == [spec_for_seed(b, s) for s in range(40)]


@pytest.mark.parametrize("schema, match", [
    ('[ops.schema]\ninputs = [{ name = "a", dims = ["M"] }, { name = "a", dims = [2] }]\n'
     'dims = [{ name = "M", candidates = [2] }]\n', r"schema\.inputs\[1\]\.name: 'a' is listed twice"),
    ('[ops.schema]\ninputs = [{ dims = [2] }]\n', r"schema\.inputs\[0\]: missing required key 'name'"),
    ('[ops.schema]\ninputs = { a = ["M"] }\ndims = [{ name = "M", candidates = [] }]\n',
     r"schema\.dims\[0\]\.candidates: expected a non-empty array"),
    ('[ops.schema]\ninputs = { a = [2] }\noutput = { name = "out" }\n',
     r"schema\.output: missing required key 'dims'"),
])
def test_errors_in_the_originals_layout_name_the_entry(tmp_path, schema, match):
    with pytest.raises(ConfigError, match=match):
        op_with(tmp_path, schema)


def test_the_wire_form_is_an_all_optional_overlay_of_the_settings():
    settings = {f.name for f in msgspec.structs.fields(FuzzSettings)}
    wire = {f.name: f for f in msgspec.structs.fields(FuzzConfigPayload)}
    assert settings - set(NOT_ON_THE_WIRE) <= set(wire)
    assert set(wire) - settings == set(WIRE_ONLY)
    assert all(f.default is None for f in wire.values())


def test_one_validator_answers_in_the_language_of_its_source():
    message = r"fuzz_config\.max_dims: expected an integer >= 1, got 0"
    with pytest.raises(InvalidRequest, match=f"^{message}") as info:
        read_fuzz({"max_dims": 0}, Where.of_request("fuzz_config"))
    assert info.value.field == "fuzz_config.max_dims"
    with pytest.raises(ConfigError, match=r"gpuemu\.toml: ops\.fuzz\.max_dims: expected an integer >= 1"):
        read_fuzz({"max_dims": 0}, Where("gpuemu.toml", Where.of_request("x").base, "ops.fuzz"))


def test_the_originals_pascal_case_layouts_are_accepted_on_the_wire():
    config = FuzzConfig().with_overrides(FuzzConfigPayload(layouts=["Contiguous", "Strided"],
                                                           distributions=["Normal"]))
    assert (config.layouts, config.distributions) == (("contiguous", "strided"), ("normal",))


def test_the_fuzz_domain_and_config_import_no_wire_layer():
    """protocol imports the fuzz settings, never the reverse (the cycle protocol -> reproducer
    -> fuzz.cases -> fuzz.config -> protocol is gone)."""
    import subprocess
    import sys

    code = ("import sys, gpuemu.fuzz.cases, gpuemu.fuzz.config, gpuemu.config; "
            "print('gpuemu.protocol' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
