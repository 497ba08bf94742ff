"""The tkg command line, driven with click's CliRunner as a user would."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdflib import Graph, Literal, URIRef

from kg import KnowledgeGraph
from kg.cli import COMMANDS, main
from kg.namespaces import TKG

DATA = Path(__file__).parent / "data" / "records"


def tkg(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def small_store(tmp_path: Path) -> str:
    """A store built from the test records (not the shipped data)."""
    data = tmp_path / "data"
    (data / "studies").mkdir(parents=True)
    for path in DATA.glob("*.yaml"):
        shutil.copy(path, data / "studies" / path.name)
    store = str(tmp_path / "var")
    result = tkg("build", "--store", store, "--data", str(data))
    assert result.exit_code == 0, result.output
    assert "built 2 studies" in result.output and "published release" in result.output
    return store


def test_help_lists_every_command():
    result = tkg("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_build_then_cq1_lists_car_t_with_study_and_quote(built_store):
    result = tkg("query", "--store", built_store, "-n", "cq1", "--format", "json")
    assert result.exit_code == 0, result.output
    bindings = json.loads(result.output)["results"]["bindings"]
    car_t = [b for b in bindings if b["modality"]["value"] == str(TKG.CART)]
    assert car_t
    assert any(b["study"]["value"].endswith("/review-2026-tcell-therapies") for b in car_t)
    assert all(b["quote"]["value"] for b in car_t)
    table = tkg("query", "--store", built_store, "-n", "cq1")
    assert "tkg:CART" in table.output and "rows)" in table.output


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xml"])
def test_query_result_formats(small_store, fmt):
    result = tkg("query", "--store", small_store, "--format", fmt, "SELECT ?s WHERE { ?s a <https://w3id.org/tcell-kg/Study> }")
    assert result.exit_code == 0, result.output
    assert "mini-car-t" in result.output


def test_query_turtle_for_construct(small_store):
    result = tkg("query", "--store", small_store, "--format", "turtle",
                 "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <https://w3id.org/tcell-kg/graph/mini-til> { ?s ?p ?o } }")
    assert result.exit_code == 0, result.output
    graph = Graph().parse(data=result.output, format="turtle")
    assert (URIRef("https://w3id.org/tcell-kg/study/mini-til"), None, None) in graph


def test_query_from_file_and_stats(small_store, tmp_path):
    q = tmp_path / "q.rq"
    q.write_text("ASK { ?f <https://w3id.org/tcell-kg/support> \"REFUTE\" }")
    assert tkg("query", "--store", small_store, "-f", str(q)).output.strip() == "true"
    stats = tkg("stats", "--store", small_store)
    assert "studies    2" in stats.output and "findings   5" in stats.output
    assert "standard identifiers" in stats.output
    assert re.search(r"tumor types\s+26/28 +mapped", stats.output) and re.search(r"antigens\s+16/18 +mapped", stats.output), stats.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "SELECT * WHERE {"], "SPARQL syntax error"),
        (["query", "-n", "cq99"], "no named query 'cq99'"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(small_store, args, message):
    result = CliRunner().invoke(main, [args[0], "--store", small_store, *args[1:]])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_query_before_any_build_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["query", "--store", str(tmp_path / "none"), "-n", "cq1"])
    assert result.exit_code == 1 and "run `tkg build` first" in result.output


def test_ingest_reports_each_bad_file_and_loads_the_rest(small_store, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nstudy_type: review\nfindings: []\nevidence_level: nine\n")
    good = tmp_path / "extra.yaml"
    good.write_text((DATA / "mini-til.yaml").read_text().replace("id: mini-til", "id: extra-til"))
    result = CliRunner().invoke(main, ["ingest", "--store", small_store, str(bad), str(good)])
    assert result.exit_code == 1
    assert f"{bad}: field evidence_level" in result.output
    assert "ingested 1 studies from 1 of 2 files" in result.output and "1 failed" in result.output
    stats = tkg("stats", "--store", small_store).output
    assert "studies    3" in stats


def test_ingest_of_a_folder_names_every_file_it_did_not_take(small_store, tmp_path):
    folder = tmp_path / "drop"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "extra.yaml").write_text((DATA / "mini-til.yaml").read_text().replace("id: mini-til", "id: folder-til"))
    (folder / "notes.md").write_text("# not a study\n")
    (folder / "broken.xml").write_text("garbage <xml")
    (folder / ".DS_Store").write_bytes(b"\0\0")
    result = CliRunner().invoke(main, ["ingest", "--store", small_store, str(folder)])
    assert result.exit_code == 1
    assert f"skipped: {folder / 'notes.md'}: not a study file" in result.output
    assert f"{folder / 'broken.xml'}: malformed XML at line 1" in result.output
    assert ".DS_Store" not in result.output
    assert "ingested 1 studies from 1 of 2 files" in result.output


def test_validate_passes_then_fails_on_a_tampered_quote(small_store):
    ok = tkg("validate", "--store", small_store)
    assert ok.exit_code == 0 and "no violations" in ok.output
    with KnowledgeGraph.open(small_store, mode="write") as kg:
        rows = kg.query("SELECT ?f ?g WHERE { GRAPH ?g { ?f <https://w3id.org/tcell-kg/quoteStart> ?s } } LIMIT 1").rows
        finding, graph = rows[0]["f"], str(rows[0]["g"])
        data = kg.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}").to_graph()
        data.set((finding, TKG.quoteStart, Literal(3)))
        data.remove((finding, TKG.extractionMethod, None))
        kg.store.replace_graph(graph, data)
        kg.publish()
    bad = CliRunner().invoke(main, ["validate", "--store", small_store])
    assert bad.exit_code == 1
    assert "quote does not match the text" in bad.output
    assert "extractionMethod" in bad.output
    assert graph.rsplit("/", 1)[-1] + ":" in bad.output  # reported by study


def test_build_refuses_invalid_data_and_keeps_the_published_graph(small_store, tmp_path):
    before = tkg("stats", "--store", small_store).output
    data = tmp_path / "broken"
    (data / "studies").mkdir(parents=True)
    broken = (DATA / "mini-til.yaml").read_text().replace("object: ManufacturingLogistics", "object: Nowhere")
    (data / "studies" / "x.yaml").write_text(broken)
    result = CliRunner().invoke(main, ["build", "--store", small_store, "--data", str(data)])
    assert result.exit_code == 1 and "unknown entity 'Nowhere'" in result.output
    assert tkg("stats", "--store", small_store).output == before


def test_exit_codes_bad_command_line_2_bad_input_1(tmp_path):
    """One convention (README, "Exit codes"): 2 for a malformed command line, 1 for input the command cannot use."""
    runner = CliRunner()
    assert runner.invoke(main, ["query", "--format", "nope", "ASK {}"]).exit_code == 2
    assert runner.invoke(main, ["query", "ASK {}", "--name", "cq1"]).exit_code == 2
    docx = runner.invoke(main, ["export", "--format", "docx", "-o", str(tmp_path / "out.docx")])
    assert docx.exit_code == 2 and "'docx' is not one of" in docx.output and "kgx" in docx.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["ingest", str(empty), "--store", str(tmp_path / "var")])
    assert result.exit_code == 1 and "error: no study files found" in result.output
