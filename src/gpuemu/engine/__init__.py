"""The engine: running scripts, judging cases and keeping a run's health, with no daemon.

The daemon (``gpuemu.daemon``) adds the socket, state and storage around it; the
in-process path (``gpuemu.local``) and the client-side loops use it directly.
"""
