"""Which ops the daemon runs itself (seed 004's execution modes), and what to say about the rest.

The daemon runs an op's scripts only when the op is script-based; a client-side or
daemon-orchestrated op runs in the author's process. The CLI and RunCi list the ops they
skip with the reason, and a request that would need such an op run says how instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:  # the wire imports CiSkipped; clients need not load the config schema
    from ..config import OpConfig


class CiSkipped(msgspec.Struct, omit_defaults=True):
    """An op a run left out, and why (RunCi and the CLI list them)."""

    op_name: str
    reason: str


def not_run_reason(op: OpConfig) -> str:
    """Why the daemon does not run ``op`` (it is not script-based), and how to make it."""
    if op.op_script is None:
        return (f"op {op.name!r} has no op_script, so the daemon cannot run it (execution_mode"
                f" {op.execution_mode}); add `op_script = \"...\"` to its [[ops]] entry")
    return (f"op {op.name!r} is execution_mode {op.execution_mode!r}, so the daemon does not run"
            " its op_script; set execution_mode = \"script_based\" to let it")


def skipped_ops(ops: Iterable[OpConfig]) -> list[CiSkipped]:
    """The ops the daemon does not run (all but script-based ones), with what to do instead."""
    return [CiSkipped(op_name=op.name, reason=(
                "no op_script: a client-side op" if op.op_script is None else
                f"execution_mode {op.execution_mode!r}: the daemon does not run it")
                + "; run it with Client.fuzz_op_client_side or validate_op")
            for op in ops if not op.runs_in_daemon]
