"""Relation extraction: the example card, coordination, abbreviations, negation, hedging."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.extract import Extractor
from kg.model import REFUTE, SUPPORT, StudyRecord, TextBlock
from kg.pipeline import records_from_file

EXAMPLE_CARD = Path(__file__).resolve().parents[2] / "shared" / "examples" / "card-tarlatamab.txt"


def triples(extractor: Extractor, text: str, study_type: str = "narrative review", title: str = "") -> set[tuple[str, str, str, str]]:
    record = StudyRecord(id="t", title=title, study_type=study_type, source="test", texts=(TextBlock("abstract", text),))
    return {(f.subject, f.relation, f.object, f.support) for f in extractor.extract(record)}


@pytest.mark.skipif(not EXAMPLE_CARD.exists(), reason="shared example card not present")
def test_example_card_findings_with_quotes():
    (record,) = records_from_file(EXAMPLE_CARD)
    found = {(f.subject, f.relation, f.object): f for f in record.findings}
    for key in [
        ("Tarlatamab", "targetsAntigen", "DLL3"),
        ("Tarlatamab", "causesToxicity", "CytokineReleaseSyndrome"),
        ("Tarlatamab", "causesToxicity", "ICANS"),
    ]:
        assert key in found, key
        finding = found[key]
        assert finding.support == SUPPORT
        block = record.text(finding.section)
        assert block[finding.start : finding.end] == finding.quote
    assert "DLL3" in found["Tarlatamab", "targetsAntigen", "DLL3"].quote
    assert (
        "ICANS" in found["Tarlatamab", "causesToxicity", "ICANS"].quote
        or "neurotoxicity" in found["Tarlatamab", "causesToxicity", "ICANS"].quote
    )


def test_coordinated_barriers_belong_to_their_own_therapy(extractor):
    found = triples(
        extractor,
        "Their efficacy is compromised by antigen escape for CAR-T cells, variable tumor immunogenicity "
        "and manufacturing complexity for TILs, and short half-life for T cell engagers.",
    )
    assert ("CART", "facesBarrier", "AntigenEscape", SUPPORT) in found
    assert ("TIL", "facesBarrier", "VariableTumorImmunogenicity", SUPPORT) in found
    assert ("TIL", "facesBarrier", "ManufacturingLogistics", SUPPORT) in found
    assert ("TCellEngager", "facesBarrier", "LimitedPersistence", SUPPORT) in found
    assert ("CART", "facesBarrier", "LimitedPersistence", SUPPORT) not in found
    assert ("TIL", "facesBarrier", "AntigenEscape", SUPPORT) not in found


def test_subject_list_shares_its_predicate(extractor):
    found = triples(extractor, "In solid tumors, CAR-T cells, TILs and TCR-T cells all meet an immunosuppressive tumor microenvironment.")
    for therapy in ("CART", "TIL", "TCRT"):
        assert (therapy, "facesBarrier", "TumorMicroenvironmentBarrier", SUPPORT) in found


def test_gapped_coordination_and_respectively(extractor):
    found = triples(
        extractor,
        "Ciltacabtagene autoleucel has been linked to parkinsonism, teclistamab to serious infections, and talquetamab to dysgeusia.",
    )
    assert {
        ("CiltacabtageneAutoleucel", "causesToxicity", "MovementNeurotoxicity", SUPPORT),
        ("Teclistamab", "causesToxicity", "Infection", SUPPORT),
        ("Talquetamab", "causesToxicity", "OralToxicity", SUPPORT),
    } <= found
    assert ("Teclistamab", "causesToxicity", "MovementNeurotoxicity", SUPPORT) not in found
    found = triples(
        extractor,
        "Tisagenlecleucel and axicabtagene ciloleucel were approved for B-cell acute lymphoblastic "
        "leukemia and large B-cell lymphoma, respectively.",
    )
    assert ("Tisagenlecleucel", "effectiveIn", "BALL", SUPPORT) in found
    assert ("AxicabtageneCiloleucel", "effectiveIn", "LBCL", SUPPORT) in found
    assert ("Tisagenlecleucel", "effectiveIn", "LBCL", SUPPORT) not in found


def test_strategies_paired_with_their_own_barrier(extractor):
    found = triples(
        extractor, "Remedies are matched to each barrier: oncolytic viruses for dense stroma, and PD-1 knockout for T cell exhaustion."
    )
    assert ("OncolyticVirus", "addressesBarrier", "PhysicalExclusion", SUPPORT) in found
    assert ("ExhaustionResistantEngineering", "addressesBarrier", "TCellExhaustion", SUPPORT) in found
    assert ("OncolyticVirus", "addressesBarrier", "TCellExhaustion", SUPPORT) not in found


def test_defined_abbreviation_is_used_later(extractor):
    text = "T cell receptor-engineered T cells (TCR-Ts) are studied widely. Tumors frequently escape TCR-Ts by HLA loss."
    mentions = [(m.text, m.entity) for m in extractor.lexicon.find(text)]
    assert mentions.count(("TCR-Ts", "TCRT")) == 2
    assert ("TCRT", "facesBarrier", "MHCLoss", SUPPORT) in triples(extractor, text)


def test_acronym_modifiers_are_mentions(extractor):
    mentions = [(m.text, m.entity) for m in extractor.lexicon.find("CD19-directed cells and an anti-CD3 arm, unlike TCR-T cells.")]
    assert ("CD19", "CD19") in mentions and ("CD3", "CD3") in mentions
    assert ("TCR-T cells", "TCRT") in mentions


def test_negation_refutes_and_qualified_negation_asserts_nothing(extractor):
    found = triples(extractor, "The TIL infusion did not cause cytokine release syndrome or neurotoxicity.")
    assert ("TIL", "causesToxicity", "CytokineReleaseSyndrome", REFUTE) in found
    assert ("TIL", "causesToxicity", "Neurotoxicity", REFUTE) in found
    found = triples(
        extractor,
        "No dose-limiting cytokine release syndrome was seen.",
        study_type="non-randomized trial",
        title="GD2-CAR T cells in diffuse midline glioma",
    )
    assert not any(t[2] == "CytokineReleaseSyndrome" for t in found)


def test_denied_success_is_refuted(extractor):
    found = triples(extractor, "In solid tumors, by contrast, responses to CAR-T cells have been rare.")
    assert found == {("CART", "effectiveIn", "SolidTumor", REFUTE)}
    found = triples(
        extractor,
        "CAR-T cells induce remissions in B-cell acute lymphoblastic leukemia, but responses in "
        "chronic lymphocytic leukemia are less frequent.",
    )
    assert ("CART", "effectiveIn", "BALL", SUPPORT) in found
    assert not any(t[2] == "CLL" for t in found)


def test_hedging_lowers_confidence_and_speculation_drops(extractor):
    record = StudyRecord(
        id="t",
        title="",
        study_type="review",
        source="test",
        texts=(TextBlock("abstract", "TCR-T cells may face T cell exhaustion in bulky tumors."),),
    )
    (finding,) = extractor.extract(record)
    assert (finding.subject, finding.object, finding.confidence) == ("TCRT", "TCellExhaustion", 0.6)
    assert triples(extractor, "Whether TIL therapy causes late neurotoxicity remains unknown.") == set()


def test_examples_stay_with_their_class_and_qualified_modalities_become_products(extractor):
    found = triples(extractor, "Antibody-based T cell engagers such as blinatumomab recognize their target in an HLA-independent way.")
    assert found == {("BiTE", "hasMechanisticAttribute", "MHCIndependent", SUPPORT)}
    found = triples(extractor, "CAR-T cells against carbonic anhydrase IX caused liver damage, an on-target/off-tumor effect.")
    assert ("CAIXCART", "targetsAntigen", "CAIX", SUPPORT) in found
    assert ("CAIXCART", "causesToxicity", "OnTargetOffTumorToxicity", SUPPORT) in found


def test_applied_to_but_not_for_earlier_treatment(extractor):
    assert ("DominantNegativeTGFBR", "appliedTo", "CART", SUPPORT) in triples(
        extractor, "CAR-T cells with a dominant-negative TGF-beta receptor resist the tumor microenvironment."
    )
    found = triples(
        extractor,
        "Lifileucel produced durable responses in advanced melanoma that had progressed on anti-PD-1 therapy.",
        study_type="non-randomized trial",
        title="Lifileucel in melanoma",
    )
    assert ("Lifileucel", "effectiveIn", "Melanoma", SUPPORT) in found
    assert not any(t[1] == "appliedTo" for t in found)


def test_trial_outcome_sentence_uses_the_trial_tumor(extractor):
    found = triples(
        extractor,
        "Adults were randomized to chemotherapy with or without blinatumomab. Adding blinatumomab improved overall survival.",
        study_type="randomized controlled trial",
        title="Blinatumomab in B-cell precursor acute lymphoblastic leukemia",
    )
    assert ("Blinatumomab", "effectiveIn", "BALL", SUPPORT) in found
    assert ("Blinatumomab", "investigatedIn", "BALL", SUPPORT) not in found
