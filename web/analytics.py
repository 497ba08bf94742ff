"""Analytics blueprint: ``/analytics`` (tables and plots), ``/analytics.json``,
``/analytics/plots/<name>.<svg|png>``, and the published JSON-LD context at
``/context.jsonld``.

The report (:func:`kg.analytics.report`) is computed at publish and stored with
the release (read once per process; computed here for stores without
releases); the plots are rendered from it once per release and kept in memory
(``kg.artifacts.memo``). Path questions walk the explorer's projection.
Query parameters: ``therapy`` (paths from a therapy to the strategies that
address its barriers), ``from`` and ``to`` (a shortest path between two
entities). Unknown values are a 400 in the app's one error shape.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request

from kg.views import cache

from . import negotiation as neg
from .state import get_graph

PLOT_FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
PARAMS = ("therapy", "from", "to")


def _report(kg) -> dict[str, Any]:
    """The report of the release ``kg`` serves: stored at publish (the ``report``
    step), else computed from the store once per release (stores without releases)."""

    def compute() -> dict[str, Any]:
        from kg import analytics

        stored = analytics.stored_report(kg)
        if stored is not None:
            return stored
        return analytics.report(kg.to_networkx(), analytics.study_facts(kg))

    return cache.memo(kg, ("analytics",), compute)


def _graph(kg):
    """The graph the path questions walk: the explorer's projection (kg/graphview.py,
    stored with the release), which has no study lists but each edge's count."""
    from kg.graphview import projection

    return projection(kg).graph


def _plot(kg, name: str, fmt: str) -> bytes:
    def compute() -> bytes:
        from kg.plots import render

        return render(_report(kg), name, fmt)

    return cache.memo(kg, ("analytics-plot", name, fmt), compute)


def _paths(graph, args) -> dict[str, Any]:
    from kg import analytics

    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        abort(400, description=f"unknown parameter {unknown[0]!r}: use {', '.join(PARAMS)}")
    out: dict[str, Any] = {}
    therapy = args.get("therapy", "").strip()
    if therapy:
        if therapy not in graph or graph.nodes[therapy].get("category") != "Therapy":
            abort(400, description=f"unknown therapy {therapy[:80]!r}: give the id of a therapy, e.g. CART or Tisagenlecleucel")
        out["therapy"] = {"id": therapy, "label": analytics.label(graph, therapy), "barriers": analytics.therapy_strategies(graph, therapy)}
    source, target = args.get("from", "").strip(), args.get("to", "").strip()
    if source or target:
        if not (source and target):
            abort(400, description="give both 'from' and 'to' for a shortest path")
        for node in (source, target):
            if node not in graph:
                abort(400, description=f"unknown entity {node[:80]!r}: give entity ids, e.g. from=CART&to=Lifileucel")
        out["path"] = {"from": source, "to": target, "steps": analytics.shortest_path(graph, source, target)}
    return out


bp = Blueprint("analytics", __name__)


@bp.get("/analytics")
def page():
    if neg.choose(neg.PAGE_TYPES) == "json":
        return page_json()
    kg = get_graph()
    report = _report(kg)
    graph = _graph(kg)
    paths = _paths(graph, request.args)  # unknown parameters are refused before anything is kept
    args = {k: request.args.get(k, "").strip() for k in PARAMS}

    def render() -> str:
        therapies = sorted(
            ((n, d.get("label", n)) for n, d in graph.nodes(data=True) if d.get("category") == "Therapy"), key=lambda x: x[1].lower()
        )
        entities = sorted(((n, d.get("label", n)) for n, d in graph.nodes(data=True)), key=lambda x: x[1].lower())
        return render_template(
            "analytics.html",
            r=report,
            paths=paths,
            therapies=therapies,
            entities=entities,
            args=args,
            release=cache.release_key(kg),
        )

    if any(args.values()):
        return render()
    # The page without a path question is the same for everyone until the next release: rendered
    # once (its tables and selects take about 0.3 s of one core at 10,000 studies; under 16 clients
    # that held every other page behind it). The template has no per-request parts (no CSP nonce).
    return cache.memo(kg, ("analytics-html",), render)


@bp.get("/analytics.json")
def page_json():
    kg = get_graph()
    return jsonify({"release": cache.release_key(kg), **_report(kg), **_paths(_graph(kg), request.args)})


@bp.get("/analytics/plots/<filename>")
def plot(filename: str):
    from kg.plots import PLOTS

    name, _, fmt = filename.rpartition(".")
    if name not in PLOTS or fmt not in PLOT_FORMATS:
        abort(404, description=f"no such plot: plots are {', '.join(PLOTS)} as .svg or .png")
    response = Response(_plot(get_graph(), name, fmt), mimetype=PLOT_FORMATS[fmt])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/context.jsonld")
def context():
    from kg.export_graph import CONTEXT_PATH

    response = Response(CONTEXT_PATH.read_bytes(), mimetype="application/ld+json")
    response.headers["Access-Control-Allow-Origin"] = "*"  # JSON-LD processors fetch it cross-origin
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
