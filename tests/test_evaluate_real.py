"""Real-text scoring (kg.evaluate.evaluate_real and `tkg eval --real`) on
annotations and findings written here: the matching rules of the annotation
policy (regex on labels, a product answers to its modality one level up,
REFUTE, relation alternatives), the verdict of every finding, the totals, and
one clear error for a broken annotation set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import main
from kg.errors import IngestError
from kg.evaluate import Link, RealText, Vocabulary, evaluate_real, load_real_texts, score_records
from kg.model import REFUTE, TEXT_MINED, Finding, StudyRecord
from kg.ontology import default_ontology


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(default_ontology())


def finding(subject: str, relation: str, obj: str, support: str = "SUPPORT", quote: str = "q", start: int = 0) -> Finding:
    return Finding(
        subject, relation, obj, quote=quote, section="abstract", start=start, end=start + len(quote), support=support, method=TEXT_MINED
    )


def record(*findings: Finding, mentions: tuple[str, ...] = ()) -> StudyRecord:
    return StudyRecord(id="t", title="t", study_type="review", source="t.txt", findings=findings, mentions=mentions)


def text(must=(), must_not=(), entities=()) -> RealText:
    return RealText(
        "texts/t.txt", "kind", tuple(entities), tuple(Link.parse(x, "here") for x in must), tuple(Link.parse(x, "here") for x in must_not)
    )


def test_product_subject_answers_to_its_modality_but_not_the_reverse(vocabulary):
    product = record(finding("Tisagenlecleucel", "causesToxicity", "CytokineReleaseSyndrome"))
    modality = record(finding("CART", "causesToxicity", "CytokineReleaseSyndrome"))
    by_modality = text(must=[["CAR-T cell therapy", "toxicity", "cytokine release"]])
    by_product = text(must=[["tisagenlecleucel", "toxicity", "cytokine release"]])
    assert len(score_records(by_modality, [product], vocabulary).found) == 1
    assert len(score_records(by_product, [product], vocabulary).found) == 1
    assert score_records(by_product, [modality], vocabulary).missed == list(by_product.must)
    # the object does not climb: a product object is not its modality
    applied = record(finding("ToxicityManagement", "appliedTo", "Tisagenlecleucel"))
    assert score_records(text(must=[["toxicity management", "applied", "^CAR-T cell therapy$"]]), [applied], vocabulary).missed


def test_patterns_are_case_insensitive_searches_in_alt_labels(vocabulary):
    r = record(finding("Blinatumomab", "targetsAntigen", "CD19"))
    assert score_records(text(must=[["BLINCYTO", "antigen", "^cd19$"]]), [r], vocabulary).found
    assert score_records(text(must=[["blinatumomab", "antigen", "^CD1$"]]), [r], vocabulary).missed


def test_refute_needs_a_refuting_finding_and_support_a_supporting_one(vocabulary):
    refuted = record(finding("Tisagenlecleucel", "causesToxicity", "Neurotoxicity", support=REFUTE))
    assert score_records(text(must=[["tisagenlecleucel", "toxicity", "neurotoxicity", "REFUTE"]]), [refuted], vocabulary).found
    scored = score_records(text(must=[["tisagenlecleucel", "toxicity", "neurotoxicity"]]), [refuted], vocabulary)
    assert scored.missed and [f.verdict for f in scored.findings] == ["unannotated"]


def test_relation_alternatives_and_wrong_links(vocabulary):
    r = record(
        finding("Blinatumomab", "investigatedIn", "BALL", quote="studied in B-ALL"), finding("Blinatumomab", "targetsAntigen", "CD3")
    )
    scored = score_records(
        text(must=[["blinatumomab", "effective|investigated", "B-cell acute"]], must_not=[["blinatumomab", "antigen", "^CD3$"]]),
        [r],
        vocabulary,
    )
    assert len(scored.found) == 1 and [link.shown for link, _ in scored.wrong] == ['["blinatumomab", "antigen", "^CD3$"]']
    assert [f.verdict for f in scored.findings] == ["stated", "wrong"]


def test_unannotated_findings_and_entities(vocabulary):
    r = record(
        finding("CART", "facesBarrier", "AntigenEscape", quote="CAR-T cells meet antigen escape."),
        finding("CART", "facesBarrier", "AntigenEscape", quote="CAR-T cells meet antigen escape."),  # same node: counted once
        mentions=("SolidTumor",),
    )
    scored = score_records(text(entities=["CAR-T", "^solid tumor$", "antigen escape", "melanoma"]), [r], vocabulary)
    assert [(f.relation, f.quote) for f in scored.unannotated] == [("facesBarrier", "CAR-T cells meet antigen escape.")]
    assert scored.entities_found == ["CAR-T", "^solid tumor$", "antigen escape"]  # finding ends count as mentions


def test_totals_and_rule_counts(tmp_path, vocabulary):
    a = score_records(
        text(must=[["blinatumomab", "antigen", "CD19"]]), [record(finding("Blinatumomab", "targetsAntigen", "CD19"))], vocabulary
    )
    b = score_records(
        text(must=[["blinatumomab", "antigen", "CD22"]], must_not=[["blinatumomab", "antigen", "CD3"]]),
        [record(finding("Blinatumomab", "targetsAntigen", "CD3"), finding("CART", "causesToxicity", "Neurotoxicity"))],
        vocabulary,
    )
    from kg.evaluate import RealEvaluation

    result = RealEvaluation(tmp_path, [a, b], 0.0)
    t = result.totals
    assert (t.must, t.found, t.must_not, t.wrong, t.findings, t.unannotated) == (2, 1, 1, 1, 3, 1)
    assert (t.link_recall, t.precision, round(t.unannotated_share, 3)) == (0.5, 0.5, 0.333)
    (rule,) = result.by_rule()  # no finding carries a rule yet: one bucket
    assert (rule.findings, rule.stated, rule.wrong, rule.unannotated, rule.errors) == (3, 1, 1, 1, 2)


def test_findings_carrying_a_rule_are_counted_per_rule(vocabulary):
    """The extractor's findings gain a ``rule``; the counts read it when present."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class RuledFinding(Finding):
        rule: str = ""

    f1 = RuledFinding("CART", "causesToxicity", "Neurotoxicity", "q", "abstract", 0, 1, method=TEXT_MINED, rule="toxicity-cue")
    f2 = RuledFinding("CART", "facesBarrier", "AntigenEscape", "q", "abstract", 5, 6, method=TEXT_MINED, rule="barrier-cue")
    scored = score_records(text(must=[["CAR-T", "toxicity", "neurotoxicity"]]), [record(f1, f2)], vocabulary)
    assert sorted((f.rule, f.verdict) for f in scored.findings) == [("barrier-cue", "unannotated"), ("toxicity-cue", "stated")]


