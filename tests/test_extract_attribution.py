"""Attribution: sentences that name no therapy go to the text's main therapy whatever the
study type; comparators and other causes are not the subject; lists share their cue.

Every sentence here is written for the test; none comes from ../shared.
"""

from __future__ import annotations

import pytest

from kg.extract import Extractor
from kg.model import StudyRecord, TextBlock
from kg.ontology import default_ontology


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(default_ontology())


def found(extractor: Extractor, text: str, study_type: str = "study", title: str = "") -> dict[tuple[str, str, str, str], str]:
    record = StudyRecord(id="t", title=title, study_type=study_type, source="test", texts=(TextBlock("abstract", text),))
    return {(f.subject, f.relation, f.object, f.support): f.rule for f in extractor.extract(record)}


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
