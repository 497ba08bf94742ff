"""ClinicalTrials.gov API v2 reader on a hand-made fixture: identifiers, design,
interventions mapped to products, conditions to tumor types, references,
adverse events with counts and toxicity mapping; wrong types are dropped."""

from __future__ import annotations

import json
from pathlib import Path

from kg.readers.ctgov import parse_ctgov

DATA = Path(__file__).resolve().parent / "data" / "readers"
STUDY = json.loads((DATA / "ctgov-v2-mini.json").read_text())


def test_fixture_fields_and_page():
    (one,) = parse_ctgov(json.dumps(STUDY).encode(), "mini.json")
    (paged,) = parse_ctgov(json.dumps({"studies": [STUDY]}).encode(), "page.json")
    assert one == paged.__class__(**{**paged.__dict__, "source": "mini.json"})
    assert one.id == "nct09990001" and one.nct == "NCT09990001" and one.acronym == "MINI-19"
    assert one.subtitle == "Anti-CD19 CAR T Cells in Relapsed B-ALL" and one.title.startswith("A Phase 1/2 Study")
    assert (one.phase, one.enrollment, one.status, one.sponsor, one.published) == ("1/2", 42, "COMPLETED", "Example University", "2019-03")
    assert one.references_pmids == ("12345678",)
    assert ("Tisagenlecleucel", "investigatedIn", "BALL") in {(f.subject, f.relation, f.object) for f in one.findings}
    for finding in one.findings:
        assert one.text(finding.section)[finding.start : finding.end] == finding.quote


def test_adverse_events_counted_and_mapped():
    (record,) = parse_ctgov(json.dumps(STUDY).encode(), "mini.json")
    events = {e.term: e for e in record.adverse_events}
    crs = events["Cytokine release syndrome"]
    assert crs.serious and crs.toxicity == "CytokineReleaseSyndrome" and crs.vocabulary == "MedDRA 21.0"
    assert [(c.group, c.affected, c.at_risk) for c in crs.counts] == [("CTL019", 20, 42)]
    assert events["Headache"].toxicity is None and not events["Headache"].serious  # kept as a counted event


def test_wrongly_typed_fields_are_dropped_not_passed_on_regression():
    """Bug: a list where the API has a string (briefTitle, phases, group ids) leaked into the record or crashed."""
    study = json.loads(json.dumps(STUDY))
    study["protocolSection"]["identificationModule"]["briefTitle"] = []
    study["protocolSection"]["identificationModule"]["acronym"] = {"x": 1}
    study["protocolSection"]["designModule"]["phases"] = [["PHASE1"]]
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = True
    study["resultsSection"]["adverseEventsModule"]["eventGroups"][0]["id"] = ["EG000"]
    study["resultsSection"]["adverseEventsModule"]["seriousEvents"][0]["organSystem"] = {"a": 1}
    (record,) = parse_ctgov(json.dumps(study).encode(), "typed.json")
    assert record.subtitle is None and record.acronym is None and record.phase is None and record.enrollment is None
    assert record.adverse_events[0].organ_system is None


# -- the record's prose and the registry-derived findings (studies written here) --------------

from kg.model import CURATED_FROM_REGISTRY, TEXT_MINED  # noqa: E402
from kg.pipeline import records_from_file  # noqa: E402


def study(**modules) -> dict:
    protocol = {"identificationModule": {"nctId": "NCT09990002", "briefTitle": "CD19 CAR T cells for B-ALL"}, **modules}
    return {"protocolSection": protocol}


