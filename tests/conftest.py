"""Shared fixtures: the shipped corpus built once per session, and the path
to ../shared (real third-party records, W3C manifests) when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg import KnowledgeGraph

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


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


@pytest.fixture(scope="session")
def built_graph(built_store: str):
    """The published shipped corpus, opened read-only (as `tkg query` does)."""
    kg = KnowledgeGraph.open(built_store)
    yield kg
    kg.close()


@pytest.fixture
def memory_graph() -> KnowledgeGraph:
    """An empty in-memory graph with the ontology loaded."""
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ensure_ontology()
    return kg
