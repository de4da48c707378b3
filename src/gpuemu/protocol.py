"""The wire protocol (version 1): typed requests and responses and their codec.

Every message is a msgspec Struct tagged by ``type``. Two forms reach the daemon
(DESIGN.md "Wire protocol"): the FLAT form ``{"type": "GetResult", "seed": 42}``
and the ENVELOPE form ``{"type": "GetResult", "payload": {"seed": 42}}``; a reply
uses the form of its request. JSON is the lingua franca; msgpack (flat form only)
carries tensor bytes raw, which same-host clients use for large tensors.
Decoding fails in one place, with one error (InvalidRequest) naming the field.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Annotated, Any, Union

import msgspec

from . import PROTOCOL_VERSION
from .errors import GpuemuError, InvalidRequest
from .fuzz.settings import (  # noqa: F401  (the fuzz_config payload pieces, re-exported)
    DimEntry, FuzzConfigPayload, OpSchemaPayload, ShapeEntry, ShapeOptions)
from .readable import KeyAccess
from .reproducer import Reproducer
from .tensor import TensorData
from .validate.result import ValidationResult



class Message(msgspec.Struct, tag_field="type", tag=True, kw_only=True, omit_defaults=True,
              forbid_unknown_fields=True):
    """Base of every request and response; the tag is the class name."""


class Request(Message, kw_only=True):
    protocol_version: int | None = None


# -- requests ----------------------------------------------------------------------------------


class Ping(Request):
    pass


class Shutdown(Request):
    pass


class ValidateOp(Request):
    """Client-side mode: the client ran the op and sends inputs and output."""

    op_name: str
    inputs: dict[str, TensorData]
    output: TensorData
    kwargs: dict[str, Any] = {}
    seed: int | None = None
    dtype: str | None = None
    """Seed 000: the dtype whose tolerance applies; it must name the output's dtype."""


class GetResult(Request):
    seed: int
    op_name: str | None = None


Limit = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=(1 << 62))]
MAX_PAGE = 10_000
"""Rows one ListResults/ListFailures reply holds at most, whatever its limit."""
"""How many rows a listing may ask for (SQLite takes 64-bit integers only)."""


class ListResults(Request):
    """``offset`` (ours): skip that many of the newest first, to page through them; the
    daemon returns at most MAX_PAGE at once and says where the next page starts."""

    limit: Limit = 50
    op_name: str | None = None
    offset: Offset = 0


class StoreBaseline(Request):
    tag: str


class CompareBaseline(Request):
    tag: str
    fail_on_regression: bool = False


class FuzzOp(Request):
    """Script-based mode. ``seed``/``iterations`` also accepted at top level (seed 000).

    ``start`` (ours) runs cases ``start .. start+iterations-1`` of the seed's sequence, so a
    client can fuzz in chunks and show progress; the cases are the same as in one request."""

    op_name: str
    fuzz_config: FuzzConfigPayload | None = None
    iterations: int | None = None
    seed: int | None = None
    fail_fast: bool = False
    start: int = 0
    determinism: int | None = None
    """Run the op this many times per case (bitwise-equal outputs, inputs intact); None
    keeps the op's config (``deterministic = true`` means 3 runs), 1 turns it off."""
    cluster: str | None = None
    """Run the cases on this cluster (docs/cluster.md): "auto", "HOST:PORT", "ray://HOST:PORT",
    or "local" for this machine; None keeps the config's [cluster] address."""


class Reproduce(Request):
    """``reproducer`` (ours): also return the case as a portable Reproducer;
    ``embed_inputs`` puts its inputs in it whatever their size."""

    seed: int
    op_name: str | None = None
    reproducer: bool = False
    embed_inputs: bool = False


class Minimize(Request):
    seed: int
    op_name: str | None = None
    strategy: str = "BinarySearchDims"
    max_iters: int = 100


class ListFailures(Request):
    """``offset``: as in ListResults."""

    limit: Limit = 50
    op_name: str | None = None
    offset: Offset = 0


class LintKernel(Request):
    kernel_name: str | None = None
    ptx_content: str | None = None
    ptx_path: str | None = None


class StoreArtifact(Request):
    """The metrics come measured from PTX (ours) or, as seed 000 has it, as ``metrics``."""

    kernel_name: str
    ptx_content: str | None = None
    ptx_path: str | None = None
    metrics: dict[str, Any] | None = None


