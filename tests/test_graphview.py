"""kg.graphview over the shipped corpus: neighborhoods, filters, edge evidence,
paths and the therapy -> barrier -> strategy view, checked against SPARQL."""

from __future__ import annotations

import pytest
from rdflib import URIRef

from kg import KnowledgeGraph
from kg import graphview as gv
from kg.namespaces import BASE

PREFIXES = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


@pytest.fixture(scope="module")
def kg(built_store):
    graph = KnowledgeGraph.open(built_store)
    yield graph
    graph.close()


def edges(result):
    return [e["data"] for e in result["elements"] if e["group"] == "edges"]


def nodes(result):
    return {e["data"]["id"]: e["data"] for e in result["elements"] if e["group"] == "nodes"}


def test_projection_is_cached_per_release(kg):
    first = gv.projection(kg)
    assert gv.projection(kg) is first
    assert first.release == kg.store.release


def test_projection_is_stored_at_publish_and_read_back(kg):
    """The explorer reads the projection written with the release (a marked
    copy shows), and it equals the full projection less the study-id lists."""
    import json

    from kg.views.cache import cache_dir

    path = cache_dir(kg) / gv.PROJECTION_FILE
    data = json.loads(path.read_text())
    full = kg.to_networkx()
    stored = {(e["source"], e["key"], e["target"]): e for e in data["graph"]["edges"]}
    assert set(stored) == {(u, k, v) for u, v, k in full.edges(keys=True)}
    for u, v, k, d in full.edges(keys=True, data=True):
        e = stored[(u, k, v)]
        assert (e["weight"], e["refuted"], e["best_level"], e["contexts"]) == (
            len(d["studies"]),
            len(d["refuted_by"]),
            d["best_level"],
            d["contexts"],
        )
        assert "studies" not in e and "context_studies" not in e
    data["graph"]["nodes"][0]["label"] = "marked by the test"
    path.write_text(json.dumps(data))
    gv.clear_cache()
    try:
        node = data["graph"]["nodes"][0]["id"]
        assert gv.projection(kg).graph.nodes[node]["label"] == "marked by the test"
    finally:
        path.unlink()  # computed (and stored) again from the store
        gv.clear_cache()
    assert gv.projection(kg).graph.nodes[node]["label"] != "marked by the test"
    assert path.is_file()


def test_neighborhood_of_cart_has_its_barriers_with_study_counts(kg):
    result = gv.neighborhood(kg, "CART", depth=1)
    assert result["center"] == "CART" and not result["capped"]
    faced = {e["target"]: e["weight"] for e in edges(result) if e["source"] == "CART" and e["relation"] == "facesBarrier"}
    rows = kg.query(
        PREFIXES
        + """SELECT ?b (COUNT(DISTINCT ?study) AS ?n) WHERE {
  ?f a tkg:Finding ; tkg:subject tkg:CART ; tkg:relation tkg:facesBarrier ; tkg:object ?b ;
     tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
} GROUP BY ?b"""
    ).rows
    expected = {str(r["b"])[len(BASE) :]: int(r["n"].toPython()) for r in rows}
    assert expected and faced == expected
    assert set(expected) <= set(nodes(result))
    assert nodes(result)["CART"]["role"] == "center"
    every = nodes(result)
    assert all(e["source"] in every and e["target"] in every for e in edges(result))


def test_depth_two_is_larger_and_capped_when_asked(kg):
    one = gv.neighborhood(kg, "CART", depth=1)
    two = gv.neighborhood(kg, "CART", depth=2)
    assert two["nodes"] > one["nodes"]
    small = gv.neighborhood(kg, "CART", depth=2, max_nodes=10)
    assert small["capped"] and small["nodes"] == 10


def test_filters_remove_what_they_should(kg):
    graph = gv.projection(kg).graph
    everything = gv.neighborhood(kg, "CART", depth=1)

    only = gv.neighborhood(kg, "CART", filters=gv.parse_filters(graph, relation="facesBarrier"))
    assert edges(only) and {e["relation"] for e in edges(only)} == {"facesBarrier"}

    solid = gv.neighborhood(kg, "CART", filters=gv.parse_filters(graph, tumor="solid"))
    assert 0 < len(edges(solid)) < len(edges(everything))
    for e in edges(solid):
        data = graph.get_edge_data(e["source"], e["target"])[e["relation"]]
        kinds = {graph.graph["classes"].get(c, {}).get("tumor_kind") for c in data["contexts"] if c}
        kinds |= {graph.nodes[n].get("tumor_kind") for n in (e["source"], e["target"])}
        assert "solid" in kinds
    assert not [n for n in nodes(solid).values() if n["category"] == "TumorType" and n["tumor_kind"] == "heme"]

    strong = gv.neighborhood(kg, "CART", filters=gv.parse_filters(graph, level="1"))
    assert edges(strong) and all(e["best_level"] == 1 for e in edges(strong))
    assert len(edges(strong)) < len(edges(everything))

    recent = gv.neighborhood(kg, "CART", filters=gv.parse_filters(graph, year_from="2020"))
    assert all(e["last_year"] >= 2020 for e in edges(recent))
    assert len(edges(recent)) < len(edges(everything))

    til = gv.neighborhood(kg, "AntigenEscape", filters=gv.parse_filters(graph, modality="TIL"))
    therapies = [n for n in nodes(til).values() if n["category"] == "Therapy"]
    assert therapies and all(n["modality"] == "TIL" for n in therapies)


