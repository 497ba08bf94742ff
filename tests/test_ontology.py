"""The ontology: labels, definitions, synonyms, verified mappings only,
relation signatures, and the reasoner passing here and failing on a broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg.model import RELATIONS
from kg.namespaces import BASE, TKG
from kg.ontology import MAPPING_PREDICATES, ONTOLOGY_DIR, Ontology, load_mappings, load_ontology_graph, ontology_files


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


def test_every_project_class_has_a_label_a_definition_and_synonyms(onto):
    graph = onto.graph
    for cls in graph.subjects(RDF.type, OWL.Class):
        if not str(cls).startswith(BASE):
            continue
        assert graph.value(cls, RDFS.label) is not None, f"{cls} has no label"
        assert graph.value(cls, SKOS.definition) is not None, f"{cls} has no definition"
        assert graph.value(cls, SKOS.altLabel) is not None, f"{cls} has no synonym"


def test_domain_entities_carry_synonyms_for_recognition(onto):
    modalities = ["CART", "TIL", "TCellEngager", "TCRT"]
    for name in modalities:
        assert len(onto.entities[name].synonyms) >= 5, name
    assert onto.resolve("CAR-T") == {"CART"}
    assert onto.resolve("TME") == {"TumorMicroenvironmentBarrier"}
    assert "Tarlatamab" in onto.resolve("Imdelltra")


def test_external_mappings_come_only_from_the_sssom_file(onto):
    """Standard identifiers live in ontology/mappings.sssom.tsv (each with its source), not in the Turtle."""
    from rdflib import Graph

    turtle = Graph()
    for path in ontology_files():
        turtle.parse(path, format="turtle")
    assert not [t for p in MAPPING_PREDICATES.values() for t in turtle.triples((None, p, None))]
    expected = {(TKG[m.subject], SKOS[m.predicate], URIRef(m.object_iri)) for m in load_mappings().mappings}
    loaded = {t for p in MAPPING_PREDICATES.values() for t in onto.graph.triples((None, p, None))}
    assert loaded == expected and len(expected) > 50
    assert (TKG.CART, SKOS.exactMatch, URIRef("http://purl.obolibrary.org/obo/NCIT_C126102")) in onto.graph
    assert (TKG.UvealMelanoma, SKOS.exactMatch, URIRef("http://purl.obolibrary.org/obo/MONDO_0006486")) in onto.graph


def test_hierarchies_the_competency_questions_rely_on(onto):
    assert onto.modalities() == ["CART", "TCRT", "TCellEngager", "TIL"]
    assert {"MetabolicInsulation", "PhysicalExclusion", "Immunosuppression"} <= {
        n for n in onto.entities if onto.is_a(n, "TumorMicroenvironmentBarrier") and n != "TumorMicroenvironmentBarrier"
    }
    # resistance mechanisms are barriers and findable as such
    for name in ("AntigenEscape", "TCellExhaustion"):
        assert onto.is_a(name, "ResistanceMechanism") and onto.is_a(name, "Barrier")
    assert onto.is_a("Tebentafusp", "ImmTAC") and onto.is_a("Blinatumomab", "BiTE")
    solid = [n for n in onto.entities if onto.is_a(n, "SolidTumor") and n != "SolidTumor"]
    heme = [n for n in onto.entities if onto.is_a(n, "HematologicMalignancy") and n != "HematologicMalignancy"]
    assert len(solid) + len(heme) >= 20


def test_relation_signatures_agree_with_the_record_model(onto):
    graph = onto.graph
    for relation, (subjects, objects) in RELATIONS.items():
        assert graph.value(TKG[relation], TKG.subjectCategory) == TKG[subjects[0]], relation
        assert graph.value(TKG[relation], TKG.objectCategory) == TKG[objects[0]], relation
    assert onto.relations == set(RELATIONS)


def test_products_have_antigen_indication_and_year_when_approved(onto):
    graph = onto.graph
    for product in graph.subjects(TKG.approvalStatus, Literal("approved")):
        assert graph.value(product, TKG.firstIndication) is not None, product
        assert graph.value(product, TKG.firstApprovalYear) is not None, product
        assert graph.value(product, TKG.brandName) is not None, product


@pytest.mark.reasoner
def test_reasoner_accepts_the_shipped_ontology():
    from kg.reasoner import check_ontology

    report = check_ontology()
    assert report.ok, report.summary()
    assert report.classes > 150


@pytest.mark.reasoner
def test_reasoner_finds_an_unsatisfiable_class(tmp_path: Path):
    from kg.reasoner import check_ontology

    broken = tmp_path / "ontology"
    shutil.copytree(ONTOLOGY_DIR, broken)
    # a tumor type under both disjoint categories cannot have members
    (broken / "zz-broken.ttl").write_text(
        "@prefix tkg: <https://w3id.org/tcell-kg/> .\n@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        'tkg:Chimera a owl:Class ; rdfs:label "chimera" ; rdfs:subClassOf tkg:SolidTumor, tkg:HematologicMalignancy .\n'
    )
    report = check_ontology(broken)
    assert not report.ok
    assert "https://w3id.org/tcell-kg/Chimera" in report.unsatisfiable


@pytest.mark.reasoner
def test_reasoner_finds_an_inconsistency(tmp_path: Path):
    from kg.reasoner import check_graph

    graph = load_ontology_graph()
    ind = URIRef(BASE + "impossible")
    graph.add((ind, RDF.type, OWL.NamedIndividual))
    graph.add((ind, RDF.type, TKG.Study))
    graph.add((ind, RDF.type, TKG.Finding))  # Study and Finding are disjoint
    report = check_graph(graph)
    assert not report.consistent
    assert "INCONSISTENT" in report.summary()


def test_cli_ontology_check_exit_codes(tmp_path: Path):
    pytest.importorskip("owlready2")
    if shutil.which("java") is None:
        pytest.skip("java is not installed (CI installs default-jre-headless)")
    from click.testing import CliRunner

    from kg.cli import main

    ok = CliRunner().invoke(main, ["ontology", "check"])
    assert ok.exit_code == 0, ok.output
    assert "consistent" in ok.output
    broken = tmp_path / "onto"
    shutil.copytree(ONTOLOGY_DIR, broken)
    (broken / "zz.ttl").write_text(
        "@prefix tkg: <https://w3id.org/tcell-kg/> .\n@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "tkg:Bad a owl:Class ; rdfs:subClassOf tkg:Review, tkg:ClinicalTrial .\n"
    )
    bad = CliRunner().invoke(main, ["ontology", "check", "--ontology", str(broken)])
    assert bad.exit_code == 1
    assert "unsatisfiable" in bad.output and "Bad" in bad.output


@pytest.mark.reasoner
def test_cli_checks_the_schema_part_of_the_built_graph(built_store):
    if shutil.which("java") is None:
        pytest.skip("java is not installed (CI installs default-jre-headless)")
    from click.testing import CliRunner

    from kg.cli import main

    result = CliRunner().invoke(main, ["ontology", "check", "--store", built_store])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output


def test_every_relation_is_labelled_and_mapped_once():
    """A relation's facts: the model (subject/object categories) and the ontology
    (its label, read by pages and the explorer through /api/graph/options).
    Adding a relation to the model without its ontology label fails here."""
    from kg.ontology import default_ontology

    labels = default_ontology().relation_labels
    for relation in RELATIONS:
        assert labels.get(relation, relation) != relation, f"{relation} has no rdfs:label in the ontology"
