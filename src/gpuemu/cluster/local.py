"""A Ray cluster of several nodes on this one machine: for the tests, the benchmark, and for
trying ``--cluster`` before renting machines (docs/cluster.md).

Each node is a ``ray start --block`` process under its own session directory
(``--temp-dir``), with token authentication on (``RAY_AUTH_MODE=token`` and a fresh
``RAY_AUTH_TOKEN``, which drivers need too: ``env``). A node is stopped by killing its
own processes, never with ``ray stop``, which stops every Ray process of the user.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

READY = "Ray runtime started"
NODE_IP = re.compile(r"Local node IP: (\S+)")
HOST = "127.0.0.1"
PATIENCE = {
    # a node that dies is noticed in seconds, not the default half minute ...
    "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
    # ... but a node that starts slowly on a busy machine is waited for: its agents
    # (whose port files the raylet waits for) and its workers may take a minute to start
    "RAY_agent_register_timeout_ms": "300000", "RAY_worker_register_timeout_seconds": "300",
    "RAY_raylet_start_wait_time_s": "300",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    here = Path(sys.executable).parent / "ray"
    found = str(here) if here.exists() else shutil.which("ray")
    if found is None:
        raise RuntimeError("the `ray` command is not installed; pip install 'gpuemu[ray]'")
    return found


@dataclass
class Node:
    proc: subprocess.Popen
    ip: str = HOST
    """The address Ray chose for the node (the machine's, not the loopback)."""
    log: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)
            if match := NODE_IP.search(line):
                self.ip = match.group(1)
            if READY in line:
                self.ready.set()
        self.ready.set()  # exited: whoever waits sees it did not start

    def processes(self) -> list[int]:
        """The node's processes: its `ray start` and every descendant (raylet, workers, agents)."""
        return _descendants(self.proc.pid)


@dataclass
class LocalCluster:
    temp_dir: Path
    port: int
    env: dict[str, str]
    """What a driver (the daemon) needs: the token, and RAY_ADDRESS for ``--cluster auto``."""
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The head's GCS, HOST:PORT, as ``--cluster`` takes it."""
        return f"{self.nodes[0].ip}:{self.port}"

    @classmethod
    def start(cls, temp_dir: Path, nodes: int = 2, cpus: int = 1,
              object_store_bytes: int = 80 << 20, gpus: tuple[int, ...] = ()) -> LocalCluster:
        """A head and ``nodes - 1`` more, ``cpus`` each (``gpus[i]``: GPUs node i declares)."""
        port = free_port()
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
               "RAY_USAGE_STATS_ENABLED": "0"}
        cluster = cls(temp_dir=Path(temp_dir), port=port, env=env)
        cluster.temp_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(nodes):
                cluster.add_node(cpus, object_store_bytes, gpus[i] if i < len(gpus) else 0)
                env["RAY_ADDRESS"] = cluster.address
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def add_node(self, cpus: int = 1, object_store_bytes: int = 80 << 20, gpus: int = 0,
                 timeout_s: float = 600) -> Node:
        cmd = [_ray_cli(), "start", "--block", "--num-cpus", str(cpus), "--num-gpus", str(gpus),
               "--object-store-memory", str(object_store_bytes),
               "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
               "--include-log-monitor", "false"]
        if not self.nodes:
            cmd += ["--head", "--port", str(self.port), "--temp-dir", str(self.temp_dir),
                    "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                    "--ray-client-server-port", str(free_port())]
        else:
            cmd += ["--address", self.address]
        env = {**os.environ, **self.env, **PATIENCE}
        node = Node(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True))
        self.nodes.append(node)
        threading.Thread(target=node._drain, daemon=True).start()
        if not node.ready.wait(timeout_s) or node.proc.poll() is not None:
            raise RuntimeError(f"ray node did not start: {' '.join(cmd)}\n{''.join(node.log)[-3000:]}")
        return node

    def kill_node(self, node: Node) -> None:
        """The node dies at once (SIGKILL to all its processes), as a machine that fails."""
        _kill(node.processes())
        node.proc.wait(timeout=30)

    def stop(self) -> None:
        """Every process of this cluster, last node first; the rest of the machine's Ray stays."""
        for node in reversed(self.nodes):
            if node.proc.poll() is None:
                self.kill_node(node)
        _kill(_marked(str(self.temp_dir)))  # anything that left its node's process tree


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(tree.get(p, ()))
    return found


def _marked(needle: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if needle.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
