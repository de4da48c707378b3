"""Every key gpuemu.toml accepts is read by the code that it configures (DESIGN.md: "Every
key that is parsed is used, or rejected with a message — never silently ignored").

READ_BY names, for each key of the schema table (gpuemu.config_keys, fuzz.settings), the
function that acts on it; the test parses that function and requires it to read the
key's attribute (``x.KEY`` or a ``"KEY"`` string given to getattr). A key added to the
schema without a reader, a reader that stops reading its key, or a reader renamed away
fails here. A plain "the name occurs somewhere" check would not do: ``socket``,
``workers`` and ``auto_start`` occur all over the code, yet the [daemon] keys of those
names were once parsed and never read.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from functools import cache

import pytest

from gpuemu import config_keys as ck
from gpuemu.fuzz.settings import FUZZ_KEYS, SCHEMA_KEYS

INHERITED = "gpuemu.config_keys:build_op"
"""[validation] keys that every op inherits: the op's own reader then acts on them."""

READ_BY: dict[str, str | None] = {
    # None: accepted and shown, but changes nothing (docs/config.md says so).
    "cluster.backend": None,  # one backend exists ("ray"): the key only rejects others
    "project.name": "gpuemu.config_model:label", "project.version": "gpuemu.config_model:label",
    "project.framework": "gpuemu.config_model:tensors",
    "ops.schema.name": "gpuemu.op_checks:schema_output_failure",
    "ops.schema.output": "gpuemu.op_checks:schema_output_failure",
    "validation.dtypes": INHERITED, "validation.check_nan": INHERITED,
    "validation.check_inf": INHERITED, "validation.seed": INHERITED,
    "validation.tolerances": "gpuemu.op_checks:applied_tolerance",
    "policies.fail_on_regression": "gpuemu.daemon.handlers:compare_baseline_handler",
    "policies.warn_threshold": "gpuemu.artifacts.lint:_limit",
    "policies.regression_factor": "gpuemu.daemon.handlers:compare_baseline_handler",
    "ci.quick_dtypes": "gpuemu.daemon.ci:_fuzz", "ci.parallel_jobs": "gpuemu.daemon.ci:run_ci",
    "ci.iterations": "gpuemu.daemon.ci:_fuzz", "ci.quick_iterations": "gpuemu.daemon.ci:_fuzz",
    "daemon.socket": "gpuemu.daemon.server:run_daemon", "daemon.auto_start": "gpuemu.config:client_daemon",
    "daemon.workers": "gpuemu.daemon.server:executor_settings",
    "daemon.max_workers": "gpuemu.daemon.server:executor_settings",
    "daemon.max_worker_memory_mb": "gpuemu.daemon.server:executor_settings",
    "daemon.worker_idle_timeout_s": "gpuemu.daemon.server:executor_settings",
    "daemon.max_message_bytes": "gpuemu.daemon.server:run_daemon",
    "daemon.request_timeout_s": "gpuemu.daemon.server:run_daemon",
    "daemon.keep_passing_days": "gpuemu.daemon.state:prune",
    "daemon.keep_passing_results": "gpuemu.daemon.state:prune",
    "cluster.address": "gpuemu.daemon.fuzzing:cluster_address",
    "cluster.ship": "gpuemu.cluster.campaign:job_env",
    "cluster.cases_per_task": "gpuemu.cluster.campaign:_drive",
    "cluster.max_retries": "gpuemu.cluster.campaign:task_options",
    "ops.name": "gpuemu.config:_named_entries",
    "ops.reference": "gpuemu.engine.runner:run_reference",
    "ops.op_script": "gpuemu.engine.determinism:run_op",
    "ops.input_names": "gpuemu.config_model:case_inputs",
    "ops.execution_mode": "gpuemu.config_model:runs_in_daemon",
    "ops.tolerances": "gpuemu.config_model:tolerance_for",
    "ops.invariants": "gpuemu.op_checks:check_op_output",
    "ops.timeout_s": "gpuemu.engine.determinism:op_options",
    "ops.max_memory_mb": "gpuemu.engine.determinism:op_options",
    "ops.emulate_cuda": "gpuemu.engine.determinism:op_options",
    "ops.kwargs": "gpuemu.fuzz.config:from_op",
    "ops.op_type": "gpuemu.op_checks:applied_tolerance",
    "ops.reduce_dims": "gpuemu.op_checks:applied_tolerance",
    "ops.compare": "gpuemu.op_checks:check_op_output", "ops.max_ulp": "gpuemu.op_checks:check_op_output",
    "ops.vacuous_guard": "gpuemu.op_checks:check_op_output",
    "ops.deterministic": "gpuemu.engine.determinism:determinism_runs",
    "ops.num_gpus": "gpuemu.cluster.campaign:task_options",
    "ops.dtypes": "gpuemu.fuzz.config:from_op", "ops.check_nan": "gpuemu.op_checks:check_op_output",
    "ops.check_inf": "gpuemu.op_checks:check_op_output", "ops.oracle": "gpuemu.oracle:judge",
    "ops.fuzz": "gpuemu.fuzz.config:from_op", "ops.schema": "gpuemu.fuzz.config:from_op",
    "ops.schema.dims": "gpuemu.fuzz.cases:_draw_shapes",
    "ops.schema.inputs": "gpuemu.fuzz.cases:_draw_shapes",
    "ops.fuzz.fail_fast": "gpuemu.daemon.fuzzing:fuzz_op",
    "kernels.name": "gpuemu.config:_named_entries",
    "kernels.ptx": "gpuemu.artifacts.measure:kernel_ptx",
    "kernels.source": "gpuemu.artifacts.measure:kernel_ptx",
    "kernels.arch": "gpuemu.artifacts.measure:kernel_ptx",
    "kernels.artifact_checks": "gpuemu.artifacts.lint:for_kernel",
    "kernels.artifact_checks.required_patterns": "gpuemu.artifacts.lint:_patterns",
    "kernels.artifact_checks.forbidden_patterns": "gpuemu.artifacts.lint:_patterns",
    "kernels.artifact_checks.forbidden_instructions": "gpuemu.artifacts.lint:_instructions",
    # The numeric limits are rows of lint's LIMITS table, read with getattr(checks, rule.check).
    **{f"kernels.artifact_checks.{k}": "gpuemu.artifacts.lint:LIMITS" for k in (
        "max_registers", "max_spills", "max_local_memory_bytes", "max_shared_memory_bytes",
        "max_instructions")},
    # The fuzz knobs: FuzzConfig.from_op carries them over; these draw the cases with them.
    "ops.fuzz.iterations": "gpuemu.daemon.fuzzing:fuzz_op", "ops.fuzz.seed": "gpuemu.daemon.fuzzing:fuzz_op",
    "ops.fuzz.dtypes": "gpuemu.fuzz.config:from_op",
    "ops.fuzz.layouts": "gpuemu.fuzz.config:layout_pool",
    "ops.fuzz.distributions": "gpuemu.fuzz.config:distribution_pool",
    "ops.fuzz.value_range": "gpuemu.fuzz.cases:spec_for_seed",
    **{f"ops.fuzz.{k}": "gpuemu.fuzz.cases:_draw_shapes"
       for k in ("batch_sizes", "seq_lengths", "hidden_dims", "edge_case_prob")},
    **{f"ops.fuzz.{k}": "gpuemu.fuzz.cases:_limit" for k in ("min_dims", "max_dims", "min_size", "max_size")},
}


