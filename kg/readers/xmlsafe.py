"""Parsing untrusted XML safely: no network, no DTD loading, no entities.

Documents that declare entities (the way to an entity-expansion bomb or an
external entity) are refused before parsing; the parser itself never loads a
DTD, never resolves entities and never touches the network, and refuses
pathologically deep trees.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from ..errors import IngestError

MAX_DEPTH = 200
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*(\[(?P<subset>.*?)\])?\s*>", re.S | re.I)
_ENCODING_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")

# Byte-order marks and the first bytes of "<?" in each encoding (XML 1.0, appendix F).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)


def _as_text(data: bytes, source: str) -> str:
    """The document decoded the way an XML parser would (BOM, then first bytes,
    then the encoding declaration), so that checks for DOCTYPEs and entity
    declarations see them in every encoding, not only in ASCII-compatible ones."""
    encoding = "utf-8"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            encoding = name
            break
    else:
        declared = _ENCODING_DECL.match(data[:200])
        if declared:
            encoding = declared.group(1).decode("ascii").lower()
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise IngestError(f"XML declares an unknown encoding {encoding!r}", where=source, expected="UTF-8") from None
    return data.decode(encoding, errors="replace")


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
    text = _as_text(data, source)
    if "<!ENTITY" in text.upper():
        raise IngestError("XML declares entities (refused: entity expansion and external entities are not allowed)", where=source)
    match = _DOCTYPE.search(text[:65536])
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
