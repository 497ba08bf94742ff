"""The rule table (kg/rules.py), the rule each finding records, and `tkg explain`.

Every sentence here is written for the test; none comes from ../shared.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from extraction import found, record

import kg.extract as extract_module
from kg.cli import main
from kg.model import StudyRecord, TextBlock
from kg.namespaces import TKG
from kg.rules import RULE_BY_NAME, RULES, VARIANTS, Rule
from kg.to_rdf import record_to_graph


def test_one_rule_per_relation_and_every_relation_has_one():
    from kg.model import RELATIONS

    assert sorted(r.relation for r in RULES) == sorted(RELATIONS)
    for rule in RULES:
        assert RELATIONS[rule.relation] == (rule.subjects, (rule.object,)), rule.name


def test_a_cue_that_matches_everything_is_refused():
    with pytest.raises(ValueError, match="empty string"):
        Rule("broken", "appliedTo", ("Strategy",), "Therapy", (r"with|",))


def test_every_finding_records_its_rule(extractor):
    text = (
        "CAR-T cell therapy is limited by T cell exhaustion. Blinatumomab, a CD19-directed engager, caused cytokine release syndrome. "
        "Tocilizumab reduced cytokine release syndrome."
    )
    rules = found(extractor, text)
    assert rules[("CART", "facesBarrier", "TCellExhaustion", "SUPPORT")] == "barrier.cue"
    assert rules[("Blinatumomab", "targetsAntigen", "CD19", "SUPPORT")] == "antigen.qualifier"
    assert rules[("Blinatumomab", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT")] == "toxicity.cue"
    assert all(rule in VARIANTS for rule in rules.values()), rules


def test_the_rule_reaches_the_rdf_provenance(extractor):
    rec = record("Blinatumomab caused cytokine release syndrome.")
    from dataclasses import replace

    rec = replace(rec, findings=tuple(extractor.extract(rec)))
    graph = record_to_graph(rec)
    rules = {str(o) for o in graph.objects(None, TKG.extractionRule)}
    assert rules == {"toxicity.cue"}


def test_a_new_relation_is_one_table_entry(extractor, monkeypatch):
    """A rule without a handler is applied by the generic clause rule: subject and object in
    one clause with the rule's cue. Shown by routing attributes through it."""
    rule = Rule("attr2", "hasMechanisticAttribute", ("Therapy",), "MechanisticAttribute", (r"\bare\b",))
    handlers = {k: v for k, v in extract_module._OBJECT_HANDLERS.items() if k != "MechanisticAttribute"}
    monkeypatch.setattr(extract_module, "_OBJECT_HANDLERS", handlers)
    monkeypatch.setattr(extract_module, "_GENERIC_RULES", {"MechanisticAttribute": [rule]})
    rules = found(extractor, "T cell engagers are off-the-shelf drugs. T cell engagers are not off-the-shelf here.")
    assert rules == {("TCellEngager", "hasMechanisticAttribute", "OffTheShelf", "SUPPORT"): "attr2.cue"}


CARD = """Blinatumomab in a made-up trial

Study Details

Study typeClinical trial
EvidenceLevel 3
PublishedJan 2026
View Original Abstract ↓
Blinatumomab caused cytokine release syndrome in most patients. The drug did not cause neurotoxicity.
"""


