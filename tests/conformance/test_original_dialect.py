"""A minimal client of our own that speaks the original Python client's dialect (seed 002):
flat JSON, numpy BYTE strides with C-order bytes, lower-case dtypes, ``shape_options`` and
PascalCase layouts in ``fuzz_config``, the list form of ``op_schema``, kwargs as strings,
and replies read as plain dicts by the original's type and field names. Each of its
methods sends the request of one of the original client's fourteen methods."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import PTX
from .support import RawClient, array, tensor

pytestmark = pytest.mark.e2e

SHAPES = {"batch_sizes": [1, 2], "seq_lengths": [3, 5], "hidden_dims": [4, 6],
          "edge_cases": [[1], [1, 1]]}


class DialectClient:
    def __init__(self, socket):
        self.raw = RawClient(socket, "flat")

    def call(self, kind: str, expected: str, **fields) -> dict:
        got, body = self.raw.send(kind, **fields)
        assert got == expected, (kind, got, body)
        return body

    @staticmethod
    def encode(arr: np.ndarray) -> dict:
        return tensor(arr, byte_strides=True)  # list(arr.strides) + arr.tobytes()

    def ping(self) -> dict:
        return self.call("Ping", "Pong")

    def validate_op(self, op: str, inputs: dict, output, **kwargs) -> dict:
        return self.call("ValidateOp", "ValidationResult", op_name=op, output=self.encode(output),
                         inputs={k: self.encode(v) for k, v in inputs.items()},
                         kwargs={k: str(v) for k, v in kwargs.items()})["result"]

    def get_result(self, seed: int) -> dict | None:
        kind, body = self.raw.send("GetResult", seed=seed)
        if kind == "Error" and body["code"] == "NotFound":
            return None
        assert kind == "ValidationResult", body
        return body["result"]

    def list_results(self, limit: int = 100) -> list:
        return self.call("ListResults", "Results", limit=limit)["results"]

    def store_baseline(self, tag: str) -> None:
        self.call("StoreBaseline", "Ok", tag=tag)

    def fuzz_config(self, seed: int, layouts=("Contiguous", "Strided", "Transposed"), **more):
        return {"seed": seed, "shape_options": SHAPES, "dtypes": ["float32", "float16"],
                "layouts": list(layouts), **more}

    def fuzz_op(self, op: str, seed: int, iterations: int) -> dict:
        return self.call("FuzzOp", "FuzzResults", op_name=op, iterations=iterations,
                         fail_fast=False, fuzz_config=self.fuzz_config(seed))

    def reproduce(self, seed: int) -> tuple[dict, dict]:
        body = self.call("Reproduce", "ReproduceResult", seed=seed)
        return body["result"], {k: array(v) for k, v in body["inputs"].items()}

    def minimize(self, seed: int) -> dict:
        return self.call("Minimize", "MinimizeResult", seed=seed, strategy="BinarySearchDims",
                         max_iters=4)

    def list_failures(self, limit: int = 20) -> list:
        return self.call("ListFailures", "Results", limit=limit)["results"]

    def lint_kernel(self, ptx: str, kernel_name: str | None = None) -> list:
        return self.call("LintKernel", "LintResults", kernel_name=kernel_name,
                         ptx_content=ptx)["results"]

    def case(self, body: dict) -> dict:
        return {"seed": body["seed"], "shape": body["shape"], "dtype": body["dtype"],
                "layout": body["layout"],
                "inputs": {k: array(v) for k, v in body["inputs"].items()}}

    def get_test_case(self, op: str, seed: int) -> dict:
        body = self.call("GetTestCase", "TestCase", op_name=op,
                         fuzz_config=self.fuzz_config(seed, ("Contiguous", "Strided")))
        return self.case(body)

    def get_test_batch(self, op: str, count: int, seed: int, op_schema=None) -> list:
        config = self.fuzz_config(seed, ("Contiguous", "Strided"))
        if op_schema is not None:
            config["op_schema"] = op_schema
        body = self.call("GetTestBatch", "TestBatch", op_name=op, fuzz_config=config, count=count)
        return [self.case(c) for c in body["cases"]]

    def submit_output(self, op: str, inputs: dict, output, seed: int, **kwargs) -> dict:
        return self.call("SubmitOutput", "SubmitResult", op_name=op, seed=seed,
                         inputs={k: self.encode(v) for k, v in inputs.items()},
                         output=self.encode(output),
                         kwargs={k: str(v) for k, v in kwargs.items()})["result"]

    def fuzz_op_client_side(self, op: str, run_op, iterations: int, seed: int,
                            op_schema=None) -> dict:
        results = [self.submit_output(op, c["inputs"], run_op(c["inputs"]), c["seed"])
                   for c in self.get_test_batch(op, iterations, seed, op_schema)]
        return {"total": len(results), "passed": sum(r["passed"] for r in results),
                "failures": [r for r in results if not r["passed"]]}


@pytest.fixture(scope="module")
def client(module_daemon):
    c = DialectClient(module_daemon.socket)
    yield c
    c.raw.close()


def relu(inputs):
    return np.maximum(inputs["x"], 0)


def test_ping_and_client_side_validation(client):
    assert client.ping()["protocol_version"] == 1
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)
    for given in (x, x.T, x[:, ::2]):  # byte strides of contiguous, transposed, sliced views
        result = client.validate_op("relu", {"x": given}, np.maximum(given, 0), scale=1.0)
        assert result["passed"], result["failures"]
    bad = client.validate_op("relu", {"x": x}, np.abs(x))
    assert not bad["passed"] and bad["failures"][0]["message"]
    assert client.get_result(bad["seed"])["seed"] == bad["seed"]
    assert client.get_result(987654321) is None
    assert {r["seed"] for r in client.list_results()} >= {bad["seed"]}
    client.store_baseline("dialect")


def test_fuzzing_reproduce_minimize(client):
    good = client.fuzz_op("relu", seed=21, iterations=4)
    assert (good["total"], good["failed"]) == (4, 0)
    bad = client.fuzz_op("relu_abs", seed=21, iterations=4)
    assert bad["total"] == 4 and bad["failed"] > 0
    failure = bad["failures"][0]
    assert failure["failures"][0]["message"]
    result, inputs = client.reproduce(failure["seed"])
    assert not result["passed"] and list(inputs["x"].shape) == failure["repro_info"]["shape"]
    small = client.minimize(failure["seed"])
    assert small["original_seed"] == failure["seed"] and not small["result"]["passed"]
    assert np.prod(small["minimized_shape"]) <= np.prod(inputs["x"].shape)
    assert failure["seed"] in {f["seed"] for f in client.list_failures()}


def test_lint(client):
    (entry,) = client.lint_kernel(PTX.read_text())
    assert entry["kernel_name"] == "saxpy" and entry["metrics"]["register_count"] > 0


def test_daemon_orchestrated(client):
    case = client.get_test_case("relu", seed=42)
    assert case["seed"] == 42 and case["dtype"] in ("float32", "float16")
    assert list(case["inputs"]["x"].shape) == case["shape"]
    assert client.submit_output("relu", case["inputs"], relu(case["inputs"]), case["seed"])["passed"]
    cases = client.get_test_batch("relu", 3, seed=42)
    assert len({c["seed"] for c in cases}) == 3
    run = client.fuzz_op_client_side("relu", relu, iterations=5, seed=43)
    assert (run["total"], run["passed"]) == (5, 5)
    wrong = client.fuzz_op_client_side("relu", lambda i: np.abs(i["x"]), 5, seed=43)
    assert wrong["failures"]


def test_op_schema_in_the_originals_list_form(client):
    schema = {"name": "matmul",
              "dims": [{"name": "M", "candidates": [2, 3]}, {"name": "K", "candidates": [4]},
                       {"name": "N", "candidates": [5, 1]}],
              "inputs": [{"name": "a", "dims": ["M", "K"]}, {"name": "b", "dims": ["K", "N"]}],
              "output": {"name": "out", "dims": ["M", "N"]}}
    for case in client.get_test_batch("matmul", 4, seed=7, op_schema=schema):
        a, b = case["inputs"]["a"], case["inputs"]["b"]
        assert a.shape[1] == b.shape[0] == 4 and a.shape[0] in (2, 3) and b.shape[1] in (5, 1)
    run = client.fuzz_op_client_side("matmul", lambda i: i["a"] @ i["b"], 4, seed=8,
                                     op_schema=schema)
    assert run["passed"] == 4, run["failures"]
