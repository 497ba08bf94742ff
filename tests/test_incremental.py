"""Incremental publish: the views, matrix cells, entity summaries, explorer's
projection and analytics report that a publish maintains from the changed study
graphs equal a full recomputation over the release, after adds, replacements and
removals (the shipped corpus plus synthetic studies from kg.generate)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import networkx as nx
import pytest
from rdflib import URIRef

from kg import KnowledgeGraph, analytics
from kg.analytics import REPORT_FILE
from kg.artifacts import COMPLETE, cache_dir
from kg.generate import write_cards
from kg.graphview import PROJECTION_FILE, compute_projection
from kg.namespaces import ONTOLOGY_GRAPH, study_graph
from kg.views import cells
from kg.views.cache import CELLS_DIR, VIEWS_FILE
from kg.views.cells import PAGES_DIR
from kg.views.common import Vocabulary
from kg.views.dashboard import dashboard, matrix_and_cells
from kg.views.entity import _relations
from kg.views.summaries import ENTITIES_DIR, stored_relations

ROOT = Path(__file__).resolve().parents[1]
TKG = "https://w3id.org/tcell-kg/"


def _plain(data):
    return json.loads(json.dumps(data))


def _projection_parts(graph: nx.MultiDiGraph, synonyms) -> tuple:
    # node-link JSON keeps a node's "id" as its key only
    nodes = {n: _plain({k: v for k, v in d.items() if k != "id"}) for n, d in graph.nodes(data=True)}
    edges = {(u, v, k): _plain(d) for u, v, k, d in graph.edges(keys=True, data=True)}
    return nodes, edges, _plain(graph.graph), _plain(synonyms)


def stored_cell(folder: Path, name: str) -> dict:
    """A stored cell's index with its pages' findings put together (each page listed exists and holds what it says)."""
    data = json.loads((folder / CELLS_DIR / name).read_text())
    data.pop("version")
    data["findings"] = []
    for page, n in data.pop("pages"):
        findings = json.loads((folder.parent / PAGES_DIR / f"{page}.json").read_text())["findings"]
        assert len(findings) == n > 0, (name, page)
        data["findings"] += findings
    return data


def listed_pages(folder: Path) -> set[str]:
    return {page for path in (folder / CELLS_DIR).iterdir() for page, _n in json.loads(path.read_text())["pages"]}


def assert_equals_full(store: str) -> dict:
    """What the current release's publish stored equals a full recomputation from its store."""
    with KnowledgeGraph.open(store) as kg:
        folder = cache_dir(kg)
        stored = json.loads((folder / VIEWS_FILE).read_text())
        matrix, cells = matrix_and_cells(kg)
        assert stored["dashboard"] == _plain(dashboard(kg))
        assert stored["matrix"] == _plain(matrix)
        files = {p.name for p in (folder / CELLS_DIR).iterdir()}
        assert files == {key.replace("/", "--") + ".json" for key in cells}
        for key, index in cells.items():
            assert stored_cell(folder, key.replace("/", "--") + ".json") == _plain(index), key
        data = json.loads((folder / PROJECTION_FILE).read_text())
        got = nx.node_link_graph(data["graph"], directed=True, multigraph=True, edges="edges")
        assert _projection_parts(got, data["synonyms"]) == _projection_parts(*compute_projection(kg))
        assert_summaries_equal_full(kg)
        stored = json.loads((folder / REPORT_FILE).read_text())["report"]
        assert stored == _plain(analytics.report(kg.to_networkx(), analytics.study_facts(kg)))
        return json.loads((folder / COMPLETE).read_text())


#: Besides every entity with findings: one with narrower classes (CART), a product,
#: a tumor type (findings point in), a barrier class and a top category.
SUMMARY_ENTITIES = ("CART", "TIL", "Tisagenlecleucel", "LBCL", "TumorMicroenvironmentBarrier", "Therapy")


def assert_summaries_equal_full(kg: KnowledgeGraph) -> None:
    """Every entity summary the release stores equals the page's SPARQL computation over the store."""
    vocab = Vocabulary(kg)
    names = (p.name for p in (cache_dir(kg) / ENTITIES_DIR).glob("*.json"))
    files = sorted(n.removesuffix(".json") for n in names if not n.startswith("_") and not n.endswith(".state.json"))
    assert set(SUMMARY_ENTITIES) <= set(files)
    without = sorted(local for iri in vocab.labels if (local := iri.removeprefix(TKG)) != iri and "/" not in local and local not in files)
    assert without
    for name in [*files, *without[:3]]:  # (the last: entities without findings)
        want_relations, want_studies = _relations(kg, URIRef(TKG + name), vocab)
        relations, studies = stored_relations(kg, name)
        assert _plain(relations) == _plain(want_relations), name
        assert len(studies) == len(want_studies) and list(studies) == _plain(want_studies), name
        assert studies[1:3] == _plain(want_studies[1:3]), name  # a slice, read through the checkpoints


