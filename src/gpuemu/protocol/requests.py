"""The requests of protocol version 1 (seed 000's 22, and ours: FinishFuzzRun, GetCoverage).

Requests are strict: an unknown field is an error (InvalidRequest naming it), so a misspelt
option never goes silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import msgspec

from ..message import Message
from ..tensor import TensorData
from ..fuzz.settings import FuzzConfigPayload


class Request(Message, kw_only=True):
    protocol_version: int | None = None


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
"""How many rows a listing may ask for and skip (SQLite takes 64-bit integers only)."""
MAX_PAGE = 10_000
"""Rows one ListResults/ListFailures reply holds at most, whatever its limit."""


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
    """``offset``: as in ListResults."""

    kernel_name: str | None = None
    limit: Limit = 50
    offset: Offset = 0


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