class StoreArtifactBaseline(Request):
    """Without ``kernel_name`` (seed 000): every kernel that has a stored artifact."""

    tag: str
    kernel_name: str | None = None


class DiffArtifactBaseline(Request):
    """Without ``kernel_name`` (seed 000): every kernel of the baseline."""

    tag: str
    kernel_name: str | None = None
    fail_on_regression: bool = False


class GetArtifact(Request):
    kernel_name: str
    artifact_id: int | None = None


class ListArtifacts(Request):
    kernel_name: str | None = None
    limit: Limit = 50


class RunCi(Request):
    """``parallel`` and ``format`` are seed 000's names; ``parallel_jobs`` the shipped one."""

    quick: bool = False
    baseline: str | None = None
    parallel_jobs: int | None = None
    parallel: int | None = None
    format: str | None = None
    cluster: str | None = None
    """As FuzzOp.cluster, for every op of the run."""

    @property
    def jobs(self) -> int | None:
        return self.parallel_jobs if self.parallel_jobs is not None else self.parallel


class GetCiSummary(Request):
    pass


class GetTestCase(Request):
    """Daemon-orchestrated mode: the daemon hands out a seeded case."""

    op_name: str
    seed: int | None = None
    fuzz_config: FuzzConfigPayload | None = None


class GetTestBatch(Request):
    """Cases ``start .. start+count-1`` of root ``seed`` (``start`` is ours, as in FuzzOp)."""

    op_name: str
    count: int = 10
    seed: int | None = None
    fuzz_config: FuzzConfigPayload | None = None
    start: int = 0
    seeds: list[int] | None = None
    """Seed 000: the cases named by these seeds, instead of ``count`` cases of ``seed``."""


class SubmitOutput(Request):
    """The output for a case handed out by GetTestCase/GetTestBatch, named by its seed.

    ``error`` (ours) instead of ``output`` records that the op raised: an ExecutionError.
    ``run`` (ours), the root seed the case was drawn from, files the case under that fuzz
    run, whose coverage and health FinishFuzzRun then reports; a case of a run that the
    reference fails on is then a failure of that case, not an error of the request."""

    op_name: str
    seed: int
    output: TensorData | None = None
    fuzz_config: FuzzConfigPayload | None = None
    error: str | None = None
    run: int | None = None
    inputs: dict[str, TensorData] | None = None
    """The original client sends the case's inputs back; the case's own (regenerated from
    its seed) are what the reference gets, so these must hold the same values."""
    kwargs: dict[str, Any] = {}


class GetCoverage(Request):
    """(ours) Which configured dtypes, layouts and shape classes of each op (or of
    ``op_name``) have stored results."""

    op_name: str | None = None


class FinishFuzzRun(Request):
    """(ours) The end of a client-driven fuzz run: the coverage and health of the cases
    submitted with ``run`` = its root seed, as a script-based FuzzOp reports them."""

    op_name: str
    run: int


REQUEST_TYPES: tuple[type[Request], ...] = (
    Ping, Shutdown, ValidateOp, GetResult, ListResults, StoreBaseline, CompareBaseline, FuzzOp,
    Reproduce, Minimize, ListFailures, LintKernel, StoreArtifact, StoreArtifactBaseline,
    DiffArtifactBaseline, GetArtifact, ListArtifacts, RunCi, GetCiSummary, GetTestCase,
    GetTestBatch, SubmitOutput, FinishFuzzRun, GetCoverage,
)
REQUESTS: dict[str, type[Request]] = {cls.__name__: cls for cls in REQUEST_TYPES}
AnyRequest = Union[REQUEST_TYPES]  # type: ignore[valid-type]


# -- responses ---------------------------------------------------------------------------------


class Response(Message, KeyAccess, forbid_unknown_fields=False):
    """A client ignores response fields it does not know, so a newer daemon's optional
    additions do not break an older client; requests stay strict, so a misspelt field
    is an error rather than a silently ignored option."""


class Error(Response):
    code: str
    message: str
    field: str | None = None


class JobProgress(msgspec.Struct, omit_defaults=True):
    """A long request in flight (a fuzz run, a CI run's op): ``done`` of ``total`` cases."""

    op_name: str
    done: int
    total: int