def test_explain_shows_mentions_clauses_and_rules(tmp_path: Path):
    card = tmp_path / "card.txt"
    card.write_text(CARD, encoding="utf-8")
    result = CliRunner().invoke(main, ["explain", str(card)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "mention 'Blinatumomab' -> Blinatumomab (Therapy)" in out
    assert re.search(r"FINDING Blinatumomab causesToxicity CytokineReleaseSyndrome\s+<- rule toxicity\.cue", out)
    assert re.search(r"FINDING Blinatumomab causesToxicity Neurotoxicity \(REFUTE\)\s+<- rule toxicity\.refute", out)
    assert "NEGATED" in out


def test_explain_refuses_a_yaml_record_with_one_line(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("id: x\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["explain", str(path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "carries its own findings" in result.output


def test_rule_names_are_known():
    assert set(RULE_BY_NAME) == {v.split(".")[0] for v in VARIANTS}


def test_a_restrictive_modifier_of_a_modality_predicates_nothing(extractor):
    assert found(extractor, "Autologous CAR-T cells are infused once.") == {}
    defined = found(extractor, "Tisagenlecleucel, an autologous CAR-T cell product, is infused once.")
    assert defined.get(("Tisagenlecleucel", "hasMechanisticAttribute", "Autologous", "SUPPORT")) == "attribute.cue"
    trial = {
        (f.subject, f.relation, f.object)
        for f in extractor.extract(
            record("The autologous CAR-T cells are infused once.", study_type="clinical trial", title="Tisagenlecleucel in leukemia")
        )
    }
    assert ("Tisagenlecleucel", "hasMechanisticAttribute", "Autologous") in trial


def test_the_table_policies_decide(extractor, monkeypatch):
    """The negation and hedge policies in the table are what the extractor applies."""
    from dataclasses import replace as dc_replace

    denied = "Teclistamab did not cause neurotoxicity."
    assert found(extractor, denied) == {("Teclistamab", "causesToxicity", "Neurotoxicity", "REFUTE"): "toxicity.refute"}
    monkeypatch.setattr(extract_module, "TOXICITY", dc_replace(RULE_BY_NAME["toxicity"], negation="drop"))
    assert found(extractor, denied) == {}

    hedged = "Teclistamab may be effective in multiple myeloma."
    assert ("Teclistamab", "investigatedIn", "MultipleMyeloma", "SUPPORT") in found(extractor, hedged)
    monkeypatch.setattr(extract_module, "EFFECTIVE", dc_replace(RULE_BY_NAME["effective"], hedge="lower"))
    assert ("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT") in found(extractor, hedged)


def test_the_generic_rule_follows_its_negation_policy(extractor, monkeypatch):
    rule = Rule("attr2", "hasMechanisticAttribute", ("Therapy",), "MechanisticAttribute", (r"\bare\b",), negation="refute")
    handlers = {k: v for k, v in extract_module._OBJECT_HANDLERS.items() if k != "MechanisticAttribute"}
    monkeypatch.setattr(extract_module, "_OBJECT_HANDLERS", handlers)
    monkeypatch.setattr(extract_module, "_GENERIC_RULES", {"MechanisticAttribute": [rule]})
    rules = found(extractor, "T cell engagers are not off-the-shelf drugs.")
    assert rules == {("TCellEngager", "hasMechanisticAttribute", "OffTheShelf", "REFUTE"): "attr2.cue"}


def test_the_docs_list_every_rule():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "extraction.md").read_text(encoding="utf-8")
    for name in list(VARIANTS) + [r.name for r in RULES]:
        assert f"`{name}`" in doc, f"docs/extraction.md does not describe rule {name}"


def test_cues_start_words(extractor):
    """A cue inside another word says nothing: 'rate' in 'separate', 'effect' in 'effector',
    'counter' in 'encounter', 'with' in 'without'."""
    from kg.rules import RULES

    cues = {r.name: r.cue for r in RULES}
    assert not cues["toxicity"].search("a separate cohort")
    assert not cues["addresses"].search("an encounter")
    assert not cues["applied"].search("without")
    assert cues["toxicity"].search("the rate of CRS") and cues["applied"].search("with tocilizumab")


def test_a_toxicity_the_regimen_guards_against_is_the_therapys(extractor):
    text = "Teclistamab was given with a step-up dosing schedule for cytokine release syndrome mitigation."
    texts = (TextBlock("abstract", text),)
    record = StudyRecord(id="t", title="Teclistamab in myeloma", study_type="clinical trial", source="test", texts=texts)
    pairs = {(f.subject, f.relation, f.object) for f in extractor.extract(record)}
    assert ("Teclistamab", "causesToxicity", "CytokineReleaseSyndrome") in pairs
