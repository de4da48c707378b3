"""The wire protocol (version 1): typed requests and replies and their codec.

Every message is a msgspec Struct tagged by ``type`` (gpuemu.message). Two JSON forms
reach the daemon (DESIGN.md "Wire protocol"): the FLAT form ``{"type": "GetResult",
"seed": 42}`` and the ENVELOPE form ``{"type": "GetResult", "payload": {"seed": 42}}``; a
reply uses the form of its request. msgpack (flat form only) carries tensor bytes raw,
which same-host clients use for large tensors.

The wire layer depends on the domain, never the reverse: results that travel as they are
(ValidationResult, FuzzResults, LintResult, ArtifactDiff, the coverage types, Reproducer)
are defined in their domains and imported here. This package re-exports every name of
its modules, so ``from gpuemu.protocol import X`` needs no module name:

- ``requests``: the requests (their fuzz settings, FuzzConfigPayload, are gpuemu.fuzz.settings');
- ``replies`` and ``artifact_replies``: the replies;
- ``codec``: bytes <-> messages, framing detection, the Error reply of an exception;
- ``wire_json``: what the JSON forms add so that the seeds' readers understand a reply.
"""

from .. import PROTOCOL_VERSION
from ..artifacts.results import ArtifactDiff, LintFinding, LintResult, MetricChange
from ..coverage import FuzzCoverage, OpCoverage
from ..engine.fuzz_results import FuzzResults, HealthIssue
from ..message import Message, Response
from ..validate.result import ValidationResult
from .artifact_replies import (
    Artifact, ArtifactBaselineStored, ArtifactDiffs, ArtifactList, ArtifactMetricsResult,
    ArtifactStored, ArtifactSummary, LintEntry, LintResults,
)
from .codec import (
    RESPONSE_TYPES, RESPONSES, AnyResponse, Form, decode_request, decode_response,
    encode_message, error_response, form_of, framing, is_msgpack,
)
from ..fuzz.settings import DimEntry, FuzzConfigPayload, OpSchemaPayload, ShapeEntry, ShapeOptions
from .replies import (
    BaselineComparisonResponse, BaselineEntry, BaselineStored, CiRunComplete, CiSkipped,
    CiSummary, CiSummaryStats, CoverageReport, Error, FailureList, FailureSummary, FuzzHealth,
    JobProgress, MinimizeReply, MinimizeResult, Ok, Pong, ReproduceResult, ResultList, Results,
    ShutdownAck, SubmitResult, TestBatch, TestCase, ValidationResultResponse, WorkerFigures,
    first_shape,
)
from .requests import (
    MAX_PAGE, REQUEST_TYPES, REQUESTS, AnyRequest, CompareBaseline, DiffArtifactBaseline,
    FinishFuzzRun, FuzzOp, GetArtifact, GetCiSummary, GetCoverage, GetResult, GetTestBatch,
    GetTestCase, Limit, LintKernel, ListArtifacts, ListFailures, ListResults, Minimize, Offset,
    Ping, Reproduce, Request, RunCi, Shutdown, StoreArtifact, StoreArtifactBaseline,
    StoreBaseline, SubmitOutput, ValidateOp,
)
from .wire_json import encode_reply

__all__ = [
    "AnyRequest", "AnyResponse", "Artifact", "ArtifactBaselineStored", "ArtifactDiff",
    "ArtifactDiffs", "ArtifactList", "ArtifactMetricsResult", "ArtifactStored", "ArtifactSummary",
    "BaselineComparisonResponse", "BaselineEntry", "BaselineStored", "CiRunComplete", "CiSkipped",
    "CiSummary", "CiSummaryStats", "CompareBaseline", "CoverageReport", "DiffArtifactBaseline",
    "DimEntry", "Error", "FailureList", "FailureSummary", "FinishFuzzRun", "Form",
    "FuzzConfigPayload", "FuzzCoverage", "FuzzHealth", "FuzzOp", "FuzzResults", "GetArtifact",
    "GetCiSummary", "GetCoverage", "GetResult", "GetTestBatch", "GetTestCase", "HealthIssue",
    "JobProgress", "Limit", "LintEntry", "LintFinding", "LintKernel", "LintResult",
    "LintResults", "ListArtifacts", "ListFailures", "ListResults", "MAX_PAGE", "Message",
    "MetricChange", "Minimize", "MinimizeReply", "MinimizeResult", "Offset", "Ok", "OpCoverage",
    "OpSchemaPayload", "PROTOCOL_VERSION", "Ping", "Pong", "REQUESTS", "REQUEST_TYPES",
    "RESPONSES", "RESPONSE_TYPES", "Reproduce", "ReproduceResult", "Request", "Response",
    "ResultList", "Results", "RunCi", "ShapeEntry", "ShapeOptions", "Shutdown", "ShutdownAck",
    "StoreArtifact", "StoreArtifactBaseline", "StoreBaseline", "SubmitOutput", "SubmitResult",
    "TestBatch", "TestCase", "ValidateOp", "ValidationResult", "ValidationResultResponse",
    "WorkerFigures", "decode_request", "decode_response", "encode_message", "encode_reply",
    "error_response", "first_shape", "form_of", "framing", "is_msgpack",
]
