"""Start-up: what a process pays before it does any work. Every CLI call, one-shot
script and warm worker starts a Python; the floor is a bare ``python -c "import numpy"``
(every one of them needs numpy), measured in the same run and interleaved with them.

``gpuemu version`` and ``--help`` must not import the client, the protocol or
ml_dtypes (subcommands load lazily); ``gpuemu.script`` is what a reference script of
ours imports; ``import ml_dtypes`` shows what BFloat16 costs the first time it is used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .project import Session
from .report import Figure, Section, Target
from .timing import interleave

GPUEMU = str(Path(sys.executable).with_name("gpuemu"))
COMMANDS = {
    "numpy": [sys.executable, "-c", "import numpy"],
    "version": [GPUEMU, "version"],
    "help": [GPUEMU, "fuzz", "--help"],
    "script": [sys.executable, "-c", "import gpuemu.script"],
    "ml_dtypes": [sys.executable, "-c", "import ml_dtypes"],
}


def run(session: Session) -> Section:
    calls = {name: (lambda argv=argv: subprocess.run(argv, check=True, capture_output=True))
             for name, argv in COMMANDS.items()}
    t = interleave(calls, session.reps(15, 3))
    twice = Target(2.0, at_most=True, on_ratio=True)
    return Section("startup", "process start-up (median wall time of the whole process)", [
        Figure.time("numpy", 'python -c "import numpy"', t["numpy"]),
        Figure.time("version", "gpuemu version", t["version"], vs=("numpy",), target=twice),
        Figure.time("help", "gpuemu fuzz --help", t["help"], vs=("numpy",), target=twice),
        Figure.time("script", "python -c \"import gpuemu.script\"", t["script"], vs=("numpy",),
                    target=twice),
        Figure.time("ml_dtypes", "python -c \"import ml_dtypes\" (paid on first BFloat16 only)",
                    t["ml_dtypes"], vs=("numpy",)),
    ])
