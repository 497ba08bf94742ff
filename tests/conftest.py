"""Shared fixtures: the shipped corpus built once per session, and the path
to ../shared (real third-party records, W3C manifests) when present.

``built_graph`` is parametrized over the backends named in
``TKG_TEST_BACKENDS`` (comma-separated; default all three): ``embedded`` (the
directory store), ``oxigraph-server`` and ``virtuoso`` (real servers started
once per session on 127.0.0.1 by :mod:`tests.servers`; skipped with the reason
when their binary is missing). Tests on a server carry the ``servers`` marker.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kg import KnowledgeGraph

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import Server, ServerUnavailable, start_oxigraph, start_virtuoso  # noqa: E402

ALL_BACKENDS = ("embedded", "oxigraph-server", "virtuoso")
BACKENDS = tuple(b.strip() for b in os.environ.get("TKG_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b.strip())

#: Competency tests whose Virtuoso 7.2 answer differs from the embedded
#: store's (strict xfail). Empty since the remote store sends rdfs:subClassOf*
#: and + to Virtuoso as a materialized closure (kg/stores/remote.py) and CQ12
#: computes its gap label outside the aggregate (Virtuoso's compiler crashed
#: on nested IFs over aggregates). Add a test here if Virtuoso regresses.
VIRTUOSO_WRONG: set[str] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("built_graph") if callspec else None
        if backend in ("oxigraph-server", "virtuoso"):
            item.add_marker(pytest.mark.servers)
        if backend == "virtuoso" and item.originalname in VIRTUOSO_WRONG:
            reason = "Virtuoso 7.2 fails CQ12 with an internal compiler error (compared in test_remote_store)"
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is not beside the checkout ({SHARED}); real-record tests need it")
    return SHARED


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped ontology and data/ built and published into an embedded store."""
    store = str(tmp_path_factory.mktemp("built") / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.build()
        kg.publish()
    return store


def _server(factory, name: str, tmp_path_factory: pytest.TempPathFactory):
    if name not in BACKENDS:
        pytest.skip(f"{name} not in TKG_TEST_BACKENDS={','.join(BACKENDS)}")
    try:
        server = factory(tmp_path_factory.mktemp(name))
    except ServerUnavailable as exc:
        pytest.skip(f"{name}: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory: pytest.TempPathFactory):
    """An Oxigraph server on 127.0.0.1, empty, started once per session."""
    yield from _server(start_oxigraph, "oxigraph-server", tmp_path_factory)


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory: pytest.TempPathFactory):
    """A Virtuoso server on 127.0.0.1, empty, started once per session."""
    yield from _server(start_virtuoso, "virtuoso", tmp_path_factory)


def _built_remote(server: Server) -> KnowledgeGraph:
    """The shipped corpus built into a server (validated once, by the embedded build)."""
    with KnowledgeGraph.open(server.query_url, mode="write", **server.options()) as kg:
        kg.build(validate=False)
    return KnowledgeGraph.open(server.query_url, **server.options())


@pytest.fixture(scope="session", params=ALL_BACKENDS)
def built_graph(request: pytest.FixtureRequest, built_store: str):
    """The published shipped corpus, opened read-only (as `tkg query` does),
    on each backend of TKG_TEST_BACKENDS."""
    backend = request.param
    if backend not in BACKENDS:
        pytest.skip(f"{backend} not in TKG_TEST_BACKENDS={','.join(BACKENDS)}")
    if backend == "embedded":
        kg = KnowledgeGraph.open(built_store)
    else:
        server = request.getfixturevalue("oxigraph_server" if backend == "oxigraph-server" else "virtuoso_server")
        kg = _built_remote(server)
    yield kg
    kg.close()


@pytest.fixture
def memory_graph() -> KnowledgeGraph:
    """An empty in-memory graph with the ontology loaded."""
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ensure_ontology()
    return kg


@pytest.fixture(scope="session")
def extractor():
    """The extractor over the shipped ontology, for tests that extract from their own sentences."""
    from kg.extract import Extractor
    from kg.ontology import default_ontology

    return Extractor(default_ontology())
