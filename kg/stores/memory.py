"""In-memory rdflib dataset (``memory:``): small, slow, for tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pyparsing import ParseBaseException
from rdflib import Dataset, Graph, URIRef, Variable
from rdflib.plugins.sparql import prepareQuery
from rdflib.term import Node

from ..errors import QueryError
from . import QueryResult, Store


class MemoryStore(Store):
    def __init__(self, url: str = "memory:", *, mode: str = "write", **_: Any):
        self.url = url
        self.dataset = Dataset(default_union=True)

    def replace_graph(self, graph: str, triples: Graph) -> None:
        target = self.dataset.graph(URIRef(graph))
        target.remove((None, None, None))
        for triple in triples:
            target.add(triple)

    def rebuild(self, graphs: Iterable[tuple[str, Graph]], check: Callable[[Store], None] | None = None) -> int:
        fresh = MemoryStore(self.url)
        count = fresh.replace_graphs(graphs)
        if check is not None:
            check(fresh)
        self.dataset = fresh.dataset
        return count

    def drop_graph(self, graph: str) -> None:
        self.dataset.remove_graph(URIRef(graph))

    def graph_names(self) -> list[str]:
        return sorted(
            str(g.identifier)
            for g in self.dataset.graphs()
            if len(g) and isinstance(g.identifier, URIRef) and str(g.identifier) != "urn:x-rdflib:default"
        )

    def query(self, sparql: str, *, bindings: dict[str, Node] | None = None) -> QueryResult:
        try:
            prepared = prepareQuery(sparql)
        except ParseBaseException as exc:
            raise QueryError(f"SPARQL syntax error: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - rdflib raises a bare Exception for an unknown prefix
            if "prefix" not in str(exc).lower():
                raise
            raise QueryError(f"SPARQL syntax error: {exc}") from None
        init = {Variable(k): v for k, v in (bindings or {}).items()}
        with warnings.catch_warnings():
            # rdflib's own GRAPH evaluation calls its deprecated Dataset.contexts
            warnings.filterwarnings("ignore", message=r"Dataset\.(contexts|default_context) is deprecated", category=DeprecationWarning)
            result = self.dataset.query(prepared, initBindings=init)
            if result.type == "ASK":
                return QueryResult("ask", boolean=bool(result.askAnswer))
            if result.type == "SELECT":
                variables = [str(v) for v in result.vars or []]
                rows = [{v: row[i] for i, v in enumerate(variables) if row[i] is not None} for row in result]
                return QueryResult("select", variables=variables, rows=rows)
            return QueryResult("graph", triples=list(result.graph or []))

    def quads(self) -> Iterator[tuple[Node, Node, Node, URIRef]]:
        for s, p, o, g in self.dataset.quads((None, None, None, None)):
            if g is not None and str(g) != "urn:x-rdflib:default":
                yield s, p, o, g.identifier if isinstance(g, Graph) else g

    def count(self) -> int:
        return sum(1 for _ in self.quads())
