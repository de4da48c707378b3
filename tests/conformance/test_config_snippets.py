"""The gpuemu.toml snippets of seeds 001, 003 and 004 load as written (each in a file of
its own, with the scripts it names), and their keys take effect."""

from __future__ import annotations

import pytest

from gpuemu.config import load_config
from gpuemu.dtypes import DType
from gpuemu.errors import ConfigError
from gpuemu.fuzz.cases import spec_for_seed
from gpuemu.fuzz.config import FuzzConfig
from gpuemu.tolerances import ToleranceConfig
from tests.conftest import write

# The FAQ's reference script reads its inputs as request["inputs"]["a"]; seed 004's op
# script as inputs["x"]. Ours do the same (only that matters for inferring input names).
MATMUL_REF = """
import json, sys
request = json.loads(sys.stdin.read())
a = request["inputs"]["a"]
b = request["inputs"]["b"]
"""
X_SCRIPT = """
import json, sys
payload = json.load(sys.stdin)
inputs = payload["inputs"]
x = inputs["x"]
"""


def load(tmp_path, toml: str, scripts: dict[str, str]):
    for name, text in scripts.items():
        write(tmp_path / name, text)
    return load_config(write(tmp_path / "gpuemu.toml", toml), user_config=None)


def test_faq_tolerance_snippets(tmp_path):
    config = load(tmp_path, """
        [validation.tolerances]
        float32 = { atol = 1e-5, rtol = 1e-5 }
        float16 = { atol = 1e-3, rtol = 1e-3 }

        [[ops]]
        name = "my_op"
        reference = "scripts/my_op_ref.py"

        [ops.tolerances]
        float32 = { atol = 1e-4, rtol = 1e-4 }
        """, {"scripts/my_op_ref.py": X_SCRIPT})
    op = config.op("my_op")
    assert op.tolerance_for("float32") == ToleranceConfig(1e-4, 1e-4)  # the op's override
    assert op.tolerance_for("float16") == ToleranceConfig(1e-3, 1e-3)  # the global one
    assert op.execution_mode == "client_side" and not op.runs_in_daemon  # seed 004's default
    assert op.input_names == () and op.case_inputs == ("x",)  # read from the reference


def test_faq_invariants_snippet_and_matmul_reference(tmp_path):
    config = load(tmp_path, """
        [[ops]]
        name = "softmax"
        reference = "scripts/softmax_ref.py"
        invariants = ["shape_preserved", "non_negative", "normalized"]

        [[ops]]
        name = "matmul"
        reference = "scripts/matmul_ref.py"
        """, {"scripts/softmax_ref.py": X_SCRIPT, "scripts/matmul_ref.py": MATMUL_REF})
    assert config.op("softmax").invariants == ("shape_preserved", "non_negative", "normalized")
    matmul = config.op("matmul")
    assert matmul.case_inputs == ("a", "b")
    spec = spec_for_seed(FuzzConfig.from_op(matmul), 98765, "matmul")
    assert list(spec.shapes) == ["a", "b"]


def test_op_without_nameable_inputs_fails_when_a_case_is_needed(tmp_path):
    config = load(tmp_path, """
        [[ops]]
        name = "opaque"
        reference = "ref.py"
        """, {"ref.py": "import sys\nfor name, t in __import__('json').load(sys.stdin)['inputs'].items(): pass\n"})
    op = config.op("opaque")  # loading is fine: a client names its own inputs
    with pytest.raises(ConfigError, match=r"op 'opaque' declares no input_names .* add "
                                          r"input_names = \[\"x\", \.\.\.\] to its \[\[ops\]\] entry"):
        spec_for_seed(FuzzConfig.from_op(op), 1, "opaque")


@pytest.mark.parametrize("mode", ["client_side", "daemon_orchestrated", "script_based"])
def test_seed_004_execution_mode_snippets(tmp_path, mode):
    script = 'op_script = "scripts/run_op.py"   # Required for script-based mode\n' \
        if mode == "script_based" else ""
    config = load(tmp_path, f"""
        [[ops]]
        name = "my_op"
        reference = "scripts/ref_op.py"
        {script}input_names = ["x"]
        execution_mode = "{mode}"
        """, {"scripts/ref_op.py": X_SCRIPT, "scripts/run_op.py": X_SCRIPT})
    op = config.op("my_op")
    assert op.execution_mode == mode and op.runs_in_daemon == (mode == "script_based")


def test_op_script_without_a_mode_is_script_based(tmp_path):
    """Projects written before execution_mode (examples/gpuemu.toml) keep working."""
    config = load(tmp_path, """
        [[ops]]
        name = "relu"
        reference = "ref.py"
        op_script = "op.py"
        """, {"ref.py": X_SCRIPT, "op.py": X_SCRIPT})
    assert config.op("relu").execution_mode == "script_based"


def test_client_side_op_with_an_op_script_is_not_run_by_the_daemon(tmp_path):
    config = load(tmp_path, """
        [[ops]]
        name = "relu"
        reference = "ref.py"
        op_script = "op.py"
        execution_mode = "client_side"
        """, {"ref.py": X_SCRIPT, "op.py": X_SCRIPT})
    assert not config.op("relu").runs_in_daemon


def test_script_based_without_op_script_names_the_op_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"ops\[0\] \(my_softmax\)\.execution_mode.*op_script is "
                                          r"not set; add op_script = "):
        load(tmp_path, """
            [[ops]]
            name = "my_softmax"
            reference = "ref.py"
            execution_mode = "script_based"
            """, {"ref.py": X_SCRIPT})


def test_seed_001_artifact_checks(tmp_path):
    config = load(tmp_path, """
        [[kernels]]
        name = "saxpy"
        ptx = "saxpy.ptx"

        [kernels.artifact_checks]
        max_registers = 64
        max_spills = 0
        max_local_memory_bytes = 0
        forbidden_instructions = ["LDG.E.SYS"]
        """, {"saxpy.ptx": "// placeholder\n"})
    checks = config.kernel("saxpy").artifact_checks
    assert (checks.max_registers, checks.max_spills, checks.max_local_memory_bytes) == (64, 0, 0)
    assert checks.forbidden_instructions == ("LDG.E.SYS",)


def test_dtype_keys_of_tolerance_tables_are_numpy_names(tmp_path):
    config = load(tmp_path, """
        [validation.tolerances]
        bfloat16 = { atol = 2e-2, rtol = 2e-2 }
        [[ops]]
        name = "o"
        reference = "ref.py"
        """, {"ref.py": X_SCRIPT})
    assert config.op("o").tolerance_for(DType.BFloat16) == ToleranceConfig(2e-2, 2e-2)
