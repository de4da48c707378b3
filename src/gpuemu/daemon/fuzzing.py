"""Fuzzing in the daemon: script-based runs, daemon-orchestrated cases, Reproduce and Minimize.

Every case is a CaseSpec drawn from (seed, op config) and stored with its result, so
a failure is reproduced by regenerating its inputs, never by storing them -- except
for outputs that came from a client, which cannot be regenerated and are kept as a
compressed snapshot.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from ..config import LOCAL, OpConfig
from ..dtypes import DType
from ..errors import ErrorCode, InvalidRequest, NotFound, ReferenceScriptFailed
from ..fuzz.cases import CaseSpec, case_seed, materialize, spec_for_seed
from ..fuzz.minimize import minimize
from ..protocol import (
    FailureSummary, FinishFuzzRun, FuzzConfigPayload, FuzzHealth, FuzzOp,
    FuzzResults, GetTestBatch, GetTestCase, ListFailures, Minimize, MinimizeReply, MinimizeResult,
    Reproduce, ReproduceResult, Results, SubmitOutput, SubmitResult, TestBatch, TestCase,
    first_shape,
)
from ..reproducer import make_reproducer
from ..rng import derive_seed, generate_seed
from ..tensor import decode_tensor, from_numpy, inline, plain, to_numpy
from ..validate import ValidationResult
from ..engine.determinism import determinism_runs
from ..engine.modes import not_run_reason
from ..engine.runner import (
    check_case, fuzz_cases, fuzz_config, reference_failure, run_case,
)
from ..engine.runs import Progress, Tally
from .handlers import (
    MAX_DETERMINISM, MAX_ITERATIONS, MAX_MINIMIZE_ITERS, MAX_START, bounded, page,
)
from ..engine.health import OpenRuns, RunHealth
from .state import DaemonState


def script_op(state: DaemonState, name: str) -> OpConfig:
    """The op, which must be script-based for the daemon to run it (seed 004)."""
    op = state.config.get().op(name)
    if not op.runs_in_daemon:
        raise InvalidRequest(f"{not_run_reason(op)}; run the op yourself with "
                             "Client.fuzz_op_client_side / GetTestBatch + SubmitOutput",
                             field="op_name")
    return op


def case_record(mode: str, spec: CaseSpec) -> dict:
    return {"mode": mode, "spec": msgspec.to_builtins(spec)}


def store_case(state: DaemonState, spec: CaseSpec, result: ValidationResult) -> None:
    state.storage.add_result(result, case=case_record("script_based", spec))


def run_fuzz(state: DaemonState, op: OpConfig, payload: FuzzConfigPayload | None,
             iterations: int, seed: int, fail_fast: bool = False, start: int = 0,
             progress: Progress | None = None, determinism: int | None = None,
             cluster: str | None = None) -> FuzzResults:
    """Cases ``start .. start+iterations-1`` of root ``seed``, in parallel over warm workers
    (engine.runner), or over a cluster's nodes (``cluster``, else the config's [cluster]
    address; gpuemu.cluster); every case is stored as it is judged, and the run stops at a
    case boundary when its request is cancelled.

    The results carry the run's coverage and health (engine.health).
    ``determinism`` runs the op that many times per case (None: as the op is configured).
    """
    config = fuzz_config(op, payload)
    runs = determinism_runs(op, determinism)
    health = RunHealth(config, guard=op.vacuous_guard)
    tally = Tally(fail_fast=fail_fast)
    indices = range(start, start + iterations)
    address = cluster_address(state, cluster)
    if address is None:
        fuzz_cases(state.scripts(), op, config, seed, indices, runs, health, tally,
                   lambda _, spec, result: store_case(state, spec, result),
                   progress=progress, checkpoint=state.check_cancelled)
    else:  # [cluster] hook: the cases run on Ray nodes, and are stored here in seed order
        from ..cluster.campaign import run_campaign

        run_campaign(state, op, payload, seed, indices, runs, health, address, tally,
                     progress=progress)
    run = tally.results(op.name, seed, health.verdict())
    state.storage.add_fuzz_run(op.name, seed, start, run.iterations, run.passed, run.failed,
                               run.duration_ms)
    state.prune()
    return run


def cluster_address(state: DaemonState, requested: str | None) -> str | None:
    """The cluster a run goes to: the request's, else [cluster] address; None: this machine."""
    address = requested if requested is not None else state.config.get().cluster.address
    return None if address in (None, "", LOCAL) else address


