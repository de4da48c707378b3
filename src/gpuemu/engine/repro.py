"""How a case is replayed: the one command string every failure carries, and what it ran on.

The terminal report, the JSON (which the VS Code extension reads ``repro_info.command``
from), the pytest plugin's failure message and the CLI all print the command built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import numpy as np

from ..dtypes import DType
from ..fuzz.cases import CaseSpec
from ..validate import ReproductionInfo
from .health import effective_layout


def replay_command(op_name: str | None = None, seed: int | None = None, *,
                   source: str | PathLike | None = None) -> str:
    """The command that brings a case back: ``gpuemu reproduce --seed S --op OP`` (the op may
    be omitted for a stored failure), or ``--from FILE`` for a reproducer file (``source``)."""
    if source is not None:
        return f"gpuemu reproduce --from {source}"
    if seed is None:
        raise ValueError("replay_command: give the case's seed, or the reproducer file (source)")
    return f"gpuemu reproduce --seed {seed}" + (f" --op {op_name}" if op_name else "")


def repro_info(op_name: str, seed: int, inputs: Mapping[str, np.ndarray], kwargs: dict,
               command: str | None = None, spec: CaseSpec | None = None) -> ReproductionInfo:
    """What a result records to replay it: ``command`` (default: replay_command by seed) and
    the inputs' shapes, dtypes and strides; ``spec``, for a fuzz case, adds its effective
    layout and value distribution."""
    return ReproductionInfo(
        seed=seed, op_name=op_name,
        command=replay_command(op_name, seed) if command is None else command,
        layout="" if spec is None else effective_layout(spec.layout, inputs),
        distribution="" if spec is None else spec.distribution,
        input_shapes={k: list(v.shape) for k, v in inputs.items()},
        input_dtypes={k: DType.from_numpy(v.dtype).value for k, v in inputs.items()},
        input_strides={k: [s // v.itemsize for s in v.strides] for k, v in inputs.items()},
        kwargs=kwargs,
    )
