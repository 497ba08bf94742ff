"""Curated YAML records: valid records parse with computed offsets, and each
kind of bad record gets one clear message naming file, field and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kg.errors import RecordError
from kg.readers.curated import parse_curated, read_curated

DATA = Path(__file__).parent / "data" / "records"


def test_valid_record_parses_with_offsets_and_resolves_synonyms():
    record = next(read_curated(DATA / "mini-car-t.yaml"))
    assert record.id == "mini-car-t" and record.year == 2024 and record.nct == "NCT00000001"
    subjects = {(f.subject, f.relation, f.object, f.context) for f in record.findings}
    assert ("CART", "facesBarrier", "Immunosuppression", "SolidTumor") in subjects  # labels and synonyms resolved
    assert ("CART", "causesToxicity", "CytokineReleaseSyndrome", None) in subjects
    text = record.text("summary")
    for finding in record.findings:
        assert text[finding.start : finding.end] == finding.quote


def base() -> dict:
    return yaml.safe_load((DATA / "mini-car-t.yaml").read_text())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("title"), "field (top level): 'title' is required"),
        (lambda d: d.update(study_type="opinion piece"), "field study_type: 'opinion piece' is not one of"),
        (lambda d: d.update(evidence_level=9), "field evidence_level"),
        (lambda d: d.update(identifiers={"nct": "NCT123"}), "field identifiers.nct: 'NCT123' does not match"),
        (lambda d: d.update(colour="blue"), "unknown field(s)"),
        (lambda d: d["findings"][0].update(subject="Unobtainium"), "findings.0.subject: unknown entity 'Unobtainium'"),
        (
            lambda d: d["findings"][0].update(object="CytokineReleaseSyndrome"),
            "findings.0.object: 'CytokineReleaseSyndrome' is not a TumorType",
        ),
        (lambda d: d["findings"][1].update(quote="Not in the text at all."), "findings.1: quote not found in any text block"),
        (lambda d: d["findings"][1].update(relation="cures"), "field findings.1.relation: 'cures' is not one of"),
        (lambda d: d["findings"][2].update(section="abstract"), "no text block named 'abstract'"),
    ],
)
def test_bad_records_get_one_clear_message(mutate, expected):
    data = base()
    mutate(data)
    with pytest.raises(RecordError) as info:
        parse_curated(data, "studies/bad.yaml")
    message = str(info.value)
    assert message.startswith("studies/bad.yaml")
    assert expected in message
    assert "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("title: [unclosed\nstudy_type: review\n")
    with pytest.raises(RecordError) as info:
        list(read_curated(path))
    assert str(path) in str(info.value) and "line" in str(info.value)


def test_non_mapping_and_empty_files_are_refused(tmp_path: Path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(RecordError, match="mapping"):
        list(read_curated(listing))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(Exception, match="empty"):
        list(read_curated(empty))