def fuzz_op(req: FuzzOp, state: DaemonState) -> FuzzResults:
    op = script_op(state, req.op_name)
    cfg = req.fuzz_config or FuzzConfigPayload()
    seed = next((s for s in (req.seed, cfg.seed, op.fuzz.seed) if s is not None), None)
    iterations = next(n for n in (req.iterations, cfg.iterations, op.fuzz.iterations)
                      if n is not None)
    bounded(iterations, "iterations", MAX_ITERATIONS,
            fix="; split a longer campaign into requests with `start`")
    bounded(req.start, "start", MAX_START)
    if req.determinism is not None:
        bounded(req.determinism, "determinism", MAX_DETERMINISM, low=1)
    with state.job(op.name, iterations) as progress:
        return run_fuzz(state, op, req.fuzz_config, iterations,
                        generate_seed() if seed is None else seed,
                        fail_fast=req.fail_fast or op.fuzz.fail_fast, start=req.start,
                        progress=progress, determinism=req.determinism, cluster=req.cluster)


def test_case_response(spec: CaseSpec, inputs: dict[str, np.ndarray]) -> TestCase:
    metadata = {"op_name": spec.op_name, "seed": spec.seed, "dtype": spec.dtype,
                "layout": spec.layout, "distribution": spec.distribution,
                "shapes": dict(spec.shapes), "kwargs": dict(spec.kwargs)}
    return TestCase(op_name=spec.op_name, seed=spec.seed, kwargs=dict(spec.kwargs),
                    inputs={k: from_numpy(v, keep_offset=True) for k, v in inputs.items()},
                    dtype=spec.dtype, layout=spec.layout, distribution=spec.distribution,
                    shape=first_shape(spec.shapes), metadata=metadata)


def get_test_case(req: GetTestCase, state: DaemonState) -> TestCase:
    op = state.config.get().op(req.op_name)
    config = fuzz_config(op, req.fuzz_config)
    sent = req.fuzz_config.seed if req.fuzz_config else None  # the original client's place
    seed = next((s for s in (req.seed, sent) if s is not None), None)
    spec = spec_for_seed(config, generate_seed() if seed is None else seed, op.name)
    return test_case_response(spec, materialize(spec))


def get_test_batch(req: GetTestBatch, state: DaemonState) -> TestBatch:
    if not 0 <= req.count <= 10_000 or req.start < 0:
        raise InvalidRequest(f"count must be in 0..10000 and start >= 0, got count {req.count},"
                             f" start {req.start}", field="count")
    op = state.config.get().op(req.op_name)
    config = fuzz_config(op, req.fuzz_config)
    if req.seeds is not None:
        specs = [spec_for_seed(config, s, op.name) for s in req.seeds]
    else:
        root = next((s for s in (req.seed, config.seed) if s is not None), None)
        root = generate_seed() if root is None else root
        specs = [spec_for_seed(config, case_seed(root, i), op.name)
                 for i in range(req.start, req.start + req.count)]
    limit = state.config.get().daemon.max_message_bytes
    size = sum(math.prod(shape) * DType.parse(s.dtype).itemsize
               for s in specs for shape in s.shapes.values())
    if size > limit:
        raise InvalidRequest(
            f"these {len(specs)} cases hold {size} bytes of inputs, over the daemon's"
            f" max_message_bytes of {limit}; ask for fewer at a time (count, and start for the"
            " next ones), or raise [daemon] max_message_bytes in gpuemu.toml", field="count")
    return TestBatch(cases=[test_case_response(s, materialize(s)) for s in specs])


