"""Entity summaries kept per release: what an entity page shows of its findings
(kg/views/entity.py's relations and studies), computed at publish so that no
page reads every finding of a large entity at request time.

The ``entities`` publish step keeps, in the publication's index
(:class:`kg.artifacts.Publication`, SQLite), one row per finding end of each
named graph (``e_ends``: direction, the class at that end, relation, other
end, support, study, its evidence level, the finding's least quote) and its
studies' title, level and year (``e_studies``). An entity's summary comes from
the rows whose end is the entity or a narrower class, grouped by SQLite the
way the page's SPARQL groups them (:data:`kg.views.entity._ITEMS` and
``_STUDIES``), and assembled by the same :func:`kg.views.entity.assemble`.

Files, in ``cache/<release>/entities/``:

* ``<id>.json``: ``{"version", "relations", "studies_total", "checkpoints"}``;
* ``<id>.studies.jsonl``: the studies in page order, one JSON object a line;
  ``checkpoints`` are the byte offsets of every :data:`CHECKPOINT`-th line, so a
  page of studies reads its slice only (CAR-T has tens of thousands at 100,000 studies);
* ``_complete.json``, written last: the summaries are complete; an entity without
  a file then has no findings.

On an incremental publish only the entities touched by a changed graph (a
finding of it, before or after, whose end is the entity or a narrower class)
are summarized again; the others' files are hard-linked from the previous
release. Both equal the SPARQL computation over the whole store
(tests/test_incremental.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..artifacts import Publication, cache_dir, ensure_tables, link_or_copy, read_json, select, write_json_atomic
from ..errors import TkgError
from ..namespaces import SPARQL_PREFIXES, TKG
from .common import ID_RE, Vocabulary
from .entity import ItemRow, StudyRow, assemble

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

ENTITIES_DIR = "entities"
#: Written last; not a possible entity id (ids start with a letter or digit).
INDEX_FILE = "_complete.json"
#: Format of the summary files; bump when their shape changes.
VERSION = 1
#: A checkpoint (byte offset) every this many lines of a studies file.
CHECKPOINT = 64

_TABLES = {
    "e_ends": "g TEXT, dir TEXT, via TEXT, relation TEXT, other TEXT, support TEXT, study TEXT, finding TEXT, level INTEGER, quote TEXT",
    "e_studies": "g TEXT, study TEXT, title TEXT, level INTEGER, year INTEGER",
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS e_ends_g ON e_ends (g)",
    "CREATE INDEX IF NOT EXISTS e_ends_via ON e_ends (via)",
    "CREATE INDEX IF NOT EXISTS e_studies_g ON e_studies (g)",
    "CREATE INDEX IF NOT EXISTS e_studies_study ON e_studies (study)",
)

#: Each finding of the graphs with both ends; its study's level and its
#: quotes are looked up outside the graph (as the page's query does).
_G_ENDS = (
    SPARQL_PREFIXES
    + """SELECT ?g ?finding ?s ?relation ?o ?support ?study ?level ?quote WHERE { @VALUES@
  GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?s ; tkg:relation ?relation ; tkg:object ?o ; tkg:support ?support ;
                      prov:wasDerivedFrom ?study . }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?finding tkg:evidenceQuote ?quote FILTER(STR(?quote) != "") }
}"""
)
_G_STUDIES = (
    SPARQL_PREFIXES
    + """SELECT DISTINCT ?g ?study ?title ?level ?year WHERE { @VALUES@
  GRAPH ?g { ?finding a tkg:Finding ; prov:wasDerivedFrom ?study . }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)
_SUBCLASS = SPARQL_PREFIXES + "SELECT ?sub ?sup WHERE { ?sub rdfs:subClassOf ?sup FILTER(isIRI(?sub) && isIRI(?sup)) }"
_LABELLED = SPARQL_PREFIXES + "SELECT DISTINCT ?e WHERE { GRAPH ?g { ?e rdfs:label ?label } FILTER(isIRI(?e)) }"

#: No evidence level (levels are 1 to 5), as in kg/views/entity.py.
_NO_LEVEL = 1000
#: What kg/views/entity.py's _ITEMS and _STUDIES group, over the ends in temp.t_via.
_ITEMS = f"""SELECT dir, relation, other, support = 'SUPPORT', COUNT(DISTINCT study), MIN(COALESCE(level, {_NO_LEVEL})), MIN(quote),
  GROUP_CONCAT(DISTINCT via)
FROM e_ends WHERE via IN (SELECT c FROM temp.t_via) GROUP BY dir, relation, other, support = 'SUPPORT'"""
_STUDIES = """SELECT e.study, e.dir, COUNT(DISTINCT e.finding), GROUP_CONCAT(DISTINCT CASE WHEN e.support = 'SUPPORT' THEN e.relation END),
  s.title, s.level, s.year
FROM e_ends e LEFT JOIN (SELECT study, MIN(title) AS title, MIN(level) AS level, MIN(year) AS year FROM e_studies GROUP BY study) s
  ON s.study = e.study
WHERE e.via IN (SELECT c FROM temp.t_via) GROUP BY e.study, e.dir"""


