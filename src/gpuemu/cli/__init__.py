"""The ``gpuemu`` command line. Exit codes: 0 passed, 1 a check failed,
2 usage or configuration error, 3 daemon unreachable."""

from __future__ import annotations

import click

from .. import __version__
from .daemon_cmd import daemon
from .debug_cmd import debug
from .init_cmd import init

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpuemu")
def cli() -> None:
    """gpuemu: prove a deep-learning kernel correct without a GPU."""


cli.add_command(daemon)
cli.add_command(debug)
cli.add_command(init)


def main() -> None:
    cli(prog_name="gpuemu")
