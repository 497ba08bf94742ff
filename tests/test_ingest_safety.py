"""`tkg ingest DIR` (issue 13): symbolic links leaving DIR are refused, a study id in two files is a conflict."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.cli import main as cli

GOOD = (Path(__file__).parent / "data" / "records" / "mini-car-t.yaml").read_text()


def study(study_id: str, title: str = "A small CAR-T test study") -> str:
    return GOOD.replace("id: mini-car-t", f"id: {study_id}").replace("title: A small CAR-T test study", f"title: {title}")


def test_symbolic_links_leaving_the_directory_are_refused_by_default(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.yaml").write_text(study("outside-1"))
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "inside.yaml").write_text(study("inside-1"))
    (feed / "link.yaml").symlink_to(outside / "secret.yaml")
    (feed / "sub").symlink_to(outside, target_is_directory=True)
    (feed / "alias.yaml").symlink_to(feed / "inside.yaml")  # a link that stays inside is fine
    store = str(tmp_path / "var")
    result = CliRunner().invoke(cli, ["ingest", "--store", store, str(feed)])
    assert result.exit_code == 0, result.output
    assert "symbolic links leading outside the directory refused" in result.output
    assert "refused:" in result.output and "link.yaml" in result.output
    with KnowledgeGraph.open(store) as kg:
        ids = {str(r["s"]).rsplit("/", 1)[-1] for r in kg.query("SELECT DISTINCT ?s WHERE { GRAPH ?s { ?a ?b ?c } }").rows}
    assert "inside-1" in ids and "outside-1" not in ids
    followed = CliRunner().invoke(cli, ["ingest", "--store", store, "--follow-symlinks", str(feed)])
    assert followed.exit_code == 0, followed.output
    with KnowledgeGraph.open(store) as kg:
        ids = {str(r["s"]).rsplit("/", 1)[-1] for r in kg.query("SELECT DISTINCT ?s WHERE { GRAPH ?s { ?a ?b ?c } }").rows}
    assert "outside-1" in ids


def test_two_files_with_one_study_id_are_reported_as_a_conflict(tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.yaml").write_text(study("twin", "First version"))
    (feed / "b.yaml").write_text(study("twin", "Second version"))
    (feed / "c.yaml").write_text(study("single"))
    result = CliRunner().invoke(cli, ["ingest", "--store", str(tmp_path / "var"), str(feed)])
    assert result.exit_code == 0, result.output
    assert "1 study ids in more than one file" in result.output
    assert "conflict: study id 'twin'" in result.output and "a.yaml" in result.output and "b.yaml" in result.output
