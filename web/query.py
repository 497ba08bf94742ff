"""The SPARQL editor: ``/query`` (YASGUI on this server's ``/sparql``) and
``/api/examples`` (the competency-question queries as examples).

``/query?query=...`` opens the editor with that query, ``/query?example=cq1``
with a named example.

YASGUI's results table uses column-resizer, which injects two fixed
``<style>`` elements into the page. The app's CSP forbids inline styles, so
this page's responses (and only these) add the sha256 hashes of exactly those
two style texts to ``style-src`` (:data:`YASGUI_STYLE_HASHES`); no
``'unsafe-inline'``, scripts stay ``'self'`` only (see docs/security.md).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from kg.errors import QueryError
from kg.namespaces import PREFIXES, SPARQL_PREFIXES
from kg.queries import list_queries, load_query

from .errors import wants_html

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


def make_blueprint(app: Flask) -> Blueprint:
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
        if not wants_html() and request.accept_mimetypes.best == "application/json":
            return jsonify({**initial, "endpoint": "/sparql", "examples": examples()})
        html = render_template("query.html", examples=examples(), initial=initial, prefixes=PREFIXES)
        return Response(html, mimetype="text/html")

    def _yasgui_csp(response: Response) -> Response:
        """Allow YASGUI's two fixed <style> texts on the editor page only."""
        policy = response.headers.get("Content-Security-Policy")
        if request.endpoint == "query.page" and policy and response.mimetype == "text/html":
            hashes = " ".join(YASGUI_STYLE_HASHES)
            parts = [f"{part} {hashes}" if part.strip().startswith("style-src ") else part for part in policy.split(";")]
            response.headers["Content-Security-Policy"] = ";".join(parts)
        return response

    # After-request functions run in reverse order of registration and the
    # app's security headers are set by one registered earlier: put this one
    # first in the list so it runs after the policy has been written.
    app.after_request_funcs.setdefault(None, []).insert(0, _yasgui_csp)
    return bp
