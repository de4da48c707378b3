"""The Python Client: one method per request type, over a Transport (NNG REQ by default).

Requests go as flat msgpack, so tensors travel as raw bytes (the daemon also
speaks JSON for other clients). An Error reply is raised as the exception class of
its code that is *also* a ClientError, so ``except OpNotFound`` and
``except ClientError`` both work (gpuemu.client_errors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from . import protocol, shm, shm_pool
from .client_cases import CaseMethods, _fuzz_config, as_tensor_data, wire_all
from .client_errors import (
    START_HINT, ClientError, ConnectionError, ValidationError, check_version, remote_error,
)
from .client_results import (
    MinimizeResult, PingReply, ReproduceResult, check_output_dtype, layout_name, lint_record,
    minimize_result, reproduce_result,
)
from .errors import GpuemuError, NotFound
from .protocol import (
    Artifact, ArtifactBaselineStored, ArtifactDiff, ArtifactDiffs, ArtifactList,
    ArtifactMetricsResult, ArtifactStored, BaselineComparisonResponse, BaselineStored, CiRunComplete, CiSummary,
    CompareBaseline, CoverageReport, DiffArtifactBaseline, Error, FailureList, FailureSummary,
    Form, FuzzConfigPayload, FuzzOp, FuzzResults, GetArtifact, GetCiSummary, GetCoverage,
    GetResult, LintKernel, LintResult, LintResults, ListArtifacts, ListFailures, ListResults,
    Minimize, MinimizeReply, OpCoverage, Ping, Pong, Reproduce, Request, Response, ResultList,
    Ok, Results, RunCi, Shutdown,
    StoreArtifact, StoreArtifactBaseline, StoreBaseline, SubmitResult, ValidateOp, ValidationResultResponse,
    decode_response, encode_message,
)
from .transport import NngTransport, Transport
from .validate.result import ReproductionInfo, ValidationResult

__all__ = ["Client", "ClientError", "ConnectionError", "FuzzResults", "GpuemuClient", "MinimizeResult",
           "ReproduceResult", "ReproductionInfo", "ValidationContext", "ValidationError",
           "ValidationResult", "as_tensor_data", "validate_op"]


class Client(CaseMethods):
    """A connection to the gpuemu daemon.

    The socket is ``socket_path``, else ``GPUEMU_SOCKET``, else the project's ``[daemon]
    socket``, else ``$GPUEMU_HOME/gpuemu.sock``. ``auto_start`` (default: ``GPUEMU_AUTO_START``
    when set, else the project's ``[daemon] auto_start``, which is on by default) starts a
    daemon for the project (``config_path``, else found from the working directory) when
    none answers. ``transport`` replaces the NNG connection
    (gpuemu.daemon.inprocess.InProcessTransport: no socket at all).
    """

    def __init__(self, socket_path: str | Path | None = None, timeout_ms: int = 30000, *,
                 auto_start: bool | None = None, config_path: str | Path | None = None,
                 form: Form = Form.MSGPACK, transport: Transport | None = None):
        from .config import client_daemon

        self.config_path = Path(config_path) if config_path else None
        self.socket_path, self.auto_start, off = client_daemon(socket_path, auto_start, self.config_path)
        self.timeout_ms = timeout_ms
        self.form = form
        self.transport = transport or NngTransport(
            self.socket_path, timeout_ms, auto_start=self.auto_start,
            config_path=self.config_path, form=form,
            start_hint=(f"[daemon] auto_start = false in the project's config, so none was"
                        f" started; {START_HINT}" if off else START_HINT))

    # -- plumbing ---------------------------------------------------------------------------

    def request(self, request: Request) -> Response:
        """Send one request and return its reply; an Error reply is raised.

        A long request (FuzzOp, Minimize, RunCi) waits as long as the daemon makes progress
        (see gpuemu.progress), not ``timeout_ms``: its length follows from the work."""
        reply = decode_response(self.transport.exchange(encode_message(request, self.form),
                                                        request))
        if isinstance(reply, Error):
            raise remote_error(reply)
        return reply

    def _expect(self, request: Request, reply_type: type | tuple[type, ...]) -> Any:
        """The reply, which must be one of ``reply_type`` (a reply's current name first,
        then the name an older daemon gave it)."""
        reply = self.request(request)
        if not isinstance(reply, reply_type):
            names = " or ".join(t.__name__ for t in (
                reply_type if isinstance(reply_type, tuple) else (reply_type,)))
            raise ClientError(f"daemon answered {type(reply).__name__} to "
                              f"{type(request).__name__}; expected {names}")
        return reply

    def _with_tensors(self, request: Request, tensors: list) -> ValidationResultResponse:
        """Send a request carrying tensors; their shared-memory files (gpuemu.shm: the
        daemon is on this host, the socket being ipc) are free again once the daemon has
        answered, and removed when it did not (it may still come to read them)."""
        answered = False
        try:
            reply = self._expect(request, (ValidationResultResponse, SubmitResult))
            answered = True
            return reply
        except GpuemuError as exc:
            answered = not isinstance(exc, ConnectionError)
            raise
        finally:
            if files := shm.names(tensors):
                shm.discard(files, shm.locate(self.socket_path), answered)

    def close(self) -> None:
        shm_pool.POOL.trim()  # this process's shared-memory files that no request uses
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------

    def ping(self) -> PingReply:
        """``"pong"`` when the daemon answers (seed 002), readable as its Pong too:
        ``reply["version"]``, ``reply.protocol_version``, ``reply.uptime_secs``."""
        pong = self._expect(Ping(), Pong)
        check_version(pong, self.socket_path)
        return PingReply(pong)

    def shutdown(self) -> None:
        self.request(Shutdown())

    def validate_op(self, op_name: str, inputs: Mapping[str, Any], output: Any,
                    dtype: str | None = None, seed: int | None = None, *,
                    kwargs: Mapping[str, Any] | None = None, **extra: Any) -> ValidationResult:
        """Client-side mode: validate ``output`` (computed by you) against the op's reference.

        ``dtype`` names the dtype whose tolerance applies; it must be the output's (None:
        the output's). ``seed`` is recorded with the result. Keyword arguments other than
        these (or a ``kwargs`` mapping) go to the reference script."""
        if isinstance(dtype, Mapping):  # the kwargs mapping, passed in its old position
            kwargs, dtype = dtype, None
        *wired, wired_output = wire_all([*inputs.values(), output], self.socket_path)
        req = ValidateOp(op_name=op_name, inputs=dict(zip(inputs, wired)), output=wired_output,
                         kwargs={**(kwargs or {}), **extra}, seed=seed)
        tensors = [*req.inputs.values(), req.output]
        if dtype is not None:
            try:
                check_output_dtype(dtype, req.output)
            except ValueError:
                shm.discard(shm.names(tensors), shm.locate(self.socket_path))
                raise
        return self._with_tensors(req, tensors).result

    def get_result(self, seed: int, op_name: str | None = None) -> ValidationResult | None:
        try:
            return self._expect(GetResult(seed=seed, op_name=op_name),
                                ValidationResultResponse).result
        except NotFound:
            return None

    def list_results(self, limit: int = 100, op_name: str | None = None) -> list[ValidationResult]:
        """Up to ``limit`` results, newest first, fetched a page (protocol.MAX_PAGE) at a time."""
        return self._pages(lambda offset: self._expect(
            ListResults(limit=limit - offset, op_name=op_name, offset=offset),
            (Results, ResultList)), lambda reply: reply.results)

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
        return self._expect(StoreBaseline(tag=tag), (Ok, BaselineStored)).ops

    def compare_baseline(self, tag: str,
                         fail_on_regression: bool = False) -> BaselineComparisonResponse:
        return self._expect(CompareBaseline(tag=tag, fail_on_regression=fail_on_regression),
                            BaselineComparisonResponse)

    # -- fuzzing (script-based and daemon-orchestrated modes) -------------------------------

    def fuzz_op(self, op_name: str, iterations: int | None = None, seed: int | None = None,
                fail_fast: bool = False,
                fuzz_config: FuzzConfigPayload | Mapping[str, Any] | None = None,
                start: int = 0, determinism: int | None = None, *,
                batch_sizes: list[int] | None = None, seq_lengths: list[int] | None = None,
                hidden_dims: list[int] | None = None, dtypes: list[str] | None = None,
                layouts: list[str] | None = None, cluster: str | None = None) -> FuzzResults:
        """Script-based mode: the daemon runs the op script and the reference on seeded cases.
        ``iterations`` None: the op's configured count (100 unless set). The size lists,
        ``dtypes`` and ``layouts`` (either spelling: "strided" or "Strided") override the
        op's fuzz config. ``determinism`` N runs the op N times per case and requires
        identical outputs. ``cluster`` spreads the cases over a Ray cluster (docs/cluster.md).

        Positionally this is seed 002's ``fuzz_op(op_name, iterations, seed)``; its client's
        ``fuzz_op(op_name, seed, iterations)`` order is recognised when the first number is
        too large to be a case count (a u64 seed), and works with keywords anyway."""
        if iterations is not None and iterations > MAX_ITERATIONS and (seed or 0) <= MAX_ITERATIONS:
            iterations, seed = seed, iterations
        overrides = {k: v for k, v in (("batch_sizes", batch_sizes), ("seq_lengths", seq_lengths),
                                       ("hidden_dims", hidden_dims), ("dtypes", dtypes),
                                       ("layouts", layouts and [layout_name(x) for x in layouts]))
                     if v is not None}
        if overrides:
            base = msgspec.to_builtins(_fuzz_config(fuzz_config)) if fuzz_config else {}
            fuzz_config = {**base, **overrides}
        return self._expect(FuzzOp(op_name=op_name, iterations=iterations, seed=seed,
                                   fail_fast=fail_fast, fuzz_config=_fuzz_config(fuzz_config),
                                   start=start, determinism=determinism, cluster=cluster),
                            FuzzResults)

    def coverage(self, op_name: str | None = None) -> list[OpCoverage]:
        """Which configured dtypes, layouts and shape classes have stored results, per op."""
        return self._expect(GetCoverage(op_name=op_name), CoverageReport).ops

    def reproduce(self, seed: int, op_name: str | None = None, *, reproducer: bool = False,
                  embed_inputs: bool = False) -> ReproduceResult:
        """Re-run the case named by ``seed``: ``result`` is the new verdict, ``inputs`` the
        case's inputs (numpy arrays). ``reproducer`` also returns it as a portable Reproducer
        (gpuemu.reproducer), ``embed_inputs`` with its inputs whatever their size."""
        again = reproduce_result(self.reproduce_case(seed, op_name, reproducer=True,
                                                     embed_inputs=embed_inputs))
        if not reproducer:
            again.reproducer = None
        return again

    def reproduce_case(self, seed: int, op_name: str | None = None, *, reproducer: bool = False,
                       embed_inputs: bool = False) -> protocol.ReproduceResult:
        """The daemon's ReproduceResult itself (no inputs decoded here)."""
        return self._expect(Reproduce(seed=seed, op_name=op_name, reproducer=reproducer,
                                      embed_inputs=embed_inputs), protocol.ReproduceResult)

    def minimize(self, seed: int, strategy: str | None = None, max_iters: int = 100, *,
                 op_name: str | None = None) -> MinimizeResult:
        """Shrink the failing case ``seed``; ``strategy`` "binary-search-dims" (None: the
        default) or "binary-search-values" (or BinarySearchDims/BinarySearchValues)."""
        from .fuzz.minimize import parse_strategy

        return minimize_result(self.minimize_case(
            seed, op_name, parse_strategy(strategy or "binary-search-dims"), max_iters))

    def minimize_case(self, seed: int, op_name: str | None = None,
                      strategy: str = "BinarySearchDims",
                      max_iters: int = 100) -> protocol.MinimizeResult:
        """The daemon's MinimizeResult itself (per-input shapes, steps, the minimized case)."""
        return self._expect(Minimize(seed=seed, op_name=op_name, strategy=strategy,
                                     max_iters=max_iters), MinimizeReply).as_result()

    def list_failures(self, limit: int = 20, op_name: str | None = None) -> list[ValidationResult]:
        """The newest stored failures' results (seed 002); ``failure_summaries`` also says
        when each was stored."""
        return [f.result or ValidationResult(passed=False, op_name=f.op_name, seed=f.seed)
                for f in self.failure_summaries(limit, op_name)]

    def failure_summaries(self, limit: int = 20, op_name: str | None = None
                          ) -> list[FailureSummary]:
        return self._pages(lambda offset: self._expect(
            ListFailures(limit=limit - offset, op_name=op_name, offset=offset),
            (Results, FailureList)), lambda reply: reply.failures or [])

    # -- CI and artifacts -------------------------------------------------------------------

    def run_ci(self, quick: bool = False, baseline: str | None = None,
               parallel_jobs: int | None = None, cluster: str | None = None) -> CiRunComplete:
        return self._expect(RunCi(quick=quick, baseline=baseline, parallel_jobs=parallel_jobs,
                                  cluster=cluster), CiRunComplete)

    def get_ci_summary(self) -> CiRunComplete | None:
        return self._expect(GetCiSummary(), CiSummary).run

    def lint_kernel(self, ptx_content: str | None = None, kernel_name: str | None = None, *,
                    ptx_path: str | None = None) -> list[dict[str, Any]]:
        """Lint PTX (or the configured kernel ``kernel_name``) as seed 002's client did: a list
        of dicts with kernel_name, passed, metrics, violations, timestamp (``lint`` returns
        the daemon's LintResult itself). Without a name, every kernel: of the PTX given, else
        of the daemon's gpuemu.toml."""
        names: list[str | None] = [kernel_name]
        if kernel_name is None and ptx_content is not None:
            from .artifacts.ptx import PtxParser

            names = [k.name for k in PtxParser().parse(ptx_content).kernels] or [None]
        elif kernel_name is None and ptx_path is None:
            served = self.ping().config_path
            if served is not None:
                from .config import load_config

                names = list(load_config(Path(served), user_config=None).kernels) or [None]
        return [lint_record(self.lint(name, ptx_content=ptx_content, ptx_path=ptx_path))
                for name in names]

    def lint(self, kernel_name: str | None = None, ptx_content: str | None = None,
             ptx_path: str | None = None) -> LintResult:
        reply = self._expect(LintKernel(kernel_name=kernel_name, ptx_content=ptx_content,
                                        ptx_path=ptx_path), (LintResults, LintResult))
        return reply.lint[0] if isinstance(reply, LintResults) else reply

    def store_artifact(self, kernel_name: str, ptx_content: str | None = None,
                       ptx_path: str | None = None) -> int:
        return self._expect(StoreArtifact(kernel_name=kernel_name, ptx_content=ptx_content,
                                          ptx_path=ptx_path), (Ok, ArtifactStored)).artifact_id

    def get_artifact(self, kernel_name: str, artifact_id: int | None = None) -> Artifact:
        a = self._expect(GetArtifact(kernel_name=kernel_name, artifact_id=artifact_id),
                         (ArtifactMetricsResult, Artifact))
        return Artifact(kernel_name=a.kernel_name, artifact_id=a.artifact_id,
                        timestamp=a.timestamp, metrics=a.metrics, ptx_content=a.ptx_content)

    def list_artifacts(self, kernel_name: str | None = None, limit: int = 50) -> ArtifactList:
        """Up to ``limit`` artifacts, newest first, fetched a page at a time."""
        return ArtifactList(artifacts=self._pages(lambda offset: self._expect(
            ListArtifacts(kernel_name=kernel_name, limit=limit - offset, offset=offset),
            ArtifactList), lambda reply: reply.artifacts))

    def store_artifact_baseline(self, tag: str, kernel_name: str) -> ArtifactBaselineStored:
        a = self._expect(StoreArtifactBaseline(tag=tag, kernel_name=kernel_name),
                         (Ok, ArtifactBaselineStored))
        return ArtifactBaselineStored(tag=tag, kernel_name=kernel_name, artifact_id=a.artifact_id)

    def diff_artifact_baseline(self, tag: str, kernel_name: str,
                               fail_on_regression: bool = False) -> ArtifactDiff:
        reply = self._expect(DiffArtifactBaseline(tag=tag, kernel_name=kernel_name,
                                                  fail_on_regression=fail_on_regression),
                             (ArtifactDiffs, ArtifactDiff))
        return reply.diffs[0] if isinstance(reply, ArtifactDiffs) else reply


MAX_ITERATIONS = 2**32
"""More cases than any run asks for: a larger first number in fuzz_op is a seed."""


GpuemuClient = Client
"""Seed 001's name for the client class."""


def __getattr__(name: str):
    """The context manager lives in gpuemu.validation (seed 002's module), which imports
    this one: re-exported on first use, so neither module needs the other half-built."""
    if name in ("ValidationContext", "validate_op"):
        from . import validation

        return getattr(validation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
