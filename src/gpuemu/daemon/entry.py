"""The ``gpuemu-daemon`` program (seeds 001 and 003 name it): the daemon in the foreground,
as ``gpuemu daemon start`` runs it; ``--background`` detaches instead. ``python -m
gpuemu.daemon`` is the same program."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GpuemuError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="gpuemu-daemon",
        description="Serve gpuemu requests on the project's socket ($GPUEMU_SOCKET, else "
                    "$GPUEMU_HOME/gpuemu.sock, default ~/.gpuemu/gpuemu.sock) until stopped "
                    "(Ctrl-C, SIGTERM, `gpuemu daemon stop`).")
    parser.add_argument("--config", type=Path, default=None,
                        help="gpuemu.toml to serve (default: found from the working directory)")
    parser.add_argument("--quiet", action="store_true", help="log to the log file only")
    parser.add_argument("--background", "--detach", dest="detach", action="store_true",
                        help="start in the background and return once it answers")
    args = parser.parse_args(argv)
    from .launcher import spawn_detached
    from .server import run_daemon

    try:
        if args.detach:
            spawn_detached(args.config)
        else:
            run_daemon(args.config, foreground_logs=not args.quiet)
    except GpuemuError as exc:
        print(f"gpuemu daemon: {exc}", file=sys.stderr)
        sys.exit(2)