@pytest.fixture()
def store(built_store, tmp_path) -> str:
    """A copy of the built corpus store (published in full, with its index)."""
    target = tmp_path / "var"
    shutil.copytree(built_store, target, symlinks=True)
    return str(target)


def _card(path: Path, level: int, barrier_from: str, barrier_to: str) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"EvidenceLevel \d", f"EvidenceLevel {level}", text)
    path.write_text(text.replace(barrier_from, barrier_to), encoding="utf-8")


def test_incremental_publish_equals_full_recomputation(store, tmp_path, monkeypatch):
    # pages of 2 findings from here on (the build wrote pages of 100): pages are split, emptied and dropped
    monkeypatch.setattr(cells, "PAGE_SIZE", 2)
    assert assert_equals_full(store)["incremental"] is False  # the build's publish
    cards = write_cards(tmp_path / "cards", 8, seed=7)

    # adds: synthetic studies
    with KnowledgeGraph.open(store, mode="write") as kg:
        assert kg.store.pending_changes() == set()
        report = kg.ingest(cards)
        ids = [i for _, found in report.loaded for i in found]
        assert len(ids) == 8
        assert kg.store.pending_changes() == {str(study_graph(i)) for i in ids}
        first = kg.publish()
    assert assert_equals_full(store)["incremental"] is True

    # replacements: two synthetic cards change level and a barrier; a curated study changes its level
    # and becomes a review (the report's reviews_only list counts its findings again)
    for path in cards[:2]:
        _card(path, 1, "limited by", "limited mainly by")
    text = (ROOT / "data" / "studies" / "adusumilli-2021.yaml").read_text(encoding="utf-8")
    assert "study_type: non-randomized trial" in text
    curated = tmp_path / "adusumilli-2021.yaml"
    text = text.replace("evidence_level: 3", "evidence_level: 1").replace(
        "study_type: non-randomized trial", "study_type: narrative review"
    )
    curated.write_text(text, encoding="utf-8")
    # and a third loses its barrier sentence only: fewer findings, the same place in its entities' study lists
    text = cards[2].read_text(encoding="utf-8")
    cards[2].write_text(re.sub(r"The activity of [^.]* limited by [^.]*\. ", "", text, count=1), encoding="utf-8")
    assert cards[2].read_text(encoding="utf-8") != text
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest([*cards[:3], curated])
        kg.publish()
    assert assert_equals_full(store)["incremental"] is True

    # removals: a synthetic study, a curated one, and one of the studies of a contradiction
    # the report lists (the edge stays, with a shorter study list)
    with KnowledgeGraph.open(store) as kg:
        listed = json.loads((cache_dir(kg) / REPORT_FILE).read_text())["report"]["gaps"]["contradictions"]
    leaving = next(row["studies"][0] for row in listed if len(row["studies"]) >= 2 and row["studies"][0] != "bargou-2008")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.store.drop_graph(str(study_graph(ids[3])))
        kg.store.drop_graph(str(study_graph("bargou-2008")))
        kg.store.drop_graph(str(study_graph(leaving)))
        second = kg.publish()
    assert assert_equals_full(store)["incremental"] is True

    # the cells these changes did not touch are the previous release's files, linked
    with KnowledgeGraph.open(store) as kg:
        root = cache_dir(kg).parent
    same = [p.name for p in (root / second / CELLS_DIR).iterdir() if p.stat().st_ino == (root / first / CELLS_DIR / p.name).stat().st_ino]
    assert 0 < len(same) < len(list((root / second / CELLS_DIR).iterdir()))
    # and of the touched cells, only the pages where findings moved were written again
    shared = listed_pages(root / second) & listed_pages(root / first)
    assert 0 < len(shared) < len(listed_pages(root / second))


def test_an_ontology_change_or_an_unknown_change_recomputes_in_full(store):
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.store.replace_graph(str(ONTOLOGY_GRAPH), kg.ontology.graph)
        kg.publish()
    assert assert_equals_full(store)["incremental"] is False
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.store.drop_graph(str(study_graph("bargou-2008")))
        (Path(store) / "changes.log").unlink()  # e.g. a store written by an older version
        assert kg.store.pending_changes() is None
        kg.publish()
    assert assert_equals_full(store)["incremental"] is False
    with KnowledgeGraph.open(store, mode="write") as kg:
        assert kg.store.pending_changes() == set()
        kg.publish()
    assert assert_equals_full(store)["incremental"] is True


def test_a_bulk_ingest_is_tracked_and_an_interrupted_one_means_unknown(store, tmp_path, monkeypatch):
    import kg.graph as graph_module

    monkeypatch.setattr(graph_module, "BULK_THRESHOLD", 3)
    cards = write_cards(tmp_path / "cards", 4, seed=11)
    with KnowledgeGraph.open(store, mode="write") as kg:
        report = kg.ingest(cards)
        assert kg.store.pending_changes() == {str(study_graph(i)) for _, ids in report.loaded for i in ids}
        kg.publish()
    assert assert_equals_full(store)["incremental"] is True
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.store.begin_changes()  # a bulk write that never finished
        assert kg.store.pending_changes() is None


