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
