"""Virtuoso's bulk loader as the first load into a Virtuoso store on this machine
(kg.stores.remote_virtuoso, kg.bulk.load_virtuoso_bulk, `tkg ingest --bulk-dir`).

A Virtuoso of its own (tests/servers.py, loopback only): the tests drop and
reload graphs, which the session's shared server must not see.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.bulk import convert, load_virtuoso_bulk
from kg.cli import main
from kg.errors import StoreError
from kg.generate import write_cards
from kg.graph import BULK_THRESHOLD
from kg.stores.remote import GRAPH_BASE, ONTOLOGY_GRAPH_IRI, RemoteStore
from kg.stores.remote_virtuoso import VirtuosoBulkLoader

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def virtuoso(tmp_path_factory: pytest.TempPathFactory):
    from servers import ServerUnavailable, start_virtuoso

    try:
        server = start_virtuoso(tmp_path_factory.mktemp("virtuoso-bulk"))
    except ServerUnavailable as exc:
        pytest.skip(f"virtuoso: {exc}")
    (server.directory / "bulk").mkdir()  # inside the server's directory, which its DirsAllowed lists
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_cards(tmp_path_factory.mktemp("cards"), BULK_THRESHOLD + 10, seed=23)


def writable(server) -> RemoteStore:
    return RemoteStore(server.query_url, mode="write", gsp_url=server.gsp_url)


def study_quads(server) -> set[tuple[str, ...]]:
    store = RemoteStore(server.query_url)
    return {tuple(map(str, q)) for q in store.quads() if str(q[3]) != ONTOLOGY_GRAPH_IRI}


def drop_studies(server) -> None:
    store = writable(server)
    for name in store.graph_names():
        if name != ONTOLOGY_GRAPH_IRI:
            store.drop_graph(name)
    assert study_quads(server) == set()


def loader_for(server, folder: Path | str, password: str = "dba") -> VirtuosoBulkLoader:
    return VirtuosoBulkLoader.configure(server.query_url, str(folder), server.extra["sql_port"], "dba", password)


def ingest(server, cards: list[Path], *bulk: str) -> str:
    args = ["ingest", "--store", server.query_url, "--gsp-url", server.gsp_url, "--no-publish", *bulk, str(cards[0].parent)]
    result = CliRunner().invoke(main, args, env={"TKG_ISQL_PASSWORD": "dba"})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_first_load_through_the_bulk_loader_gives_the_quads_of_a_gsp_load(virtuoso, cards, monkeypatch):
    loaded: list[Path] = []
    original = VirtuosoBulkLoader.load
    monkeypatch.setattr(VirtuosoBulkLoader, "load", lambda self, path: (loaded.append(path), original(self, path))[1])
    bulk_dir = str(virtuoso.directory / "bulk")
    out = ingest(virtuoso, cards, "--bulk-dir", bulk_dir, "--isql", virtuoso.extra["sql_port"])
    assert f"ingested {len(cards)} studies" in out
    assert len(loaded) == 1  # every study was new: one N-Quads file, no PUT
    by_bulk = study_quads(virtuoso)
    assert list(Path(bulk_dir).iterdir()) == []  # the run's files are removed after the checkpoint

    drop_studies(virtuoso)
    ingest(virtuoso, cards)  # the Graph Store Protocol, one PUT per study
    by_gsp = study_quads(virtuoso)
    assert len(by_gsp) > 20 * len(cards)
    assert by_bulk == by_gsp
    assert len({q[3] for q in by_bulk}) == len(cards)  # one graph per study


def test_graphs_the_store_has_are_replaced_not_added_to(virtuoso, cards, tmp_path):
    drop_studies(virtuoso)
    store = writable(virtuoso)
    loader = loader_for(virtuoso, virtuoso.directory / "bulk")
    first = cards[:6]
    load_virtuoso_bulk(store, loader, convert(first, workers=1), total=len(first), batch_files=4)  # two files
    before = study_quads(virtuoso)
    # the same studies with other text: a bulk load would add the new quads to the old ones
    changed = []
    for path in first[:3]:
        copy = tmp_path / path.name
        copy.write_text(path.read_text(encoding="utf-8").replace("T cell", "T-cell"), encoding="utf-8")
        changed.append(copy)
    calls: list[Path] = []
    original = loader.load
    loader.load = lambda path: (calls.append(path), original(path))[1]  # type: ignore[method-assign]
    report = load_virtuoso_bulk(store, loader, convert(changed + cards[6:8], workers=1), total=5)
    assert report.studies == 5
    assert len(calls) == 1  # the two new studies; the three known ones were PUT
    after = study_quads(virtuoso)
    expected = KnowledgeGraph.open("memory:", mode="write")
    expected.ingest(changed + first[3:] + cards[6:8])
    assert len(after) == sum(1 for q in expected.store.quads() if str(q[3]) != ONTOLOGY_GRAPH_IRI)
    assert after != before


def test_a_folder_virtuoso_may_not_read_is_refused_with_the_reason(virtuoso, cards):
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("no writable /var/tmp (a folder outside the test server's DirsAllowed)")
    drop_studies(virtuoso)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as outside:  # Virtuoso allows /tmp itself; /var/tmp it does not
        loader = loader_for(virtuoso, outside)
        with pytest.raises(StoreError, match="DirsAllowed") as caught:
            load_virtuoso_bulk(writable(virtuoso), loader, convert(cards[:2], workers=1), total=2)
        assert "may not read the bulk-load folder" in str(caught.value)
        assert list(Path(outside).iterdir()) == []
    assert study_quads(virtuoso) == set()


def test_isql_failures_and_bad_files_stop_with_virtuoso_s_message(virtuoso, tmp_path):
    with pytest.raises(StoreError, match="isql .* as dba failed"):
        loader_for(virtuoso, virtuoso.directory / "bulk", password="wrong").run("select 1;")
    loader = loader_for(virtuoso, virtuoso.directory / "bulk")
    run = loader.new_run()
    bad = run / "bad.nq"
    bad.write_text(f"<https://x/s> <https://x/p> <https://x/o> <{GRAPH_BASE}bad> .\nnot a quad\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"bulk loader failed on .*bad\.nq: .*syntax error"):
        loader.load(bad)
    loader.finish(run)
    writable(virtuoso).drop_graph(GRAPH_BASE + "bad")


def test_options_are_checked_before_anything_is_converted(virtuoso, tmp_path, oxigraph_server):
    with pytest.raises(StoreError, match="does not exist"):
        loader_for(virtuoso, tmp_path / "missing")
    with pytest.raises(StoreError, match="TKG_ISQL_PASSWORD"):
        loader_for(virtuoso, tmp_path, password="")
    with pytest.raises(StoreError, match="not a port"):
        VirtuosoBulkLoader.configure(virtuoso.query_url, str(tmp_path), "host:port", "dba", "dba")
    runner = CliRunner()
    embedded = runner.invoke(main, ["ingest", "--store", str(tmp_path / "var"), "--bulk-dir", str(tmp_path), str(tmp_path)])
    assert embedded.exit_code == 1 and "--bulk-dir is for a Virtuoso store" in embedded.output
    oxigraph = RemoteStore(oxigraph_server.query_url, mode="write", gsp_url=oxigraph_server.gsp_url, bulk_dir=str(tmp_path))
    with pytest.raises(StoreError, match="the store is not Virtuoso"):
        oxigraph.bulk_writer()


def test_a_test_server_started_again_on_its_database_still_accepts_updates(tmp_path: Path) -> None:
    """tests/servers.py grants SPARQL_UPDATE at every start; on a database that
    already has the grant (a benchmark's server started again), Virtuoso refuses
    the GRANT, and the start must not fail for it."""
    from servers import ServerUnavailable, start_virtuoso

    try:
        first = start_virtuoso(tmp_path)
    except ServerUnavailable as exc:
        pytest.skip(f"virtuoso: {exc}")
    first.stop()
    again = start_virtuoso(tmp_path)
    try:
        store = writable(again)
        graph = GRAPH_BASE + "started-again"
        store.update(f"INSERT DATA {{ GRAPH <{graph}> {{ <urn:x-test:s> <urn:x-test:p> 'o' }} }}")
        assert graph in RemoteStore(again.query_url).graph_names()
    finally:
        again.stop()
