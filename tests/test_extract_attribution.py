"""Attribution: sentences that name no therapy go to the text's main therapy whatever the
study type; comparators and other causes are not the subject; lists share their cue.

Every sentence here is written for the test; none comes from ../shared.
"""

from __future__ import annotations

import pytest
from extraction import found as extracted

from kg.extract import Extractor


def found(extractor: Extractor, text: str, study_type: str = "study", title: str = "") -> dict[tuple[str, str, str, str], str]:
    return extracted(extractor, text, study_type, title)  # attribution is about primary reports: "study" by default


APPROVAL = "Agency approves teclistamab for relapsed multiple myeloma"


@pytest.mark.parametrize("study_type", ["study", "narrative review", "systematic review", "clinical trial"])
def test_an_unnamed_toxicity_goes_to_the_title_product_in_any_study_type(extractor, study_type):
    rules = found(extractor, "Cytokine release syndrome occurred in 60% of patients.", study_type=study_type, title=APPROVAL)
    assert rules == {("Teclistamab", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT"): "toxicity.main-therapy"}


def test_an_unnamed_result_goes_to_the_title_product_and_tumor(extractor):
    rules = found(extractor, "The overall response rate was 61%.", title=APPROVAL)
    assert rules == {("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT"): "effective.main-therapy"}


def test_a_title_naming_two_therapies_or_only_a_modality_has_no_main_therapy(extractor):
    for title in ("Teclistamab or talquetamab for multiple myeloma", "CAR-T cells in multiple myeloma"):
        assert found(extractor, "Cytokine release syndrome occurred in 60% of patients.", study_type="narrative review", title=title) == {}


def test_every_item_of_a_list_shares_its_cue(extractor):
    text = "Warnings include cytokine release syndrome, serious infections, and neurotoxicity."
    rules = found(extractor, text, title=APPROVAL)
    for toxicity in ("CytokineReleaseSyndrome", "Infection", "Neurotoxicity"):
        assert ("Teclistamab", "causesToxicity", toxicity, "SUPPORT") in rules, toxicity


def test_a_gapped_list_of_rates_shares_the_verb(extractor):
    text = "Cytokine release syndrome occurred in 70% of patients, neurotoxicity in 5%, and infections in 16%."
    rules = found(extractor, text, title=APPROVAL)
    for toxicity in ("CytokineReleaseSyndrome", "Neurotoxicity", "Infection"):
        assert rules.get(("Teclistamab", "causesToxicity", toxicity, "SUPPORT")) == "toxicity.main-therapy", toxicity


def test_the_last_item_of_a_barrier_list_is_kept(extractor):
    text = "CAR-T cell therapy is limited by antigen escape, T cell exhaustion, and suboptimal trafficking."
    rules = found(extractor, text, study_type="narrative review")
    for barrier in ("AntigenEscape", "TCellExhaustion", "TraffickingInfiltration"):
        assert ("CART", "facesBarrier", barrier, "SUPPORT") in rules, barrier


def test_an_antigen_qualifier_after_its_abbreviation(extractor):
    text = "Elranatamab, a B-cell maturation antigen (BCMA)-directed CD3 T-cell engager, was approved."
    rules = found(extractor, text, study_type="narrative review")
    assert rules.get(("Elranatamab", "targetsAntigen", "BCMA", "SUPPORT")) == "antigen.qualifier"
    assert ("Elranatamab", "targetsAntigen", "CD3", "SUPPORT") not in rules


@pytest.mark.parametrize(
    "text, therapy, antigen",
    [
        ("This trial gives GD2 chimeric antigen receptor (CAR) T cells to children.", "CART", "GD2"),
        ("MAGE-A4 TCR-T cells were infused after lymphodepletion.", "TCRT", "MAGEA4"),
    ],
)
def test_an_antigen_naming_the_therapy_after_it_is_its_target(extractor, text, therapy, antigen):
    rules = found(extractor, text, study_type="narrative review")
    assert rules.get((therapy, "targetsAntigen", antigen, "SUPPORT")) == "antigen.qualifier"


def test_an_antigen_before_a_verb_is_no_target(extractor):
    rules = found(extractor, "Loss of CD19 expression leads CAR-T cells to fail.", study_type="narrative review")
    assert not any(k[1] == "targetsAntigen" for k in rules), rules


def test_a_sentence_opening_with_a_list_gives_each_item_the_closing_cue(extractor):
    text = (
        "Poor T cell trafficking, antigen escape, weak costimulation, and T cell exhaustion are the main obstacles for CAR-T cell therapy."
    )
    rules = found(extractor, text, study_type="narrative review")
    for barrier in ("TraffickingInfiltration", "AntigenEscape", "TCellExhaustion"):
        assert ("CART", "facesBarrier", barrier, "SUPPORT") in rules, barrier


def test_an_opening_list_of_toxicities_shares_the_closing_cue(extractor):
    text = "Cytokine release syndrome, cytopenias, infections and neurotoxicity were the main adverse events."
    rules = found(extractor, text, title=APPROVAL)
    for toxicity in ("CytokineReleaseSyndrome", "Cytopenia", "Infection", "Neurotoxicity"):
        assert rules.get(("Teclistamab", "causesToxicity", toxicity, "SUPPORT")) == "toxicity.main-therapy", toxicity


@pytest.mark.parametrize(
    "text",
    [
        "Antibodies help the body fight infections caused by bacteria.",
        "Most patients had cytopenias caused by the lymphodepleting chemotherapy.",
        "Neurotoxicity related to high-dose interleukin-2 was seen.",
        "Chemotherapy-induced cytopenias were common.",
    ],
)
def test_a_toxicity_with_another_stated_cause_is_not_the_therapys(extractor, text):
    assert not any(k[1] == "causesToxicity" for k in found(extractor, text, title=APPROVAL))


@pytest.mark.parametrize(
    "text",
    [
        "Infections caused by the drug were frequent.",
        "Treatment-related cytopenias were common.",
        "Teclistamab caused tumor inflammation-associated neurotoxicity.",
    ],
)
def test_a_cause_that_is_the_therapy_keeps_the_toxicity(extractor, text):
    assert any(k[0] == "Teclistamab" and k[1] == "causesToxicity" for k in found(extractor, text, title=APPROVAL))


@pytest.mark.parametrize(
    "text",
    [
        "Regardless of teclistamab, patients with myeloma are known to develop infections.",
        "The lymphodepleting regimen caused cytopenias in most patients.",
        "High-dose IL-2 caused capillary leak syndrome.",
        "Patients with multiple myeloma have a median survival of three years with standard therapy.",
        "Ipilimumab induced responses in 10% of patients in the control arm.",
    ],
)
def test_another_actor_or_a_confounder_is_not_the_main_therapy(extractor, text):
    rules = found(extractor, text, title=APPROVAL)
    assert not any(k[0] == "Teclistamab" and k[1] in ("causesToxicity", "effectiveIn") for k in rules), rules


def test_another_actor_in_one_clause_leaves_the_other_clause_alone(extractor):
    text = "One patient developed neurotoxicity, and one developed a virus-positive lymphoproliferative disease."
    assert found(extractor, text, title=APPROVAL) == {
        ("Teclistamab", "causesToxicity", "Neurotoxicity", "SUPPORT"): "toxicity.main-therapy"
    }
