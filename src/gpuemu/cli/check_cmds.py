"""``gpuemu test | fuzz | reproduce | minimize | failures``: run and replay the op checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from .common import (about, cluster_option, config_option, connect, format_option, make_report,
                     project_config, result_command, with_progress)

if TYPE_CHECKING:
    from .report import Report


def _fuzz_ops(config_path, names, iterations, seed, fail_fast, command,
              determinism=None, cluster=None, dtypes=()) -> Report:
    """Fuzz each named (else every) op the daemon can run; ``dtypes`` runs ``iterations``
    cases per dtype, one run each (as the original's studies counted them)."""
    config = project_config(config_path)
    ops = [config.op(n) for n in names] if names else list(config.ops.values())
    runnable = [op for op in ops if op.runs_in_daemon]
    from ..engine.modes import skipped_ops

    skipped = skipped_ops(ops)
    results = []
    with connect(config_path) as client:
        for op in runnable:
            for dtype in dtypes or [None]:
                label = f"{command} {op.name}" + (f" {dtype}" if dtype else "")
                results.append(with_progress(label, lambda: client.fuzz_op(
                    op.name, iterations=iterations, seed=seed, fail_fast=fail_fast,
                    determinism=determinism, cluster=cluster,
                    dtypes=[dtype] if dtype else None), client.socket_path))
    checked = sum(r.iterations for r in results)
    notes = [] if checked else [
        f"nothing was checked: {_nothing_ran(ops, results)}; an op runs in the daemon with an"
        " op_script (execution_mode = \"script_based\"), client-side ops through the Client"]
    passed = checked > 0 and all(r.failed == 0 for r in results)  # vacuity: a warning
    return make_report(command=command, passed=passed, ops=results, skipped=skipped, notes=notes,
                       **about(config))


def _nothing_ran(ops, results) -> str:
    if not ops:
        return "gpuemu.toml declares no [[ops]]"
    if not results:
        return f"none of the {len(ops)} op(s) runs in the daemon (all listed as skipped)"
    return "every run had 0 cases (--iterations 0?)"


@click.command()
@click.option("--op", "ops", multiple=True, help="Only this op (repeatable). Default: every op.")
@click.option("--seed", type=int, help="A stored case's seed (as a failure prints it): reproduce that"
              " case; any other seed is the root seed of the run (default: the op's [ops.fuzz]"
              " seed, else random).")
@click.option("--iterations", "-n", type=click.IntRange(0),
              help="Cases per op (default: the op's config).")
@click.option("--determinism", type=click.IntRange(2), metavar="N",
              help="Run the op N times per case: outputs must be bitwise identical, inputs untouched.")
@cluster_option
@config_option
@format_option
@result_command
def test(ops, seed, iterations, determinism, cluster, config_path) -> Report:
    """Check every configured op: the daemon runs each script-based op against its
    reference on seeded cases. Client-side and daemon-orchestrated ops are listed as skipped.

    \b
    Examples:
      gpuemu test
      gpuemu test --op softmax --seed 2024 --format junit > gpuemu.xml
      gpuemu test --seed 98765         # reproduce the stored case 98765 (a fuzz failure)
      gpuemu test --determinism 3      # also catch nondeterministic kernels
    """
    if seed is not None and len(ops) <= 1:
        with connect(config_path) as client:
            stored = client.get_result(seed, ops[0] if ops else None)
        if stored is not None:  # the FAQ: `gpuemu test --seed S` reproduces case S
            return _reproduce(seed, stored.op_name, None, False, config_path, "test")
    return _fuzz_ops(config_path, ops, iterations, seed, False, "test", determinism, cluster)


@click.command()
@click.argument("op_name", required=False)
@click.option("--op", "op_opt", help="The op to fuzz (or give it as the argument).")
@click.option("--iterations", "-n", type=click.IntRange(0), help="Cases (default: the op's config).")
@click.option("--seed", type=int, help="Root seed; the same seed gives the same cases.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failing case.")
@click.option("--dtype", "dtypes", multiple=True, metavar="DT",
              help="Run the cases in this dtype only (repeatable: -n cases per dtype, a run each).")
@cluster_option
@config_option
@format_option
@result_command
def fuzz(op_name, op_opt, iterations, seed, fail_fast, dtypes, cluster, config_path) -> Report:
    """Fuzz one op over shapes, dtypes, layouts and values.

    \b
    Examples:
      gpuemu fuzz softmax --iterations 500 --seed 2024
      gpuemu fuzz --op matmul --fail-fast --format json
      gpuemu fuzz softmax -n 100 --dtype float16 --dtype bfloat16   # 100 cases each
      gpuemu fuzz softmax -n 100000 --cluster auto   # on a Ray cluster
    """
    name = op_name or op_opt
    if not name:
        raise click.UsageError("name the op to fuzz: `gpuemu fuzz OP` (see gpuemu.toml [[ops]])")
    return _fuzz_ops(config_path, [name], iterations, seed, fail_fast, "fuzz", cluster=cluster,
                     dtypes=dtypes)


@click.command()
@click.argument("seed_arg", metavar="[SEED]", type=int, required=False)
@click.option("--seed", type=int, help="The failing case's seed (as printed); or give it as SEED.")
@click.option("--op", "op_name", help="The op, if the seed is not a stored failure.")
@click.option("--reproducer", "write_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the case as a portable JSON reproducer to this file.")
@click.option("--embed-inputs", is_flag=True,
              help="Put the inputs in the reproducer whatever their size (small ones always are).")
@click.option("--from", "read_from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay a reproducer file here: no daemon, no database.")
@config_option
@format_option
@result_command
def reproduce(seed_arg, seed, op_name, write_to, embed_inputs, read_from, config_path) -> Report:
    """Re-run a stored failure from its seed alone (inputs regenerated bit for bit), or
    replay a portable reproducer file on this machine.

    \b
    Examples:
      gpuemu reproduce 12878641633439953888
      gpuemu reproduce --seed 42 --op softmax     # a case that was never stored
      gpuemu reproduce 42 --reproducer case.json  # ... and write it out, to send or keep
      gpuemu reproduce --from case.json           # replay it (another machine, later gpuemu)
    """
    if read_from is not None:
        return _replay_file(read_from, config_path)
    if seed_arg is not None and seed is not None and seed_arg != seed:
        raise click.UsageError(f"two seeds given ({seed_arg} and --seed {seed}); give one")
    seed = seed_arg if seed is None else seed
    if seed is None:
        raise click.UsageError("give the failing case's seed (`gpuemu reproduce SEED`, see"
                               " `gpuemu failures`) or a reproducer file (--from FILE)")
    return _reproduce(seed, op_name, write_to, embed_inputs, config_path, "reproduce")


def _reproduce(seed: int, op_name: str | None, write_to: Path | None, embed_inputs: bool,
               config_path: Path | None, command: str) -> Report:
    """Re-run case ``seed`` in the daemon; ``write_to`` also writes it as a reproducer file."""
    with connect(config_path) as client:
        again = client.reproduce_case(seed, op_name, reproducer=write_to is not None,
                                      embed_inputs=embed_inputs)
    notes = [f"{'still fails' if again.still_fails else 'passes now'}: seed {seed}"
             f" ({again.op_name})"]
    if write_to is not None:
        from ..engine.repro import replay_command
        from ..reproducer import encode_reproducer

        rep = msgspec.structs.replace(again.reproducer,
                                      replay=replay_command(source=write_to))
        write_to.write_bytes(encode_reproducer(rep))
        how = "embedded" if rep.inputs else "regenerated from the spec"
        notes.append(f"wrote reproducer {write_to} (inputs {how}); replay it with `{rep.replay}`")
    return make_report(command=command, passed=not again.still_fails, results=[again.result],
                       notes=notes)


def _replay_file(path: Path, config_path: Path | None) -> Report:
    """A reproducer run against this project's op script and reference, with no daemon."""
    from ..engine.repro import replay_command, repro_info
    from ..local import run_here
    from ..reproducer import load_reproducer, reproducer_inputs
    from ..tensor import to_numpy

    rep = load_reproducer(path)
    config = project_config(config_path)
    op = config.op(rep.op_name)
    inputs = reproducer_inputs(rep, str(path))
    actual = None
    if op.op_script is None and rep.output is not None:  # the client's output, checked again
        actual = to_numpy(rep.output, f"{path}: output")
    result = run_here(op, config.root, inputs, rep.kwargs, rep.seed, actual=actual,
                      where=str(path)).result
    result.repro_info = repro_info(op.name, rep.seed, inputs, rep.kwargs,
                                   replay_command(source=path))
    what = "its recorded output" if actual is not None else "the op script"
    return make_report(command="reproduce", passed=result.passed, results=[result],
                       **about(config),
                       notes=[f"{'still fails' if not result.passed else 'passes now'}: {path} (op"
                              f" {op.name}, seed {rep.seed}; {what} against the reference, here)"])


@click.command()
@click.option("--seed", type=int, required=True, help="The failing case's seed.")
@click.option("--op", "op_name", help="The op (default: the stored failure's).")
@click.option("--strategy", default="binary-search-dims", show_default=True,
              type=click.Choice(["binary-search-dims", "binary-search-values",
                                 "BinarySearchDims", "BinarySearchValues"]),
              help="Shrink the dims, or the values.")
@click.option("--max-iters", type=click.IntRange(1), default=100, show_default=True,
              help="Most op runs to spend.")
@click.option("--write-test", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the minimized case as a pytest regression test into this directory.")
@config_option
@format_option
@result_command
def minimize(seed, op_name, strategy, max_iters, write_test, config_path) -> Report:
    """Shrink a failing case to a smaller one that fails the same way.

    \b
    Examples:
      gpuemu minimize --seed 12878641633439953888
      gpuemu minimize --op softmax --seed 42 --strategy binary-search-values --write-test tests/
    """
    import msgspec

    from ..fuzz.minimize import parse_strategy

    with connect(config_path) as client:
        small = with_progress(f"minimize {seed}", lambda: client.minimize_case(
            seed, op_name, strategy=parse_strategy(strategy), max_iters=max_iters),
            client.socket_path)
    notes = []
    if write_test is not None:
        from ..fuzz.cases import CaseSpec
        from ..fuzz.regression import write_regression_test

        path = write_regression_test(project_config(config_path).path,
                                     msgspec.convert(small.minimized_case, CaseSpec), write_test,
                                     original_seed=small.original_seed,
                                     original_shapes=small.original_shape)
        notes.append(f"wrote {path} (fails until the op is fixed): pytest {path}")
    return make_report(command="minimize", passed=small.result.passed, results=[small.result],
                       minimize=small, notes=notes)


@click.command()
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--op", "op_name", help="Only this op's failures.")
@config_option
@format_option
@result_command
def failures(limit, op_name, config_path) -> Report:
    """List stored failures, newest first, with the command that reproduces each.

    \b
    Examples:
      gpuemu failures --limit 5
      gpuemu failures --op softmax --format json
    """
    with connect(config_path) as client:
        found = client.failure_summaries(limit=limit, op_name=op_name)
    if not found and sys.stdout.isatty():
        click.echo("no stored failures", err=True)
    # Listing is not a check: it exits 0 whatever it lists.
    return make_report(command="failures", passed=True, results=[f.result for f in found])
