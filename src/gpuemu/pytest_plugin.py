"""pytest plugin: a private gpuemu daemon per test session, and fuzzing inside a test.

::

    def test_softmax(gpuemu_fuzz):
        gpuemu_fuzz("softmax", lambda inputs: my_softmax(inputs["x"]), framework="torch")

    def test_layer_norm(gpuemu):          # the session's Client
        assert gpuemu.validate_op("layer_norm", {"x": x}, my_layer_norm(x)).passed

The daemon runs the project's gpuemu.toml (found from pytest's rootdir, or
``--gpuemu-config``) in a temporary GPUEMU_HOME, so tests never touch the user's
daemon or database. A failing ``gpuemu_fuzz`` names the failing case's seed and two
ways to get it back: ``pytest <test> --gpuemu-seed N`` re-runs that one case through
the op in the test (where a debugger can stop), and ``gpuemu reproduce`` re-checks
the stored output in the daemon's home, which is kept after a session with failures.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from .client import Client
from .config import CONFIG_FILENAME, find_config, load_config
from .daemon.launcher import DaemonStartError, start_daemon_and_wait, stop_daemon
from .engine.fuzz_results import FuzzResults
from .engine.health import Severity
from .engine.repro import replay_command
from .engine.runs import Tally
from .frameworks import get_adapter
from .protocol import OpSchemaPayload

__all__ = ["SessionDaemon", "failure_message"]

START_TIMEOUT_S = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gpuemu", "gpuemu kernel validation")
    group.addoption("--gpuemu-config", metavar="PATH", default=None,
                    help=f"the {CONFIG_FILENAME} the session's daemon runs (default: the one in"
                         " the rootdir or its nearest parent)")
    group.addoption("--gpuemu-seed", metavar="SEED", type=int, default=None,
                    help="replay only this case seed (from a failure message) in every"
                         " gpuemu_fuzz call, instead of fuzzing")


@dataclass
class SessionDaemon:
    """A daemon subprocess in its own temporary GPUEMU_HOME (a short /tmp path: Unix
    socket paths are limited to ~100 bytes)."""

    home: Path
    config: Path
    proc: subprocess.Popen
    keep: bool = False  # a failure's reproduce command points here: do not delete it

    @property
    def socket(self) -> Path:
        return self.home / "gpuemu.sock"

    @classmethod
    def start(cls, config: Path) -> SessionDaemon:
        home = Path(tempfile.mkdtemp(prefix="gpuemu-", dir="/tmp"))
        socket = home / "gpuemu.sock"
        env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_SOCKET": str(socket)}
        try:
            proc = start_daemon_and_wait(config, socket, env=env, output=home / "daemon.out",
                                         wait_s=START_TIMEOUT_S)
        except DaemonStartError as exc:  # its home stays, with the daemon's output and log
            raise RuntimeError(f"the gpuemu daemon for {config} did not start: {exc}") from None
        return cls(home=home, config=config, proc=proc)

    @cached_property
    def framework(self) -> str:
        """``[project] framework``: the tensors ``gpuemu_fuzz`` hands ``run_op`` by default."""
        return load_config(self.config).project.tensors

    def client(self) -> Client:
        return Client(socket_path=self.socket, auto_start=False, config_path=self.config,
                      timeout_ms=120_000)

    def stop(self) -> None:
        stop_daemon(self.proc)
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)


def _config_path(config: pytest.Config) -> Path:
    given = config.getoption("gpuemu_config")
    if given:
        path = Path(given).expanduser()
        path = path / CONFIG_FILENAME if path.is_dir() else path
        if not path.is_file():
            pytest.fail(f"gpuemu: --gpuemu-config {given}: no such file; pass the path of the"
                        f" project's {CONFIG_FILENAME}", pytrace=False)
        return path.resolve()
    found = find_config(config.rootpath)
    if found is None:
        pytest.fail(f"gpuemu: no {CONFIG_FILENAME} in {config.rootpath} or any parent; pass"
                    " --gpuemu-config PATH, or create one with `gpuemu init`", pytrace=False)
    return found


@pytest.fixture(scope="session")
def gpuemu_daemon(pytestconfig: pytest.Config) -> Iterator[SessionDaemon]:
    """The session's private daemon (its ``home``, ``socket`` and ``config``)."""
    try:
        daemon = SessionDaemon.start(_config_path(pytestconfig))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def gpuemu(gpuemu_daemon: SessionDaemon) -> Iterator[Client]:
    """A Client connected to the session's private daemon."""
    with gpuemu_daemon.client() as client:
        yield client


