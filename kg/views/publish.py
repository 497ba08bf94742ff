"""The ``views`` publish step: the dashboard, the evidence matrix and every
matrix cell's index of a new release, maintained from the changed studies.

The step keeps, in the publication's index (:class:`kg.artifacts.Publication`,
SQLite), the rows each named graph contributes: its quads and findings, its
studies' types and years, its supporting findings per modality, and its
findings in each matrix cell with what orders them. Beside the rows it keeps
running counts (``v_tally``): how many rows name each (modality, study),
(modality, finding), (cell, study), (cell, level) ..., and how many of those
keys each modality and cell has, studies by type and by year. On an
incremental publish only the changed graphs' rows are replaced (read from the
store with the graphs listed in ``VALUES``): their old rows are subtracted
from the counts and their new rows added, so that nothing is summed over the
whole store. A cell's findings are stored in pages (:mod:`kg.views.cells`):
only the pages where a changed graph's findings were or are now are read
back in order and written again (split in two where they grew past twice
:data:`kg.views.cells.PAGE_SIZE`, dropped where empty); the other pages, and
the cells no changed graph touches, are the previous release's. A full
publish reads every graph's rows once. Either way the result equals
:func:`kg.views.dashboard.dashboard` and :func:`kg.views.dashboard.matrix_and_cells`
over the whole store (tests/test_incremental.py).

Rows are kept per graph, so a study's metadata is expected in its own graph
(as :mod:`kg.to_rdf` writes it) and a finding IRI in one graph only (finding
IRIs carry their study's id): then a finding's rows in a cell all come from
one graph, and the first of them (in the store's answer) is the one kept, as
:func:`kg.views.dashboard.matrix_and_cells` keeps it.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import (
    COUNTS_COLUMNS,
    Publication,
    add_counts,
    ensure_tables,
    link_or_copy,
    load_counts,
    read_json,
    select,
    write_json_atomic,
)
from ..errors import TkgError
from ..namespaces import SPARQL_PREFIXES, local_name
from . import cells
from .cells import PAGES_DIR, chunks, collect_pages, write_cell, write_page
from .common import Vocabulary, int_or_none, min_level
from .dashboard import assemble_dashboard, assemble_matrix, cell_facts, cell_targets, matrix_axes, study_counts

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_TABLES = {
    "v_graphs": "g TEXT PRIMARY KEY, quads INTEGER, findings INTEGER",
    "v_studies": "g TEXT, study TEXT, type TEXT, year INTEGER",
    "v_modality": "g TEXT, m TEXT, finding TEXT, study TEXT, relation TEXT",
    # ks .. kfinding, finding: a finding's place in its cell (_order_key)
    "v_cells": "g TEXT, m TEXT, c TEXT, finding TEXT, study TEXT, level INTEGER, ks INTEGER, kl INTEGER, ky INTEGER, kstudy TEXT,"
    " kstart INTEGER, kfinding TEXT",
    # kind, key (a JSON list) -> count; see _KINDS
    "v_tally": COUNTS_COLUMNS,
    # a cell's pages: the order key of the page's first finding (JSON; the first page starts before any), size, file
    "v_pages": "m TEXT, c TEXT, lo TEXT, n INTEGER, name TEXT",
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS v_studies_g ON v_studies (g)",
    "CREATE INDEX IF NOT EXISTS v_studies_study ON v_studies (study)",
    "CREATE INDEX IF NOT EXISTS v_modality_g ON v_modality (g)",
    "CREATE INDEX IF NOT EXISTS v_cells_g ON v_cells (g)",
    "CREATE INDEX IF NOT EXISTS v_cells_order ON v_cells (m, c, ks, kl, ky, kstudy, kstart, kfinding, finding)",
    "CREATE UNIQUE INDEX IF NOT EXISTS v_tally_key ON v_tally (kind, key)",
    "CREATE INDEX IF NOT EXISTS v_pages_cell ON v_pages (m, c)",
    # indexes of an earlier version (the counts were scans of v_modality then)
    "DROP INDEX IF EXISTS v_modality_study",
    "DROP INDEX IF EXISTS v_modality_finding",
    "DROP INDEX IF EXISTS v_modality_relation",
    "DROP INDEX IF EXISTS v_cells_mc",
)
_ORDER = "ks, kl, ky, kstudy, kstart, kfinding, finding"

#: The running counts. Keyed kinds count the rows that name a key (stored
#: hashed); where a key's count rises from 0 or falls to 0, the kind after the
#: arrow counts keys (distinct studies or findings) per modality or cell.
_KINDS = {
    "ms": "mS",  # (modality, study) of supporting findings -> modality: studies
    "mf": "mF",  # (modality, finding) -> modality: findings
    "cs": "cS",  # (modality, category, study) of supporting findings -> cell: studies
}
#: Plain counts: "mr" (modality, relation) supporting findings; "cl" (modality,
#: category, level) supporting findings; "cr" (modality, category) refuting
#: findings; "ty" (kind of study,) and "yr" (year,) studies.

_G_QUADS = "SELECT ?g (COUNT(*) AS ?n) WHERE { @VALUES@ GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
_G_FINDINGS = SPARQL_PREFIXES + "SELECT ?g (COUNT(DISTINCT ?f) AS ?n) WHERE { @VALUES@ GRAPH ?g { ?f a tkg:Finding } } GROUP BY ?g"
#: (The OPTIONAL parts name the graph again: inside one GRAPH block with the
#: type pattern, Oxigraph's planner took 60x as long for 50 graphs at 10,000 studies.)
_G_STUDIES = (
    SPARQL_PREFIXES
    + """SELECT ?g ?s ?type ?year WHERE { @VALUES@
  GRAPH ?g { ?s a tkg:Study }
  OPTIONAL { GRAPH ?g { ?s a ?type FILTER(?type != tkg:Study) } }
  OPTIONAL { GRAPH ?g { ?s tkg:publicationYear ?year } }
}"""
)
#: (The graphs' findings first, in a sub-select, then the ontology's classes:
#: half the time of one group for 50 graphs.)
_G_MODALITY = (
    SPARQL_PREFIXES
    + """SELECT ?g ?m ?finding ?study ?relation WHERE {
  { SELECT ?g ?finding ?subject ?relation ?study WHERE { @VALUES@
    GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:support "SUPPORT" ;
                        prov:wasDerivedFrom ?study . } } }
  ?subject rdfs:subClassOf* ?m . ?m tkg:isModality true .
}"""
)
#: (The relations are filtered after the graph pattern: with them in VALUES, or
#: the filter inside GRAPH, Oxigraph's planner took 20x as long for 100 graphs.)
_G_CELLS = (
    SPARQL_PREFIXES
    + """SELECT ?g ?m ?finding ?study ?support ?relation ?object ?level ?year ?start WHERE {
  { SELECT ?g ?finding ?subject ?relation ?object ?support ?study WHERE { @VALUES@
    GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
                        tkg:support ?support ; prov:wasDerivedFrom ?study . }
    FILTER(?relation = tkg:facesBarrier || ?relation = tkg:causesToxicity) } }
  ?subject rdfs:subClassOf* ?m . ?m tkg:isModality true .
  OPTIONAL { ?finding tkg:quoteStart ?start }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)
