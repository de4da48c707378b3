"""``gpuemu daemon start|stop|status|logs``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .. import paths
from ..client import Client, ClientError
from ..errors import ConfigError, GpuemuError
from .common import fail


@click.group()
def daemon() -> None:
    """Start, stop and inspect the gpuemu daemon.

    \b
    Examples:
      gpuemu daemon start --background   # serve the project in this directory
      gpuemu daemon status
      gpuemu daemon logs -n 50
      gpuemu daemon stop
    """


@daemon.command()
@click.option("--background", is_flag=True, help="Detach and return once the daemon answers.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="gpuemu.toml to serve (default: found from the working directory).")
def start(background: bool, config_path: Path | None) -> None:
    """Start the daemon (in the foreground unless --background).

    \b
    Examples:
      gpuemu daemon start --background --config gpuemu.toml
    """
    from ..config import find_config, load_config
    from ..daemon.launcher import start_background
    from ..daemon.server import run_daemon
    from ..transport import socket_answers

    config_path = config_path or find_config()
    try:
        # a bad config is reported here, not in the daemon log
        sock = paths.socket_path(load_config(config_path).daemon.socket if config_path else None)
        if socket_answers(sock):
            fail(f"a daemon is already running on {sock}; `gpuemu daemon stop` stops it", 1)
        if background:
            start_background(config_path, socket_path=sock)
            click.echo(f"gpuemu daemon started on {sock} "
                       f"(project: {config_path or 'none'}); logs: {paths.log_dir()}")
        else:
            run_daemon(config_path)
    except ConfigError as exc:
        fail(str(exc), 2)
    except GpuemuError as exc:
        fail(str(exc), 1)


def _running_client(timeout_ms: int) -> Client:
    """A client of the running daemon that never starts one. A project gpuemu.toml that does
    not parse (an editor saving mid-edit) does not hide the daemon: its [daemon] socket is
    unknown then, so the default socket is asked, and stderr says so."""
    try:
        return Client(auto_start=False, timeout_ms=timeout_ms)
    except ConfigError as exc:
        click.echo(f"gpuemu: {exc}\ngpuemu: so the project's [daemon] socket is unknown; asking"
                   f" the daemon at {paths.socket_path()}", err=True)
        return Client(socket_path=paths.socket_path(), auto_start=False, timeout_ms=timeout_ms)


@daemon.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for it to exit.")
def stop(timeout: float) -> None:
    """Ask the daemon to finish in-flight work and exit.

    \b
    Examples:
      gpuemu daemon stop
    """
    try:
        with _running_client(int(timeout * 1000)) as client:
            sock = client.socket_path
            client.shutdown()
    except ClientError as exc:
        fail(f"no daemon stopped: {exc}", 3)
    deadline = time.monotonic() + timeout
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if sock.exists():
        fail(f"the daemon acknowledged Shutdown but {sock} is still there after {timeout:.0f} s", 1)
    click.echo("gpuemu daemon stopped")


@daemon.command()
def status() -> None:
    """Show whether a daemon answers, its version, uptime and files.

    \b
    Examples:
      gpuemu daemon status   # exit 3 when none answers
    """
    from ..daemon.watchdog import read_report

    watchdog = read_report(paths.watchdog_file())
    try:
        with _running_client(3000) as client:
            sock = client.socket_path
            pong = client.ping()
    except ClientError as exc:
        if watchdog and watchdog.deaf_since is not None:
            fail(f"daemon pid {watchdog.pid} runs but does not answer: its watchdog has had no"
                 f" answer to its own Ping since {time.ctime(watchdog.deaf_since)}; see"
                 f" `gpuemu daemon logs`, and kill pid {watchdog.pid} if `gpuemu daemon stop`"
                 " fails too", 3)
        fail(f"daemon not running ({exc})", 3)
    pid = paths.pid_file().read_text().strip() if paths.pid_file().exists() else "?"
    click.echo(f"gpuemu daemon running: version {pong.version}, protocol {pong.protocol_version},"
               f" up {pong.uptime_secs:.1f} s, pid {pid}\n  socket:   {sock}\n"
               f"  database: {paths.db_path()}\n  logs:     {paths.log_dir()}")
    if (w := pong.workers) is not None:
        mib = 1 << 20
        click.echo(f"  workers:  {w.live} live of at most {w.max_workers} ({w.idle} idle),"
                   f" {w.rss_bytes / mib:.0f} MiB resident of at most {w.max_memory_bytes / mib:.0f}"
                   f" MiB; stopped so far: {w.reaped_idle} idle for {w.idle_timeout_s:g} s,"
                   f" {w.reaped_cap} to make room, {w.reaped_memory} over the memory cap")
    if watchdog and watchdog.silences:
        click.echo(f"  watchdog: {watchdog.silences} silence(s) of its Ping path since start"
                   + (f", the last {watchdog.last_silence_s:.1f} s" if watchdog.last_silence_s
                      else "") + "; see `gpuemu daemon logs`")


@daemon.command()
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
def logs(lines: int, follow: bool) -> None:
    """Print the end of the daemon's log.

    \b
    Examples:
      gpuemu daemon logs -n 100 -f
    """
    log_file = paths.log_dir() / "daemon.log"
    if not log_file.exists():
        fail(f"no daemon log at {log_file} yet; start the daemon first", 1)
    with open(log_file, errors="replace") as fh:
        for line in fh.readlines()[-lines:]:
            click.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.2)
