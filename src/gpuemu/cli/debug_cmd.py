"""``gpuemu debug``: the interactive prompt over the daemon's stored results."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("debug")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="gpuemu.toml whose scripts `step` and `inputs` run here (default: found from"
                   " the working directory).")
@click.option("-c", "--command", "commands", multiple=True, metavar="COMMAND",
              help="Run COMMAND (e.g. 'show 42') instead of prompting; repeatable. Exit status 1"
                   " if one of them failed.")
def debug(config_path: Path | None, commands: tuple[str, ...]) -> None:
    """Look into stored results: list them, show one, replay a seed, print tensor slices
    and step through the validation stages of a case.

    \b
    Commands at the prompt (`help` lists them):
      results [N] [OP]   failures [N] [OP]   show SEED   replay SEED
      inputs SEED [NAME] [SLICE]   step SEED [all]   next   help   quit

    \b
    Examples:
      gpuemu debug
      gpuemu debug -c "failures 5" -c "step 1234 all"
    """
    from ..client import Client, ConnectionError  # here: `gpuemu --help` need not load them
    from ..daemon.launcher import DaemonStartError
    from ..errors import GpuemuError
    from .debug_repl import DebugRepl

    client = Client(timeout_ms=600_000, config_path=config_path)
    try:
        client.ping()
    except (ConnectionError, DaemonStartError) as exc:
        click.echo(f"gpuemu: {exc}", err=True)
        sys.exit(3)
    except GpuemuError as exc:  # e.g. VersionMismatch
        click.echo(f"gpuemu: {exc}", err=True)
        sys.exit(1)
    with client:
        repl = DebugRepl(client, config_path, interactive=not commands,
                         color=sys.stdout.isatty())
        if commands:
            for command in commands:
                repl.onecmd(command)
            sys.exit(1 if repl.errors else 0)
        intro = repl.intro
        while True:
            try:
                repl.cmdloop(intro)
                return
            except KeyboardInterrupt:  # Ctrl-C abandons the line, not the session
                repl.say("^C (quit to leave)")
                intro = ""
