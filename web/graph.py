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

from flask import Blueprint, jsonify, render_template, request

from kg import graphview

from . import negotiation as neg
from .errors import error_response
from .state import get_graph


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
    return jsonify(graphview.neighborhood(get_graph(), request.args.get("id", ""), depth=depth, filters=filters, max_nodes=limit))


@bp.get("/api/graph/edge")
def edge():
    args = request.args
    return jsonify(graphview.edge(get_graph(), args.get("source", ""), args.get("relation", ""), args.get("target", "")))


@bp.get("/api/graph/path")
def path():
    args = request.args
    filters = _filters()
    return jsonify(graphview.paths(get_graph(), args.get("from", ""), args.get("to", ""), filters=filters))


@bp.get("/api/graph/strategies")
def strategies():
    filters = _filters()
    return jsonify(graphview.strategies(get_graph(), request.args.get("therapy", ""), filters=filters))
