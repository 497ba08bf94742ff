"""Per-app state: the knowledge graph the app serves.

The graph is opened lazily, read-only, on the published release (or on the
given store for `memory:` and remote URLs), so creating the app is cheap and
tests can pass a ready KnowledgeGraph through the `TKG_GRAPH` Flask config key.
"""

from __future__ import annotations

from flask import Flask, current_app

from kg import KnowledgeGraph
from kg.config import Settings


def init_state(app: Flask, settings: Settings) -> None:
    app.extensions["tkg_settings"] = settings
    if "TKG_GRAPH" in app.config:
        app.extensions["tkg_graph"] = app.config["TKG_GRAPH"]


def get_graph() -> KnowledgeGraph:
    graph = current_app.extensions.get("tkg_graph")
    if graph is None:
        settings = current_app.extensions["tkg_settings"]
        remote = {"update_url": settings.update_url or None, "gsp_url": settings.gsp_url or None}
        graph = KnowledgeGraph.open(settings.store, mode="read", **remote)
        current_app.extensions["tkg_graph"] = graph
    return graph