def entity_id(iri: str) -> str | None:
    """The page id of an entity IRI (None for IRIs that have no entity page)."""
    if not iri.startswith(str(TKG)):
        return None
    name = iri[len(str(TKG)) :]
    return name if ID_RE.match(name) else None


# -- reading ---------------------------------------------------------------------------
class StoredStudies(Sequence[dict[str, Any]]):
    """An entity's studies in page order, read from its ``.studies.jsonl`` a
    slice at a time (``len`` and slicing are all the web layer uses)."""

    def __init__(self, path: Path, total: int, checkpoints: list[int]):
        self.path, self.total, self.checkpoints = path, total, checkpoints

    def __len__(self) -> int:
        return self.total

    def _read(self, start: int, stop: int) -> list[dict[str, Any]]:
        if start >= stop:
            return []
        mark = start // CHECKPOINT
        out = []
        with self.path.open("rb") as fh:
            fh.seek(self.checkpoints[mark])
            for number, line in enumerate(fh, start=mark * CHECKPOINT):
                if number >= stop:
                    break
                if number >= start:
                    out.append(json.loads(line))
        return out

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.total)
            if step != 1:
                return self._read(0, self.total)[index]
            return self._read(start, stop)
        if index < 0:
            index += self.total
        if not 0 <= index < self.total:
            raise IndexError(index)
        return self._read(index, index + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._read(0, self.total))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(other) == self.total and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def stored_relations(kg: KnowledgeGraph, entity: str) -> tuple[list[dict[str, Any]], Sequence[dict[str, Any]]] | None:
    """The relations and studies of ``entity`` (an id) stored with the release
    ``kg`` serves; None when the release has no summaries (or no release)."""
    folder = cache_dir(kg)
    if folder is None:
        return None
    base = folder / ENTITIES_DIR
    data = read_json(base / f"{entity}.json", VERSION)
    if data is None:
        if read_json(base / INDEX_FILE, VERSION) is not None and ID_RE.match(entity):
            return [], []  # complete summaries without this entity: it has no findings
        return None
    studies = base / f"{entity}.studies.jsonl"
    return data["relations"], StoredStudies(studies, int(data["studies_total"]), list(data["checkpoints"]))


# -- computing -----------------------------------------------------------------------------
class Hierarchy:
    """The entity and its narrower classes, from the store's rdfs:subClassOf
    (what kg/views/entity.py's ``rdfs:subClassOf*`` follows), both ways."""

    def __init__(self, kg: KnowledgeGraph):
        self.children: dict[str, set[str]] = defaultdict(set)
        self.parents: dict[str, set[str]] = defaultdict(set)
        for row in kg.query(_SUBCLASS).rows:
            self.children[str(row["sup"])].add(str(row["sub"]))
            self.parents[str(row["sub"])].add(str(row["sup"]))

    @staticmethod
    def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def narrower(self, iri: str) -> set[str]:
        return self._closure(iri, self.children)

    def broader(self, iri: str) -> set[str]:
        return self._closure(iri, self.parents)


def _rows(kg: KnowledgeGraph, graphs: set[str] | None) -> Iterator[tuple[Any, ...]]:
    """``e_ends`` rows of ``graphs``: a finding's ends, each once per direction
    (the least non-empty quote of the finding kept, as the page's MIN)."""
    rows: dict[tuple[Any, ...], str | None] = {}
    for r in select(kg, _G_ENDS, graphs):
        key = (
            str(r["g"]),
            str(r["finding"]),
            str(r["s"]),
            str(r["relation"]),
            str(r["o"]),
            str(r["support"]),
            str(r["study"]),
            _int(r.get("level")),
        )
        quote = None if r.get("quote") is None else str(r["quote"])
        if key not in rows or (quote is not None and (rows[key] is None or quote < rows[key])):  # type: ignore[operator]
            rows[key] = quote
    for (g, finding, s, relation, o, support, study, level), quote in rows.items():
        yield (g, "out", s, relation, o, support, study, finding, level, quote)
        yield (g, "in", o, relation, s, support, study, finding, level, quote)


def _int(term: Any) -> int | None:
    try:
        return None if term is None else int(str(term))
    except ValueError:
        return None