_ENTITIES = (
    SPARQL_PREFIXES
    + """SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {
  VALUES ?top { tkg:Therapy tkg:TumorType tkg:Barrier tkg:Toxicity tkg:Strategy tkg:Antigen } ?e rdfs:subClassOf+ ?top }"""
)


def _create(db: sqlite3.Connection, full: bool) -> bool:
    fresh = ensure_tables(db, _TABLES, drop=full)
    for statement in _INDEXES:
        db.execute(statement)
    return fresh


def _order_key(support: Any, level: int | None, year: int | None, study: str, start: int | None, finding: str) -> tuple:
    """A finding's place in its cell: the order of :func:`kg.views.dashboard._cell_summary`
    (supporting first, best level, newest, by study, by quote start, by finding), then its IRI."""
    return (
        int(support != "SUPPORT"),
        level if level is not None else 99,
        -(year or 0),
        local_name(study),
        start if start is not None else 1 << 30,
        local_name(finding),
        finding,
    )


class _Rows:
    """The rows some graphs contribute (from the store or from the index)."""

    def __init__(self) -> None:
        self.graphs: list[tuple] = []
        self.studies: list[tuple] = []
        self.modality: list[tuple] = []
        self.cells: list[tuple] = []  # g, m, c, finding, study, level, *order key less the finding

    @classmethod
    def from_store(cls, kg: KnowledgeGraph, graphs: set[str] | None, rolls: dict[str, set[str]], categories: set[str]) -> _Rows:
        rows = cls()
        quads = {str(r["g"]): int(str(r["n"])) for r in select(kg, _G_QUADS, graphs)}
        findings = {str(r["g"]): int(str(r["n"])) for r in select(kg, _G_FINDINGS, graphs)}
        rows.graphs = [(g, n, findings.get(g, 0)) for g, n in quads.items()]
        rows.studies = [(str(r["g"]), str(r["s"]), _str(r.get("type")), int_or_none(r.get("year"))) for r in select(kg, _G_STUDIES, graphs)]
        rows.modality = [
            (str(r["g"]), str(r["m"]), str(r["finding"]), str(r["study"]), str(r["relation"])) for r in select(kg, _G_MODALITY, graphs)
        ]
        seen: set[tuple[str, str, str]] = set()
        for r in select(kg, _G_CELLS, graphs):
            support, level, year, study, start = cell_facts(r)
            finding, m = str(r["finding"]), str(r["m"])
            key = _order_key(support, level, year, study, start, finding)
            for c in cell_targets(local_name(str(r["relation"])), str(r["object"]), rolls, categories):
                if (m, c, finding) not in seen:  # the first row of a finding in a cell counts
                    seen.add((m, c, finding))
                    rows.cells.append((str(r["g"]), m, c, finding, study, level, *key[:-1]))
        return rows

    @classmethod
    def from_index(cls, db: sqlite3.Connection, graphs: Iterable[str]) -> _Rows:
        rows = cls()
        for g in graphs:
            rows.graphs += db.execute("SELECT * FROM v_graphs WHERE g = ?", (g,)).fetchall()
            rows.studies += db.execute("SELECT * FROM v_studies WHERE g = ?", (g,)).fetchall()
            rows.modality += db.execute("SELECT * FROM v_modality WHERE g = ?", (g,)).fetchall()
            rows.cells += db.execute("SELECT * FROM v_cells WHERE g = ? ORDER BY rowid", (g,)).fetchall()
        return rows

    def insert(self, db: sqlite3.Connection) -> None:
        db.executemany("INSERT INTO v_graphs VALUES (?, ?, ?)", self.graphs)
        db.executemany("INSERT INTO v_studies VALUES (?, ?, ?, ?)", self.studies)
        db.executemany("INSERT INTO v_modality VALUES (?, ?, ?, ?, ?)", self.modality)
        db.executemany("INSERT INTO v_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.cells)

    def count(self, deltas: dict[str, Counter], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) these rows' part of the running counts."""
        for _g, m, finding, study, relation in self.modality:
            deltas["ms"][(m, study)] += sign
            deltas["mf"][(m, finding)] += sign
            deltas["mr"][(m, relation)] += sign
        for _g, m, c, _finding, study, level, ks, *_rest in self.cells:
            if ks == 0:
                deltas["cs"][(m, c, study)] += sign
                if level is not None:
                    deltas["cl"][(m, c, level)] += sign
            else:
                deltas["cr"][(m, c)] += sign

    def cell_keys(self) -> dict[tuple[str, str], list[tuple]]:
        """(modality, category) -> the order keys of these rows' findings there."""
        out: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for row in self.cells:
            out[(row[1], row[2])].append((*row[6:], row[3]))
        return out


def _str(term: Any) -> str | None:
    return None if term is None else str(term)


def _delete(db: sqlite3.Connection, graphs: Iterable[str]) -> None:
    names = [(g,) for g in graphs]
    for table in ("v_graphs", "v_studies", "v_modality", "v_cells"):
        db.executemany(f"DELETE FROM {table} WHERE g = ?", names)


def _study_counts(db: sqlite3.Connection, vocab: Vocabulary, studies: set[str]) -> tuple[Counter, Counter]:
    rows: list[tuple[str, str | None, int | None]] = []
    for study in sorted(studies):
        rows += db.execute("SELECT study, type, year FROM v_studies WHERE study = ?", (study,)).fetchall()
    return study_counts(vocab, rows)


# -- running counts ---------------------------------------------------------------------
def _add(db: sqlite3.Connection, kind: str, deltas: Counter, fresh: bool) -> Counter:
    """:func:`kg.artifacts.add_counts` with tuples for keys (stored as JSON)."""
    moved = add_counts(db, "v_tally", kind, {json.dumps(key): d for key, d in deltas.items()}, fresh=fresh, hashed=kind in _KINDS)
    return Counter({tuple(json.loads(key)): d for key, d in moved.items()})


def _apply(db: sqlite3.Connection, deltas: dict[str, Counter], fresh: bool) -> None:
    for kind, total in _KINDS.items():
        moved = _add(db, kind, deltas.pop(kind, Counter()), fresh)
        per: Counter = Counter()
        for key, d in moved.items():
            per[key[:-1]] += d
        _add(db, total, per, fresh)
    for kind, counts in deltas.items():
        _add(db, kind, counts, fresh)


def _counts(db: sqlite3.Connection, kind: str) -> dict[tuple, int]:
    return {tuple(json.loads(key)): n for key, n in db.execute("SELECT key, n FROM v_tally WHERE kind = ?", (kind,))}


def _stats(kg: KnowledgeGraph, db: sqlite3.Connection, studies: int) -> dict[str, int]:
    """What :meth:`KnowledgeGraph.stats` answers, from the index (entities from the ontology)."""
    graphs, quads, findings = db.execute("SELECT COUNT(*), COALESCE(SUM(quads), 0), COALESCE(SUM(findings), 0) FROM v_graphs").fetchone()
    entities = int(str(kg.query(_ENTITIES).rows[0]["n"]))
    return {"studies": studies, "findings": findings, "entities": entities, "graphs": graphs, "quads": quads}


def _per_modality(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"studies": 0, "findings": 0, "relations": Counter()})
    for (m,), n in _counts(db, "mS").items():
        out[m]["studies"] = n
    for (m,), n in _counts(db, "mF").items():
        out[m]["findings"] = n
    for (m, relation), n in _counts(db, "mr").items():
        out[m]["relations"][relation] = n
    return dict(out)


