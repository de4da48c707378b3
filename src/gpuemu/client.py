"""The Python Client: one method per request type, over NNG REQ.

Requests go as flat msgpack, so tensors travel as raw bytes (the daemon also
speaks JSON for other clients). An Error reply is raised as the exception class of
its code that is *also* a ClientError, so ``except OpNotFound`` and
``except ClientError`` both work.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pynng

from . import __version__, paths, protocol, shm
from .client_cases import CaseMethods, _fuzz_config, _wire, as_tensor_data
from .client_results import (
    MinimizeResult, PingReply, ReproduceResult, check_output_dtype, layout_name, lint_record,
    minimize_result, reproduce_result,
)
from .errors import GpuemuError, NotFound, error_from_code
from .protocol import (
    PROTOCOL_VERSION, Artifact, ArtifactBaselineStored, ArtifactDiff, ArtifactDiffs, ArtifactList,
    ArtifactMetricsResult, ArtifactStored, BaselineComparisonResponse, BaselineStored, CiRunComplete, CiSummary,
    CompareBaseline, CoverageReport, DiffArtifactBaseline, Error, FailureList, FailureSummary,
    Form, FuzzConfigPayload, FuzzOp, FuzzResults, GetArtifact, GetCiSummary, GetCoverage,
    GetResult, LintKernel, LintResult, LintResults, ListArtifacts, ListFailures, ListResults,
    Minimize, MinimizeReply, OpCoverage, Ping, Pong, Reproduce, Request, Response, ResultList,
    Ok, Results, RunCi, Shutdown,
    StoreArtifact, StoreArtifactBaseline, StoreBaseline, SubmitResult, ValidateOp, ValidationResultResponse,
    decode_response, encode_message,
)
from .validate.result import ReproductionInfo, ValidationResult

__all__ = ["Client", "ClientError", "ConnectionError", "FuzzResults", "GpuemuClient", "MinimizeResult",
           "ReproduceResult", "ReproductionInfo", "ValidationContext", "ValidationError",
           "ValidationResult", "as_tensor_data", "validate_op"]

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


class Client(CaseMethods):
    """A connection to the gpuemu daemon.

    The socket is ``socket_path``, else ``GPUEMU_SOCKET``, else the project's ``[daemon]
    socket``, else ``$GPUEMU_HOME/gpuemu.sock``. ``auto_start`` (default: ``GPUEMU_AUTO_START``
    when set, else the project's ``[daemon] auto_start``, which is on by default) starts a
    daemon for the project (``config_path``, else found from the working directory) when
    none answers.
    """

    def __init__(self, socket_path: str | Path | None = None, timeout_ms: int = 30000, *,
                 auto_start: bool | None = None, config_path: str | Path | None = None,
                 form: Form = Form.MSGPACK):
        from .config import client_daemon

        self.config_path = Path(config_path) if config_path else None
        self.socket_path, self.auto_start, off = client_daemon(socket_path, auto_start, self.config_path)
        self.timeout_ms = timeout_ms
        self._start_hint = (f"[daemon] auto_start = false in the project's config, so none was"
                            f" started; {START_HINT}" if off else START_HINT)
        self.form = form
        self._sock: pynng.Req0 | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def _socket(self) -> pynng.Req0:
        with self._lock:
            if self._sock is None:
                sock = self._dial()
                try:
                    self._check_version(self._exchange(sock, encode_message(Ping(), self.form),
                                                       Ping()))
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
            return self._sock

    def _check_version(self, reply: Response) -> None:
        """Seeds 000/001: on connecting (and in ping), compare the daemon's protocol version
        with ours."""
        theirs = getattr(reply, "protocol_version", None)
        if theirs != PROTOCOL_VERSION:
            newer = "daemon" if isinstance(theirs, int) and theirs > PROTOCOL_VERSION else "client"
            raise remote_error(Error(code="VersionMismatch", message=(
                f"the gpuemu daemon on {self.socket_path} speaks protocol version {theirs}, this"
                f" client (gpuemu {__version__}) speaks {PROTOCOL_VERSION}: the {newer} is newer."
                " Use one gpuemu version for both: upgrade the other one, or restart the daemon"
                " from this installation (`gpuemu daemon stop`; the next command starts one)")))

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
                                      f"{self._start_hint}") from None
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
        daemon is on this host, the socket being ipc) go once the daemon has answered."""
        try:
            return self._expect(request, (ValidationResultResponse, SubmitResult))
        finally:
            if files := shm.names(tensors):
                shm.discard(files, shm.locate(self.socket_path))

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

    def ping(self) -> PingReply:
        """``"pong"`` when the daemon answers (seed 002), readable as its Pong too:
        ``reply["version"]``, ``reply.protocol_version``, ``reply.uptime_secs``."""
        pong = self._expect(Ping(), Pong)
        self._check_version(pong)
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
        req = ValidateOp(op_name=op_name,
                         inputs={k: _wire(v, self.socket_path) for k, v in inputs.items()},
                         output=_wire(output, self.socket_path), kwargs={**(kwargs or {}), **extra},
                         seed=seed)
        tensors = [*req.inputs.values(), req.output]
        if dtype is not None:
            try:
                check_output_dtype(dtype, req.output)
            except ValueError:
                shm.discard(shm.names(tensors))
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
        return self._expect(ListArtifacts(kernel_name=kernel_name, limit=limit), ArtifactList)

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

# The context manager lives in gpuemu.validation (seed 002's module); it needs Client.
from .validation import ValidationContext, validate_op  # noqa: E402
