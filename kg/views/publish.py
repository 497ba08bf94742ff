"""The ``views`` publish step: the dashboard, the evidence matrix and every
matrix cell's index of a new release, maintained from the changed studies.

The step keeps, in the publication's index (:class:`kg.artifacts.Publication`,
SQLite), the rows each named graph contributes: its quads and findings, its
studies' types and years, its supporting findings per modality, and its
findings in each matrix cell with what orders them. On an incremental publish
only the changed graphs' rows are replaced (read from the store with the
graphs listed in ``VALUES``); the dashboard is then summed up from the rows,
the cells those graphs touched (before or after) are summarized again, and the
other cells' files are hard-linked from the previous release. A full publish
reads every graph's rows once. Either way the result equals
:func:`kg.views.dashboard.dashboard` and :func:`kg.views.dashboard.matrix_and_cells`
over the whole store (tests/test_incremental.py).

Rows are kept per graph, so a study's metadata is expected in its own graph
(as :mod:`kg.to_rdf` writes it) and a finding IRI in one graph only (finding
IRIs carry their study's id): then counting per graph and summing is exact.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..artifacts import Publication, ensure_tables, link_or_copy, read_json, select, write_json_atomic
from ..errors import TkgError
from ..namespaces import local_name
from .common import PREFIXES, Vocabulary, int_or_none, min_level
from .dashboard import assemble_dashboard, assemble_matrix, cell_facts, cell_targets, matrix_axes

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_TABLES = {
    "v_graphs": "g TEXT PRIMARY KEY, quads INTEGER, findings INTEGER",
    "v_studies": "g TEXT, study TEXT, type TEXT, year INTEGER",
    "v_modality": "g TEXT, m TEXT, finding TEXT, study TEXT, relation TEXT",
    "v_cells": (
        "g TEXT, m TEXT, c TEXT, finding TEXT, support TEXT, level INTEGER, year INTEGER, study TEXT, start INTEGER,"
        " study_local TEXT, finding_local TEXT"
    ),
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS v_studies_g ON v_studies (g)",
    "CREATE INDEX IF NOT EXISTS v_modality_g ON v_modality (g)",
    # covering indexes: the per-modality counts scan them in order instead of sorting the table
    "CREATE INDEX IF NOT EXISTS v_modality_study ON v_modality (m, study)",
    "CREATE INDEX IF NOT EXISTS v_modality_finding ON v_modality (m, finding)",
    "CREATE INDEX IF NOT EXISTS v_modality_relation ON v_modality (m, relation)",
    "CREATE INDEX IF NOT EXISTS v_cells_g ON v_cells (g)",
    "CREATE INDEX IF NOT EXISTS v_cells_mc ON v_cells (m, c)",
)

_G_QUADS = "SELECT ?g (COUNT(*) AS ?n) WHERE { @VALUES@ GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
_G_FINDINGS = PREFIXES + "SELECT ?g (COUNT(DISTINCT ?f) AS ?n) WHERE { @VALUES@ GRAPH ?g { ?f a tkg:Finding } } GROUP BY ?g"
_G_STUDIES = (
    PREFIXES
    + """SELECT ?g ?s ?type ?year WHERE { @VALUES@
  GRAPH ?g { ?s a tkg:Study . OPTIONAL { ?s a ?type FILTER(?type != tkg:Study) } OPTIONAL { ?s tkg:publicationYear ?year } }
}"""
)
_G_MODALITY = (
    PREFIXES
    + """SELECT ?g ?m ?finding ?study ?relation WHERE { @VALUES@
  GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study . }
  ?subject rdfs:subClassOf* ?m . ?m tkg:isModality true .
}"""
)
#: (The relations are filtered after the joins: with them in VALUES, or the
#: filter inside GRAPH, Oxigraph's planner took 20x as long for 100 graphs.)
_G_CELLS = (
    PREFIXES
    + """SELECT ?g ?m ?finding ?study ?support ?relation ?object ?level ?year ?start WHERE { @VALUES@
  GRAPH ?g { ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
                      tkg:support ?support ; prov:wasDerivedFrom ?study . }
  ?subject rdfs:subClassOf* ?m . ?m tkg:isModality true .
  FILTER(?relation = tkg:facesBarrier || ?relation = tkg:causesToxicity)
  OPTIONAL { ?finding tkg:quoteStart ?start }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)
