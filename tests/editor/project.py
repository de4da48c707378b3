"""The small project the editor test opens: one passing op, one a little off (a tolerance
fixes it), one whose script raises (two dtypes, no case checked). numpy only, so a run of all
three takes seconds. A fixed fuzz seed draws both of scale_crash's dtypes (a time-based one
misses one of them in 1 run of 8). Its `.venv/bin/gpuemu` is this checkout's CLI, which the
extension must find on its own (the editor's PATH has no gpuemu)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write

REFERENCE = """
    import numpy as np
    from gpuemu.script import main

    def reference(inputs, **kwargs):
        return (inputs["x"].astype(np.float64) * 2).astype(inputs["x"].dtype)

    if __name__ == "__main__":
        main(reference)
"""

OPS = {
    "scale_ok": "return inputs['x'] * 2",
    "scale_off": "return inputs['x'] * 2 + 0.003",  # ToleranceExceeded by 0.003 everywhere
    "scale_crash": "raise RuntimeError('kernel launch failed')",
}

TOML = """\
[project]
name = "editor-e2e"

[validation]
dtypes = ["float32"]
seed = 7

[[ops]]
name = "scale_ok"
reference = "refs/scale.py"
op_script = "ops/scale_ok.py"
input_names = ["x"]
[ops.fuzz]
iterations = 4
seed = 7

[[ops]]
name = "scale_off"
reference = "refs/scale.py"
op_script = "ops/scale_off.py"
input_names = ["x"]
[ops.fuzz]
iterations = 4
seed = 7
distributions = ["uniform"]

[[ops]]
name = "scale_crash"
reference = "refs/scale.py"
op_script = "ops/scale_crash.py"
input_names = ["x"]
dtypes = ["float32", "float16"]
[ops.fuzz]
iterations = 4
seed = 7
"""


def make_project(folder: Path) -> Path:
    write(folder / "refs" / "scale.py", REFERENCE)
    for name, body in OPS.items():
        write(folder / "ops" / f"{name}.py",
              f"from gpuemu.script import main\n\ndef run(inputs, **kwargs):\n    {body}\n\n"
              "if __name__ == '__main__':\n    main(run)\n")
    (folder / "gpuemu.toml").write_text(TOML)
    write(folder / ".vscode" / "settings.json", "{}")  # the workspace settings step 6 edits
    return folder / "gpuemu.toml"


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle`` (as the editor numbers them)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)
