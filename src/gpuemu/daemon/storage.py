"""Every result, failure, baseline, artifact and CI run, kept in one SQLite file.

Durability: WAL with ``synchronous=NORMAL`` means a transaction is in the WAL (in
the OS page cache at least) once ``commit`` returns, so a daemon killed with SIGKILL
after answering a request loses nothing it answered (a power cut may lose the last
transactions, which is the trade WAL/NORMAL makes for speed).

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

import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from gpuemu.errors import (
    ArtifactNotFound, BaselineNotFound, InternalError, InvalidRequest, NotFound, VersionMismatch,
)
from gpuemu.validate.result import ValidationResult

from .retention import RetentionMixin, count_coverage, migrate_v2

_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1
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


class ArtifactRecord(msgspec.Struct, frozen=True):
    """A stored kernel artifact. ``content`` is None when none was stored, and in listings."""

    id: int
    kernel_name: str
    timestamp: float
    metrics: dict
    content: str | None = None


# -- schema ---------------------------------------------------------------------------

_V1 = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (0)",
    """CREATE TABLE results (
        id INTEGER PRIMARY KEY, op_name TEXT NOT NULL, seed INTEGER NOT NULL,
        passed INTEGER NOT NULL, max_diff REAL, dtype TEXT, timestamp REAL NOT NULL,
        result TEXT NOT NULL)""",
    "CREATE INDEX results_seed ON results (seed, id)",
    "CREATE INDEX results_op ON results (op_name, id)",
    """CREATE TABLE failures (
        id INTEGER PRIMARY KEY,
        result_id INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
        op_name TEXT NOT NULL, seed INTEGER NOT NULL, kinds TEXT NOT NULL,
        timestamp REAL NOT NULL, case_json TEXT, inputs_snapshot BLOB)""",
    "CREATE INDEX failures_seed ON failures (seed, id)",
    "CREATE INDEX failures_op ON failures (op_name, id)",
    "CREATE INDEX failures_result ON failures (result_id)",
    """CREATE TABLE baselines (
        tag TEXT NOT NULL, op_name TEXT NOT NULL, result TEXT NOT NULL, created REAL NOT NULL,
        UNIQUE (tag, op_name))""",
    """CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY, kernel_name TEXT NOT NULL, timestamp REAL NOT NULL,
        metrics TEXT NOT NULL, content BLOB)""",
    "CREATE INDEX artifacts_kernel ON artifacts (kernel_name, id)",
    """CREATE TABLE artifact_baselines (
        tag TEXT NOT NULL, kernel_name TEXT NOT NULL,
        artifact_id INTEGER NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
        created REAL NOT NULL, PRIMARY KEY (tag, kernel_name))""",
    """CREATE TABLE ci_runs (
        id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL NOT NULL,
        passed INTEGER NOT NULL, summary TEXT NOT NULL)""",
)


def _statements(*sql: str) -> Callable[[sqlite3.Connection], None]:
    def migrate(conn: sqlite3.Connection) -> None:
        for statement in sql:
            conn.execute(statement)

    return migrate


# Migration i takes the schema from version i to i + 1. Append, never edit.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_statements(*_V1), migrate_v2)
SCHEMA_VERSION = len(MIGRATIONS)


# -- helpers --------------------------------------------------------------------------

def _seed_to_db(seed: int) -> int:
    if not 0 <= seed < _U64:
        raise InvalidRequest(f"seed {seed} is not a u64 (0 .. 2**64-1); pass a seed that a "
                             "gpuemu run printed", field="seed")
    return seed - _U64 if seed > _I64_MAX else seed


def _seed_from_db(value: int) -> int:
    return value + _U64 if value < 0 else value


def _check_limit(limit: int) -> int:
    if limit < 0:
        raise InvalidRequest(f"limit {limit} is negative; pass 0 or more", field="limit")
    return limit


def _where(**columns: object) -> tuple[str, tuple]:
    """``WHERE a = ? AND b = ?`` over the columns whose value is not None."""
    used = {name: value for name, value in columns.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{name} = ?" for name in used), tuple(used.values())


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _decode_result(raw: str | bytes) -> ValidationResult:
    return msgspec.json.decode(raw, type=ValidationResult)


def _create_private(path: Path) -> None:
    """Missing directories 0700 and a missing db file 0600 (SQLite gives -wal/-shm its mode)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)


# -- storage --------------------------------------------------------------------------