class WorkerFigures(msgspec.Struct, omit_defaults=True):
    """The daemon's warm workers and fork servers: how many live and idle, their resident
    memory together, the caps they are held under, and how many were stopped (idle past
    the timeout, to make room under max_workers, to get under the memory cap)."""

    live: int
    idle: int
    rss_bytes: int
    max_workers: int
    max_memory_bytes: int
    idle_timeout_s: float
    reaped_idle: int = 0
    reaped_cap: int = 0
    reaped_memory: int = 0


class Pong(Response):
    """``jobs``: the long requests in flight, so a client waiting on one can draw progress
    by pinging on a second connection (REQ/REP has no way to stream it). ``config_path``:
    the gpuemu.toml the daemon serves, so a client of another project can tell."""

    version: str
    protocol_version: int
    uptime_secs: float
    jobs: list[JobProgress] = []
    config_path: str | None = None
    workers: WorkerFigures | None = None


class ShutdownAck(Response):
    """Shutdown's reply before seed 000's ``Ok``; still decoded."""


class Ok(Response):
    """Seed 000's generic acknowledgment (Shutdown, StoreBaseline, StoreArtifact,
    StoreArtifactBaseline). The optional fields (ours) say what was stored."""

    tag: str | None = None
    ops: int | None = None
    kernel_name: str | None = None
    artifact_id: int | None = None
    kernels: dict[str, int] = {}
    """StoreArtifactBaseline of every kernel: kernel name -> the artifact id stored."""


class ValidationResultResponse(Response, tag="ValidationResult"):
    result: ValidationResult


class ResultList(Response):
    """ListResults' reply before seed 000's ``Results``; still decoded. ``next_offset`` (ours):
    the offset of the next page when more rows were asked for (or exist beyond MAX_PAGE)
    than this reply holds; None at the end."""

    results: list[ValidationResult]
    next_offset: int | None = None


class SubmitResult(Response):
    """SubmitOutput's reply (seed 000)."""

    result: ValidationResult


class BaselineStored(Response):
    tag: str
    ops: int


class BaselineEntry(msgspec.Struct, omit_defaults=True):
    op_name: str
    reason: str = ""
    baseline: ValidationResult | None = None
    current: ValidationResult | None = None


class BaselineComparisonResponse(Response, tag="BaselineComparison"):
    tag: str
    passed: bool
    regressions: list[BaselineEntry] = []
    improvements: list[BaselineEntry] = []
    unchanged: list[BaselineEntry] = []
    missing: list[BaselineEntry] = []
    new: list[BaselineEntry] = []


class FuzzCoverage(msgspec.Struct, omit_defaults=True):
    """What a fuzz run tried, with counts: ``cases`` run, of which ``checked`` compared a
    non-empty output, ``filtered`` lost to a reference failure, ``empty`` had empty outputs
    and ``op_errors`` ended in an op exception. ``layouts`` counts the layout the inputs
    really had (a transposed draw on a 1-D shape falls back to strided). ``impostors``
    counts the checked cases each impostor output would also have passed. ``size_classes``
    counts the cases whose first input's shape is in each class of
    gpuemu.fuzz.strategies.SIZE_CLASSES (a shape may be in several)."""

    cases: int = 0
    checked: int = 0
    filtered: int = 0
    empty: int = 0
    op_errors: int = 0
    dtypes: dict[str, int] = {}
    layouts: dict[str, int] = {}
    distributions: dict[str, int] = {}
    shapes: dict[str, int] = {}
    impostors: dict[str, int] = {}
    distinct_inputs: int = 0
    distinct_references: int = 0
    size_classes: dict[str, int] = {}


class HealthIssue(msgspec.Struct, omit_defaults=True):
    """A reason to distrust a fuzz run. ``severity`` "error" makes the run vacuous."""

    kind: str
    message: str
    severity: str = "error"


class OpCoverage(msgspec.Struct):
    """One op's stored results by dtype, layout, shape class and rank. Every configured
    dtype, layout and shape class is a key (0: never tried); ``missing`` lists those, and
    ``covered``/``configured`` count them. Zeros are sent: they are the point."""

    op_name: str
    results: int = 0
    failed: int = 0
    dtypes: dict[str, int] = {}
    layouts: dict[str, int] = {}
    shape_classes: dict[str, int] = {}
    ranks: dict[str, int] = {}
    missing: list[str] = []
    covered: int = 0
    configured: int = 0


