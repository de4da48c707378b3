"""Write a minimized failure out as a standalone pytest regression test.

The test is a few lines that call ``check_saved_case``; the case lives beside it as
``<name>.npz`` (the inputs' logical values) and ``<name>.json`` (op, layout, kwargs,
where gpuemu.toml is). The inputs are saved rather than regenerated so the test keeps
meaning the same case even if the generator's config changes. The test runs the op
script and the reference in subprocesses, exactly as the daemon's script-based mode does
(no daemon needed), so it fails while the bug is there and passes once the op is fixed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..config import load_config
from ..local import run_here
from .cases import CaseSpec, apply_layout, materialize

TEMPLATE = '''"""Regression test for op {op!r}, written by `gpuemu minimize --write-test`.

Minimized from seed {original} ({before} -> {after}). It fails while the bug is there and
passes once the op is fixed. The inputs are in {stem}.npz beside this file.
"""

from gpuemu.fuzz.regression import check_saved_case


def test_{ident}():
    check_saved_case(__file__)
'''


def write_regression_test(config_path: str | Path, spec: CaseSpec, out_dir: str | Path, *,
                          original_seed: int | None = None,
                          original_shapes: dict[str, list[int]] | None = None) -> Path:
    """Write ``test_<op>_<seed>.py`` and its case files into ``out_dir``; return the test path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ident = f"{_identifier(spec.op_name)}_seed_{spec.seed}"
    test = out_dir / f"test_{ident}.py"
    inputs = {name: np.ascontiguousarray(x) for name, x in materialize(spec).items()}
    np.savez(test.with_suffix(".npz"), **inputs)
    meta = {"op_name": spec.op_name, "seed": spec.seed, "layout": spec.layout,
            "kwargs": spec.kwargs, "input_order": list(inputs),
            "config": os.path.relpath(Path(config_path).resolve(), out_dir.resolve())}
    test.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    shapes = {k: list(v.shape) for k, v in inputs.items()}
    test.write_text(TEMPLATE.format(
        op=spec.op_name, original=original_seed if original_seed is not None else spec.seed,
        before=original_shapes or shapes, after=shapes, stem=test.stem, ident=ident))
    return test


def check_saved_case(test_file: str | Path) -> None:
    """Run the saved case through the op script and the reference; raise AssertionError
    with the failure report if the op is still wrong."""
    test = Path(test_file)
    meta = json.loads(test.with_suffix(".json").read_text())
    config_path = (test.parent / meta["config"]).resolve()
    op = load_config(config_path).op(meta["op_name"])
    with np.load(test.with_suffix(".npz")) as saved:
        inputs = {name: apply_layout(saved[name], meta["layout"]) for name in meta["input_order"]}
    result = run_here(op, config_path.parent, inputs, meta["kwargs"], meta["seed"],
                      where=test.name).result
    if not result.passed:
        reasons = "\n".join(f"  {f.kind}: {f.message}" for f in result.failures)
        raise AssertionError(f"op {op.name!r} still fails its minimized case (seed {meta['seed']},"
                             f" shapes { {k: list(v.shape) for k, v in inputs.items()} }):\n{reasons}")


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
