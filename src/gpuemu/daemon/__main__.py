"""``python -m gpuemu.daemon [--config PATH] [--quiet] [--detach]``: what the launcher runs."""

import argparse
import sys
from pathlib import Path

from ..errors import GpuemuError
from .launcher import spawn_detached
from .server import run_daemon

parser = argparse.ArgumentParser(prog="python -m gpuemu.daemon")
parser.add_argument("--config", type=Path, default=None)
parser.add_argument("--quiet", action="store_true", help="log to the log file only")
parser.add_argument("--detach", action="store_true", help="start in the background and return")
args = parser.parse_args()
try:
    if args.detach:
        spawn_detached(args.config)
    else:
        run_daemon(args.config, foreground_logs=not args.quiet)
except GpuemuError as exc:
    print(f"gpuemu daemon: {exc}", file=sys.stderr)
    sys.exit(2)
