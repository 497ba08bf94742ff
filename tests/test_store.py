"""Stores: idempotent re-ingest, atomic graph replacement, publish/read-only
releases, and rebuilds that switch only when the new content is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef

from kg import KnowledgeGraph
from kg.errors import NoReleaseError, StoreError, ValidationError
from kg.namespaces import ONTOLOGY_GRAPH
from kg.readers.curated import read_curated
from kg.stores import open_store
from kg.to_rdf import record_graph_iri, record_to_graph

DATA = Path(__file__).parent / "data" / "records"
RECORDS = [next(read_curated(p)) for p in sorted(DATA.glob("*.yaml"))]


@pytest.fixture(params=["memory", "oxigraph"])
def writable(request, tmp_path):
    url = "memory:" if request.param == "memory" else str(tmp_path / "var")
    kg = KnowledgeGraph.open(url, mode="write")
    kg.ensure_ontology()
    yield kg
    kg.close()


def test_reingesting_the_same_study_leaves_the_triple_count_unchanged(writable):
    writable.add_records(RECORDS)
    first = writable.store.count()
    writable.add_records(RECORDS)
    writable.add_records(RECORDS[:1])
    assert writable.store.count() == first
    names = writable.store.graph_names()
    assert str(ONTOLOGY_GRAPH) in names
    assert {str(record_graph_iri(r)) for r in RECORDS} <= set(names)


def test_each_study_lives_in_its_own_named_graph(writable):
    writable.add_records(RECORDS)
    rows = writable.query(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?f a <https://w3id.org/tcell-kg/Finding> } } GROUP BY ?g"
    ).rows
    per_graph = {str(r["g"]).rsplit("/", 1)[-1]: int(r["n"].toPython()) for r in rows}
    assert per_graph == {r.id: len(r.findings) for r in RECORDS}


def test_replacing_a_study_removes_its_old_triples(writable):
    writable.add_records(RECORDS[:1])
    graph_name = str(record_graph_iri(RECORDS[0]))
    small = Graph()
    small.add((URIRef("https://w3id.org/tcell-kg/study/mini-car-t"), URIRef("http://purl.org/dc/terms/title"), Literal("renamed")))
    writable.store.replace_graph(graph_name, small)
    rows = writable.query(f"SELECT ?s ?p ?o WHERE {{ GRAPH <{graph_name}> {{ ?s ?p ?o }} }}").rows
    assert len(rows) == 1 and str(rows[0]["o"]) == "renamed"


def test_a_failed_replacement_leaves_the_old_graph_intact(tmp_path):
    kg = KnowledgeGraph.open(str(tmp_path / "var"), mode="write")
    kg.add_records(RECORDS[:1])
    before = kg.store.count()
    name = str(record_graph_iri(RECORDS[0]))
    bad = record_to_graph(RECORDS[0])
    bad.add((URIRef("relative-iri"), URIRef("http://example.org/p"), Literal("x")))  # not an absolute IRI: Oxigraph refuses it
    with pytest.raises(StoreError):
        kg.store.replace_graph(name, bad)
    assert kg.store.count() == before
    kg.close()


def test_readers_see_only_published_releases(tmp_path):
    url = str(tmp_path / "var")
    with pytest.raises(NoReleaseError, match="tkg build"):
        KnowledgeGraph.open(url)
    writer = KnowledgeGraph.open(url, mode="write")
    writer.ensure_ontology()
    writer.add_records(RECORDS[:1])
    release = writer.publish()
    reader = KnowledgeGraph.open(url)
    assert reader.store.read_only and reader.store.release == release
    count_published = reader.store.count()
    writer.add_records(RECORDS[1:])  # not yet published
    assert reader.store.count() == count_published
    with pytest.raises(StoreError, match="read-only"):
        reader.add_records(RECORDS)
    writer.publish()
    assert KnowledgeGraph.open(url).store.count() > count_published
    writer.close()


def test_only_one_writer_at_a_time(tmp_path):
    url = str(tmp_path / "var")
    first = KnowledgeGraph.open(url, mode="write")
    with pytest.raises(StoreError, match="in use"):
        KnowledgeGraph.open(url, mode="write")
    first.close()


@pytest.mark.parametrize("backend", ["memory", "oxigraph"])
def test_rebuild_switches_only_when_the_check_passes(backend, tmp_path):
    url = "memory:" if backend == "memory" else str(tmp_path / "var")
    kg = KnowledgeGraph.open(url, mode="write")
    kg.ensure_ontology()
    kg.add_records(RECORDS[:1])
    before = kg.store.count()

    def refuse(candidate):
        assert candidate.count() > 0
        raise ValidationError("refused by the test")

    graphs = [(str(record_graph_iri(r)), record_to_graph(r)) for r in RECORDS]
    with pytest.raises(ValidationError):
        kg.store.rebuild(graphs, refuse)
    assert kg.store.count() == before
    loaded = kg.store.rebuild(graphs, None)
    assert kg.store.count() == loaded
    assert str(ONTOLOGY_GRAPH) not in kg.store.graph_names()
    if backend == "oxigraph":
        assert not (tmp_path / "var" / "work.build").exists()
    kg.close()


def test_unknown_store_scheme_lists_the_valid_ones():
    with pytest.raises(StoreError) as info:
        open_store("ftp://example.org/graph")
    assert "memory:" in str(info.value) and "directory" in str(info.value)


def test_a_query_naming_its_dataset_is_not_widened_to_the_union(tmp_path):
    kg = KnowledgeGraph.open(str(tmp_path / "var"), mode="write")
    kg.add_records(RECORDS)
    one = str(record_graph_iri(RECORDS[0]))
    everything = kg.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }").rows[0]["n"].toPython()
    scoped = kg.query(f"SELECT (COUNT(*) AS ?n) FROM <{one}> WHERE {{ ?s ?p ?o }}").rows[0]["n"].toPython()
    assert 0 < scoped < everything
    kg.close()


@pytest.mark.parametrize("backend", ["memory", "oxigraph"])
def test_tsv_results_on_every_backend(backend, tmp_path):
    url = "memory:" if backend == "memory" else str(tmp_path / "var")
    kg = KnowledgeGraph.open(url, mode="write")
    kg.add_records(RECORDS)
    data = kg.query("SELECT ?s ?t WHERE { ?s <http://purl.org/dc/terms/title> ?t } ORDER BY ?t").serialize("tsv").decode()
    lines = data.strip().splitlines()
    assert lines[0] == "?s\t?t"
    assert lines[1] == '<https://w3id.org/tcell-kg/study/mini-car-t>\t"A small CAR-T test study"'
    kg.close()