def write_set(tmp_path: Path, annotations, files=("t.txt",)) -> Path:
    (tmp_path / "texts").mkdir(exist_ok=True)
    for name in files:
        (tmp_path / "texts" / name).write_text("x", encoding="utf-8")
    (tmp_path / "annotations.json").write_text(json.dumps(annotations), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"file": "texts/t.txt"}, "non-empty JSON list"),
        ([{"file": "texts/missing.txt"}], "the text 'texts/missing.txt' is missing"),
        ([{"file": "texts/t.txt", "must": [["a", "cures", "b"]]}], "unknown relation word 'cures'"),
        ([{"file": "texts/t.txt", "must": [["a(", "toxicity", "b"]]}], "bad regular expression 'a('"),
        ([{"file": "texts/t.txt", "must_not": [["a", "toxicity", "b", "NEGATE"]]}], "bad fourth element"),
        ([{"file": "texts/t.txt", "entities": "CD19"}], "'entities' is not a list"),
    ],
)
def test_broken_annotations_are_one_clear_error(tmp_path, annotations, message):
    directory = write_set(tmp_path, annotations)
    with pytest.raises(IngestError, match=message.replace("(", r"\(")):
        load_real_texts(directory)
    out = CliRunner().invoke(main, ["eval", "--real", str(directory)])
    assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output


def test_a_directory_without_annotations_says_what_is_expected(tmp_path):
    out = CliRunner().invoke(main, ["eval", "--real", str(tmp_path)])
    assert out.exit_code == 1 and "no annotations.json" in out.output and "texts/" in out.output


def test_an_unreadable_text_counts_as_finding_nothing(tmp_path):
    directory = write_set(
        tmp_path, [{"file": "texts/t.json", "kind": "k", "must": [["CAR-T", "toxicity", "neurotoxicity"]]}], files=("t.json",)
    )
    (result,) = evaluate_real(directory).scores
    assert result.error and "JSON" in result.error and result.missed and not result.findings
