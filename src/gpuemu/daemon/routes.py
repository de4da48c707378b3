"""The daemon's request table: which handler answers each request type, and ``dispatch``.

One explicit table instead of registration as an import side effect: reading it says
what the daemon answers, and importing a handler module changes nothing. ``dispatch``
is all that a transport calls, the NNG server and the in-process one alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .. import __version__
from ..errors import GpuemuError, InternalError, VersionMismatch
from ..protocol import (
    PROTOCOL_VERSION, CompareBaseline, DiffArtifactBaseline, FinishFuzzRun, FuzzOp, GetArtifact,
    GetCiSummary, GetCoverage, GetResult, GetTestBatch, GetTestCase, LintKernel, ListArtifacts,
    ListFailures, ListResults, Minimize, Ping, Reproduce, Request, Response, RunCi, Shutdown,
    StoreArtifact, StoreArtifactBaseline, StoreBaseline, SubmitOutput, ValidateOp, decode_request,
    encode_reply, error_response, form_of,
)
from . import artifact_handlers, ci, fuzzing, handlers
from .state import DaemonState

log = logging.getLogger("gpuemu.daemon")

Handler = Callable[[Request, DaemonState], Response]

HANDLERS: dict[type[Request], Handler] = {
    Ping: handlers.ping,
    Shutdown: handlers.shutdown,
    ValidateOp: handlers.validate_op,
    GetResult: handlers.get_result,
    ListResults: handlers.list_results,
    GetCoverage: handlers.get_coverage,
    StoreBaseline: handlers.store_baseline,
    CompareBaseline: handlers.compare_baseline_handler,
    FuzzOp: fuzzing.fuzz_op,
    GetTestCase: fuzzing.get_test_case,
    GetTestBatch: fuzzing.get_test_batch,
    SubmitOutput: fuzzing.submit_output,
    FinishFuzzRun: fuzzing.finish_fuzz_run,
    Reproduce: fuzzing.reproduce,
    Minimize: fuzzing.minimize_handler,
    ListFailures: fuzzing.list_failures,
    LintKernel: artifact_handlers.lint_kernel,
    StoreArtifact: artifact_handlers.store_artifact,
    GetArtifact: artifact_handlers.get_artifact,
    ListArtifacts: artifact_handlers.list_artifacts,
    StoreArtifactBaseline: artifact_handlers.store_artifact_baseline,
    DiffArtifactBaseline: artifact_handlers.diff_artifact_baseline,
    RunCi: ci.run_ci,
    GetCiSummary: ci.get_ci_summary,
}
"""Every request type of the protocol -> its handler (a test checks that none is missing)."""


def dispatch(state: DaemonState, data: bytes) -> bytes:
    """Decode, route, handle and encode one request; never raises."""
    form = None
    try:
        request, form = decode_request(data)
        if request.protocol_version not in (None, PROTOCOL_VERSION):
            raise VersionMismatch(
                f"client speaks protocol version {request.protocol_version}, this daemon"
                f" (gpuemu {__version__}) speaks {PROTOCOL_VERSION}; restart the daemon with the"
                " same gpuemu version as the client (`gpuemu daemon stop`, then start)"
            )
        handler = HANDLERS.get(type(request))
        if handler is None:
            raise InternalError(
                f"{type(request).__name__} is part of protocol {PROTOCOL_VERSION} but not"
                f" implemented by gpuemu {__version__} yet"
            )
        response = handler(request, state)
    except GpuemuError as exc:
        response = error_response(exc)
    except Exception as exc:  # a bug in a handler must not kill the daemon
        log.exception("internal error while handling a request")
        response = error_response(InternalError(f"{type(exc).__name__}: {exc} (see daemon log)"))
    return encode_reply(response, form_of(data) if form is None else form)
