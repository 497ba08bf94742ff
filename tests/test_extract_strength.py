"""Claim strength: aims, designs and hedges state investigatedIn, results state effectiveIn.

Every sentence here is written for the test; none comes from ../shared.
"""

from __future__ import annotations

import pytest
from extraction import found

from kg.model import StudyRecord, TextBlock


@pytest.mark.parametrize(
    "text, subject, tumor",
    [
        (
            "This phase II trial will evaluate the efficacy and safety of blinatumomab in patients with "
            "B-cell acute lymphoblastic leukemia.",
            "Blinatumomab",
            "BALL",
        ),
        ("This study tests how well tisagenlecleucel works in treating patients with large B-cell lymphoma.", "Tisagenlecleucel", "LBCL"),
        ("Teclistamab may be effective in multiple myeloma.", "Teclistamab", "MultipleMyeloma"),
        ("Teclistamab is a promising option for multiple myeloma.", "Teclistamab", "MultipleMyeloma"),
        ("The aim was to determine whether teclistamab improves survival in multiple myeloma.", "Teclistamab", "MultipleMyeloma"),
    ],
)
def test_aims_and_hedges_give_investigated_never_effective(extractor, text, subject, tumor):
    rules = found(extractor, text)
    assert rules == {(subject, "investigatedIn", tumor, "SUPPORT"): "investigated.aim"}


def test_a_stated_result_gives_effective(extractor):
    rules = found(extractor, "Teclistamab produced durable responses in multiple myeloma.")
    assert rules == {("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT"): "effective.result"}


def test_an_approval_gives_effective_and_the_month_may_is_no_hedge(extractor):
    rules = found(extractor, "On May 3, 2024, the agency approved teclistamab for multiple myeloma.")
    assert rules == {("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT"): "effective.approval"}


def test_success_in_one_tumor_type_is_not_carried_to_the_next(extractor):
    rules = found(extractor, "The success of CAR-T cell therapy in hematologic malignancies has spurred interest in solid tumors.")
    assert rules[("CART", "effectiveIn", "HematologicMalignancy", "SUPPORT")] == "effective.result"
    assert rules[("CART", "investigatedIn", "SolidTumor", "SUPPORT")] == "investigated.aim"
    assert ("CART", "effectiveIn", "SolidTumor", "SUPPORT") not in rules


def test_a_listed_tumor_shares_the_result_of_the_first(extractor):
    rules = found(extractor, "Blinatumomab induced remissions in B-cell acute lymphoblastic leukemia and large B-cell lymphoma.")
    assert ("Blinatumomab", "effectiveIn", "BALL", "SUPPORT") in rules
    assert ("Blinatumomab", "effectiveIn", "LBCL", "SUPPORT") in rules


def test_a_review_can_state_investigated(extractor):
    rules = found(extractor, "Teclistamab is also being studied in a variety of solid tumors.")
    assert rules == {("Teclistamab", "investigatedIn", "SolidTumor", "SUPPORT"): "investigated.studied"}


def test_a_parenthesis_with_commas_does_not_cut_the_clause(extractor):
    rules = found(extractor, "The agency approved glofitamab (Brandname, Some Company, Inc.) for adults with large B-cell lymphoma.")
    assert ("Glofitamab", "effectiveIn", "LBCL", "SUPPORT") in rules


def test_not_otherwise_specified_is_no_negation(extractor):
    rules = found(extractor, "Epcoritamab produced responses in diffuse large B-cell lymphoma, not otherwise specified.")
    assert ("Epcoritamab", "effectiveIn", "LBCL", "SUPPORT") in rules
    denied = found(extractor, "Epcoritamab did not produce responses in follicular lymphoma.")
    assert ("Epcoritamab", "effectiveIn", "FollicularLymphoma", "SUPPORT") not in denied


def test_an_aim_about_an_outcome_in_a_trial_is_investigated(extractor):
    text = "To evaluate overall survival of patients receiving the study drug. Overall survival improved markedly."
    rules = found(extractor, text, study_type="clinical trial", title="Blinatumomab in B-cell acute lymphoblastic leukemia")
    assert rules[("Blinatumomab", "effectiveIn", "BALL", "SUPPORT")] == "effective.main-therapy"
    only_aim = found(
        extractor, text.split(". ")[0] + ".", study_type="clinical trial", title="Blinatumomab in B-cell acute lymphoblastic leukemia"
    )
    assert only_aim == {("Blinatumomab", "investigatedIn", "BALL", "SUPPORT"): "investigated.aim"}


def test_objective_response_is_a_result_not_an_objective(extractor):
    rules = found(
        extractor,
        "Objective responses occurred in most patients.",
        study_type="clinical trial",
        title="Blinatumomab in B-cell acute lymphoblastic leukemia",
    )
    assert rules == {("Blinatumomab", "effectiveIn", "BALL", "SUPPORT"): "effective.main-therapy"}


@pytest.mark.parametrize(
    "title",
    [
        "Safety and Efficacy of Teclistamab Versus Standard Care in Multiple Myeloma",
        "A Phase 2 Study of the Safety and Efficacy of Teclistamab in Multiple Myeloma",
        "Teclistamab, a bispecific antibody designed to produce responses in multiple myeloma",
    ],
)
def test_a_title_or_design_phrase_is_no_result(extractor, title):
    assert found(extractor, title) == {("Teclistamab", "investigatedIn", "MultipleMyeloma", "SUPPORT"): "investigated.aim"}


