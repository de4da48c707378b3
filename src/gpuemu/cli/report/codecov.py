"""Coverage as a Codecov custom-coverage JSON file: each op's ``name =`` line in
gpuemu.toml is a "line" whose hits are ``covered/configured`` (the way Codecov shows
partially covered branches), so a PR that adds a dtype nobody tests shows as a partial."""

from __future__ import annotations

import msgspec

from . import Report
from .locate import config_uri, locate_op


def render_codecov(report: Report) -> str:
    if report.config_path is None:
        return msgspec.json.encode({"coverage": {}}).decode()
    lines = {}
    for op in report.coverage:
        line = locate_op(report.config_path, op.op_name)
        if line is not None:
            lines[str(line)] = _hits(op.covered, op.configured, op.results)
    body = {"coverage": {config_uri(report.config_path): lines}}
    return msgspec.json.format(msgspec.json.encode(body), indent=2).decode()


def _hits(covered: int, configured: int, results: int) -> int | str:
    """Codecov's line value: hits when all is covered, "k/n" for a partial, 0 for none."""
    if covered == configured:
        return results
    return f"{covered}/{configured}" if covered else 0