def submit_output(req: SubmitOutput, state: DaemonState) -> SubmitResult:
    op = state.config.get().op(req.op_name)
    if (req.output is None) == (req.error is None):
        raise InvalidRequest("SubmitOutput needs exactly one of `output` (the op's result) or"
                             " `error` (why the op failed)", field="output")
    config = fuzz_config(op, req.fuzz_config)
    spec = spec_for_seed(config, req.seed, op.name)
    if req.kwargs:
        spec = msgspec.structs.replace(spec, kwargs={**spec.kwargs, **req.kwargs})
    actual = None if req.output is None else to_numpy(req.output, "output")
    inputs = None if req.inputs is None else sent_inputs(spec, req.inputs)
    health = None if req.run is None else state.runs.get(
        (op.name, req.run), lambda: RunHealth(config, guard=op.vacuous_guard))
    try:
        result = run_case(state.scripts(), op, spec, actual=actual, error=req.error, health=health,
                          inputs=inputs)
    except ReferenceScriptFailed as exc:
        if health is None:  # a lone case answers like ValidateOp; a run goes on
            raise
        health.filtered(spec)
        result = reference_failure(op, config, spec, exc)
    snapshot = None if result.passed or req.output is None else msgspec.msgpack.encode(
        {"output": inline(req.output, actual)})
    state.storage.add_result(result, case=case_record("daemon_orchestrated", spec),
                             inputs_snapshot=snapshot)
    return SubmitResult(result=result)


def sent_inputs(spec: CaseSpec, sent: dict) -> dict[str, np.ndarray] | None:
    """The inputs a client sent back with its output, checked against the case's: None when
    they hold the case's values (the usual case), else what the op really ran on (e.g. a
    client that decoded bfloat16 as float16), which the reference then gets too."""
    if set(sent) != set(spec.shapes):
        raise InvalidRequest(f"inputs: the case of seed {spec.seed} has inputs"
                             f" {sorted(spec.shapes)}, the request sent {sorted(sent)}",
                             field="inputs")
    arrays = {k: to_numpy(td, f"inputs.{k}") for k, td in sent.items()}
    case = materialize(spec)
    same = all(a.dtype == case[k].dtype and np.array_equal(a, case[k], equal_nan=a.dtype.kind in "fc")
               for k, a in arrays.items())
    return None if same else arrays


def finish_fuzz_run(req: FinishFuzzRun, state: DaemonState) -> FuzzHealth:
    health = state.runs.pop((req.op_name, req.run))
    if health is None:
        raise NotFound(f"no open fuzz run {req.run} of op {req.op_name!r}: no SubmitOutput named"
                       f" it with run={req.run}, it was finished already, or the daemon restarted"
                       f" (or evicted it: at most {OpenRuns.LIMIT} runs stay open at once)")
    coverage, issues, vacuous = health.verdict()
    return FuzzHealth(op_name=req.op_name, run=req.run, coverage=coverage, health=issues,
                      vacuous=vacuous)


def stored_case(state: DaemonState, seed: int, op_name: str | None):
    """The op, spec and (for client outputs) snapshot of the stored failure named by ``seed``."""
    failure = state.storage.get_failure(seed, op_name)
    if failure is None:
        if op_name is None:
            raise NotFound(f"no stored failure with seed {seed}; `gpuemu failures` lists them,"
                           " or name the op (--op) to regenerate the case from the config")
        op = state.config.get().op(op_name)
        return op, spec_for_seed(fuzz_config(op, None), seed, op.name), None, "script_based"
    op = state.config.get().op(failure.op_name)
    case = failure.case or {}
    snapshot = state.storage.get_inputs_snapshot(failure.id) if failure.has_inputs_snapshot else None
    if "spec" not in case:
        return op, None, snapshot, case.get("mode", "client_side")
    return op, msgspec.convert(case["spec"], CaseSpec), snapshot, case.get("mode", "script_based")


