"""Torch, JAX and TensorFlow ops validated and fuzzed client-side through a real daemon.

Two probe references make the wire visible: ``bits`` returns its input's raw bits as
integers, inverted (compared exactly, so any changed bit fails; inverted, so that the
output is never a copy of the input, which the trivial-output guard rejects), and
``strides`` returns the element strides the reference received.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpuemu.client import ValidationError
from gpuemu.dtypes import DType
from gpuemu.frameworks import validate_jax, validate_pytorch

from ..conftest import SOFTMAX_REF, write
from ..unit.test_frameworks_tf import needs_tensorflow, run_in_child

pytestmark = pytest.mark.e2e

REFS = {
    "softmax.py": SOFTMAX_REF,
    "bits.py": """
        import numpy as np
        from gpuemu.script import main
        def reference(inputs, **kw):
            x = inputs["x"]
            return np.invert(x.view(np.dtype(f"i{x.itemsize}")))  # never equal to x itself
        if __name__ == "__main__":
            main(reference)
    """,
    "strides.py": """
        import numpy as np
        from gpuemu.script import main
        def reference(inputs, **kw):
            x = inputs["x"]
            return np.array([s // x.itemsize for s in x.strides], dtype=np.int64)
        if __name__ == "__main__":
            main(reference)
    """,
}

CONFIG = """
[[ops]]
name = "softmax"
reference = "refs/softmax.py"
input_names = ["x"]
dtypes = ["float32"]
[ops.fuzz]
layouts = ["contiguous", "transposed", "strided", "offset"]
batch_sizes = [2, 3]
seq_lengths = [4, 5]
hidden_dims = [8, 17]
edge_case_prob = 0.0

[[ops]]  # softmax on finite inputs only: TensorFlow's CPU kernels propagate NaN/Inf by the
name = "softmax_finite"  # CPU's vector instructions (an Inf row gives [nan, 0, ...] on some)
reference = "refs/softmax.py"
input_names = ["x"]
dtypes = ["float32"]
[ops.fuzz]
batch_sizes = [2, 3]
seq_lengths = [4, 5]
hidden_dims = [8, 17]
edge_case_prob = 0.0
distributions = ["uniform", "normal", "scaled", "large", "tiny", "mixed_sign", "constant_rows", "ties"]

[[ops]]
name = "bits"
reference = "refs/bits.py"
input_names = ["x"]
oracle = "native"  # the reference reads the input's bits: it must get them as sent

[[ops]]
name = "strides"
reference = "refs/strides.py"
input_names = ["x"]
oracle = "native"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("fwproj")
    for name, body in REFS.items():
        write(root / "refs" / name, body)
    write(root / "gpuemu.toml", CONFIG)
    return root


@pytest.fixture
def client(make_daemon, project):
    with make_daemon(project / "gpuemu.toml").client(timeout_ms=120_000) as c:
        yield c


def random_bits(dtype: DType, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype is DType.Bool:
        return rng.integers(0, 2, n).astype(bool)
    return rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8).view(dtype.numpy)


# -- PyTorch ------------------------------------------------------------------------------

def test_torch_every_dtype_and_layout_reaches_the_reference_bit_for_bit(client):
    torch = pytest.importorskip("torch")
    from gpuemu.frameworks.torch_adapter import PyTorchAdapter

    adapter = PyTorchAdapter()
    signed = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
    layouts = {"contiguous": lambda s: s[:24].view(4, 6),
               "transposed": lambda s: s[:24].view(4, 6).t(),
               "sliced": lambda s: s[:48].view(4, 12)[:, 1::3],
               "offset": lambda s: s[5:29].view(2, 3, 4),
               "channels_last": lambda s: s[:48].view(2, 3, 2, 4).contiguous(
                   memory_format=torch.channels_last),
               "scalar": lambda s: s[7]}
    for i, dtype in enumerate(DType):
        storage = adapter.from_numpy(random_bits(dtype, 48, seed=i))
        for name, make in layouts.items():
            t = make(storage)
            bits = ~t.view(signed[t.element_size()])
            assert client.validate_op("bits", {"x": t}, bits).passed, (dtype, name)
            wrong = bits.clone(memory_format=torch.contiguous_format)
            wrong.view(-1)[0] ^= 1  # one flipped bit must be caught
            assert not client.validate_op("bits", {"x": t}, wrong).passed, (dtype, name)
            strides = np.array(t.stride(), dtype=np.int64)
            assert client.validate_op("strides", {"x": t}, strides).passed, (dtype, name)


def test_torch_op_validated_client_side_with_torch_tensors(client):
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(0)) * 30
    with validate_pytorch(client, "softmax", {"x": x.t().contiguous().t()}) as ctx:
        xin = ctx["inputs"]["x"]
        assert isinstance(xin, torch.Tensor) and not xin.is_contiguous()
        ctx["output"] = torch.softmax(xin, dim=-1)
    assert ctx.result.passed and ctx.result.shape == [3, 40]

    with np.errstate(over="ignore", invalid="ignore"):  # overflows to inf/inf = NaN
        naive = np.exp(x.numpy()) / np.exp(x.numpy()).sum(-1, keepdims=True)
    with pytest.raises(ValidationError, match=r"softmax failed validation \(seed \d+\).*"
                                              r"gpuemu reproduce --seed \d+ --op softmax"):
        with validate_pytorch(client, "softmax", {"x": x.numpy()}) as ctx:  # numpy input
            assert isinstance(ctx["inputs"]["x"], torch.Tensor)
            ctx["output"] = torch.from_numpy(naive)
    assert not ctx.result.passed


def test_torch_kernel_that_ignores_storage_offset_is_caught(client):
    torch = pytest.importorskip("torch")
    rows = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))

    def softmax_from_storage_start(x):  # reads the storage as if the view started at 0
        return torch.softmax(x.as_strided(x.shape, x.stride(), 0), -1)

    with pytest.raises(ValidationError, match="ToleranceExceeded"):
        with validate_pytorch(client, "softmax", {"x": rows[2:]}) as ctx:
            assert ctx["inputs"]["x"].storage_offset() == 32
            ctx["output"] = softmax_from_storage_start(ctx["inputs"]["x"])
    with validate_pytorch(client, "softmax", {"x": rows[:2]}) as ctx:  # offset 0: hidden
        ctx["output"] = softmax_from_storage_start(ctx["inputs"]["x"])


