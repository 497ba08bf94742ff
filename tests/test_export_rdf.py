"""RDF exports in all six formats parse back into a graph isomorphic to the
store's content; the dataset formats keep one named graph per study."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from click.testing import CliRunner
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic

from kg import KnowledgeGraph
from kg.cli import main
from kg.export import export_format, formats
from kg.readers.curated import read_curated
from kg.stores.oxigraph import to_rdflib

DATA = Path(__file__).parent / "data" / "records"
OX_FORMATS = {"nq": pyoxigraph.RdfFormat.N_QUADS, "trig": pyoxigraph.RdfFormat.TRIG, "jsonld": pyoxigraph.RdfFormat.JSON_LD}
PARSE_AS = {"ttl": "turtle", "nt": "nt", "nq": "nquads", "trig": "trig", "jsonld": "json-ld", "rdfxml": "xml"}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> str:
    store = str(tmp_path_factory.mktemp("export") / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ensure_ontology()
        kg.add_records(next(read_curated(p)) for p in sorted(DATA.glob("*.yaml")))
        kg.publish()
    return store


def store_graphs(store: str) -> dict[str, Graph]:
    graphs: dict[str, Graph] = {}
    with KnowledgeGraph.open(store) as kg:
        for s, p, o, g in kg.store.quads():
            graphs.setdefault(str(g), Graph()).add((s, p, o))
    return graphs


@pytest.mark.parametrize("fmt", sorted(f.name for f in formats() if f.is_rdf))
def test_export_round_trips(published, tmp_path, fmt):
    out = tmp_path / f"graph.{fmt}"
    result = CliRunner().invoke(main, ["export", "--store", published, "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = store_graphs(published)
    if export_format(fmt).dataset:
        # parsed by Oxigraph (rdflib's dataset parsers warn about their own deprecated API)
        parsed: dict[str, Graph] = {}
        for quad in pyoxigraph.parse(out.read_bytes(), format=OX_FORMATS[fmt]):
            parsed.setdefault(quad.graph_name.value, Graph()).add(
                (to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object))
            )
        assert set(parsed) == set(expected)  # one named graph per study, plus the ontology
        for name, graph in expected.items():
            assert isomorphic(parsed[name], graph), name
    else:
        union = Graph()
        for graph in expected.values():
            for triple in graph:
                union.add(triple)
        parsed_graph = Graph().parse(data=out.read_text(encoding="utf-8"), format=PARSE_AS[fmt])
        assert isomorphic(parsed_graph, union)
    assert URIRef("https://w3id.org/tcell-kg/graph/mini-car-t") in {URIRef(n) for n in expected}


def test_a_failed_export_leaves_no_partial_file(published, tmp_path):
    target = tmp_path / "missing-dir" / "graph.ttl"
    result = CliRunner().invoke(main, ["export", "--store", published, "--format", "ttl", "-o", str(target)])
    assert result.exit_code == 1 and "cannot write export" in result.output
    assert not target.exists() and not target.with_name("graph.ttl.part").exists()
