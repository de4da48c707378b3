"""Bounded storage (issue 22 item 4): coverage counted as results arrive (also for a
database from before), run summaries, pruning of passing results, and paged lists."""

from __future__ import annotations

import sqlite3
import time

import pytest

from gpuemu.coverage import result_classes
from gpuemu.daemon.artifact_handlers import list_artifacts
from gpuemu.daemon.handlers import list_results
from gpuemu.daemon.fuzzing import list_failures
from gpuemu.daemon.state import ConfigSource, DaemonState
from gpuemu.daemon.storage import Storage
from gpuemu.protocol import MAX_PAGE, ListArtifacts, ListFailures, ListResults
from gpuemu.validate.result import ReproductionInfo

from .test_storage import result


def shaped(seed: int, passed: bool = True, shape=(4, 16), dtype="float32", **fields):
    info = ReproductionInfo(seed=seed, op_name="softmax", command="", layout="contiguous",
                            input_shapes={"x": list(shape)}, input_dtypes={"x": dtype})
    return result(seed=seed, passed=passed, repro_info=info, **fields)


@pytest.fixture
def store(tmp_path):
    with Storage.open(tmp_path / "db" / "gpuemu.sqlite3") as storage:
        yield storage


def test_coverage_counts_follow_every_stored_result(store):
    store.add_result(shaped(1))
    store.add_result(shaped(2, passed=False, shape=(3, 5), dtype="float16"))
    store.add_result(result(seed=3))  # no shapes: a result, in no class
    results, failed, counts = store.coverage_counts("softmax")
    assert (results, failed) == (3, 1)
    assert counts == {("dtype", "float32"): 1, ("dtype", "float16"): 1, ("layout", "contiguous"): 2,
                      ("shape", "tiled"): 1, ("shape", "tail"): 1, ("rank", "2-d"): 2}
    assert store.coverage_counts("other") == (0, 0, {})


def test_a_version_1_database_gets_its_coverage_counted_once(tmp_path):
    path = tmp_path / "gpuemu.sqlite3"
    with Storage.open(path) as storage:
        for seed in range(5):
            storage.add_result(shaped(seed, passed=seed != 2))
    conn = sqlite3.connect(path)  # back to the schema of version 1, as an old gpuemu left it
    for table in ("coverage", "coverage_totals", "fuzz_runs"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX results_passed")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    with Storage.open(path) as storage:
        assert storage.coverage_counts("softmax")[:2] == (5, 1)
        assert storage.coverage_counts("softmax")[2][("shape", "tiled")] == 5


def test_pruning_keeps_failures_baselines_and_coverage(store):
    old = time.time() - 40 * 86400
    for seed in range(10):
        store.add_result(shaped(seed, passed=seed % 5 != 0, **({"timestamp": old} if seed < 4
                                                               else {})))
    store.store_baseline("main")
    assert store.prune(max_age_days=30, max_passing=None) == 3  # seeds 1, 2, 3
    assert store.prune(max_age_days=None, max_passing=2) == 3  # of 4, 6, 7, 8, 9: keeps 8, 9
    assert [r.seed for r in store.list_results(limit=100)] == [9, 8, 5, 0]
    assert {f.seed for f in store.list_failures()} == {0, 5}
    assert store.get_baseline("main")["softmax"].seed == 9
    assert store.coverage_counts("softmax")[:2] == (10, 2)  # coverage outlives the rows


def test_fuzz_run_summaries(store):
    store.add_fuzz_run("softmax", 2**64 - 1, 0, 100, 98, 2, 1234.5)
    (run,) = store.fuzz_runs("softmax")
    assert run["seed"] == 2**64 - 1 and (run["passed"], run["failed"]) == (98, 2)


def test_lists_are_paged_at_max_page(store, monkeypatch):
    monkeypatch.setattr("gpuemu.daemon.handlers.MAX_PAGE", 4)
    for seed in range(10):
        store.add_result(shaped(seed, passed=seed % 2 == 0))
    state = DaemonState(config=ConfigSource(None), storage=store, executor=None)
    first = list_results(ListResults(limit=1_000_000), state)
    assert [r.seed for r in first.results] == [9, 8, 7, 6] and first.next_offset == 4
    last = list_results(ListResults(limit=1_000_000, offset=8), state)
    assert [r.seed for r in last.results] == [1, 0] and last.next_offset is None
    exact = list_results(ListResults(limit=3), state)
    assert len(exact.results) == 3 and exact.next_offset is None
    failures = list_failures(ListFailures(limit=100), state)
    assert [f.seed for f in failures.failures] == [9, 7, 5, 3] and failures.next_offset == 4
    rest = list_failures(ListFailures(limit=100, offset=4), state)
    assert [f.seed for f in rest.failures] == [1] and rest.next_offset is None
    ids = [store.add_artifact("gemm", {"registers": i}) for i in range(6)]
    artifacts = list_artifacts(ListArtifacts(limit=100), state)
    assert [a.artifact_id for a in artifacts.artifacts] == ids[:1:-1] and artifacts.next_offset == 4
    tail = list_artifacts(ListArtifacts(limit=100, offset=4), state)
    assert [a.artifact_id for a in tail.artifacts] == ids[1::-1] and tail.next_offset is None
    assert MAX_PAGE == 10_000


def test_result_classes_of_a_result_without_shapes_are_none():
    assert result_classes(result()) == []
