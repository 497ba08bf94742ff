"""Pages: the dashboard with the evidence matrix, entity and study pages,
search, downloads and the VoID description.

Every page has a JSON twin (``Accept: application/json`` or a ``.json``
suffix); entity and study pages and /void also answer RDF by content
negotiation (``Accept`` or ``?format=ttl|jsonld|nt|rdfxml``). The data comes
from :mod:`kg.views`; this module parses requests and renders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, send_file
from flask.blueprints import BlueprintSetupState

from kg.views import cache
from kg.views.common import CATEGORY_LABELS, BadParameter, NotFound
from kg.views.dashboard import cell_findings
from kg.views.downloads import download_path, downloads, void_graph
from kg.views.entity import entity_page, entity_rdf
from kg.views.search import MAX_LIMIT, search
from kg.views.study import EVIDENCE_LEVELS, study_page, study_rdf

from . import negotiation as neg
from .errors import error_response
from .state import get_graph

HEAT_STEPS = 5


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
    mime, ext = neg.FORMAT_MEDIA[fmt]
    body = graph.serialize(format=neg.RDFLIB_SERIALIZERS[fmt], encoding="utf-8")
    response = Response(body, mimetype=mime.split(";")[0])
    response.headers["Content-Type"] = mime
    response.headers["Content-Disposition"] = f'inline; filename="{name}.{ext}"'
    response.headers["Vary"] = "Accept"
    return response


def represent(
    template: str,
    data: Callable[[], Any],
    *,
    key: str | None = None,
    rdf: Callable[[], Any] | None = None,
    name: str = "",
    suffix_json: bool = False,
):
    """A page as Datasette builds one: its data function and its template, plus
    an RDF function where it has one. The form comes from :func:`web.negotiation.choose`
    and only the representation sent is computed. JSON is the data itself; the
    template gets the data's keys, or the data under ``key``."""
    offered = {**neg.PAGE_TYPES, **(neg.RDF_TYPES if rdf is not None else {})}
    fmt = neg.choose(offered, suffix_json=suffix_json)
    if rdf is not None and fmt in neg.RDFLIB_SERIALIZERS:
        return rdf_response(rdf(), fmt, name)
    value = data()
    if fmt == "json":
        return jsonify(value)
    return render_template(template, **({key: value} if key else value))


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


bp = Blueprint("pages", __name__)


@bp.app_errorhandler(NotFound)
def not_found(exc: NotFound):
    return error_response(404, "Not Found", str(exc))


@bp.record_once
def page_globals(state: BlueprintSetupState) -> None:
    # Jinja globals, not a context processor: macros imported without context see only globals.
    state.app.jinja_env.globals.update(evidence_levels=EVIDENCE_LEVELS, category_labels=CATEGORY_LABELS)


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
    return represent("dashboard.html", dashboard_data)


@bp.get("/dashboard.json")
def dashboard_json():
    return jsonify(dashboard_data())


@bp.get("/stats.json")
def stats_json():
    return jsonify(cache.views(get_graph())["dashboard"]["stats"])


@bp.get("/matrix/<modality>/<category>")
def matrix(modality: str, category: str):
    category, suffix = split_suffix(category)

    def data() -> dict[str, Any]:
        kg = get_graph()
        index = cache.cell_index(kg, modality, category)  # counts and findings in order, stored per release
        listed, page = paged(index["findings"])
        findings = cache.memo(kg, ("cell", modality, category, page["offset"], page["limit"]), lambda: cell_findings(kg, listed))
        return {**index, "findings": findings, "findings_page": page}

    return represent("matrix_cell.html", data, key="cell", suffix_json=suffix)


# -- entity -------------------------------------------------------------------------
@bp.get("/entity/<entity_id>")
def entity(entity_id: str):
    entity_id, suffix = split_suffix(entity_id)
    kg = get_graph()

    def data() -> dict[str, Any]:
        full = cache.memo(kg, ("entity", entity_id), lambda: entity_page(kg, entity_id))
        studies, paging = paged(full["studies"])
        return {**full, "studies": studies, "studies_page": paging}

    if neg.choose({**neg.PAGE_TYPES, **neg.RDF_TYPES}, suffix_json=suffix) == "html":
        # The HTML of a page of studies is the same for everyone until the next release: rendered
        # once (CAR-T's takes ~100 ms of one core at 10,000 studies; 8 clients queued behind it,
        # p50 160 ms). The template has no per-request parts but the path (no CSP nonce).
        paging = data()["studies_page"]  # bad paging is refused before anything is kept
        key = ("entity-html", entity_id, paging["offset"], paging["limit"])
        return cache.memo(kg, key, lambda: render_template("entity.html", e=data()))
    return represent("entity.html", data, key="e", rdf=lambda: entity_rdf(kg, entity_id), name=entity_id, suffix_json=suffix)


# -- study --------------------------------------------------------------------------
@bp.get("/study/<study_id>")
def study(study_id: str):
    study_id, suffix = split_suffix(study_id)
    kg = get_graph()

    def data() -> dict[str, Any]:
        return cache.memo(kg, ("study", study_id), lambda: study_page(kg, study_id))

    return represent("study.html", data, key="s", rdf=lambda: study_rdf(kg, study_id), name=study_id, suffix_json=suffix)


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
    return represent("search.html", lambda: {"q": q, "results": search(get_graph(), q, MAX_LIMIT) if q.strip() else []})


# -- downloads and VoID ---------------------------------------------------------------
@bp.get("/downloads")
def downloads_page():
    return represent("downloads.html", lambda: downloads(get_graph()))


@bp.get("/downloads.json")
def downloads_json():
    return jsonify(downloads(get_graph()))


@bp.get("/downloads/<name>")
def download(name: str):
    path, mime = download_path(get_graph(), name)
    response = send_file(path, mimetype=mime.split(";")[0], as_attachment=True, download_name=name, max_age=3600)
    response.headers["Content-Type"] = mime
    return response


#: /void is an RDF document first: Turtle by default, JSON means JSON-LD.
VOID_TYPES: dict[str, str] = {
    "text/turtle": "turtle",
    "text/html": "html",
    "application/ld+json": "jsonld",
    "application/json": "json",
    "application/n-triples": "nt",
    "application/rdf+xml": "rdfxml",
}


@bp.get("/void")
def void():
    fmt = neg.choose(VOID_TYPES)
    graph = void_graph(get_graph(), request.url_root)
    if fmt == "json":
        fmt = "jsonld"
    if fmt in neg.RDFLIB_SERIALIZERS:
        return rdf_response(graph, fmt, "void")
    return render_template("void.html", turtle=graph.serialize(format="turtle"))
