"""Quality of the defaults (issue 20): do they find real kernel bugs, with no false positives?

Like Hypothesis' quality tests: buggy twins of correct kernels, each op declared only with
name, reference, op_script, input_names and dtypes (no [ops.fuzz] table, no op_type, no
tolerances), fuzzed by ONE daemon with the default strategy mix and 100 iterations.
Every twin must fail, its first failure must minimize to at most MAX_MINIMIZED elements
per input, and every correct control must pass all 100 cases. The table of results is
printed whether the suite passes or not.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuemu.fuzz import case_seed

pytestmark = pytest.mark.timeout(900)

HERE = Path(__file__).resolve().parent
SEED = 20
ITERATIONS = 100
MAX_MINIMIZED = 64
DTYPES = '["float32", "float16", "bfloat16"]'
HAVE_TRITON = importlib.util.find_spec("triton") is not None


@dataclass(frozen=True)
class Op:
    name: str
    family: str
    module: str
    function: str
    bug: str = ""
    """The twin's class of bug; "" for a correct control."""


FAMILIES = {  # family -> (reference function in twins.py, input names)
    "softmax": ("ref_softmax", ("x",)),
    "layernorm": ("ref_layernorm", ("x",)),
    "rowsum": ("ref_rowsum", ("x",)),
    "gelu": ("ref_gelu", ("x",)),
    "rowdot": ("ref_rowdot", ("a", "b")),
}

OPS = [
    Op("softmax", "softmax", "twins", "softmax"),
    Op("softmax_no_max", "softmax", "twins", "softmax_no_max", "missing max-subtraction"),
    Op("softmax_tail", "softmax", "twins", "softmax_tail", "tail block"),
    Op("softmax_ignores_strides", "softmax", "twins", "softmax_ignores_strides", "layout: strides"),
    Op("softmax_wrong_axis", "softmax", "twins", "softmax_wrong_axis", "wrong axis"),
    Op("softmax_bf16_sum", "softmax", "twins", "softmax_bf16_sum", "low-precision accumulation"),
    Op("softmax_nan_to_zero", "softmax", "twins", "softmax_nan_to_zero", "NaN/Inf handling"),
    Op("softmax_exp_approx", "softmax", "twins", "softmax_exp_approx", "approximation"),
    Op("softmax_empty_rows", "softmax", "twins", "softmax_empty_rows", "empty dim"),
    Op("layernorm", "layernorm", "twins", "layernorm"),
    Op("layernorm_eps_outside", "layernorm", "twins", "layernorm_eps_outside", "eps placement"),
    Op("layernorm_size1_shortcut", "layernorm", "twins", "layernorm_size1_shortcut", "size-1 dim"),
    Op("layernorm_ignores_offset", "layernorm", "twins", "layernorm_ignores_offset", "layout: offset"),
    Op("layernorm_fp16_stats", "layernorm", "twins", "layernorm_fp16_stats", "overflow in intermediates"),
    Op("rowsum", "rowsum", "twins", "rowsum"),
    Op("rowsum_drops_carry", "rowsum", "twins", "rowsum_drops_carry", "carry across blocks"),
    Op("rowsum_skips_tail", "rowsum", "twins", "rowsum_skips_tail", "tail block"),
    Op("rowsum_empty_nan", "rowsum", "twins", "rowsum_empty_nan", "empty dim"),
    Op("rowsum_float32_out", "rowsum", "twins", "rowsum_float32_out", "output dtype"),
    Op("rowsum_inner_stride_one", "rowsum", "twins", "rowsum_inner_stride_one", "layout: inner stride"),
    Op("rowsum_nansum", "rowsum", "twins", "rowsum_nansum", "NaN/Inf handling"),
    Op("rowsum_bf16_acc", "rowsum", "twins", "rowsum_bf16_acc", "low-precision accumulation"),
    Op("gelu", "gelu", "twins", "gelu"),
    Op("gelu_tanh", "gelu", "twins", "gelu_tanh", "approximation"),
    Op("gelu_clamped", "gelu", "twins", "gelu_clamped", "large values / Inf"),
    Op("gelu_float32_out", "gelu", "twins", "gelu_float32_out", "output dtype"),
    Op("gelu_ignores_offset", "gelu", "twins", "gelu_ignores_offset", "layout: offset"),
    Op("gelu_vector_tail", "gelu", "twins", "gelu_vector_tail", "tail block"),
    Op("rowdot", "rowdot", "twins", "rowdot"),
    Op("rowdot_broadcast_row0", "rowdot", "twins", "rowdot_broadcast_row0", "broadcasting"),
    Op("rowdot_int_cast", "rowdot", "twins", "rowdot_int_cast", "accumulator dtype"),
    Op("triton_softmax", "softmax", "triton_twins", "softmax"),
    Op("triton_softmax_pad_zero", "softmax", "triton_twins", "triton_softmax_pad_zero", "Triton: mask padding"),
    Op("triton_softmax_no_max", "softmax", "triton_twins", "triton_softmax_no_max",
       "Triton: missing max-subtraction"),
    Op("triton_softmax_one_block", "softmax", "triton_twins", "triton_softmax_one_block", "Triton: long rows"),
    Op("triton_rowsum", "rowsum", "triton_twins", "rowsum"),
    Op("triton_rowsum_half_acc", "rowsum", "triton_twins", "triton_rowsum_half_acc",
       "Triton: low-precision accumulation"),
    Op("triton_rowsum_no_carry", "rowsum", "triton_twins", "triton_rowsum_no_carry", "Triton: carry across blocks"),
    Op("triton_rowsum_contiguous", "rowsum", "triton_twins", "triton_rowsum_contiguous", "Triton: layout"),
]