_ENTITIES = (
    PREFIXES
    + """SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {
  VALUES ?top { tkg:Therapy tkg:TumorType tkg:Barrier tkg:Toxicity tkg:Strategy tkg:Antigen } ?e rdfs:subClassOf+ ?top }"""
)


def _create(db: sqlite3.Connection, full: bool) -> bool:
    fresh = ensure_tables(db, _TABLES, drop=full)
    for statement in _INDEXES:
        db.execute(statement)
    return fresh


def _delete(db: sqlite3.Connection, graphs: Iterable[str]) -> None:
    names = [(g,) for g in graphs]
    for table in _TABLES:
        db.executemany(f"DELETE FROM {table} WHERE g = ?", names)


def _touched_cells(db: sqlite3.Connection, graphs: Iterable[str]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for g in graphs:
        out.update(db.execute("SELECT DISTINCT m, c FROM v_cells WHERE g = ?", (g,)).fetchall())
    return out


def _load(
    kg: KnowledgeGraph, db: sqlite3.Connection, graphs: set[str] | None, rolls: dict[str, set[str]], categories: set[str]
) -> set[tuple[str, str]]:
    """Read the rows of ``graphs`` (None: all) from the store into the index;
    returns the cells they fall in."""
    quads = {str(r["g"]): int(str(r["n"])) for r in select(kg, _G_QUADS, graphs)}
    findings = {str(r["g"]): int(str(r["n"])) for r in select(kg, _G_FINDINGS, graphs)}
    db.executemany("INSERT INTO v_graphs VALUES (?, ?, ?)", [(g, n, findings.get(g, 0)) for g, n in quads.items()])
    db.executemany(
        "INSERT INTO v_studies VALUES (?, ?, ?, ?)",
        ((str(r["g"]), str(r["s"]), _str(r.get("type")), int_or_none(r.get("year"))) for r in select(kg, _G_STUDIES, graphs)),
    )
    db.executemany(
        "INSERT INTO v_modality VALUES (?, ?, ?, ?, ?)",
        ((str(r["g"]), str(r["m"]), str(r["finding"]), str(r["study"]), str(r["relation"])) for r in select(kg, _G_MODALITY, graphs)),
    )
    touched: set[tuple[str, str]] = set()
    rows = []
    for r in select(kg, _G_CELLS, graphs):
        facts = cell_facts(r)
        for c in cell_targets(local_name(str(r["relation"])), str(r["object"]), rolls, categories):
            touched.add((str(r["m"]), c))
            rows.append((str(r["g"]), str(r["m"]), c, str(r["finding"]), *facts, local_name(facts[3]), local_name(str(r["finding"]))))
    db.executemany("INSERT INTO v_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return touched


def _str(term: Any) -> str | None:
    return None if term is None else str(term)


def _stats(kg: KnowledgeGraph, db: sqlite3.Connection) -> dict[str, int]:
    """What :meth:`KnowledgeGraph.stats` answers, from the index (entities from the ontology)."""
    graphs, quads, findings = db.execute("SELECT COUNT(*), COALESCE(SUM(quads), 0), COALESCE(SUM(findings), 0) FROM v_graphs").fetchone()
    studies = db.execute("SELECT COUNT(DISTINCT study) FROM v_studies").fetchone()[0]
    entities = int(str(kg.query(_ENTITIES).rows[0]["n"]))
    return {"studies": studies, "findings": findings, "entities": entities, "graphs": graphs, "quads": quads}


def _per_modality(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m, studies in db.execute("SELECT m, COUNT(DISTINCT study) FROM v_modality GROUP BY m"):
        out[m] = {"studies": studies, "findings": 0, "relations": Counter()}
    for m, findings in db.execute("SELECT m, COUNT(DISTINCT finding) FROM v_modality GROUP BY m"):
        out[m]["findings"] = findings
    for m, relation, n in db.execute("SELECT m, relation, COUNT(*) FROM v_modality GROUP BY m, relation"):
        out[m]["relations"][relation] = n
    return out


#: One row per finding of a cell (the first, as in :func:`kg.views.dashboard.matrix_and_cells`),
#: in page order: the order of :func:`kg.views.dashboard._cell_summary`, sorted by SQLite.
_CELL_ORDER = """SELECT finding, support, level, study FROM v_cells
WHERE rowid IN (SELECT MIN(rowid) FROM v_cells WHERE m = ? AND c = ? GROUP BY finding)
ORDER BY support != 'SUPPORT', COALESCE(level, 99), -COALESCE(year, 0), study_local, COALESCE(start, 1073741824), finding_local, rowid"""


def _cell_index(db: sqlite3.Connection, vocab: Vocabulary, m: str, c: str) -> dict[str, Any]:
    """What :func:`kg.views.dashboard.cell_summary` gives for the cell, from the index."""
    findings, studies, levels, refuting = [], set(), [], 0
    for finding, support, level, study in db.execute(_CELL_ORDER, (m, c)):
        findings.append(finding)
        if support == "SUPPORT":
            studies.add(study)
            levels.append(level)
        else:
            refuting += 1
    return {
        "modality": vocab.ref(m),
        "category": vocab.ref(c),
        "studies": len(studies),
        "refuting_findings": refuting,
        "best_level": min_level(levels),
        "findings": findings,
    }


def publish_views(publication: Publication, *, version: int, views_file: str, cells_dir: str) -> None:
    """Write ``views_file`` and the cell files of the new release (see the module docstring)."""
    kg, db, folder = publication.kg, publication.index, publication.folder
    if db is None:
        raise TkgError("the views step needs the publication's index")
    fresh = _create(db, publication.full)
    vocab = Vocabulary(kg)  # once: the work store has no release key to memoize it by
    modalities, cats, rolls, categories = matrix_axes(kg, vocab)
    previous = read_json(publication.previous / views_file, version) if publication.previous is not None else None
    if publication.incremental and previous is not None and not fresh:
        changed = publication.changed or set()
        touched = _touched_cells(db, changed)
        _delete(db, changed)
        touched |= _load(kg, db, changed, rolls, categories)
        before = {(c["modality"], c["category"]): (c["studies"], c["best_level"]) for row in previous["matrix"]["cells"] for c in row}
    else:
        if not fresh:  # incremental, but the previous views are missing: start again
            _create(db, True)
        _load(kg, db, None, rolls, categories)
        touched = {(m, c) for m in modalities for c in cats}
        before = {}
    counts: dict[str, tuple[int, int | None]] = {}
    for m in modalities:
        for c in cats:
            key = (local_name(m), local_name(c))
            name = f"{key[0]}--{key[1]}.json"
            old = publication.previous / cells_dir / name if publication.previous is not None else None
            if (m, c) not in touched and key in before and old is not None and old.is_file():
                link_or_copy(old, folder / cells_dir / name)
                counts[f"{key[0]}/{key[1]}"] = before[key]
                continue
            index = _cell_index(db, vocab, m, c)
            write_json_atomic(folder / cells_dir / name, {"version": version, **index})
            counts[f"{key[0]}/{key[1]}"] = (index["studies"], index["best_level"])
    studies = db.execute("SELECT study, type, year FROM v_studies ORDER BY rowid").fetchall()
    data = {
        "version": version,
        "dashboard": assemble_dashboard(kg, vocab, _stats(kg, db), studies, _per_modality(db)),
        "matrix": assemble_matrix(vocab, modalities, cats, counts),
    }
    write_json_atomic(folder / views_file, data)
