"""Entity summaries kept per release: what an entity page shows of its findings
(kg/views/entity.py's relations and studies), computed at publish so that no
page reads every finding of a large entity at request time.

The ``entities`` publish step keeps, in the publication's index
(:class:`kg.artifacts.Publication`, SQLite), one row per finding end of each
named graph (``e_ends``: direction, the class at that end, relation, other
end, support, study, its evidence level, the finding's least quote) and its
studies' title, level and year (``e_studies``). An entity's summary comes from
the rows whose end is the entity or a narrower class, counted the way the
page's SPARQL groups them (:data:`kg.views.entity._ITEMS` and ``_STUDIES``):
on a full publish for every entity in one pass over the rows (:class:`Rollup`),
and assembled by the same :func:`kg.views.relations.build_relations`.

Files, in ``cache/<release>/entities/``:

* ``<id>.json``: ``{"version", "relations", "studies_total"}``;
* ``<id>.state.json``: what the summary is counted from, updated study by
  study on an incremental publish (see :meth:`Rollup.state`);
* ``_complete.json``, written last: the summaries are complete; an entity
  without a file then has no findings.

The studies, in page order, are rows of the index (``e_list``), each valid
for the releases from the one that added it up to the one that replaced it:
a page reads its slice with LIMIT/OFFSET (CAR-T has tens of thousands at
100,000 studies), and an incremental publish changes only the changed
studies' rows instead of rewriting lists of every study (a top class such as
Therapy lists them all). A full publish starts the rows again; a page of an
older release then finds its count wrong and is computed from the store.

On an incremental publish only the entities touched by a changed graph (a
finding of it, before or after, whose end is the entity or a narrower class)
are summarized again; the others' files are hard-linked from the previous
release. Both equal the SPARQL computation over the whole store
(tests/test_incremental.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..artifacts import COMPLETE, INDEX, Publication, cache_dir, ensure_tables, link_or_copy, read_json, select, write_json_atomic
from ..errors import TkgError
from ..namespaces import SPARQL_PREFIXES, TKG, local_name
from .common import ID_RE, Vocabulary
from .relations import ItemRow, build_relations, study_order

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

ENTITIES_DIR = "entities"
#: Written last; not a possible entity id (ids start with a letter or digit).
INDEX_FILE = "_complete.json"
#: Format of the summary files; bump when their shape changes.
VERSION = 2

_TABLES = {
    "e_ends": "g TEXT, dir TEXT, via TEXT, relation TEXT, other TEXT, support TEXT, study TEXT, finding TEXT, level INTEGER, quote TEXT",
    "e_studies": "g TEXT, study TEXT, title TEXT, level INTEGER, year INTEGER",
    # each entity's studies, in page order by (lvl, nyear, tkey, study), valid for the releases in [since, until)
    "e_list": (
        "entity TEXT, lvl INTEGER, nyear INTEGER, tkey TEXT, study TEXT, since TEXT, until TEXT,"
        " title TEXT, level INTEGER, year INTEGER, findings INTEGER"
    ),
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS e_ends_g ON e_ends (g)",
    "CREATE INDEX IF NOT EXISTS e_ends_study ON e_ends (study)",
    # a group's least supporting quote at a class (see _least_quote)
    "CREATE INDEX IF NOT EXISTS e_ends_quote ON e_ends (other, relation, dir, via, quote) WHERE support = 'SUPPORT' AND quote IS NOT NULL",
    "DROP INDEX IF EXISTS e_ends_via",  # (used by an earlier version only)
    "DROP INDEX IF EXISTS e_ends_group",
    "CREATE INDEX IF NOT EXISTS e_studies_g ON e_studies (g)",
    "CREATE INDEX IF NOT EXISTS e_studies_study ON e_studies (study)",
    "CREATE INDEX IF NOT EXISTS e_list_order ON e_list (entity, lvl, nyear, tkey, study, since, until)",
    "CREATE INDEX IF NOT EXISTS e_list_current ON e_list (entity, study, until)",
    "CREATE INDEX IF NOT EXISTS e_list_until ON e_list (until) WHERE until IS NOT NULL",
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
#: The same rows for every graph, read in parts joined in Python (see :func:`_every_end`):
#: Oxigraph evaluated the OPTIONALs above once per finding (at 10,000 studies 38 s
#: and 8 s; in parts 15 s in all).
_ALL_FINDINGS = (
    SPARQL_PREFIXES
    + """SELECT ?g ?finding ?s ?relation ?o ?support ?study WHERE {
  GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?s ; tkg:relation ?relation ; tkg:object ?o ; tkg:support ?support ;
                      prov:wasDerivedFrom ?study . }
}"""
)
_ALL = {
    "level": SPARQL_PREFIXES + "SELECT ?x ?v WHERE { ?x tkg:evidenceLevel ?v }",
    "quote": SPARQL_PREFIXES + 'SELECT ?x ?v WHERE { ?x tkg:evidenceQuote ?v FILTER(STR(?v) != "") }',
    "title": SPARQL_PREFIXES + "SELECT ?x ?v WHERE { ?x dcterms:title ?v }",
    "year": SPARQL_PREFIXES + "SELECT ?x ?v WHERE { ?x tkg:publicationYear ?v }",
}
_SUBCLASS = SPARQL_PREFIXES + "SELECT ?sub ?sup WHERE { ?sub rdfs:subClassOf ?sup FILTER(isIRI(?sub) && isIRI(?sup)) }"
_LABELLED = SPARQL_PREFIXES + "SELECT DISTINCT ?e WHERE { GRAPH ?g { ?e rdfs:label ?label } FILTER(isIRI(?e)) }"

#: No evidence level (levels are 1 to 5), as in kg/views/entity.py.
_NO_LEVEL = 1000
#: The index's page cache while the step runs, in KiB (SQLite's default, 2 MiB, made
#: loading the ends of 100,000 studies write their index pages out again and again).
_CACHE_SIZE = -256 * 1024
_INFO = "SELECT study, MIN(title), MIN(level), MIN(year) FROM e_studies GROUP BY study"
_QUOTE_AT = """SELECT MIN(quote) FROM e_ends INDEXED BY e_ends_quote
WHERE other = ? AND relation = ? AND dir = ? AND via = ? AND support = 'SUPPORT' AND quote IS NOT NULL"""
_QUOTED_AT = """SELECT DISTINCT study FROM e_ends INDEXED BY e_ends_quote
WHERE other = ? AND relation = ? AND dir = ? AND via = ? AND quote = ? AND support = 'SUPPORT' AND quote IS NOT NULL"""

#: A group of an entity's findings: (direction, relation, other end), as one text.
SEP = "\t"


def entity_id(iri: str) -> str | None:
    """The page id of an entity IRI (None for IRIs that have no entity page)."""
    if not iri.startswith(str(TKG)):
        return None
    name = iri[len(str(TKG)) :]
    return name if ID_RE.match(name) else None


# -- reading ---------------------------------------------------------------------------
_LIVE = "entity = ? AND since <= ? AND (until IS NULL OR until > ?)"
_COUNT = f"SELECT COUNT(*) FROM e_list WHERE {_LIVE}"
_PAGE = f"""SELECT study, title, level, year, findings FROM e_list WHERE {_LIVE}
ORDER BY entity, lvl, nyear, tkey, study LIMIT ? OFFSET ?"""
_readers = threading.local()


def _reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to the index, one per thread."""
    cons: dict[str, sqlite3.Connection] = _readers.__dict__.setdefault("cons", {})
    con = cons.get(str(path))
    if con is None:
        # a file URI needs an absolute path (`tkg serve --store var` gives a relative one)
        con = cons[str(path)] = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    return con


