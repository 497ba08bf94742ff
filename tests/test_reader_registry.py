"""A reader is one record: registering it is all it takes for detection,
`tkg ingest DIR`, `--format` and text mining to know it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.model import StudyRecord, TextBlock
from kg.pipeline import records_from_file
from kg.readers import _READERS, Reader, detect_format, formats, reader, readers, register, study_suffixes


def read_note(path: Path) -> Iterator[StudyRecord]:
    """A toy format: the first line is the title, the rest the abstract."""
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    yield StudyRecord(id=path.stem, title=title, study_type="study", source=str(path), texts=(TextBlock("abstract", body),))


NOTE = Reader("note", f"{__name__}:read_note", (".note",), lambda suffix, head: suffix == ".note", True, "a note (.note)")


@pytest.fixture
def note_reader():
    saved = dict(_READERS)
    register(NOTE, before="card")
    yield NOTE
    _READERS.clear()
    _READERS.update(saved)


def test_builtin_order_and_detection(tmp_path):
    assert [r.name for r in readers()][:5] == ["yaml", "ctgov", "ctgov-legacy", "pubmed", "card"]
    cases = {
        "a.yaml": "x: 1",
        "b.json": "{}",
        "c.txt": '{"looks": "like JSON"}',  # content wins over .txt, as before the registry
        "d.xml": "<PubmedArticleSet/>",
        "e.xml": "<clinical_study>",
        "f.txt": "Title\n",
    }
    expected = {"a.yaml": "yaml", "b.json": "ctgov", "c.txt": "ctgov", "d.xml": "pubmed", "e.xml": "ctgov-legacy", "f.txt": "card"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert detect_format(tmp_path / name) == expected[name], name
    assert study_suffixes() == (".yaml", ".yml", ".json", ".xml", ".txt")
    assert not reader("yaml").text_mined and reader("card").text_mined


def test_a_registered_reader_is_known_everywhere(note_reader, tmp_path):
    path = tmp_path / "car-t.note"
    path.write_text("CAR-T in lymphoma\nTisagenlecleucel induced durable remissions in patients with diffuse large B-cell lymphoma.\n")
    assert "note" in formats() and ".note" in study_suffixes()
    assert detect_format(path) == "note"
    (record,) = records_from_file(path)
    assert record.findings, "text_mined=True sends the record through the extractor"
    from kg.cli import main

    store = str(tmp_path / "var")
    result = CliRunner().invoke(main, ["ingest", str(tmp_path), "--store", store])
    assert result.exit_code == 0, result.output
    with KnowledgeGraph.open(store) as kg:
        assert kg.stats()["studies"] == 1


def test_unknown_file_lists_what_is_read(tmp_path):
    from kg.errors import IngestError

    path = tmp_path / "x.bin"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(IngestError, match=r"PubMed XML \(\.xml\), a study card \(\.txt\); use --format"):
        detect_format(path)


def test_plugin_entry_points_are_loaded(monkeypatch):
    import kg.readers as registry

    class Entry:
        name = "note"

        def load(self):
            return NOTE

    saved = dict(_READERS)
    monkeypatch.setattr(registry, "entry_points", lambda group: [Entry()] if group == "tcell_kg.readers" else [])
    registry._load_plugins.cache_clear()
    try:
        assert "note" in formats()
        assert [r.name for r in readers()][-2:] == ["note", "card"]
    finally:
        registry._load_plugins.cache_clear()
        _READERS.clear()
        _READERS.update(saved)


def test_cli_help_lists_the_registered_formats():
    from kg.cli import main

    out = CliRunner().invoke(main, ["ingest", "--help"], terminal_width=200).output
    assert textwrap.shorten("[card|ctgov|ctgov-legacy|pubmed|yaml]", 200) in " ".join(out.split())
