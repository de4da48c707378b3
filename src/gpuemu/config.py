"""gpuemu.toml: how the layers are found, checked and merged.

Layers, later wins key by key: built-in defaults < user config ($GPUEMU_HOME/config.toml)
< the project's gpuemu.toml < overrides (a dict in the same shape; the daemon passes
these). Ops and kernels come from the project file only. Every key is read and checked
(``config_keys``): an unknown or mistyped one is a ConfigError naming the file, key path,
value and what was expected, so a typo fails at load time instead of being silently ignored.
The settings themselves are the dataclasses of ``config_model``, re-exported here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from . import config_schema as cs
from . import paths
from .config_keys import SECTION_TYPES, SECTIONS, build_kernel, build_op
from .config_model import (  # noqa: F401  (the settings, imported from here by every module)
    ADDRESS_PATTERN, CLUSTER_BACKENDS, CONFIG_FILENAME, EXECUTION_MODES, FRAMEWORKS, KNOWN_INVARIANTS,
    LOCAL, OP_TYPES, ORACLES, REDUCING_OP_TYPES, SHIP_MODES, USER_SECTIONS, ArtifactChecks, CiSettings,
    ClusterSettings, DaemonSettings, KernelConfig, OpConfig, Policies, ProjectConfig, ProjectInfo,
    ValidationSettings)
from .config_schema import Where
from .errors import ConfigError
from .fuzz.settings import DISTRIBUTIONS, LAYOUTS, DimSpec, FuzzSettings, OpSchema  # noqa: F401

__all__ = [
    "ADDRESS_PATTERN", "CLUSTER_BACKENDS", "CONFIG_FILENAME", "DISTRIBUTIONS", "EXECUTION_MODES",
    "FRAMEWORKS", "KNOWN_INVARIANTS", "LAYOUTS", "LOCAL", "OP_TYPES", "ORACLES", "REDUCING_OP_TYPES",
    "SHIP_MODES", "USER_SECTIONS", "ArtifactChecks", "CiSettings", "ClusterSettings", "DaemonSettings",
    "DimSpec", "FuzzSettings", "KernelConfig", "OpConfig", "OpSchema", "Policies", "ProjectConfig",
    "ProjectInfo", "ValidationSettings", "client_daemon", "daemon_settings", "find_config", "load_config", "parse_config",
]

# -- layers -------------------------------------------------------------------------------


def _read(path: Path, missing_hint: str) -> tuple[dict[str, Any], Where]:
    where = Where.of_file(path)
    try:
        return _loads(path.read_bytes().decode("utf-8"), where), where
    except FileNotFoundError:
        raise where.error(f"file not found; {missing_hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read the file ({exc}); check it is readable UTF-8 text") from None


def _layer(raw: Mapping[str, Any], where: Where, allowed: tuple[str, ...], what: str) -> dict[str, dict]:
    """The checked sections of one layer; ops and kernels are built from the project file only."""
    known = (*SECTIONS, "ops", "kernels")
    for key in raw:
        if key not in known:
            raise where.at(key).error(f"unknown section{cs.suggest(key, known)}; expected {cs.one_of(allowed)}")
        if key not in allowed:
            raise where.at(key).error(f"[{key}] does not belong in {what}; only "
                                         f"{', '.join(f'[{a}]' for a in allowed)} do")
    return {s: cs.table(SECTIONS[s])(raw[s], where.at(s)) for s in SECTIONS if s in raw}


def _assemble(raw: Mapping[str, Any], path: Path, before: tuple[dict, ...] = (),
              after: tuple[dict, ...] = ()) -> ProjectConfig:
    where = Where.of_file(path)
    layers = (*before, _layer(raw, where, (*SECTIONS, "ops", "kernels"), "the project file"), *after)
    sections = {s: cls(**_merge(layer.get(s, {}) for layer in layers)) for s, cls in SECTION_TYPES.items()}
    validation = sections["validation"]
    return ProjectConfig(
        path=path, root=path.parent, **sections,
        ops=_named_entries(raw.get("ops", []), where.at("ops"), "op",
                             lambda entry, at: build_op(entry, at, validation)),
        kernels=_named_entries(raw.get("kernels", []), where.at("kernels"), "kernel", build_kernel),
    )


def _named_entries(raw: Any, where: Where, kind: str, build: Callable[[Mapping, Where], Any]) -> dict[str, Any]:
    """``[[ops]]`` (an array of tables) or ``[ops.NAME]`` (tables keyed by name), built and keyed by name."""
    section = where.key
    if isinstance(raw, (list, tuple)):
        located = [(where.item(i, e.get("name") if isinstance(e, Mapping) else None), e)
                   for i, e in enumerate(raw)]
    elif isinstance(raw, Mapping):
        located = []
        for key, entry in raw.items():
            if isinstance(entry, Mapping) and entry.get("name", key) != key:
                raise where.at(key).at("name").error(
                    f"{entry['name']!r} differs from the table name {key!r}; drop name or make them equal")
            located.append((where.at(key), {"name": key, **entry} if isinstance(entry, Mapping) else entry))
    else:
        where.expected(raw, f"an array of tables [[{section}]] (or tables [{section}.NAME])")
    built: dict[str, Any] = {}
    for at, entry in located:
        if not isinstance(entry, Mapping):
            at.expected(entry, f"a table: each {kind} is a [[{section}]] entry")
        item = build(entry, at)
        if item.name in built:
            raise at.at("name").error(f"duplicate {kind} name {item.name!r}; {kind} names must be unique")
        built[item.name] = item
    return built


def _merge(tables: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Later tables win key by key; a table-valued key (tolerances) merges one level down."""
    out: dict[str, Any] = {}
    for t in tables:
        for key, value in t.items():
            old = out.get(key)
            out[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _loads(text: str, where: Where) -> dict[str, Any]:
    """Parse TOML; a syntax error keeps tomllib's line and column and gains the file name."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise where.error(f"invalid TOML: {exc}") from None


# -- public API ---------------------------------------------------------------------------


def find_config(start: Path | None = None) -> Path | None:
    """The gpuemu.toml in ``start`` (default: the working directory) or its nearest parent, or None."""
    here = Path(start if start is not None else Path.cwd()).expanduser().resolve()
    if here.is_file():
        here = here.parent
    return next((d / CONFIG_FILENAME for d in (here, *here.parents) if (d / CONFIG_FILENAME).is_file()), None)


def load_config(path: Path | None = None, *, user_config: Path | None | Literal["default"] = "default",
                overrides: dict[str, Any] | None = None) -> ProjectConfig:
    """Load the project configuration: defaults < user config < ``path`` < ``overrides``.

    ``path`` None searches the working directory and its parents (``find_config``); a
    directory means its gpuemu.toml. ``user_config`` "default" reads
    ``$GPUEMU_HOME/config.toml`` when it exists; None skips the user layer; a path must
    exist. ``overrides`` has the shape of the file without ops and kernels; relative
    paths in it start from the project root. Raises ConfigError on any problem.
    """
    if path is None:
        path = find_config()
        if path is None:
            raise ConfigError(f"no {CONFIG_FILENAME} in {Path.cwd()} or any parent directory; "
                              "run `gpuemu init` to create one")
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        path = path / CONFIG_FILENAME
    raw, where = _read(path, "run `gpuemu init` to create one")
    before = _user_layer(user_config)
    after = (_layer(overrides, Where("overrides", where.base), tuple(SECTIONS), "overrides"),) if overrides else ()
    return _assemble(raw, path, before, after)


def _user_layer(user_config: Path | None | Literal["default"] = "default") -> tuple[dict, ...]:
    """The user config's checked sections (none when it is absent or skipped)."""
    if user_config is None:
        return ()
    user_path = paths.home() / "config.toml" if user_config == "default" else Path(user_config)
    if user_config == "default" and not user_path.is_file():
        return ()
    user_raw, user_where = _read(user_path, "create it or pass user_config=None")
    return (_layer(user_raw, user_where, USER_SECTIONS, "the user config"),)


def daemon_settings(path: Path | None = None) -> DaemonSettings:
    """[daemon] as it applies to the project at ``path`` (default: found from the working
    directory; none found: the user config and the defaults), read without building ops
    or kernels: what a client needs to find its daemon (``socket``) and whether it may
    start one (``auto_start``)."""
    path = path or find_config()
    layers = _user_layer()
    if path is not None:
        path = Path(path).expanduser().resolve()
        path = path / CONFIG_FILENAME if path.is_dir() else path
        raw, where = _read(path, "run `gpuemu init` to create one")
        layers += (_layer(raw, where, (*SECTIONS, "ops", "kernels"), "the project file"),)
    return DaemonSettings(**_merge(layer.get("daemon", {}) for layer in layers))


def client_daemon(socket_path: str | Path | None, auto_start: bool | None,
                  config_path: Path | None) -> tuple[Path, bool, bool]:
    """The socket a client dials and whether it may start a daemon there: an explicit value
    wins, then GPUEMU_SOCKET / GPUEMU_AUTO_START, then the project's [daemon] socket /
    auto_start, then $GPUEMU_HOME/gpuemu.sock and true. The third value is true when the
    project's config is what turned auto_start off (the client says so)."""
    env_start = os.environ.get("GPUEMU_AUTO_START")
    project = None  # read only when something is left to it
    if (not socket_path and not os.environ.get("GPUEMU_SOCKET")) or (auto_start is None and env_start is None):
        project = daemon_settings(config_path)
    socket = Path(socket_path) if socket_path else paths.socket_path(project and project.socket)
    if auto_start is not None:
        return socket, auto_start, False
    if env_start is not None:
        return socket, env_start != "0", False
    return socket, project.auto_start, not project.auto_start  # type: ignore[union-attr]


def parse_config(text: str, path: Path) -> ProjectConfig:
    """Parse gpuemu.toml text as if read from ``path`` (relative paths start from its directory)."""
    path = Path(path).expanduser().resolve()
    return _assemble(_loads(text, Where.of_file(path)), path)
