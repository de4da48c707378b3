"""The database's WAL checkpoints, made by a thread of their own instead of by a commit.

SQLite checkpoints automatically inside the commit that takes the WAL past 1000 pages:
about every 250th stored result copied the WAL into the database file and synced it
there, ~5-10 ms on these VMs, for the one request that happened to commit it (~40 us a
request on average). Storage turns that off; a ``Checkpointer`` runs a PASSIVE checkpoint
on a connection of its own every ``every`` commits. WAL mode lets it run beside the
writers, it releases the GIL while SQLite works, and a commit stays durable once it is in
the WAL, as before: a crash between checkpoints loses nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

EVERY = 200
"""Commits between checkpoints: a small result's commit writes ~6 pages to the WAL, so the
WAL stays near the size SQLite's own default (1000 pages) keeps it at."""


class Checkpointer:
    """Checkpoints ``path``'s WAL every ``every`` commits that ``committed`` counts."""

    def __init__(self, path: Path, busy_timeout_ms: int, every: int | None = None):
        self.every = every or EVERY
        self.done = 0  # checkpoints made (tests wait on it)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        self._commits = 0
        self._due = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="gpuemu-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Count a commit (under the writer's lock); every ``every``-th asks for a checkpoint."""
        self._commits += 1
        if self._commits % self.every == 0:
            self._due.set()

    def close(self) -> None:
        """Stop the thread and close its connection (the writer's last close checkpoints)."""
        self._closing = True
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._closing:
                    return
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.done += 1
                except sqlite3.Error as exc:  # the next one tries again
                    log.warning("a WAL checkpoint failed: %s", exc)
        finally:
            self._conn.close()