FULL = study(
    identificationModule={
        "nctId": "NCT09990002",
        "briefTitle": "Short title",
        "officialTitle": "A Phase 2 Study of  Tisagenlecleucel in B-ALL",
    },
    statusModule={"overallStatus": "TERMINATED", "whyStopped": "Slow accrual \\[sponsor decision\\]"},
    descriptionModule={
        "briefSummary": "This study tests tisagenlecleucel.",
        "detailedDescription": "PRIMARY OBJECTIVE:\n\nI.  To assess safety.\n\nDose \\<10\\^6 cells/kg.",
    },
    conditionsModule={"conditions": ["B-cell Acute Lymphoblastic Leukemia"], "keywords": ["CAR T", "CD19"]},
    armsInterventionsModule={
        "armGroups": [
            {
                "label": "Arm A",
                "type": "EXPERIMENTAL",
                "description": "Patients receive tisagenlecleucel IV.",
                "interventionNames": ["Biological: Tisagenlecleucel"],
            },
            {"label": "Arm B", "type": "ACTIVE_COMPARATOR", "interventionNames": ["Biological: Axicabtagene ciloleucel"]},
        ],
        "interventions": [
            {
                "type": "BIOLOGICAL",
                "name": "Tisagenlecleucel",
                "otherNames": ["CTL019"],
                "description": "Given IV once.",
                "armGroupLabels": ["Arm A"],
            },
            {"type": "BIOLOGICAL", "name": "Axicabtagene ciloleucel", "description": "Given IV once.", "armGroupLabels": ["Arm B"]},
            {"type": "DRUG", "name": "Tisagenlecleucel", "description": "A second entry of the same name."},
        ],
    },
    outcomesModule={
        "primaryOutcomes": [{"measure": "Overall remission rate", "description": "CR or CRi.", "timeFrame": "3 months"}],
        "secondaryOutcomes": [{"measure": "Duration of remission."}],
        "otherOutcomes": [{"measure": "Persistence of CAR T cells"}],
    },
)


def test_prose_fields_become_text_blocks_in_reading_order():
    (record,) = parse_ctgov(json.dumps(FULL).encode(), "full.json")
    blocks = {b.section: b.text for b in record.texts}
    assert list(blocks)[:3] == ["registry entry", "brief summary", "official title"]
    assert blocks["official title"] == "A Phase 2 Study of Tisagenlecleucel in B-ALL"
    assert blocks["brief title"] == "Short title"
    assert blocks["detailed description"] == "PRIMARY OBJECTIVE:\nI. To assess safety.\nDose <10^6 cells/kg."  # escapes undone, lines kept
    assert blocks["keywords"] == "CAR T; CD19."
    assert blocks["intervention: Tisagenlecleucel"] == "Given IV once."
    assert blocks["intervention: Tisagenlecleucel (2)"] == "A second entry of the same name."  # sections stay unique
    assert blocks["arm group: Arm A (experimental)"] == "Arm A. Patients receive tisagenlecleucel IV."
    assert blocks["arm group: Arm B (active comparator)"] == "Arm B."
    assert blocks["primary outcome measures"] == "Overall remission rate.\nCR or CRi."
    assert blocks["secondary outcome measures"] == "Duration of remission."
    assert blocks["other outcome measures"] == "Persistence of CAR T cells."
    assert blocks["why stopped"] == "Slow accrual [sponsor decision]"
    assert len(blocks) == len(record.texts)


def test_registry_links_are_curated_from_registry_and_skip_comparator_only_interventions():
    (record,) = parse_ctgov(json.dumps(FULL).encode(), "full.json")
    links = {(f.subject, f.relation, f.object, f.method) for f in record.findings}
    assert ("Tisagenlecleucel", "investigatedIn", "BALL", CURATED_FROM_REGISTRY) in links
    assert not any(f.subject == "AxicabtageneCiloleucel" for f in record.findings)  # given only in the comparator arm
    assert "Intervention (comparator): Axicabtagene ciloleucel; conditions: B-cell Acute Lymphoblastic Leukemia." in record.text(
        "registry entry"
    )
    for finding in record.findings:
        assert record.text(finding.section)[finding.start : finding.end] == finding.quote