# -- cell pages ----------------------------------------------------------------------
_PAGE_ROWS = f"SELECT {_ORDER} FROM v_cells WHERE m = ? AND c = ?"


def _rows_between(db: sqlite3.Connection, m: str, c: str, lo: tuple | None, hi: tuple | None) -> list[tuple]:
    """The order keys of a cell's findings from ``lo`` (None: the first) up to
    ``hi`` (excluded; None: the last), in order (the index v_cells_order)."""
    sql, args = _PAGE_ROWS, [m, c]
    if lo is not None:
        sql += f" AND ({_ORDER}) >= ({', '.join('?' * len(lo))})"
        args += lo
    if hi is not None:
        sql += f" AND ({_ORDER}) < ({', '.join('?' * len(hi))})"
        args += hi
    return db.execute(sql + f" ORDER BY {_ORDER}", args).fetchall()


def _paginate(pool: Path, rows: list[tuple], lo: tuple | None) -> list[tuple[str, int, str]]:
    """Pages (first order key as JSON, size, file name) of ``rows`` (order keys, in
    order); the first page keeps ``lo`` where given (the start of the range it covers)."""
    out = []
    for index, chunk in enumerate(chunks(rows, cells.PAGE_SIZE)):
        first = lo if index == 0 and lo is not None else chunk[0]
        out.append((json.dumps(first), len(chunk), write_page(pool, [row[-1] for row in chunk])))
    return out


