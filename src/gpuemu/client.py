"""The Python Client: one method per request type, over NNG REQ.

Requests go as flat msgpack, so tensors travel as raw bytes (the daemon also
speaks JSON for other clients). An Error reply is raised as the exception class of
its code that is *also* a ClientError, so ``except OpNotFound`` and
``except ClientError`` both work.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pynng

from . import paths, shm
from .errors import GpuemuError, InvalidRequest, NotFound, error_from_code
from .frameworks.base import adapter_for, get_adapter
from .protocol import (
    Artifact, ArtifactBaselineStored, ArtifactDiff, ArtifactList, ArtifactStored,
    BaselineComparisonResponse, BaselineStored, CiRunComplete, CiSummary, CompareBaseline,
    CoverageReport, GetCoverage, OpCoverage,
    DiffArtifactBaseline, Error, FailureList, FailureSummary, FinishFuzzRun, Form,
    FuzzConfigPayload, FuzzHealth, FuzzOp, FuzzResults, GetArtifact, GetCiSummary, GetResult,
    GetTestBatch, GetTestCase, LintKernel, LintResult, ListArtifacts, ListFailures, ListResults,
    Minimize, MinimizeResult, OpSchemaPayload, Ping, Pong, Reproduce, ReproduceResult, Request,
    Response, ResultList, RunCi, Shutdown, StoreArtifact,
    StoreArtifactBaseline, StoreBaseline, SubmitOutput, TestBatch, TestCase, ValidateOp,
    ValidationResultResponse, decode_response, encode_message,
)
from .rng import generate_seed
from .tensor import TensorData, from_numpy
from .validate.result import ReproductionInfo, ValidationResult

__all__ = ["Client", "ClientError", "ConnectionError", "ValidationError", "ValidationResult",
           "ReproductionInfo", "validate_op"]

START_HINT = "start it with: gpuemu daemon start"


class ClientError(GpuemuError):
    """An Error reply from the daemon, or a reply the client cannot use."""


class ConnectionError(ClientError, builtins.ConnectionError):  # noqa: A001 - seed 002's name
    """No daemon answers on the socket (or it stopped answering in time)."""


class ValidationError(GpuemuError, AssertionError):
    """The op's output failed validation; ``result`` holds the full verdict."""

    def __init__(self, result: ValidationResult):
        self.result = result
        reasons = "; ".join(f"{f.kind}: {f.message}" for f in result.failures)
        replay = f" (replay: {result.repro_info.command})" if result.repro_info else ""
        super().__init__(f"{result.op_name} failed validation (seed {result.seed}): "
                         f"{reasons}{replay}")


_REMOTE: dict[type, type] = {}
_REMOTE_LOCK = threading.Lock()


def remote_error(reply: Error) -> GpuemuError:
    """The exception for an Error reply: its code's class mixed with ClientError."""
    base = type(error_from_code(reply.code, reply.message))
    with _REMOTE_LOCK:
        cls = _REMOTE.get(base)
        if cls is None:
            cls = _REMOTE[base] = type(base.__name__, (ClientError, base), {"__module__": __name__})
    exc = cls(reply.message)
    exc.field = reply.field
    return exc


def _wire(value: Any) -> TensorData:
    """``value`` for a request to the daemon, which is on this host (the socket is ipc):
    large tensors through shared memory (gpuemu.shm), numpy arrays without a copy first."""
    if isinstance(value, np.ndarray):
        return from_numpy(value, shared=True)
    return shm.spill(as_tensor_data(value))


def as_tensor_data(value: Any) -> TensorData:
    """A TensorData for a numpy array, a torch/JAX/TensorFlow tensor (any device), or
    anything np.asarray accepts."""
    return value if isinstance(value, TensorData) else adapter_for(value).to_tensor_data(value)


LONG_REQUESTS = (FuzzOp, Minimize, RunCi)