def test_the_shapes_accept_the_registry_method():
    from rdflib import Graph

    from kg.ontology import default_ontology, load_shapes
    from kg.to_rdf import record_to_graph
    from kg.validate import shacl_problems

    (record,) = parse_ctgov(json.dumps(FULL).encode(), "full.json")
    assert any(f.method == CURATED_FROM_REGISTRY for f in record.findings)
    data = Graph().parse(data=record_to_graph(record).serialize(format="nt"), format="nt")  # literals as a store holds them
    assert shacl_problems("g", data, default_ontology().graph, load_shapes()) == []


def test_a_record_without_interventions_still_yields_text_findings(tmp_path):
    bare = study(
        descriptionModule={"briefSummary": "Tisagenlecleucel caused cytokine release syndrome in most patients."},
        conditionsModule={"conditions": []},
    )
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(bare), encoding="utf-8")
    (record,) = records_from_file(path)
    assert record.text("registry entry") is None
    mined = [(f.subject, f.relation, f.object) for f in record.findings if f.method == TEXT_MINED]
    assert ("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome") in mined


def test_text_in_new_fields_is_mined(tmp_path):
    """A link stated only in an arm description (not in the summary) is found."""
    only_arm = study(
        descriptionModule={"briefSummary": "A registry record."},
        armsInterventionsModule={"armGroups": [{"label": "Arm A", "description": "Tisagenlecleucel caused cytokine release syndrome."}]},
    )
    path = tmp_path / "arm.json"
    path.write_text(json.dumps(only_arm), encoding="utf-8")
    (record,) = records_from_file(path)
    found = [(f.subject, f.relation, f.object, f.section) for f in record.findings]
    assert ("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome", "arm group: Arm A") in found


def test_wrongly_typed_prose_fields_are_dropped():
    broken = study(
        identificationModule={"nctId": "NCT09990002", "briefTitle": "T", "officialTitle": ["x"]},
        statusModule={"whyStopped": 3},
        descriptionModule={"briefSummary": "Summary.", "detailedDescription": {"a": 1}},
        conditionsModule={"conditions": "B-ALL", "keywords": "CAR T"},
        armsInterventionsModule={
            "armGroups": {"label": "A"},
            "interventions": [{"name": "X", "description": ["d"], "armGroupLabels": "A"}, "junk"],
        },
        outcomesModule={"primaryOutcomes": [{"measure": 5}, "junk"]},
    )
    (record,) = parse_ctgov(json.dumps(broken).encode(), "broken.json")
    assert [b.section for b in record.texts] == ["registry entry", "brief summary", "brief title"]
    same = study(identificationModule={"nctId": "NCT09990002", "briefTitle": "One  title", "officialTitle": "One title"})
    (record,) = parse_ctgov(json.dumps(same).encode(), "same.json")
    assert [b.section for b in record.texts] == ["official title"]  # the brief title only when it differs


def test_registry_links_are_attributed_to_the_registry_reader_in_rdf_and_kgx():
    from rdflib.namespace import PROV

    from kg.export_graph import _agent_type
    from kg.namespaces import TKG
    from kg.to_rdf import record_to_graph

    (record,) = parse_ctgov(json.dumps(FULL).encode(), "full.json")
    graph = record_to_graph(record)
    agents = {str(graph.value(f, TKG.extractionMethod)): graph.value(f, PROV.wasAttributedTo) for f in graph.subjects(TKG.extractionMethod)}
    assert agents[CURATED_FROM_REGISTRY] == TKG.registryReader
    assert (TKG.registryReader, None, None) in default_ontology_graph()
    assert _agent_type({CURATED_FROM_REGISTRY}) == "automated_agent"
    assert _agent_type({CURATED_FROM_REGISTRY, TEXT_MINED}) == "text_mining_agent"
    assert _agent_type({CURATED_FROM_REGISTRY, "curated"}) == "manual_agent"


def default_ontology_graph():
    from kg.ontology import default_ontology

    return default_ontology().graph
