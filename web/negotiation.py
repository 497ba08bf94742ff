"""Content negotiation through explicit lookup tables.

Each table maps a media type to a format name of :mod:`kg.workers`, in the
server's order of preference (the first entry is the default). ``Accept`` is
parsed with q-values and wildcards; among the offered types the one with the
highest quality wins, ties going to the server's order. A ``format=`` query
parameter overrides ``Accept`` through :data:`FORMAT_PARAMS`.

Other blueprints (entity and study pages) can negotiate RDF with
:data:`GRAPH_TYPES` and :func:`negotiate`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")

    def matches(self, media_type: str) -> bool:
        main, _, sub = media_type.partition("/")
        return self.type in ("*", main) and self.subtype in ("*", sub)


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header; malformed entries are ignored (q defaults to 1)."""
    ranges: list[MediaRange] = []
    for item in (header or "").split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if "/" not in media:
            continue
        main, _, sub = media.partition("/")
        if not main or not sub:
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value.strip())))
                except ValueError:
                    q = 0.0
        ranges.append(MediaRange(main, sub, q))
    return ranges


def quality(ranges: list[MediaRange], media_type: str) -> float:
    """The quality the client gives ``media_type``: from its most specific matching range."""
    best: MediaRange | None = None
    for candidate in ranges:
        if candidate.matches(media_type) and (best is None or candidate.specificity > best.specificity):
            best = candidate
    return best.q if best is not None else 0.0


def negotiate(header: str | None, table: dict[str, str]) -> tuple[str, str] | None:
    """(media type, format) the client prefers among ``table``, or None (406).

    No or an empty Accept header gets the table's first entry."""
    if header is None or not header.strip():
        first = next(iter(table.items()))
        return first
    ranges = parse_accept(header)
    if not ranges:
        return next(iter(table.items()))
    best: tuple[float, str, str] | None = None
    for media_type, fmt in table.items():
        q = quality(ranges, media_type)
        if q > 0 and (best is None or q > best[0]):
            best = (q, media_type, fmt)
    return (best[1], best[2]) if best else None


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
