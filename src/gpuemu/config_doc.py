"""docs/config.md, generated from the schema table so that it cannot drift from the code.

Keys and their types come from ``config_keys`` (and ``fuzz.settings`` for [ops.fuzz]),
defaults from the settings classes, meanings from the classes' attribute docstrings
(and the fuzz settings' descriptions), with ``MEANINGS`` for the keys those leave
unexplained. ``python -m gpuemu.config_doc`` rewrites the file; ``--check`` exits 1
when it is out of date (tests/unit/test_config_doc.py runs the same check).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec

from . import config_keys as ck
from . import config_model as cm
from . import config_schema as cs
from .fuzz.settings import FUZZ_KEYS, SCHEMA_KEYS, FuzzSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"

MEANINGS = {
    "project.name": "The project's name: report titles say it (the JUnit `testsuites` name, the "
                    "JSON `project`, the text summary line).",
    "project.version": "The project's version, shown beside its name in reports.",
    "project.framework": "The framework the project's kernels use ('torch' means 'pytorch'): the "
                         "tensors the pytest plugin's `gpuemu_fuzz` hands `run_op` unless it passes "
                         "`framework=` ('triton' kernels take PyTorch tensors). Elsewhere adapters "
                         "follow the tensors a call passes.",
    "validation.dtypes": "The dtypes every op is checked and fuzzed in, unless the op sets its own.",
    "validation.check_nan": "Fail outputs with NaN where the reference has none (every op, unless "
                            "it sets its own).",
    "validation.check_inf": "Fail outputs with ±Inf where the reference has none (every op, unless "
                            "it sets its own).",
    "validation.tolerances": "Per-dtype tolerances for every op, over the built-in defaults "
                             "(float32 1e-5/1e-5, float16 and bfloat16 1e-2/1e-2, float64 "
                             "1e-10/1e-10, exact for integers and bool).",
    "policies.fail_on_regression": "CompareBaseline and artifact baseline diffs fail on a "
                                   "regression (not only report it).",
    "policies.warn_threshold": "A kernel metric within this fraction of its limit is reported "
                               "as a warning.",
    "policies.regression_factor": "CompareBaseline calls an op's max difference a regression "
                                  "when it grew by more than this factor.",
    "ci.quick_dtypes": "The dtypes `gpuemu ci run --quick` fuzzes.",
    "ci.parallel_jobs": "Ops a CI run checks at once; 0 means one per core.",
    "ci.iterations": "Cases per op in `gpuemu ci run`.",
    "ci.quick_iterations": "Cases per op in `gpuemu ci run --quick`.",
    "daemon.max_message_bytes": "The largest request the daemon reads; bigger ones are answered "
                                "with InvalidRequest (tensors beyond it travel by shared memory).",
    "cluster.backend": "The cluster backend. Only 'ray' exists, so nothing reads it.",
    "cluster.cases_per_task": "Cases one cluster task runs.",
    "ops.name": "The op's name: what requests, the CLI and reports call it.",
    "ops.reference": "The reference script, relative to gpuemu.toml: the CPU truth the op is "
                     "checked against.",
    "ops.op_script": "The script that runs the op under test (script-based ops).",
    "ops.input_names": "The op's inputs, in order. Default: the schema's inputs, else the "
                       "names the reference (else the op script) reads.",
    "ops.execution_mode": "Who runs the op: the client ('client_side'), the client on cases the "
                          "daemon hands out ('daemon_orchestrated') or the daemon itself "
                          "('script_based').",
    "ops.tolerances": "Per-dtype tolerances of this op, over [validation.tolerances].",
    "ops.invariants": "Properties every output must have, as a list or as name = true.",
    "ops.timeout_s": "Seconds one run of the op's scripts may take before it is killed.",
    "ops.kwargs": "Keyword arguments passed to the reference and the op script.",
    "ops.dtypes": "The dtypes this op is checked and fuzzed in.",
    "ops.max_ulp": "With compare = \"ulp\": the ULPs a float element may differ by (set both or "
                   "neither).",
    "ops.reduce_dims": "The dims a reduction or softmax reduces over (`reduced_dims` is "
                       "accepted too); default: the last. Scales the tolerance with their length.",
    "ops.check_nan": "Fail outputs with NaN where the reference has none.",
    "ops.check_inf": "Fail outputs with ±Inf where the reference has none.",
    "ops.fuzz": "How the op's cases are drawn: the [ops.fuzz] table below.",
    "ops.schema": "Symbolic shapes shared between inputs: the [ops.schema] table below.",
    "ops.schema.dims": "Each symbolic dim and the sizes it draws from: `{ M = [1, 7] }`, or the "
                       "original gpuemu's list `[{ name = \"M\", candidates = [1, 7] }]`.",
    "ops.schema.inputs": "Each input's shape as dim names or literal sizes: `{ a = [\"M\", \"K\"] }`, "
                         "or the original's list `[{ name = \"a\", dims = [\"M\", \"K\"] }]`. Required.",
    "ops.schema.output": "The output's shape, `[\"M\", \"N\"]` or the original's `{ name = \"out\", "
                         "dims = [\"M\", \"N\"] }`; its dims must be declared. Every checked output "
                         "must have that shape, its dims bound by the inputs' shapes (a "
                         "ShapeMismatch naming the schema otherwise).",
    "ops.schema.name": "The schema's name (the original's layout has one): a ShapeMismatch against "
                       "the schema's output names it.",
    "kernels.name": "The kernel's name: what LintKernel and artifact requests call it.",
    "kernels.ptx": "The kernel's PTX file, relative to gpuemu.toml.",
    "kernels.source": "The kernel's source: a .ptx file, or a .cu file compiled with `nvcc -ptx` "
                      "for `arch` when no ptx is given.",
    "kernels.arch": "The GPU architecture ptxas compiles for.",
    "kernels.artifact_checks": "The kernel's budgets: the [kernels.artifact_checks] table below.",
    "kernels.artifact_checks.max_registers": "Registers per thread (ptxas' figure where ptxas "
                                             "exists, else PTX's declarations).",
    "kernels.artifact_checks.max_spills": "Spill stores and loads, in bytes.",
    "kernels.artifact_checks.max_local_memory_bytes": "Local memory per thread, in bytes "
                                                      "(`max_local_memory` is accepted too).",
    "kernels.artifact_checks.max_shared_memory_bytes": "Static shared memory, in bytes; unset: "
                                                       "no limit.",
    "kernels.artifact_checks.max_instructions": "PTX instructions; unset: no limit.",
    "kernels.artifact_checks.required_patterns": "Regular expressions the PTX must match.",
    "kernels.artifact_checks.forbidden_patterns": "Regular expressions the PTX must not match.",
    "kernels.artifact_checks.forbidden_instructions": "PTX instructions (opcodes) the kernel "
                                                      "must not use.",
}
DEFAULTS = {
    "ops.execution_mode": '"script_based" with an op_script, else "client_side"',
    "ops.input_names": "the schema's inputs, else what the scripts read",
    "ops.dtypes": "[validation] dtypes", "ops.check_nan": "[validation] check_nan",
    "ops.check_inf": "[validation] check_inf", "ops.fuzz.seed": "[validation] seed",
    "ops.max_memory_mb": "a quarter of the machine's RAM",
}
"""Defaults that are not a constant of their class."""

SECTION_TITLES = {"project": "[project]", "validation": "[validation]", "policies": "[policies]",
                  "ci": "[ci]", "daemon": "[daemon]", "cluster": "[cluster]"}


def _docstrings(cls: type) -> dict[str, str]:
    """The attribute docstrings of a class (the string right after ``name: type = ...``)."""
    body = ast.parse(inspect.getsource(cls)).body[0].body  # type: ignore[attr-defined]
    out = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            out[node.target.id] = " ".join(after.value.value.split())  # type: ignore[union-attr]
    return out


def _descriptions(cls: type) -> dict[str, str]:
    """The ``Meta(description=...)`` of each field of a msgspec Struct."""
    out = {}
    for name, tp in get_type_hints(cls, include_extras=True).items():
        metas = get_args(tp)[1:] if get_origin(tp) is Annotated else ()
        out[name] = next((m.description for m in metas if getattr(m, "description", None)), "")
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return f'"{getattr(value, "short_name", value.value)}"'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return str(value)


def _defaults(cls: type) -> dict[str, str]:
    if issubclass(cls, msgspec.Struct):
        fields = {f.name: f.default for f in msgspec.structs.fields(cls)}
    else:
        fields = {f.name: f.default for f in dataclasses.fields(cls)
                  if f.default is not dataclasses.MISSING}
    return {name: "unset" if value is None else _toml(value) for name, value in fields.items()
            if value is not msgspec.NODEFAULT}


def _table(prefix: str, spec: dict[str, cs.Conv], cls: type | None,
           meanings: dict[str, str]) -> list[str]:
    defaults = _defaults(cls) if cls else {}
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, conv in spec.items():
        full = f"{prefix}.{key}"
        meaning = MEANINGS.get(full) or meanings.get(key)
        if not meaning:
            raise LookupError(f"{full} has no meaning: add it to gpuemu.config_doc.MEANINGS")
        default = DEFAULTS.get(full) or defaults.get(key, "—")
        cell = meaning.replace("|", "\\|")
        rows.append(f"| `{key}` | {cs.what(conv)} | `{default}` | {cell} |".replace("`—`", "—"))
    return rows


def render() -> str:
    """docs/config.md, from the schema table."""
    out = [HEADER]
    for section, spec in ck.SECTIONS.items():
        cls = ck.SECTION_TYPES[section]
        out += ["", f"## {SECTION_TITLES[section]}", ""]
        out += _table(section, spec, cls, _docstrings(cls))
    out += ["", "## [[ops]]", "", OPS_INTRO, ""]
    out += _table("ops", ck.OP_KEYS, cm.OpConfig, _docstrings(cm.OpConfig))
    out += ["", "### [ops.fuzz]", "", FUZZ_INTRO, ""]
    out += _table("ops.fuzz", FUZZ_KEYS, FuzzSettings, _descriptions(FuzzSettings))
    out += ["", "### [ops.schema]", "", SCHEMA_INTRO, ""]
    out += _table("ops.schema", SCHEMA_KEYS, None, {})
    out += ["", "## [[kernels]]", ""]
    out += _table("kernels", ck.KERNEL_KEYS, cm.KernelConfig, _docstrings(cm.KernelConfig))
    out += ["", "### [kernels.artifact_checks]", ""]
    out += _table("kernels.artifact_checks", ck.CHECK_KEYS, cm.ArtifactChecks, {})
    return "\n".join(out) + "\n"


HEADER = """# gpuemu.toml reference

