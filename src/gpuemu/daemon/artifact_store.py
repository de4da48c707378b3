"""Kernel artifacts and their named baselines: the artifact half of ``Storage``."""

from __future__ import annotations

import time
import zlib

import msgspec

from gpuemu.errors import ArtifactNotFound, BaselineNotFound

from .storage_schema import check_limit, known, to_json, where_clause


class ArtifactRecord(msgspec.Struct, frozen=True):
    """A stored kernel artifact. ``content`` is None when none was stored, and in listings."""

    id: int
    kernel_name: str
    timestamp: float
    metrics: dict
    content: str | None = None


class ArtifactStoreMixin:
    """StoreArtifact, LintKernel and the artifact baselines; mixed into ``Storage``, whose
    ``_write``/``_read`` it uses."""

    def add_artifact(self, kernel_name: str, metrics: dict, content: str | None = None) -> int:
        """Store a kernel's metrics (and its text, compressed); returns the artifact id."""
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO artifacts (kernel_name, timestamp, metrics, content)"
                " VALUES (?, ?, ?, ?)",
                (kernel_name, time.time(), to_json(metrics),
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
        where, params = where_clause(kernel_name=kernel_name, id=artifact_id)
        rows = self._read(f"{self._ARTIFACT_COLUMNS}{where} ORDER BY id DESC LIMIT 1", params)
        if not rows:
            which = "no artifact" if artifact_id is None else f"no artifact with id {artifact_id}"
            kernels = [k for (k,) in self._read(
                "SELECT DISTINCT kernel_name FROM artifacts ORDER BY kernel_name")]
            raise ArtifactNotFound(f"{which} for kernel {kernel_name!r}; "
                                   f"{known('kernels with artifacts', kernels)}; "
                                   "store one with StoreArtifact or LintKernel")
        return self._artifact(rows[0])

    def list_artifacts(self, kernel_name: str | None = None, limit: int = 50,
                       offset: int = 0) -> list[ArtifactRecord]:
        """Up to ``limit`` artifacts, newest first, from ``offset`` on, without their content."""
        where, params = where_clause(kernel_name=kernel_name)
        rows = self._read(f"{self._ARTIFACT_COLUMNS}{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          (*params, check_limit(limit), check_limit(offset)))
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
                                   f"{known('artifact baselines', tags)}; store one with"
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
                                   f"{known(f'baselines of kernel {kernel_name!r}', tags)}; "
                                   "store one with StoreArtifactBaseline")
        return self._artifact(rows[0])