RUN = [op for op in OPS if HAVE_TRITON or op.module != "triton_twins"]
"""The ops this machine can run: the Triton ones need triton (the `examples` extra)."""

_SCRIPT = '''import sys
sys.path.insert(0, {here!r})
from {module} import {function} as _f


def {entry}(inputs, **kwargs):
    return _f({args})


if __name__ == "__main__":
    from gpuemu.script import main
    main({entry})
'''


def _script(path: Path, module: str, function: str, entry: str, names: tuple[str, ...]) -> str:
    args = ", ".join(f"inputs[{n!r}]" for n in names)
    path.write_text(_SCRIPT.format(here=str(HERE), module=module, function=function, entry=entry, args=args))
    return path.name


def write_project(root: Path) -> Path:
    """gpuemu.toml with every op as a new user declares it, and its scripts."""
    (root / "refs").mkdir()
    (root / "ops").mkdir()
    lines = ['[project]\nname = "quality"\n']
    for family, (ref, names) in FAMILIES.items():
        _script(root / "refs" / f"{family}.py", "twins", ref, "reference", names)
    for op in RUN:
        _script(root / "ops" / f"{op.name}.py", op.module, op.function, "run", FAMILIES[op.family][1])
        lines.append(f'[[ops]]\nname = "{op.name}"\nreference = "refs/{op.family}.py"\n'
                     f'op_script = "ops/{op.name}.py"\ninput_names = {list(FAMILIES[op.family][1])!r}\n'
                     f'dtypes = {DTYPES}\n'.replace("'", '"'))
    config = root / "gpuemu.toml"
    config.write_text("\n".join(lines))
    return config


@dataclass
class Row:
    op: Op
    failed: int
    found_at: int | None
    minimized: int | None
    kinds: list[str]
    first_message: str


