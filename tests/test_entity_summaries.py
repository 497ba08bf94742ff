"""The entity page serves the summary its release stored at publish
(kg/views/summaries.py), a page of studies at a time; without the stored
files it computes the same from the store. (That the stored summaries equal
the store's computation after adds, replacements and removals is
tests/test_incremental.py's.)"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from kg import KnowledgeGraph
from kg.artifacts import INDEX, cache_dir, clear_memo
from kg.views.common import Vocabulary
from kg.views.summaries import ENTITIES_DIR
from web import create_app

TKG = "https://w3id.org/tcell-kg/"


@pytest.fixture()
def store(built_store, tmp_path) -> str:
    target = tmp_path / "var"
    shutil.copytree(built_store, target, symlinks=True)
    return str(target)


def _folder(store: str):
    with KnowledgeGraph.open(store) as kg:
        return cache_dir(kg) / ENTITIES_DIR


def _get(client, path: str) -> dict:
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.data[:300]
    return response.get_json()


def test_a_store_given_by_a_relative_path_serves_its_summaries(store, monkeypatch):
    """`make serve` runs `tkg serve --store var`: the summaries' index was opened
    by a file URI made from the relative path, and every entity page failed (500)."""
    from pathlib import Path

    monkeypatch.chdir(Path(store).parent)
    clear_memo()
    client = create_app({"store": Path(store).name, "rate_limit": "0"}).test_client()
    page = _get(client, "/entity/CART.json?limit=2")
    assert page["studies"] and page["relations"]


def test_the_page_shows_the_stored_summary(store):
    folder = _folder(store)
    clear_memo()
    client = create_app({"store": store, "rate_limit": "0"}).test_client()
    before = _get(client, "/entity/CART.json?limit=2")
    assert before["relations"] and before["studies_page"]["total"] > 3

    # mark the stored copy: a relation's label and the third study's title (a row of the index)
    summary = json.loads((folder / "CART.json").read_text())
    summary["relations"][0]["label"] = "MARKED relation"
    (folder / "CART.json").write_text(json.dumps(summary))
    study = _get(client, "/entity/CART.json?offset=2&limit=1")["studies"][0]
    with sqlite3.connect(folder.parent.parent / INDEX) as db:
        db.execute("UPDATE e_list SET title = 'MARKED study' WHERE entity = ? AND study = ?", (TKG + "CART", study["iri"]))
    clear_memo()

    page = _get(client, "/entity/CART.json?offset=2&limit=2")
    assert page["relations"][0]["label"] == "MARKED relation"
    assert page["studies"][0]["title"] == "MARKED study" and page["studies"][0]["iri"] == study["iri"]
    assert page["studies_page"] == {**before["studies_page"], "offset": 2, "previous_offset": 0, "next_offset": 4}
    html = client.get("/entity/CART?offset=2&limit=2").get_data(as_text=True)
    assert "MARKED relation" in html and "MARKED study" in html

    # without the stored summaries the page is computed from the store again, unmarked
    shutil.rmtree(folder)
    with sqlite3.connect(folder.parent.parent / INDEX) as db:
        db.execute("UPDATE e_list SET title = ? WHERE study = ?", (study["title"], study["iri"]))
    clear_memo()
    again = _get(client, "/entity/CART.json?offset=2&limit=2")
    assert again["relations"][0]["label"] != "MARKED relation"
    assert again["studies"][0] == study and again["relations"] == before["relations"]


def test_an_entity_without_findings_reads_no_store_rows_when_summaries_are_complete(store, monkeypatch):
    """With a release's complete summaries, an entity that has none has no findings:
    its page does not ask the store for them."""
    import kg.views.entity as entity

    def refuse(*_args):
        raise AssertionError("the page computed its relations from the store")

    monkeypatch.setattr(entity, "_relations", refuse)
    clear_memo()
    client = create_app({"store": store, "rate_limit": "0"}).test_client()
    folder = _folder(store)
    with KnowledgeGraph.open(store) as kg:
        labelled = sorted(n for iri in Vocabulary(kg).labels if (n := iri.removeprefix(TKG)) != iri and "/" not in n)
    name = next(n for n in labelled if not (folder / f"{n}.json").exists())
    page = _get(client, f"/entity/{name}.json")
    assert page["relations"] == [] and page["studies"] == [] and page["studies_page"]["total"] == 0
    assert _get(client, "/entity/CART.json")["relations"]


def test_void_counts_are_kept_per_release_and_large_ones_counted_in_the_background(store, monkeypatch):
    import time

    import rdflib

    from kg.views import voidcounts

    void = rdflib.Namespace("http://rdfs.org/ns/void#")

    def triples(client) -> int | None:
        graph = rdflib.Graph().parse(data=client.get("/void", headers={"Accept": "text/turtle"}).get_data(as_text=True), format="turtle")
        found = list(graph.objects(None, void.triples))
        return int(found[0]) if found else None

    with KnowledgeGraph.open(store) as kg:
        path = cache_dir(kg) / voidcounts.VOID_FILE
        want = voidcounts.compute(kg)
    path.unlink(missing_ok=True)  # the store fixture is shared: another test may have viewed /void first
    clear_memo()
    voidcounts._found.clear()
    client = create_app({"store": store, "rate_limit": "0"}).test_client()

    # a large release: the first view answers without the counts and starts counting them
    monkeypatch.setattr(voidcounts, "SYNC_QUADS", 0)
    assert triples(client) is None
    deadline = time.monotonic() + 120
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads(path.read_text())["counts"] == want
    assert triples(client) == want["triples"] > 1000

    # what is served is the stored file
    path.write_text(json.dumps({"version": 1, "counts": {**want, "triples": 424242}}))
    voidcounts._found.clear()
    assert triples(client) == 424242

    # a small one is counted while the page waits, and stored
    path.unlink()
    voidcounts._found.clear()
    monkeypatch.setattr(voidcounts, "SYNC_QUADS", 10**9)
    assert triples(client) == want["triples"]
    assert json.loads(path.read_text())["counts"] == want


def test_an_entity_page_is_rendered_once_per_release_and_page_of_studies(store, monkeypatch):
    import web.pages as pages

    rendered = []
    real = pages.render_template

    def counting(name, **context):
        rendered.append((name, context["e"]["studies_page"]["offset"]))
        return real(name, **context)

    monkeypatch.setattr(pages, "render_template", counting)
    clear_memo()
    client = create_app({"store": store, "rate_limit": "0"}).test_client()
    first = client.get("/entity/CART?limit=2")
    assert first.status_code == 200 and client.get("/entity/CART?limit=2").data == first.data
    assert client.get("/entity/CART?offset=2&limit=2").data != first.data
    assert rendered == [("entity.html", 0), ("entity.html", 2)]
    assert client.get("/entity/CART?limit=0").status_code == 400
