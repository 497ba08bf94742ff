"""`tkg lexicon candidates`: unknown therapy-like names from files and from a store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kg.cli import main

CARD = """Zorpocabtagene autoleucel in relapsed myeloma

Study Details

Study typeClinical trial
EvidenceLevel 3
PublishedMay 2025
View Original Abstract ↓
This trial tests zorpocabtagene autoleucel (XB-2207), CD70 CAR-T cells given after lymphodepletion, in patients with multiple myeloma.
XB-2207 was compared with pembrolizumab in the ALPHA-1 trial.

Teclistamab was given to a second cohort.
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_candidates_from_a_file(tmp_path):
    card = tmp_path / "card.txt"
    card.write_text(CARD, encoding="utf-8")
    result = run("lexicon", "candidates", str(card), "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["XB-2207"]["kind"] == "code-name"
    assert rows["XB-2207"]["count"] == 2 and rows["XB-2207"]["studies"] == 1
    assert "given after lymphodepletion" in rows["CD70 CAR-T"]["examples"][0]["sentence"]
    assert any(name.endswith("autoleucel") for name in rows)
    for known in ("Teclistamab", "pembrolizumab", "ALPHA-1"):
        assert known not in rows


def test_candidates_from_a_store(tmp_path):
    card = tmp_path / "card.txt"
    card.write_text(CARD, encoding="utf-8")
    store = str(tmp_path / "store")
    assert run("ingest", str(card), "--store", store).exit_code == 0
    result = run("lexicon", "candidates", "--store", store)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 candidate names in 1 studies")
    assert "XB-2207  [code-name]  2 mentions in 1 studies" in result.output


def test_candidates_help_names_the_kinds():
    result = run("lexicon", "candidates", "--help")
    assert "-leucel" in result.output and "code names" in result.output