<!-- Generated by `python -m gpuemu.config_doc` from the schema table
     (src/gpuemu/config_keys.py, src/gpuemu/fuzz/settings.py); do not edit by hand.
     tests/unit/test_config_doc.py fails when this file is out of date. -->

gpuemu reads `gpuemu.toml` from the working directory or its nearest parent. Layers, later
wins key by key: built-in defaults < the user config `$GPUEMU_HOME/config.toml` (only
[validation], [daemon], [ci] and [policies]) < the project's gpuemu.toml. Every key below is
checked when the file is read: an unknown key, a wrong type or a value out of range is an
error that names the file, the key, the value and what was expected.

Types: a *name* is a non-empty string without surrounding spaces; a *dtype* is one of
`float16`, `bfloat16`, `float32`, `float64`, `int8`, `int16`, `int32`, `int64`, `uint8`,
`uint16`, `uint32`, `uint64`, `bool` (any case, so `Float32` too); a *path* is relative to
the file that names it. A *tolerance* is either a number, which means an absolute
tolerance with rtol 0 (`float32 = 1e-5`), or a table `{ atol = 1e-5, rtol = 1e-5 }` (a
missing one is 0); an element passes when `|actual - expected| <= atol + rtol * |expected|`."""

OPS_INTRO = """Each op is an `[[ops]]` entry (or a table `[ops.NAME]`)."""

FUZZ_INTRO = """Keys an op's [ops.fuzz] leaves unset draw from gpuemu's default strategy mix
(docs/fuzzing.md); setting any key of an axis (layouts; distributions and value_range; the
shape keys) makes that axis draw exactly as the original gpuemu did. A request's
`fuzz_config` overrides the same keys (seed 002's `shape_options` too), checked by the
same rules."""

SCHEMA_INTRO = """Two layouts are accepted and fuzz the same cases: ours,

```toml
[ops.schema]
dims = { M = [1, 7], K = [16] }
inputs = { a = ["M", "K"], b = ["K", 1] }
output = ["M", 1]
```

and the original gpuemu's (as its clients send `op_schema`):

```toml
[ops.schema]
name = "matmul"
dims = [{ name = "M", candidates = [1, 7] }, { name = "K", candidates = [16] }]
inputs = [{ name = "a", dims = ["M", "K"] }, { name = "b", dims = ["K", 1] }]
output = { name = "out", dims = ["M", 1] }
```

With a schema, the shape keys of [ops.fuzz] do not apply."""


def main(argv: list[str] | None = None) -> int:
    """Write docs/config.md; with ``--check``, exit 1 if it differs instead."""
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run `python -m gpuemu.config_doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
