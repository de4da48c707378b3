"""The ``gpuemu`` command line. Exit codes: 0 passed, 1 a check failed,
2 usage or configuration error, 3 daemon unreachable.

Subcommands are imported when they run (``LazyGroup``): the client, the protocol and
the report formats cost more to import than numpy itself, and ``gpuemu version`` or a
mistyped command should not pay for them (docs/performance.md, "Start-up").
"""

from __future__ import annotations

from importlib import import_module

import click

from .. import PROTOCOL_VERSION, __version__

__all__ = ["cli", "main"]

_COMMANDS = {  # name -> module under gpuemu.cli that defines it (as the same name)
    "daemon": "daemon_cmd", "test": "check_cmds", "fuzz": "check_cmds",
    "reproduce": "check_cmds", "minimize": "check_cmds", "failures": "check_cmds",
    "baseline": "project_cmds", "lint": "project_cmds", "ci": "project_cmds",
    "report": "project_cmds", "coverage": "project_cmds", "init": "init_cmd",
    "debug": "debug_cmd", "status": "project_cmds",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, in the order above."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*_COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _COMMANDS:
            return getattr(import_module(f".{_COMMANDS[name]}", __name__), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


@cli.command()
def version() -> None:
    """Print the gpuemu and protocol versions.

    \b
    Examples:
      gpuemu version
    """
    click.echo(f"gpuemu {__version__} (protocol {PROTOCOL_VERSION})")


def main() -> None:
    cli(prog_name="gpuemu")