def schema_keys() -> list[str]:
    keys = [f"{section}.{k}" for section, table in ck.SECTIONS.items() for k in table]
    keys += [f"ops.{k}" for k in ck.OP_KEYS] + [f"ops.fuzz.{k}" for k in FUZZ_KEYS]
    keys += [f"ops.schema.{k}" for k in SCHEMA_KEYS]
    keys += [f"kernels.{k}" for k in ck.KERNEL_KEYS]
    return keys + [f"kernels.artifact_checks.{k}" for k in ck.CHECK_KEYS]


@cache
def names_read(reader: str) -> set[str]:
    """Attribute names and string constants inside ``module:function`` (or a module-level
    ``module:CONSTANT``): what that code can read."""
    module, name = reader.split(":")
    tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    scopes = [n for n in ast.walk(tree)
              if (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)
              or (isinstance(n, ast.Assign) and any(getattr(t, "id", None) == name for t in n.targets))]
    assert scopes, f"{reader}: no function or constant {name!r} in {module}"
    return {getattr(n, "attr", None) or n.value for scope in scopes for n in ast.walk(scope)
            if isinstance(n, ast.Attribute) or (isinstance(n, ast.Constant) and isinstance(n.value, str))}


def test_every_key_has_a_reader_entry_and_no_entry_is_stale():
    keys = schema_keys()
    assert sorted(set(keys) - set(READ_BY)) == [], "add these keys to READ_BY (and read them)"
    assert sorted(set(READ_BY) - set(keys)) == [], "these READ_BY entries name no key"


@pytest.mark.parametrize("key", [k for k, reader in READ_BY.items() if reader is not None])
def test_the_reader_reads_the_key(key):
    attribute = key.rsplit(".", 1)[1]
    assert attribute in names_read(READ_BY[key]), f"{READ_BY[key]} does not read {attribute!r}"


def test_validation_seed_is_the_root_seed_of_ops_that_set_none(tmp_path):
    from gpuemu.config import parse_config

    (tmp_path / "ref.py").write_text("")
    text = ('[validation]\nseed = 7\n'
            '[[ops]]\nname = "a"\nreference = "ref.py"\ninput_names = ["x"]\n'
            '[[ops]]\nname = "b"\nreference = "ref.py"\ninput_names = ["x"]\n[ops.fuzz]\nseed = 9\n')
    config = parse_config(text, tmp_path / "gpuemu.toml")
    assert (config.op("a").fuzz.seed, config.op("b").fuzz.seed) == (7, 9)