def test_an_update_through_the_endpoint_recomputes_in_full(store):
    """/sparql's updates write natively, past the change journal: the publish after one is full."""
    from web.sparql import _update_directory_store

    pattern = "?f a <https://w3id.org/tcell-kg/Finding> ; <http://www.w3.org/ns/prov#wasDerivedFrom> <https://w3id.org/tcell-kg/study/bargou-2008>"
    with KnowledgeGraph.open(store) as kg:
        assert kg.query(f"ASK {{ {pattern} }}").boolean
    _update_directory_store(
        store, f"DELETE {{ GRAPH ?g {{ ?f ?p ?o }} }} WHERE {{ GRAPH ?g {{ {pattern} ; ?p ?o }} }}", "https://w3id.org/tcell-kg/"
    )
    with KnowledgeGraph.open(store) as kg:
        assert not kg.query(f"ASK {{ {pattern} }}").boolean
    assert assert_equals_full(store)["incremental"] is False


def test_a_cell_reads_only_the_pages_a_slice_covers(tmp_path):
    pool = tmp_path / "pool"
    findings = [f"https://w3id.org/tcell-kg/finding/f{i}" for i in range(7)]
    pages = [[cells.write_page(pool, page), len(page)] for page in (findings[:3], findings[3:5], findings[5:])]

    def whole() -> list[str]:
        raise AssertionError("the whole list was computed")

    (pool / f"{pages[2][0]}.json").unlink()  # the last page is not needed for these slices
    listed = cells.CellFindings(pool, pages, whole)
    assert len(listed) == 7 and listed[1:5] == findings[1:5] and listed[3] == findings[3] and listed[:0] == []
    # a missing page: the cell's list is computed instead
    listed = cells.CellFindings(pool, pages, lambda: findings)
    assert listed[4:7] == findings[4:7] and list(listed) == findings


def test_pages_no_release_lists_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(cells, "PAGE_GRACE", 0.0)
    root = tmp_path / "cache"
    pool = root / PAGES_DIR
    kept, listed, gone = (cells.write_page(pool, [f"https://w3id.org/tcell-kg/finding/{n}"]) for n in ("a", "b", "c"))
    cells.write_cell(root / "20260101T000000Z", ("CART", "SafetyBarrier"), {"studies": 1}, [(listed, 1)])
    assert cells.collect_pages(root, keep=[kept]) == 1
    assert {p.stem for p in pool.iterdir()} == {kept, listed}


def test_an_index_of_the_previous_version_is_brought_up_to_date_from_its_rows(store, tmp_path, monkeypatch):
    """An index kept by the steps' previous version (cell rows without order keys,
    no running counts nor pages) is converted from its own rows, not recomputed from the store."""
    import sqlite3

    from kg.artifacts import INDEX
    from kg.views import publish

    db = sqlite3.connect(Path(store) / "cache" / INDEX, isolation_level=None)
    db.executescript(
        """CREATE TABLE v_cells_v2 AS SELECT g, m, c, finding, CASE ks WHEN 0 THEN 'SUPPORT' ELSE 'REFUTE' END AS support, level,
             CASE ky WHEN 0 THEN NULL ELSE -ky END AS year, study, CASE kstart WHEN 1073741824 THEN NULL ELSE kstart END AS start,
             kstudy AS study_local, kfinding AS finding_local FROM v_cells ORDER BY rowid;
           DROP TABLE v_cells; ALTER TABLE v_cells_v2 RENAME TO v_cells; DROP TABLE v_tally; DROP TABLE v_pages; DROP TABLE p_tally;"""
    )
    db.close()
    read = []
    monkeypatch.setattr(publish._Rows, "from_store", lambda *args, _f=publish._Rows.from_store: read.append(args[1]) or _f(*args))
    cards = write_cards(tmp_path / "cards", 3, seed=5)
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(cards)
        kg.publish()
    assert len(read) == 1 and read[0] is not None and len(read[0]) == 3  # only the changed graphs were read from the store
    assert assert_equals_full(store)["incremental"] is True


def test_without_the_projection_the_report_is_computed_from_the_store(store, tmp_path, monkeypatch):
    """The report step takes nodes and edge weights from the projection step's result:
    when that step failed, the report is computed from the store, and the next publish is full."""
    import kg.graphview as graphview
    from kg.errors import TkgError

    def fail(publication):
        raise TkgError("the projection step fails on purpose")

    monkeypatch.setattr(graphview, "publish_step", fail)
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(write_cards(tmp_path / "cards", 3, seed=3))
        kg.publish()
    with KnowledgeGraph.open(store) as kg:
        folder = cache_dir(kg)
        assert not (folder / PROJECTION_FILE).exists() and not (folder / COMPLETE).exists()
        stored = json.loads((folder / REPORT_FILE).read_text())["report"]
        assert stored == _plain(analytics.report(kg.to_networkx(), analytics.study_facts(kg)))
    monkeypatch.undo()
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(write_cards(tmp_path / "more", 2, seed=4))
        kg.publish()
    assert assert_equals_full(store)["incremental"] is False
