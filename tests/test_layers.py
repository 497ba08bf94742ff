"""The import graph of kg/: no cycle (imports inside functions included), kg/
never imports web/, and the core below the release artifacts never imports the
page layer (kg.views, kg.graphview)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
#: Modules that publishing and the stores run: they must not reach the layers above kg.artifacts.
CORE = ("kg.graph", "kg.artifacts", "kg.stores", "kg.bulk", "kg.pipeline", "kg.to_rdf", "kg.model", "kg.errors")
PAGE_LAYER = ("kg.views", "kg.graphview", "web")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, package: str, known: set[str]) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, except
    under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in known)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph(*packages: str) -> nx.DiGraph:
    files = {_module_name(p): p for pkg in packages for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for target in imports_of(path, package, known):
            while target and target not in known and "." in target:
                target = target.rsplit(".", 1)[0]  # kg.views.cache.memo -> kg.views.cache
            if target in known and target != name:
                graph.add_edge(name, target)
    return graph


def test_the_import_graph_sees_lazy_imports():
    """The walker finds an import made inside a function (kg.graph imports kg.artifacts only when publishing)."""
    source = (ROOT / "kg" / "graph.py").read_text(encoding="utf-8")
    assert "from .artifacts import on_publish" in source and "\nfrom .artifacts" not in source
    assert import_graph("kg").has_edge("kg.graph", "kg.artifacts")


def test_kg_has_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph("kg")))
    assert cycles == [], "import cycles in kg/: " + "; ".join(" -> ".join(c) for c in cycles)


def test_kg_and_web_have_no_import_cycle_and_kg_never_imports_web():
    graph = import_graph("kg", "web")
    assert list(nx.simple_cycles(graph)) == []
    upward = [(a, b) for a, b in graph.edges if a.startswith("kg") and b.startswith("web")]
    assert upward == []


def test_the_core_never_imports_the_page_layer():
    graph = import_graph("kg", "web")
    core = [n for n in graph if n.startswith(CORE)]
    reached = {n for c in core for n in nx.descendants(graph, c)}
    assert sorted(n for n in reached if n.startswith(PAGE_LAYER)) == []
