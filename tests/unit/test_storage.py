"""Storage on real SQLite files: every method, ordering, u64 seeds, modes, durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path

import pytest

from gpuemu.daemon import checkpoint
from gpuemu.daemon.storage import SCHEMA_VERSION, FailureRecord, Storage
from gpuemu.errors import (
    ArtifactNotFound, BaselineNotFound, InternalError, InvalidRequest, NotFound, VersionMismatch,
)
from gpuemu.validate.result import FailureReason, ValidationResult

from ..conftest import wait_for

U64_MAX = 2**64 - 1


def result(op_name="softmax", seed=1, passed=True, max_diff=1e-6, **fields) -> ValidationResult:
    failures = [] if passed else [FailureReason(kind="ToleranceExceeded", message="too far")]
    return ValidationResult(passed=passed, op_name=op_name, seed=seed, max_diff=max_diff,
                            failures=failures, dtype="float32", **fields)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "home" / "db" / "gpuemu.sqlite3"


@pytest.fixture
def store(db_path):
    with Storage.open(db_path) as storage:
        yield storage


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- checkpoints ------------------------------------------------------------------------

PAGE = 4096


def test_no_commit_copies_the_wal_into_the_database(db_path, monkeypatch):
    """SQLite's automatic checkpoint ran inside the commit that took the WAL past 1000
    pages; with the checkpointer held off, the WAL grows past that and the database file
    stays as it was, and every result is there once the store is closed."""
    monkeypatch.setattr(checkpoint, "EVERY", 10**9)
    with Storage.open(db_path) as store:
        before = db_path.stat().st_size
        for seed in range(500):
            store.add_result(result(seed=seed))
        assert Path(f"{db_path}-wal").stat().st_size > 1500 * PAGE
        assert db_path.stat().st_size == before and store.checkpoints.done == 0
    with Storage.open(db_path) as again:
        assert len(again.list_results(limit=1000)) == 500


def test_the_checkpointer_copies_the_wal_every_few_commits(db_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "EVERY", 50)
    with Storage.open(db_path) as store:
        before = db_path.stat().st_size
        for seed in range(49):
            store.add_result(result(seed=seed))
        assert store.checkpoints.done == 0
        store.add_result(result(seed=49))
        wait_for(lambda: store.checkpoints.done == 1, "the checkpointer's first checkpoint")
        assert db_path.stat().st_size > before  # the pages are in the database file now
        assert len(store.list_results(limit=100)) == 50


# -- opening ---------------------------------------------------------------------------

def test_open_creates_private_dirs_and_files_in_wal_mode(db_path, store):
    store.add_result(result())
    assert mode(db_path.parent) == 0o700
    assert mode(db_path.parent.parent) == 0o700
    for suffix in ("", "-wal", "-shm"):
        assert mode(f"{db_path}{suffix}") == 0o600, suffix
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_open_leaves_existing_directories_alone(tmp_path):
    os.chmod(tmp_path, 0o755)
    Storage.open(tmp_path / "x.sqlite3").close()
    assert mode(tmp_path) == 0o755


def test_reopen_keeps_data_and_does_not_migrate_twice(db_path):
    with Storage.open(db_path) as first:
        first.add_result(result(seed=7))
    with Storage.open(db_path) as second:
        assert second.get_result(7).seed == 7


def test_empty_sqlite_file_is_migrated_from_version_0(tmp_path):
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()  # an existing, empty (version 0) database
    with Storage.open(path) as storage:
        storage.add_result(result(seed=1))
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    raw.close()


def test_newer_schema_is_refused_with_upgrade_hint(db_path):
    Storage.open(db_path).close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(VersionMismatch, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade gpuemu"):
        Storage.open(db_path)


def test_file_that_is_not_a_database_is_named(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InternalError, match=r"junk\.sqlite3 cannot be opened.*move the file aside"):
        Storage.open(path)


# -- results -----------------------------------------------------------------------------

def test_add_and_get_result_round_trips(store):
    stored = result(seed=3, max_diff=2.5e-7, shape=[4, 8])
    rid = store.add_result(stored)
    assert isinstance(rid, int)
    assert store.get_result(3) == stored
    assert store.get_result(4) is None
    assert store.get_result(3, op_name="gelu") is None


@pytest.mark.parametrize("seed", [0, 2**53 + 1, 2**63 - 1, 2**63, U64_MAX])
def test_u64_seeds_round_trip(store, seed):
    store.add_result(result(seed=seed, passed=False))
    assert store.get_result(seed).seed == seed
    assert store.get_failure(seed).seed == seed
    assert store.get_failure(seed).result.seed == seed


def test_seeds_2_63_and_2_64_minus_1_stay_distinct(store):
    store.add_result(result(seed=2**63, op_name="a"))
    store.add_result(result(seed=U64_MAX, op_name="b"))
    store.add_result(result(seed=2**63 - 1, op_name="c"))
    assert store.get_result(2**63).op_name == "a"
    assert store.get_result(U64_MAX).op_name == "b"
    assert store.get_result(2**63 - 1).op_name == "c"


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seed_outside_u64_is_rejected(store, seed):
    with pytest.raises(InvalidRequest, match=rf"seed {seed} is not a u64"):
        store.add_result(result(seed=seed))
    with pytest.raises(InvalidRequest, match="is not a u64"):
        store.get_result(seed)


def test_get_result_returns_newest_with_seed(store):
    store.add_result(result(op_name="a", seed=5, max_diff=1.0))
    store.add_result(result(op_name="b", seed=5, max_diff=2.0))
    assert store.get_result(5).op_name == "b"
    assert store.get_result(5, op_name="a").max_diff == 1.0


def test_list_results_newest_first_with_limit_and_op_filter(store):
    for seed in range(6):
        store.add_result(result(op_name="ab"[seed % 2], seed=seed))
    assert [r.seed for r in store.list_results()] == [5, 4, 3, 2, 1, 0]
    assert [r.seed for r in store.list_results(limit=2)] == [5, 4]
    assert [r.seed for r in store.list_results(op_name="a")] == [4, 2, 0]
    assert store.list_results(limit=0) == []
    assert store.list_results(op_name="missing") == []
    with pytest.raises(InvalidRequest, match="limit -1 is negative"):
        store.list_results(limit=-1)


def test_non_finite_max_diff_is_stored_as_unknown(store):
    store.add_result(result(seed=9, max_diff=float("nan")))
    assert store.get_result(9).max_diff is None


def test_latest_results_per_op(store):
    assert store.latest_results_per_op() == {}
    store.add_result(result(op_name="a", seed=1))
    store.add_result(result(op_name="b", seed=2))
    store.add_result(result(op_name="a", seed=3))
    latest = store.latest_results_per_op()
    assert {op: r.seed for op, r in latest.items()} == {"a": 3, "b": 2}


# -- failures ----------------------------------------------------------------------------

def test_failing_result_stores_failure_with_case_and_snapshot(store):
    snapshot = os.urandom(1000) + bytes(10_000)
    case = {"shape": [4, 8], "dtype": "float32", "kwargs": {"dim": -1}}
    failing = result(seed=11, passed=False)
    store.add_result(failing, case=case, inputs_snapshot=snapshot)
    failure = store.get_failure(11)
    assert isinstance(failure, FailureRecord)
    assert (failure.op_name, failure.seed, failure.kinds) == ("softmax", 11, ["ToleranceExceeded"])
    assert failure.result == failing
    assert failure.case == case
    assert failure.timestamp == failing.timestamp
    assert failure.has_inputs_snapshot
    assert store.get_inputs_snapshot(failure.id) == snapshot


def test_passing_result_stores_no_failure(store):
    store.add_result(result(seed=12), case={"x": 1}, inputs_snapshot=b"abc")
    assert store.list_failures() == []
    assert store.get_failure(12) is None


def test_failure_without_case_or_snapshot(store):
    store.add_result(result(seed=13, passed=False))
    failure = store.get_failure(13)
    assert failure.case is None and not failure.has_inputs_snapshot
    assert store.get_inputs_snapshot(failure.id) is None
    assert store.get_inputs_snapshot(failure.id + 100) is None


def test_snapshot_is_stored_compressed(db_path, store):
    store.add_result(result(seed=14, passed=False), inputs_snapshot=bytes(100_000))
    with sqlite3.connect(db_path) as raw:
        (blob,) = raw.execute("SELECT inputs_snapshot FROM failures").fetchone()
    raw.close()
    assert len(blob) < 1000 and zlib.decompress(blob) == bytes(100_000)


def test_list_and_get_failures_newest_first(store):
    for seed in range(5):
        store.add_result(result(op_name="ab"[seed % 2], seed=seed, passed=seed != 2))
        store.add_result(result(op_name="ab"[seed % 2], seed=seed, passed=False))
    assert [f.seed for f in store.list_failures()] == [4, 3, 2, 2, 1, 0]
    assert [f.seed for f in store.list_failures(limit=3)] == [4, 3, 2]
    assert [f.seed for f in store.list_failures(op_name="b")] == [3, 1]
    assert store.get_failure(2).id == store.list_failures()[2].id
    assert store.get_failure(3, op_name="a") is None


# -- baselines -----------------------------------------------------------------------------

def test_store_and_get_baseline_snapshots_latest_per_op(store):
    store.add_result(result(op_name="a", seed=1))
    store.add_result(result(op_name="a", seed=2))
    store.add_result(result(op_name="b", seed=3, passed=False))
    assert store.store_baseline("main") == 2
    store.add_result(result(op_name="a", seed=4))  # after the snapshot: not in it
    baseline = store.get_baseline("main")
    assert {op: r.seed for op, r in baseline.items()} == {"a": 2, "b": 3}
    assert not baseline["b"].passed


def test_store_baseline_replaces_existing_tag(store):
    store.add_result(result(op_name="a", seed=1))
    store.add_result(result(op_name="b", seed=2))
    store.store_baseline("main")
    store.add_result(result(op_name="a", seed=5))
    assert store.store_baseline("main") == 2
    assert {op: r.seed for op, r in store.get_baseline("main").items()} == {"a": 5, "b": 2}


def test_list_baselines_sorted(store):
    assert store.list_baselines() == []
    store.add_result(result())
    for tag in ("v2", "main", "v1"):
        store.store_baseline(tag)
    assert store.list_baselines() == ["main", "v1", "v2"]


def test_missing_baseline_names_existing_tags(store):
    with pytest.raises(BaselineNotFound, match="no baseline tagged 'nope'; there are no baselines"):
        store.get_baseline("nope")
    store.add_result(result())
    store.store_baseline("main")
    store.store_baseline("v1")
    with pytest.raises(BaselineNotFound, match="'nope'; baselines: main, v1"):
        store.get_baseline("nope")


def test_store_baseline_needs_results_and_a_tag(store):
    with pytest.raises(NotFound, match="no results are stored yet, so baseline 'main'"):
        store.store_baseline("main")
    assert store.list_baselines() == []
    with pytest.raises(InvalidRequest, match="baseline tag is empty"):
        store.store_baseline("")


# -- artifacts ------------------------------------------------------------------------------

PTX = ".version 8.0\n.target sm_80\n" + "ld.global.f32 %f1, [%rd1];\n" * 200


def test_add_and_get_artifact(store):
    first = store.add_artifact("gemm", {"registers": 40}, PTX)
    second = store.add_artifact("gemm", {"registers": 48}, None)
    store.add_artifact("softmax", {"registers": 12}, "x")
    latest = store.get_artifact("gemm")
    assert (latest.id, latest.metrics, latest.content) == (second, {"registers": 48}, None)
    old = store.get_artifact("gemm", first)
    assert (old.kernel_name, old.metrics, old.content) == ("gemm", {"registers": 40}, PTX)


def test_missing_artifact_names_known_kernels(store):
    with pytest.raises(ArtifactNotFound, match="no artifact for kernel 'gemm'; there are no kernels"):
        store.get_artifact("gemm")
    other = store.add_artifact("softmax", {}, None)
    with pytest.raises(ArtifactNotFound,
                       match=rf"no artifact with id {other} for kernel 'gemm'; .*: softmax"):
        store.get_artifact("gemm", other)


def test_list_artifacts_newest_first_without_content(store):
    ids = [store.add_artifact(name, {"i": i}, PTX) for i, name in enumerate("abab")]
    listed = store.list_artifacts()
    assert [a.id for a in listed] == ids[::-1]
    assert all(a.content is None for a in listed)
    assert [a.metrics["i"] for a in store.list_artifacts("a")] == [2, 0]
    assert len(store.list_artifacts(limit=1)) == 1


def test_artifact_baselines(store):
    old = store.add_artifact("gemm", {"registers": 40}, PTX)
    store.store_artifact_baseline("main", "gemm", old)
    store.add_artifact("gemm", {"registers": 64}, None)
    assert store.get_artifact_baseline("main", "gemm").id == old
    assert store.get_artifact_baseline("main", "gemm").content == PTX
    newest = store.store_artifact_baseline("main", "gemm")  # replaces, newest by default
    assert store.get_artifact_baseline("main", "gemm") == newest
    assert newest.metrics == {"registers": 64}


def test_missing_artifact_baseline(store):
    with pytest.raises(BaselineNotFound, match="'main' for kernel 'gemm'; there are no baselines of kernel 'gemm'"):
        store.get_artifact_baseline("main", "gemm")
    aid = store.add_artifact("gemm", {}, None)
    store.store_artifact_baseline("v1", "gemm", aid)
    with pytest.raises(BaselineNotFound, match="baselines of kernel 'gemm': v1"):
        store.get_artifact_baseline("main", "gemm")
    with pytest.raises(ArtifactNotFound, match="no artifact with id 999"):
        store.store_artifact_baseline("v1", "gemm", 999)


# -- CI runs --------------------------------------------------------------------------------

def test_ci_runs(store):
    assert store.latest_ci_run() is None
    store.add_ci_run(1.0, 2.0, True, {"ops": 3})
    run_id = store.add_ci_run(3.0, 4.5, False, {"ops": 3, "failed": ["gemm"]})
    assert store.latest_ci_run() == {"id": run_id, "started": 3.0, "finished": 4.5,
                                     "passed": False, "summary": {"ops": 3, "failed": ["gemm"]}}


# -- concurrency and durability ------------------------------------------------------------

def test_concurrent_writers_lose_nothing(store):
    threads, per_thread = 8, 40
    ids: list[int] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                ids.append(store.add_result(result(op_name=f"op{t}", seed=t * 1000 + i,
                                                   passed=i % 3 != 0)))
                store.list_results(limit=5)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert len(set(ids)) == threads * per_thread
    stored = store.list_results(limit=10_000)
    assert sorted(r.seed for r in stored) == sorted(t * 1000 + i for t in range(threads)
                                                    for i in range(per_thread))
    assert len(store.list_failures(limit=10_000)) == threads * len(range(0, per_thread, 3))


WRITER = textwrap.dedent("""
    import sys
    from gpuemu.daemon.storage import Storage
    from gpuemu.validate.result import ValidationResult
    storage = Storage.open(sys.argv[1])
    for seed in range(100_000):
        rid = storage.add_result(ValidationResult(passed=seed % 2 == 0, op_name="op", seed=seed),
                                 inputs_snapshot=bytes(2000))
        print("ok", rid, seed, flush=True)
""")


def test_results_acknowledged_before_sigkill_survive(db_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        for line in proc.stdout:
            acknowledged.append(line.split())
            if len(acknowledged) == 200:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        rest, stderr = proc.communicate()
    # A line cut off by the kill was never acknowledged: keep only complete ones.
    acknowledged += [line.split() for line in rest.splitlines(keepends=True)
                     if line.endswith("\n") and len(line.split()) == 3]
    assert proc.returncode == -signal.SIGKILL, stderr
    assert len(acknowledged) >= 200
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored_ids = {rid for (rid,) in raw.execute("SELECT id FROM results")}
    raw.close()
    assert {int(rid) for _, rid, _ in acknowledged} <= stored_ids
    with Storage.open(db_path) as storage:
        for _, _, seed in acknowledged:
            assert storage.get_result(int(seed)).seed == int(seed)
            if int(seed) % 2:
                assert storage.get_inputs_snapshot(storage.get_failure(int(seed)).id) == bytes(2000)