@pytest.mark.parametrize(
    "params",
    [
        {"modality": "Nope"},
        {"tumor": "liquid"},
        {"relation": "likes"},
        {"level": "7"},
        {"level": "x"},
        {"year_from": "2020", "year_to": "2010"},
    ],
)
def test_bad_filters_raise(kg, params):
    with pytest.raises(gv.BadGraphParameter):
        gv.parse_filters(gv.projection(kg).graph, **params)


def test_unknown_ids_and_bad_depth_raise(kg):
    with pytest.raises(gv.NodeNotFound):
        gv.neighborhood(kg, "NoSuchThing")
    with pytest.raises(gv.NodeNotFound):
        gv.paths(kg, "CART", "NoSuchThing")
    with pytest.raises(gv.NodeNotFound):
        gv.strategies(kg, "NoSuchThing")
    with pytest.raises(gv.NodeNotFound):
        gv.edge(kg, "CART", "facesBarrier", "CytokineReleaseSyndrome")  # no such edge
    with pytest.raises(gv.BadGraphParameter):
        gv.neighborhood(kg, "CART", depth=3)
    with pytest.raises(gv.BadGraphParameter):
        gv.strategies(kg, "AntigenEscape")  # not a therapy


def test_edge_evidence_lists_the_findings(kg):
    result = gv.edge(kg, "CART", "facesBarrier", "AntigenEscape")
    findings = result["findings"]
    data = kg.to_networkx().get_edge_data("CART", "AntigenEscape")["facesBarrier"]
    assert len(findings) == data["findings"]
    assert {f["study"] for f in findings if f["support"] == "SUPPORT"} == set(data["studies"])
    assert gv.projection(kg).graph.get_edge_data("CART", "AntigenEscape")["facesBarrier"]["weight"] == len(data["studies"])
    assert all(f["quote"] and f["title"] and f["level"] in (1, 2, 3, 4, 5) for f in findings)


def test_an_id_with_sparql_in_it_is_refused_not_queried(kg):
    with pytest.raises(gv.NodeNotFound):
        gv.edge(kg, "CART> ?p ?o } #", "facesBarrier", "AntigenEscape")


def test_strategies_for_cart_address_one_of_its_barriers(kg):
    result = gv.strategies(kg, "CART")
    assert result["barriers"] and result["strategies"]
    row = next(r for r in result["barriers"] if r["strategies"])
    strategy, addressed, barrier = row["strategies"][0]["id"], row["strategies"][0]["via"], row["barrier"]
    query = (
        PREFIXES
        + """SELECT ?strategy ?addressed ?barrier WHERE {
  ?f1 a tkg:Finding ; tkg:subject ?therapy ; tkg:relation tkg:facesBarrier ; tkg:object ?barrier ; tkg:support "SUPPORT" .
  ?therapy rdfs:subClassOf* tkg:CART .
  ?addressed rdfs:subClassOf* ?barrier .
  ?f2 a tkg:Finding ; tkg:subject ?strategy ; tkg:relation tkg:addressesBarrier ; tkg:object ?addressed ; tkg:support "SUPPORT" .
} LIMIT 1"""
    )
    bindings = {"strategy": URIRef(BASE + strategy), "addressed": URIRef(BASE + addressed), "barrier": URIRef(BASE + barrier)}
    assert kg.query(query, bindings=bindings).rows, f"{strategy} addresses {addressed} under {barrier}: not in the store"
    assert not kg.query(query, bindings={**bindings, "strategy": URIRef(BASE + "CART")}).rows  # the bindings do constrain
    ids = nodes(result)
    assert ids["CART"]["role"] == "therapy" and ids[strategy]["role"] == "strategy"
    assert {"addressesBarrier", "facesBarrier"} <= {e["relation"] for e in edges(result)}


def test_strategies_match_competency_question_14(kg):
    from kg.queries import load_query

    rows = kg.query(load_query("cq14").sparql).rows
    expected = {str(r["strategy"])[len(BASE) :] for r in rows}
    assert expected and expected <= set(gv.strategies(kg, "CART")["strategies"])


def test_shortest_path_between_connected_entities(kg):
    result = gv.paths(kg, "CART", "Tebentafusp")
    assert result["connected"] and result["length"] >= 1
    graph = gv.projection(kg).graph
    for path in result["paths"]:
        ids = [step["id"] for step in path]
        assert ids[0] == "CART" and ids[-1] == "Tebentafusp" and len(ids) == result["length"] + 1
        for a, b in zip(ids, ids[1:], strict=False):
            assert graph.has_edge(a, b) or graph.has_edge(b, a)


def test_find_nodes_over_labels_and_synonyms(kg):
    assert gv.find_nodes(kg, "CAR-T cell therapy")[0]["id"] == "CART"
    proj = gv.projection(kg)
    node, synonyms = next((n, s) for n, s in sorted(proj.synonyms.items()) if s)
    hits = gv.find_nodes(kg, synonyms[0])
    assert node in {h["id"] for h in hits}
    assert gv.find_nodes(kg, "") == [] and gv.find_nodes(kg, "zzzzqqq") == []


def test_bindings_not_text_carry_the_edge_iris(kg):
    # the findings query is a constant: the edge's IRIs only travel as bindings
    assert "CART" not in gv.FINDINGS_QUERY
    result = kg.query(
        gv.FINDINGS_QUERY, bindings={"s": URIRef(BASE + "CART"), "rel": URIRef(BASE + "facesBarrier"), "o": URIRef(BASE + "AntigenEscape")}
    )
    assert result.rows


def test_options_carry_relation_labels_from_the_ontology(kg):
    options = gv.options(kg)
    assert options["relation_labels"]["facesBarrier"] == "faces barrier"
    assert set(options["relations"]) <= set(options["relation_labels"])
    assert options["relation_labels"][gv.SUBCLASS] == "is a kind of"
