"""The graph explorer: ``/graph`` (Cytoscape.js page) and its JSON API.

* ``/api/graph/nodes?q=`` - node suggestions over labels, ids and synonyms;
* ``/api/graph/neighborhood?id=&depth=`` - a node and its neighbors as Cytoscape.js elements;
* ``/api/graph/edge?source=&relation=&target=`` - the findings behind an edge;
* ``/api/graph/path?from=&to=`` - shortest paths between two entities;
* ``/api/graph/strategies?therapy=`` - therapy -> barriers -> strategies addressing them;
* ``/api/graph/options`` - what the filters accept.

Filters (``modality``, ``tumor``, ``relation``, ``level``, ``year_from``,
``year_to``) apply to neighborhood, path and strategies. All graph logic is in
:mod:`kg.graphview`; this module parses parameters and renders.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for

from kg import graphview

from . import negotiation as neg
from .errors import error_response
from .state import get_graph


def _linked(result: dict[str, Any]) -> dict[str, Any]:
    """Add the pages' URLs to an answer of kg.graphview (the core builds no URLs):
    ``url`` of each entity node, ``study_url`` of each finding."""
    nodes = [e["data"] for e in result.get("elements", ()) if e.get("group") == "nodes"]
    nodes += [result[end] for end in ("source", "target") if isinstance(result.get(end), dict)]
    for data in nodes:
        data["url"] = url_for("pages.entity", entity_id=data["id"])
    for finding in result.get("findings", ()):
        finding["study_url"] = url_for("pages.study", study_id=finding["study"])
    return result


def _filters():
    args = request.args
    return graphview.parse_filters(
        graphview.projection(get_graph()).graph,
        modality=args.getlist("modality"),
        tumor=args.get("tumor"),
        relation=args.getlist("relation"),
        level=args.get("level"),
        year_from=args.get("year_from"),
        year_to=args.get("year_to"),
    )


def _depth() -> int:
    raw = request.args.get("depth", "1").strip() or "1"
    try:
        depth = int(raw)
    except ValueError:
        raise graphview.BadGraphParameter(f"depth must be a whole number, not {raw!r}", expected=f"1..{graphview.MAX_DEPTH}") from None
    if not 1 <= depth <= graphview.MAX_DEPTH:
        raise graphview.BadGraphParameter(f"depth {depth} is out of range", expected=f"1..{graphview.MAX_DEPTH}")
    return depth


def _limit(default: int, high: int) -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise graphview.BadGraphParameter(f"limit must be a whole number, not {raw!r}", expected=f"1..{high}") from None
    if not 1 <= value <= high:
        raise graphview.BadGraphParameter(f"limit {value} is out of range", expected=f"1..{high}")
    return value


bp = Blueprint("graph", __name__)


@bp.errorhandler(graphview.NodeNotFound)
def _not_found(exc: graphview.NodeNotFound):
    return error_response(404, "Not Found", str(exc))


@bp.get("/graph")
def page():
    if neg.choose(neg.PAGE_TYPES) == "json":
        return jsonify(graphview.options(get_graph()))
    return render_template("graph.html")


@bp.get("/api/graph/options")
def options():
    return jsonify(graphview.options(get_graph()))


@bp.get("/api/graph/nodes")
def nodes():
    q = request.args.get("q", "")
    if len(q) > 200:
        raise graphview.BadGraphParameter("q is too long", expected="at most 200 characters")
    limit = _limit(graphview.MAX_SUGGESTIONS, graphview.MAX_SUGGESTIONS)
    return jsonify({"q": q, "results": graphview.find_nodes(get_graph(), q, limit=limit)})


@bp.get("/api/graph/neighborhood")
def neighborhood():
    depth = _depth()
    filters = _filters()
    limit = _limit(graphview.MAX_NODES, graphview.MAX_NODES)
    result = graphview.neighborhood(get_graph(), request.args.get("id", ""), depth=depth, filters=filters, max_nodes=limit)
    return jsonify(_linked(result))


@bp.get("/api/graph/edge")
def edge():
    args = request.args
    return jsonify(_linked(graphview.edge(get_graph(), args.get("source", ""), args.get("relation", ""), args.get("target", ""))))


@bp.get("/api/graph/path")
def path():
    args = request.args
    filters = _filters()
    return jsonify(_linked(graphview.paths(get_graph(), args.get("from", ""), args.get("to", ""), filters=filters)))


@bp.get("/api/graph/strategies")
def strategies():
    filters = _filters()
    return jsonify(_linked(graphview.strategies(get_graph(), request.args.get("therapy", ""), filters=filters)))
