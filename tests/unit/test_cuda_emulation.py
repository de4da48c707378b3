"""emulate_cuda in the two script modes the e2e test (examples/cuda, warm workers) does not
reach: a script in the specification's form, forked from a fork server, and one-shot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from gpuemu.engine.executor import Executor
from gpuemu.errors import ReferenceScriptFailed

from .test_executor import write

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="emulate_cuda redirects torch; torch is not installed")

SCRIPT = """
    import base64, json, sys
    import numpy as np
    import torch

    if __name__ == "__main__":
        t = json.load(sys.stdin)["inputs"]["x"]
        if not torch.cuda.is_available():
            raise RuntimeError("this op requires CUDA")
        x = torch.from_numpy(np.frombuffer(base64.b64decode(t["data"]), np.dtype(t["dtype"])))
        y = (x.to("cuda") * 2 + torch.ones(x.shape, device="cuda")).cuda().cpu().numpy()
        json.dump({"shape": t["shape"], "dtype": str(y.dtype),
                   "data": base64.b64encode(y.tobytes()).decode()}, sys.stdout)
"""


@pytest.mark.parametrize("warm", [True, False], ids=["forked", "one-shot"])
def test_a_script_written_for_cuda_runs_on_the_cpu_when_asked(tmp_path, warm):
    script = write(tmp_path, "cuda_op.py", SCRIPT)
    x = np.arange(6, dtype=np.float32)
    with Executor(warm=warm) as ex:
        np.testing.assert_array_equal(ex.run_script(script, {"x": x}, emulate_cuda=True)["output"],
                                      2 * x + 1)
        with pytest.raises(ReferenceScriptFailed, match="this op requires CUDA"):
            ex.run_script(script, {"x": x})  # the switch is what makes it run
        assert ex.stats().forked == (2 if warm else 0)