def reproduce(req: Reproduce, state: DaemonState) -> ReproduceResult:
    op, spec, snapshot, mode = stored_case(state, req.seed, req.op_name)
    actual = None
    if spec is None:  # client-side inputs: re-check the stored output against the reference
        data = msgspec.msgpack.decode(snapshot or b"\x80")
        if "inputs" not in data:
            raise NotFound(f"failure {req.seed} was stored without its inputs; it cannot be"
                           " reproduced")
        inputs = {k: decode_tensor(v, f"inputs.{k}") for k, v in data["inputs"].items()}
        kwargs = data.get("kwargs", {})
        actual = decode_tensor(data["output"], "output")
        _, result = check_case(state.scripts(), op, actual, inputs, kwargs, req.seed)
    else:
        inputs, kwargs = None, dict(spec.kwargs)
        if mode == "daemon_orchestrated" and snapshot and op.op_script is None:
            actual = decode_tensor(msgspec.msgpack.decode(snapshot)["output"], "output")
        elif not op.runs_in_daemon:
            raise InvalidRequest(f"{not_run_reason(op)}: the case cannot be re-run",
                                 field="op_name")
        result = run_case(state.scripts(), op, spec, seed=req.seed, actual=actual)
    reproducer = None if not req.reproducer else make_reproducer(
        op.name, req.seed, materialize(spec) if inputs is None else inputs, kwargs, spec=spec,
        output=actual, failure_kinds=result.failure_kinds, embed=req.embed_inputs)
    shown = materialize(spec) if inputs is None else inputs
    return ReproduceResult(seed=req.seed, op_name=op.name, still_fails=not result.passed,
                           result=result, reproducer=reproducer,
                           inputs={k: plain(v) for k, v in shown.items()})


def minimize_handler(req: Minimize, state: DaemonState) -> MinimizeReply:
    bounded(req.max_iters, "max_iters", MAX_MINIMIZE_ITERS, low=1)
    op, spec, _, _ = stored_case(state, req.seed, req.op_name)
    if spec is None:
        raise InvalidRequest(f"failure {req.seed} came from client-side inputs, which the daemon"
                             " cannot regenerate at other shapes; minimize a script-based or"
                             " daemon-orchestrated failure", field="seed")
    op = script_op(state, op.name)
    calls = 0

    def fails(candidate: CaseSpec):
        nonlocal calls
        state.check_cancelled()
        calls += 1
        progress(min(calls, req.max_iters), req.max_iters)
        try:
            result = run_case(state.scripts(), op, candidate)
        except ReferenceScriptFailed:  # a shape the reference cannot do is not the same failure
            return frozenset({ErrorCode.ReferenceScriptFailed})
        return None if result.passed else frozenset(result.failure_kinds)

    with state.job(op.name, req.max_iters) as progress:  # Pong.jobs shows it advance
        outcome = minimize(spec, fails, strategy=req.strategy, max_iters=req.max_iters,
                           schema=fuzz_config(op, None).schema)
    minimized_seed = derive_seed(req.seed, "minimized")
    result = run_case(state.scripts(), op, outcome.minimized, seed=minimized_seed)
    state.storage.add_result(result, case=case_record("minimized", outcome.minimized))
    return MinimizeReply.of(MinimizeResult(
        original_seed=req.seed, minimized_seed=minimized_seed,
        original_shape=dict(spec.shapes), minimized_shape=dict(outcome.minimized.shapes),
        strategy=req.strategy, steps=[f"{name}: {what}" for name, what in outcome.steps],
        calls=outcome.calls, result=result, outside_schema=outcome.outside_schema,
        minimized_case=msgspec.to_builtins(outcome.minimized)))


def list_failures(req: ListFailures, state: DaemonState) -> Results:
    records, next_offset = page(req, lambda limit, offset: state.storage.list_failures(
        limit=limit, op_name=req.op_name, offset=offset))
    return Results(results=[f.result for f in records if f.result is not None],
                   failures=[FailureSummary(op_name=f.op_name, seed=f.seed, kinds=f.kinds,
                                            timestamp=f.timestamp, result=f.result)
                             for f in records], next_offset=next_offset)
