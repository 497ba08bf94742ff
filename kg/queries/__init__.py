"""Named SPARQL queries shipped with the project (the competency questions).

Each ``.rq`` file starts with a comment line ``# CQn: description`` (or
``# name: description``), followed by the query. The query editor offers
them as examples; tests check their answers on the shipped corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import QueryError

QUERY_DIR = Path(__file__).resolve().parent
_HEADER = re.compile(r"^#\s*(?P<title>[^:]+):\s*(?P<description>.+)$")


@dataclass(frozen=True)
class NamedQuery:
    name: str  # file stem, e.g. "cq01-tme-barriers-solid"
    title: str  # e.g. "CQ1"
    description: str
    sparql: str

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
    return [_parse(p) for p in sorted(QUERY_DIR.glob("*.rq"))]


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
