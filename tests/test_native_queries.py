"""The hot path never runs rdflib's SPARQL evaluator: queries on the directory
store go to Oxigraph natively (an rdflib fallback is orders of magnitude slower)."""

from __future__ import annotations

import pytest
import rdflib.plugins.sparql.evaluate as evaluate
import rdflib.plugins.sparql.processor as processor

from kg import KnowledgeGraph
from kg.namespaces import TKG
from kg.queries import list_queries


@pytest.fixture
def no_rdflib_evaluator(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("rdflib's SPARQL evaluator ran on the hot path")

    for module in (evaluate, processor):
        for name in ("evalQuery", "evalUpdate"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)


def test_named_queries_run_natively_on_the_directory_store(built_store, no_rdflib_evaluator):
    with KnowledgeGraph.open(built_store) as graph:
        for query in list_queries():
            graph.query(query.sparql)
        rows = graph.query("SELECT ?c ?l WHERE { ?c <http://www.w3.org/2000/01/rdf-schema#label> ?l }", bindings={"c": TKG.CART}).rows
        assert [str(r["l"]) for r in rows] == ["CAR-T cell therapy"]
        assert graph.stats()["studies"] > 0
        kind, data = graph.store.query_serialized(list_queries()[0].sparql, "json")
        assert kind == "select" and data


def test_the_guard_itself_catches_rdflib(no_rdflib_evaluator):
    graph = KnowledgeGraph.open("memory:", mode="write")
    with pytest.raises(AssertionError, match="evaluator"):
        graph.query("ASK { ?s ?p ?o }")
