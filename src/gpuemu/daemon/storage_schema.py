"""The database's schema, its migrations, and the column conventions every table shares.

Seeds are u64 but SQLite integers are signed 64-bit: ``seed_to_db`` stores the two's
complement image, ``seed_from_db`` undoes it. Migrations run each in its own IMMEDIATE
transaction, so two processes opening one file never migrate it twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec

from gpuemu.coverage import result_classes
from gpuemu.errors import InvalidRequest, VersionMismatch
from gpuemu.validate.result import ValidationResult


_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1

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
V2 = (
    """CREATE TABLE coverage (
        op_name TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (op_name, kind, name))""",
    """CREATE TABLE coverage_totals (
        op_name TEXT PRIMARY KEY, results INTEGER NOT NULL, failed INTEGER NOT NULL)""",
    """CREATE TABLE fuzz_runs (
        id INTEGER PRIMARY KEY, op_name TEXT NOT NULL, seed INTEGER NOT NULL,
        start INTEGER NOT NULL, iterations INTEGER NOT NULL, passed INTEGER NOT NULL,
        failed INTEGER NOT NULL, duration_ms REAL NOT NULL, timestamp REAL NOT NULL)""",
    "CREATE INDEX results_passed ON results (passed, id)",
)


def migrate_v2(conn: sqlite3.Connection) -> None:
    """The V2 tables, with coverage counted once over the results already stored."""
    for statement in V2:
        conn.execute(statement)
    for op_name, raw in conn.execute("SELECT op_name, result FROM results").fetchall():
        count_coverage(conn, op_name, msgspec.json.decode(raw, type=ValidationResult))


def count_coverage(conn: sqlite3.Connection, op_name: str, result: ValidationResult) -> None:
    conn.execute("INSERT INTO coverage_totals (op_name, results, failed) VALUES (?, 1, ?)"
                 " ON CONFLICT (op_name) DO UPDATE SET results = results + 1,"
                 " failed = failed + excluded.failed", (op_name, int(not result.passed)))
    conn.executemany("INSERT INTO coverage (op_name, kind, name, count) VALUES (?, ?, ?, 1)"
                     " ON CONFLICT (op_name, kind, name) DO UPDATE SET count = count + 1",
                     [(op_name, kind, name) for kind, name in result_classes(result)])


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_statements(*_V1), migrate_v2)
SCHEMA_VERSION = len(MIGRATIONS)


# -- helpers --------------------------------------------------------------------------

def seed_to_db(seed: int) -> int:
    if not 0 <= seed < _U64:
        raise InvalidRequest(f"seed {seed} is not a u64 (0 .. 2**64-1); pass a seed that a "
                             "gpuemu run printed", field="seed")
    return seed - _U64 if seed > _I64_MAX else seed


def seed_from_db(value: int) -> int:
    return value + _U64 if value < 0 else value


def check_limit(limit: int) -> int:
    if limit < 0:
        raise InvalidRequest(f"limit {limit} is negative; pass 0 or more", field="limit")
    return limit


def where_clause(**columns: object) -> tuple[str, tuple]:
    """``WHERE a = ? AND b = ?`` over the columns whose value is not None."""
    used = {name: value for name, value in columns.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{name} = ?" for name in used), tuple(used.values())


def to_json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def decode_result(raw: str | bytes) -> ValidationResult:
    return msgspec.json.decode(raw, type=ValidationResult)


def create_private(path: Path) -> None:
    """Missing directories 0700 and a missing db file 0600 (SQLite gives -wal/-shm its mode)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)


def begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # a failed COMMIT may already have ended it
        conn.execute("ROLLBACK")


def known(what: str, names: list[str]) -> str:
    return f"{what}: {', '.join(names)}" if names else f"there are no {what} yet"


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'schema_version'").fetchone()
    return conn.execute("SELECT version FROM schema_version").fetchone()[0] if exists else 0


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations this file lacks, each in its own transaction."""
    while True:
        begin(conn)  # IMMEDIATE: another process may be migrating the same file
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
            rollback(conn)
            raise
