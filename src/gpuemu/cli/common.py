"""What every result command shares: --format, connecting to the daemon, exit codes, and
turning an error into one line that names the problem and the fix."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import (
    ArtifactNotFound,
    BaselineNotFound,
    ConfigError,
    GpuemuError,
    InvalidRequest,
    KernelNotFound,
    NotFound,
    OpNotFound,
)

if TYPE_CHECKING:
    from .report import Report

FORMATS = ("text", "json", "junit", "sarif", "pr-comment", "html")
"""The --format choices, one reporter each (gpuemu.cli.report): named here, so that
``--help`` imports no reporter, no protocol and no numpy."""

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
_USAGE_ERRORS = (ConfigError, InvalidRequest, OpNotFound, KernelNotFound, NotFound,
                 BaselineNotFound, ArtifactNotFound)

format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for people, json for tools (docs/json-output.md), junit for CI dashboards;"
         " sarif, pr-comment and html for code review (docs/reports.md).")
config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    envvar="GPUEMU_CONFIG", help="gpuemu.toml (default: found from the working directory).")

cluster_option = click.option(
    "--cluster", metavar="ADDRESS",
    help="Run the cases on a Ray cluster: auto, HOST:PORT or ray://HOST:PORT; local for this"
         " machine (default: [cluster] address, else this machine; docs/cluster.md).")


def counted(n: int, noun: str) -> str:
    """``counted(1, "op")`` is "1 op", ``counted(2, "op")`` "2 ops": notes people read."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fail(message: str, code: int) -> None:
    click.echo(f"gpuemu: {message}", err=True)
    sys.exit(code)


def project_config(config_path: Path | None):
    """The project's config (ConfigError, naming the file and key, when it is wrong)."""
    from ..config import find_config, load_config

    path = config_path or find_config()
    if path is None:
        raise ConfigError("no gpuemu.toml in this directory or its parents; run `gpuemu init`"
                          " to create one, or pass --config PATH")
    return load_config(path)


def about(config) -> dict[str, str]:
    """The fields of a Report that name the project it ran on (its gpuemu.toml, [project])."""
    return {"config_path": str(config.path), "project": config.project.label}


def connect(config_path: Path | None, timeout_ms: int = 3_600_000):
    """A Client for the project's daemon, started on first use (with this config); a
    daemon that serves another project's config is an error, not a source of confusing
    "op not configured" answers. The timeout is long: a CI run of a big project takes
    minutes; Ctrl-C ends the wait."""
    from ..client import Client

    config = project_config(config_path)
    client = Client(timeout_ms=timeout_ms, config_path=config.path)
    served = client.ping().config_path
    if served is not None and Path(served).resolve() != config.path.resolve():
        client.close()
        raise ConfigError(
            f"the daemon at {client.socket_path} serves {served}, not {config.path}: one daemon"
            " serves one project. Stop it (`gpuemu daemon stop`) and the next command starts one"
            " for this project, or give each project its own daemon with GPUEMU_HOME=DIR")
    return client


def make_report(**fields: Any) -> Report:
    """A Report, its module imported once a command runs (see FORMATS)."""
    from .report import Report

    return Report(**fields)


def result_command(fn: Callable[..., Report]) -> Callable[..., None]:
    """Run a command that returns a Report: print it in --format, exit 0 or 1; errors exit
    2 (usage or configuration) or 3 (daemon unreachable) with one line."""

    @functools.wraps(fn)
    def wrapper(*args, fmt: str = "text", **kwargs) -> None:
        from ..client import ConnectionError as Unreachable
        from .report import render

        try:
            report = fn(*args, **kwargs)
        except Unreachable as exc:
            fail(str(exc), EXIT_UNREACHABLE)
        except _USAGE_ERRORS as exc:
            fail(str(exc), EXIT_USAGE)
        except GpuemuError as exc:
            fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
        click.echo(render(report, fmt, color=fmt == "text" and sys.stdout.isatty()))
        sys.exit(EXIT_OK if report.passed else EXIT_FAILED)

    return wrapper


def with_progress(label: str, call: Callable[[], T], socket_path: Path) -> T:
    """``call()`` (one long request), with a progress bar on stderr when it is a terminal.

    REQ/REP cannot stream progress, so the bar pings the daemon on a second connection:
    Pong lists the cases done of every long request in flight.
    """
    if not sys.stderr.isatty():
        return call()
    import threading

    from rich.console import Console
    from rich.progress import Progress

    from ..client import Client

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    with Progress(console=Console(stderr=True), transient=True) as bar, \
            Client(socket_path=socket_path, auto_start=False, timeout_ms=2000) as poll:
        task = bar.add_task(label, total=None)
        while worker.is_alive():
            worker.join(0.25)
            try:
                jobs = poll.ping().jobs
            except GpuemuError:
                continue
            if jobs:
                bar.update(task, completed=sum(j.done for j in jobs),
                           total=sum(j.total for j in jobs))
    if "error" in box:
        raise box["error"]
    return box["value"]
