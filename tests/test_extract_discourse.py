"""Rules that read beyond one clause: anaphora, denied success, denied toxicity, resolution
by a strategy, the main therapy of a primary report. Every sentence is written for the test."""

from __future__ import annotations

import pytest
from extraction import found

from kg.model import StudyRecord, TextBlock


def test_its_refers_to_the_therapy_of_the_sentence_before(extractor):
    text = "TIL therapy is made from a patient's tumor. However, its use in melanoma is limited by severe neurotoxicity."
    rules = found(extractor, text)
    assert ("TIL", "causesToxicity", "Neurotoxicity", "SUPPORT") in rules


def test_no_anaphora_when_the_sentence_before_named_two_therapies(extractor):
    text = "TIL therapy and CAR-T cell therapy differ. However, its use is limited by severe neurotoxicity."
    rules = found(extractor, text)
    assert not any(k[1] == "causesToxicity" for k in rules), rules


def test_success_denied_is_a_refutation_even_with_a_negation(extractor):
    text = "CAR-T cells transformed lymphoma care. But their efficacy in solid tumors has not yet been demonstrated."
    rules = found(extractor, text)
    assert rules.get(("CART", "effectiveIn", "SolidTumor", "REFUTE")) == "effective.refute"
    assert ("CART", "effectiveIn", "SolidTumor", "SUPPORT") not in rules


def test_always_poor_response_is_a_refutation(extractor):
    rules = found(extractor, "In solid tumors, the response to T cell engager therapy is always poor.")
    assert rules.get(("TCellEngager", "effectiveIn", "SolidTumor", "REFUTE")) == "effective.refute"


def test_none_of_the_patients_refutes_the_toxicity(extractor):
    text = "None of the five patients suffered neurotoxicity, but all had cytokine release syndrome."
    rules = found(extractor, text, study_type="clinical trial", title="Tisagenlecleucel in B-cell acute lymphoblastic leukemia")
    assert rules.get(("Tisagenlecleucel", "causesToxicity", "Neurotoxicity", "REFUTE")) == "toxicity.refute"
    assert ("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome", "REFUTE") not in rules
    assert ("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT") in rules


def test_a_toxicity_resolved_after_a_strategy(extractor):
    text = "All patients experienced cytokine release syndrome, which resolved after tocilizumab."
    rules = found(extractor, text, study_type="clinical trial", title="Tisagenlecleucel in B-cell acute lymphoblastic leukemia")
    assert rules.get(("ToxicityManagement", "mitigatesToxicity", "CytokineReleaseSyndrome", "SUPPORT")) == "mitigates.resolution"
    assert rules.get(("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT")) == "toxicity.main-therapy"


def test_a_prior_strategy_is_still_no_subject(extractor):
    rules = found(extractor, "Patients progressed after checkpoint blockade and then received teclistamab for multiple myeloma.")
    assert not any(k[0] == "CheckpointBlockade" for k in rules), rules


def test_without_after_the_tumor_does_not_deny_the_result(extractor):
    text = "Teclistamab induced complete remission in multiple myeloma without serious adverse effects."
    assert ("Teclistamab", "effectiveIn", "MultipleMyeloma", "SUPPORT") in found(extractor, text)


def test_we_evaluated_the_efficacy_is_a_design(extractor):
    rules = found(extractor, "We evaluated the efficacy of teclistamab in multiple myeloma.", study_type="study")
    assert rules == {("Teclistamab", "investigatedIn", "MultipleMyeloma", "SUPPORT"): "investigated.aim"}