def _run(daemon, op: Op) -> Row:
    with daemon.client(timeout_ms=600_000) as client:
        fuzz = client.fuzz_op(op.name, iterations=ITERATIONS, seed=SEED, fail_fast=bool(op.bug))
        if not fuzz.failures:
            return Row(op, 0, None, None, [], "")
        index = {case_seed(SEED, i): i for i in range(ITERATIONS)}
        first = min(fuzz.failures, key=lambda r: index[r.seed])
        message = first.failures[0].message if first.failures else ""
        minimized = None
        if op.bug:
            small = client.minimize(first.seed, op_name=op.name, max_iters=150)
            minimized = max((_elements(s) for s in small.minimized_shapes.values()), default=0)
        return Row(op, fuzz.failed, index[first.seed], minimized, first.failure_kinds,
                   f"seed {first.seed}: {message[:300]}")


def _elements(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@pytest.fixture(scope="module")
def quality(request):
    from tests.conftest import DaemonProcess

    tmp = Path(tempfile.mkdtemp(prefix="gq-", dir="/tmp"))
    home = tmp / "home"
    env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_AUTO_START": "0"}
    env.pop("GPUEMU_SOCKET", None)
    daemon = DaemonProcess(home=home, config=write_project(tmp), env=env)
    started = time.perf_counter()
    try:
        daemon.start(wait_s=60)
        with ThreadPoolExecutor(max_workers=3) as pool:  # the daemon runs each op's cases in parallel too
            rows = {r.op.name: r for r in pool.map(lambda op: _run(daemon, op), RUN)}
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _print(request, rows, time.perf_counter() - started)
    return rows


def _print(request, rows: dict[str, Row], seconds: float) -> None:
    """The table, on the terminal even while pytest captures the fixture's output; under
    xdist, appended to the run's summary file (tests/conftest.py shows it at the end)."""
    lines = _table(rows, seconds)
    if summary := os.environ.get("GPUEMU_TEST_SUMMARY"):
        with open(summary, "a") as f:
            f.write("\n".join(lines) + "\n")
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for line in lines:
            print(line, flush=True)


def _table(rows: dict[str, Row], seconds: float) -> list[str]:
    write: list[str] = []
    write.append("")
    write.append(f"quality of the defaults: {ITERATIONS} iterations, seed {SEED}, one daemon, {seconds:.1f} s")
    write.append(f"{'op':<28} {'class':<36} {'found at case':>13} {'minimized':>10}  verdict")
    for r in rows.values():
        if r.op.bug:
            found = "-" if r.found_at is None else str(r.found_at)
            write.append(f"{r.op.name:<28} {r.op.bug:<36} {found:>13} {r.minimized if r.minimized is not None else '-':>10}"
                  f"  {','.join(r.kinds) or 'NOT FOUND'}")
        else:
            write.append(f"{r.op.name:<28} {'control':<36} {'':>13} {'':>10}  "
                  + ("passed" if not r.failed else f"FALSE POSITIVE in {r.failed} cases: {r.first_message}"))
    return write


@pytest.mark.parametrize("op", [o for o in OPS if not o.bug], ids=lambda o: o.name)
def test_control_passes_every_default_case(quality, op):
    row = _row(quality, op)
    assert row.failed == 0, f"correct op {op.name} failed {row.failed} default cases; first: {row.first_message}"


@pytest.mark.parametrize("op", [o for o in OPS if o.bug], ids=lambda o: o.name)
def test_twin_is_found_and_minimizes_small(quality, op):
    row = _row(quality, op)
    assert row.found_at is not None, f"{op.name} ({op.bug}) passed all {ITERATIONS} default cases"
    assert row.minimized is not None and row.minimized <= MAX_MINIMIZED, (
        f"{op.name}: first failure (case {row.found_at}) minimized to {row.minimized} elements")


def _row(rows: dict[str, Row], op: Op) -> Row:
    if op.name not in rows:
        pytest.skip(f"{op.name} runs a Triton kernel, and triton is not installed (pip install -e '.[examples]')")
    return rows[op.name]


def test_the_suite_has_thirty_twins_and_a_control_per_family():
    assert len([o for o in OPS if o.bug]) >= 30
    controls = {(o.family, o.module) for o in OPS if not o.bug}
    assert {(o.family, o.module) for o in OPS} == controls
