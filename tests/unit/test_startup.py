"""What start-up imports: every CLI call, script and worker pays for it (docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("ml_dtypes", "torch", "jax", "tensorflow", "triton", "ray")


@pytest.mark.parametrize("modules", [
    "gpuemu.cli",
    "gpuemu.cli.check_cmds, gpuemu.cli.project_cmds, gpuemu.cli.daemon_cmd",
    "gpuemu.script",
    "gpuemu.client, gpuemu.protocol, gpuemu.fuzz.cases",
    "gpuemu.daemon.server, gpuemu.daemon.handlers, gpuemu.engine.worker",
])
def test_nothing_heavy_is_imported_until_it_is_used(modules):
    probe = (f"import sys, {modules}; "
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == [], f"importing {modules} loads {loaded}"


def test_bfloat16_imports_ml_dtypes_on_first_use():
    probe = ("import sys; from gpuemu.dtypes import DType; before = 'ml_dtypes' in sys.modules;"
             " print(before, DType.BFloat16.numpy.name, 'ml_dtypes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "bfloat16", "True"]


def test_gpuemu_version_imports_only_the_cli_group():
    probe = ("import sys; from click.testing import CliRunner; from gpuemu.cli import cli;"
             " r = CliRunner().invoke(cli, ['version']); print(r.output.strip());"
             " print(sorted(m for m in sys.modules if m.startswith('gpuemu.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "gpuemu 0.1.0 (protocol 1)"
    assert out[1] == "['gpuemu.cli']"


@pytest.mark.parametrize("command", ["fuzz", "test", "ci", "coverage"])
def test_a_commands_help_imports_no_reporter_and_no_numpy(command):
    """``--help`` builds the command's options only: the reporters, the protocol and numpy
    are imported once a command runs (bench: `gpuemu fuzz --help` within 2x numpy's import)."""
    probe = ("import sys; from click.testing import CliRunner; from gpuemu.cli import cli;"
             f" r = CliRunner().invoke(cli, [{command!r}, '--help']); print(r.exit_code);"
             " print(' '.join(m for m in ('numpy', 'gpuemu.protocol', 'gpuemu.cli.report')"
             " if m in sys.modules) or '-')")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", "-"]
