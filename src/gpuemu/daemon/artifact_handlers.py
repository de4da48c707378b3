"""Artifact requests: lint a kernel, store its metrics, baseline them and diff against a baseline.

A kernel's PTX comes from the request (``ptx_content``, or ``ptx_path``, relative to the
project root) or else from its [[kernels]] entry (``ptx``, or ``source`` compiled with
nvcc). LintKernel also stores what it measured, so every lint leaves an artifact to
baseline; DiffArtifactBaseline compares the kernel's newest stored artifact with the
baseline, so store (or lint) the changed kernel first.
"""

from __future__ import annotations


from ..artifacts import ArtifactDiffer, ArtifactLinter, Measurement, Toolchain, kernel_ptx, measure_ptx
from ..config import ProjectConfig
from ..errors import ArtifactNotFound, InvalidRequest
from ..paths import confined_path
from ..protocol import (
    Artifact, ArtifactBaselineStored, ArtifactDiff, ArtifactList, ArtifactStored, ArtifactSummary,
    DiffArtifactBaseline, GetArtifact, LintKernel, LintResult, ListArtifacts, StoreArtifact,
    StoreArtifactBaseline,
)
from .handlers import handles
from .state import DaemonState


def _config(state: DaemonState, needed: bool) -> ProjectConfig | None:
    """The project config; a daemon started without one can still lint PTX sent to it."""
    return state.config.get() if needed or state.config.path is not None else None


def _ptx(state: DaemonState, kernel_name: str | None, ptx_content: str | None,
         ptx_path: str | None, tools: Toolchain) -> tuple[str, str, ProjectConfig | None]:
    """``(PTX text, where it came from, config)`` for a request."""
    if ptx_content is not None and ptx_path is not None:
        raise InvalidRequest("send ptx_content or ptx_path, not both", field="ptx_path")
    config = _config(state, needed=ptx_content is None and ptx_path is None)
    if ptx_content is not None:
        return ptx_content, f"<ptx_content of {kernel_name or 'the request'}>", config
    if ptx_path is not None:
        if config is None:
            raise InvalidRequest("ptx_path: this daemon serves no project, so it reads no files;"
                                 " send the PTX as ptx_content", field="ptx_path")
        path = confined_path(config.root, ptx_path, "ptx_path")  # never outside the project
        if not path.is_file():
            raise ArtifactNotFound(f"ptx_path {ptx_path!r}: no file at {path}; compile the kernel "
                                   "(e.g. nvcc -ptx) or fix the path (relative to the project root)")
        return path.read_text(), str(path), config
    if kernel_name is None:
        raise InvalidRequest("name a kernel (kernel_name, a [[kernels]] entry of gpuemu.toml) or "
                             "send its PTX (ptx_content or ptx_path)", field="kernel_name")
    return (*kernel_ptx(config.kernel(kernel_name), tools), config)


def _measure(state: DaemonState, kernel_name: str | None, ptx_content: str | None,
             ptx_path: str | None) -> tuple[Measurement, ProjectConfig | None]:
    tools = Toolchain.find()
    text, source, config = _ptx(state, kernel_name, ptx_content, ptx_path, tools)
    return measure_ptx(text, kernel_name=kernel_name, config=config, source=source, tools=tools), config


@handles(LintKernel)
def lint_kernel(req: LintKernel, state: DaemonState) -> LintResult:
    m, config = _measure(state, req.kernel_name, req.ptx_content, req.ptx_path)
    result = ArtifactLinter.for_kernel(m.config, config.policies if config else None).lint(m)
    state.storage.add_artifact(result.kernel_name, result.metrics, m.module.text)
    return result


@handles(StoreArtifact)
def store_artifact(req: StoreArtifact, state: DaemonState) -> ArtifactStored:
    m, _ = _measure(state, req.kernel_name, req.ptx_content, req.ptx_path)
    artifact_id = state.storage.add_artifact(req.kernel_name, m.metrics(), m.module.text)
    return ArtifactStored(kernel_name=req.kernel_name, artifact_id=artifact_id)


@handles(GetArtifact)
def get_artifact(req: GetArtifact, state: DaemonState) -> Artifact:
    a = state.storage.get_artifact(req.kernel_name, req.artifact_id)
    return Artifact(kernel_name=a.kernel_name, artifact_id=a.id, timestamp=a.timestamp,
                    metrics=a.metrics, ptx_content=a.content)


@handles(ListArtifacts)
def list_artifacts(req: ListArtifacts, state: DaemonState) -> ArtifactList:
    if req.limit < 0:
        raise InvalidRequest(f"limit must be >= 0, got {req.limit}", field="limit")
    return ArtifactList(artifacts=[
        ArtifactSummary(kernel_name=a.kernel_name, artifact_id=a.id, timestamp=a.timestamp)
        for a in state.storage.list_artifacts(req.kernel_name, req.limit)])


@handles(StoreArtifactBaseline)
def store_artifact_baseline(req: StoreArtifactBaseline, state: DaemonState) -> ArtifactBaselineStored:
    if not req.tag.strip():
        raise InvalidRequest("baseline tag must not be empty", field="tag")
    artifact = state.storage.store_artifact_baseline(req.tag, req.kernel_name)
    return ArtifactBaselineStored(tag=req.tag, kernel_name=req.kernel_name, artifact_id=artifact.id)


@handles(DiffArtifactBaseline)
def diff_artifact_baseline(req: DiffArtifactBaseline, state: DaemonState) -> ArtifactDiff:
    baseline = state.storage.get_artifact_baseline(req.tag, req.kernel_name)
    current = state.storage.get_artifact(req.kernel_name)
    config = _config(state, needed=False)
    fail = req.fail_on_regression or (config is not None and config.policies.fail_on_regression)
    return ArtifactDiffer().diff(baseline.metrics, current.metrics, tag=req.tag,
                                 kernel_name=req.kernel_name, fail_on_regression=fail)
