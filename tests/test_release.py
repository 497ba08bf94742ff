"""`tkg release`: a dated folder whose checksums verify with sha256sum, a VoID
description that agrees with the exported data, a QC report, an atomically
replaced `latest` pointer, and nothing left behind by a failed release."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdflib import Graph, Literal, Namespace, URIRef

from kg import KnowledgeGraph
from kg.cli import main
from kg.export import export_format, export_formats

VOID = Namespace("http://rdfs.org/ns/void#")
DATASET = URIRef("https://w3id.org/tcell-kg/dataset")


@pytest.fixture(scope="module")
def released(built_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("releases")
    result = CliRunner().invoke(main, ["release", "--store", built_store, str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_folder_has_every_format_and_latest_points_at_it(released):
    latest = released / "latest"
    assert latest.is_symlink()
    folder = latest.resolve()
    assert folder.parent == released.resolve() and folder.name[:4].isdigit()
    names = {p.name for p in folder.iterdir()}
    for fmt in export_formats():
        assert export_format(fmt).filename in names, fmt
    assert {"SHA256SUMS", "void.ttl", "qc.md", "qc.json"} <= names
    assert not [p for p in released.iterdir() if p.name.startswith(".")]


def test_sha256sum_verifies(released):
    folder = (released / "latest").resolve()
    tool = shutil.which("sha256sum")
    if tool is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    result = subprocess.run([tool, "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split("  ", 1)[1] for line in (folder / "SHA256SUMS").read_text().splitlines()}
    assert listed == {p.name for p in folder.iterdir()} - {"SHA256SUMS"}


def test_a_tampered_file_fails_the_check(released, tmp_path):
    tool = shutil.which("sha256sum")
    if tool is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    copy = tmp_path / "copy"
    shutil.copytree((released / "latest").resolve(), copy)
    with (copy / "tcell-kg.ttl").open("ab") as handle:
        handle.write(b"\n# changed\n")
    result = subprocess.run([tool, "-c", "SHA256SUMS"], cwd=copy, capture_output=True, text=True)
    assert result.returncode != 0


def test_void_counts_agree_with_the_data(released, built_store):
    folder = (released / "latest").resolve()
    void = Graph().parse(folder / "void.ttl", format="turtle")
    rapper = shutil.which("rapper")
    if rapper:  # and by an independent Turtle parser
        checked = subprocess.run([rapper, "-i", "turtle", "-c", str(folder / "void.ttl")], capture_output=True, text=True)
        assert checked.returncode == 0 and f"returned {len(void)} triples" in checked.stderr, checked.stderr
    triples = int(void.value(DATASET, VOID.triples))
    # independent count: the N-Triples dump parsed by rdflib
    nt = Graph().parse(folder / "tcell-kg.nt", format="nt")
    assert triples == len(nt)
    assert int(void.value(DATASET, VOID.distinctSubjects)) == len(set(nt.subjects()))
    assert int(void.value(DATASET, VOID.properties)) == len(set(nt.predicates()))
    assert int(void.value(DATASET, VOID.distinctObjects)) == len(set(nt.objects()))
    from rdflib.namespace import RDF

    assert int(void.value(DATASET, VOID.classes)) == len(set(nt.objects(None, RDF.type)))
    assert void.value(DATASET, URIRef("http://purl.org/dc/terms/issued")) == Literal(
        folder.name[:10], datatype=URIRef("http://www.w3.org/2001/XMLSchema#date")
    )
    sources = set(void.objects(DATASET, URIRef("http://purl.org/dc/terms/source")))
    with KnowledgeGraph.open(built_store) as kg:
        assert len(sources) == kg.stats()["studies"]
    assert all(str(s).startswith("https://w3id.org/tcell-kg/study/") for s in sources)
    dumps = {str(o).rsplit("/", 1)[-1] for o in void.objects(DATASET, VOID.dataDump)}
    assert dumps == {export_format(f).filename for f in export_formats()}


def test_qc_report(released, built_store):
    folder = (released / "latest").resolve()
    qc = json.loads((folder / "qc.json").read_text())
    with KnowledgeGraph.open(built_store) as kg:
        stats = kg.stats()
    assert qc["stats"] == stats
    assert qc["validation"]["ok"] is True
    assert qc["gaps"]["counts"]["single_study"] == len(qc["gaps"]["single_study"]) > 0
    md = (folder / "qc.md").read_text()
    assert "## Validation" in md and "## Gap report" in md and str(stats["findings"]) in md
    coverage = qc["identifier_coverage"]
    assert coverage["antigens"]["mapped"] == 16 and set(coverage["antigens"]["unmapped"]) == {"CD3", "GD2"}
    assert "## Standard identifiers" in md and "| tumor types | 26 / 28 |" in md


def test_second_release_gets_a_new_folder_and_moves_latest(built_store, tmp_path):
    for _ in range(2):
        result = CliRunner().invoke(main, ["release", "--store", built_store, str(tmp_path), "--name", "r1" if _ == 0 else "r2"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "latest").resolve().name == "r2"
    assert (tmp_path / "r1").is_dir()
    again = CliRunner().invoke(main, ["release", "--store", built_store, str(tmp_path), "--name", "r2"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_a_failed_release_leaves_nothing(built_store, tmp_path, monkeypatch):
    import kg.export_graph

    def broken(kg, path):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kg.export_graph, "write_csv", broken)
    result = CliRunner().invoke(main, ["release", "--store", built_store, str(tmp_path), "--name", "broken"])
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []
