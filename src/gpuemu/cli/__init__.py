"""The ``gpuemu`` command line. Exit codes: 0 passed, 1 a check failed,
2 usage or configuration error, 3 daemon unreachable."""

from __future__ import annotations

import click

from .. import __version__
from .check_cmds import failures, fuzz, minimize, reproduce, test
from .common import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from .daemon_cmd import daemon
from .debug_cmd import debug
from .init_cmd import init
from .project_cmds import baseline, ci, coverage, lint, report, status, version

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpuemu")
def cli() -> None:
    """gpuemu: prove a deep-learning kernel correct without a GPU.

    \b
    Examples:
      gpuemu init                      # scaffold gpuemu.toml and a passing op
      gpuemu test                      # check every op (starts the daemon)
      gpuemu fuzz softmax -n 500       # fuzz one op
      gpuemu ci run --quick --format junit > gpuemu.xml
    """


for command in (daemon, test, fuzz, reproduce, minimize, failures, baseline, lint, ci, report,
                coverage, init, debug, version, status):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="gpuemu")
