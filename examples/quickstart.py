"""The Quick start's main job (`make demo`): the example project checked end to end.

1. `gpuemu ci run` on examples/: every op fuzzed through its Triton kernel (on the CPU,
   by Triton's interpreter) against its numpy reference, every kernel's PTX linted.
2. The buggy variant (examples/buggy): the fuzzer finds the masked-tail bug, the failure
   is reproduced from its seed alone, and minimized to a tiny case.

Each step is the real CLI, so what you see here is what you would type. The daemons
start on first use (one per project) in .gpuemu-demo/ and are stopped at the end.
Exit status 0 means the good project passed and the bug was caught, reproduced and shrunk.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
HOME = EXAMPLES.parent / ".gpuemu-demo"


def gpuemu(project: Path, *args: str, show: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GPUEMU_HOME": str(HOME / project.name)}
    env.pop("GPUEMU_SOCKET", None)
    if show:
        print(f"\n$ cd {project.relative_to(EXAMPLES.parent)} && gpuemu {' '.join(args)}", flush=True)
    out = subprocess.run([sys.executable, "-m", "gpuemu", *args], cwd=project, env=env,
                         capture_output=not show, text=True)
    return out


def main() -> int:
    buggy = EXAMPLES / "buggy"
    print("== 1/2  the example project: validation, fuzzing and PTX lint ==")
    good = gpuemu(EXAMPLES, "ci", "run")

    print("\n== 2/2  a buggy kernel: found, reproduced, minimized ==")
    found = gpuemu(buggy, "fuzz", "softmax_tail", "--iterations", "20", "--seed", "1")
    listed = gpuemu(buggy, "failures", "--op", "softmax_tail", "--limit", "20", "--format", "json",
                    show=False)
    failures = json.loads(listed.stdout)["results"] if listed.returncode == 0 else []
    caught = found.returncode == 1 and bool(failures)
    if caught:  # the biggest failing case makes the most telling minimization
        biggest = max(failures, key=lambda r: math.prod(r["repro_info"]["input_shapes"]["x"]))
        seed = str(biggest["seed"])
        again = gpuemu(buggy, "reproduce", "--seed", seed)
        small = gpuemu(buggy, "minimize", "--seed", seed, "--max-iters", "40")
        caught = again.returncode == 1 and small.returncode == 1

    for project in (EXAMPLES, buggy):
        gpuemu(project, "daemon", "stop", show=False)
    print("\n== summary ==")
    print(f"example project: {'passed' if good.returncode == 0 else 'FAILED'}")
    print(f"buggy kernel:    {'caught, reproduced and minimized' if caught else 'NOT caught'}")
    return 0 if good.returncode == 0 and caught else 1


if __name__ == "__main__":
    sys.exit(main())