class CoverageReport(Response, tag="Coverage"):
    ops: list[OpCoverage] = []


class FuzzHealth(Response):
    """What FinishFuzzRun reports: the run's coverage, its health issues, and whether they
    make it vacuous (an error-severity issue: the run fails)."""

    op_name: str
    run: int
    coverage: FuzzCoverage
    health: list[HealthIssue] = []
    vacuous: bool = False


class FuzzResults(Response):
    """``vacuous`` is true when a health issue of severity "error" says the run could not
    have failed a wrong op (every case filtered or identical, an impostor passing every
    case, a configured dtype or layout never reached); such a run fails like a failed case."""

    op_name: str
    seed: int
    iterations: int
    passed: int
    failed: int
    failures: list[ValidationResult] = []
    duration_ms: float = 0.0
    coverage: FuzzCoverage | None = None
    health: list[HealthIssue] = []
    vacuous: bool = False

    __key_aliases__ = ("total",)

    @property
    def total(self) -> int:
        """Seed 002's name for the number of cases run."""
        return self.iterations


class ReproduceResult(Response):
    """``inputs`` (seed 000) are the case's inputs, as plain tensors."""

    seed: int
    op_name: str
    still_fails: bool
    result: ValidationResult
    reproducer: Reproducer | None = None
    inputs: dict[str, TensorData] = {}


class MinimizeResult(Response):
    """What Client.minimize returns and reports show: ``original_shape``/``minimized_shape``
    map each input to its shape. ``minimized_case`` is the shrunk case spec;
    Reproduce(minimized_seed) regenerates it. On the wire it travels as MinimizeReply."""

    original_seed: int
    minimized_seed: int
    original_shape: dict[str, list[int]]
    minimized_shape: dict[str, list[int]]
    strategy: str
    steps: list[str]
    calls: int
    result: ValidationResult
    minimized_case: dict[str, Any] = {}


class MinimizeReply(Response, tag="MinimizeResult"):
    """Minimize's reply. ``minimized_shape`` is the case's shape as seed 002 has it (a tuple:
    the first input's); ``original_shapes``/``minimized_shapes`` (ours) give every input's."""

    original_seed: int
    minimized_seed: int
    minimized_shape: list[int]
    result: ValidationResult
    original_shape: list[int] = []
    original_shapes: dict[str, list[int]] = {}
    minimized_shapes: dict[str, list[int]] = {}
    strategy: str = ""
    steps: list[str] = []
    calls: int = 0
    minimized_case: dict[str, Any] = {}

    @classmethod
    def of(cls, m: MinimizeResult) -> MinimizeReply:
        return cls(original_seed=m.original_seed, minimized_seed=m.minimized_seed,
                   minimized_shape=first_shape(m.minimized_shape), result=m.result,
                   original_shape=first_shape(m.original_shape),
                   original_shapes=m.original_shape, minimized_shapes=m.minimized_shape,
                   strategy=m.strategy, steps=m.steps, calls=m.calls,
                   minimized_case=m.minimized_case)

    def as_result(self) -> MinimizeResult:
        return MinimizeResult(
            original_seed=self.original_seed, minimized_seed=self.minimized_seed,
            original_shape=self.original_shapes, minimized_shape=self.minimized_shapes,
            strategy=self.strategy, steps=self.steps, calls=self.calls, result=self.result,
            minimized_case=self.minimized_case)


def first_shape(shapes: dict[str, list[int]]) -> list[int]:
    """The shape of a case as one tuple (seed 002): its first input's."""
    return list(next(iter(shapes.values()), []))


class FailureSummary(msgspec.Struct, omit_defaults=True):
    op_name: str
    seed: int
    kinds: list[str]
    timestamp: float
    result: ValidationResult | None = None


class FailureList(Response):
    """ListFailures' reply before seed 000's ``Results``; still decoded. ``next_offset``: as
    in ResultList."""

    failures: list[FailureSummary]
    next_offset: int | None = None


class Results(Response):
    """ListResults' and ListFailures' reply (seed 000): ``results`` are ValidationResults;
    for ListFailures ``failures`` (ours) also summarises each one. ``next_offset`` (ours):
    the offset of the next page (paging: MAX_PAGE rows a reply); None at the end."""

    results: list[ValidationResult]
    failures: list[FailureSummary] | None = None
    next_offset: int | None = None


