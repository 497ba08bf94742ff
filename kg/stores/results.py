"""Serialization of query results and quads, shared by the backends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from rdflib import Dataset, Graph, URIRef, Variable
from rdflib.query import Result
from rdflib.term import Node

from ..errors import QueryError
from ..namespaces import PREFIXES

if TYPE_CHECKING:
    from . import QueryResult

_RDFLIB_RESULT = {"json": "json", "xml": "xml", "csv": "csv", "tsv": "tsv"}  # tsv: written here, rdflib has none
_RDFLIB_GRAPH = {"turtle": "turtle", "nt": "nt", "jsonld": "json-ld", "rdfxml": "xml", "nquads": "nquads", "trig": "trig"}
DATASET_FORMATS = {"nquads", "trig", "jsonld"}


def to_rdflib_result(result: QueryResult) -> Result:
    if result.kind == "ask":
        r = Result("ASK")
        r.askAnswer = bool(result.boolean)
        return r
    if result.kind == "select":
        r = Result("SELECT")
        r.vars = [Variable(v) for v in result.variables]
        r.bindings = [{Variable(k): v for k, v in row.items() if v is not None} for row in result.rows]
        return r
    r = Result("CONSTRUCT")
    r.graph = result.to_graph()
    return r


def serialize_result(result: QueryResult, fmt: str) -> bytes:
    if result.kind == "graph":
        if fmt not in _RDFLIB_GRAPH:
            raise QueryError(f"cannot write a graph result as {fmt!r}", expected=", ".join(_RDFLIB_GRAPH))
        graph = result.to_graph()
        for prefix, iri in PREFIXES.items():
            graph.bind(prefix, iri)
        return graph.serialize(format=_RDFLIB_GRAPH[fmt], encoding="utf-8")
    if fmt not in _RDFLIB_RESULT or (result.kind == "ask" and fmt in ("csv", "tsv")):
        allowed = "json, xml" if result.kind == "ask" else ", ".join(_RDFLIB_RESULT)
        raise QueryError(f"cannot write a {result.kind.upper()} result as {fmt!r}", expected=allowed)
    if fmt == "tsv":
        return _tsv(result)
    return to_rdflib_result(result).serialize(format=_RDFLIB_RESULT[fmt], encoding="utf-8") or b""


def _tsv(result: QueryResult) -> bytes:
    """SPARQL 1.1 TSV results: ?var headers, terms in N-Triples syntax."""
    lines = ["\t".join(f"?{v}" for v in result.variables)]
    for row in result.rows:
        lines.append("\t".join(row[v].n3() if row.get(v) is not None else "" for v in result.variables))
    return ("\n".join(lines) + "\n").encode("utf-8")


def dump_quads(quads: Iterable[tuple[Node, Node, Node, URIRef]], out: IO[bytes], fmt: str) -> None:
    """Write quads with rdflib (used by backends without a native writer)."""
    if fmt in DATASET_FORMATS:
        ds = Dataset()
        for s, p, o, g in quads:
            ds.add((s, p, o, g))
        for prefix, iri in PREFIXES.items():
            ds.bind(prefix, iri)
        data = ds.serialize(format=_RDFLIB_GRAPH[fmt], encoding="utf-8")
    else:
        graph = Graph()
        for s, p, o, _g in quads:
            graph.add((s, p, o))
        for prefix, iri in PREFIXES.items():
            graph.bind(prefix, iri)
        data = graph.serialize(format=_RDFLIB_GRAPH[fmt], encoding="utf-8")
    out.write(data)

