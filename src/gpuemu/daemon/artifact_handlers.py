"""Artifact requests: lint a kernel, store its metrics, baseline them and diff against a baseline.

A kernel's PTX comes from the request (``ptx_content``, or ``ptx_path``, relative to the
project root) or else from its [[kernels]] entry (``ptx``, or ``source`` compiled with
nvcc). LintKernel also stores what it measured, so every lint leaves an artifact to
baseline; DiffArtifactBaseline compares the kernel's newest stored artifact with the
baseline, so store (or lint) the changed kernel first.
"""

from __future__ import annotations


import time

from ..artifacts import ArtifactDiffer, ArtifactLinter, Measurement, Toolchain, kernel_ptx, measure_ptx
from ..config import ProjectConfig
from ..errors import ArtifactNotFound, InvalidRequest
from ..paths import confined_path
from ..protocol import (
    ArtifactDiff, ArtifactDiffs, ArtifactList, ArtifactMetricsResult, ArtifactSummary,
    DiffArtifactBaseline, GetArtifact, LintEntry, LintKernel, LintResult, LintResults,
    ListArtifacts, Ok, StoreArtifact, StoreArtifactBaseline,
)
from .handlers import page
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


def _lint_one(state: DaemonState, kernel_name: str | None, ptx_content: str | None,
              ptx_path: str | None) -> LintResult:
    m, config = _measure(state, kernel_name, ptx_content, ptx_path)
    result = ArtifactLinter.for_kernel(m.config, config.policies if config else None).lint(m)
    state.storage.add_artifact(result.kernel_name, result.metrics, m.module.text)
    return result


def lint_kernel(req: LintKernel, state: DaemonState) -> LintResults:
    """One kernel (named, or its PTX sent), or, with neither, every [[kernels]] entry."""
    if req.kernel_name is None and req.ptx_content is None and req.ptx_path is None:
        names = list(state.config.get().kernels)
        if not names:
            raise InvalidRequest("gpuemu.toml has no [[kernels]] to lint; name a kernel or send"
                                 " its PTX (ptx_content or ptx_path)", field="kernel_name")
        return lint_results([_lint_one(state, name, None, None) for name in names])
    return lint_results([_lint_one(state, req.kernel_name, req.ptx_content, req.ptx_path)])


def lint_results(lints: list[LintResult]) -> LintResults:
    """The LintResults reply for these kernels' lints (protocol.LintResults)."""
    stamp = time.time()
    findings = [f for r in lints for f in r.findings]
    by = {sev: [f"{f.rule}: {f.message}" for f in findings if f.severity == sev]
          for sev in ("error", "warning", "info")}
    entries = [LintEntry(kernel_name=r.kernel_name, passed=r.passed,
                         metrics=lint_metrics(r.metrics), timestamp=stamp,
                         violations=[f.message for f in r.findings if f.severity == "error"])
               for r in lints]
    single = lints[0] if len(lints) == 1 else None
    return LintResults(results=entries, errors=by["error"], warnings=by["warning"],
                       info=by["info"], lint=lints, passed=all(r.passed for r in lints),
                       kernel_name=single.kernel_name if single else None,
                       findings=single.findings if single else [],
                       metrics=single.metrics if single else {})


def seed_metrics(metrics: dict) -> dict[str, int | None]:
    """Our per-source metrics by the original's names: physical figures (ptxas) where
    measured, else the PTX's. ``spills`` counts spill bytes (ptxas) or local ld/st (PTX)."""
    ptx, ptxas = metrics.get("ptx", {}), metrics.get("ptxas")
    if ptxas:
        spills = ptxas.get("spill_stores_bytes", 0) + ptxas.get("spill_loads_bytes", 0)
    else:
        spills = ptx.get("st_local", 0) + ptx.get("ld_local", 0) if ptx else None
    src = ptxas or ptx
    return {"registers": src.get("registers"), "spills": spills,
            "shared_memory_bytes": src.get("shared_memory_bytes"),
            "local_memory_bytes": src.get("local_memory_bytes"),
            "instruction_count": ptx.get("instructions")}