class StoredStudies(Sequence[dict[str, Any]]):
    """An entity's studies in page order, as of a release, read from the
    index (``e_list``) a slice at a time (``len`` and slicing are all the web layer uses)."""

    def __init__(self, index: Path, entity: str, release: str, total: int):
        self.index, self.entity, self.release, self.total = index, entity, release, total

    def __len__(self) -> int:
        return self.total

    def _read(self, start: int, stop: int) -> list[dict[str, Any]]:
        if start >= stop:
            return []
        rows = _reader(self.index).execute(_PAGE, (self.entity, self.release, self.release, stop - start, start))
        return [
            {"id": local_name(study), "iri": study, "title": title, "level": level, "year": year, "findings": n}
            for study, title, level, year, n in rows
        ]

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
    ``kg`` serves; None when the release has no summaries (or no release), or
    the index no longer holds its studies as of that release (then the page
    computes them from the store)."""
    folder = cache_dir(kg)
    if folder is None or not (folder / COMPLETE).is_file():  # (written once the index is committed)
        return None
    base = folder / ENTITIES_DIR
    data = read_json(base / f"{entity}.json", VERSION)
    if data is None:
        if read_json(base / INDEX_FILE, VERSION) is not None and ID_RE.match(entity):
            return [], []  # complete summaries without this entity: it has no findings
        return None
    if "relations" not in data:  # (an id ending in .state names another file)
        return None
    index, total = folder.parent / INDEX, int(data["studies_total"])
    try:
        (count,) = _reader(index).execute(_COUNT, (str(TKG) + entity, folder.name, folder.name)).fetchone()
    except sqlite3.Error:
        return None
    if count != total:  # a full publish since dropped this release's rows
        return None
    return data["relations"], StoredStudies(index, str(TKG) + entity, folder.name, total)


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


def _rows(kg: KnowledgeGraph, graphs: set[str] | None, found: set[tuple[Any, Any]]) -> Iterator[tuple[Any, ...]]:
    """``e_ends`` rows of ``graphs``: a finding's ends, each once per direction
    (the least non-empty quote of the finding kept, as the page's MIN)."""
    rows: dict[tuple[Any, ...], str | None] = {}
    for r in select(kg, _G_ENDS, graphs) if graphs is not None else _every_end(kg, found):
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


def _values(kg: KnowledgeGraph, what: str) -> dict[Any, list[Any]]:
    """Each resource's values of one property in any graph (``_ALL``)."""
    values: dict[Any, list[Any]] = defaultdict(list)
    for r in kg.query(_ALL[what]).rows:
        values[r["x"]].append(r["v"])
    return values


def _every_end(kg: KnowledgeGraph, found: set[tuple[Any, Any]]) -> Iterator[dict[str, Any]]:
    """The rows of ``_G_ENDS`` for every graph: each finding's row once per
    level of its study and per quote (none: one row without), as the OPTIONALs
    give them; its (graph, study) added to ``found``."""
    levels, quotes = _values(kg, "level"), _values(kg, "quote")
    for r in kg.query(_ALL_FINDINGS).rows:
        found.add((r["g"], r["study"]))
        for level in levels.get(r["study"]) or [None]:
            for quote in quotes.get(r["finding"]) or [None]:
                yield {**r, "level": level, "quote": quote}


def _every_study(kg: KnowledgeGraph, found: set[tuple[Any, Any]]) -> Iterator[dict[str, Any]]:
    """The rows of ``_G_STUDIES`` for every graph: each (graph, study) of the
    findings read (``found``) once per combination of its titles, levels and
    years, as the OPTIONALs give them."""
    titles, levels, years = _values(kg, "title"), _values(kg, "level"), _values(kg, "year")
    for g, study in found:
        for title in titles.get(study) or [None]:
            for level in levels.get(study) or [None]:
                for year in years.get(study) or [None]:
                    yield {"g": g, "study": study, "title": title, "level": level, "year": year}


def _int(term: Any) -> int | None:
    try:
        return None if term is None else int(str(term))
    except ValueError:
        return None


def _load(kg: KnowledgeGraph, db: sqlite3.Connection, graphs: set[str] | None, rollup: Rollup | None = None) -> None:
    """Read the rows of ``graphs`` (None: all) into the index (and ``rollup``)."""
    batch: list[tuple[Any, ...]] = []
    found: set[tuple[Any, Any]] = set()  # (for every graph: each (graph, study) of a finding)
    for row in _rows(kg, graphs, found):
        if rollup is not None:
            rollup.add(row)
        batch.append(row)
        if len(batch) >= 50_000:
            db.executemany("INSERT INTO e_ends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    db.executemany("INSERT INTO e_ends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.executemany(
        "INSERT INTO e_studies VALUES (?, ?, ?, ?, ?)",
        (
            (str(r["g"]), str(r["study"]), None if r.get("title") is None else str(r["title"]), _int(r.get("level")), _int(r.get("year")))
            for r in (select(kg, _G_STUDIES, graphs) if graphs is not None else _every_study(kg, found))
        ),
    )


Row = tuple[Any, ...]  # an e_ends row: g, dir, via, relation, other, support, study, finding, level, quote


class _Cell:
    """A group's ends at one class (via): the studies with a supporting end
    (``sup``), with another end (``oth``), with a supporting end of each
    evidence level (``levels``), and the least supporting quote with the
    studies that have a supporting end quoting it (``quoted``)."""

    __slots__ = ("levels", "oth", "quote", "quoted", "sup")

    def __init__(self) -> None:
        self.sup: set[int] = set()
        self.oth: set[int] = set()
        self.levels: dict[int, set[int]] = {}
        self.quote: str | None = None
        self.quoted: set[int] = set()


def _union(sets: list[set[int]]) -> set[int]:
    """The union of ``sets`` (the one set itself when there is one: not to be changed)."""
    return sets[0] if len(sets) == 1 else set().union(*sets)


class Rollup:
    """Every entity's summary state (see :func:`Rollup.state`) and studies from
    one pass over the finding ends.

    The ends are grouped once by (class at the entity's end, direction,
    relation, other end) into sets of study numbers; an entity's counts are
    then the sizes of unions of its narrower classes' sets (distinct studies
    do not add up along the class tree: a study can have ends in two narrower
    classes, or reach a class by two parents). Set unions run in C, so an
    entity costs about its own ends; grouping in SQLite once per entity read
    every end of a top class again for each entity (677 s at 100,000 studies)."""

    def __init__(self) -> None:
        self.studies: list[str] = []
        self._number: dict[str, int] = {}
        #: per class: per group (direction, relation, other end): its cell
        self.cells: dict[str, dict[tuple[str, str, str], _Cell]] = defaultdict(dict)
        #: per class: per study: its ends there, as (direction, finding)
        self.ends: dict[str, dict[int, set[tuple[str, str]]]] = defaultdict(dict)

    def add(self, row: Row) -> None:
        _g, d, via, rel, other, support, study, finding, level, quote = row
        s = self._number.get(study)
        if s is None:
            s = self._number[study] = len(self.studies)
            self.studies.append(study)
        cells = self.cells[via]
        cell = cells.get((d, rel, other))
        if cell is None:
            cell = cells[(d, rel, other)] = _Cell()
        ends = self.ends[via]
        if s in ends:
            ends[s].add((d, finding))
        else:
            ends[s] = {(d, finding)}
        if support == "SUPPORT":
            cell.sup.add(s)
            lvl = _NO_LEVEL if level is None else level
            if lvl in cell.levels:
                cell.levels[lvl].add(s)
            else:
                cell.levels[lvl] = {s}
            if quote is not None:
                if cell.quote is None or quote < cell.quote:
                    cell.quote, cell.quoted = quote, {s}
                elif quote == cell.quote:
                    cell.quoted.add(s)
        else:
            cell.oth.add(s)

    def state(self, narrower: Iterable[str]) -> dict[str, Any]:
        """What the summary of the entity whose narrower classes (itself
        included) are ``narrower`` is made of, in a form an incremental publish
        can update study by study:

        * ``groups``: per (direction, relation, other end): distinct supporting
          (``sup``) and other (``oth``) studies, the supporting studies by their
          best level in the group (``levels``), the studies by the class at the
          entity's end (``vias``), the least supporting quote (``quote``) and the
          number of studies whose least supporting quote in the group it is (``qn``);
        * ``totals``: per (direction, relation): distinct supporting studies.
        """
        by_group: dict[tuple[str, str, str], list[tuple[str, _Cell]]] = defaultdict(list)
        for via in sorted(v for v in narrower if v in self.cells):
            for key, cell in self.cells[via].items():
                by_group[key].append((via, cell))
        groups: dict[str, dict[str, Any]] = {}
        supported: dict[tuple[str, str], list[set[int]]] = defaultdict(list)
        for key in sorted(by_group):
            cells = [cell for _via, cell in by_group[key]]
            sup = _union([c.sup for c in cells])
            levels: dict[str, int] = {}
            seen: set[int] = set()
            for lvl in sorted({lvl for c in cells for lvl in c.levels}):
                new = _union([c.levels[lvl] for c in cells if lvl in c.levels]) - seen
                if new:  # the studies whose best level in the group this is
                    levels[str(lvl)] = len(new)
                    seen |= new
            quotes = [c.quote for c in cells if c.quote is not None]
            quote = min(quotes) if quotes else None
            qn = len(_union([c.quoted for c in cells if c.quote == quote])) if quote is not None else 0
            groups[SEP.join(key)] = {
                "sup": len(sup),
                "oth": len(_union([c.oth for c in cells])),
                "levels": levels,
                "vias": {via: len(c.sup | c.oth) for via, c in by_group[key]},
                "quote": quote,
                "qn": qn,
            }
            if sup:
                supported[key[:2]].append(sup)
        totals = {SEP.join(key): len(_union(sets)) for key, sets in sorted(supported.items())}
        return {"groups": groups, "totals": totals}

    def findings(self, narrower: Iterable[str]) -> dict[str, int]:
        """Per study with ends at ``narrower``: its findings there, once per direction."""
        ends: dict[int, set[tuple[str, str]]] = {}
        for via in narrower:
            for s, found in self.ends.get(via, {}).items():
                have = ends.get(s)
                ends[s] = found if have is None else have | found
        return {self.studies[s]: len(found) for s, found in ends.items()}


def _relations_of(iri: str, state: dict[str, Any], vocab: Vocabulary) -> list[dict[str, Any]]:
    items = []
    for key, g in state["groups"].items():
        d, rel, other = key.split(SEP)
        vias = list(g["vias"])
        if g["sup"]:
            best = min(int(level) for level in g["levels"])
            items.append(ItemRow(d, rel, other, True, g["sup"], None if best == _NO_LEVEL else best, g["quote"], vias))
        if g["oth"]:
            items.append(ItemRow(d, rel, other, False, g["oth"], None, None, vias))
    supporting = {tuple(key.split(SEP)): n for key, n in state["totals"].items()}
    return build_relations(iri, items, supporting, vocab)  # type: ignore[arg-type]


# -- the incremental update of one entity ---------------------------------------------------
def _contributions(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """Per study, what its ends (already restricted to the entity's) add to the
    state: per group its sides, best supporting level, vias and least
    supporting quote; its supported (direction, relation)s; its findings."""
    out: dict[str, dict[str, Any]] = {}
    for _g, d, via, rel, other, support, study, finding, level, quote in rows:
        c = out.setdefault(study, {"groups": {}, "totals": set(), "findings": set()})
        entry = c["groups"].setdefault(SEP.join((d, rel, other)), {"sup": False, "oth": False, "level": None, "vias": set(), "quote": None})
        entry["vias"].add(via)
        c["findings"].add((d, finding))
        if support == "SUPPORT":
            entry["sup"] = True
            lvl = _NO_LEVEL if level is None else level
            entry["level"] = lvl if entry["level"] is None else min(entry["level"], lvl)
            if quote is not None and (entry["quote"] is None or quote < entry["quote"]):
                entry["quote"] = quote
            c["totals"].add(f"{d}{SEP}{rel}")
        else:
            entry["oth"] = True
    return out


def _bump(counts: dict[str, int], key: str, by: int) -> None:
    n = counts.get(key, 0) + by
    if n:
        counts[key] = n
    else:
        counts.pop(key, None)


def _apply(state: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None, dirty: set[str]) -> None:
    """Take one study's ``before`` contribution out of ``state`` and put its
    ``after`` one in; groups whose least quote has gone (no study left
    with it, ``qn``) go to ``dirty``."""
    groups = state["groups"]
    for c, sign in ((before, -1), (after, 1)):
        if c is None:
            continue
        for key, e in c["groups"].items():
            g = groups.setdefault(key, {"sup": 0, "oth": 0, "levels": {}, "vias": {}, "quote": None, "qn": 0})
            if e["sup"]:
                g["sup"] += sign
                _bump(g["levels"], str(e["level"]), sign)
                if e["quote"] is not None:  # (a dirty group is counted again after)
                    if sign < 0 and e["quote"] == g["quote"]:
                        g["qn"] -= 1
                        if g["qn"] <= 0:
                            dirty.add(key)
                    elif sign > 0 and (g["quote"] is None or e["quote"] < g["quote"]):
                        g["quote"], g["qn"] = e["quote"], 1
                    elif sign > 0 and e["quote"] == g["quote"]:
                        g["qn"] += 1
            if e["oth"]:
                g["oth"] += sign
            for via in e["vias"]:
                _bump(g["vias"], via, sign)
        for key in c["totals"]:
            _bump(state["totals"], key, sign)
    for key in [k for k, g in groups.items() if not g["sup"] and not g["oth"]]:
        del groups[key]


def _study_entry(study: str, info: dict[str, tuple[Any, ...]], findings: int) -> dict[str, Any]:
    """A study as its entity page lists it (``info``: its title, level and year)."""
    title, level, year = info.get(study, (None, None, None))
    return {"id": local_name(study), "iri": study, "title": title or local_name(study), "level": level, "year": year, "findings": findings}


def _list_row(entity: str, study: dict[str, Any], release: str) -> tuple[Any, ...]:
    lvl, nyear, tkey, iri = study_order(study)
    return (entity, lvl, nyear, tkey, iri, release, None, study["title"], study["level"], study["year"], study["findings"])


#: An entity's current row for a study: its columns after (entity, study) and before (since, until), and its rowid.
_LISTED = """SELECT lvl, nyear, tkey, title, level, year, findings, rowid FROM e_list INDEXED BY e_list_current
WHERE entity = ? AND study = ? AND until IS NULL"""
_INSERT_LIST = "INSERT INTO e_list VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _write(base: Path, name: str, relations: list[dict[str, Any]], total: int, state: dict[str, Any]) -> None:
    """``<name>.state.json``, then ``<name>.json`` (each a temp file, then a rename)."""
    write_json_atomic(base / f"{name}.state.json", {"version": VERSION, **state})
    write_json_atomic(base / f"{name}.json", {"version": VERSION, "relations": relations, "studies_total": total})


def _remove(base: Path, name: str) -> None:
    for suffix in (".json", ".state.json"):
        (base / f"{name}{suffix}").unlink(missing_ok=True)


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
    hierarchy = Hierarchy(kg)
    vocab = Vocabulary(kg)  # once: the work store has no release key to memoize it by
    release = publication.release
    (cache,) = db.execute("PRAGMA cache_size").fetchone()
    db.execute(f"PRAGMA cache_size = {_CACHE_SIZE}")
    try:
        if usable and not fresh and old is not None:
            for statement in _INDEXES:
                db.execute(statement)
            _incremental(kg, db, sorted(publication.changed or ()), hierarchy, vocab, old, base, release)
        else:  # (into empty tables, indexed after: SQLite sorts once instead of updating every index row by row)
            _full(kg, db, hierarchy, vocab, base, release)
            for statement in _INDEXES:
                db.execute(statement)
    finally:
        db.execute(f"PRAGMA cache_size = {int(cache)}")
    oldest = _oldest_release(kg)
    if oldest is not None:  # rows replaced before the oldest release still kept serve no release
        db.execute("DELETE FROM e_list WHERE until IS NOT NULL AND until <= ?", (oldest,))
    count = sum(1 for p in base.iterdir() if _entity_of(p.name) and p.name.endswith(".json") and not p.name.endswith(".state.json"))
    write_json_atomic(base / INDEX_FILE, {"version": VERSION, "entities": count})


def _full(kg: KnowledgeGraph, db: sqlite3.Connection, hierarchy: Hierarchy, vocab: Vocabulary, base: Path, release: str) -> None:
    """Every summary, from every graph's ends read once (see :class:`Rollup`)."""
    rollup = Rollup()
    _load(kg, db, None, rollup)
    info = {study: (title, level, year) for study, title, level, year in db.execute(_INFO)}
    for iri in sorted({e for via in rollup.cells for e in hierarchy.broader(via)}):
        name = entity_id(iri)
        if name is None:
            continue
        narrower = hierarchy.narrower(iri)
        state = rollup.state(narrower)
        studies = sorted((_study_entry(study, info, n) for study, n in rollup.findings(narrower).items()), key=study_order)
        db.executemany(_INSERT_LIST, [_list_row(iri, study, release) for study in studies])
        _write(base, name, _relations_of(iri, state, vocab), len(studies), state)


_SELECT_ROWS = "SELECT g, dir, via, relation, other, support, study, finding, level, quote FROM e_ends"


def _incremental(
    kg: KnowledgeGraph,
    db: sqlite3.Connection,
    changed: list[str],
    hierarchy: Hierarchy,
    vocab: Vocabulary,
    old: Path,
    base: Path,
    release: str,
) -> None:
    """Update the summaries the changed graphs touch from the previous release's,
    study by study: the studies with ends in a changed graph (before or after)
    leave the summaries with what they held and come back with what they hold."""
    gone: list[Row] = []
    for g in changed:
        gone.extend(db.execute(_SELECT_ROWS + " WHERE g = ?", (g,)))
    db.executemany("DELETE FROM e_ends WHERE g = ?", [(g,) for g in changed])
    db.executemany("DELETE FROM e_studies WHERE g = ?", [(g,) for g in changed])
    _load(kg, db, set(changed))
    new: list[Row] = []
    for g in changed:
        new.extend(db.execute(_SELECT_ROWS + " WHERE g = ?", (g,)))
    affected = sorted({r[6] for r in gone} | {r[6] for r in new})
    now: list[Row] = []  # every end of the affected studies, in any graph
    for study in affected:
        now.extend(db.execute(_SELECT_ROWS + " WHERE study = ?", (study,)))
    kept = set(changed)
    before = [r for r in now if r[0] not in kept] + gone
    info = {
        study: (title, level, year)
        for study in affected
        for title, level, year in db.execute("SELECT MIN(title), MIN(level), MIN(year) FROM e_studies WHERE study = ?", (study,))
    }
    touched = {e for r in (*before, *now) for e in hierarchy.broader(r[2])}
    for path in old.iterdir():
        name = _entity_of(path.name)
        if name is not None and str(TKG) + name not in touched:
            link_or_copy(path, base / path.name)
    closes: list[tuple[str, int]] = []
    inserts: list[tuple[Any, ...]] = []
    for iri in sorted(touched):
        name = entity_id(iri)
        if name is None:
            continue
        narrower = hierarchy.narrower(iri)
        was = _contributions(r for r in before if r[2] in narrower)
        has = _contributions(r for r in now if r[2] in narrower)
        stored = read_json(old / f"{name}.state.json", VERSION)
        state = {"groups": stored["groups"], "totals": stored["totals"]} if stored is not None else {"groups": {}, "totals": {}}
        dirty: set[str] = set()
        for study in affected:
            _apply(state, was.get(study), has.get(study), dirty)
        dirty &= set(state["groups"])
        for key in dirty:
            group = state["groups"][key]
            group["quote"], group["qn"] = _least_quote(db, key, group["vias"])
        previous = read_json(old / f"{name}.json", VERSION) if state["groups"] else None
        total = int(previous["studies_total"]) if previous is not None else 0
        # the entity's studies whose row in its list changes: the old row is closed, the new one added
        rows = {study: _list_row(iri, _study_entry(study, info, len(c["findings"])), release) for study, c in has.items()}
        for study in was:
            listed = db.execute(_LISTED, (iri, study)).fetchone()
            if listed is not None and study in rows and rows[study][1:4] + rows[study][7:] == listed[:7]:
                del rows[study]  # (unchanged: its row stays valid)
            elif listed is not None:
                closes.append((release, listed[7]))
                total -= 1
        inserts.extend(rows.values())
        total += len(rows)
        if not state["groups"]:
            _remove(base, name)
            continue
        _write(base, name, _relations_of(iri, state, vocab), total, state)
    db.executemany("UPDATE e_list SET until = ? WHERE rowid = ?", closes)
    db.executemany(_INSERT_LIST, inserts)


def _least_quote(db: sqlite3.Connection, key: str, vias: Iterable[str]) -> tuple[str | None, int]:
    """A group's least supporting quote over its ends at ``vias`` and the number
    of studies that have it (their least there, since no quote is less)."""
    d, rel, other = key.split(SEP)
    least = {via: q for via in vias for (q,) in db.execute(_QUOTE_AT, (other, rel, d, via)) if q is not None}
    if not least:
        return None, 0
    quote = min(least.values())
    studies = {study for via, q in least.items() if q == quote for (study,) in db.execute(_QUOTED_AT, (other, rel, d, via, quote))}
    return quote, len(studies)


def _oldest_release(kg: KnowledgeGraph) -> str | None:
    root = getattr(kg.store, "root", None)
    releases = Path(root) / "releases" if root is not None else None
    if releases is None or not releases.is_dir():
        return None
    names = sorted(p.name for p in releases.iterdir() if not p.name.startswith("."))
    return names[0] if names else None


def _entity_of(filename: str) -> str | None:
    """The entity id of a summary file's name (None for other files)."""
    for suffix in (".state.json", ".json"):
        if filename.endswith(suffix):
            name = filename[: -len(suffix)]
            return name if ID_RE.match(name) else None
    return None


__all__ = ["ENTITIES_DIR", "StoredStudies", "publish_step", "stored_relations"]
