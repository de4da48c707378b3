"""Every result, failure, baseline, artifact and CI run, kept in one SQLite file.

Durability: WAL with ``synchronous=NORMAL`` means a transaction is in the WAL (in
the OS page cache at least) once ``commit`` returns, so a daemon killed with SIGKILL
after answering a request loses nothing it answered (a power cut may lose the last
transactions, which is the trade WAL/NORMAL makes for speed). The WAL is copied into
the database file by a thread of its own (gpuemu.daemon.checkpoint), not by a commit.

Threads: one connection guarded by one lock; each call holds it for its whole
transaction, so calls are serialised and every write is its own committed transaction.
SQLite serialises writers anyway and the calls are short, so a connection per thread
would buy little. Other processes reading the file are waited out by ``busy_timeout``.

Seeds are u64 but SQLite integers are signed 64-bit: the ``seed`` columns hold the
two's-complement image (``seed - 2**64`` for seeds >= 2**63), which keeps equality
lookups indexed; the JSON copy of the result keeps the seed as written.

"Newest" everywhere means most recently stored (highest row id), not the result's
own ``timestamp``, which a client may have set.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from gpuemu.errors import BaselineNotFound, InternalError, InvalidRequest, NotFound
from gpuemu.validate.result import ValidationResult

from . import storage_schema as db
from .artifact_store import ArtifactRecord, ArtifactStoreMixin
from .checkpoint import Checkpointer
from .retention import RetentionMixin
from .storage_schema import SCHEMA_VERSION, count_coverage

__all__ = ["SCHEMA_VERSION", "ArtifactRecord", "FailureRecord", "Storage"]

BUSY_TIMEOUT_MS = 10_000


class FailureRecord(msgspec.Struct, frozen=True):
    """A stored failing case: the result, and whatever regenerates the case."""

    id: int
    op_name: str
    seed: int
    kinds: list[str]
    timestamp: float
    result: ValidationResult
    case: dict | None = None
    has_inputs_snapshot: bool = False


# -- storage --------------------------------------------------------------------------

class Storage(RetentionMixin, ArtifactStoreMixin):
    """The daemon's database. Open with ``Storage.open(path)``; thread-safe; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path
        self.checkpoints = Checkpointer(path, BUSY_TIMEOUT_MS)  # not in a request's commit

    @classmethod
    def open(cls, path: Path | str) -> Storage:
        """Open (creating if needed) the database at ``path`` and migrate it to SCHEMA_VERSION."""
        path = Path(path).expanduser()
        db.create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # gpuemu.daemon.checkpoint
            conn.execute("PRAGMA foreign_keys = ON")
            db.migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InternalError(f"gpuemu database {path} cannot be opened ({exc}); move the "
                                "file aside and gpuemu will create a new one") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        self.checkpoints.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction: when the block returns, the data survives SIGKILL."""
        with self._lock:
            db.begin(self._conn)
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                db.rollback(self._conn)
                raise
            self.checkpoints.committed()

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- results and failures ---------------------------------------------------------

    def add_result(self, result: ValidationResult, *, case: dict | None = None,
                   inputs_snapshot: bytes | None = None) -> int:
        """Store ``result`` (and, when it failed, a failure row with ``case`` and the
        zlib-compressed ``inputs_snapshot``); returns the result id once committed.
        ``case`` and ``inputs_snapshot`` are kept for failures only."""
        seed = db.seed_to_db(result.seed)
        with self._write() as conn:
            result_id = conn.execute(
                "INSERT INTO results (op_name, seed, passed, max_diff, dtype, timestamp, result)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (result.op_name, seed, result.passed, result.max_diff,
                 result.dtype, result.timestamp, db.to_json(result)),
            ).lastrowid
            count_coverage(conn, result.op_name, result)
            if not result.passed:
                conn.execute(
                    "INSERT INTO failures (result_id, op_name, seed, kinds, timestamp, case_json,"
                    " inputs_snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (result_id, result.op_name, seed,
                     db.to_json(result.failure_kinds), result.timestamp,
                     None if case is None else db.to_json(case),
                     None if inputs_snapshot is None else zlib.compress(inputs_snapshot)),
                )
        return result_id

    def get_result(self, seed: int, op_name: str | None = None) -> ValidationResult | None:
        """The newest result with ``seed`` (and ``op_name`` when given), or None."""
        where, params = db.where_clause(seed=db.seed_to_db(seed), op_name=op_name)
        rows = self._read(f"SELECT result FROM results{where} ORDER BY id DESC LIMIT 1", params)
        return db.decode_result(rows[0][0]) if rows else None

    def list_results(self, limit: int = 50, op_name: str | None = None,
                     offset: int = 0) -> list[ValidationResult]:
        """Up to ``limit`` results, newest first, from ``offset`` on, optionally of one op."""
        where, params = db.where_clause(op_name=op_name)
        rows = self._read(f"SELECT result FROM results{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          (*params, db.check_limit(limit), db.check_limit(offset)))
        return [db.decode_result(raw) for (raw,) in rows]

    def latest_results_per_op(self) -> dict[str, ValidationResult]:
        """The newest result of every op that has one."""
        rows = self._read("SELECT op_name, result FROM results WHERE id IN"
                          " (SELECT MAX(id) FROM results GROUP BY op_name) ORDER BY op_name")
        return {op_name: db.decode_result(raw) for op_name, raw in rows}

    _FAILURE_COLUMNS = ("SELECT f.id, f.op_name, f.seed, f.kinds, f.timestamp, r.result,"
                        " f.case_json, f.inputs_snapshot IS NOT NULL"
                        " FROM failures f JOIN results r ON r.id = f.result_id")

    @staticmethod
    def _failure(row: tuple) -> FailureRecord:
        fid, op_name, seed, kinds, timestamp, result, case, has_snapshot = row
        return FailureRecord(
            id=fid, op_name=op_name, seed=db.seed_from_db(seed),
            kinds=msgspec.json.decode(kinds, type=list[str]), timestamp=timestamp,
            result=db.decode_result(result),
            case=None if case is None else msgspec.json.decode(case, type=dict),
            has_inputs_snapshot=bool(has_snapshot),
        )

    def list_failures(self, limit: int = 50, op_name: str | None = None,
                      offset: int = 0) -> list[FailureRecord]:
        """Up to ``limit`` failures, newest first, from ``offset`` on, optionally of one op."""
        where, params = db.where_clause(**{"f.op_name": op_name})
        rows = self._read(f"{self._FAILURE_COLUMNS}{where} ORDER BY f.id DESC LIMIT ? OFFSET ?",
                          (*params, db.check_limit(limit), db.check_limit(offset)))
        return [self._failure(row) for row in rows]

    def get_failure(self, seed: int, op_name: str | None = None) -> FailureRecord | None:
        """The newest failure with ``seed`` (and ``op_name`` when given), or None."""
        where, params = db.where_clause(**{"f.seed": db.seed_to_db(seed), "f.op_name": op_name})
        rows = self._read(f"{self._FAILURE_COLUMNS}{where} ORDER BY f.id DESC LIMIT 1", params)
        return self._failure(rows[0]) if rows else None

    def get_inputs_snapshot(self, failure_id: int) -> bytes | None:
        """The inputs stored with a failure, decompressed; None if it has none or does not exist."""
        rows = self._read("SELECT inputs_snapshot FROM failures WHERE id = ?", (failure_id,))
        return zlib.decompress(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- result baselines -------------------------------------------------------------

    def store_baseline(self, tag: str) -> int:
        """Snapshot the newest result of every op under ``tag`` (replacing an existing tag);
        returns how many ops it holds. Raises NotFound when no result is stored yet."""
        if not tag:
            raise InvalidRequest("baseline tag is empty; name it, e.g. 'main' or 'v1.2'",
                                 field="tag")
        with self._write() as conn:
            conn.execute("DELETE FROM baselines WHERE tag = ?", (tag,))
            count = conn.execute(
                "INSERT INTO baselines (tag, op_name, result, created)"
                " SELECT ?, op_name, result, ? FROM results WHERE id IN"
                " (SELECT MAX(id) FROM results GROUP BY op_name)",
                (tag, time.time()),
            ).rowcount
            if count == 0:
                raise NotFound(f"no results are stored yet, so baseline {tag!r} would be "
                               "empty; validate or fuzz some ops first")
        return count

    def get_baseline(self, tag: str) -> dict[str, ValidationResult]:
        """The results stored under ``tag``, by op name; BaselineNotFound if there is none."""
        rows = self._read("SELECT op_name, result FROM baselines WHERE tag = ? ORDER BY op_name",
                          (tag,))
        if not rows:
            raise BaselineNotFound(f"no baseline tagged {tag!r}; "
                                   f"{db.known('baselines', self.list_baselines())}; "
                                   f"store one with `gpuemu baseline store {tag}` (StoreBaseline)")
        return {op_name: db.decode_result(raw) for op_name, raw in rows}

    def list_baselines(self) -> list[str]:
        """Every baseline tag, sorted."""
        return [tag for (tag,) in self._read("SELECT DISTINCT tag FROM baselines ORDER BY tag")]

    # -- CI runs ----------------------------------------------------------------------

    def add_ci_run(self, started: float, finished: float, passed: bool, summary: dict) -> int:
        """Record one CI run; returns its id."""
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO ci_runs (started, finished, passed, summary) VALUES (?, ?, ?, ?)",
                (started, finished, passed, db.to_json(summary)),
            ).lastrowid

    def latest_ci_run(self) -> dict | None:
        """The newest CI run as ``{id, started, finished, passed, summary}``, or None."""
        rows = self._read("SELECT id, started, finished, passed, summary FROM ci_runs"
                          " ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        run_id, started, finished, passed, summary = rows[0]
        return {"id": run_id, "started": started, "finished": finished, "passed": bool(passed),
                "summary": msgspec.json.decode(summary, type=dict)}
