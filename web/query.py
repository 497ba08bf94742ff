"""The SPARQL editor: ``/query`` (YASGUI on this server's ``/sparql``) and
``/api/examples`` (the competency-question queries as examples).

``/query?query=...`` opens the editor with that query, ``/query?example=cq1``
with a named example.

YASGUI's results table uses column-resizer, which injects two fixed
``<style>`` elements into the page. The app's CSP forbids inline styles, so
this page's responses (and only these) add the sha256 hashes of exactly those
two style texts to ``style-src`` (:data:`YASGUI_STYLE_HASHES`, passed to
:mod:`web.security` as ``g.csp_style_hashes``); no
``'unsafe-inline'``, scripts stay ``'self'`` only (see docs/security.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from kg.errors import QueryError
from kg.namespaces import PREFIXES, SPARQL_PREFIXES
from kg.queries import list_queries, load_query

from . import negotiation as neg

#: Query shown in a fresh editor when no example or query is asked for.
DEFAULT_QUERY = (
    SPARQL_PREFIXES
    + """
# Therapies and the barriers they face, with the number of supporting studies
SELECT ?therapy ?therapyLabel ?barrier ?barrierLabel (COUNT(DISTINCT ?study) AS ?studies) WHERE {
  ?f a tkg:Finding ; tkg:subject ?therapy ; tkg:relation tkg:facesBarrier ; tkg:object ?barrier ;
     tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
  ?therapy rdfs:label ?therapyLabel .
  ?barrier rdfs:label ?barrierLabel .
}
GROUP BY ?therapy ?therapyLabel ?barrier ?barrierLabel
ORDER BY DESC(?studies)
LIMIT 50
"""
)

#: sha256 of the two <style> texts column-resizer (bundled in yasgui.min.js 4.6.2)
#: injects: its grip rules when a results table is drawn, and
#: ``*{cursor:col-resize!important}`` while a column is dragged. Recompute on upgrade.
YASGUI_STYLE_HASHES = (
    "'sha256-zCK2EVMoPc04mRF/g5CotUvxbJPWS+8V0b+s9ptqQIk='",
    "'sha256-c0O6TmFAkgpNbHxKAa1BrveWHHopjEtC47i0PzMudxg='",
)
MAX_QUERY_PARAM = 20_000


def examples() -> list[dict[str, str]]:
    return [{"name": q.name, "title": q.title, "description": q.description, "query": q.sparql} for q in list_queries()]


bp = Blueprint("query", __name__)


@bp.get("/api/examples")
def api_examples():
    return jsonify({"prefixes": PREFIXES, "endpoint": "/sparql", "examples": examples()})


@bp.get("/query")
def page():
    name = request.args.get("example", "").strip()
    query = request.args.get("query", "")
    if len(query) > MAX_QUERY_PARAM:
        raise RequestEntityTooLarge(f"the query is over {MAX_QUERY_PARAM} characters; POST it to /sparql instead")
    try:
        example = load_query(name) if name else None
    except QueryError as exc:
        raise NotFound(str(exc)) from None
    initial = {
        "query": query or (example.sparql if example else DEFAULT_QUERY),
        "example": example.name if example else None,
        "run": bool(query or example),
    }
    if neg.choose(neg.PAGE_TYPES) == "json":
        return jsonify({**initial, "endpoint": "/sparql", "examples": examples()})
    g.csp_style_hashes = YASGUI_STYLE_HASHES  # web.security adds them to this response's style-src
    html = render_template("query.html", examples=examples(), initial=initial, prefixes=PREFIXES)
    return Response(html, mimetype="text/html")
