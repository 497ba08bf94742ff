"""Measured quality on the hand-annotated gold set (tests/gold)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kg.cli import main
from kg.evaluate import DEFAULT_GOLD_DIR, Score, evaluate, load_gold, match_entities

REQUIRED_TAGS = {"car-t", "til", "tce", "bite", "immtac", "tcr-t", "coordination", "abbreviation", "negation", "hedging", "no-relation"}


@pytest.fixture(scope="module")
def result():
    return evaluate(DEFAULT_GOLD_DIR)


def test_gold_set_size_and_coverage():
    gold = load_gold(DEFAULT_GOLD_DIR)
    assert len(gold) >= 20
    tags = {tag for text in gold for tag in text.tags}
    assert REQUIRED_TAGS <= tags, f"missing tags: {REQUIRED_TAGS - tags}"
    assert any(not text.relations for text in gold), "a text whose right answer is no relation at all"
    assert any(r[3] == "REFUTE" for text in gold for r in text.relations)


def test_entity_f1(result):
    assert result.entities.f1 >= 0.95, result.entities


def test_relation_precision_and_recall(result):
    assert result.relations.precision >= 0.90, result.relations
    assert result.relations.recall >= 0.80, result.relations


def test_scores():
    score = Score(tp=8, fp=2, fn=8)
    assert (score.precision, score.recall) == (0.8, 0.5)
    assert score.f1 == pytest.approx(2 * 0.8 * 0.5 / 1.3)
    assert Score(0, 0, 0).f1 == 1.0


def test_entity_matching_by_overlap_and_entity():
    gold = [(0, 10, "CART"), (20, 30, "CD19")]
    tp, fp, fn = match_entities(gold, [(2, 8, "CART"), (20, 30, "BCMA"), (40, 44, "TIL")])
    assert tp == [(0, 10, "CART")]
    assert fp == [(20, 30, "BCMA"), (40, 44, "TIL")]
    assert fn == [(20, 30, "CD19")]


def test_eval_command_prints_scores_and_errors(tmp_path):
    (tmp_path / "01-x.yaml").write_text(
        "study_type: review\ntext: CAR-T cells face antigen escape.\n"
        "entities:\n  - {text: CAR-T cells, entity: CART}\n  - {text: antigen escape, entity: AntigenEscape}\n"
        "relations:\n  - {subject: CART, relation: facesBarrier, object: AntigenEscape, support: SUPPORT}\n"
        "  - {subject: TIL, relation: facesBarrier, object: AntigenEscape, support: SUPPORT}\n"
    )
    out = CliRunner().invoke(main, ["eval", "--gold", str(tmp_path), "--verbose"])
    assert out.exit_code == 0, out.output
    assert "entities       1.000   1.000   1.000" in out.output
    assert "relations      1.000   0.500   0.667" in out.output
    assert "relation FN TIL facesBarrier AntigenEscape SUPPORT" in out.output


def test_bad_gold_file_is_one_line_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("study_type: review\ntext: CAR-T cells.\nentities:\n  - {text: TIL, entity: TIL}\n")
    out = CliRunner().invoke(main, ["eval", "--gold", str(tmp_path)])
    assert out.exit_code == 1
    assert "not found" in out.output
