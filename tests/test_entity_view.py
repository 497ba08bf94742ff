"""The entity page's relations and studies (kg/views/entity.py), which the store
counts with GROUP BY: checked against counts made here in Python from one row
per finding (a plain SPARQL query, no aggregates), on the shipped corpus.

What is checked: per (direction, relation, other end) the distinct supporting
and refuting studies, the best evidence level, the narrower classes it goes
through and that the example quote is a supporting quote of that item; per
relation the distinct supporting studies over all its items (not the sum of
the items'); per study the findings about the entity (once per direction);
the orderings."""

from __future__ import annotations

from collections import defaultdict

import pytest
from rdflib import URIRef

from kg import KnowledgeGraph
from kg.views.entity import entity_page

TKG = "https://w3id.org/tcell-kg/"
PREFIXES = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""
#: One row per finding about ?e or a narrower class, per direction it matches.
PER_FINDING = (
    PREFIXES
    + """SELECT ?e ?finding ?dir ?via ?other ?relation ?support ?study ?level ?year ?title ?quote WHERE {
  { ?via rdfs:subClassOf* ?e . ?finding tkg:subject ?via ; tkg:object ?other . BIND("out" AS ?dir) }
  UNION
  { ?via rdfs:subClassOf* ?e . ?finding tkg:object ?via ; tkg:subject ?other . BIND("in" AS ?dir) }
  ?finding a tkg:Finding ; tkg:relation ?relation ; tkg:support ?support ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?finding tkg:evidenceQuote ?quote }
}"""
)


@pytest.fixture(scope="module")
def graph(built_store):
    kg = KnowledgeGraph.open(built_store)
    yield kg
    kg.close()


def expected(kg: KnowledgeGraph, entity: str) -> dict:
    iri = URIRef(TKG + entity)
    items: dict = defaultdict(lambda: {"support": set(), "refute": set(), "levels": set(), "via": set(), "quotes": set()})
    findings: dict[str, set] = defaultdict(set)
    study_info: dict[str, tuple] = {}
    for row in kg.query(PER_FINDING, bindings={"e": iri}).rows:
        key = (str(row["dir"]), str(row["relation"]).removeprefix(TKG), str(row["other"]))
        item, study = items[key], str(row["study"])
        if str(row["support"]) == "SUPPORT":
            item["support"].add(study)
            if row.get("level") is not None:
                item["levels"].add(int(row["level"]))
            if row.get("quote") is not None and str(row["quote"]):
                item["quotes"].add(str(row["quote"]))
        else:
            item["refute"].add(study)
        if row["via"] != iri:
            item["via"].add(str(row["via"]).removeprefix(TKG))
        findings[study].add((str(row["finding"]), str(row["dir"])))
        study_info[study] = (row.get("level"), row.get("year"), str(row.get("title") or study.rsplit("/", 1)[-1]))
    totals: dict = defaultdict(set)
    for (direction, relation, _), item in items.items():
        totals[(direction, relation)] |= item["support"]
    return {"items": items, "totals": totals, "findings": {s: len(f) for s, f in findings.items()}, "study_info": study_info}


#: A therapy class with products, a product, a barrier class, a toxicity, its
#: top category (refuting findings) and a tumor type (findings pointing in).
ENTITIES = ["CART", "Tisagenlecleucel", "TumorMicroenvironmentBarrier", "CytokineReleaseSyndrome", "Toxicity", "LBCL"]


@pytest.mark.parametrize("entity", ENTITIES)
def test_relations_and_studies_equal_per_finding_counts(graph, entity):
    want = expected(graph, entity)
    page = entity_page(graph, entity)
    got_items = {(r["direction"], r["relation"], i["entity"]["iri"]): i for r in page["relations"] for i in r["items"]}
    assert set(got_items) == set(want["items"])
    for key, item in want["items"].items():
        got = got_items[key]
        assert got["studies"] == len(item["support"]), key
        assert got["refuting_studies"] == len(item["refute"]), key
        assert got["best_level"] == (min(item["levels"]) if item["levels"] else None), key
        assert {v["id"] for v in got["via"]} == item["via"], key
        assert [v["label"] for v in got["via"]] == sorted(v["label"] for v in got["via"]), key
        if item["quotes"]:
            assert got["example_quote"] in item["quotes"], key  # any supporting quote of this item
        else:
            assert got["example_quote"] is None, key
    assert {(r["direction"], r["relation"]): r["studies"] for r in page["relations"]} == {k: len(v) for k, v in want["totals"].items()}
    for relation in page["relations"]:
        assert relation["items"] == sorted(relation["items"], key=lambda i: (-i["studies"], i["entity"]["label"].lower()))
    assert page["relations"] == sorted(page["relations"], key=lambda r: (r["direction"] != "out", -r["studies"], r["label"]))
    assert {s["iri"]: s["findings"] for s in page["studies"]} == want["findings"]
    for study in page["studies"]:
        level, year, title = want["study_info"][study["iri"]]
        assert (study["level"], study["year"], study["title"]) == (
            int(level) if level is not None else None,
            int(year) if year is not None else None,
            title,
        )
    keys = [(s["level"] if s["level"] is not None else 99, -(s["year"] or 0), s["title"].lower()) for s in page["studies"]]
    assert keys == sorted(keys)


def test_the_corpus_exercises_what_the_counts_distinguish(graph):
    """The entities above have what tells right counting from wrong: an item
    with two supporting (and two refuting) findings from one study (COUNT
    instead of COUNT DISTINCT would differ), a relation whose studies are fewer
    than the sum of its items' (a study supporting two items), a study with
    several findings, refuting studies and narrower classes."""
    supporting: dict = defaultdict(int)
    refuting: dict = defaultdict(int)
    fewer_than_sum = several_findings = has_refuting = has_via = False
    for entity in ENTITIES:
        for row in graph.query(PER_FINDING, bindings={"e": URIRef(TKG + entity)}).rows:
            key = (entity, str(row["dir"]), str(row["relation"]), str(row["other"]), str(row["study"]))
            (supporting if str(row["support"]) == "SUPPORT" else refuting)[key] += 1
        want = expected(graph, entity)
        sums: dict = defaultdict(int)
        for (direction, relation, _), item in want["items"].items():
            sums[(direction, relation)] += len(item["support"])
        fewer_than_sum |= any(len(studies) < sums[key] for key, studies in want["totals"].items())
        several_findings |= max(want["findings"].values()) > 1
        has_refuting |= any(item["refute"] for item in want["items"].values())
        has_via |= any(item["via"] for item in want["items"].values())
    assert max(supporting.values()) > 1 and max(refuting.values()) > 1
    assert fewer_than_sum and several_findings and has_refuting and has_via


def test_entity_without_findings_on_a_memory_store(tmp_path):
    """rdflib (memory:) answers an aggregate over no rows with one row of
    unbound keys; the page must still show no relations and no studies."""
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ensure_ontology()
    page = entity_page(kg, "CART")
    assert page["id"] == "CART" and page["relations"] == [] and page["studies"] == []
