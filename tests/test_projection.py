"""The networkx projection (kg/projection.py) against the shipped corpus:
typed nodes, edges weighted by distinct supporting studies, equal to what a
plain SPARQL count says."""

from __future__ import annotations

import pytest

from kg import KnowledgeGraph
from kg.projection import CATEGORIES, EDGE_QUERY, project


@pytest.fixture(scope="module")
def graph(built_store: str):
    with KnowledgeGraph.open(built_store) as kg:
        yield kg


@pytest.fixture(scope="module")
def nxg(graph):
    return project(graph)


def test_nodes_are_typed_by_ontology_category(nxg):
    categories = {d["category"] for _, d in nxg.nodes(data=True)}
    assert categories <= set(CATEGORIES), categories - set(CATEGORIES)
    assert {"Therapy", "TumorType", "Barrier", "Toxicity", "Strategy"} <= categories
    cart = nxg.nodes["CART"]
    assert cart["category"] == "Therapy" and cart["is_modality"] and cart["label"] == "CAR-T cell therapy"
    tarlatamab = nxg.nodes["Tarlatamab"]
    assert tarlatamab["is_product"] and tarlatamab["modality"] == "TCellEngager"


def test_edge_weight_is_the_number_of_distinct_supporting_studies(graph, nxg):
    expected = {
        str(row["study"]).rsplit("/", 1)[1]
        for row in graph.query(
            """PREFIX tkg: <https://w3id.org/tcell-kg/> PREFIX prov: <http://www.w3.org/ns/prov#>
            SELECT DISTINCT ?study WHERE { ?f tkg:subject tkg:CART ; tkg:relation tkg:causesToxicity ;
              tkg:object tkg:CytokineReleaseSyndrome ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study }"""
        ).rows
    }
    edge = nxg.get_edge_data("CART", "CytokineReleaseSyndrome", key="causesToxicity")
    assert edge is not None and len(expected) >= 3
    assert set(edge["studies"]) == expected and edge["weight"] == len(expected)
    assert edge["best_level"] in range(1, 6) and edge["first_year"] <= edge["last_year"]


def test_every_finding_triple_is_an_edge(graph, nxg):
    triples = {(str(r["s"]), str(r["rel"]), str(r["o"])) for r in graph.query(EDGE_QUERY).rows}
    edges = {(d["iri"], k, nxg.nodes[v]["iri"]) for u, v, k in nxg.edges(keys=True) for d in [nxg.nodes[u]]}
    assert {(s, rel.rsplit("/", 1)[1], o) for s, rel, o in triples} == edges


def test_study_nodes_on_request(graph):
    with_studies = project(graph, studies=True)
    study_nodes = [n for n, d in with_studies.nodes(data=True) if d["category"] == "Study"]
    assert len(study_nodes) >= 60
    assert with_studies.has_edge("study/hay-2017-blood", "CART")
    assert graph.to_networkx().number_of_edges() < with_studies.number_of_edges()