def _full_pages(db: sqlite3.Connection, pool: Path, m: str, c: str) -> None:
    db.execute("DELETE FROM v_pages WHERE m = ? AND c = ?", (m, c))
    pages = _paginate(pool, _rows_between(db, m, c, None, None), None)
    db.executemany("INSERT INTO v_pages VALUES (?, ?, ?, ?, ?)", [(m, c, lo, n, name) for lo, n, name in pages])


def _update_pages(db: sqlite3.Connection, pool: Path, m: str, c: str, keys: list[tuple]) -> None:
    """Write again the pages of a cell where findings with these order keys were or are now."""
    pages = sorted(
        (tuple(json.loads(lo)), rowid) for rowid, lo in db.execute("SELECT rowid, lo FROM v_pages WHERE m = ? AND c = ?", (m, c))
    )
    if not pages:
        _full_pages(db, pool, m, c)
        return
    los = [lo for lo, _rowid in pages]
    dirty = sorted({max(bisect_right(los, tuple(key)) - 1, 0) for key in keys})
    added = []
    for index in dirty:
        lo = los[index] if index > 0 else None  # the first page starts before any finding
        hi = los[index + 1] if index + 1 < len(los) else None
        rows = _rows_between(db, m, c, lo, hi)
        if len(rows) <= 2 * cells.PAGE_SIZE:  # kept whole (or dropped, when empty); else split
            added += [(json.dumps(lo or rows[0]), len(rows), write_page(pool, [row[-1] for row in rows]))] if rows else []
        else:
            added += _paginate(pool, rows, lo)
        db.execute("DELETE FROM v_pages WHERE rowid = ?", (pages[index][1],))
    db.executemany("INSERT INTO v_pages VALUES (?, ?, ?, ?, ?)", [(m, c, lo, n, name) for lo, n, name in added])


