"""Per-op memory caps (RLIMIT_AS) on every kind of script process, and what a script that
exceeds its cap is told."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.config import parse_config
from gpuemu.engine.determinism import op_options
from gpuemu.engine.executor import Executor
from gpuemu.engine.limits import default_max_memory_mb, physical_memory_mb
from gpuemu.errors import ConfigError, ReferenceScriptFailed

from .test_executor import X, warm_script
from .test_forkserver import seed_script

HOG = "if kwargs.get('hog'):\n    np.ones(1 << 30, np.uint8)  # 1 GiB\n"
EXCEEDED = (r"(?s)exceeded its memory limit \(max_memory_mb = 512; raise it in gpuemu.toml"
            r".*MemoryError")


@pytest.fixture(params=["warm", "forked", "one-shot"])
def case(request, tmp_path):
    """(executor, script) for each way a script runs."""
    if request.param == "forked":
        script = seed_script(tmp_path, HOG.replace("\n    ", "\n        "))
    else:
        script = warm_script(tmp_path, HOG + "return 2 * x")
    with Executor(warm=request.param != "one-shot") as ex:
        yield ex, script


def test_a_script_over_its_memory_cap_is_told_which_key_to_raise(case):
    ex, script = case
    with pytest.raises(ReferenceScriptFailed, match=EXCEEDED):
        ex.run_script(script, {"x": X}, {"hog": True}, max_memory_mb=512)
    np.testing.assert_array_equal(ex.run_script(script, {"x": X}, max_memory_mb=512)["output"],
                                  2 * X)  # under the cap it runs; the process is not poisoned
    np.testing.assert_array_equal(ex.run_script(script, {"x": X}, {"hog": True})["output"],
                                  2 * X)  # no cap: 1 GiB is fine


def test_the_op_key_is_read_and_defaults_to_half_the_ram(tmp_path):
    (tmp_path / "ref.py").write_text("")
    entry = '[[ops]]\nname = "a"\nreference = "ref.py"\ninput_names = ["x"]\n'
    capped = parse_config(entry + "max_memory_mb = 300\n", tmp_path / "gpuemu.toml").op("a")
    default = parse_config(entry, tmp_path / "gpuemu.toml").op("a")
    assert op_options(capped)["max_memory_mb"] == 300
    assert default.max_memory_mb == default_max_memory_mb() == physical_memory_mb() // 2
    with pytest.raises(ConfigError, match=r"ops\[0\].*max_memory_mb: expected an integer >= 1"):
        parse_config(entry + "max_memory_mb = 0\n", tmp_path / "gpuemu.toml")
