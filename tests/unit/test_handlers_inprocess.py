"""The daemon's handlers in this process: a Client over InProcessTransport, no socket.

The bytes are those a socket would carry (codec, routing table, Error replies), the
storage is a real SQLite file and the reference a real script in a warm worker; only
the NNG server is left out (tests/e2e drive it).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.client import Client
from gpuemu.daemon.inprocess import InProcessTransport
from gpuemu.daemon.routes import HANDLERS
from gpuemu.daemon.state import ConfigSource, DaemonState
from gpuemu.daemon.storage import Storage
from gpuemu.engine.executor import Executor
from gpuemu.errors import ArtifactNotFound, BaselineNotFound, OpNotFound
from gpuemu.protocol import REQUEST_TYPES, Form

from ..conftest import SOFTMAX_REF, write
from ..cuda_artifacts import committed


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


@pytest.fixture(scope="module")
def executor():
    """One executor (its warm worker) for the module: starting Python is the slow part."""
    ex = Executor()
    yield ex
    ex.close()


@pytest.fixture
def state(tmp_path, executor):
    write(tmp_path / "refs" / "softmax.py", SOFTMAX_REF)
    config = write(tmp_path / "gpuemu.toml", """
        [project]
        name = "in-process"

        [[ops]]
        name = "softmax"
        reference = "refs/softmax.py"
        input_names = ["x"]
        dtypes = ["float32"]
    """)
    storage = Storage.open(tmp_path / "db" / "gpuemu.sqlite3")
    yield DaemonState(config=ConfigSource(config), storage=storage, executor=executor)
    storage.close()


def in_process(state: DaemonState, tmp_path, form: Form = Form.MSGPACK) -> Client:
    """A Client whose requests go to ``dispatch`` directly (no daemon on its socket)."""
    return Client(tmp_path / "no-daemon.sock", auto_start=False, form=form,
                  transport=InProcessTransport(state))


@pytest.fixture(params=[Form.MSGPACK, Form.FLAT], ids=["msgpack", "json"])
def client(request, state, tmp_path):
    """An in-process Client in either framing: both reach the handlers the same way."""
    with in_process(state, tmp_path, request.param) as c:
        yield c


X = np.random.default_rng(7).standard_normal((4, 32)).astype(np.float32)


def test_every_request_type_has_a_handler():
    assert set(HANDLERS) == set(REQUEST_TYPES)


def test_ping_answers_with_the_protocol_version(client):
    assert client.ping() == "pong"
    assert client.ping().protocol_version == 1


def test_validate_op_judges_stores_and_lists(client, state):
    good = client.validate_op("softmax", {"x": X}, softmax(X), seed=11)
    bad = client.validate_op("softmax", {"x": X}, softmax(X) * 2, seed=12)
    assert good.passed and not bad.passed
    assert {f.kind for f in bad.failures} == {"ToleranceExceeded"}
    assert [r.seed for r in client.list_results()] == [12, 11]  # newest first
    assert [r.seed for r in client.list_results(op_name="softmax", limit=1)] == [12]
    assert client.get_result(11).passed
    assert client.get_result(99) is None  # NotFound, answered as None
    assert state.storage.get_result(12, "softmax").passed is False  # in the SQLite file


def test_an_unknown_op_is_raised_as_op_not_found(client):
    with pytest.raises(OpNotFound, match="nope"):
        client.validate_op("nope", {"x": X}, X)


def test_store_and_compare_baseline(client):
    client.validate_op("softmax", {"x": X}, softmax(X), seed=1)
    assert client.store_baseline("v1") == 1
    unchanged = client.compare_baseline("v1")
    assert unchanged.passed and [e.op_name for e in unchanged.unchanged] == ["softmax"]
    client.validate_op("softmax", {"x": X}, softmax(X) + 1, seed=2)  # now it fails
    regressed = client.compare_baseline("v1", fail_on_regression=True)
    assert not regressed.passed and [e.op_name for e in regressed.regressions] == ["softmax"]
    with pytest.raises(BaselineNotFound, match="v2"):
        client.compare_baseline("v2")


def test_coverage_counts_the_stored_results(client):
    before = client.coverage("softmax")[0]
    assert before.results == 0 and before.dtypes == {"float32": 0}
    client.validate_op("softmax", {"x": X}, softmax(X), seed=3)
    client.validate_op("softmax", {"x": X.T.copy().T}, softmax(X.T.copy().T), seed=4)
    after = client.coverage("softmax")[0]
    assert after.results == 2 and after.dtypes == {"float32": 2}
    with pytest.raises(OpNotFound):
        client.coverage("nope")


def test_store_and_list_artifacts(state, tmp_path):  # one framing: ptxas runs per artifact
    client = in_process(state, tmp_path)
    assert client.list_artifacts().artifacts == []
    first = client.store_artifact("saxpy", ptx_content=committed("saxpy.ptx"))
    second = client.store_artifact("saxpy", ptx_content=committed("saxpy.ptx"))
    listed = client.list_artifacts("saxpy")
    assert [a.artifact_id for a in listed.artifacts] == [second, first]
    assert listed.artifacts[0].registers is not None
    assert client.get_artifact("saxpy", first).artifact_id == first
    with pytest.raises(ArtifactNotFound, match="kernels with artifacts: saxpy"):
        client.get_artifact("missing")