def _page_list(db: sqlite3.Connection, m: str, c: str) -> list[tuple[str, int]]:
    found = db.execute("SELECT lo, n, name FROM v_pages WHERE m = ? AND c = ?", (m, c))
    rows = sorted((tuple(json.loads(lo)), n, name) for lo, n, name in found)
    return [(name, n) for _lo, n, name in rows]


#: The running counts of every row in the index (a full publish), grouped by
#: SQLite and streamed in: kind -> the query giving (*key, count).
_ALL_COUNTS = {
    "ms": "SELECT m, study, COUNT(*) FROM v_modality GROUP BY m, study",
    "mS": "SELECT m, COUNT(DISTINCT study) FROM v_modality GROUP BY m",
    "mf": "SELECT m, finding, COUNT(*) FROM v_modality GROUP BY m, finding",
    "mF": "SELECT m, COUNT(DISTINCT finding) FROM v_modality GROUP BY m",
    "mr": "SELECT m, relation, COUNT(*) FROM v_modality GROUP BY m, relation",
    "cs": "SELECT m, c, study, COUNT(*) FROM v_cells WHERE ks = 0 GROUP BY m, c, study",
    "cS": "SELECT m, c, COUNT(DISTINCT study) FROM v_cells WHERE ks = 0 GROUP BY m, c",
    "cl": "SELECT m, c, level, COUNT(*) FROM v_cells WHERE ks = 0 AND level IS NOT NULL GROUP BY m, c, level",
    "cr": "SELECT m, c, COUNT(*) FROM v_cells WHERE ks != 0 GROUP BY m, c",
}


def _count_all(db: sqlite3.Connection, vocab: Vocabulary, pool: Path, modalities: list[str], cats: list[str]) -> None:
    """The running counts and every cell's pages from all of the index's rows
    (the counts are empty). What :meth:`_Rows.count` would add, summed by SQLite
    so that a million studies' keys are never held in memory at once."""
    for kind, sql in _ALL_COUNTS.items():
        load_counts(db, "v_tally", kind, ((json.dumps(row[:-1]), row[-1]) for row in db.execute(sql)), hashed=kind in _KINDS)
    by_type, by_year = study_counts(vocab, db.execute("SELECT study, type, year FROM v_studies").fetchall())
    _add(db, "ty", Counter({(k,): n for k, n in by_type.items()}), True)
    _add(db, "yr", Counter({(y,): n for y, n in by_year.items()}), True)
    for m in modalities:
        for c in cats:
            _full_pages(db, pool, m, c)


#: v_cells of the step's previous version (before running counts and pages).
_V2_CELLS = ["g", "m", "c", "finding", "support", "level", "year", "study", "start", "study_local", "finding_local"]


def _migrate(db: sqlite3.Connection, vocab: Vocabulary, pool: Path, modalities: list[str], cats: list[str]) -> bool:
    """Bring an index the previous version of the step kept (for the previous
    release) to this version from its own rows: the cells' order keys, the
    running counts and the pages, without reading the store again (at 100,000
    studies a full recomputation takes tens of minutes). True if it did."""
    if [row[1] for row in db.execute("PRAGMA table_info(v_cells)")] != _V2_CELLS:
        return False
    for table in ("v_graphs", "v_studies", "v_modality"):
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
            return False
    db.execute("DROP TABLE IF EXISTS v_cells_v2")
    db.execute("ALTER TABLE v_cells RENAME TO v_cells_v2")
    for table in ("v_cells", "v_tally", "v_pages"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"CREATE TABLE {table} ({_TABLES[table]})")
    # the first row of a finding in a cell counts (as the previous version ordered them)
    db.execute(
        """INSERT INTO v_cells SELECT g, m, c, finding, study, level, support != 'SUPPORT', COALESCE(level, 99), -COALESCE(year, 0),
        study_local, COALESCE(start, 1073741824), finding_local FROM v_cells_v2
        WHERE rowid IN (SELECT MIN(rowid) FROM v_cells_v2 GROUP BY m, c, finding) ORDER BY rowid"""
    )
    db.execute("DROP TABLE v_cells_v2")
    _create(db, False)
    _count_all(db, vocab, pool, modalities, cats)
    return True


