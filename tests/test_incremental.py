"""Incremental publish: the views, matrix cells and explorer's projection that a
publish maintains from the changed study graphs equal a full recomputation over
the release, after adds, replacements and removals (the shipped corpus plus
synthetic studies from kg.generate)."""

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
from kg.views.cache import CELLS_DIR, VIEWS_FILE
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
            data = json.loads((folder / CELLS_DIR / (key.replace("/", "--") + ".json")).read_text())
            data.pop("version")
            assert data == _plain(index), key
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


def test_incremental_publish_equals_full_recomputation(store, tmp_path):
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
    for path in cards[:2]:
        _card(path, 1, "limited by", "limited mainly by")
    text = (ROOT / "data" / "studies" / "adusumilli-2021.yaml").read_text(encoding="utf-8")
    curated = tmp_path / "adusumilli-2021.yaml"
    curated.write_text(text.replace("evidence_level: 3", "evidence_level: 1"), encoding="utf-8")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest([*cards[:2], curated])
        kg.publish()
    assert assert_equals_full(store)["incremental"] is True

    # removals: a synthetic study and a curated one
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.store.drop_graph(str(study_graph(ids[3])))
        kg.store.drop_graph(str(study_graph("bargou-2008")))
        second = kg.publish()
    assert assert_equals_full(store)["incremental"] is True

    # the cells these changes did not touch are the previous release's files, linked
    with KnowledgeGraph.open(store) as kg:
        root = cache_dir(kg).parent
    same = [p.name for p in (root / second / CELLS_DIR).iterdir() if p.stat().st_ino == (root / first / CELLS_DIR / p.name).stat().st_ino]
    assert 0 < len(same) < len(list((root / second / CELLS_DIR).iterdir()))


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
    _update_directory_store(store, f"DELETE {{ GRAPH ?g {{ ?f ?p ?o }} }} WHERE {{ GRAPH ?g {{ {pattern} ; ?p ?o }} }}", "https://w3id.org/tcell-kg/")
    with KnowledgeGraph.open(store) as kg:
        assert not kg.query(f"ASK {{ {pattern} }}").boolean
    assert assert_equals_full(store)["incremental"] is False
