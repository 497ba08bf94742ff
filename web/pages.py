"""Pages: the dashboard with the evidence matrix, entity and study pages,
search, downloads and the VoID description.

Every page has a JSON twin (``Accept: application/json`` or a ``.json``
suffix); entity and study pages and /void also answer RDF by content
negotiation (``Accept`` or ``?format=ttl|jsonld|nt|rdfxml``). The data comes
from :mod:`kg.views`; this module parses requests and renders.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify, render_template, request, send_file

from kg.views import cache
from kg.views.common import CATEGORY_LABELS, BadParameter, NotFound
from kg.views.dashboard import cell_findings
from kg.views.downloads import download_path, downloads, void_graph
from kg.views.entity import entity_page, entity_rdf
from kg.views.search import MAX_LIMIT, search
from kg.views.study import EVIDENCE_LEVELS, study_page, study_rdf

from .errors import error_response
from .state import get_graph

#: Representations of a page: media type -> name, the first is the default.
PAGE_TYPES: dict[str, str] = {"text/html": "html", "application/json": "json"}
RDF_TYPES: dict[str, str] = {
    "text/turtle": "turtle",
    "application/ld+json": "jsonld",
    "application/n-triples": "nt",
    "application/rdf+xml": "rdfxml",
}
#: ``?format=`` values.
FORMAT_PARAMS: dict[str, str] = {
    "html": "html",
    "json": "json",
    "ttl": "turtle",
    "turtle": "turtle",
    "jsonld": "jsonld",
    "json-ld": "jsonld",
    "nt": "nt",
    "ntriples": "nt",
    "rdfxml": "rdfxml",
    "rdf": "rdfxml",
    "xml": "rdfxml",
}
#: format -> (rdflib serializer, media type sent, file extension)
RDF_OUT: dict[str, tuple[str, str, str]] = {
    "turtle": ("turtle", "text/turtle; charset=utf-8", "ttl"),
    "jsonld": ("json-ld", "application/ld+json", "jsonld"),
    "nt": ("nt", "application/n-triples", "nt"),
    "rdfxml": ("xml", "application/rdf+xml", "rdf"),
}
HEAT_STEPS = 5


def choose(offered: dict[str, str], *, suffix_json: bool = False) -> str:
    """The representation to send: ``?format=``, a ``.json`` suffix, or Accept
    (q-values, ties to the order of ``offered``); 400/406 when none fits."""
    names = list(dict.fromkeys(offered.values()))
    if suffix_json:
        return "json"
    param = request.args.get("format")
    if param is not None:
        fmt = FORMAT_PARAMS.get(param.strip().lower())
        if fmt is None or fmt not in names:
            raise BadParameter(
                f"unknown format {param[:40]!r}", expected="one of " + ", ".join(k for k, v in FORMAT_PARAMS.items() if v in names)
            )
        return fmt
    header = request.headers.get("Accept", "")
    if not header.strip():
        return names[0]
    accept = request.accept_mimetypes
    best: tuple[float, int, str] | None = None
    for order, (media, fmt) in enumerate(offered.items()):
        q = accept.quality(media)
        if q > 0 and (best is None or q > best[0] or (q == best[0] and order < best[1])):
            best = (q, order, fmt)
    if best is None:
        abort(406, description="none of the accepted media types can be produced; offered: " + ", ".join(offered))
    return best[2]


#: Long lists (a matrix cell's findings, an entity's studies) are sent a page at
#: a time: at 10,000 studies one cell holds thousands of findings (megabytes).
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def paged(items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """The slice of ``items`` that ``?offset=`` and ``?limit=`` ask for, and
    the paging facts (total, offset, limit, next/previous offsets or None)."""
    try:
        offset = int(request.args.get("offset", "0"))
        limit = int(request.args.get("limit", str(PAGE_SIZE)))
    except ValueError:
        raise BadParameter("offset and limit must be whole numbers", expected=f"offset >= 0, limit 1 to {MAX_PAGE_SIZE}") from None
    if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadParameter(f"offset {offset} or limit {limit} is out of range", expected=f"offset >= 0, limit 1 to {MAX_PAGE_SIZE}")
    total = len(items)
    page = {
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if offset + limit < total else None,
        "previous_offset": max(offset - limit, 0) if offset > 0 else None,
    }
    return items[offset : offset + limit], page


def split_suffix(value: str) -> tuple[str, bool]:
    return (value[:-5], True) if value.endswith(".json") else (value, False)


def rdf_response(graph, fmt: str, name: str) -> Response:
    serializer, mime, ext = RDF_OUT[fmt]
    body = graph.serialize(format=serializer, encoding="utf-8")
    response = Response(body, mimetype=mime.split(";")[0])
    response.headers["Content-Type"] = mime
    response.headers["Content-Disposition"] = f'inline; filename="{name}.{ext}"'
    response.headers["Vary"] = "Accept"
    return response


def heat(studies: int, most: int) -> int:
    """Heat class 0..5 of a matrix cell (0 = no supporting study)."""
    if studies <= 0 or most <= 0:
        return 0
    return max(1, min(HEAT_STEPS, math.ceil(HEAT_STEPS * studies / most)))


def heat_legend(most: int) -> list[dict[str, Any]]:
    """The study counts each heat class stands for."""
    legend = [{"heat": 0, "label": "0"}]
    if most <= 0:
        return legend
    for step in range(1, HEAT_STEPS + 1):
        low = math.floor(most * (step - 1) / HEAT_STEPS) + 1
        high = math.floor(most * step / HEAT_STEPS)
        if high >= low:
            legend.append({"heat": step, "label": str(low) if low == high else f"{low}–{high}"})
    return legend


def make_blueprint(app: Flask) -> Blueprint:
    bp = Blueprint("pages", __name__)

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):
        return error_response(404, "Not Found", str(exc))

    app.jinja_env.globals.update(evidence_levels=EVIDENCE_LEVELS, category_labels=CATEGORY_LABELS)

    # -- dashboard and matrix ----------------------------------------------------------
    def dashboard_data() -> dict[str, Any]:
        data = cache.views(get_graph())
        matrix = data["matrix"]
        most = matrix["max_studies"]
        return {
            "release": data["release"],
            **data["dashboard"],
            "matrix": {
                **matrix,
                "cells": [[{**cell, "heat": heat(cell["studies"], most)} for cell in row] for row in matrix["cells"]],
                "legend": heat_legend(most),
            },
        }

    @bp.get("/")
    def index():
        data = dashboard_data()
        if choose(PAGE_TYPES) == "json":
            return jsonify(data)
        return render_template("dashboard.html", **data)

    @bp.get("/dashboard.json")
    def dashboard_json():
        return jsonify(dashboard_data())

    @bp.get("/stats.json")
    def stats_json():
        return jsonify(cache.views(get_graph())["dashboard"]["stats"])

    @bp.get("/matrix/<modality>/<category>")
    def matrix(modality: str, category: str):
        category, suffix = split_suffix(category)
        fmt = choose(PAGE_TYPES, suffix_json=suffix)
        kg = get_graph()
        index = cache.cell_index(kg, modality, category)  # counts and findings in order, stored per release
        listed, page = paged(index["findings"])
        findings = cache.memo(kg, ("cell", modality, category, page["offset"], page["limit"]), lambda: cell_findings(kg, listed))
        cell = {**index, "findings": findings, "findings_page": page}
        if fmt == "json":
            return jsonify(cell)
        return render_template("matrix_cell.html", cell=cell)

    # -- entity -------------------------------------------------------------------------
    @bp.get("/entity/<entity_id>")
    def entity(entity_id: str):
        entity_id, suffix = split_suffix(entity_id)
        fmt = choose({**PAGE_TYPES, **RDF_TYPES}, suffix_json=suffix)
        kg = get_graph()
        if fmt in RDF_OUT:
            return rdf_response(entity_rdf(kg, entity_id), fmt, entity_id)
        full = cache.memo(kg, ("entity", entity_id), lambda: entity_page(kg, entity_id))
        studies, paging = paged(full["studies"])
        page = {**full, "studies": studies, "studies_page": paging}
        if fmt == "json":
            return jsonify(page)
        return render_template("entity.html", e=page)

    # -- study --------------------------------------------------------------------------
    @bp.get("/study/<study_id>")
    def study(study_id: str):
        study_id, suffix = split_suffix(study_id)
        fmt = choose({**PAGE_TYPES, **RDF_TYPES}, suffix_json=suffix)
        kg = get_graph()
        if fmt in RDF_OUT:
            return rdf_response(study_rdf(kg, study_id), fmt, study_id)
        page = cache.memo(kg, ("study", study_id), lambda: study_page(kg, study_id))
        if fmt == "json":
            return jsonify(page)
        return render_template("study.html", s=page)

    # -- search -------------------------------------------------------------------------
    @bp.get("/api/search")
    def api_search():
        q = request.args.get("q", "")
        if len(q) > 200:
            raise BadParameter("the search text is too long", expected="at most 200 characters")
        try:
            limit = int(request.args.get("limit", "10"))
        except ValueError:
            raise BadParameter("limit must be a whole number", expected=f"1 to {MAX_LIMIT}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParameter(f"limit {limit} is out of range", expected=f"1 to {MAX_LIMIT}")
        return jsonify({"q": q, "results": search(get_graph(), q, limit)})

    @bp.get("/search")
    def search_page():
        q = request.args.get("q", "")[:200]
        results = search(get_graph(), q, MAX_LIMIT) if q.strip() else []
        if choose(PAGE_TYPES) == "json":
            return jsonify({"q": q, "results": results})
        return render_template("search.html", q=q, results=results)

    # -- downloads and VoID ---------------------------------------------------------------
    @bp.get("/downloads")
    def downloads_page():
        data = downloads(get_graph())
        if choose(PAGE_TYPES) == "json":
            return jsonify(data)
        return render_template("downloads.html", **data)

    @bp.get("/downloads.json")
    def downloads_json():
        return jsonify(downloads(get_graph()))

    @bp.get("/downloads/<name>")
    def download(name: str):
        path, mime = download_path(get_graph(), name)
        response = send_file(path, mimetype=mime.split(";")[0], as_attachment=True, download_name=name, max_age=3600)
        response.headers["Content-Type"] = mime
        return response

    @bp.get("/void")
    def void():
        fmt = choose(
            {
                "text/turtle": "turtle",
                "text/html": "html",
                "application/ld+json": "jsonld",
                "application/json": "json",
                "application/n-triples": "nt",
                "application/rdf+xml": "rdfxml",
            }
        )
        kg = get_graph()
        graph = void_graph(kg, request.url_root)
        if fmt == "json":
            fmt = "jsonld"
        if fmt in RDF_OUT:
            return rdf_response(graph, fmt, "void")
        turtle = graph.serialize(format="turtle")
        return render_template("void.html", turtle=turtle)

    return bp