def lint_metrics(metrics: dict) -> dict:
    """A lint entry's metrics as seed 002 names them (``register_count``, ``spill_count``, ...)."""
    m = seed_metrics(metrics)
    return {"register_count": m["registers"], "spill_count": m["spills"],
            "shared_memory_bytes": m["shared_memory_bytes"],
            "local_memory_bytes": m["local_memory_bytes"],
            "instruction_count": m["instruction_count"]}


def store_artifact(req: StoreArtifact, state: DaemonState) -> Ok:
    """Measured from PTX, or (seed 000) the client's own ``metrics``, stored as sent."""
    if req.metrics is not None:
        if req.ptx_content is not None or req.ptx_path is not None:
            raise InvalidRequest("send metrics or PTX (ptx_content/ptx_path), not both",
                                 field="metrics")
        artifact_id = state.storage.add_artifact(req.kernel_name, req.metrics)
    else:
        m, _ = _measure(state, req.kernel_name, req.ptx_content, req.ptx_path)
        artifact_id = state.storage.add_artifact(req.kernel_name, m.metrics(), m.module.text)
    return Ok(kernel_name=req.kernel_name, artifact_id=artifact_id)


def get_artifact(req: GetArtifact, state: DaemonState) -> ArtifactMetricsResult:
    a = state.storage.get_artifact(req.kernel_name, req.artifact_id)
    return ArtifactMetricsResult(kernel_name=a.kernel_name, artifact_id=a.id,
                                 timestamp=a.timestamp, metrics=a.metrics, ptx_content=a.content,
                                 **_flat_metrics(a.metrics))


def _flat_metrics(metrics: dict) -> dict:
    """Seed 000's metric fields of a stored artifact: ours measured, or a client's own."""
    if "ptx" in metrics or "ptxas" in metrics:
        return seed_metrics(metrics)
    return {k: v for k, v in metrics.items() if k in _SEED_METRICS and isinstance(v, int)}


_SEED_METRICS = ("registers", "spills", "shared_memory_bytes", "local_memory_bytes",
                 "instruction_count")


def list_artifacts(req: ListArtifacts, state: DaemonState) -> ArtifactList:
    rows, next_offset = page(req, lambda limit, offset: state.storage.list_artifacts(
        req.kernel_name, limit, offset))
    return ArtifactList(artifacts=[
        ArtifactSummary(kernel_name=a.kernel_name, artifact_id=a.id, timestamp=a.timestamp,
                        **{k: v for k, v in _flat_metrics(a.metrics).items()
                           if k in ("registers", "spills")})
        for a in rows], next_offset=next_offset)


def store_artifact_baseline(req: StoreArtifactBaseline, state: DaemonState) -> Ok:
    """The newest artifact of ``kernel_name`` or (seed 000) of every kernel that has one."""
    if not req.tag.strip():
        raise InvalidRequest("baseline tag must not be empty", field="tag")
    names = [req.kernel_name] if req.kernel_name is not None else state.storage.artifact_kernels()
    if not names:
        raise ArtifactNotFound("no artifact is stored yet, so there is nothing to baseline; lint"
                               " or store a kernel first (`gpuemu lint`)")
    stored = {n: state.storage.store_artifact_baseline(req.tag, n).id for n in names}
    single = stored.get(req.kernel_name) if req.kernel_name is not None else None
    return Ok(tag=req.tag, kernel_name=req.kernel_name, artifact_id=single, kernels=stored)


def diff_one(state: DaemonState, tag: str, kernel_name: str, fail: bool) -> ArtifactDiff:
    baseline = state.storage.get_artifact_baseline(tag, kernel_name)
    current = state.storage.get_artifact(kernel_name)
    return ArtifactDiffer().diff(baseline.metrics, current.metrics, tag=tag,
                                 kernel_name=kernel_name, fail_on_regression=fail)


def diff_artifact_baseline(req: DiffArtifactBaseline, state: DaemonState) -> ArtifactDiffs:
    """``kernel_name``'s newest artifact, or (seed 000) every kernel's of the baseline."""
    config = _config(state, needed=False)
    fail = req.fail_on_regression or (config is not None and config.policies.fail_on_regression)
    names = ([req.kernel_name] if req.kernel_name is not None
             else state.storage.artifact_baseline_kernels(req.tag))
    diffs = [diff_one(state, req.tag, n, fail) for n in names]
    return ArtifactDiffs(tag=req.tag, passed=all(d.passed for d in diffs), diffs=diffs)
