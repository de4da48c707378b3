"""Large tensors between a client, a real daemon and its warm worker go through shared
memory, and come out the same as inline: verdicts, stored failures, reproduction."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu import shm, shm_pool
from gpuemu.errors import InvalidRequest

from ..conftest import SOFTMAX_REF, wait_for, write

pytestmark = pytest.mark.e2e

CONFIG = ('[daemon]\nmax_message_bytes = 1048576\n'  # 1 MiB: a 4 MiB tensor cannot go inline
          '[[ops]]\nname = "softmax"\nreference = "refs/softmax.py"\ninput_names = ["x"]\n')


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(x.dtype)


X = np.random.default_rng(1).standard_normal((256, 4096)).astype(np.float32).T  # 4 MiB


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "refs" / "softmax.py", SOFTMAX_REF)
    write(tmp_path / "gpuemu.toml", CONFIG)
    return tmp_path / "gpuemu.toml"


def test_large_tensors_inline_are_over_the_message_limit(make_daemon, project, monkeypatch):
    monkeypatch.setenv("GPUEMU_SHM", "0")
    with make_daemon(project).client(timeout_ms=120_000) as client:
        with pytest.raises(Exception, match="max_message_bytes|lost the connection"):
            client.validate_op("softmax", {"x": X}, softmax(X))


def test_through_shared_memory_the_same_validation_fits_and_leaves_nothing(make_daemon,
                                                                           project):
    x = X
    daemon = make_daemon(project)
    where = shm.locate(daemon.socket)
    assert where is not None and shm.trusted(where)
    with daemon.client(timeout_ms=120_000) as client:
        good = client.validate_op("softmax", {"x": x}, softmax(x), seed=1)
        bad_out = softmax(x)
        bad_out[7, 3] += 0.5
        bad = client.validate_op("softmax", {"x": x}, bad_out, seed=2)
        again = client.reproduce(2)  # from the stored snapshot: inline, whatever the transport
    assert good.passed, good.failures
    assert not bad.passed and bad.mismatch.max_abs_index == [7, 3]
    assert again.still_fails and again.result.mismatch.max_abs_index == [7, 3]
    # what stays is the file the live warm worker keeps for its next output (gpuemu.shm_pool)
    wait_for(lambda: all(p.suffix == ".pool" for p in where.iterdir()),
             "the daemon to let go of every file")
    kept = set(where.iterdir())
    shm_pool.reap(where)  # their sender lives: they stay
    assert set(where.iterdir()) == kept


def test_a_test_batch_is_bounded_by_the_message_limit(make_daemon, project):
    with make_daemon(project).client(timeout_ms=120_000) as client:
        with pytest.raises(InvalidRequest, match=r"these 5000 cases hold \d+ bytes of inputs, over"
                                                 r" the daemon's max_message_bytes of 1048576"):
            client.get_test_batch("softmax", count=5000, seed=1)
        assert len(client.get_test_batch("softmax", count=2, seed=1)) == 2
