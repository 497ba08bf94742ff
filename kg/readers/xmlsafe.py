"""Parsing untrusted XML safely: no network, no DTD loading, no entities.

Documents that declare entities (the way to an entity-expansion bomb or an
external entity) are refused before parsing; the parser itself never loads a
DTD, never resolves entities and never touches the network, and refuses
pathologically deep trees.
"""

from __future__ import annotations

import re

from lxml import etree

from ..errors import IngestError

MAX_DEPTH = 200
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[(?P<subset>.*?)\])?\s*>", re.S | re.I)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, source: str) -> etree._Element:
    """Parse bytes into an element tree, refusing anything that could expand or fetch."""
    head = data[:65536]
    if b"<!ENTITY" in data.upper():
        raise IngestError("XML declares entities (refused: entity expansion and external entities are not allowed)", where=source)
    match = _DOCTYPE.search(head)
    if match and match.group("subset") and match.group("subset").strip():
        raise IngestError("XML has an internal DTD subset (refused)", where=source)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc).lower():
            raise IngestError("XML is nested too deeply (refused)", where=source) from None
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        raise IngestError(f"malformed XML{where}: {exc.msg if hasattr(exc, 'msg') else exc}", where=source) from None
    except ValueError as exc:  # e.g. unicode strings with encoding declarations
        raise IngestError(f"malformed XML: {exc}", where=source) from None
    if root is None:
        raise IngestError("XML document has no root element", where=source)
    _check_depth(root, source)
    return root


def _check_depth(root: etree._Element, source: str) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise IngestError(f"XML is nested more than {MAX_DEPTH} levels deep (refused)", where=source)
        stack.extend((child, depth + 1) for child in element)


def text_of(element: etree._Element | None) -> str:
    """All text inside an element (inline markup such as <i> kept as plain text), whitespace collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())
