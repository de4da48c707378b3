"""The import graph of gpuemu, read statically (ast): no import cycle.

Two kinds of import edge are counted separately. MODULE-LEVEL edges are the imports that
run when a module is imported: statements at the top of the file, in class bodies and
under a module-level ``try``/``if`` (but not under ``if TYPE_CHECKING``, which never runs).
DEFERRED edges are imports inside a function body, which run when it is first called.

- The module-level graph has no cycle at all: in a cycle the import order decides whether
  a name exists yet.
- Module-level and deferred edges together have no cycle either, except through the
  deferred imports listed in DEFERRED_LOOPS, each with the reason it closes a loop (a
  deferred import runs once both modules are complete, so such a loop is safe, but it
  should be a decision, not an accident).

Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so an import edge also
points at the packages above its target (except those that contain the importing module:
they are already being initialised when it runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gpuemu

SRC = Path(gpuemu.__file__).parent
ROOT = "gpuemu"

DEFERRED_LOOPS: dict[tuple[str, str], str] = {
    ("gpuemu.transport", "gpuemu.daemon.launcher"):
        "auto-start: the client starts a daemon only when none answers",
    ("gpuemu.client", "gpuemu.validation"):
        "seed 002's validate_op is re-exported by the client, which validation uses",
    ("gpuemu.frameworks", "gpuemu.validation"):
        "validate_pytorch & co. call validate_op, whose client uses the adapters",
    ("gpuemu.validate", "gpuemu.validation"):
        "seeds 001/004 import the client's validate_op from gpuemu.validate",
    ("gpuemu.reproducer", "gpuemu.fuzz.cases"):
        "a Reproducer regenerates its case; the protocol carries Reproducers",
    ("gpuemu.tolerances", "gpuemu.fuzz.cases"):
        "calibrating through a daemon names its cases by seed; the config holds tolerances",
    ("gpuemu.daemon.fuzzing", "gpuemu.cluster.campaign"):
        "Ray is imported only when a run names a cluster; a node runs the daemon's cases",
    # (the client's own cycle with the frameworks is under TYPE_CHECKING: not an import)
}
"""Deferred imports that close a loop: (importer, module imported) -> why."""

PENDING_WIRE_IMPORTS: set[tuple[str, str]] = set()
"""Domain modules that still import the wire layer, each with the change that ends it."""

DOMAIN = ("gpuemu.artifacts", "gpuemu.coverage", "gpuemu.engine", "gpuemu.fuzz",
          "gpuemu.validate", "gpuemu.reproducer", "gpuemu.oracle", "gpuemu.op_checks",
          "gpuemu.tensor", "gpuemu.dtypes", "gpuemu.rng", "gpuemu.local", "gpuemu.config",
          "gpuemu.tolerances", "gpuemu.message")
"""Domain modules and packages: the wire layer (gpuemu.protocol) imports them, never the
reverse."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in SRC.rglob("*.py")}


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _absolute(node: ast.ImportFrom, importer: str) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package(importer) else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> set[str]:
    """The gpuemu modules an import statement runs (the named one and the packages above)."""
    if isinstance(node, ast.Import):
        named = {alias.name for alias in node.names}
    else:
        module = _absolute(node, importer)
        named = {module} | {f"{module}.{alias.name}" for alias in node.names
                            if f"{module}.{alias.name}" in MODULES}
    found = set()
    for name in named:
        if name != ROOT and not name.startswith(ROOT + "."):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and not importer.startswith(prefix + ".") and prefix != importer:
                found.add(prefix)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(nodes: list[ast.stmt], importer: str, deferred: bool,
          edges: dict[bool, dict[str, set[str]]]) -> None:
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            edges[deferred].setdefault(importer, set()).update(_targets(node, importer))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _walk(node.body, importer, True, edges)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            continue
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                _walk(getattr(node, field, []), importer, deferred, edges)


def import_graph() -> dict[bool, dict[str, set[str]]]:
    """``{False: module-level edges, True: deferred edges}``, importer -> imported modules."""
    edges: dict[bool, dict[str, set[str]]] = {False: {}, True: {}}
    for name, path in MODULES.items():
        _walk(ast.parse(path.read_text(), str(path)).body, name, False, edges)
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _cycle_message(cycle: list[str], fix: str) -> str:
    return f"import cycle: {' -> '.join(cycle)}; {fix}"


def test_no_cycle_among_module_level_imports():
    cycle = find_cycle(GRAPH[False])
    assert cycle is None, _cycle_message(
        cycle, "move the shared names down a layer (the wire layer imports the domain, never"
        " the reverse) or import the higher layer inside the function that needs it")


def _listed(importer: str, target: str) -> bool:
    """Is the deferred edge importer -> target (or a package above it) in DEFERRED_LOOPS?"""
    return any(importer == a and (target == b or b.startswith(target + "."))
               for a, b in DEFERRED_LOOPS)


def test_no_cycle_through_deferred_imports_but_the_listed_ones():
    both = {m: GRAPH[False].get(m, set()) | {t for t in GRAPH[True].get(m, set())
                                             if t in GRAPH[False].get(m, set())
                                             or not _listed(m, t)}
            for m in set(GRAPH[False]) | set(GRAPH[True])}
    cycle = find_cycle(both)
    assert cycle is None, _cycle_message(
        cycle, "break it, or add the deferred import that closes it to DEFERRED_LOOPS with why")


def test_listed_exceptions_still_exist():
    """An entry whose import is gone must go too (it would hide a new cycle)."""
    stale = [e for e in DEFERRED_LOOPS if e[1] not in GRAPH[True].get(e[0], ())]
    stale += [e for e in PENDING_WIRE_IMPORTS if e[1] not in GRAPH[False].get(e[0], ())]
    assert not stale, f"remove these entries, their imports are gone: {stale}"


def test_find_cycle_names_the_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_graph_reads_relative_and_deferred_imports():
    """The graph sees what it must: a relative import, one in a function, and the
    packages above a target (gpuemu.daemon.server's own package is not one of them)."""
    assert "gpuemu.errors" in GRAPH[False]["gpuemu.daemon.server"]
    assert "gpuemu.daemon" not in GRAPH[False]["gpuemu.daemon.server"]
    assert {"gpuemu.daemon", "gpuemu.daemon.launcher"} <= GRAPH[True]["gpuemu.transport"]
    assert "gpuemu.client" not in GRAPH[False]["gpuemu.frameworks"]  # TYPE_CHECKING only


def test_the_client_does_not_import_the_daemon():
    """A client process loads the daemon package only to start a daemon."""
    for module in ("gpuemu.client", "gpuemu.transport", "gpuemu.progress"):
        assert not {t for t in GRAPH[False][module] if t.startswith("gpuemu.daemon")}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(DOMAIN)))
def test_domain_does_not_import_the_wire_layer(module):
    wire = sorted(t for t in GRAPH[False].get(module, set()) | GRAPH[True].get(module, set())
                  if t.split(".")[:2] == ["gpuemu", "protocol"]
                  and (module, t) not in PENDING_WIRE_IMPORTS)
    assert not wire, (f"{module} imports {wire}: the wire layer depends on the domain, not the"
                      " reverse; define the type in the domain and import it into the protocol")


GRAPH = import_graph()
