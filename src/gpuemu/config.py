"""gpuemu.toml: the settings every module reads, and how the layers are found, checked and merged.

Layers, later wins key by key: built-in defaults < user config ($GPUEMU_HOME/config.toml)
< the project's gpuemu.toml < overrides (a dict in the same shape; the daemon passes
these). Ops and kernels come from the project file only. Every key is read and checked:
an unknown or mistyped one is a ConfigError naming the file, key path, value and what
was expected, so a typo fails at load time instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import config_schema as cs
from . import paths
from .config_schema import Where
from .engine.limits import default_max_memory_mb
from .dtypes import DType
from .errors import ConfigError, KernelNotFound, OpNotFound
from .fuzz.settings import (DISTRIBUTIONS, LAYOUTS, DimSpec, FuzzSettings, OpSchema, read_schema,
                            settings_from_toml)
from .script_inputs import input_names_read_by
from .tolerances import ToleranceConfig
from .validate.rule import COMPARE_MODES

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
    name: str = ""
    version: str = ""
    framework: str = "numpy"


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    dtypes: tuple[DType, ...] = (DType.Float32,)
    check_nan: bool = True
    check_inf: bool = True
    seed: int | None = None
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
    """None means $GPUEMU_HOME/gpuemu.sock (or GPUEMU_SOCKET)."""
    auto_start: bool = True
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
    request_timeout_s: float = 300.0
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


# -- the schema, one converter per key ---------------------------------------------------

_SEED = cs.integer(0, (1 << 64) - 1)
_DTYPES = cs.seq(cs.dtype, nonempty=True, unique=True)
_TOLERANCES = cs.mapping(cs.dtype, cs.tolerance)


def _later(raw: Any, where: Where) -> tuple[Any, Where]:
    """A table read once the rest of its op is known (a schema needs input_names)."""
    return raw, where


_SECTIONS: dict[str, dict[str, cs.Conv]] = {
    "project": {"name": cs.text, "version": cs.text, "framework": cs.choice(FRAMEWORKS, {"torch": "pytorch"})},
    "validation": {"dtypes": _DTYPES, "check_nan": cs.boolean, "check_inf": cs.boolean, "seed": _SEED,
                   "tolerances": _TOLERANCES},
    "policies": {"fail_on_regression": cs.boolean, "warn_threshold": cs.number(0.0),
                 "regression_factor": cs.number(0.0, above=True)},
    "ci": {"quick_dtypes": _DTYPES, "parallel_jobs": cs.integer(0), "iterations": cs.integer(1),
           "quick_iterations": cs.integer(1)},
    "daemon": {"socket": cs.path(), "auto_start": cs.boolean, "workers": cs.integer(0),
               "max_workers": cs.integer(0), "max_worker_memory_mb": cs.integer(0),
               "worker_idle_timeout_s": cs.number(0.0, above=True),
               "max_message_bytes": cs.integer(1), "request_timeout_s": cs.number(0.0, above=True),
               "keep_passing_days": cs.number(0.0), "keep_passing_results": cs.integer(0)},
    "cluster": {"backend": cs.choice(CLUSTER_BACKENDS), "address": cs.matching(
                    ADDRESS_PATTERN, "'auto', 'local', 'HOST:PORT' or 'ray://HOST:PORT'"),
                "ship": cs.choice(SHIP_MODES), "cases_per_task": cs.integer(1),
                "max_retries": cs.integer(0)},
}
_SECTION_TYPES = {"project": ProjectInfo, "validation": ValidationSettings, "policies": Policies,
                  "ci": CiSettings, "daemon": DaemonSettings, "cluster": ClusterSettings}
_OP: dict[str, cs.Conv] = {
    "name": cs.name, "reference": cs.path(must_exist=True), "op_script": cs.path(must_exist=True),
    "input_names": cs.seq(cs.name, unique=True), "execution_mode": cs.choice(EXECUTION_MODES),
    "tolerances": _TOLERANCES, "invariants": cs.flag_set(KNOWN_INVARIANTS),
    "timeout_s": cs.number(0.0, above=True), "max_memory_mb": cs.integer(1),
    "emulate_cuda": cs.boolean,
    "kwargs": cs.mapping(cs.text, cs.json_value),
    "op_type": cs.choice(OP_TYPES), "reduce_dims": cs.seq(cs.integer(), unique=True),
    "compare": cs.choice(COMPARE_MODES), "max_ulp": cs.number(0.0),
    "vacuous_guard": cs.boolean, "deterministic": cs.boolean, "num_gpus": cs.number(0.0),
    "dtypes": _DTYPES, "check_nan": cs.boolean, "check_inf": cs.boolean,
    "oracle": cs.choice(ORACLES), "fuzz": settings_from_toml, "schema": _later,
}
_LIMIT = cs.integer(0)
_CHECKS: dict[str, cs.Conv] = {
    "max_registers": _LIMIT, "max_spills": _LIMIT, "max_local_memory_bytes": _LIMIT,
    "max_shared_memory_bytes": _LIMIT, "max_instructions": _LIMIT,
    "required_patterns": cs.seq(cs.pattern), "forbidden_patterns": cs.seq(cs.pattern),
    "forbidden_instructions": cs.seq(cs.name),
}
_KERNEL: dict[str, cs.Conv] = {
    "name": cs.name, "ptx": cs.path(), "source": cs.path(),
    "arch": cs.matching(r"(sm|compute)_\d+[a-z]?", "a GPU architecture such as 'sm_80' or 'sm_90a'"),
    "artifact_checks": cs.record(ArtifactChecks, _CHECKS, aliases={"max_local_memory": "max_local_memory_bytes"}),
}


# -- building ops and kernels -------------------------------------------------------------


def _build_op(raw: Mapping[str, Any], where: Where, validation: ValidationSettings) -> OpConfig:
    kw = cs.table(_OP, required=("name", "reference"), aliases={"reduced_dims": "reduce_dims"})(raw, where)
    mode = kw.setdefault("execution_mode", "script_based" if "op_script" in kw else "client_side")
    if mode == "script_based" and "op_script" not in kw:
        raise where.at("execution_mode").error(
            "'script_based' runs the op from a script, but op_script is not set; add "
            "op_script = \"path/to/op.py\" or choose 'client_side' / 'daemon_orchestrated'")
    if "fuzz" in kw:
        kw["fuzz"], kw["fuzz_keys"] = kw["fuzz"]
    if "schema" in kw:  # read here: it needs input_names
        schema = kw["schema"] = read_schema(*kw["schema"], dims_at="[ops.schema.dims]",
                                            input_names=kw.get("input_names", ()),
                                            names_label="input_names is")
        kw.setdefault("input_names", tuple(schema.inputs))
    elif "input_names" not in kw:  # the FAQ's form: inputs as the scripts read them
        kw["inferred_inputs"] = (input_names_read_by(kw["reference"])
                                 or ("op_script" in kw and input_names_read_by(kw["op_script"]))
                                 or ())
    if kw.get("reduce_dims") and kw.get("op_type", "elementwise") not in REDUCING_OP_TYPES:
        raise where.at("reduce_dims").error(
            f"reduce_dims applies to reductions, but op_type is {kw.get('op_type', 'elementwise')!r}; "
            "set op_type = \"reduction\" (or \"softmax\") or remove reduce_dims")
    if (kw.get("compare") == "ulp") != ("max_ulp" in kw):
        key = "max_ulp" if "max_ulp" in kw else "compare"
        raise where.at(key).error(
            "compare = \"ulp\" and max_ulp go together: the ULP comparison needs max_ulp = N "
            "(ULPs allowed per element), and max_ulp means nothing without it; set both or neither")
    for key in ("dtypes", "check_nan", "check_inf"):
        kw.setdefault(key, getattr(validation, key))
    return OpConfig(**kw, global_tolerances=validation.tolerances)


def _build_kernel(raw: Mapping[str, Any], where: Where) -> KernelConfig:
    kw = cs.table(_KERNEL, required=("name",))(raw, where)
    if "ptx" not in kw and "source" not in kw:
        raise where.error("a kernel needs ptx = \"path/to/kernel.ptx\" or source = \"path/to/kernel.cu\"")
    return KernelConfig(**kw)


# -- layers -------------------------------------------------------------------------------


def _read(path: Path, missing_hint: str) -> tuple[dict[str, Any], Where]:
    where = Where.of_file(path)
    try:
        return cs.loads(path.read_bytes().decode("utf-8"), where), where
    except FileNotFoundError:
        raise where.error(f"file not found; {missing_hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read the file ({exc}); check it is readable UTF-8 text") from None


def _layer(raw: Mapping[str, Any], where: Where, allowed: tuple[str, ...], what: str) -> dict[str, dict]:
    """The checked sections of one layer; ops and kernels are built from the project file only."""
    known = (*_SECTIONS, "ops", "kernels")
    for key in raw:
        if key not in known:
            raise where.at(key).error(f"unknown section{cs.suggest(key, known)}; expected {cs.one_of(allowed)}")
        if key not in allowed:
            raise where.at(key).error(f"[{key}] does not belong in {what}; only "
                                         f"{', '.join(f'[{a}]' for a in allowed)} do")
    return {s: cs.table(_SECTIONS[s])(raw[s], where.at(s)) for s in _SECTIONS if s in raw}


def _assemble(raw: Mapping[str, Any], path: Path, before: tuple[dict, ...] = (),
              after: tuple[dict, ...] = ()) -> ProjectConfig:
    where = Where.of_file(path)
    layers = (*before, _layer(raw, where, (*_SECTIONS, "ops", "kernels"), "the project file"), *after)
    sections = {s: cls(**cs.merge(layer.get(s, {}) for layer in layers)) for s, cls in _SECTION_TYPES.items()}
    validation = sections["validation"]
    return ProjectConfig(
        path=path, root=path.parent, **sections,
        ops=cs.named_entries(raw.get("ops", []), where.at("ops"), "op",
                             lambda entry, at: _build_op(entry, at, validation)),
        kernels=cs.named_entries(raw.get("kernels", []), where.at("kernels"), "kernel", _build_kernel),
    )


# -- public API ---------------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path | None:
    """The gpuemu.toml in ``start`` (default: the working directory) or its nearest parent, or None."""
    here = Path(start if start is not None else Path.cwd()).expanduser().resolve()
    if here.is_file():
        here = here.parent
    return next((d / CONFIG_FILENAME for d in (here, *here.parents) if (d / CONFIG_FILENAME).is_file()), None)


def load_config(path: Path | None = None, *, user_config: Path | None | Literal["default"] = "default",
                overrides: dict[str, Any] | None = None) -> ProjectConfig:
    """Load the project configuration: defaults < user config < ``path`` < ``overrides``.

    ``path`` None searches the working directory and its parents (``find_config``); a
    directory means its gpuemu.toml. ``user_config`` "default" reads
    ``$GPUEMU_HOME/config.toml`` when it exists; None skips the user layer; a path must
    exist. ``overrides`` has the shape of the file without ops and kernels; relative
    paths in it start from the project root. Raises ConfigError on any problem.
    """
    if path is None:
        path = find_config()
        if path is None:
            raise ConfigError(f"no {CONFIG_FILENAME} in {Path.cwd()} or any parent directory; "
                              "run `gpuemu init` to create one")
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        path = path / CONFIG_FILENAME
    raw, where = _read(path, "run `gpuemu init` to create one")
    before = ()
    if user_config is not None:
        user_path = paths.home() / "config.toml" if user_config == "default" else Path(user_config)
        if user_config != "default" or user_path.is_file():
            user_raw, user_where = _read(user_path, "create it or pass user_config=None")
            before = (_layer(user_raw, user_where, USER_SECTIONS, "the user config"),)
    after = (_layer(overrides, Where("overrides", where.base), tuple(_SECTIONS), "overrides"),) if overrides else ()
    return _assemble(raw, path, before, after)


def parse_config(text: str, path: Path) -> ProjectConfig:
    """Parse gpuemu.toml text as if read from ``path`` (relative paths start from its directory)."""
    path = Path(path).expanduser().resolve()
    return _assemble(cs.loads(text, Where.of_file(path)), path)
