"""Request handlers: plain functions from a request to a response.

They never touch sockets (the server is a thin loop around ``routes.dispatch``, whose
table names the handler of each request type), so tests call them in-process and the
end-to-end suite drives a real daemon. A handler signals failure by raising a
GpuemuError; ``dispatch`` turns it into an Error reply.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np

from .. import __version__
from ..config import OpConfig
from ..coverage import coverage_from_counts
from ..dtypes import DType
from ..errors import InvalidRequest, NotFound
from ..protocol import (
    PROTOCOL_VERSION, MAX_PAGE, BaselineComparisonResponse, BaselineEntry, CompareBaseline,
    CoverageReport, GetCoverage, GetResult, JobProgress, ListArtifacts, ListFailures,
    ListResults, Ok, Ping, Pong, Results, Shutdown, StoreBaseline, ValidateOp,
    ValidationResultResponse, WorkerFigures,
)
from ..rng import generate_seed
from ..tensor import TensorData, inline, to_numpy
from ..engine.baseline import compare_baseline
from ..engine.repro import repro_info
from ..engine.runner import check_case
from .state import DaemonState

MAX_ITERATIONS = 1_000_000
"""Fuzz cases per request (FuzzOp.iterations): about an hour at 300 cases/s; a longer
campaign is several requests with ``start`` (the cases are the same)."""
MAX_DETERMINISM = 100
MAX_MINIMIZE_ITERS = 10_000
MAX_START = 1 << 62
MAX_JOBS = 256
"""Ops checked at once by RunCi: each is a thread of the daemon."""


def bounded(value: int, field: str, high: int, low: int = 0, fix: str = "") -> int:
    """``value`` if ``low <= value <= high``; else an InvalidRequest naming the field and bound."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be in {low}..{high:_}, got {value!r}{fix}",
                             field=field)
    return value


def ping(req: Ping, state: DaemonState) -> Pong:
    return Pong(version=__version__, protocol_version=PROTOCOL_VERSION,
                uptime_secs=round(state.uptime_secs, 3),
                jobs=[JobProgress(op_name=n, done=d, total=t) for n, d, t in state.job_list()],
                config_path=None if state.config.path is None else str(state.config.path),
                workers=_worker_figures(state))


def _worker_figures(state: DaemonState) -> WorkerFigures:
    pool, counts = state.executor.figures(), state.executor.stats()
    return WorkerFigures(live=pool.live, idle=pool.idle, rss_bytes=pool.rss_bytes,
                         max_workers=pool.max_workers, max_memory_bytes=pool.max_memory_bytes,
                         idle_timeout_s=pool.idle_timeout_s, reaped_idle=counts.reaped_idle,
                         reaped_cap=counts.reaped_cap, reaped_memory=counts.reaped_memory)


def shutdown(req: Shutdown, state: DaemonState) -> Ok:
    state.shutdown.set()
    return Ok()


def decode_inputs(op: OpConfig, inputs: dict[str, TensorData]) -> dict[str, np.ndarray]:
    """The request's inputs as arrays, checked against the op's declared input names."""
    if op.input_names and set(inputs) != set(op.input_names):
        raise InvalidRequest(
            f"op {op.name!r} takes inputs {list(op.input_names)} but the request sent"
            f" {sorted(inputs)}; rename them to match `input_names` in gpuemu.toml",
            field="inputs",
        )
    return {name: to_numpy(td, f"inputs.{name}") for name, td in inputs.items()}


def validate_op(req: ValidateOp, state: DaemonState) -> ValidationResultResponse:
    config = state.config.get()
    op = config.op(req.op_name)
    inputs = decode_inputs(op, req.inputs)
    actual = to_numpy(req.output, "output")
    if req.dtype is not None:
        DType.parse(req.dtype, "dtype")  # before the reference runs
    seed = req.seed if req.seed is not None else generate_seed()
    _, result = check_case(state.scripts(config), op, actual, inputs, req.kwargs, seed,
                           tolerance_dtype=req.dtype)
    result.repro_info = repro_info(op.name, seed, inputs, req.kwargs)
    snapshot = None
    if not result.passed:  # client inputs cannot be regenerated from the seed: keep them
        snapshot = msgspec.msgpack.encode({
            "inputs": {k: inline(td, inputs[k]) for k, td in req.inputs.items()},
            "output": inline(req.output, actual), "kwargs": req.kwargs})
    state.storage.add_result(result, case={"mode": "client_side", "kwargs": req.kwargs},
                             inputs_snapshot=snapshot)
    return ValidationResultResponse(result=result)


def get_result(req: GetResult, state: DaemonState) -> ValidationResultResponse:
    result = state.storage.get_result(req.seed, req.op_name)
    if result is None:
        scope = f" for op {req.op_name!r}" if req.op_name else ""
        raise NotFound(f"no stored result with seed {req.seed}{scope}; `gpuemu failures` or"
                       " ListResults shows the stored seeds")
    return ValidationResultResponse(result=result)


def page(req: ListResults | ListFailures | ListArtifacts,
         fetch: Callable[[int, int], list]) -> tuple[list, int | None]:
    """One page of a list request: at most MAX_PAGE rows, and the offset of the next page
    when the request asked for more or more exist (``fetch(limit, offset)`` reads rows)."""
    size = min(req.limit, MAX_PAGE)
    rows = fetch(size + 1, req.offset)
    more = len(rows) > size and req.limit > size
    return rows[:size], req.offset + size if more else None


def list_results(req: ListResults, state: DaemonState) -> Results:
    rows, next_offset = page(req, lambda limit, offset: state.storage.list_results(
        limit=limit, op_name=req.op_name, offset=offset))
    return Results(results=rows, next_offset=next_offset)


def get_coverage(req: GetCoverage, state: DaemonState) -> CoverageReport:
    """From the counts storage keeps as results arrive: no stored result is decoded."""
    config = state.config.get()
    ops = [config.op(req.op_name)] if req.op_name else list(config.ops.values())
    return CoverageReport(ops=[coverage_from_counts(op, *state.storage.coverage_counts(op.name))
                               for op in ops])


def store_baseline(req: StoreBaseline, state: DaemonState) -> Ok:
    if not req.tag.strip():
        raise InvalidRequest("baseline tag must not be empty", field="tag")
    return Ok(tag=req.tag, ops=state.storage.store_baseline(req.tag))


def compare_baseline_handler(req: CompareBaseline, state: DaemonState) -> BaselineComparisonResponse:
    baseline = state.storage.get_baseline(req.tag)
    factor = state.config.get().policies.regression_factor
    cmp = compare_baseline(baseline, state.storage.latest_results_per_op(), factor)
    fail = req.fail_on_regression or state.config.get().policies.fail_on_regression

    def entries(items) -> list[BaselineEntry]:
        return [BaselineEntry(op_name=e.op_name, reason=e.reason, baseline=e.baseline,
                              current=e.current) for e in items]

    return BaselineComparisonResponse(
        tag=req.tag, passed=not (fail and cmp.has_regressions),
        regressions=entries(cmp.regressions), improvements=entries(cmp.improvements),
        unchanged=entries(cmp.unchanged), missing=entries(cmp.missing), new=entries(cmp.new),
    )