class LintFinding(msgspec.Struct, omit_defaults=True):
    severity: str  # error | warning | info
    rule: str
    message: str
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    source: str | None = None  # "ptx" | "ptxas" | "sass"


class LintResult(Response):
    kernel_name: str
    passed: bool
    findings: list[LintFinding] = []
    metrics: dict[str, Any] = {}


class LintEntry(msgspec.Struct):
    """One kernel's lint as seed 002 reads it; ``metrics`` by the original's names."""

    kernel_name: str
    passed: bool
    metrics: dict[str, Any]
    violations: list[str]
    timestamp: float


class LintResults(Response):
    """LintKernel's reply (seeds 000 and 002): ``results`` one LintEntry per kernel, the
    findings' messages by severity in ``errors``/``warnings``/``info``; ``lint`` (ours)
    the full LintResult of each kernel. For one kernel its LintResult's fields are also
    at the top level."""

    results: list[LintEntry] = []
    errors: list[str] = []
    warnings: list[str] = []
    info: list[str] = []
    lint: list[LintResult] = []
    passed: bool = True
    kernel_name: str | None = None
    findings: list[LintFinding] = []
    metrics: dict[str, Any] = {}


class ArtifactStored(Response):
    kernel_name: str
    artifact_id: int


class Artifact(Response):
    kernel_name: str
    artifact_id: int
    timestamp: float
    metrics: dict[str, Any] = {}
    ptx_content: str | None = None


class ArtifactMetricsResult(Response):
    """GetArtifact's reply (seed 000): the seed's metric names (``registers``, ``spills``,
    ...) at the top level, beside ours: ``metrics`` as measured, per source."""

    kernel_name: str
    artifact_id: int
    timestamp: float
    registers: int | None = None
    spills: int | None = None
    shared_memory_bytes: int | None = None
    local_memory_bytes: int | None = None
    instruction_count: int | None = None
    metrics: dict[str, Any] = {}
    ptx_content: str | None = None


class ArtifactSummary(msgspec.Struct, omit_defaults=True):
    """One stored artifact; ``registers``/``spills`` as in ArtifactMetricsResult."""

    kernel_name: str
    artifact_id: int
    timestamp: float
    registers: int | None = None
    spills: int | None = None


class ArtifactList(Response):
    artifacts: list[ArtifactSummary]


class ArtifactBaselineStored(Response):
    tag: str
    kernel_name: str
    artifact_id: int


class MetricChange(msgspec.Struct, omit_defaults=True):
    metric: str
    baseline: float | None
    current: float | None


class ArtifactDiff(Response):
    tag: str
    kernel_name: str
    passed: bool
    regressions: list[MetricChange] = []
    improvements: list[MetricChange] = []
    unchanged: list[MetricChange] = []


class ArtifactDiffs(Response):
    """DiffArtifactBaseline's reply (seed 000): one ArtifactDiff per kernel compared."""

    tag: str
    passed: bool
    diffs: list[ArtifactDiff] = []


class CiSummaryStats(msgspec.Struct, omit_defaults=True):
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0


class CiSkipped(msgspec.Struct, omit_defaults=True):
    op_name: str
    reason: str


class CiRunComplete(Response):
    """``results`` are the failing cases of every op; ``ops`` the per-op fuzz runs (counts,
    coverage, health); ``lint`` one result per ``[[kernels]]`` entry; ``baseline`` and
    ``artifact_diffs`` are there when the run compared against a baseline tag."""

    run_id: int
    passed: bool
    summary: CiSummaryStats
    results: list[ValidationResult] = []
    duration_ms: float = 0.0
    ops: list[FuzzResults] = []
    skipped: list[CiSkipped] = []
    lint: list[LintResult] = []
    baseline: BaselineComparisonResponse | None = None
    artifact_diffs: list[ArtifactDiff] = []


class CiSummary(Response):
    run: CiRunComplete | None = None


class TestCase(Response):
    """``shape`` (seed 002) is the case's shape, its first input's; ``metadata`` (seed 000)
    repeats what describes the case: op_name, dtype, layout, distribution, shapes, kwargs."""

    op_name: str
    seed: int
    inputs: dict[str, TensorData]
    kwargs: dict[str, Any] = {}
    dtype: str = ""
    layout: str = ""
    distribution: str = ""
    shape: list[int] = []
    metadata: dict[str, Any] = {}


