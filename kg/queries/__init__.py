"""Named SPARQL queries shipped with the project (the competency questions).

Each ``.rq`` file starts with a comment line ``# CQn: description`` (or
``# name: description``), followed by the query. The query editor offers
them as examples; tests check their answers on the shipped corpus.

A query may have a text for one engine whose planner fails on the standard
text: ``<engine>/<same file name>.rq`` (``virtuoso/cq09-....rq``), with the
same answers (tests/test_remote_store.py compares them). A remote store sends
the engine's text in place of a shipped text it recognizes (:func:`for_engine`),
so the editor's examples, the pages and ``tkg query -n`` all get it.

``<engine>/written-order.txt`` lists the shipped queries that the engine should
join in the order written; their engine text starts with the engine's pragma
for it (:data:`WRITTEN_ORDER`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import QueryError

QUERY_DIR = Path(__file__).resolve().parent
_HEADER = re.compile(r"^#\s*(?P<title>[^:]+):\s*(?P<description>.+)$")


#: Engines that may have texts of their own (a subfolder each).
ENGINES = ("virtuoso",)
#: Each engine's pragma that makes it join a query's patterns in the order written.
WRITTEN_ORDER = {"virtuoso": 'define sql:select-option "ORDER"'}


def _written_order(engine: str) -> set[str]:
    path = QUERY_DIR / engine / "written-order.txt"
    if not path.is_file():
        return set()
    names = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return {name for name in names if name and not name.startswith("#")}


def _with_pragma(text: str, pragma: str) -> str:
    """``text`` with ``pragma`` after its title line (the title stays the first line)."""
    title, _, rest = text.partition("\n")
    return f"{title}\n{pragma}\n{rest}"


@dataclass(frozen=True)
class NamedQuery:
    name: str  # file stem, e.g. "cq01-tme-barriers-solid"
    title: str  # e.g. "CQ1"
    description: str
    sparql: str
    variants: tuple[tuple[str, str], ...] = ()  # (engine, text) for engines whose planner needs another text

    def text_for(self, engine: str | None) -> str:
        return dict(self.variants).get(engine or "", self.sparql)

    @property
    def is_competency_question(self) -> bool:
        return self.title.upper().startswith("CQ")


def _parse(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0] if text else ""
    match = _HEADER.match(first)
    if not match:
        raise QueryError("a named query must start with '# TITLE: description'", where=str(path))
    return NamedQuery(path.stem, match["title"].strip(), match["description"].strip(), text)


def list_queries() -> list[NamedQuery]:
    return list(_queries())


@functools.cache
def _queries() -> tuple[NamedQuery, ...]:
    out = []
    ordered = {engine: _written_order(engine) for engine in ENGINES}
    for path in sorted(QUERY_DIR.glob("*.rq")):
        query = _parse(path)
        variants = []
        for engine in ENGINES:
            own = QUERY_DIR / engine / path.name
            text = own.read_text(encoding="utf-8") if own.is_file() else None
            if path.stem in ordered[engine]:
                text = _with_pragma(text or query.sparql, WRITTEN_ORDER[engine])
            if text is not None:
                variants.append((engine, text))
        out.append(replace(query, variants=tuple(variants)))
    return tuple(out)


@functools.cache
def _by_text(engine: str) -> dict[str, str]:
    return {q.sparql: text for q in _queries() for e, text in q.variants if e == engine}


def for_engine(sparql: str, engine: str | None) -> str:
    """The text to send to ``engine`` for ``sparql``: its own text when ``sparql``
    is a shipped query that has one, else ``sparql`` unchanged."""
    return _by_text(engine).get(sparql, sparql) if engine else sparql


def load_query(name: str) -> NamedQuery:
    """A named query by file stem or by title (``cq1``, ``CQ1``, ``cq01-...``)."""
    wanted = name.lower()
    for query in list_queries():
        title = query.title.lower()
        if wanted in (query.name, title) or (
            title.startswith("cq") and wanted.startswith("cq") and wanted[2:].lstrip("0") == title[2:].lstrip("0")
        ):
            return query
    names = ", ".join(q.name for q in list_queries())
    raise QueryError(f"no named query {name!r}", expected=f"one of {names}")