def test_fuzz_hands_run_op_torch_tensors_in_every_layout(client):
    torch = pytest.importorskip("torch")
    seen = []

    def run_op(inputs, **kw):
        x = inputs["x"]
        seen.append((type(x), x.is_contiguous()))
        return torch.softmax(x, -1)

    fuzz = client.fuzz_op_client_side("softmax", run_op, iterations=24, seed=5, framework="torch")
    assert (fuzz.passed, fuzz.failed) == (24, 0), [f.failures for f in fuzz.failures]
    assert {t for t, _ in seen} == {torch.Tensor}
    assert {c for _, c in seen} == {True, False}  # strided cases arrive strided

    def ignores_strides(inputs, **kw):  # reads memory in C order whatever the layout
        x = inputs["x"]
        c = torch.empty(x.shape).stride()
        return torch.softmax(x.as_strided(x.shape, c, x.storage_offset()), -1)

    bad = client.fuzz_op_client_side("softmax", ignores_strides, iterations=24, seed=5,
                                     framework="torch")
    assert bad.failed > 0
    # only strided cases fail: wrong values, or the poison NaNs between the elements
    assert all(r.repro_info.input_strides["x"][-1] != 1 for r in bad.failures)
    assert {k for r in bad.failures for k in r.failure_kinds} <= {"ToleranceExceeded",
                                                                 "NaNDetected"}


# -- JAX ----------------------------------------------------------------------------------

def test_jax_every_dtype_reaches_the_reference_bit_for_bit(client):
    jax = pytest.importorskip("jax")

    with jax.enable_x64(True):
        for i, dtype in enumerate(DType):
            x = jax.device_put(random_bits(dtype, 24, seed=i).reshape(4, 6))
            bits = np.invert(np.asarray(x).view(np.dtype(f"i{dtype.itemsize}")))
            assert client.validate_op("bits", {"x": x}, jax.device_put(bits)).passed, dtype


def test_jax_op_validated_and_fuzzed_client_side(client):
    jax = pytest.importorskip("jax")
    x = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)
    with validate_jax(client, "softmax", {"x": x[:, ::-1]}) as ctx:
        assert isinstance(ctx["inputs"]["x"], jax.Array)
        ctx["output"] = jax.jit(jax.nn.softmax)(ctx["inputs"]["x"])
    assert ctx.result.passed

    def run_op(inputs, **kw):
        assert isinstance(inputs["x"], jax.Array)
        return jax.nn.softmax(inputs["x"], axis=-1)

    fuzz = client.fuzz_op_client_side("softmax", run_op, iterations=12, seed=9, framework="jax")
    assert (fuzz.passed, fuzz.failed) == (12, 0), [f.failures for f in fuzz.failures]
    wrong = client.fuzz_op_client_side("softmax", lambda inputs: jax.nn.softmax(inputs["x"], 0),
                                       iterations=6, seed=9, framework="jax")
    assert wrong.failed == 6  # softmax over the wrong axis


# -- TensorFlow ---------------------------------------------------------------------------

@needs_tensorflow
def test_tensorflow_cases_pass_in_their_own_process():
    run_in_child(Path(__file__).with_name("tf_cases.py"))  # why: see run_in_child's module
