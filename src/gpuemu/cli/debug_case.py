"""One case as ``gpuemu debug`` sees it, and the validation stages it steps through.

The daemon stores a case's result and regenerates script cases from their seed, but
it hands out inputs only for what the op's config generates (GetTestCase). So the
inputs come from the daemon and are accepted only when they match the stored
result's reproduction info; the op's outputs are recomputed here by running the op
script and the reference named in the project's gpuemu.toml. Where that is not
possible (a client sent the inputs, a minimized case, no op script) the stages are
read from the stored result, and the reason is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..client import Client
from ..config import OpConfig
from ..dtypes import DType
from ..errors import GpuemuError, NotFound
from ..validate import FailureKind, FailureReason, ValidationResult


@dataclass(frozen=True, slots=True)
class Case:
    """A stored result and, when they could be regenerated, its inputs."""

    result: ValidationResult
    inputs: dict[str, np.ndarray] | None
    why_no_inputs: str = ""


@dataclass(frozen=True, slots=True)
class Outputs:
    """The op's and the reference's outputs recomputed here, and the fresh verdict."""

    result: ValidationResult
    actual: np.ndarray | None
    expected: np.ndarray | None


def load_case(client: Client, seed: int) -> Case:
    """The newest stored result with ``seed`` and its regenerated inputs (or why not)."""
    result = client.get_result(seed)
    if result is None:
        raise NotFound(f"no stored result with seed {seed}; `results` and `failures` list the"
                       " stored seeds")
    info = result.repro_info
    if info is None:
        return Case(result, None, "the result carries no reproduction info")
    try:
        case = client.test_case(result.op_name, seed=seed)
    except GpuemuError as exc:
        return Case(result, None, f"the daemon cannot regenerate it: {exc}")
    inputs = {name: td.to_numpy(f"inputs.{name}") for name, td in case.inputs.items()}
    regenerated = ({k: list(v.shape) for k, v in inputs.items()},
                   {k: DType.from_numpy(v.dtype).value for k, v in inputs.items()},
                   {k: [s // v.itemsize for s in v.strides] for k, v in inputs.items()},
                   case.kwargs)
    stored = (info.input_shapes, info.input_dtypes, info.input_strides, info.kwargs)
    if regenerated != stored:
        return Case(result, None, (
            f"the op's config generates another case from seed {seed} (shapes"
            f" {regenerated[0]}, stored {info.input_shapes}): this one was minimized, fuzzed"
            f" with per-request settings, or sent by a client, and the daemon does not hand"
            f" out its inputs. `replay {seed}` re-runs it in the daemon"))
    return Case(result, inputs)


def recompute(op: OpConfig, root: Path, case: Case) -> Outputs:
    """Run the op script and the reference on ``case``'s inputs, as the daemon does."""
    from ..local import run_here

    assert case.inputs is not None and op.op_script is not None
    run = run_here(op, root, case.inputs, dict(case.result.repro_info.kwargs), case.result.seed)
    return Outputs(run.result, run.actual, run.expected)


# -- the stages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """What a stage describes: a verdict, the op's config if known, the arrays if computed."""

    result: ValidationResult
    op: OpConfig | None = None
    actual: np.ndarray | None = None
    expected: np.ndarray | None = None

    def failures(self, kinds: tuple[str, ...]) -> list[FailureReason]:
        return [f for f in self.result.failures if f.kind in kinds]

    def arrays(self) -> bool:
        return self.actual is not None and self.expected is not None


def fmt_num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def short_dtype(name: str | None) -> str:
    """``float32`` for the wire's ``Float32``; anything unknown as it is."""
    try:
        return DType.parse(name).short_name
    except (GpuemuError, TypeError):
        return str(name or "-")


def _execute(v: View) -> list[str]:
    failed = v.failures((FailureKind.ExecutionError,))
    return [f.message for f in failed] or ["the op produced an output"]


