"""The keys of gpuemu.toml: one converter per key, and how ops and kernels are built.

This table is the schema: ``gpuemu.config`` reads every layer through it, docs/config.md
is generated from it (``gpuemu.config_doc``), and a test checks that every key it accepts
is read by the code. An unknown or mistyped key is a ConfigError naming the file, key
path, value and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from . import config_schema as cs
from .config_model import (ADDRESS_PATTERN, CLUSTER_BACKENDS, EXECUTION_MODES, FRAMEWORKS,
                           KNOWN_INVARIANTS, OP_TYPES, ORACLES, REDUCING_OP_TYPES, SHIP_MODES,
                           ArtifactChecks, CiSettings, ClusterSettings, DaemonSettings, KernelConfig,
                           OpConfig, Policies, ProjectInfo, ValidationSettings)
from .config_schema import Where
from .fuzz.settings import FuzzSettings, read_schema, settings_from_toml
from .script_inputs import input_names_read_by
from .validate.rule import COMPARE_MODES

# -- the schema, one converter per key ---------------------------------------------------

_SEED = cs.integer(0, (1 << 64) - 1)
_DTYPES = cs.seq(cs.dtype, nonempty=True, unique=True)
_TOLERANCES = cs.mapping(cs.dtype, cs.tolerance)


def _later(raw: Any, where: Where) -> tuple[Any, Where]:
    """A table read once the rest of its op is known (a schema needs input_names)."""
    return raw, where


SECTIONS: dict[str, dict[str, cs.Conv]] = {
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
SECTION_TYPES = {"project": ProjectInfo, "validation": ValidationSettings, "policies": Policies,
                  "ci": CiSettings, "daemon": DaemonSettings, "cluster": ClusterSettings}
OP_KEYS: dict[str, cs.Conv] = {
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
CHECK_KEYS: dict[str, cs.Conv] = {
    "max_registers": _LIMIT, "max_spills": _LIMIT, "max_local_memory_bytes": _LIMIT,
    "max_shared_memory_bytes": _LIMIT, "max_instructions": _LIMIT,
    "required_patterns": cs.seq(cs.pattern), "forbidden_patterns": cs.seq(cs.pattern),
    "forbidden_instructions": cs.seq(cs.name),
}
KERNEL_KEYS: dict[str, cs.Conv] = {
    "name": cs.name, "ptx": cs.path(), "source": cs.path(),
    "arch": cs.matching(r"(sm|compute)_\d+[a-z]?", "a GPU architecture such as 'sm_80' or 'sm_90a'"),
    "artifact_checks": cs.record(ArtifactChecks, CHECK_KEYS, aliases={"max_local_memory": "max_local_memory_bytes"}),
}


_NO_FUZZ = FuzzSettings()


# -- building ops and kernels -------------------------------------------------------------


def build_op(raw: Mapping[str, Any], where: Where, validation: ValidationSettings) -> OpConfig:
    kw = cs.table(OP_KEYS, required=("name", "reference"), aliases={"reduced_dims": "reduce_dims"})(raw, where)
    mode = kw.setdefault("execution_mode", "script_based" if "op_script" in kw else "client_side")
    if mode == "script_based" and "op_script" not in kw:
        raise where.at("execution_mode").error(
            "'script_based' runs the op from a script, but op_script is not set; add "
            "op_script = \"path/to/op.py\" or choose 'client_side' / 'daemon_orchestrated'")
    if "fuzz" in kw:
        kw["fuzz"], kw["fuzz_keys"] = kw["fuzz"]
    fuzz = kw.get("fuzz", _NO_FUZZ)
    if fuzz.seed is None and validation.seed is not None:  # [validation] seed: every op's root seed
        kw["fuzz"] = msgspec.structs.replace(fuzz, seed=validation.seed)
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


def build_kernel(raw: Mapping[str, Any], where: Where) -> KernelConfig:
    kw = cs.table(KERNEL_KEYS, required=("name",))(raw, where)
    if "ptx" not in kw and "source" not in kw:
        raise where.error("a kernel needs ptx = \"path/to/kernel.ptx\" or source = \"path/to/kernel.cu\"")
    return KernelConfig(**kw)
