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
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pyparsing import ParseBaseException
from pyparsing.results import ParseResults
from rdflib.plugins.sparql.algebra import translatePrologue
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from .errors import QueryError, QueryRefused

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


@dataclass(frozen=True)
class Analysis:
    """What a request does, as far as the endpoint must know before running it."""

    operation: str  # "query" or "update"
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


def _expand_escapes(text: str) -> str:
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def lexical_keywords(text: str) -> set[str]:
    """SERVICE / LOAD keywords outside strings, IRIs and comments (upper-cased)."""
    try:
        expanded = _expand_escapes(text)
    except (ValueError, OverflowError):  # an escape beyond U+10FFFF
        expanded = text
    stripped = _LEXEMES.sub(" ", expanded)
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
    found = lexical_keywords(text)
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


def analyze_query(text: str) -> Analysis:
    """Parse a query, refuse SERVICE/LOAD, return its form and dataset clause.

    Raises :class:`QueryError` for a syntax error (with line and column) and
    :class:`QueryRefused` for a refused feature. Successful analyses of texts
    up to :data:`ANALYSIS_CACHE_MAX_CHARS` are kept (:data:`ANALYSIS_CACHE_SIZE`
    texts, least recently used dropped).
    """
    if len(text) <= ANALYSIS_CACHE_MAX_CHARS:
        return _analyze_query_kept(text)
    return _analyze_query(text)


@lru_cache(maxsize=ANALYSIS_CACHE_SIZE)
def _analyze_query_kept(text: str) -> Analysis:
    return _analyze_query(text)


def _analyze_query(text: str) -> Analysis:
    with _PARSE_LOCK:
        try:
            tree = parseQuery(text)
        except ParseBaseException as exc:
            raise syntax_error(exc, "query") from None
        except RecursionError:
            raise QueryError("the query is nested too deeply to be parsed") from None
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
    return Analysis("query", form, tuple(default), tuple(named))


def analyze_update(text: str) -> Analysis:
    """Parse an update, refuse LOAD and SERVICE, return its USING/WITH graphs."""
    with _PARSE_LOCK:
        try:
            tree = parseUpdate(text)
        except ParseBaseException as exc:
            raise syntax_error(exc, "update") from None
        except RecursionError:
            raise QueryError("the update is nested too deeply to be parsed") from None
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
    return Analysis("update", None, tuple(default), tuple(named), tuple(with_graphs))


def unknown_graphs(analysis: Analysis, known: set[str]) -> list[str]:
    """The FROM / FROM NAMED / USING IRIs that are not graphs of the store (in order, once each)."""
    seen: list[str] = []
    for iri in analysis.from_graphs + analysis.from_named:
        if iri not in known and iri not in seen:
            seen.append(iri)
    return seen


def refuse_unknown_graphs(analysis: Analysis, known: set[str]) -> None:
    missing = unknown_graphs(analysis, known)
    if missing:
        keyword = "FROM" if analysis.operation == "query" else "USING"
        shown = ", ".join(f"<{iri}>" for iri in missing[:3])
        raise QueryRefused(
            f"{keyword} {shown} names no graph of this store; the server never fetches graphs from URLs. "
            "List the graphs with SELECT DISTINCT ?g WHERE { GRAPH ?g {} }"
        )
