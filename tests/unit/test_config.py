"""gpuemu.toml: both spellings, the three layers, discovery, and one test per kind of mistake."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gpuemu.config import (
    KNOWN_INVARIANTS, ArtifactChecks, CiSettings, DaemonSettings, DimSpec, FuzzSettings, Policies,
    ProjectConfig, ProjectInfo, ValidationSettings, find_config, load_config, parse_config,
)
from gpuemu.dtypes import DType
from gpuemu.errors import ConfigError, KernelNotFound, OpNotFound
from gpuemu.tolerances import ToleranceConfig

SOFTMAX_REFERENCE = """\
def reference(inputs, axis=-1):
    import numpy as np
    x = inputs["x"].astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(inputs["x"].dtype)
"""
SOFTMAX_OP = """\
def run(inputs, axis=-1):
    import numpy as np
    x = inputs["x"]
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
"""
MATMUL_REFERENCE = """\
def reference(inputs):
    return inputs["a"] @ inputs["b"]
"""

FAQ_SPELLING = """\
[[ops]]
name = "softmax"
reference = "refs/softmax_ref.py"
op_script = "ops/softmax_op.py"
input_names = ["x"]
invariants = ["non_negative", "normalized"]
[ops.tolerances]
float32 = { atol = 1e-5, rtol = 1e-5 }
bfloat16 = { atol = 2e-2, rtol = 1e-2 }
"""
SHIPPED_SPELLING = """\
[[ops]]
name = "softmax"
reference = "refs/softmax_ref.py"
op_script = "ops/softmax_op.py"
input_names = ["x"]
[ops.invariants]
non_negative = true
normalized = true
symmetric = false
[ops.tolerances]
Float32 = 1e-5
"""


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Every test gets an empty GPUEMU_HOME, so the real user config never leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("GPUEMU_HOME", str(home))
    return home


@pytest.fixture
def project(tmp_path) -> Path:
    """A project directory with real reference and op scripts."""
    root = tmp_path / "proj"
    (root / "refs").mkdir(parents=True)
    (root / "ops").mkdir()
    (root / "refs" / "softmax_ref.py").write_text(SOFTMAX_REFERENCE)
    (root / "refs" / "matmul_ref.py").write_text(MATMUL_REFERENCE)
    (root / "ops" / "softmax_op.py").write_text(SOFTMAX_OP)
    return root


def write(root: Path, text: str, name: str = "gpuemu.toml") -> Path:
    path = root / name
    path.write_text(textwrap.dedent(text))
    return path


def load(root: Path, text: str, **kwargs) -> ProjectConfig:
    return load_config(write(root, text), **kwargs)


def op_toml(extra: str = "", *, head: str = "") -> str:
    """One softmax op; ``extra`` lines go inside its table, ``head`` before it."""
    return head + '[[ops]]\nname = "softmax"\nreference = "refs/softmax_ref.py"\ninput_names = ["x"]\n' + extra


# -- both spellings --------------------------------------------------------------------------


def test_faq_spelling(project):
    op = load(project, FAQ_SPELLING).op("softmax")
    assert op.reference == project / "refs" / "softmax_ref.py"
    assert op.op_script == project / "ops" / "softmax_op.py"
    assert op.execution_mode == "script_based"
    assert op.invariants == ("non_negative", "normalized")
    assert op.tolerances == {DType.Float32: ToleranceConfig(1e-5, 1e-5),
                             DType.BFloat16: ToleranceConfig(2e-2, 1e-2)}


def test_shipped_spelling_means_the_same_checks(project):
    shipped = load(project, SHIPPED_SPELLING).op("softmax")
    faq = load(project, FAQ_SPELLING).op("softmax")
    assert shipped.invariants == faq.invariants  # the false entry is dropped
    assert shipped.tolerances == {DType.Float32: ToleranceConfig(1e-5, 0.0)}  # bare number: atol, rtol 0


def test_shipped_file_sections(project):
    cfg = load(project, """
        [project]
        name = "my-kernels"
        version = "0.3.0"
        framework = "torch"

        [validation]
        dtypes = ["float32", "Float16", "bfloat16"]
        check_nan = true
        check_inf = false
        seed = 18446744073709551615

        [[kernels]]
        name = "softmax_kernel"
        source = "kernels/softmax.cu"
        [kernels.artifact_checks]
        max_registers = 64
        max_spills = 0
        max_local_memory = 0
        required_patterns = ["ld\\\\.global"]
        forbidden_patterns = ["st\\\\.local"]

        [policies]
        fail_on_regression = true
        warn_threshold = 0.05

        [ci]
        quick_dtypes = ["float32"]
        parallel_jobs = 4
    """)
    assert cfg.project == ProjectInfo("my-kernels", "0.3.0", "pytorch")
    assert cfg.validation == ValidationSettings(
        dtypes=(DType.Float32, DType.Float16, DType.BFloat16), check_nan=True, check_inf=False,
        seed=2**64 - 1)
    kernel = cfg.kernel("softmax_kernel")
    assert kernel.source == project / "kernels" / "softmax.cu" and kernel.ptx is None
    assert kernel.artifact_checks == ArtifactChecks(
        max_local_memory_bytes=0, required_patterns=(r"ld\.global",), forbidden_patterns=(r"st\.local",))
    assert cfg.policies == Policies(fail_on_regression=True, warn_threshold=0.05)
    assert cfg.ci == CiSettings(quick_dtypes=(DType.Float32,), parallel_jobs=4)


def test_defaults_for_a_minimal_file(project):
    cfg = load(project, op_toml())
    assert (cfg.project, cfg.validation, cfg.policies, cfg.ci, cfg.daemon) == (
        ProjectInfo(), ValidationSettings(), Policies(), CiSettings(), DaemonSettings())
    assert cfg.path == project / "gpuemu.toml" and cfg.root == project and cfg.kernels == {}
    op = cfg.op("softmax")
    assert (op.execution_mode, op.op_script, op.op_type, op.timeout_s) == ("client_side", None, "elementwise", 60.0)
    assert (op.dtypes, op.check_nan, op.check_inf, op.fuzz) == ((DType.Float32,), True, True, FuzzSettings())
    assert op.schema is None and op.kwargs == {} and op.invariants == ()


def test_ops_inherit_validation_and_may_override_it(project):
    cfg = load(project, op_toml(head='[validation]\ndtypes = ["float16"]\ncheck_nan = false\n')
               + '\n[[ops]]\nname = "mine"\nreference = "refs/softmax_ref.py"\ninput_names = ["x"]\n'
                 'dtypes = ["float64"]\ncheck_nan = true\ncheck_inf = false\n')
    assert (cfg.op("softmax").dtypes, cfg.op("softmax").check_nan) == ((DType.Float16,), False)
    mine = cfg.op("mine")
    assert (mine.dtypes, mine.check_nan, mine.check_inf) == ((DType.Float64,), True, False)


def test_tolerance_for_prefers_op_then_global_then_dtype_default(project):
    cfg = load(project, op_toml('tolerances = { float32 = 1e-3 }\n',
                                head='[validation.tolerances]\nfloat32 = 1.0\nFloat16 = { atol = 0.5 }\n'))
    op = cfg.op("softmax")
    assert op.tolerance_for(DType.Float32) == ToleranceConfig(1e-3, 0.0)
    assert op.tolerance_for("float16") == ToleranceConfig(0.5, 0.0)  # a missing rtol is 0
    assert op.tolerance_for("bfloat16") == ToleranceConfig.for_dtype(DType.BFloat16)
    assert op.tolerance_for("int32") == ToleranceConfig(0.0, 0.0)


def test_fuzz_schema_kwargs_and_reduction(project):
    op = load(project, """
        [[ops]]
        name = "matmul"
        reference = "refs/matmul_ref.py"
        op_type = "matmul"
        kwargs = { transpose = false, scale = 0.5, tags = ["a", 1] }
        [ops.fuzz]
        iterations = 7
        seed = 42
        dtypes = ["float16"]
        layouts = ["transposed", "strided"]
        distributions = ["normal", "nan_injected"]
        value_range = [-1, 2.5]
        edge_case_prob = 0
        fail_fast = true
        [ops.schema]
        output = ["M", "N"]
        [ops.schema.dims]
        M = [1, 7, 64]
        K = [16]
        N = [3, 5]
        [ops.schema.inputs]
        a = ["M", "K"]
        b = ["K", "N", 1]

        [[ops]]
        name = "row_sum"
        reference = "refs/softmax_ref.py"
        input_names = ["x"]
        op_type = "reduction"
        reduce_dims = [-1]
    """)
    matmul = op.op("matmul")
    assert matmul.input_names == ("a", "b")  # taken from the schema
    assert matmul.schema.dims == (DimSpec("M", (1, 7, 64)), DimSpec("K", (16,)), DimSpec("N", (3, 5)))
    assert matmul.schema.inputs == {"a": ("M", "K"), "b": ("K", "N", 1)}
    assert matmul.schema.output == ("M", "N")
    assert matmul.kwargs == {"transpose": False, "scale": 0.5, "tags": ["a", 1]}
    assert matmul.fuzz == FuzzSettings(
        iterations=7, seed=42, dtypes=(DType.Float16,), layouts=("transposed", "strided"),
        distributions=("normal", "nan_injected"), value_range=(-1.0, 2.5), edge_case_prob=0.0, fail_fast=True)
    assert op.op("row_sum").reduce_dims == (-1,)


def test_schema_inputs_follow_input_names_order(project):
    op = load(project, """
        [[ops]]
        name = "add"
        reference = "refs/softmax_ref.py"
        input_names = ["b", "a"]
        [ops.schema.dims]
        N = [4]
        [ops.schema.inputs]
        a = ["N"]
        b = [2, "N"]
    """).op("add")
    assert op.input_names == ("b", "a")
    assert list(op.schema.inputs) == ["b", "a"]  # input k is input_names[k]
    assert op.schema.output is None


def test_table_form_of_ops(project):
    cfg = load(project, """
        [ops.softmax]
        reference = "refs/softmax_ref.py"
        input_names = ["x"]

        [ops.matmul]
        name = "matmul"
        reference = "refs/matmul_ref.py"
        input_names = ["a", "b"]
    """)
    assert list(cfg.ops) == ["softmax", "matmul"]
    assert cfg.op("matmul").reference == project / "refs" / "matmul_ref.py"


def test_relative_paths_start_at_the_file_not_the_working_directory(project, tmp_path, monkeypatch):
    write(project, op_toml(head='[daemon]\nsocket = "run/gpuemu.sock"\n'))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("proj/gpuemu.toml"))
    assert cfg.op("softmax").reference == project / "refs" / "softmax_ref.py"
    assert cfg.daemon.socket == project / "run" / "gpuemu.sock"
    assert load_config(Path("proj")).path == project / "gpuemu.toml"  # a directory means its gpuemu.toml


def test_parse_config_runs_the_same_checks(project):
    cfg = parse_config(op_toml(), project / "gpuemu.toml")
    assert cfg.op("softmax").reference == project / "refs" / "softmax_ref.py"
    with pytest.raises(ConfigError, match=r"ops\[0\] \(softmax\)\.timeout_s: expected a finite number > 0"):
        parse_config(op_toml("timeout_s = 0\n"), project / "gpuemu.toml")


def test_lookup_errors_list_configured_names(project):
    cfg = load(project, op_toml('\n[[kernels]]\nname = "k1"\nptx = "k1.ptx"\n'))
    with pytest.raises(OpNotFound, match=r"op 'softmx' is not configured .*did you mean 'softmax'.*softmax"):
        cfg.op("softmx")
    with pytest.raises(KernelNotFound, match=r"kernel 'k2' .*configured kernels: k1"):
        cfg.kernel("k2")


# -- finding the file ------------------------------------------------------------------------


def test_find_config_walks_up_from_the_start(project):
    deep = project / "src" / "a" / "b"
    deep.mkdir(parents=True)
    write(project, op_toml())
    assert find_config(deep) == project / "gpuemu.toml"
    assert find_config(project / "refs" / "softmax_ref.py") == project / "gpuemu.toml"
    nested = write(project / "src", op_toml().replace("refs/", "../refs/"))
    assert find_config(deep) == nested  # the nearest wins


def test_find_config_returns_none_without_a_file(tmp_path):
    assert find_config(tmp_path) is None


def test_load_config_searches_the_working_directory(project, monkeypatch):
    write(project, op_toml())
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    assert find_config() == project / "gpuemu.toml"
    assert "softmax" in load_config().ops


def test_load_config_without_a_file_says_how_to_create_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"no gpuemu\.toml in {re.escape(str(tmp_path))} or any parent.*"
                                          r"run `gpuemu init` to create one"):
        load_config()
    with pytest.raises(ConfigError, match=r"missing\.toml: file not found; run `gpuemu init`"):
        load_config(tmp_path / "missing.toml")


# -- layers ------------------------------------------------------------------------------------


USER_CONFIG = """\
[validation]
seed = 1
check_inf = false
tolerances = { float16 = 0.1, float32 = 0.2 }
[daemon]
workers = 3
socket = "sockets/user.sock"
[ci]
parallel_jobs = 2
iterations = 500
[policies]
regression_factor = 4.0
"""


def test_layers_merge_key_by_key(project, private_home):
    write(private_home, USER_CONFIG, "config.toml")
    path = write(project, op_toml(head="""
        [validation]
        seed = 2
        tolerances = { float32 = 0.3 }
        [ci]
        parallel_jobs = 8
    """))
    cfg = load_config(path, overrides={"validation": {"seed": 3}, "daemon": {"workers": 16},
                                       "policies": {"fail_on_regression": True}})
    assert cfg.validation.seed == 3  # overrides > project > user
    assert cfg.validation.check_inf is False  # only the user set it
    assert cfg.validation.tolerances == {DType.Float16: ToleranceConfig(0.1, 0.0),  # user
                                         DType.Float32: ToleranceConfig(0.3, 0.0)}  # project wins
    assert cfg.ci == CiSettings(parallel_jobs=8, iterations=500)
    assert cfg.daemon == DaemonSettings(workers=16, socket=private_home / "sockets" / "user.sock")
    assert cfg.policies == Policies(fail_on_regression=True, regression_factor=4.0)
    assert cfg.op("softmax").check_inf is False  # ops see the merged [validation]


def test_user_config_can_be_skipped_or_named(project, private_home, tmp_path):
    write(private_home, USER_CONFIG, "config.toml")
    path = write(project, op_toml())
    assert load_config(path, user_config=None).validation.seed is None
    other = write(tmp_path, "[validation]\nseed = 99\n", "other.toml")
    assert load_config(path, user_config=other).validation.seed == 99
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found; create it or pass user_config=None"):
        load_config(path, user_config=tmp_path / "nope.toml")


@pytest.mark.parametrize("section", ["[project]\nname = 'x'\n", op_toml(), '[[kernels]]\nname = "k"\n'])
def test_user_config_holds_only_user_sections(project, private_home, section):
    write(private_home, section, "config.toml")
    with pytest.raises(ConfigError, match=r"config\.toml: (project|ops|kernels): \[\w+\] does not belong in "
                                          r"the user config; only \[validation\], \[daemon\], \[ci\], \[policies\] do"):
        load(project, op_toml())


def test_overrides_are_checked_like_a_file(project):
    path = write(project, op_toml())
    with pytest.raises(ConfigError, match=r"^overrides: ci\.parallel_jobs: expected an integer >= 0, got -1"):
        load_config(path, overrides={"ci": {"parallel_jobs": -1}})
    with pytest.raises(ConfigError, match=r"^overrides: ops: \[ops\] does not belong in overrides"):
        load_config(path, overrides={"ops": []})
    tuples_ok = load_config(path, overrides={"validation": {"dtypes": (DType.Float64, "float16")}})
    assert tuples_ok.validation.dtypes == (DType.Float64, DType.Float16)


# -- errors ------------------------------------------------------------------------------------


def test_error_names_file_key_value_and_expectation(project, monkeypatch):
    (project / "examples").mkdir()
    (project / "examples" / "ref.py").write_text(SOFTMAX_REFERENCE)
    monkeypatch.chdir(project)
    text = """
        [[ops]]
        name = "relu"
        reference = "ref.py"
        input_names = ["x"]
        [[ops]]
        name = "softmax"
        reference = "ref.py"
        input_names = ["x"]
        tolerances = { float32 = { atol = -1e-5, rtol = 1e-5 } }
    """
    with pytest.raises(ConfigError) as info:
        load(project / "examples", text)
    assert str(info.value) == ("examples/gpuemu.toml: ops[1] (softmax).tolerances.float32.atol: "
                               "expected a finite number >= 0.0, got -1e-05 (float)")


def test_toml_syntax_error_keeps_line_and_column(project):
    with pytest.raises(ConfigError, match=r"gpuemu\.toml: invalid TOML: .*\(at line 3, column \d+\)"):
        load(project, '[project]\nname = "x"\nversion = \n')


def test_missing_script_is_caught_at_load_time(project):
    with pytest.raises(ConfigError, match=r"ops\[0\] \(softmax\)\.op_script: file 'ops/sofmax_op\.py' does not "
                                          rf"exist \(looked for {re.escape(str(project))}/ops/sofmax_op\.py\)"):
        load(project, op_toml('op_script = "ops/sofmax_op.py"\n'))
    with pytest.raises(ConfigError, match=r"ops\[0\] \(softmax\)\.reference: file 'refs' does not exist"):
        load(project, op_toml().replace('"refs/softmax_ref.py"', '"refs"'))  # a directory is not a script


@pytest.mark.parametrize("extra, match", [
    ('tolerance = 1e-3\n', r"ops\[0\] \(softmax\)\.tolerance: unknown key \(did you mean 'tolerances'\?\)"),
    ('[ops.fuzz]\niteration = 5\n', r"\.fuzz\.iteration: unknown key \(did you mean 'iterations'\?\)"),
    ('[ops.schema]\ninputs = { x = [] }\nouput = []\n', r"\.schema\.ouput: unknown key \(did you mean 'output'"),
    ('tolerances = { float32 = { atol = 1, rtl = 2 } }\n', r"float32\.rtl: unknown key \(did you mean 'rtol'"),
])
def test_unknown_keys_in_an_op(project, extra, match):
    with pytest.raises(ConfigError, match=match):
        load(project, op_toml(extra))


@pytest.mark.parametrize("text, match", [
    ("[validations]\nseed = 1\n", r"gpuemu\.toml: validations: unknown section \(did you mean 'validation'\?\)"),
    ("[validation]\nsed = 1\n", r"validation\.sed: unknown key \(did you mean 'seed'\?\); expected one of"),
    ("[daemon]\nbananas = 1\n", r"daemon\.bananas: unknown key; expected one of 'socket', 'auto_start'"),
    ('[[kernels]]\nname = "k"\nptx = "k.ptx"\n[kernels.artifact_checks]\nmax_register = 1\n',
     r"kernels\[0\] \(k\)\.artifact_checks\.max_register: unknown key \(did you mean 'max_registers'\?\)"),
])
def test_unknown_keys_elsewhere(project, text, match):
    with pytest.raises(ConfigError, match=match):
        load(project, text)


@pytest.mark.parametrize("extra, head, match", [
    ("", "[ci]\nparallel_jobs = \"4\"\n", r"ci\.parallel_jobs: expected an integer >= 0, got '4' \(string\)"),
    ("[ops.fuzz]\niterations = true\n", "", r"fuzz\.iterations: expected an integer >= 1, got True \(boolean\)"),
    ("[ops.fuzz]\nmax_size = 2.0\n", "", r"fuzz\.max_size: expected an integer >= 1, got 2\.0 \(float\)"),
    ("tolerances = { float16 = -0.1 }\n", "", r"tolerances\.float16: expected a finite number >= 0\.0, got -0\.1"),
    ("tolerances = { float32 = nan }\n", "", r"tolerances\.float32: expected a finite number >= 0\.0, got nan"),
    ("tolerances = { float32 = {} }\n", "", r"tolerances\.float32: expected atol and/or rtol"),
    ("tolerances = { float32 = '1e-5' }\n", "", r"tolerances\.float32: expected a number >= 0 \(atol\) or a table"),
    ("tolerances = { float32 = 1, Float32 = 2 }\n", "", r"tolerances\.Float32: 'float32' and 'Float32' name the same"),
    ("tolerances = { flaot32 = 1e-5 }\n", "", r"tolerances\.flaot32: unknown dtype 'flaot32' \(string\) \(did you "
                                               r"mean 'float32'\?\); expected one of 'float16'"),
    ('dtypes = ["float32", "complex64"]\n', "", r"\.dtypes\[1\]: unknown dtype 'complex64'"),
    ("dtypes = []\n", "", r"\.dtypes: expected a non-empty array, got \[\]"),
    ('dtypes = ["float32", "Float32"]\n', "", r"\.dtypes: 'Float32' repeats an earlier entry of \['float32', "
                                                r"'Float32'\]; list each once"),
    ('[ops.fuzz]\nlayouts = ["transpose"]\n', "",
     r"fuzz\.layouts\[0\]: expected one of 'contiguous', 'transposed'.*got 'transpose' \(string\) "
     r"\(did you mean 'transposed'"),
    ('[ops.fuzz]\ndistributions = ["gaussian"]\n', "", r"fuzz\.distributions\[0\]: expected one of 'uniform'"),
    ('invariants = ["non_negative", "positive"]\n', "", r"invariants\[1\]: expected one of 'shape_preserved'.*"
                                                         r"got 'positive'"),
    ("[ops.invariants]\nfinite = 'yes'\n", "", r"invariants\.finite: expected true or false, got 'yes' \(string\)"),
    ("[ops.invariants]\nfinit = true\n", "", r"invariants\.finit: expected one of .*\(did you mean 'finite'\?\)"),
    ('invariants = "finite"\n', "",
     r"invariants: expected a list such as \['shape_preserved'\] or a table of name = true/false"),
    ('execution_mode = "script"\n', "", r"execution_mode: expected one of 'client_side', 'daemon_orchestrated', "
                                        r"'script_based', got 'script' \(string\) \(did you mean 'script_based'"),
    ('execution_mode = "script_based"\n', "", r"execution_mode: 'script_based' runs the op from a script, but "
                                              r"op_script is not set"),
    ('op_type = "conv"\n', "", r"op_type: expected one of 'elementwise'"),
    ("reduce_dims = [1]\n", "", r"reduce_dims: reduce_dims applies to reductions, but op_type is 'elementwise'"),
    ('input_names = ["x"]\n', "", r"gpuemu\.toml: invalid TOML: .*\(at line 5, column \d+\)"),
    ("timeout_s = -1\n", "", r"timeout_s: expected a finite number > 0\.0, got -1 \(integer\)"),
    ("kwargs = { when = 2024-01-01 }\n", "", r"kwargs\.when: expected a string, number.*got datetime\.date"),
    ("[ops.fuzz]\nmin_dims = 5\nmax_dims = 2\n", "", r"\.fuzz\.min_dims: min_dims = 5 is greater than max_dims = 2"),
    ("[ops.fuzz]\nvalue_range = [1, -1]\n", "", r"fuzz\.value_range: expected \[low, high\] with low < high"),
    ("[ops.fuzz]\nvalue_range = [1]\n", "", r"fuzz\.value_range: expected an array of 2 items, got \[1\]"),
    ("[ops.fuzz]\nedge_case_prob = 1.5\n", "", r"edge_case_prob: expected a finite number >= 0\.0 and <= 1\.0"),
    ("[ops.fuzz]\nseed = -1\n", "", r"fuzz\.seed: expected an integer >= 0 and <= 18446744073709551615, got -1"),
    ("[ops.fuzz]\nbatch_sizes = [0, 2]\n", "", r"fuzz\.batch_sizes\[0\]: expected an integer >= 1, got 0"),
    ("", '[project]\nframework = "mxnet"\n', r"project\.framework: expected one of 'numpy', 'pytorch'"),
    ("", "[policies]\nregression_factor = 0\n", r"policies\.regression_factor: expected a finite number > 0\.0"),
    ("", "[daemon]\nauto_start = 1\n", r"daemon\.auto_start: expected true or false, got 1 \(integer\)"),
])
def test_wrong_values(project, extra, head, match):
    with pytest.raises(ConfigError, match=match):
        load(project, op_toml(extra, head=head))


@pytest.mark.parametrize("text, match", [
    ('[[ops]]\nreference = "refs/softmax_ref.py"\ninput_names = ["x"]\n', r"ops\[0\]: missing required key 'name'"),
    ('[[ops]]\nname = "a"\ninput_names = ["x"]\n', r"ops\[0\] \(a\): missing required key 'reference'"),
    ('[[ops]]\nname = " a"\n', r"ops\[0\] \( a\)\.name: expected a non-empty name without leading"),
    ('[[ops]]\nname = "a"\nreference = "refs/softmax_ref.py"\ninput_names = ["x", "x"]\n',
     r"input_names: 'x' repeats an earlier entry"),
    (op_toml() + op_toml(), r"ops\[1\] \(softmax\)\.name: duplicate op name 'softmax'; op names must be unique"),
    ('[ops]\nname = "a"\nreference = "refs/softmax_ref.py"\n',
     r"ops\.name: expected a table: each op is a \[\[ops\]\] entry, got 'a' \(string\)"),
    ('ops = 3\n', r"gpuemu\.toml: ops: expected an array of tables \[\[ops\]\] \(or tables \[ops\.NAME\]\)"),
    ('[ops.relu]\nname = "gelu"\n', r"ops\.relu\.name: 'gelu' differs from the table name 'relu'"),
    ('[[kernels]]\nname = "k"\n', r"kernels\[0\] \(k\): a kernel needs ptx = .* or source = "),
    ('[[kernels]]\nname = "k"\nptx = "a.ptx"\n[[kernels]]\nname = "k"\nptx = "b.ptx"\n',
     r"kernels\[1\] \(k\)\.name: duplicate kernel name 'k'"),
    ('[[kernels]]\nname = "k"\nptx = "k.ptx"\narch = "ampere"\n',
     r"kernels\[0\] \(k\)\.arch: expected a GPU architecture such as 'sm_80' or 'sm_90a', got 'ampere'"),
    ('[[kernels]]\nname = "k"\nptx = "k.ptx"\nartifact_checks = { max_local_memory = 1, '
     'max_local_memory_bytes = 2 }\n', r"artifact_checks\.max_local_memory_bytes: 'max_local_memory' and "
                                       r"'max_local_memory_bytes' are the same setting; keep one"),
    ('[[kernels]]\nname = "k"\nptx = "k.ptx"\nartifact_checks = { required_patterns = ["ld.(global"] }\n',
     r"required_patterns\[0\]: invalid regular expression 'ld\.\(global': missing \)"),
    ('[[kernels]]\nname = "k"\nptx = "k.ptx"\nartifact_checks = { max_registers = -8 }\n',
     r"artifact_checks\.max_registers: expected an integer >= 0, got -8"),
])
def test_structural_errors(project, text, match):
    with pytest.raises(ConfigError, match=match):
        load(project, text)


@pytest.mark.parametrize("schema, match", [
    ('[ops.schema.dims]\nM = [4]\n[ops.schema.inputs]\nx = ["M", "K"]\n',
     r"schema\.inputs\.x\[1\]: dim 'K' is not declared; declare it in \[ops\.schema\.dims\] \(declared: M\)"),
    ('[ops.schema]\noutput = ["MM"]\n[ops.schema.dims]\nM = [4]\n[ops.schema.inputs]\nx = ["M"]\n',
     r"schema\.output\[0\]: dim 'MM' is not declared \(did you mean 'M'\?\)"),
    ('[ops.schema.dims]\nM = [4]\n[ops.schema.inputs]\ny = ["M"]\n',
     r"schema\.inputs: names the inputs \['y'\], but input_names is \['x'\]"),
    ('[ops.schema.dims]\nM = []\n[ops.schema.inputs]\nx = ["M"]\n', r"schema\.dims\.M: expected a non-empty array"),
    ('[ops.schema.dims]\nM = [4]\n[ops.schema.inputs]\nx = ["M", -1]\n',
     r"schema\.inputs\.x\[1\]: expected a dim name or a literal size >= 0, got -1"),
    ('[ops.schema.dims]\nM = [4]\n', r"schema: missing required key 'inputs'"),
])
def test_schema_errors(project, schema, match):
    with pytest.raises(ConfigError, match=match):
        load(project, op_toml(schema))


def test_known_invariants_are_the_designed_five():
    assert KNOWN_INVARIANTS == ("shape_preserved", "non_negative", "finite", "symmetric", "normalized")
