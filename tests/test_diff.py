"""Release diffs (kg.diff, `tkg diff`) and the /changes page, its JSON twin and Atom feed."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from kg import KnowledgeGraph
from kg.cli import main
from kg.diff import diff, empty_snapshot, is_empty, kg_select, release_snapshot, releases, snapshot, to_text, write_changelog
from web import create_app

DATA = Path(__file__).resolve().parent / "data"
ATOM = "{http://www.w3.org/2005/Atom}"


def tkg(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    gc.collect()  # one process for many commands: free closed stores (see test_watch_update)
    return result


@pytest.fixture
def two_releases(tmp_path):
    """A store with two releases: the curated CAR-T record, then the TIL record and a card."""
    store = tmp_path / "var"
    assert tkg("ingest", "--store", str(store), str(DATA / "records" / "mini-car-t.yaml")).exit_code == 0
    second = [str(DATA / "records" / "mini-til.yaml"), str(DATA / "readers" / "card-mini.txt")]
    assert tkg("ingest", "--store", str(store), *second).exit_code == 0
    return store


def test_diff_of_two_releases_on_disk(two_releases):
    old, new = releases(two_releases)[-2:]
    a, b = release_snapshot(two_releases, old), release_snapshot(two_releases, new)
    change = diff(a, b)
    added = {s["id"] for s in change["studies"]["added"]}
    assert added == set(b["studies"]) - set(a["studies"]) and len(added) == 2
    assert not change["studies"]["removed"] and not change["studies"]["changed"]
    assert {f["id"] for f in change["findings"]["added"]} == set(b["findings"]) - set(a["findings"])
    assert change["findings"]["added"] and not change["findings"]["removed"]
    assert any(b["cells"].values()), "the release's matrix has cells with studies"
    assert change["cells"], "the second release moved matrix cells"
    for cell in change["cells"]:
        assert cell["new"] == b["cells"][f"{cell['modality']}|{cell['category']}"] != cell["old"]
    assert {e["id"] for e in change["entities"]} == set(b["entities"]) - set(a["entities"])
    assert is_empty(diff(b, b)) and not is_empty(change)


def test_a_changed_study_is_found_by_its_graph_not_its_id(tmp_path):
    store = tmp_path / "var"
    record = (DATA / "records" / "mini-car-t.yaml").read_text(encoding="utf-8")
    first, second = tmp_path / "a" / "mini.yaml", tmp_path / "b" / "mini.yaml"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text(record, encoding="utf-8")
    second.write_text(record.replace("title: A small CAR-T test study", "title: A small CAR-T test study (revised)"), encoding="utf-8")
    with KnowledgeGraph.open(str(store), mode="write") as kg:
        kg.ingest([first])
        before = snapshot(kg_select(kg), "before")
        kg.ingest([second])
        after = snapshot(kg_select(kg), "after")
    change = diff(before, after)
    assert [s["id"] for s in change["studies"]["changed"]] == list(before["studies"])
    assert "(revised)" in change["studies"]["changed"][0]["title"]
    assert not change["studies"]["added"] and not change["studies"]["removed"]


def test_cli_diff_defaults_to_the_two_latest_and_takes_names(two_releases):
    old, new = releases(two_releases)[-2:]
    text = tkg("diff", "--store", str(two_releases))
    assert text.exit_code == 0 and text.output.startswith(f"changes from {old} to {new}\n2 studies added")
    named = json.loads(tkg("diff", old, new, "--store", str(two_releases), "--format", "json").output)
    assert (named["old"], named["new"]) == (old, new) and len(named["studies"]["added"]) == 2
    reverse = json.loads(tkg("diff", new, old, "--store", str(two_releases), "--format", "json").output)
    assert len(reverse["studies"]["removed"]) == 2 and len(reverse["findings"]["removed"]) == len(named["findings"]["added"])
    missing = tkg("diff", "20990101T000000000000Z", new, "--store", str(two_releases))
    assert missing.exit_code == 1 and "no release '20990101T000000000000Z'" in missing.output


def test_cli_diff_needs_two_releases(tmp_path):
    result = tkg("diff", "--store", str(tmp_path / "none"))
    assert result.exit_code == 1 and "need two releases to compare, found 0" in result.output


def test_text_lists_each_kind():
    old = empty_snapshot("a")
    new = {**empty_snapshot("b"), "studies": {"s1": {"title": "One", "hash": "1"}},
           "findings": {"f1": ["s1", "CART", "facesBarrier", "Exhaustion", "SUPPORT"]},
           "cells": {"CART|ExhaustionBarrier": 1}, "entities": {"CART": "CAR-T"}}
    text = to_text(diff(old, new))
    assert "study added: s1  One" in text and "finding added: CART facesBarrier Exhaustion  [s1]" in text
    assert "matrix cell CART x ExhaustionBarrier: 0 -> 1 studies" in text and "new entity: CART  CAR-T" in text


@pytest.fixture
def changelog_state(tmp_path):
    state = tmp_path / "state"
    old = empty_snapshot("r1")
    new = {**empty_snapshot("r2"), "studies": {"pmid-1": {"title": "A <new> paper", "hash": "1"}}}
    write_changelog(state, diff(old, new))
    return state


def test_changes_page_json_and_atom_feed_with_absolute_links(changelog_state):
    app = create_app({"store": "memory:", "state_dir": str(changelog_state), "base_url": "https://kg.example.org/tkg"})
    client = app.test_client()
    page = client.get("/changes")
    assert page.status_code == 200 and b"A &lt;new&gt; paper" in page.data and b'href="/study/pmid-1"' in page.data
    twin = client.get("/changes.json")
    assert twin.status_code == 200 and twin.json["entries"][0]["diff"]["studies"]["added"][0]["id"] == "pmid-1"
    assert client.get("/changes", headers={"Accept": "application/json"}).json == twin.json
    feed = client.get("/changes.atom")
    assert feed.status_code == 200 and feed.mimetype == "application/atom+xml"
    root = etree.fromstring(feed.data)
    assert root.tag == f"{ATOM}feed" and root.findtext(f"{ATOM}id") == "https://kg.example.org/tkg/changes"
    entry = root.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Release r2" and entry.findtext(f"{ATOM}updated")
    assert entry.find(f"{ATOM}link").get("href") == "https://kg.example.org/tkg/changes#r2"
    assert "https://kg.example.org/tkg/study/pmid-1" in entry.findtext(f"{ATOM}content")


def test_feed_links_default_to_the_bind_address(changelog_state):
    app = create_app({"store": "memory:", "state_dir": str(changelog_state), "host": "127.0.0.1", "port": 5123})
    root = etree.fromstring(app.test_client().get("/changes.atom").data)
    assert root.findtext(f"{ATOM}id") == "http://127.0.0.1:5123/changes"


def test_changes_page_without_changes(tmp_path):
    app = create_app({"store": "memory:", "state_dir": str(tmp_path)})
    client = app.test_client()
    assert b"No changes recorded yet" in client.get("/changes").data
    assert client.get("/changes.json").json["entries"] == []
    assert etree.fromstring(client.get("/changes.atom").data).find(f"{ATOM}entry") is None


def test_only_the_latest_snapshots_are_kept(tmp_path):
    from kg.diff import KEEP_SNAPSHOTS, load_snapshot, save_snapshot

    for day in range(KEEP_SNAPSHOTS + 2):
        save_snapshot(tmp_path, empty_snapshot(f"2026010{day:02d}"))
    kept = sorted(p.stem for p in (tmp_path / "changes" / "snapshots").glob("*.json"))
    assert len(kept) == KEEP_SNAPSHOTS and kept[0] == "202601002" and load_snapshot(tmp_path, "202601000") is None
