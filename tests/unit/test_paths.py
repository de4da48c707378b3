"""Private directories and the confinement of paths that a request names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gpuemu.errors import ConfigError, InvalidRequest
from gpuemu.paths import confined_path, ensure_private_dir


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "kernels" / "sub").mkdir(parents=True)
    (root / "kernels" / "a.ptx").write_text("// ptx")
    (tmp_path / "secret.txt").write_text("not yours")
    return root


@pytest.mark.parametrize("path, expected", [
    ("kernels/a.ptx", "kernels/a.ptx"),
    ("./kernels/sub/../a.ptx", "kernels/a.ptx"),
    ("kernels/not-yet-written.ptx", "kernels/not-yet-written.ptx"),
    (".", ""),
])
def test_paths_inside_the_root_resolve(project, path, expected):
    assert confined_path(project, path, "ptx_path") == (project / expected).resolve()


def test_an_absolute_path_inside_the_root_is_accepted(project):
    inside = project / "kernels" / "a.ptx"
    assert confined_path(project, str(inside), "ptx_path") == inside.resolve()


def test_a_relative_root_resolves_against_the_working_directory(project, monkeypatch):
    monkeypatch.chdir(project.parent)
    assert confined_path("proj", "kernels/a.ptx", "ptx_path") == project / "kernels" / "a.ptx"


@pytest.mark.parametrize("path", ["../secret.txt", "kernels/../../secret.txt", "/etc/passwd",
                                  "kernels/sub/../../../proj/../secret.txt"])
def test_paths_that_leave_the_root_are_refused_naming_the_field(project, path):
    with pytest.raises(InvalidRequest, match=r"ptx_path: .* outside the project root") as info:
        confined_path(project, path, "ptx_path")
    assert info.value.field == "ptx_path"


def test_a_sibling_directory_sharing_the_roots_prefix_is_outside(project):
    sibling = project.parent / "proj-evil"
    sibling.mkdir()
    with pytest.raises(InvalidRequest, match="outside the project root"):
        confined_path(project, "../proj-evil/x.ptx", "ptx_path")


def test_a_symlink_out_of_the_root_is_refused(project):
    (project / "kernels" / "link.ptx").symlink_to(project.parent / "secret.txt")
    (project / "out").symlink_to(project.parent)
    for path in ("kernels/link.ptx", "out/secret.txt"):
        with pytest.raises(InvalidRequest, match=r"resolves to .*secret.txt, outside"):
            confined_path(project, path, "payload.ptx_path")


def test_a_symlinked_root_still_confines(project, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(project)
    assert confined_path(alias, "kernels/a.ptx", "f") == project / "kernels" / "a.ptx"
    with pytest.raises(InvalidRequest, match="outside"):
        confined_path(alias, "../secret.txt", "f")


@pytest.mark.parametrize("path", ["", "   ", "kernels/a\0.ptx"])
def test_empty_or_nul_paths_are_refused(project, path):
    with pytest.raises(InvalidRequest, match=r"is not a file path") as info:
        confined_path(project, path, "ptx_path")
    assert info.value.field == "ptx_path"


def test_ensure_private_dir_creates_0700_and_tightens_an_existing_dir(tmp_path):
    made = ensure_private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    assert stat.S_IMODE(ensure_private_dir(loose).stat().st_mode) == 0o700


def foreign_dir(tmp_path: Path) -> Path:
    """A directory another user owns: one we chown as root, else one root owns."""
    if os.getuid() != 0:
        return Path("/usr")
    path = tmp_path / "theirs"
    path.mkdir(mode=0o755)
    os.chown(path, 65534, 65534)
    return path


def test_ensure_private_dir_refuses_another_users_directory(tmp_path):
    theirs = foreign_dir(tmp_path)
    mode = stat.S_IMODE(theirs.stat().st_mode)
    with pytest.raises(ConfigError,
                       match=rf"{theirs} belongs to uid \d+, not you .* Set GPUEMU_HOME"):
        ensure_private_dir(theirs)
    assert stat.S_IMODE(theirs.stat().st_mode) == mode  # left as it was
