"""Sentence splitting and clauses on real typography: "et al.", abbreviations, curly quotes,
periods inside names, parentheses with commas. Every sentence is written for the test."""

from __future__ import annotations

import pytest

from kg.extract import Extractor, sentences
from kg.model import StudyRecord, TextBlock
from kg.ontology import default_ontology


def split(text: str) -> list[str]:
    return [text[a:b] for a, b in sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Lee et al. reported CRS in most patients. Then they stopped.",
            ["Lee et al. reported CRS in most patients.", "Then they stopped."],
        ),
        ("As shown by Dr. Smith in ref. 12, it works. Next.", ["As shown by Dr. Smith in ref. 12, it works.", "Next."]),
        ("Claudin 18.2 is the target. The cells bind it.", ["Claudin 18.2 is the target.", "The cells bind it."]),
        ("The U.S. agency approved it (Fig. 2). Next.", ["The U.S. agency approved it (Fig. 2).", "Next."]),
        (
            "They said \u201cit works.\u201d \u201cIt does.\u201d Next.",
            ["They said \u201cit works.\u201d", "\u201cIt does.\u201d", "Next."],
        ),
        ("The agency approved it. \u2018Lete-cel\u2019 is next.", ["The agency approved it.", "\u2018Lete-cel\u2019 is next."]),
    ],
)
def test_sentence_ends(text, expected):
    assert split(text) == expected


def test_a_curly_quoted_sentence_keeps_its_findings_apart():
    extractor = Extractor(default_ontology())
    text = "Experts wrote \u201cteclistamab caused cytokine release syndrome.\u201d \u201cTocilizumab reduced it.\u201d"
    record = StudyRecord(id="t", title="", study_type="narrative review", source="test", texts=(TextBlock("abstract", text),))
    quotes = {f.quote for f in extractor.extract(record) if f.relation == "causesToxicity"}
    assert quotes == {"Experts wrote \u201cteclistamab caused cytokine release syndrome.\u201d"}


def test_a_run_on_sentence_without_a_space_is_split():
    assert split("It is common in the blood system.There is no cure. Next.") == [
        "It is common in the blood system.",
        "There is no cure.",
        "Next.",
    ]
    assert split("The 1G4.Pyr construct and e.g.The value stay whole.") == ["The 1G4.Pyr construct and e.g.The value stay whole."]