def test_a_primary_report_about_a_modality_has_it_as_main_therapy(extractor):
    rules = found(
        extractor,
        "Three patients had grade 2 cytokine release syndrome.",
        study_type="study",
        title="Novel CAR T cells induce remission in B-cell acute lymphoblastic leukemia",
    )
    assert rules == {("CART", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT"): "toxicity.main-therapy"}
    review = found(extractor, "Three patients had grade 2 cytokine release syndrome.", title="CAR T cells: a review")
    assert review == {}


def test_a_comparator_is_not_a_subject(extractor):
    rules = found(extractor, "Tisagenlecleucel achieved higher response rates than blinatumomab in B-cell acute lymphoblastic leukemia.")
    assert rules == {("Tisagenlecleucel", "effectiveIn", "BALL", "SUPPORT"): "effective.result"}
    rules = found(extractor, "Patients were randomized to teclistamab versus talquetamab; cytokine release syndrome was frequent.")
    assert not any(k[0] == "Talquetamab" for k in rules), rules


def test_will_evaluate_whether_is_an_aim_not_doubt(extractor):
    text = "The investigators will evaluate whether teclistamab improves survival in multiple myeloma."
    assert found(extractor, text) == {("Teclistamab", "investigatedIn", "MultipleMyeloma", "SUPPORT"): "investigated.aim"}
    assert found(extractor, "Whether teclistamab improves survival in multiple myeloma is unknown.") == {}


def test_doubt_governs_its_clause_and_what_follows_not_what_precedes(extractor):
    text = (
        "While CAR-T cell therapy achieved durable remissions in B-cell acute lymphoblastic leukemia, "
        "whether it can help in solid tumors is unknown."
    )
    rules = found(extractor, text)
    assert rules == {("CART", "effectiveIn", "BALL", "SUPPORT"): "effective.result"}
    assert found(extractor, "It is unknown whether CAR-T cell therapy, given early, induces remissions in solid tumors.") == {}


def test_trials_have_been_performed_in_a_tumor_type(extractor):
    text = "Although TCR-T cell therapy has not been approved, many trials have been performed, particularly for solid tumors."
    assert found(extractor, text) == {("TCRT", "investigatedIn", "SolidTumor", "SUPPORT"): "investigated.studied"}


def test_a_definite_result_refers_to_the_therapy_just_named(extractor):
    text = "CAR-T cell therapy transformed lymphoma care. The clinical results in solid tumors have been much less encouraging."
    rules = found(extractor, text)
    assert rules.get(("CART", "effectiveIn", "SolidTumor", "REFUTE")) == "effective.refute"


def test_an_unnamed_failure_refutes_the_main_therapy(extractor):
    rules = found(
        extractor,
        "After treatment, the benefit was not significant.",
        study_type="trial registration",
        title="CAR-T cells in relapsed multiple myeloma",
    )
    assert rules == {("CART", "effectiveIn", "MultipleMyeloma", "REFUTE"): "effective.refute"}


def test_remarkable_strides_is_a_result(extractor):
    text = "CAR-T cell therapy has enabled remarkable strides in the treatment of hematologic malignancies."
    assert found(extractor, text) == {("CART", "effectiveIn", "HematologicMalignancy", "SUPPORT"): "effective.result"}


def test_a_reactive_receptor_targets_its_antigen(extractor):
    rules = found(extractor, "Patients received NY-ESO-1 reactive TCR-T cells.")
    assert rules.get(("TCRT", "targetsAntigen", "NYESO1", "SUPPORT")) == "antigen.qualifier"


def test_a_trial_title_states_what_it_studies(extractor):
    record = StudyRecord(
        id="t",
        title="Teclistamab in Relapsed Multiple Myeloma",
        study_type="trial registration",
        source="test",
        texts=(TextBlock("brief title", "Teclistamab in Relapsed Multiple Myeloma"),),
    )
    rules = {(f.subject, f.relation, f.object, f.support): f.rule for f in extractor.extract(record)}
    assert rules == {("Teclistamab", "investigatedIn", "MultipleMyeloma", "SUPPORT"): "investigated.design"}
    review = StudyRecord(id="r", title="", study_type="narrative review", source="test", texts=record.texts)
    assert extractor.extract(review) == []


def test_a_targeting_verb_names_the_main_therapys_target(extractor):
    text = "The cells were genetically modified to target several surface antigens, including BCMA."
    rules = found(extractor, text, study_type="clinical trial", title="CAR-T cells in multiple myeloma")
    assert rules.get(("CART", "targetsAntigen", "BCMA", "SUPPORT")) == "antigen.qualifier"
    qualifier = found(
        extractor, "Patients had CD19-positive disease.", study_type="clinical trial", title="CAR-T cells in multiple myeloma"
    )
    assert not any(k[1] == "targetsAntigen" for k in qualifier)


def test_a_strategy_that_enhances_a_therapy_is_applied_to_it(extractor):
    text = "Implementing logic-gated CARs and better delivery can all enhance the efficacy of CAR-T cell therapy."
    rules = found(extractor, text)
    assert rules.get(("LogicGatedCAR", "appliedTo", "CART", "SUPPORT")) == "applied.enhances"


def test_a_strategy_the_patients_received_is_applied_to_the_main_therapy(extractor):
    text = "All 40 patients received a step-up dosing regimen."
    rules = found(extractor, text, study_type="study", title="Agency approves teclistamab for relapsed multiple myeloma")
    assert rules == {("ToxicityManagement", "appliedTo", "Teclistamab", "SUPPORT"): "applied.main-therapy"}
    prior = found(
        extractor,
        "All patients had progressed after checkpoint blockade.",
        study_type="study",
        title="Agency approves teclistamab for relapsed multiple myeloma",
    )
    assert prior == {}


def test_a_nominal_remedy_addresses_the_barrier(extractor):
    text = "Adding checkpoint blockade, promising results were obtained from the reduction of T cell exhaustion."
    rules = found(extractor, text)
    assert rules.get(("CheckpointBlockade", "addressesBarrier", "TCellExhaustion", "SUPPORT")) == "addresses.cue"


@pytest.mark.parametrize(
    "text, therapy, tumor",
    [
        ("No objective responses were observed in pancreatic cancer patients treated with CAR-T cells.", "CART", "PancreaticCancer"),
        ("CAR-T cells failed to induce responses in glioblastoma.", "CART", "Glioblastoma"),
    ],
)
def test_denied_responses_refute(extractor, text, therapy, tumor):
    assert found(extractor, text) == {(therapy, "effectiveIn", tumor, "REFUTE"): "effective.refute"}


def test_being_compared_is_investigated(extractor):
    rules = found(extractor, "Lifileucel is being compared with investigator's choice in melanoma.")
    assert rules == {("Lifileucel", "investigatedIn", "Melanoma", "SUPPORT"): "investigated.studied"}