class TestBatch(Response):
    """``cases`` (seed 002); the envelope form also carries them as ``test_cases`` (seed 000)."""

    cases: list[TestCase]
    test_cases: list[TestCase] | None = None


RESPONSE_TYPES: tuple[type[Response], ...] = (
    Error, Pong, Ok, ValidationResultResponse, Results, SubmitResult,
    BaselineComparisonResponse, CoverageReport, FuzzHealth, FuzzResults, ReproduceResult,
    MinimizeReply, LintResults, ArtifactMetricsResult, ArtifactList, ArtifactDiffs,
    CiRunComplete, CiSummary, TestCase, TestBatch,
    # the replies' names before seed 000's, still decoded (a daemon of an older gpuemu)
    ShutdownAck, ResultList, BaselineStored, FailureList, LintResult, ArtifactStored, Artifact,
    ArtifactBaselineStored, ArtifactDiff,
)
AnyResponse = Union[RESPONSE_TYPES]  # type: ignore[valid-type]
RESPONSES: dict[str, type[Response]] = {
    cls.__struct_config__.tag: cls for cls in RESPONSE_TYPES  # not msgspec.inspect: 0.25 s
}


# -- codec -------------------------------------------------------------------------------------


class Form(Enum):
    """How a message was framed; the reply is framed the same way."""

    FLAT = "flat"            # JSON {"type": ..., field: ...}
    ENVELOPE = "envelope"    # JSON {"type": ..., "payload": {...}}
    MSGPACK = "msgpack"      # msgpack, flat; tensor bytes raw


class _Head(msgspec.Struct):
    type: str
    payload: msgspec.Raw = msgspec.Raw(b"")
    protocol_version: int | None = None


class _AnyHead(msgspec.Struct):
    payload: msgspec.Raw = msgspec.Raw(b"")


_ANY_HEAD = msgspec.json.Decoder(_AnyHead)


def form_of(data: bytes) -> Form:
    """The form of a request, even one that does not decode: its Error reply uses it."""
    if data[:1] and data[0] >= 0x80:
        return Form.MSGPACK
    try:
        return Form.ENVELOPE if _ANY_HEAD.decode(data).payload else Form.FLAT
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return Form.FLAT


class _MsgpackHead(msgspec.Struct):
    type: str