def _shape(v: View) -> list[str]:
    mismatch = v.failures((FailureKind.ShapeMismatch,))
    expected = (list(v.expected.shape) if v.expected is not None
                else mismatch[0].expected if mismatch else v.result.shape)
    return [f"actual {v.result.shape}, expected {expected}"]


def _dtype(v: View) -> list[str]:
    mismatch = v.failures((FailureKind.DtypeMismatch,))
    expected = (DType.from_numpy(v.expected.dtype).value if v.expected is not None
                else mismatch[0].expected if mismatch else v.result.dtype)
    return [f"actual {short_dtype(v.result.dtype)}, expected {short_dtype(expected)}"]


def _tolerance(v: View) -> list[str]:
    r = v.result
    lines = [f"|actual - expected| <= atol + rtol*|expected| with atol={fmt_num(r.atol)},"
             f" rtol={fmt_num(r.rtol)}; max abs diff {fmt_num(r.max_diff)},"
             f" max rel diff {fmt_num(r.max_rel_diff)}"]
    m = r.mismatch
    if m is not None:
        lines.append(f"{m.mismatched} of {m.total} elements ({m.percent:.2f}%) out of tolerance;"
                     f" worst at {m.max_abs_index}: actual {fmt_num(m.actual_at_max)},"
                     f" expected {fmt_num(m.expected_at_max)} (diff {fmt_num(m.max_abs_diff)})")
    return lines + [f.message for f in v.failures((FailureKind.ToleranceExceeded,))
                    if m is None]


def _special(kind: str, test: Callable[[np.ndarray], np.ndarray], label: str, flag: str):
    """The NaN or Inf stage: counts on both sides (parity matches pass) and any failure."""
    def describe(v: View) -> list[str]:
        lines = [f.message for f in v.failures((kind,))]
        if v.arrays() and DType.from_numpy(v.actual.dtype).is_float:
            lines.insert(0, f"{label} in actual: {int(np.count_nonzero(test(v.actual)))},"
                            f" in expected: {int(np.count_nonzero(test(v.expected)))}"
                            " (where both have it, it is a match)")
        if v.op is not None and not getattr(v.op, flag):
            lines.append(f"{flag} = false: an unexpected {label} counts as a tolerance mismatch")
        return lines or [f"no unexpected {label}"]
    return describe


def _invariants(v: View) -> list[str]:
    failed = {f.invariant: f.message for f in v.failures((FailureKind.InvariantViolation,))}
    names = list(v.op.invariants) if v.op is not None else list(failed)
    if not names:
        return ["none configured"]
    return [f"{name}: {'FAIL ' + failed[name] if name in failed else 'PASS'}" for name in names]


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    kinds: tuple[str, ...]
    describe: Callable[[View], list[str]]
    compares_values: bool = True
    """Skipped when the output never came, or has the wrong shape (values not compared)."""


STAGES: tuple[Stage, ...] = (
    Stage("execute", (FailureKind.ExecutionError,), _execute, compares_values=False),
    Stage("shape", (FailureKind.ShapeMismatch,), _shape, compares_values=False),
    Stage("dtype", (FailureKind.DtypeMismatch,), _dtype),
    Stage("tolerance", (FailureKind.ToleranceExceeded,), _tolerance),
    Stage("nan", (FailureKind.NaNDetected,), _special(FailureKind.NaNDetected, np.isnan, "NaN", "check_nan")),
    Stage("inf", (FailureKind.InfDetected,), _special(FailureKind.InfDetected, np.isinf, "Inf", "check_inf")),
    Stage("invariants", (FailureKind.InvariantViolation,), _invariants),
)


def stage_verdict(stage: Stage, view: View) -> str:
    """PASS, FAIL, or SKIP when an earlier stage stopped the values from being compared."""
    if view.failures(stage.kinds):
        return "FAIL"
    blocked = view.failures((FailureKind.ExecutionError,)) or (
        stage.compares_values and view.failures((FailureKind.ShapeMismatch,)))
    if blocked:
        return "SKIP"
    return "PASS"