def _load(kg: KnowledgeGraph, db: sqlite3.Connection, graphs: set[str] | None) -> set[str]:
    """Read the rows of ``graphs`` (None: all) into the index; returns the ends (vias) they have."""
    vias: set[str] = set()
    batch: list[tuple[Any, ...]] = []
    for row in _rows(kg, graphs):
        vias.add(row[2])
        batch.append(row)
        if len(batch) >= 50_000:
            db.executemany("INSERT INTO e_ends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    db.executemany("INSERT INTO e_ends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.executemany(
        "INSERT INTO e_studies VALUES (?, ?, ?, ?, ?)",
        (
            (str(r["g"]), str(r["study"]), None if r.get("title") is None else str(r["title"]), _int(r.get("level")), _int(r.get("year")))
            for r in select(kg, _G_STUDIES, graphs)
        ),
    )
    return vias


def summarize(
    db: sqlite3.Connection, iri: str, narrower: Iterable[str], vocab: Vocabulary
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entity page's relations and studies of ``iri`` from the index."""
    db.execute("DROP TABLE IF EXISTS temp.t_via")
    db.execute("CREATE TEMP TABLE t_via (c TEXT PRIMARY KEY)")
    db.executemany("INSERT INTO temp.t_via VALUES (?)", [(c,) for c in sorted(set(narrower))])
    items = [
        ItemRow(d, rel, other, bool(side), n, None if best == _NO_LEVEL else best, quote, _split(vias))
        for d, rel, other, side, n, best, quote, vias in db.execute(_ITEMS)
    ]
    studies = [
        StudyRow(study, d, n, _split(supported), title, level, year) for study, d, n, supported, title, level, year in db.execute(_STUDIES)
    ]
    db.execute("DROP TABLE temp.t_via")
    return assemble(iri, items, studies, vocab)


def _split(text: str | None) -> list[str]:
    # SQLite's GROUP_CONCAT(DISTINCT x) joins with a comma (it takes no other
    # separator with DISTINCT); the IRIs joined are the ontology's, which hold none.
    return [t for t in (text or "").split(",") if t]


def _write(base: Path, name: str, relations: list[dict[str, Any]], studies: list[dict[str, Any]]) -> None:
    """``<name>.studies.jsonl`` (temp file, then rename), then ``<name>.json``."""
    path = base / f"{name}.studies.jsonl"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    checkpoints: list[int] = []
    try:
        with tmp.open("wb") as fh:
            for number, study in enumerate(studies):
                if number % CHECKPOINT == 0:
                    checkpoints.append(fh.tell())
                fh.write(json.dumps(study).encode("utf-8") + b"\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_json_atomic(
        base / f"{name}.json", {"version": VERSION, "relations": relations, "studies_total": len(studies), "checkpoints": checkpoints}
    )


def publish_step(publication: Publication) -> None:
    """The ``entities`` publish step (see the module docstring)."""
    kg, db = publication.kg, publication.index
    if db is None:
        raise TkgError("the entities step needs the publication's index")
    base = publication.folder / ENTITIES_DIR
    base.mkdir(parents=True, exist_ok=True)
    old = publication.previous / ENTITIES_DIR if publication.previous is not None else None
    usable = publication.incremental and old is not None and read_json(old / INDEX_FILE, VERSION) is not None
    fresh = ensure_tables(db, _TABLES, drop=not usable)
    for statement in _INDEXES:
        db.execute(statement)
    hierarchy = Hierarchy(kg)
    vocab = Vocabulary(kg)  # once: the work store has no release key to memoize it by
    if usable and not fresh:
        changed = sorted(publication.changed or ())
        vias: set[str] = set()
        for g in changed:
            vias.update(v for (v,) in db.execute("SELECT DISTINCT via FROM e_ends WHERE g = ?", (g,)))
        db.executemany("DELETE FROM e_ends WHERE g = ?", [(g,) for g in changed])
        db.executemany("DELETE FROM e_studies WHERE g = ?", [(g,) for g in changed])
        vias |= _load(kg, db, set(changed))
        touched = {e for via in vias for e in hierarchy.broader(via)}
        for path in old.iterdir():  # type: ignore[union-attr]
            name = _entity_of(path.name)
            if name is not None and str(TKG) + name not in touched:
                link_or_copy(path, base / path.name)
    else:
        _load(kg, db, None)
        vias = {v for (v,) in db.execute("SELECT DISTINCT via FROM e_ends")}
        touched = {e for via in vias for e in hierarchy.broader(via)}
    for iri in sorted(touched):
        name = entity_id(iri)
        if name is None:
            continue
        relations, studies = summarize(db, iri, hierarchy.narrower(iri), vocab)
        if relations or studies:
            _write(base, name, relations, studies)
        else:  # no findings left: the index says so
            for suffix in (".json", ".studies.jsonl"):
                (base / f"{name}{suffix}").unlink(missing_ok=True)
    count = sum(1 for p in base.iterdir() if p.name.endswith(".json") and _entity_of(p.name))
    write_json_atomic(base / INDEX_FILE, {"version": VERSION, "entities": count})


def _entity_of(filename: str) -> str | None:
    """The entity id of a summary file's name (None for other files)."""
    for suffix in (".studies.jsonl", ".json"):
        if filename.endswith(suffix):
            name = filename[: -len(suffix)]
            return name if ID_RE.match(name) else None
    return None


__all__ = ["ENTITIES_DIR", "StoredStudies", "publish_step", "stored_relations", "summarize"]
