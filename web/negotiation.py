"""Content negotiation: the one place where a response's form is chosen.

Each table maps a media type to a format name, in the server's order of
preference (the first entry is the default). ``Accept`` is parsed by
werkzeug; among the offered types the one with the highest quality wins, ties
going to the server's order (:func:`negotiate`).

* ``/sparql`` negotiates results with :data:`SELECT_TYPES`, :data:`ASK_TYPES`
  and :data:`GRAPH_TYPES`; its ``format=`` parameter goes through
  :data:`FORMAT_PARAMS`.
* Pages answer HTML, their JSON twin, and RDF where they have an RDF function,
  through :func:`choose` (``?format=``, a ``.json`` suffix, ``Accept``).
* Error responses use :func:`prefers_html`.
"""

from __future__ import annotations

from flask import abort, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

#: SELECT results: media type -> format.
SELECT_TYPES: dict[str, str] = {
    "application/sparql-results+json": "json",
    "application/sparql-results+xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
}

#: ASK results: booleans have no CSV/TSV form here (406).
ASK_TYPES: dict[str, str] = {
    "application/sparql-results+json": "json",
    "application/sparql-results+xml": "xml",
    "application/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
}

#: CONSTRUCT / DESCRIBE results and RDF documents.
GRAPH_TYPES: dict[str, str] = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "jsonld",
    "application/rdf+xml": "rdfxml",
    "application/n-quads": "nquads",
    "application/trig": "trig",
    "application/x-turtle": "turtle",
    "text/plain": "nt",
    "application/json": "jsonld",
    "application/xml": "rdfxml",
    "text/xml": "rdfxml",
}

#: The service description (an RDF document about the endpoint).
DESCRIPTION_TYPES: dict[str, str] = {k: v for k, v in GRAPH_TYPES.items() if v in ("turtle", "nt", "jsonld", "rdfxml")}

#: format -> (media type sent, file extension for downloads).
FORMAT_MEDIA: dict[str, tuple[str, str]] = {
    "json": ("application/sparql-results+json", "srj"),
    "xml": ("application/sparql-results+xml", "srx"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "tsv": ("text/tab-separated-values; charset=utf-8", "tsv"),
    "turtle": ("text/turtle; charset=utf-8", "ttl"),
    "nt": ("application/n-triples", "nt"),
    "jsonld": ("application/ld+json", "jsonld"),
    "rdfxml": ("application/rdf+xml", "rdf"),
    "nquads": ("application/n-quads", "nq"),
    "trig": ("application/trig", "trig"),
}

#: ``format=`` values -> format. ``json``/``xml`` mean the results formats for
#: SELECT/ASK and JSON-LD/RDF-XML for graph results.
FORMAT_PARAMS: dict[str, str] = {
    "json": "json",
    "srj": "json",
    "xml": "xml",
    "srx": "xml",
    "csv": "csv",
    "tsv": "tsv",
    "ttl": "turtle",
    "turtle": "turtle",
    "nt": "nt",
    "ntriples": "nt",
    "jsonld": "jsonld",
    "json-ld": "jsonld",
    "rdfxml": "rdfxml",
    "rdf": "rdfxml",
    "nq": "nquads",
    "nquads": "nquads",
    "trig": "trig",
}
_GRAPH_ALIASES = {"json": "jsonld", "xml": "rdfxml"}


def _accept(header: str | None) -> MIMEAccept:
    return parse_accept_header(header, MIMEAccept)


def negotiate(header: str | None, table: dict[str, str]) -> tuple[str, str] | None:
    """(media type, format) the client prefers among ``table``, or None (406).

    ``Accept`` is parsed by werkzeug (q-values, wildcards, the most specific
    range deciding); among the offered types the highest quality wins, ties
    going to the table's order. No Accept header, or one with no media range
    in it, gets the table's first entry."""
    accept = _accept(header)
    if not any("/" in value for value, _q in accept):
        return next(iter(table.items()))
    best: tuple[float, str, str] | None = None
    for media_type, fmt in table.items():
        q = accept.quality(media_type)
        if q > 0 and (best is None or q > best[0]):
            best = (q, media_type, fmt)
    return (best[1], best[2]) if best else None


# -- pages: HTML, JSON and RDF from one place -----------------------------------
#: A page's representations: media type -> name, the first is the default.
PAGE_TYPES: dict[str, str] = {"text/html": "html", "application/json": "json"}
#: The RDF a page with an RDF function offers besides HTML and JSON.
RDF_TYPES: dict[str, str] = {
    "text/turtle": "turtle",
    "application/ld+json": "jsonld",
    "application/n-triples": "nt",
    "application/rdf+xml": "rdfxml",
}
#: ``?format=`` values of pages.
PAGE_FORMAT_PARAMS: dict[str, str] = {
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
#: RDF format -> rdflib serializer of a page's RDF twin.
RDFLIB_SERIALIZERS: dict[str, str] = {"turtle": "turtle", "jsonld": "json-ld", "nt": "nt", "rdfxml": "xml"}


def choose(offered: dict[str, str], *, suffix_json: bool = False) -> str:
    """The representation of a page to send: ``?format=``, then a ``.json``
    suffix, then ``Accept`` (ties to the order of ``offered``). A bad
    ``?format=`` is a 400, an Accept nothing in ``offered`` satisfies a 406."""
    names = list(dict.fromkeys(offered.values()))
    if suffix_json:
        return "json"
    param = request.args.get("format")
    if param is not None:
        fmt = PAGE_FORMAT_PARAMS.get(param.strip().lower())
        if fmt is None or fmt not in names:
            valid = ", ".join(k for k, v in PAGE_FORMAT_PARAMS.items() if v in names)
            abort(400, description=f"unknown format {param[:40]!r} (expected one of {valid})")
        return fmt
    chosen = negotiate(request.headers.get("Accept"), offered)
    if chosen is None:
        abort(406, description="none of the accepted media types can be produced; offered: " + ", ".join(offered))
    return chosen[1]


def prefers(name: str, offered: dict[str, str]) -> bool:
    """True when ``Accept`` prefers the representation ``name`` among ``offered``
    (never an error: for error pages and redirects)."""
    chosen = negotiate(request.headers.get("Accept"), offered)
    return chosen is not None and chosen[1] == name


def prefers_html() -> bool:
    """Error responses: HTML for browsers, the JSON error shape for everyone else
    (no Accept, ``*/*`` and ties mean JSON)."""
    return prefers("html", {"application/json": "json", "text/html": "html"})


def format_param(value: str, table: dict[str, str]) -> str | None:
    """The format a ``format=`` value names, if ``table`` offers it (else None)."""
    fmt = FORMAT_PARAMS.get(value.strip().lower())
    if fmt is None:
        return None
    offered = set(table.values())
    if fmt not in offered and fmt in _GRAPH_ALIASES and _GRAPH_ALIASES[fmt] in offered:
        fmt = _GRAPH_ALIASES[fmt]
    return fmt if fmt in offered else None


def media_type(fmt: str) -> str:
    return FORMAT_MEDIA[fmt][0]


def extension(fmt: str) -> str:
    return FORMAT_MEDIA[fmt][1]
