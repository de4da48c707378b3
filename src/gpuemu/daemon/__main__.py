"""``python -m gpuemu.daemon [--config PATH] [--quiet] [--detach]``: the ``gpuemu-daemon``
program, which the launcher runs."""

from .entry import main

main()
