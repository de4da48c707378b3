"""``gpuemu baseline | lint | ci | report | coverage | status``: project-wide checks and state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import (
    about, cluster_option, config_option, connect, counted, format_option, make_report,
    project_config, result_command, with_progress,
)

if TYPE_CHECKING:
    from .report import Report


@click.group()
def baseline() -> None:
    """Snapshot the latest result of every op under a tag, and compare against it.

    \b
    Examples:
      gpuemu baseline store v1
      gpuemu baseline compare v1 --fail-on-regression
    """


@baseline.command("store")
@click.argument("tag")
@config_option
@format_option
@result_command
def baseline_store(tag, config_path) -> Report:
    """Store the latest result per op, and every kernel's current metrics, under TAG.

    \b
    Examples:
      gpuemu baseline store v1
    """
    kernels = list(project_config(config_path).kernels)
    with connect(config_path) as client:
        ops = client.store_baseline(tag)
        for name in kernels:  # lint measures and stores the kernel's current artifact
            client.lint(name)
            client.store_artifact_baseline(tag, name)
    return make_report(command="baseline store", passed=True,
                       notes=[f"stored baseline {tag!r} ({counted(ops, 'op')}, "
                              f"{counted(len(kernels), 'kernel')})"])


@baseline.command("compare")
@click.argument("tag")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when an op regressed or a kernel's metrics grew.")
@config_option
@format_option
@result_command
def baseline_compare(tag, fail_on_regression, config_path) -> Report:
    """Compare the latest results, and every kernel's metrics as built now, with baseline TAG.

    \b
    Examples:
      gpuemu baseline compare v1 --fail-on-regression --format junit
    """
    from ..errors import BaselineNotFound

    kernels = list(project_config(config_path).kernels)
    diffs, notes = [], []
    with connect(config_path) as client:
        cmp = client.compare_baseline(tag, fail_on_regression=fail_on_regression)
        for name in kernels:
            client.lint(name)  # measure the kernel as it is now
            try:
                diffs.append(client.diff_artifact_baseline(tag, name, fail_on_regression))
            except BaselineNotFound:
                notes.append(f"kernel {name} is not in baseline {tag!r} (added since?)")
    return make_report(command="baseline compare",
                       passed=cmp.passed and all(d.passed for d in diffs),
                       baseline=cmp, artifact_diffs=diffs, notes=notes)


@click.command()
@click.argument("kernel", required=False)
@click.option("--ptx", "ptx_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Lint this PTX file instead of a configured kernel.")
@config_option
@format_option
@result_command
def lint(kernel, ptx_path, config_path) -> Report:
    """Lint compiled kernels (registers, spills, local/shared memory, instructions) against
    their [[kernels]] artifact_checks.

    \b
    Examples:
      gpuemu lint                       # every [[kernels]] entry
      gpuemu lint softmax_kernel --format junit
      gpuemu lint --ptx build/my_kernel.ptx
    """
    config = project_config(config_path)
    with connect(config_path) as client:
        if ptx_path is not None:
            results = [client.lint(kernel, ptx_content=ptx_path.read_text())]
        else:
            names = [kernel] if kernel else list(config.kernels)
            results = [client.lint(name) for name in names]
    notes = [] if results else ["no [[kernels]] in the config: nothing to lint"]
    return make_report(command="lint", passed=all(r.passed for r in results), lint=results,
                       notes=notes, **about(config))


@click.group()
def ci() -> None:
    """Everything CI needs in one command.

    \b
    Examples:
      gpuemu ci run --quick
    """


@ci.command("run")
@click.option("--quick", is_flag=True, help="Fewer cases ([ci] quick_iterations, quick_dtypes).")
@click.option("--baseline", "tag", help="Also compare results and kernel artifacts with this tag.")
@click.option("--parallel", type=click.IntRange(1), help="Ops checked at once (default: [ci] parallel_jobs).")
@cluster_option
@config_option
@format_option
@result_command
def ci_run(quick, tag, parallel, cluster, config_path) -> Report:
    """Fuzz every script-based op, lint every kernel, compare with a baseline; record the run.

    \b
    Examples:
      gpuemu ci run --quick
      gpuemu ci run --baseline main --format junit > gpuemu-junit.xml
    """
    config = project_config(config_path)
    with connect(config_path) as client:
        run = with_progress("ci run", lambda: client.run_ci(quick=quick, baseline=tag,
                                                            parallel_jobs=parallel,
                                                            cluster=cluster),
                            client.socket_path)
    return _ci_report("ci run", run, config)


def _ci_report(command: str, run, config, **extra) -> Report:
    """A stored or fresh CI run (CiRunComplete) as a Report."""
    return make_report(command=command, passed=run.passed, ops=run.ops, skipped=run.skipped,
                       lint=run.lint, baseline=run.baseline, artifact_diffs=run.artifact_diffs,
                       notes=[f"ci run {run.run_id}: {run.duration_ms / 1e3:.1f}s"],
                       **about(config), **extra)


@click.command()
@click.option("--history", type=click.IntRange(0, 10_000), default=500, show_default=True,
              help="Stored results per op drawn in the max-diff trend.")
@config_option
@format_option
@result_command
def report(history, config_path) -> Report:
    """The last CI run, with each op's max-diff trend over its stored results and what
    they cover (see `gpuemu coverage`): for a browser (--format html), a PR (pr-comment)
    or a dashboard. Reads; runs nothing.

    \b
    Examples:
      gpuemu ci run && gpuemu report --format html > gpuemu-report.html
      gpuemu report --format pr-comment
    """
    from ..errors import NotFound
    from .report import TrendPoint

    config = project_config(config_path)
    with connect(config_path) as client:
        run = client.get_ci_summary()
        if run is None:
            raise NotFound("no CI run is stored yet; `gpuemu ci run` records one, then"
                           " `gpuemu report` shows it")
        trends = {name: [TrendPoint(r.timestamp, r.passed, r.seed, r.max_diff) for r in
                         reversed(client.list_results(limit=history, op_name=name))]
                  for name in config.ops} if history else {}
        coverage = client.coverage()
    return _ci_report("report", run, config, coverage=coverage,
                      history={op: points for op, points in trends.items() if points})


@click.command()
@click.option("--op", "op_name", help="Only this op (default: every op in gpuemu.toml).")
@click.option("--fail-under", type=click.FloatRange(0, 100),
              help="Exit 1 when less than this percent of the configured items have results.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "codecov"]), default="text",
              show_default=True, help="codecov: a Codecov custom-coverage file of gpuemu.toml.")
@config_option
@result_command
def coverage(op_name, fail_under, config_path) -> Report:
    """Which configured dtypes, layouts and shape classes (empty, single, tail: last dim not
    a multiple of 16, tiled) of each op have stored results.

    \b
    Examples:
      gpuemu coverage
      gpuemu coverage --fail-under 80
      gpuemu coverage --format codecov > gpuemu-coverage.json
    """
    config = project_config(config_path)
    with connect(config_path) as client:
        ops = client.coverage(op_name)
    covered, configured = sum(o.covered for o in ops), sum(o.configured for o in ops)
    percent = 100.0 * covered / configured if configured else 100.0
    return make_report(command="coverage", passed=fail_under is None or percent >= fail_under,
                       coverage=ops, **about(config),
                       notes=[f"coverage: {covered}/{configured} ({percent:.0f}%) of the configured"
                              " dtypes, layouts and shape classes have results"
                              + ("" if fail_under is None else f"; --fail-under {fail_under:g}")])


@click.command()
@config_option
@format_option
@result_command
def status(config_path) -> Report:
    """The daemon, the project and the last CI run, at a glance (does not start a daemon).

    \b
    Examples:
      gpuemu status
      gpuemu status --format json
    """
    from ..client import Client

    notes = []
    config = project_config(config_path)
    notes.append(f"project: {config.path} ({counted(len(config.ops), 'op')}, "
                 f"{counted(len(config.kernels), 'kernel')})")
    with Client(auto_start=False, timeout_ms=5000) as client:
        pong = client.ping()
        notes.append(f"daemon: up {pong.uptime_secs:.0f}s, version {pong.version}")
        last = client.get_ci_summary()
    if last is not None:
        s = last.summary
        notes.append(f"last ci run {last.run_id}: {'passed' if last.passed else 'FAILED'}"
                     f" ({s.passed}/{s.total} cases passed, {s.skipped} ops skipped)")
    return make_report(command="status", passed=True, notes=notes)