class GpuemuHealthWarning(UserWarning):
    """A fuzz run passed but could not have failed a wrong op (its health issues say why)."""


def vacuous_message(fuzz: FuzzResults) -> str:
    """What a passing but vacuous ``gpuemu_fuzz`` run warns: its health errors."""
    return "\n".join([f"gpuemu: op {fuzz.op_name!r} passed {fuzz.passed} fuzz cases, but"
                      f" the run is vacuous (root seed {fuzz.seed}):",
                      *(f"  {i.kind}: {i.message}" for i in fuzz.health
                        if i.severity == Severity.error)])


def failure_message(fuzz: FuzzResults, nodeid: str, home: Path | None = None) -> str:
    """What a failing ``gpuemu_fuzz`` says: the first failing seed, why, and how to replay it."""
    first = fuzz.failures[0]
    info = first.repro_info
    shapes = ", ".join(f"{k}: {info.input_dtypes.get(k, '?')}{shape} strides"
                       f" {info.input_strides.get(k)}"
                       for k, shape in info.input_shapes.items()) if info else ""
    command = info.command if info and info.command else replay_command(fuzz.op_name, first.seed)
    lines = [f"gpuemu: op {fuzz.op_name!r} failed {fuzz.failed} of {fuzz.iterations} fuzz cases"
             f" (root seed {fuzz.seed})",
             f"first failing case: seed {first.seed}" + (f" ({shapes})" if shapes else ""),
             *(f"  {f.kind}: {f.message}" for f in first.failures),
             f"replay it in this test:  pytest {shlex.quote(nodeid)} --gpuemu-seed {first.seed}",
             "reproduce it in gpuemu:  "
             + (f"GPUEMU_HOME={shlex.quote(str(home))} " if home else "") + command]
    others = [str(r.seed) for r in fuzz.failures[1:6]]
    if others:
        lines.append("other failing seeds: " + ", ".join(others)
                     + (", ..." if fuzz.failed > 6 else ""))
    return "\n".join(lines)


def _replay(client: Client, op_name: str, run_op: Callable[..., Any], seed: int,
            fuzz_config: Mapping[str, Any], framework: str | None) -> FuzzResults:
    """The one case named by ``seed``; exceptions in ``run_op`` propagate, to be debugged."""
    tally = Tally()
    case = client.test_case(op_name, seed=seed, fuzz_config=fuzz_config)
    decode = get_adapter(framework or "numpy").from_tensor_data
    output = run_op({k: decode(v, f"inputs.{k}") for k, v in case.inputs.items()}, **case.kwargs)
    tally.add(0, client.submit_output(op_name, seed, output, fuzz_config=fuzz_config))
    return tally.results(op_name, seed)


@pytest.fixture
def gpuemu_fuzz(gpuemu: Client, gpuemu_daemon: SessionDaemon,
                request: pytest.FixtureRequest) -> Callable[..., FuzzResults]:
    """``gpuemu_fuzz(op_name, run_op, iterations=100, seed=None, framework=None,
    dtypes=None, op_schema=None)``: fuzz ``run_op(inputs, **kwargs)`` client-side against
    the op's reference and fail the test with the failing seed and how to replay it.
    ``framework`` defaults to the project's ``[project] framework``. Returns the
    FuzzResults. With ``--gpuemu-seed N`` only case N runs."""
    replay_seed = request.config.getoption("gpuemu_seed")

    def fuzz(op_name: str, run_op: Callable[..., Any], iterations: int = 100,
             seed: int | None = None, framework: str | None = None,
             dtypes: list[str] | None = None,
             op_schema: OpSchemaPayload | Mapping[str, Any] | None = None) -> FuzzResults:
        framework = framework or gpuemu_daemon.framework
        if replay_seed is None:
            results = gpuemu.fuzz_op_client_side(op_name, run_op, iterations=iterations,
                                                 seed=seed, dtypes=dtypes, op_schema=op_schema,
                                                 framework=framework)
        else:
            config = {k: v for k, v in (("dtypes", dtypes), ("op_schema", op_schema))
                      if v is not None}
            results = _replay(gpuemu, op_name, run_op, replay_seed, config, framework)
        if results.failed:
            gpuemu_daemon.keep = True
            pytest.fail(failure_message(results, request.node.nodeid, gpuemu_daemon.home),
                        pytrace=False)
        if results.vacuous:  # a right op passes such a run too: say so, do not fail it
            warnings.warn(GpuemuHealthWarning(vacuous_message(results)), stacklevel=2)
        return results

    return fuzz
