"""Safety analysis of SPARQL requests, done before anything is executed.

Both engines we embed make HTTP requests on their own: pyoxigraph and rdflib
execute ``SERVICE <url>`` and ``LOAD <url>``, and rdflib also fetches
``FROM <url>``. Neither can switch this off, so a served endpoint parses each
request with rdflib's SPARQL parser and walks the parse tree:

* ``SERVICE`` in any form (``SILENT``, a variable endpoint, nested in
  ``EXISTS``, ``MINUS``, a sub-query or an update's ``WHERE``) is refused;
* ``LOAD`` is refused in every mode;
* the IRIs of ``FROM``, ``FROM NAMED``, ``USING``, ``USING NAMED`` and ``WITH``
  are returned, so the caller can refuse those that name no graph of the store
  (and never lets an engine fetch them).

A lexical check over the text (comments, strings and IRIs removed) backs the
parse-tree walk up: a ``SERVICE`` or ``LOAD`` keyword it finds is refused even
if the tree somehow hides it. No Flask here: :mod:`web.sparql` maps the
exceptions to HTTP statuses.

The text that is checked is the text that runs. Two parsers read a request:
rdflib's here, Oxigraph's in the engine, and where they disagree on where a
comment or a string ends, a keyword one of them hides the other runs (a
carriage return ended a ``#`` comment for Oxigraph and not for rdflib, so
``# c\rSERVICE <...>`` ran a federated call that the guard never saw).
:func:`canonical_text` therefore rewrites every request once, before anything
reads it, into a form on which both agree, and the analysis carries that text
(:attr:`Analysis.text`) for the engine to run:

* line endings: CR LF, a lone CR, NEL (U+0085) and the Unicode line and
  paragraph separators (U+2028, U+2029) become LF, the only line end left;
* codepoint escapes (``\\uXXXX``, ``\\UXXXXXXXX``) are expanded once, as
  the SPARQL grammar says they are before parsing (rdflib does, Oxigraph does
  only inside IRIs and strings, so an escaped line feed ended a comment for
  one of them only); an escape that spells another escape, or a code point
  beyond U+10FFFF or a surrogate, is refused;
* a leading byte-order mark is dropped; NUL and the other control characters
  (but tab and LF) are refused.

The query workers also run without network access (:mod:`kg.sandbox`), so a
disagreement nobody has found yet still reaches nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

from pyparsing import ParseBaseException
from pyparsing.results import ParseResults
from rdflib.plugins.sparql.algebra import translatePrologue
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from .errors import QueryError, QueryRefused, TkgError

QUERY_FORMS = {"SelectQuery": "select", "AskQuery": "ask", "ConstructQuery": "construct", "DescribeQuery": "describe"}

# pyparsing grammars are shared objects: parse one request at a time.
_PARSE_LOCK = threading.Lock()

_REFUSED_SERVICE = (
    "SERVICE (federated query) is disabled on this endpoint: the server does not call other endpoints. "
    "Run the remote part against its own endpoint and combine the results with VALUES."
)
_REFUSED_LOAD = "LOAD is disabled on this endpoint: the server never fetches data from URLs. Use `tkg ingest FILE` to add data."

# Lexical back-up check: remove what cannot hold a keyword, then look for it.
_LEXEMES = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'  # long strings
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'  # short strings
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'  # IRIs (not the < operator: those have spaces)
    r"|#[^\n]*",  # comments
    re.DOTALL,
)
_KEYWORD = re.compile(r"(?<![\w:?$\\-])(SERVICE|LOAD)(?![\w:-])", re.IGNORECASE)
_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LINE_END = re.compile("\r\n|[\r\u0085\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # tab (09) and LF (0a) stay; CR is gone by then


@dataclass(frozen=True)
class Analysis:
    """What a request does, as far as the endpoint must know before running it."""

    operation: str  # "query" or "update"
    text: str = ""  # the canonical text that was checked: the one to run
    form: str | None = None  # select, ask, construct, describe (queries only)
    from_graphs: tuple[str, ...] = ()  # FROM (queries) / USING (updates)
    from_named: tuple[str, ...] = ()  # FROM NAMED / USING NAMED
    with_graphs: tuple[str, ...] = ()  # WITH (updates)

    @property
    def dataset_iris(self) -> tuple[str, ...]:
        return self.from_graphs + self.from_named + self.with_graphs

    @property
    def has_dataset_clause(self) -> bool:
        return bool(self.from_graphs or self.from_named)


def syntax_error(exc: ParseBaseException, operation: str) -> QueryError:
    """A one-line parser message with line and column, no echo of internals."""
    message = " ".join(str(exc.msg).split())[:200]
    found = exc.line[max(0, exc.col - 1) : exc.col + 19] if exc.line else ""
    near = f" near {found.strip()!r}" if found.strip() else ""
    what = "SPARQL syntax error" if operation == "query" else "SPARQL Update syntax error"
    return QueryError(f"{what} at line {exc.lineno}, column {exc.col}{near}: {message}")


def _walk(node: Any) -> Iterator[CompValue]:
    """Every CompValue in a parse tree, depth first (no recursion limit issues for deep trees)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, CompValue):
            yield item
            stack.extend(item.values())
        elif isinstance(item, (ParseResults, list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def _field(node: Any, key: str) -> Any:
    """A field of a parse-tree node or None (CompValue.get returns the key itself when absent)."""
    return node[key] if key in node else None


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def _expand_escape(match: re.Match[str]) -> str:
    code = int(match.group(1) or match.group(2), 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise QueryError(
            f"the escape {match.group(0)} at {_position(match.string, match.start())} is not a Unicode character",
            expected="a code point up to U+10FFFF, not a surrogate",
        )
    return chr(code)


def canonical_text(text: str) -> str:
    """The one form of a request that is both checked and run (see the module docs).

    Raises :class:`QueryError` for what cannot be made unambiguous: a control
    character, an escape beyond U+10FFFF, an escape that expands to another escape.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = _LINE_END.sub("\n", text)
    if "\\" in text:
        text = _LINE_END.sub("\n", _UNICODE_ESCAPE.sub(_expand_escape, text))
        again = _UNICODE_ESCAPE.search(text)
        if again:
            raise QueryError(
                f"an escape expands to another escape ({again.group(0)}) at {_position(text, again.start())}; "
                "write the character itself"
            )
    control = _CONTROL.search(text)
    if control:
        raise QueryError(
            f"control character U+{ord(control.group(0)):04X} at {_position(text, control.start())} is not allowed in a request",
            expected="text without NUL or other control characters (tab and line breaks are fine)",
        )
    return text


def lexical_keywords(text: str) -> set[str]:
    """SERVICE / LOAD keywords outside strings, IRIs and comments (upper-cased),
    in the canonical form of ``text``."""
    stripped = _LEXEMES.sub(" ", canonical_text(text))
    return {m.group(1).upper() for m in _KEYWORD.finditer(stripped)}


_FROM = re.compile(r"(?<![\w:?$\\-])FROM(?![\w:-])", re.IGNORECASE)


def has_dataset_clause(text: str) -> bool:
    """True if a query names its own dataset (FROM / FROM NAMED outside strings,
    IRIs and comments). Cheap enough for every query of the Python API."""
    return bool(_FROM.search(_LEXEMES.sub(" ", text)))


def _refuse_remote(tree: Any, text: str) -> None:
    for node in _walk(tree):
        if node.name == "ServiceGraphPattern":
            raise QueryRefused(_REFUSED_SERVICE)
        if node.name == "Load":
            raise QueryRefused(_REFUSED_LOAD)
    found = {m.group(1).upper() for m in _KEYWORD.finditer(_LEXEMES.sub(" ", text))}
    if "SERVICE" in found:
        raise QueryRefused(_REFUSED_SERVICE)
    if "LOAD" in found:
        raise QueryRefused(_REFUSED_LOAD)


def _check_prefixes(tree: Any, prologues: list[Any]) -> None:
    """Refuse prefixed names whose prefix no PREFIX declares (rdflib would fail late and badly)."""
    declared = {str(_field(d, "prefix") or "") for p in prologues for d in p if getattr(d, "name", None) == "PrefixDecl"}
    for node in _walk(tree):
        if node.name == "pname":
            prefix = str(_field(node, "prefix") or "")
            if prefix not in declared:
                raise QueryError(f"unknown prefix {prefix}: declare it with PREFIX {prefix}: <...> before the query")


def _iri(prologue: Any, value: Any) -> str:
    if isinstance(value, CompValue) and value.name == "pname":
        prefix = _field(value, "prefix") or ""
        if prologue is None or prologue.namespace_manager.store.namespace(prefix) is None:
            raise QueryError(f"unknown prefix {prefix}: in a graph IRI; declare it with PREFIX {prefix}: <...>")
    return str(prologue.absolutize(value)) if prologue is not None else str(value)


#: Analyses kept per process, by query text: the analysis is a function of the
#: text alone, and parsing with rdflib's grammar costs about 1.3 ms for a small
#: SELECT (a third of the endpoint's work per request), paid again by every
#: repeat of an example query, a dashboard's or a tool's polling query. Refusals
#: and syntax errors are raised again each time, not kept.
ANALYSIS_CACHE_SIZE = 512
#: Longer texts are analyzed every time (the cache holds at most 512 x 16 KiB).
ANALYSIS_CACHE_MAX_CHARS = 16384


def _no_crash(function: Any) -> Any:
    """Every failure of an analysis is a QueryError (a 400), never a crash."""

    @wraps(function)
    def analyze(text: str) -> Analysis:
        try:
            return function(text)
        except TkgError:
            raise
        except RecursionError:
            raise QueryError("the request is nested too deeply to be analyzed") from None
        except Exception as exc:  # noqa: BLE001 - rdflib's prologue and IRI handling raise many kinds
            raise QueryError(f"the request could not be analyzed: {' '.join(str(exc).split())[:200]}") from None

    return analyze


@_no_crash
def analyze_query(text: str) -> Analysis:
    """Parse a query, refuse SERVICE/LOAD, return its form and dataset clause.

    Raises :class:`QueryError` for a syntax error (with line and column) and
    :class:`QueryRefused` for a refused feature. Run :attr:`Analysis.text`
    (the canonical text that was checked), never the text as received. Successful analyses of texts
    up to :data:`ANALYSIS_CACHE_MAX_CHARS` are kept (:data:`ANALYSIS_CACHE_SIZE`
    texts, least recently used dropped).
    """
    if len(text) <= ANALYSIS_CACHE_MAX_CHARS:
        return _analyze_query_kept(text)
    return _analyze_query(text)


@lru_cache(maxsize=ANALYSIS_CACHE_SIZE)
def _analyze_query_kept(text: str) -> Analysis:
    return _analyze_query(text)


def _parse(parser: Any, text: str, operation: str) -> Any:
    """rdflib's parse tree of the canonical text; every failure is a QueryError
    (a parser exception that escaped here once killed the query worker)."""
    with _PARSE_LOCK:
        try:
            return parser(text)
        except ParseBaseException as exc:
            raise syntax_error(exc, operation) from None
        except RecursionError:
            raise QueryError(f"the {operation} is nested too deeply to be parsed") from None
        except Exception as exc:  # noqa: BLE001 - rdflib raises ValueError, TypeError ... on odd input
            raise QueryError(f"the {operation} could not be parsed: {' '.join(str(exc).split())[:200]}") from None


def _analyze_query(text: str) -> Analysis:
    text = canonical_text(text)
    tree = _parse(parseQuery, text, "query")
    _refuse_remote(tree, text)
    prologue_tree, body = tree[0], tree[1]
    _check_prefixes(body, [prologue_tree])
    form = QUERY_FORMS.get(body.name)
    if form is None:
        raise QueryError(f"unsupported query form {body.name}")
    prologue = translatePrologue(prologue_tree, None)
    default, named = [], []
    for clause in _field(body, "datasetClause") or []:
        if _field(clause, "default") is not None:
            default.append(_iri(prologue, _field(clause, "default")))
        if _field(clause, "named") is not None:
            named.append(_iri(prologue, _field(clause, "named")))
    return Analysis("query", text, form, tuple(default), tuple(named))


@_no_crash
def analyze_update(text: str) -> Analysis:
    """Parse an update, refuse LOAD and SERVICE, return its USING/WITH graphs.

    Run :attr:`Analysis.text` (the canonical text that was checked), never the text as received."""
    text = canonical_text(text)
    tree = _parse(parseUpdate, text, "update")
    _refuse_remote(tree, text)
    _check_prefixes(_field(tree, "request") or [], list(_field(tree, "prologue") or []))
    default: list[str] = []
    named: list[str] = []
    with_graphs: list[str] = []
    prologue = None
    prologues = _field(tree, "prologue") or []
    for index, request in enumerate(_field(tree, "request") or []):
        if index < len(prologues):
            prologue = translatePrologue(prologues[index], None, None, prologue)
        if request.name != "Modify":
            continue
        if _field(request, "withClause") is not None:
            with_graphs.append(_iri(prologue, _field(request, "withClause")))
        for clause in _field(request, "using") or []:
            if _field(clause, "default") is not None:
                default.append(_iri(prologue, _field(clause, "default")))
            if _field(clause, "named") is not None:
                named.append(_iri(prologue, _field(clause, "named")))
    return Analysis("update", text, None, tuple(default), tuple(named), tuple(with_graphs))


def unknown_graphs(analysis: Analysis, known: set[str]) -> list[str]:
    """The FROM / FROM NAMED / USING IRIs that are not graphs of the store (in order, once each)."""
    seen: list[str] = []
    for iri in analysis.from_graphs + analysis.from_named:
        if iri not in known and iri not in seen:
            seen.append(iri)
    return seen