class Storage(RetentionMixin):
    """The daemon's database. Open with ``Storage.open(path)``; thread-safe; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Storage:
        """Open (creating if needed) the database at ``path`` and migrate it to SCHEMA_VERSION."""
        path = Path(path).expanduser()
        _create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InternalError(f"gpuemu database {path} cannot be opened ({exc}); move the "
                                "file aside and gpuemu will create a new one") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
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
            _begin(self._conn)
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                _rollback(self._conn)
                raise

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- results and failures ---------------------------------------------------------

    def add_result(self, result: ValidationResult, *, case: dict | None = None,
                   inputs_snapshot: bytes | None = None) -> int:
        """Store ``result`` (and, when it failed, a failure row with ``case`` and the
        zlib-compressed ``inputs_snapshot``); returns the result id once committed.
        ``case`` and ``inputs_snapshot`` are kept for failures only."""
        seed = _seed_to_db(result.seed)
        with self._write() as conn:
            result_id = conn.execute(
                "INSERT INTO results (op_name, seed, passed, max_diff, dtype, timestamp, result)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (result.op_name, seed, result.passed, result.max_diff,
                 result.dtype, result.timestamp, _json(result)),
            ).lastrowid
            count_coverage(conn, result.op_name, result)
            if not result.passed:
                conn.execute(
                    "INSERT INTO failures (result_id, op_name, seed, kinds, timestamp, case_json,"
                    " inputs_snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (result_id, result.op_name, seed,
                     _json(result.failure_kinds), result.timestamp,
                     None if case is None else _json(case),
                     None if inputs_snapshot is None else zlib.compress(inputs_snapshot)),
                )
        return result_id

    def get_result(self, seed: int, op_name: str | None = None) -> ValidationResult | None:
        """The newest result with ``seed`` (and ``op_name`` when given), or None."""
        where, params = _where(seed=_seed_to_db(seed), op_name=op_name)
        rows = self._read(f"SELECT result FROM results{where} ORDER BY id DESC LIMIT 1", params)
        return _decode_result(rows[0][0]) if rows else None

    def list_results(self, limit: int = 50, op_name: str | None = None,
                     offset: int = 0) -> list[ValidationResult]:
        """Up to ``limit`` results, newest first, from ``offset`` on, optionally of one op."""
        where, params = _where(op_name=op_name)
        rows = self._read(f"SELECT result FROM results{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          (*params, _check_limit(limit), _check_limit(offset)))
        return [_decode_result(raw) for (raw,) in rows]

    def latest_results_per_op(self) -> dict[str, ValidationResult]:
        """The newest result of every op that has one."""
        rows = self._read("SELECT op_name, result FROM results WHERE id IN"
                          " (SELECT MAX(id) FROM results GROUP BY op_name) ORDER BY op_name")
        return {op_name: _decode_result(raw) for op_name, raw in rows}

    _FAILURE_COLUMNS = ("SELECT f.id, f.op_name, f.seed, f.kinds, f.timestamp, r.result,"
                        " f.case_json, f.inputs_snapshot IS NOT NULL"
                        " FROM failures f JOIN results r ON r.id = f.result_id")

    @staticmethod
    def _failure(row: tuple) -> FailureRecord:
        fid, op_name, seed, kinds, timestamp, result, case, has_snapshot = row
        return FailureRecord(
            id=fid, op_name=op_name, seed=_seed_from_db(seed),
            kinds=msgspec.json.decode(kinds, type=list[str]), timestamp=timestamp,
            result=_decode_result(result),
            case=None if case is None else msgspec.json.decode(case, type=dict),
            has_inputs_snapshot=bool(has_snapshot),
        )

    def list_failures(self, limit: int = 50, op_name: str | None = None,
                      offset: int = 0) -> list[FailureRecord]:
        """Up to ``limit`` failures, newest first, from ``offset`` on, optionally of one op."""
        where, params = _where(**{"f.op_name": op_name})
        rows = self._read(f"{self._FAILURE_COLUMNS}{where} ORDER BY f.id DESC LIMIT ? OFFSET ?",
                          (*params, _check_limit(limit), _check_limit(offset)))
        return [self._failure(row) for row in rows]

    def get_failure(self, seed: int, op_name: str | None = None) -> FailureRecord | None:
        """The newest failure with ``seed`` (and ``op_name`` when given), or None."""
        where, params = _where(**{"f.seed": _seed_to_db(seed), "f.op_name": op_name})
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
                                   f"{_known('baselines', self.list_baselines())}; "
                                   f"store one with `gpuemu baseline store {tag}` (StoreBaseline)")
        return {op_name: _decode_result(raw) for op_name, raw in rows}

    def list_baselines(self) -> list[str]:
        """Every baseline tag, sorted."""
        return [tag for (tag,) in self._read("SELECT DISTINCT tag FROM baselines ORDER BY tag")]

    # -- artifacts --------------------------------------------------------------------

    def add_artifact(self, kernel_name: str, metrics: dict, content: str | None = None) -> int:
        """Store a kernel's metrics (and its text, compressed); returns the artifact id."""
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO artifacts (kernel_name, timestamp, metrics, content)"
                " VALUES (?, ?, ?, ?)",
                (kernel_name, time.time(), _json(metrics),
                 None if content is None else zlib.compress(content.encode())),
            ).lastrowid

    _ARTIFACT_COLUMNS = "SELECT id, kernel_name, timestamp, metrics, content FROM artifacts"

    @staticmethod
    def _artifact(row: tuple, with_content: bool = True) -> ArtifactRecord:
        aid, kernel_name, timestamp, metrics, content = row
        return ArtifactRecord(
            id=aid, kernel_name=kernel_name, timestamp=timestamp,
            metrics=msgspec.json.decode(metrics, type=dict),
            content=zlib.decompress(content).decode() if with_content and content else None,
        )

    def get_artifact(self, kernel_name: str, artifact_id: int | None = None) -> ArtifactRecord:
        """Artifact ``artifact_id`` of ``kernel_name``, or its newest when the id is None."""
        where, params = _where(kernel_name=kernel_name, id=artifact_id)
        rows = self._read(f"{self._ARTIFACT_COLUMNS}{where} ORDER BY id DESC LIMIT 1", params)
        if not rows:
            which = "no artifact" if artifact_id is None else f"no artifact with id {artifact_id}"
            kernels = [k for (k,) in self._read(
                "SELECT DISTINCT kernel_name FROM artifacts ORDER BY kernel_name")]
            raise ArtifactNotFound(f"{which} for kernel {kernel_name!r}; "
                                   f"{_known('kernels with artifacts', kernels)}; "
                                   "store one with StoreArtifact or LintKernel")
        return self._artifact(rows[0])

    def list_artifacts(self, kernel_name: str | None = None, limit: int = 50,
                       offset: int = 0) -> list[ArtifactRecord]:
        """Up to ``limit`` artifacts, newest first, from ``offset`` on, without their content."""
        where, params = _where(kernel_name=kernel_name)
        rows = self._read(f"{self._ARTIFACT_COLUMNS}{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          (*params, _check_limit(limit), _check_limit(offset)))
        return [self._artifact(row, with_content=False) for row in rows]

    def store_artifact_baseline(self, tag: str, kernel_name: str,
                                artifact_id: int | None = None) -> ArtifactRecord:
        """Mark an artifact of ``kernel_name`` (newest when id is None) as baseline ``tag``,
        replacing the kernel's previous one under that tag; returns the artifact."""
        artifact = self.get_artifact(kernel_name, artifact_id)
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO artifact_baselines"
                         " (tag, kernel_name, artifact_id, created) VALUES (?, ?, ?, ?)",
                         (tag, kernel_name, artifact.id, time.time()))
        return artifact

    def artifact_kernels(self) -> list[str]:
        """Every kernel that has a stored artifact, by name."""
        return [k for (k,) in self._read("SELECT DISTINCT kernel_name FROM artifacts ORDER BY 1")]

    def artifact_baseline_kernels(self, tag: str) -> list[str]:
        """The kernels of artifact baseline ``tag``; BaselineNotFound if it has none."""
        names = [k for (k,) in self._read("SELECT kernel_name FROM artifact_baselines"
                                          " WHERE tag = ? ORDER BY 1", (tag,))]
        if not names:
            tags = [t for (t,) in self._read("SELECT DISTINCT tag FROM artifact_baselines ORDER BY 1")]
            raise BaselineNotFound(f"no artifact baseline tagged {tag!r}; "
                                   f"{_known('artifact baselines', tags)}; store one with"
                                   " StoreArtifactBaseline")
        return names

    def get_artifact_baseline(self, tag: str, kernel_name: str) -> ArtifactRecord:
        """The artifact stored as baseline ``tag`` of ``kernel_name``; BaselineNotFound if none."""
        rows = self._read(
            f"{self._ARTIFACT_COLUMNS} WHERE id = (SELECT artifact_id FROM artifact_baselines"
            " WHERE tag = ? AND kernel_name = ?)", (tag, kernel_name))
        if not rows:
            tags = [t for (t,) in self._read("SELECT tag FROM artifact_baselines"
                                             " WHERE kernel_name = ? ORDER BY tag",
                                             (kernel_name,))]
            raise BaselineNotFound(f"no artifact baseline tagged {tag!r} for kernel "
                                   f"{kernel_name!r}; "
                                   f"{_known(f'baselines of kernel {kernel_name!r}', tags)}; "
                                   "store one with StoreArtifactBaseline")
        return self._artifact(rows[0])

    # -- CI runs ----------------------------------------------------------------------

    def add_ci_run(self, started: float, finished: float, passed: bool, summary: dict) -> int:
        """Record one CI run; returns its id."""
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO ci_runs (started, finished, passed, summary) VALUES (?, ?, ?, ?)",
                (started, finished, passed, _json(summary)),
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


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # a failed COMMIT may already have ended it
        conn.execute("ROLLBACK")


def _known(what: str, names: list[str]) -> str:
    return f"{what}: {', '.join(names)}" if names else f"there are no {what} yet"


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'schema_version'").fetchone()
    return conn.execute("SELECT version FROM schema_version").fetchone()[0] if exists else 0


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations this file lacks, each in its own transaction."""
    while True:
        _begin(conn)  # IMMEDIATE: another process may be migrating the same file
        try:
            version = _schema_version(conn)
            if version > SCHEMA_VERSION:
                raise VersionMismatch(
                    f"gpuemu database {path} has schema version {version}, newer than the "
                    f"{SCHEMA_VERSION} this gpuemu knows; upgrade gpuemu "
                    "(pip install -U gpuemu) or point GPUEMU_HOME at another directory")
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            MIGRATIONS[version](conn)
            conn.execute("UPDATE schema_version SET version = ?", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
