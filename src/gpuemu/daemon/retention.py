"""What keeps the database bounded (issue 22): coverage read from the counts kept as results
arrive (storage_schema.count_coverage), a summary row per fuzz run, and pruning of passing results by age and count.

Failures (and the results they point to) and baselines are never pruned; a pruned passing
result still counts in coverage and in its run's summary, but GetResult no longer finds it.
"""

from __future__ import annotations

import time
from collections import Counter

from .storage_schema import seed_from_db, seed_to_db, where_clause


class RetentionMixin:
    """Storage methods over the V2 tables (``_read``/``_write`` are Storage's)."""

    def coverage_counts(self, op_name: str) -> tuple[int, int, Counter]:
        """(results, failed, {(kind, name): count}) of every result ever stored for the op."""
        totals = self._read("SELECT results, failed FROM coverage_totals WHERE op_name = ?",
                            (op_name,))
        counts = Counter({(kind, name): count for kind, name, count in self._read(
            "SELECT kind, name, count FROM coverage WHERE op_name = ?", (op_name,))})
        results, failed = totals[0] if totals else (0, 0)
        return results, failed, counts

    def add_fuzz_run(self, op_name: str, seed: int, start: int, iterations: int, passed: int,
                     failed: int, duration_ms: float) -> int:
        """One summary row per script-based fuzz run: what stays of it once pruned."""
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO fuzz_runs (op_name, seed, start, iterations, passed, failed,"
                " duration_ms, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (op_name, seed_to_db(seed), start, iterations, passed, failed, duration_ms,
                 time.time())).lastrowid

    def fuzz_runs(self, op_name: str | None = None, limit: int = 50) -> list[dict]:
        """The newest run summaries, newest first."""
        where, params = where_clause(op_name=op_name)
        rows = self._read("SELECT op_name, seed, start, iterations, passed, failed, duration_ms,"
                          f" timestamp FROM fuzz_runs{where} ORDER BY id DESC LIMIT ?",
                          (*params, limit))
        keys = ("op_name", "seed", "start", "iterations", "passed", "failed", "duration_ms",
                "timestamp")
        return [{**dict(zip(keys, row)), "seed": seed_from_db(row[1])} for row in rows]

    def prune(self, *, max_age_days: float | None, max_passing: int | None) -> int:
        """Delete passing results older than ``max_age_days`` (by when they were stored:
        the result's timestamp) or beyond the newest ``max_passing``; returns how many."""
        removed = 0
        with self._write() as conn:
            if max_age_days is not None:
                removed += conn.execute(
                    "DELETE FROM results WHERE passed = 1 AND timestamp < ?",
                    (time.time() - max_age_days * 86400,)).rowcount
            if max_passing is not None:
                removed += conn.execute(
                    "DELETE FROM results WHERE passed = 1 AND id < (SELECT MIN(id) FROM"
                    " (SELECT id FROM results WHERE passed = 1 ORDER BY id DESC LIMIT ?))",
                    (max_passing,)).rowcount
        return removed