_JSON_HEAD = msgspec.json.Decoder(_Head)
_MSGPACK_HEAD = msgspec.msgpack.Decoder(_MsgpackHead)
_JSON_ENC = msgspec.json.Encoder()
_MSGPACK_ENC = msgspec.msgpack.Encoder()
_PATH = re.compile(r"at `\$\.?([^`]*)`")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]*)`")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _field_of(exc: msgspec.ValidationError, prefix: str = "") -> str | None:
    msg = str(exc)
    m = _PATH.search(msg)
    inner = _NAMED_FIELD.search(msg)
    field = m.group(1) if m else ""
    if inner:
        field = f"{field}.{inner.group(1)}" if field else inner.group(1)
    field = field or None
    if field and prefix:
        return f"{prefix}.{field}"
    return field or (prefix or None)


def _invalid(exc: msgspec.MsgspecError, what: str, prefix: str = "") -> InvalidRequest:
    """InvalidRequest for a decode failure of ``what``, naming the field when msgspec does."""
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidRequest(f"{what} is not decodable: {exc}", field=None)
    field = _field_of(exc, prefix)
    where = f" (field `{field}`)" if field else ""
    return InvalidRequest(f"invalid {what}{where}: {exc}", field=field)


def _known_types() -> str:
    return ", ".join(REQUESTS)


def _request_class(name: str) -> type[Request]:
    try:
        return REQUESTS[name]
    except KeyError:
        raise InvalidRequest(
            f"unknown request type {name!r}; expected one of: {_known_types()}. If your gpuemu"
            " is newer than this daemon, restart the daemon (`gpuemu daemon stop`; the next"
            " command starts one of your version)", field="type"
        ) from None


def decode_request(data: bytes) -> tuple[Request, Form]:
    """Decode either JSON form or flat msgpack; raise InvalidRequest naming the field."""
    try:
        return _decode_request(data)
    except RecursionError:  # msgspec gives up on absurd nesting; that is the sender's error
        raise InvalidRequest("request nests too deeply to decode; no gpuemu request nests more"
                             " than a few levels, so check what builds it", field=None) from None
    except (UnicodeDecodeError, msgspec.DecodeError, InvalidRequest) as exc:
        # A bad byte in a key surfaces as "missing"/"unknown field"; say what is really wrong.
        if isinstance(exc, InvalidRequest) and (data[:1] >= b"\x80" or _is_utf8(data)):
            raise
        if isinstance(exc, msgspec.DecodeError) and "UTF-8" not in str(exc):
            raise InvalidRequest(f"request is not decodable: {exc}", field=None) from None
        field = _invalid_utf8_field(data)
        where = f" (field `{field}`)" if field else ""
        raise InvalidRequest(f"request has a string that is not valid UTF-8{where}; send text"
                             " as UTF-8 and bytes as base64", field=field) from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _invalid_utf8_field(data: bytes) -> str | None:
    """The dotted path of the first key or string value holding invalid UTF-8 (JSON only).

    msgspec reports invalid UTF-8 without a position; re-reading the bytes with
    ``surrogateescape`` turns each bad byte into a lone surrogate that we can find."""
    try:
        doc = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    return _find_surrogate(doc, "")


def _find_surrogate(value: Any, path: str) -> str | None:
    bad = _SURROGATE.search
    if isinstance(value, str):
        return (path or None) if bad(value) else None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        child = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and bad(key):
            return _SURROGATE.sub("\ufffd", child)  # a reply must be valid UTF-8 itself
        found = _find_surrogate(item, child)
        if found:
            return found
    return None


def _decode_request(data: bytes) -> tuple[Request, Form]:
    if data[:1] and data[0] >= 0x80:  # a msgpack map; JSON starts with '{' or whitespace
        try:
            head = _MSGPACK_HEAD.decode(data)
            cls = _request_class(head.type)
            return msgspec.msgpack.decode(data, type=cls), Form.MSGPACK
        except msgspec.MsgspecError as exc:
            raise _invalid(exc, "msgpack request") from None
    try:
        head = _JSON_HEAD.decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, "request") from None
    except msgspec.DecodeError as exc:
        if "UTF-8" in str(exc):
            raise  # decode_request names the string's field
        raise InvalidRequest(f"request is not valid JSON: {exc}", field=None) from None
    cls = _request_class(head.type)
    if not head.payload:
        try:
            return msgspec.json.decode(data, type=cls), Form.FLAT
        except msgspec.ValidationError as exc:
            raise _invalid(exc, f"{head.type} request") from None
    try:
        request = msgspec.json.decode(head.payload, type=cls)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, f"{head.type} payload", prefix="payload") from None
    if head.protocol_version is not None and request.protocol_version is None:
        request = msgspec.structs.replace(request, protocol_version=head.protocol_version)
    return request, Form.ENVELOPE


def encode_message(message: Message, form: Form = Form.FLAT) -> bytes:
    """Encode a request or response in ``form``."""
    if form is Form.MSGPACK:
        return _MSGPACK_ENC.encode(message)
    if form is Form.FLAT:
        return _JSON_ENC.encode(message)
    fields = msgspec.to_builtins(message)
    tag = fields.pop("type")
    return _JSON_ENC.encode({"type": tag, "payload": fields})


def decode_response(data: bytes) -> Response:
    """Client side: decode a reply in any of the three forms."""
    try:
        if data[:1] and data[0] >= 0x80:
            return msgspec.msgpack.decode(data, type=AnyResponse)
        head = _JSON_HEAD.decode(data)
        if not head.payload:
            return msgspec.json.decode(data, type=AnyResponse)
        cls = RESPONSES.get(head.type)
        if cls is None:
            raise InvalidRequest(f"unknown response type {head.type!r}", field="type")
        return msgspec.json.decode(head.payload, type=cls)
    except msgspec.MsgspecError as exc:
        raise InvalidRequest(f"malformed response from daemon: {exc}") from None


def error_response(exc: GpuemuError) -> Error:
    """The Error reply for a GpuemuError raised by a handler."""
    return Error(code=str(exc.code), message=str(exc), field=getattr(exc, "field", None))