def publish_views(publication: Publication, *, version: int, views_file: str, cells_dir: str) -> None:
    """Write ``views_file`` and the cell files of the new release (see the module docstring)."""
    kg, db, folder = publication.kg, publication.index, publication.folder
    if db is None:
        raise TkgError("the views step needs the publication's index")
    vocab = Vocabulary(kg)  # once: the work store has no release key to memoize it by
    modalities, cats, rolls, categories = matrix_axes(kg, vocab)
    pool = folder.parent / PAGES_DIR
    migrated = publication.incremental and _migrate(db, vocab, pool, modalities, cats)
    if migrated:
        publication.notes.append("views: the index of the step's previous version was converted from its rows")
    fresh = _create(db, publication.full)
    previous = read_json(publication.previous / views_file, version) if publication.previous is not None else None
    deltas: dict[str, Counter] = defaultdict(Counter)
    if publication.incremental and (previous is not None or migrated) and not fresh:
        changed = publication.changed or set()
        old = _Rows.from_index(db, changed)
        new = _Rows.from_store(kg, changed, rolls, categories)
        studies = {row[1] for row in old.studies} | {row[1] for row in new.studies}
        by_type, by_year = _study_counts(db, vocab, studies)
        deltas["ty"].subtract({(k,): n for k, n in by_type.items()})
        deltas["yr"].subtract({(y,): n for y, n in by_year.items()})
        old.count(deltas, -1)
        _delete(db, changed)
        new.insert(db)
        new.count(deltas, 1)
        by_type, by_year = _study_counts(db, vocab, studies)
        deltas["ty"].update({(k,): n for k, n in by_type.items()})
        deltas["yr"].update({(y,): n for y, n in by_year.items()})
        _apply(db, deltas, False)
        touched = old.cell_keys()
        for cell, keys in new.cell_keys().items():
            touched.setdefault(cell, []).extend(keys)
        for (m, c), keys in touched.items():
            _update_pages(db, pool, m, c, keys)
    else:
        if not fresh:  # incremental, but the previous views are missing: start again
            _create(db, True)
        new = _Rows.from_store(kg, None, rolls, categories)
        new.insert(db)
        _count_all(db, vocab, pool, modalities, cats)
        touched = {(m, c): [] for m in modalities for c in cats}
    cell_studies, refuting = _counts(db, "cS"), _counts(db, "cr")
    levels: dict[tuple[str, str], list[int]] = defaultdict(list)
    for m, c, level in _counts(db, "cl"):
        levels[(m, c)].append(level)
    counts: dict[str, tuple[int, int | None]] = {}
    for m in modalities:
        for c in cats:
            key = (local_name(m), local_name(c))
            summary = {
                "modality": vocab.ref(m),
                "category": vocab.ref(c),
                "studies": cell_studies.get((m, c), 0),
                "refuting_findings": refuting.get((m, c), 0),
                "best_level": min_level(levels[(m, c)]),
            }
            counts[f"{key[0]}/{key[1]}"] = (summary["studies"], summary["best_level"])
            name = f"{key[0]}--{key[1]}.json"
            old_file = publication.previous / cells_dir / name if publication.previous is not None else None
            if (m, c) not in touched and previous is not None and old_file is not None and old_file.is_file():
                link_or_copy(old_file, folder / cells_dir / name)
            else:
                write_cell(folder, key, summary, _page_list(db, m, c))
    studies_by_type = Counter({k: n for (k,), n in _counts(db, "ty").items()})
    studies_by_year = Counter({y: n for (y,), n in _counts(db, "yr").items()})
    data = {
        "version": version,
        "dashboard": assemble_dashboard(
            kg, vocab, _stats(kg, db, sum(studies_by_type.values())), studies_by_type, studies_by_year, _per_modality(db)
        ),
        "matrix": assemble_matrix(vocab, modalities, cats, counts),
    }
    write_json_atomic(folder / views_file, data)
    collect_pages(folder.parent, (name for (name,) in db.execute("SELECT name FROM v_pages")))