def test_a_t_cell_response_is_a_mechanism_not_an_outcome(extractor):
    text = "The drug links B cells and T cells, resulting in a cytotoxic T cell response."
    rules = found(extractor, text, study_type="clinical trial", title="Blinatumomab in B-cell acute lymphoblastic leukemia")
    assert rules == {}
    assert found(
        extractor,
        "Complete responses occurred in half of the children.",
        study_type="clinical trial",
        title="Blinatumomab in B-cell acute lymphoblastic leukemia",
    ) == {("Blinatumomab", "effectiveIn", "BALL", "SUPPORT"): "effective.main-therapy"}


def test_the_tumor_another_arose_from_is_not_claimed(extractor):
    text = "The agency approved glofitamab for diffuse large B-cell lymphoma or large B-cell lymphoma arising from follicular lymphoma."
    rules = found(extractor, text)
    assert rules == {("Glofitamab", "effectiveIn", "LBCL", "SUPPORT"): "effective.approval"}


def test_success_named_as_what_a_barrier_limits_is_no_result(extractor):
    rules = found(extractor, "The hostile tumor microenvironment limits CAR-T cell efficacy in solid tumors.")
    assert ("CART", "facesBarrier", "TumorMicroenvironmentBarrier", "SUPPORT") in rules
    assert ("CART", "effectiveIn", "SolidTumor", "SUPPORT") not in rules


def test_an_indication_is_an_approval_and_a_population_caveat_no_refutation(extractor):
    title = "Agency approves teclistamab for relapsed multiple myeloma"
    rules = found(extractor, "Teclistamab is indicated for the treatment of adults with relapsed multiple myeloma.", title=title)
    assert rules == {("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT"): "effective.approval"}
    caveat = found(extractor, "Safety and efficacy in pediatric patients have not been established.", study_type="study", title=title)
    assert caveat == {}


@pytest.mark.parametrize("section", ["primary outcome", "secondary outcome measure", "arm group: Arm A", "eligibility criteria"])
def test_a_registry_design_section_states_no_result(extractor, section):
    record = StudyRecord(
        id="t",
        title="Teclistamab in relapsed multiple myeloma",
        study_type="trial registration",
        source="test",
        texts=(TextBlock(section, "Percentage of participants with complete response"),),
    )
    rules = {(f.subject, f.relation, f.object): f.rule for f in extractor.extract(record)}
    assert rules == {("Teclistamab", "investigatedIn", "MultipleMyeloma"): "investigated.aim"}


def test_a_paper_title_may_state_a_result(extractor):
    record = StudyRecord(
        id="t",
        title="Teclistamab induces responses in multiple myeloma",
        study_type="study",
        source="test",
        texts=(TextBlock("title", "Teclistamab induces responses in multiple myeloma"),),
    )
    rules = {(f.subject, f.relation, f.object): f.rule for f in extractor.extract(record)}
    assert rules == {("Teclistamab", "effectiveIn", "MultipleMyeloma"): "effective.result"}


def test_median_not_reached_does_not_deny_the_result(extractor):
    title = "Agency approves teclistamab for relapsed multiple myeloma"
    text = "The objective response rate was 31% and the median duration of response was not reached."
    assert found(extractor, text, study_type="study", title=title) == {
        ("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT"): "effective.main-therapy"
    }


def test_revolutionized_the_treatment_is_a_result(extractor):
    rules = found(extractor, "CAR-T cells have revolutionized the treatment of B-cell acute lymphoblastic leukemia.")
    assert rules.get(("CART", "effectiveIn", "BALL", "SUPPORT")) == "effective.result"


def test_success_cues_are_words_not_fragments():
    """A cue stem inside another word claims nothing: 'Working Group', 'secure', 'responsible'."""
    from kg.rules import RULES

    cue = next(r for r in RULES if r.name == "effective").cue
    for text in ("International Myeloma Working Group criteria", "a secure supply", "the physician responsible", "a network"):
        assert not cue.search(text), text
    for text in ("durable responses", "the drug works", "it can work in Y", "patients were cured", "complete remission"):
        assert cue.search(text), text


def test_a_working_group_is_no_result(extractor):
    text = (
        "Teclistamab was given to patients with multiple myeloma. "
        "Patients had measurable disease by International Myeloma Working Group criteria."
    )
    assert not any(rel == "effectiveIn" for (_s, rel, _o, _sup) in found(extractor, text, "clinical trial", "Teclistamab in myeloma"))


def test_an_indication_clause_completes_the_approval_before_it(extractor):
    text = (
        "The FDA granted approval to tisagenlecleucel (Kymriah, Novartis, Inc.), a CD19-directed CAR T cell therapy, "
        "for adults with relapsed or refractory follicular lymphoma after two lines of therapy."
    )
    findings = found(extractor, text, "study", "FDA approves tisagenlecleucel")
    assert findings.get(("Tisagenlecleucel", "effectiveIn", "FollicularLymphoma", "SUPPORT")) == "effective.approval"
    for denied in (
        "The FDA has not granted approval to tisagenlecleucel (Kymriah), a CAR T cell therapy, for adults with follicular lymphoma.",
        "The FDA did not grant approval to tisagenlecleucel, for adults with follicular lymphoma.",
    ):
        assert ("Tisagenlecleucel", "effectiveIn", "FollicularLymphoma", "SUPPORT") not in found(extractor, denied, "study", ""), denied
