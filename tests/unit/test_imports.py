"""The import graph of gpuemu, read statically (ast): no cycle among module-level imports.

Two graphs are built. MODULE-LEVEL edges are the imports that run when a module is
imported: statements at the top of the file, in class bodies and under a module-level
``try``/``if`` (but not under ``if TYPE_CHECKING``, which never runs). DEFERRED edges are
imports inside a function body, which run when the function is first called; they are
the sanctioned way to reach a heavier or higher layer late (the client starting a daemon,
``gpuemu.validate`` re-exporting the client's helpers). The test forbids a cycle in the
module-level graph: such a cycle makes the import order decide whether a name exists
yet. A deferred import may close a loop (it runs after both modules are complete), so
deferred edges are collected for the layer rules below but not checked for cycles.

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

ALLOWED_EDGES: set[tuple[str, str]] = {
    # r3-config (issue 19) moves FuzzConfigPayload/OpSchemaPayload out of the protocol into
    # gpuemu.fuzz.config; until that branch is merged this edge closes the cycle
    # protocol -> reproducer -> fuzz.cases -> fuzz.config -> protocol. Remove it then.
    ("gpuemu.fuzz.config", "gpuemu.protocol"),
}
"""Module-level edges left out of the cycle check, each with the reason and its end."""

DOMAIN = ("gpuemu.artifacts", "gpuemu.coverage", "gpuemu.engine", "gpuemu.fuzz",
          "gpuemu.validate", "gpuemu.validation", "gpuemu.reproducer", "gpuemu.oracle",
          "gpuemu.op_checks", "gpuemu.tensor", "gpuemu.dtypes", "gpuemu.rng", "gpuemu.local")
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


def test_no_cycle_among_module_level_imports():
    graph = {m: {t for t in targets if (m, t) not in ALLOWED_EDGES}
             for m, targets in import_graph()[False].items()}
    cycle = find_cycle(graph)
    assert cycle is None, (
        "import cycle among module-level imports: " + " -> ".join(cycle)
        + "; move the shared names down a layer (the wire layer imports the domain, never the"
        " reverse) or, for a heavy or higher layer, import it inside the function that needs it")


def test_allowed_edges_still_exist():
    """An allow-list entry whose import is gone must go too (it would hide a new cycle)."""
    graph = import_graph()[False]
    stale = [edge for edge in ALLOWED_EDGES if edge[1] not in graph.get(edge[0], ())]
    assert not stale, f"remove these entries from ALLOWED_EDGES, their imports are gone: {stale}"


def test_find_cycle_names_the_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_graph_reads_relative_and_deferred_imports():
    """The graph sees what it must: a relative import, one in a function, and the
    packages above a target (gpuemu.daemon.server's own package is not one of them)."""
    graph = import_graph()
    assert "gpuemu.errors" in graph[False]["gpuemu.daemon.server"]
    assert "gpuemu.daemon" not in graph[False]["gpuemu.daemon.server"]
    assert "gpuemu.daemon.launcher" in graph[True]["gpuemu.client"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(DOMAIN)))
def test_domain_does_not_import_the_wire_layer(module):
    imported = import_graph_cached()[False].get(module, set())
    wire = sorted(t for t in imported if t == "gpuemu.protocol" or t.startswith("gpuemu.protocol.")
                  if (module, t) not in ALLOWED_EDGES)
    assert not wire, (f"{module} imports {wire}: the wire layer depends on the domain, not the"
                      " reverse; define the type in the domain and import it into the protocol")


_GRAPH: dict[bool, dict[str, set[str]]] = {}


def import_graph_cached() -> dict[bool, dict[str, set[str]]]:
    if not _GRAPH:
        _GRAPH.update(import_graph())
    return _GRAPH