class ProgressWatch:
    """While a long request runs, ping the daemon on a second connection and close the
    request's socket once ``timeout_ms`` pass without an answer to Ping. REQ/REP cannot
    stream progress; a daemon that answers Ping is working on the request (it cancels the
    work of clients that leave, bounds its length, and kills a case past the op's timeout),
    so this tells a request of any length from a stuck or dead daemon."""

    def __init__(self, client: Client, sock: pynng.Req0):
        self.client, self.sock = client, sock
        self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuemu-progress", daemon=True)

    def __enter__(self) -> ProgressWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _run(self) -> None:
        timeout_s = self.client.timeout_ms / 1000
        answered = time.monotonic()
        with Client(self.client.socket_path, timeout_ms=self.client.timeout_ms, auto_start=False,
                    form=self.client.form) as probe:
            while not self._stop.wait(min(1.0, timeout_s / 4)):
                try:
                    probe.ping()
                    answered = time.monotonic()
                except GpuemuError:
                    if time.monotonic() - answered >= timeout_s and not self._stop.is_set():
                        self.stalled = True
                        self.sock.close()  # ends the request's recv
                        return


class Client:
    """A connection to the gpuemu daemon.

    ``auto_start`` (default: on unless ``GPUEMU_AUTO_START=0``) starts a daemon for the
    project found from the working directory when none answers.
    """

    def __init__(self, socket_path: str | Path | None = None, timeout_ms: int = 30000, *,
                 auto_start: bool | None = None, config_path: str | Path | None = None,
                 form: Form = Form.MSGPACK):
        self.socket_path = Path(socket_path) if socket_path else paths.socket_path()
        self.timeout_ms = timeout_ms
        self.auto_start = (os.environ.get("GPUEMU_AUTO_START", "1") != "0"
                           if auto_start is None else auto_start)
        self.config_path = Path(config_path) if config_path else None
        self.form = form
        self._sock: pynng.Req0 | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _socket(self) -> pynng.Req0:
        with self._lock:
            if self._sock is None:
                self._sock = self._dial()
            return self._sock

    def _dial(self, recv_timeout_ms: int | None = None) -> pynng.Req0:
        url = paths.socket_url(self.socket_path)
        # resend_time -1: NNG's REQ re-sends an unanswered request after 60 s by default, and
        # the daemon would run a long fuzz or CI request a second time.
        opts = dict(recv_timeout=self.timeout_ms if recv_timeout_ms is None else recv_timeout_ms,
                    send_timeout=self.timeout_ms, recv_max_size=0, resend_time=-1)
        try:
            return pynng.Req0(dial=url, block_on_dial=True, **opts)
        except pynng.exceptions.NNGException:
            if not self.auto_start:
                raise ConnectionError(f"no gpuemu daemon answers on {self.socket_path}; "
                                      f"{START_HINT}") from None
        from .daemon.launcher import start_background

        start_background(self.config_path, socket_path=self.socket_path)
        try:
            return pynng.Req0(dial=url, block_on_dial=True, **opts)
        except pynng.exceptions.NNGException as exc:
            raise ConnectionError(f"started a daemon but cannot connect to {self.socket_path}:"
                                  f" {exc}; {START_HINT}") from None

    def request(self, request: Request) -> Response:
        """Send one request and return its reply; an Error reply is raised.

        A long request (FuzzOp, Minimize, RunCi) waits as long as the daemon makes progress
        (see ProgressWatch), not ``timeout_ms``: its length follows from the work."""
        data = encode_message(request, self.form)
        if isinstance(request, LONG_REQUESTS):
            sock = self._dial(recv_timeout_ms=-1)
            with ProgressWatch(self, sock) as watch:
                reply = self._exchange(sock, data, request, watch)
        else:
            reply = self._exchange(self._socket(), data, request)
        if isinstance(reply, Error):
            raise remote_error(reply)
        return reply

    def _exchange(self, sock: pynng.Req0, data: bytes, request: Request,
                  watch: ProgressWatch | None = None) -> Response:
        try:
            with sock.new_context() as ctx:
                ctx.send(data)
                return decode_response(ctx.recv())
        except pynng.exceptions.Timeout:
            raise ConnectionError(
                f"the gpuemu daemon on {self.socket_path} did not answer a {type(request).__name__}"
                f" within {self.timeout_ms} ms; check `gpuemu daemon status` and its log"
                " (`gpuemu daemon logs`), or raise Client(timeout_ms=...)") from None
        except pynng.exceptions.NNGException as exc:
            if watch is not None and watch.stalled:
                raise ConnectionError(
                    f"the gpuemu daemon on {self.socket_path} stopped answering Ping for"
                    f" {self.timeout_ms} ms during a {type(request).__name__};"
                    " check `gpuemu daemon status` and its log (`gpuemu daemon logs`), or raise"
                    " Client(timeout_ms=...)") from None
            raise ConnectionError(f"lost the connection to the gpuemu daemon: {exc}; "
                                  f"{START_HINT}") from None

    def _expect(self, request: Request, reply_type: type) -> Any:
        reply = self.request(request)
        if not isinstance(reply, reply_type):
            raise ClientError(f"daemon answered {type(reply).__name__} to "
                              f"{type(request).__name__}; expected {reply_type.__name__}")
        return reply

    def _with_tensors(self, request: Request, tensors: list) -> ValidationResultResponse:
        """Send a request carrying tensors; their shared-memory files (gpuemu.shm: the
        daemon is on this host, the socket being ipc) go once the daemon has answered."""
        try:
            return self._expect(request, ValidationResultResponse)
        finally:
            shm.discard(shm.names(tensors))

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def ping(self) -> Pong:
        return self._expect(Ping(), Pong)

    def shutdown(self) -> None:
        self.request(Shutdown())

    def validate_op(self, op_name: str, inputs: Mapping[str, Any], output: Any,
                    kwargs: Mapping[str, Any] | None = None,
                    seed: int | None = None) -> ValidationResult:
        """Client-side mode: validate ``output`` (computed by you) against the op's reference."""
        req = ValidateOp(op_name=op_name,
                         inputs={k: _wire(v) for k, v in inputs.items()},
                         output=_wire(output), kwargs=dict(kwargs or {}),
                         seed=seed)
        return self._with_tensors(req, [*req.inputs.values(), req.output]).result

    def get_result(self, seed: int, op_name: str | None = None) -> ValidationResult | None:
        try:
            return self._expect(GetResult(seed=seed, op_name=op_name),
                                ValidationResultResponse).result
        except NotFound:
            return None

    def list_results(self, limit: int = 50, op_name: str | None = None) -> list[ValidationResult]:
        """Up to ``limit`` results, newest first, fetched a page (protocol.MAX_PAGE) at a time."""
        return self._pages(lambda offset: self._expect(
            ListResults(limit=limit - offset, op_name=op_name, offset=offset), ResultList),
            lambda reply: reply.results)

    def _pages(self, fetch: Callable[[int], Any], rows: Callable[[Any], list]) -> list:
        """Every page of a list request; ``fetch(offset)`` asks for the rest from ``offset``."""
        found: list = []
        offset: int | None = 0
        while offset is not None:
            reply = fetch(offset)
            found += rows(reply)
            offset = reply.next_offset
        return found

    def store_baseline(self, tag: str) -> int:
        """Snapshot the latest result of every op under ``tag``; returns how many ops."""
        return self._expect(StoreBaseline(tag=tag), BaselineStored).ops

    def compare_baseline(self, tag: str,
                         fail_on_regression: bool = False) -> BaselineComparisonResponse:
        return self._expect(CompareBaseline(tag=tag, fail_on_regression=fail_on_regression),
                            BaselineComparisonResponse)

    # -- fuzzing (script-based and daemon-orchestrated modes) -------------------------------

    def fuzz_op(self, op_name: str, iterations: int | None = None, seed: int | None = None,
                fail_fast: bool = False,
                fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                start: int = 0, determinism: int | None = None) -> FuzzResults:
        """Script-based mode: the daemon runs the op script and the reference on seeded cases.
        ``determinism`` N runs the op N times per case and requires identical outputs."""
        return self._expect(FuzzOp(op_name=op_name, iterations=iterations, seed=seed,
                                   fail_fast=fail_fast, fuzz_config=_fuzz_config(fuzz_config),
                                   start=start, determinism=determinism), FuzzResults)

    def get_test_case(self, op_name: str, seed: int | None = None,
                      fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None) -> TestCase:
        return self._expect(GetTestCase(op_name=op_name, seed=seed,
                                        fuzz_config=_fuzz_config(fuzz_config)), TestCase)

    def get_test_batch(self, op_name: str, count: int = 10, seed: int | None = None,
                       fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                       start: int = 0) -> list[TestCase]:
        return self._expect(GetTestBatch(op_name=op_name, count=count, seed=seed, start=start,
                                         fuzz_config=_fuzz_config(fuzz_config)), TestBatch).cases

    def submit_output(self, op_name: str, seed: int, output: Any,
                      fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None
                      ) -> ValidationResult:
        """Daemon-orchestrated mode: the output you computed for the case named by ``seed``."""
        req = SubmitOutput(op_name=op_name, seed=seed, output=_wire(output),
                           fuzz_config=_fuzz_config(fuzz_config))
        return self._with_tensors(req, [req.output]).result

    def fuzz_op_client_side(self, op_name: str, run_op: Callable[..., Any],
                            iterations: int = 100, seed: int | None = None,
                            fail_fast: bool = False,
                            op_schema: OpSchemaPayload | Mapping[str, Any] | None = None,
                            dtypes: list[str] | None = None, batch: int = 32,
                            framework: str | None = None) -> FuzzResults:
        """Fuzz an op that runs here (maybe on a GPU): the daemon hands out seeded cases,
        ``run_op(inputs, **kwargs)`` computes each output, the daemon validates it.
        ``framework`` ("torch", "jax", "tensorflow") hands ``run_op`` its inputs as that
        framework's tensors (CPU, layout kept where the framework has one) instead of numpy.

        An exception in ``run_op`` is recorded as an ExecutionError failure of that case
        (with its traceback), not raised, so one bad case does not end the run. The results
        carry the run's coverage and health, as a script-based fuzz run's do.
        """
        schema = (op_schema if op_schema is None or isinstance(op_schema, OpSchemaPayload)
                  else msgspec.convert(dict(op_schema), OpSchemaPayload))
        cfg = FuzzConfigPayload(dtypes=dtypes, op_schema=schema)
        decode = get_adapter(framework or "numpy").from_tensor_data
        root = generate_seed() if seed is None else seed
        started = time.perf_counter()
        results: list[ValidationResult] = []
        for first in range(0, iterations, batch):
            count = min(batch, iterations - first)
            cases = self.get_test_batch(op_name, count=count, seed=root, fuzz_config=cfg,
                                        start=first)
            for case in cases:
                inputs = {k: decode(v, f"inputs.{k}") for k, v in case.inputs.items()}
                try:
                    output, error = run_op(inputs, **case.kwargs), None
                except Exception:
                    output, error = None, traceback.format_exc(limit=8)
                submit = SubmitOutput(op_name=op_name, seed=case.seed, fuzz_config=cfg,
                                      error=error, run=root,
                                      output=None if error else _wire(output))
                results.append(self._with_tensors(submit, [submit.output]).result)
                if fail_fast and not results[-1].passed:
                    break
            if fail_fast and results and not results[-1].passed:
                break
        failures = [r for r in results if not r.passed]
        run = FuzzResults(op_name=op_name, seed=root, iterations=len(results),
                          passed=len(results) - len(failures), failed=len(failures),
                          failures=failures, duration_ms=(time.perf_counter() - started) * 1e3)
        if results:
            health = self._expect(FinishFuzzRun(op_name=op_name, run=root), FuzzHealth)
            run.coverage, run.health, run.vacuous = health.coverage, health.health, health.vacuous
        return run

    def coverage(self, op_name: str | None = None) -> list[OpCoverage]:
        """Which configured dtypes, layouts and shape classes have stored results, per op."""
        return self._expect(GetCoverage(op_name=op_name), CoverageReport).ops

    def reproduce(self, seed: int, op_name: str | None = None, *, reproducer: bool = False,
                  embed_inputs: bool = False) -> ReproduceResult:
        """Re-run the case named by ``seed``; ``reproducer`` also returns it as a portable
        Reproducer (gpuemu.reproducer), ``embed_inputs`` with its inputs whatever their size."""
        return self._expect(Reproduce(seed=seed, op_name=op_name, reproducer=reproducer,
                                      embed_inputs=embed_inputs), ReproduceResult)

    def minimize(self, seed: int, op_name: str | None = None, strategy: str = "BinarySearchDims",
                 max_iters: int = 100) -> MinimizeResult:
        return self._expect(Minimize(seed=seed, op_name=op_name, strategy=strategy,
                                     max_iters=max_iters), MinimizeResult)

    def list_failures(self, limit: int = 50, op_name: str | None = None) -> list[FailureSummary]:
        return self._pages(lambda offset: self._expect(
            ListFailures(limit=limit - offset, op_name=op_name, offset=offset), FailureList),
            lambda reply: reply.failures)

    # -- CI and artifacts -------------------------------------------------------------------

    def run_ci(self, quick: bool = False, baseline: str | None = None,
               parallel_jobs: int | None = None) -> CiRunComplete:
        return self._expect(RunCi(quick=quick, baseline=baseline, parallel_jobs=parallel_jobs),
                            CiRunComplete)

    def get_ci_summary(self) -> CiRunComplete | None:
        return self._expect(GetCiSummary(), CiSummary).run

    def lint_kernel(self, kernel_name: str | None = None, ptx_content: str | None = None,
                    ptx_path: str | None = None) -> LintResult:
        return self._expect(LintKernel(kernel_name=kernel_name, ptx_content=ptx_content,
                                       ptx_path=ptx_path), LintResult)

    def store_artifact(self, kernel_name: str, ptx_content: str | None = None,
                       ptx_path: str | None = None) -> int:
        return self._expect(StoreArtifact(kernel_name=kernel_name, ptx_content=ptx_content,
                                          ptx_path=ptx_path), ArtifactStored).artifact_id

    def get_artifact(self, kernel_name: str, artifact_id: int | None = None) -> Artifact:
        return self._expect(GetArtifact(kernel_name=kernel_name, artifact_id=artifact_id),
                            Artifact)

    def list_artifacts(self, kernel_name: str | None = None, limit: int = 50) -> ArtifactList:
        return self._expect(ListArtifacts(kernel_name=kernel_name, limit=limit), ArtifactList)

    def store_artifact_baseline(self, tag: str, kernel_name: str) -> ArtifactBaselineStored:
        return self._expect(StoreArtifactBaseline(tag=tag, kernel_name=kernel_name),
                            ArtifactBaselineStored)

    def diff_artifact_baseline(self, tag: str, kernel_name: str,
                               fail_on_regression: bool = False) -> ArtifactDiff:
        return self._expect(DiffArtifactBaseline(tag=tag, kernel_name=kernel_name,
                                                 fail_on_regression=fail_on_regression),
                            ArtifactDiff)


def _fuzz_config(value: FuzzConfigPayload | Mapping[str, Any] | None) -> FuzzConfigPayload | None:
    if value is None or isinstance(value, FuzzConfigPayload):
        return value
    try:
        return msgspec.convert(dict(value), FuzzConfigPayload)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"fuzz_config: {exc}", field="fuzz_config") from None


class ValidationContext(dict):
    """What ``validate_op`` yields: set ``ctx["output"]``; read ``ctx.result`` afterwards."""

    result: ValidationResult | None = None


@contextmanager
def validate_op(client: Client, op_name: str, inputs: Mapping[str, Any],
                kwargs: Mapping[str, Any] | None = None) -> Iterator[ValidationContext]:
    """Run your op inside the block and put its output in ``ctx["output"]``; on exit the
    daemon validates it and a failure raises ValidationError (an AssertionError)."""
    ctx = ValidationContext(inputs=inputs)
    yield ctx
    if "output" not in ctx:
        raise ClientError(f'validate_op({op_name!r}): the block ended without setting'
                          ' ctx["output"] to the op\'s result')
    ctx.result = client.validate_op(op_name, inputs, ctx["output"], kwargs)
    if not ctx.result.passed:
        raise ValidationError(ctx.result)
