"""The settings every module reads: gpuemu.toml as frozen dataclasses, with their defaults.

``gpuemu.config`` reads the file into these (``config_keys`` holds the key table);
modules import them from ``gpuemu.config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config_schema as cs
from .dtypes import DType
from .engine.limits import default_max_memory_mb
from .errors import KernelNotFound, OpNotFound
from .fuzz.settings import FuzzSettings, OpSchema
from .tolerances import ToleranceConfig

CONFIG_FILENAME = "gpuemu.toml"
KNOWN_INVARIANTS = ("shape_preserved", "non_negative", "finite", "symmetric", "normalized")
EXECUTION_MODES = ("client_side", "daemon_orchestrated", "script_based")
OP_TYPES = ("elementwise", "reduction", "softmax", "matmul", "attention", "other")
REDUCING_OP_TYPES = ("reduction", "softmax")
"""op types whose reduced dims ``reduce_dims`` names (default: the last)."""
ORACLES = ("float64", "native")
"""Where the reference computes: float inputs promoted to float64, or in their own dtype."""
FRAMEWORKS = ("numpy", "pytorch", "jax", "tensorflow", "triton")
USER_SECTIONS = ("validation", "daemon", "ci", "policies")
CLUSTER_BACKENDS = ("ray",)
SHIP_MODES = ("shared", "runtime_env")
ADDRESS_PATTERN = r"auto|local|(ray://)?[^\s:/]+:\d+"
LOCAL = "local"
"""The cluster address that means "on this machine" (overrides a configured address)."""


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """``[project]``: what reports call the project, and the framework its kernels take."""

    name: str = ""
    version: str = ""
    framework: str = "numpy"

    @property
    def label(self) -> str:
        """``"NAME VERSION"`` as reports title the project ("" when neither is set)."""
        return f"{self.name} {self.version}".strip()

    @property
    def tensors(self) -> str:
        """The framework whose tensors a client-side op takes (Triton kernels take torch's)."""
        return "pytorch" if self.framework == "triton" else self.framework


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    dtypes: tuple[DType, ...] = (DType.Float32,)
    check_nan: bool = True
    check_inf: bool = True
    seed: int | None = None
    """The root seed of the fuzz runs of every op whose [ops.fuzz] sets none."""
    tolerances: dict[DType, ToleranceConfig] = field(default_factory=dict)
    """Global overrides of the per-dtype defaults ([validation.tolerances])."""


@dataclass(frozen=True, slots=True)
class OpConfig:
    name: str
    reference: Path
    op_script: Path | None = None
    input_names: tuple[str, ...] = ()
    execution_mode: str = "client_side"
    tolerances: dict[DType, ToleranceConfig] = field(default_factory=dict)
    """Per-op overrides; use ``tolerance_for`` to get the one that applies."""
    invariants: tuple[str, ...] = ()
    timeout_s: float = 60.0
    max_memory_mb: int = field(default_factory=default_max_memory_mb)
    """Address-space cap (RLIMIT_AS) of each process that runs the op's scripts."""
    emulate_cuda: bool = False
    """Run scripts written for a CUDA GPU on the CPU: Triton under its interpreter, torch's
    CUDA queries answered and ``device="cuda"`` sent to the CPU (frameworks.cuda_emulation)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    op_type: str = "elementwise"
    """reduction, softmax, matmul and attention get tolerances scaled with their reduction
    length (tolerances.get_recommended_tolerance, via gpuemu.op_checks)."""
    reduce_dims: tuple[int, ...] = ()
    compare: str = "allclose"
    """"ulp": float values pass within ``max_ulp`` ULPs instead of atol/rtol."""
    max_ulp: float | None = None
    vacuous_guard: bool = True
    """Fail a check that an impostor (zeros, a constant, NaN, a copy of an input) passes too."""
    deterministic: bool = False
    """Run the op script several times per case: outputs must agree bitwise, inputs stay intact."""
    num_gpus: float = 0.0
    """GPUs each cluster task of this op asks for (docs/cluster.md); 0: a CPU per task."""
    dtypes: tuple[DType, ...] = (DType.Float32,)
    check_nan: bool = True
    check_inf: bool = True
    oracle: str = "float64"
    """"float64": the reference runs on float inputs promoted to float64 (the op keeps its
    dtype), its output cast back; "native": the reference sees the op's inputs as they are."""
    fuzz: FuzzSettings = field(default_factory=FuzzSettings)
    fuzz_keys: frozenset[str] = frozenset()
    """The keys the op's [ops.fuzz] table set (what it leaves unset comes from the default
    strategy mix, gpuemu.fuzz.strategies)."""
    schema: OpSchema | None = None
    global_tolerances: dict[DType, ToleranceConfig] = field(default_factory=dict, repr=False)
    """[validation.tolerances], kept here so that ``tolerance_for`` needs nothing else."""
    inferred_inputs: tuple[str, ...] = ()
    """Without ``input_names``: the names the reference (else the op script) reads
    (gpuemu.script_inputs). Only generated cases use them; a client's inputs are taken
    as it names them."""

    @property
    def case_inputs(self) -> tuple[str, ...]:
        """The inputs a generated case has: declared, else inferred (maybe none)."""
        return self.input_names or self.inferred_inputs

    @property
    def runs_in_daemon(self) -> bool:
        """Script-based ops only: the daemon never runs a client-side or daemon-orchestrated
        op, even one that has an op_script (seed 004)."""
        return self.execution_mode == "script_based"

    def tolerance_for(self, dtype: DType | str) -> ToleranceConfig:
        """Per-op override, else [validation.tolerances], else the dtype's default."""
        dt = DType.parse(dtype)
        for table in (self.tolerances, self.global_tolerances):
            if dt in table:
                return table[dt]
        return ToleranceConfig.for_dtype(dt)


@dataclass(frozen=True, slots=True)
class ArtifactChecks:
    max_registers: int | None = 64
    max_spills: int | None = 0
    max_local_memory_bytes: int | None = 0
    max_shared_memory_bytes: int | None = None
    max_instructions: int | None = None
    required_patterns: tuple[str, ...] = ()
    forbidden_patterns: tuple[str, ...] = ()
    forbidden_instructions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KernelConfig:
    name: str
    ptx: Path | None = None
    source: Path | None = None
    arch: str = "sm_80"
    artifact_checks: ArtifactChecks = field(default_factory=ArtifactChecks)


@dataclass(frozen=True, slots=True)
class Policies:
    fail_on_regression: bool = False
    warn_threshold: float = 0.1
    regression_factor: float = 2.0


@dataclass(frozen=True, slots=True)
class CiSettings:
    quick_dtypes: tuple[DType, ...] = (DType.Float32,)
    parallel_jobs: int = 0
    """0 means one job per core."""
    iterations: int = 100
    quick_iterations: int = 10


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """[cluster]: where fuzz campaigns run (docs/cluster.md); no address means this machine."""

    backend: str = "ray"
    address: str | None = None
    """"auto" (the cluster this machine belongs to, or RAY_ADDRESS), "HOST:PORT" (its GCS),
    or "ray://HOST:PORT" (Ray Client)."""
    ship: str = "shared"
    """"shared": every node sees the project and gpuemu at the daemon's paths;
    "runtime_env": Ray uploads the project directory and gpuemu's package to each node."""
    cases_per_task: int = 8
    max_retries: int = 3
    """Times Ray reruns a task whose node or worker died."""


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    socket: Path | None = None
    """The project's daemon socket, used by the CLI, the Client and the daemon unless a
    socket is given explicitly or by GPUEMU_SOCKET; unset: $GPUEMU_HOME/gpuemu.sock."""
    auto_start: bool = True
    """False: a client (the CLI too) never starts a daemon; it says how to start one."""
    workers: int = 0
    """Warm workers per script; 0 means one per core."""
    max_workers: int = 0
    """Warm workers and fork servers of all scripts together; 0 means eight per core (the memory cap and the idle timeout bound a campaign)."""
    max_worker_memory_mb: int = 0
    """Their resident memory together (least recently used idle ones go first); 0 means a
    quarter of the machine's RAM."""
    worker_idle_timeout_s: float = 60.0
    """An idle warm worker or fork server is stopped after this long."""
    max_message_bytes: int = 1 << 30
    request_timeout_s: float = 3600.0
    """Wall-clock limit of one request in the daemon: past it, a fuzz, minimize or CI run
    stops at its next case boundary and is answered RequestCancelled (the cases finished
    before are stored). Read when the daemon starts."""
    keep_passing_days: float = 30.0
    """Passing results older than this are pruned (0: kept forever); failures, baselines,
    coverage counts and per-run summaries are kept."""
    keep_passing_results: int = 100_000
    """At most this many passing results are kept, the newest (0: no limit)."""


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    path: Path | None
    root: Path
    project: ProjectInfo = field(default_factory=ProjectInfo)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    ops: dict[str, OpConfig] = field(default_factory=dict)
    kernels: dict[str, KernelConfig] = field(default_factory=dict)
    policies: Policies = field(default_factory=Policies)
    ci: CiSettings = field(default_factory=CiSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def op(self, name: str) -> OpConfig:
        """The op called ``name``; OpNotFound lists the configured ones."""
        if name in self.ops:
            return self.ops[name]
        raise OpNotFound(_not_found("op", name, self.ops, self.path, "[[ops]]"))

    def kernel(self, name: str) -> KernelConfig:
        """The kernel called ``name``; KernelNotFound lists the configured ones."""
        if name in self.kernels:
            return self.kernels[name]
        raise KernelNotFound(_not_found("kernel", name, self.kernels, self.path, "[[kernels]]"))


def _not_found(kind: str, name: str, known: Mapping[str, Any], path: Path | None, table: str) -> str:
    listed = ", ".join(known) or "none"
    return (f"{kind} {name!r} is not configured in {path or 'the configuration'}"
            f"{cs.suggest(name, known)}; configured {kind}s: {listed}. Add it as a {table} entry.")
