"""Graph views for the explorer (``/graph``): neighborhoods, paths and the
therapy -> barrier -> strategy view as Cytoscape.js elements.

Everything starts from the networkx projection (:mod:`kg.projection`),
computed at publish time, stored with the release and read once per serving
process (:func:`projection`). The
web layer only parses parameters and calls these functions.

Filters (:class:`Filters`) are applied here, server-side:

* ``modality``: keep therapy nodes of these modalities (other categories stay);
* ``tumor`` (``heme``/``solid``): keep edges with evidence in that tumor
  category, i.e. a finding whose tumor context is of that kind, or an edge
  touching a tumor type of that kind; tumor types of the other kind go;
* ``relation``: keep edges of these relations;
* ``level``: keep edges whose best evidence level is at most this (1 strongest);
* ``year_from``/``year_to``: keep edges with a supporting study in the range.

Unknown node ids raise :class:`NodeNotFound`; malformed parameters raise
:class:`BadGraphParameter` (both :class:`kg.errors.TkgError`).
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
from rdflib import URIRef

from .artifacts import (
    COUNTS_COLUMNS,
    Publication,
    ReleaseMemo,
    add_counts,
    cache_dir,
    ensure_tables,
    load_counts,
    read_json,
    release_key,
    select,
    write_json_atomic,
)
from .errors import TkgError
from .model import RELATIONS as MODEL_RELATIONS
from .namespaces import BASE, local_name
from .projection import CATEGORIES, EDGE_QUERY, assemble, edge_row, local_id, node_vocabulary, project

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

#: Largest neighborhood depth served.
MAX_DEPTH = 2
#: Largest number of nodes in one answer; the answer says ``capped`` when it cut.
MAX_NODES = 150
#: Shortest paths returned by :func:`paths`.
MAX_PATHS = 5
#: Suggestions returned by :func:`find_nodes`.
MAX_SUGGESTIONS = 20
TUMOR_KINDS = ("heme", "solid")
#: The relations a finding may assert (kg.model, checked against the ontology by tests/test_ontology.py).
RELATIONS = tuple(MODEL_RELATIONS)
#: Synthetic edges added by the strategies view for the class hierarchy.
SUBCLASS = "subClassOf"
SUBCLASS_LABEL = "is a kind of"


class NodeNotFound(TkgError):
    """An id that is not a node of the graph."""


class BadGraphParameter(TkgError):
    """A malformed parameter of a graph view."""


# -- the cached projection --------------------------------------------------------
@dataclass
class Projection:
    release: str
    graph: nx.MultiDiGraph
    synonyms: dict[str, list[str]]


#: Projections kept per process (one per store and release; each is large).
_cache = ReleaseMemo(maxsize=4)

SYNONYM_QUERY = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?x ?syn WHERE { ?x skos:altLabel ?syn }"""


#: The explorer's projection of a release, stored beside its views at publish
#: time (the ``projection`` publish step, :func:`publish_step`) and read by each serving process.
PROJECTION_FILE = "projection.json"
PROJECTION_VERSION = 1


def compute_projection(kg: KnowledgeGraph) -> tuple[nx.MultiDiGraph, dict[str, list[str]]]:
    """The explorer's projection and the entities' synonyms.

    Edges keep their counts (``weight``: supporting studies, ``refuted``:
    refuting studies), levels, years and contexts, not the lists of study ids
    (``studies``, ``refuted_by``, ``context_studies`` of :func:`kg.projection.project`):
    nothing here shows them (an edge's findings are read from the store), and
    at 100,000 studies they are millions of strings in every serving process."""
    graph = project(kg, studies=False)
    for _u, _v, data in graph.edges(data=True):
        _strip(data)
    return graph, _synonyms(kg, graph)


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    data["refuted"] = len(data.pop("refuted_by", ()))
    data.pop("studies", None)
    data.pop("context_studies", None)
    return data


def _synonyms(kg: KnowledgeGraph, graph: nx.MultiDiGraph) -> dict[str, list[str]]:
    synonyms: dict[str, set[str]] = {}
    iris = {data["iri"]: node for node, data in graph.nodes(data=True)}
    for row in kg.query(SYNONYM_QUERY).rows:
        node = iris.get(str(row["x"]))
        if node is not None:
            synonyms.setdefault(node, set()).add(str(row["syn"]))
    return {k: sorted(v) for k, v in synonyms.items()}


def store_projection(folder: Path, stored: tuple[nx.MultiDiGraph, dict[str, list[str]]]) -> None:
    """Write a projection (:func:`compute_projection`) into a release's cache folder."""
    graph, synonyms = stored
    data = {"version": PROJECTION_VERSION, "graph": nx.node_link_data(graph, edges="edges"), "synonyms": synonyms}
    write_json_atomic(folder / PROJECTION_FILE, data)


def read_projection(path: Path) -> tuple[nx.MultiDiGraph, dict[str, list[str]]] | None:
    """A projection stored by :func:`store_projection`; None when the file is missing,
    of an older version or damaged (the caller computes it again)."""
    data = read_json(path, PROJECTION_VERSION)
    if data is None:
        return None
    try:
        return nx.node_link_graph(data["graph"], directed=True, multigraph=True, edges="edges"), data["synonyms"]
    except (KeyError, TypeError, ValueError, nx.NetworkXError):
        return None


def projection(kg: KnowledgeGraph) -> Projection:
    """The projection of the release ``kg`` serves: read from the release's
    cache folder (written at publish), else computed once per release (and
    stored there when the folder is writable)."""
    release = release_key(kg)

    def load() -> Projection:
        folder = cache_dir(kg, release)
        stored = read_projection(folder / PROJECTION_FILE) if folder is not None else None
        if stored is None:
            stored = compute_projection(kg)
            if folder is not None:
                try:
                    store_projection(folder, stored)
                except OSError:
                    pass  # a read-only store: kept in memory only
        return Projection(release, *stored)

    return _cache.get(kg, "projection", load, release=release)


def clear_cache() -> None:
    _cache.clear()


#: The projection step's rows in the publication's index: the grouped rows of
#: :data:`kg.projection.EDGE_QUERY` that each named graph contributes, and the
#: running counts each edge's attributes are read from (:func:`_count_rows`).
_EDGE_TABLE = (
    "p_edges",
    "g TEXT, s TEXT, rel TEXT, o TEXT, ctx TEXT, study TEXT, support TEXT, level INTEGER, year INTEGER, method TEXT, n INTEGER",
)
_COUNTS = "p_tally"
_G_EDGES = (
    EDGE_QUERY.split("SELECT", 1)[0]
    + """SELECT ?g ?s ?rel ?o ?ctx ?study ?support ?level ?year ?method (COUNT(?f) AS ?n) WHERE { @VALUES@
  GRAPH ?g { ?f a tkg:Finding ; tkg:subject ?s ; tkg:relation ?rel ; tkg:object ?o ; tkg:support ?support ; prov:wasDerivedFrom ?study . }
  OPTIONAL { ?f tkg:tumorContext ?ctx }
  OPTIONAL { ?f tkg:extractionMethod ?method }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}
GROUP BY ?g ?s ?rel ?o ?ctx ?study ?support ?level ?year ?method"""
)
#: Counted per edge (key: the edge's :func:`_edge_key`, then the item): "es"
#: rows per (refuted 0/1, study) (stored hashed, as "ec") and, where such a key comes and goes, "eS"
#: studies per refuted 0/1; "ec" supporting rows per (context, study) and "eC"
#: studies per context; "el" and "ey" supporting rows per level and per year;
#: "em" rows per extraction method; "ef" findings.
_DISTINCT = {"es": "eS", "ec": "eC"}
_EDGE_KINDS = ("eS", "eC", "el", "ey", "em", "ef")


def _edge_key(s: str, rel: str, o: str) -> str:
    # IRIs hold no control characters: the separators keep an edge's keys together in the index
    return f"{s}\x1f{rel}\x1f{o}\x1e"


def _count_rows(rows: Iterable[tuple], sign: int, deltas: dict[str, Counter[str]]) -> set[tuple[str, str, str]]:
    """Add (``sign`` 1) or take away (-1) the part of ``rows`` (of p_edges) in the
    running counts; returns the edges they are on."""
    edges: set[tuple[str, str, str]] = set()
    for _g, s, rel, o, ctx, study, support, level, year, method, n in rows:
        edges.add((s, rel, o))
        e = _edge_key(s, rel, o)
        refute = support == "REFUTE"
        deltas["es"][f"{e}{int(refute)}\x1f{study}"] += sign
        deltas["ef"][e] += sign * n
        if method is not None:
            deltas["em"][e + method] += sign
        if not refute:
            deltas["ec"][f"{e}{ctx or ''}\x1f{study}"] += sign
            if level is not None:
                deltas["el"][f"{e}{level}"] += sign
            if year is not None:
                deltas["ey"][f"{e}{year}"] += sign
    return edges


def _apply_counts(db: Any, deltas: dict[str, Counter[str]], fresh: bool) -> None:
    for kind, counts in deltas.items():
        moved = add_counts(db, _COUNTS, kind, counts, fresh=fresh, hashed=kind in _DISTINCT)
        if kind in _DISTINCT:
            per: Counter[str] = Counter()
            for key, d in moved.items():
                per[key.rsplit("\x1f", 1)[0]] += d
            add_counts(db, _COUNTS, _DISTINCT[kind], per, fresh=fresh)


#: The running counts of every edge row (a full publish), grouped by SQLite and
#: streamed in, keyed as :func:`_count_rows` keys them: kind -> the query giving (key, count).
_E = "s || char(31) || rel || char(31) || o || char(30)"
_SUPPORTING = "WHERE support != 'REFUTE'"
_ALL_COUNTS = {
    "es": f"SELECT {_E} || (support = 'REFUTE') || char(31) || study, COUNT(*) FROM p_edges GROUP BY 1",
    "eS": f"SELECT {_E} || (support = 'REFUTE'), COUNT(DISTINCT study) FROM p_edges GROUP BY 1",
    "ef": f"SELECT {_E}, SUM(n) FROM p_edges GROUP BY 1",
    "em": f"SELECT {_E} || method, COUNT(*) FROM p_edges WHERE method IS NOT NULL GROUP BY 1",
    "ec": f"SELECT {_E} || COALESCE(ctx, '') || char(31) || study, COUNT(*) FROM p_edges {_SUPPORTING} GROUP BY 1",
    "eC": f"SELECT {_E} || COALESCE(ctx, ''), COUNT(DISTINCT study) FROM p_edges {_SUPPORTING} GROUP BY 1",
    "el": f"SELECT {_E} || level, COUNT(*) FROM p_edges {_SUPPORTING} AND level IS NOT NULL GROUP BY 1",
    "ey": f"SELECT {_E} || year, COUNT(*) FROM p_edges {_SUPPORTING} AND year IS NOT NULL GROUP BY 1",
}


def _count_all(db: Any) -> None:
    """The running counts of all the index's edge rows (the counts are empty),
    summed by SQLite so that a million studies' keys are never held in memory at once."""
    for kind, sql in _ALL_COUNTS.items():
        load_counts(db, _COUNTS, kind, db.execute(sql), hashed=kind in _DISTINCT)


def _edge_attributes(rel: str, counts: Iterable[tuple[str, str, int]]) -> dict[str, Any] | None:
    """An edge's (stripped) attributes, as :func:`kg.projection.fold_edges` and
    :func:`_strip` give them, from its counts ((kind, item, count)); None when it has no findings."""
    weight = refuted = findings = 0
    levels, years, methods, contexts = [], [], [], {}
    for kind, item, n in counts:
        if kind == "ef":
            findings = n
        elif kind == "eS":
            weight, refuted = (n, refuted) if item == "0" else (weight, n)
        elif kind == "el":
            levels.append(int(item))
        elif kind == "ey":
            years.append(int(item))
        elif kind == "em":
            methods.append(item)
        elif kind == "eC":
            contexts[local_id(item) if item else ""] = n
    if not findings:
        return None
    return {
        "relation": local_id(rel),
        "weight": weight,
        "best_level": min(levels, default=None),
        "first_year": min(years, default=None),
        "last_year": max(years, default=None),
        "contexts": dict(sorted(contexts.items())),
        "findings": findings,
        "methods": sorted(methods),
        "refuted": refuted,
    }


_KIND_LIST = ", ".join(f"'{k}'" for k in _EDGE_KINDS)


def _read_edge(db: Any, edge: tuple[str, str, str]) -> dict[str, Any] | None:
    e = _edge_key(*edge)
    rows = db.execute(f"SELECT kind, key, n FROM {_COUNTS} WHERE kind IN ({_KIND_LIST}) AND key >= ? AND key < ?", (e, e[:-1] + "\x1f"))
    return _edge_attributes(edge[1], [(kind, key[len(e) :], n) for kind, key, n in rows])


def _read_edges(db: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every edge's attributes from the counts."""
    grouped: dict[str, list[tuple[str, str, int]]] = {}
    for kind, key, n in db.execute(f"SELECT kind, key, n FROM {_COUNTS} WHERE kind IN ({_KIND_LIST})"):
        e, item = key.split("\x1e", 1)
        grouped.setdefault(e, []).append((kind, item, n))
    edges = {}
    for e, counts in grouped.items():
        s, rel, o = e.split("\x1f")
        attributes = _edge_attributes(rel, counts)
        if attributes is not None:
            edges[(s, rel, o)] = attributes
    return edges


def _migrate(db: Any) -> bool:
    """An index of the step's previous version (edge rows, no counts): create the
    counts table, to be filled from the rows (not from the store again). True if it did."""
    have = [row[1] for row in db.execute("PRAGMA table_info(p_edges)")]
    if have != [c.split()[0] for c in _EDGE_TABLE[1].split(",")] or db.execute(f"PRAGMA table_info({_COUNTS})").fetchone():
        return False
    db.execute(f"CREATE TABLE {_COUNTS} ({COUNTS_COLUMNS})")
    db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS p_tally_key ON {_COUNTS} (kind, key)")
    return True


def publish_step(publication: Publication) -> None:
    """The ``projection`` publish step: store the new release's projection.

    The step keeps each named graph's edge rows in the publication's index and,
    per edge, running counts of what its attributes are made of (studies per
    support, per context, levels, years, methods, findings). On an incremental
    publish it takes the changed graphs' old rows out of the counts and adds
    their new rows, reads again only the edges those graphs touch (before or
    after), and takes every other edge from the previous release's projection;
    a full publish counts every row. Both equal :func:`compute_projection` over
    the whole store (tests/test_incremental.py)."""
    kg, db = publication.kg, publication.index
    if db is None:
        raise TkgError("the projection step needs the publication's index")
    previous = read_projection(publication.previous / PROJECTION_FILE) if publication.previous is not None else None
    tables = {_EDGE_TABLE[0]: _EDGE_TABLE[1], _COUNTS: COUNTS_COLUMNS}
    incremental = publication.incremental and previous is not None
    if incremental and _migrate(db):
        publication.notes.append("projection: the running counts were built from the index's edge rows (previous version)")
        _count_all(db)
    fresh = ensure_tables(db, tables, drop=not incremental)
    db.execute("CREATE INDEX IF NOT EXISTS p_edges_g ON p_edges (g)")
    db.execute("DROP INDEX IF EXISTS p_edges_edge")  # of an earlier version, which aggregated the rows of an edge
    db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS p_tally_key ON {_COUNTS} (kind, key)")
    deltas: dict[str, Counter[str]] = defaultdict(Counter)
    classes = previous[0].graph.get("classes") if previous is not None and not fresh else None
    if classes:  # the ontology did not change (else the publish is full): its classes are the previous projection's
        vocabulary = {BASE + cid: {"id": cid, "iri": BASE + cid, **attrs} for cid, attrs in classes.items()}
    else:
        vocabulary = node_vocabulary(kg)
    if previous is not None and not fresh:
        changed = publication.changed or set()
        old_rows = [row for g in sorted(changed) for row in db.execute("SELECT * FROM p_edges WHERE g = ?", (g,))]
        touched = _count_rows(old_rows, -1, deltas)
        db.executemany("DELETE FROM p_edges WHERE g = ?", [(g,) for g in changed])
        rows = [(str(r["g"]), *edge_row(r)) for r in select(kg, _G_EDGES, changed)]
        db.executemany("INSERT INTO p_edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        touched |= _count_rows(rows, 1, deltas)
        _apply_counts(db, deltas, False)
        old_graph, _old_synonyms = previous
        edges = {
            (old_graph.nodes[u]["iri"], BASE + key, old_graph.nodes[v]["iri"]): dict(data)
            for u, v, key, data in old_graph.edges(keys=True, data=True)
        }
        for edge in touched:
            attributes = _read_edge(db, edge)
            if attributes is None:
                edges.pop(edge, None)
            else:
                edges[edge] = attributes
    else:
        rows = [(str(r["g"]), *edge_row(r)) for r in select(kg, _G_EDGES, None)]
        db.executemany("INSERT INTO p_edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        _count_all(db)
        edges = _read_edges(db)
    graph = assemble(vocabulary, edges)
    store_projection(publication.folder, (graph, _synonyms(kg, graph)))


# -- filters ---------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    modality: frozenset[str] = frozenset()
    tumor: str | None = None
    relation: frozenset[str] = frozenset()
    level: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.modality or self.tumor or self.relation or self.level or self.year_from or self.year_to)

    def as_dict(self) -> dict[str, Any]:
        return {
            "modality": sorted(self.modality),
            "tumor": self.tumor,
            "relation": sorted(self.relation),
            "level": self.level,
            "year_from": self.year_from,
            "year_to": self.year_to,
        }


def _int(name: str, value: str | None, low: int, high: int) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadGraphParameter(f"{name} must be a whole number, not {value!r}", expected=f"{low}..{high}") from None
    if not low <= number <= high:
        raise BadGraphParameter(f"{name} {number} is out of range", expected=f"{low}..{high}")
    return number


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def parse_filters(
    graph: nx.MultiDiGraph,
    *,
    modality: str | Iterable[str] | None = None,
    tumor: str | None = None,
    relation: str | Iterable[str] | None = None,
    level: str | None = None,
    year_from: str | None = None,
    year_to: str | None = None,
) -> Filters:
    """Filters from request parameters (strings or lists), validated against the graph."""
    modalities = set(modality_ids(graph))
    chosen = _names(modality)
    unknown = [m for m in chosen if m not in modalities]
    if unknown:
        raise BadGraphParameter(f"unknown modality {unknown[0]!r}", expected="one of " + ", ".join(sorted(modalities)))
    relations = _names(relation)
    bad = [r for r in relations if r not in RELATIONS]
    if bad:
        raise BadGraphParameter(f"unknown relation {bad[0]!r}", expected="one of " + ", ".join(RELATIONS))
    kind = (tumor or "").strip().lower() or None
    if kind is not None and kind not in TUMOR_KINDS:
        raise BadGraphParameter(f"unknown tumor category {tumor!r}", expected="heme or solid")
    start = _int("year_from", year_from, 1900, 2100)
    end = _int("year_to", year_to, 1900, 2100)
    if start is not None and end is not None and start > end:
        raise BadGraphParameter(f"year_from {start} is after year_to {end}")
    return Filters(frozenset(chosen), kind, frozenset(relations), _int("level", level, 1, 5), start, end)


def modality_ids(graph: nx.MultiDiGraph) -> list[str]:
    return sorted(cid for cid, attrs in graph.graph.get("classes", {}).items() if attrs.get("is_modality"))


def _class(graph: nx.MultiDiGraph, cid: str) -> dict[str, Any]:
    if cid in graph:
        return graph.nodes[cid]
    return graph.graph.get("classes", {}).get(cid, {})


def _node_ok(graph: nx.MultiDiGraph, node: str, filters: Filters) -> bool:
    attrs = graph.nodes[node]
    if filters.modality and attrs.get("category") == "Therapy" and attrs.get("modality") not in filters.modality:
        return False
    if filters.tumor and attrs.get("category") == "TumorType" and attrs.get("tumor_kind") not in (None, filters.tumor):
        return False
    return True


def _edge_ok(graph: nx.MultiDiGraph, u: str, v: str, data: dict[str, Any], filters: Filters) -> bool:
    if filters.relation and data.get("relation") not in filters.relation:
        return False
    if filters.level is not None and (data.get("best_level") is None or data["best_level"] > filters.level):
        return False
    if filters.year_from is not None and (data.get("last_year") is None or data["last_year"] < filters.year_from):
        return False
    if filters.year_to is not None and (data.get("first_year") is None or data["first_year"] > filters.year_to):
        return False
    if filters.tumor:
        kinds = {_class(graph, ctx).get("tumor_kind") for ctx in data.get("contexts", {}) if ctx}
        kinds |= {graph.nodes[n].get("tumor_kind") for n in (u, v) if graph.nodes[n].get("category") == "TumorType"}
        if filters.tumor not in kinds:
            return False
    return _node_ok(graph, u, filters) and _node_ok(graph, v, filters)


def filtered(graph: nx.MultiDiGraph, filters: Filters) -> nx.MultiDiGraph:
    """A view of ``graph`` with only the edges (and their nodes) the filters keep;
    nodes without edges stay if the node filters keep them."""
    if not filters.active:
        return graph
    keep_nodes = [n for n in graph.nodes if _node_ok(graph, n, filters)]
    keep_edges = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if _edge_ok(graph, u, v, d, filters)]
    sub = nx.MultiDiGraph(graph.edge_subgraph(keep_edges))
    sub.add_nodes_from((n, graph.nodes[n]) for n in keep_nodes)
    sub.graph.update(graph.graph)
    return sub


# -- elements --------------------------------------------------------------------
def node_element(graph: nx.MultiDiGraph, node: str, **extra: Any) -> dict[str, Any]:
    attrs = _class(graph, node)
    data = {
        "id": node,
        "label": attrs.get("label", node),
        "category": attrs.get("category", "Other"),
        "parent_class": attrs.get("parent"),
        "modality": attrs.get("modality"),
        "tumor_kind": attrs.get("tumor_kind"),
        "is_modality": bool(attrs.get("is_modality")),
        "is_product": bool(attrs.get("is_product")),
    }
    data.update(extra)
    return {"group": "nodes", "data": data}


def edge_id(u: str, relation: str, v: str) -> str:
    return f"{u}|{relation}|{v}"


def edge_element(u: str, v: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    relation = data.get("relation", "")
    out = {
        "id": edge_id(u, relation, v),
        "source": u,
        "target": v,
        "relation": relation,
        "weight": data.get("weight", 0),
        "studies": data.get("weight", 0),
        "refuted_by": data.get("refuted", 0),
        "best_level": data.get("best_level"),
        "first_year": data.get("first_year"),
        "last_year": data.get("last_year"),
        "contexts": sorted(c for c in data.get("contexts", {}) if c),
    }
    out.update(extra)
    return {"group": "edges", "data": out}


def _elements(graph: nx.MultiDiGraph, nodes: Iterable[str], *, roles: dict[str, str] | None = None) -> list[dict[str, Any]]:
    chosen = list(dict.fromkeys(nodes))
    keep = set(chosen)
    roles = roles or {}
    elements = [node_element(graph, n, **({"role": roles[n]} if n in roles else {})) for n in chosen]
    for u, v, data in graph.edges(chosen, data=True):
        if v in keep:
            elements.append(edge_element(u, v, data))
    return elements


def require_node(graph: nx.MultiDiGraph, node: str | None) -> str:
    if not node or not str(node).strip():
        raise BadGraphParameter("no node id given", expected="an entity id such as CART")
    node = str(node).strip()
    if node not in graph:
        raise NodeNotFound(f"no entity {node!r} in the graph", expected="an id from /api/graph/nodes?q=...")
    return node


# -- views -----------------------------------------------------------------------
def find_nodes(kg: KnowledgeGraph, q: str, *, limit: int = MAX_SUGGESTIONS) -> list[dict[str, Any]]:
    """Nodes whose label, id or a synonym contains ``q`` (case-insensitive);
    exact and prefix matches first, then by number of edges."""
    text = (q or "").strip().lower()
    if not text:
        return []
    proj = projection(kg)
    graph = proj.graph
    hits = []
    for node, attrs in graph.nodes(data=True):
        names = [attrs.get("label", node), node, *proj.synonyms.get(node, [])]
        best = None
        matched = None
        for name in names:
            low = name.lower()
            rank = 0 if low == text else 1 if low.startswith(text) else 2 if text in low else None
            if rank is not None and (best is None or rank < best):
                best, matched = rank, name
        if best is not None:
            hits.append((best, -graph.degree(node), attrs.get("label", node).lower(), node, matched))
    hits.sort()
    out = []
    for _rank, _deg, _label, node, matched in hits[: max(1, min(limit, MAX_SUGGESTIONS))]:
        attrs = graph.nodes[node]
        out.append(
            {
                "id": node,
                "label": attrs.get("label", node),
                "category": attrs.get("category"),
                "matched": matched,
                "edges": graph.degree(node),
            }
        )
    return out


def neighborhood(
    kg: KnowledgeGraph, node: str, *, depth: int = 1, filters: Filters | None = None, max_nodes: int = MAX_NODES
) -> dict[str, Any]:
    """``node`` and the nodes within ``depth`` edges of it (either direction), with
    every edge among them, after the filters. At most ``max_nodes`` nodes."""
    proj = projection(kg)
    node = require_node(proj.graph, node)
    if not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise BadGraphParameter(f"depth {depth!r} is out of range", expected=f"1..{MAX_DEPTH}")
    filters = filters or Filters()
    graph = filtered(proj.graph, filters)
    if node not in graph:  # the filters removed the node itself: show it alone
        graph = nx.MultiDiGraph(graph)
        graph.add_node(node, **proj.graph.nodes[node])
    seen = {node: 0}
    queue = deque([node])
    capped = False
    while queue:
        current = queue.popleft()
        if seen[current] >= depth:
            continue
        ranked = sorted(
            set(graph.successors(current)) | set(graph.predecessors(current)),
            key=lambda n: (-_pair_weight(graph, current, n), n),
        )
        for other in ranked:
            if other in seen:
                continue
            if len(seen) >= max_nodes:
                capped = True
                break
            seen[other] = seen[current] + 1
            queue.append(other)
    elements = _elements(graph, seen, roles={node: "center"})
    for element in elements:
        if element["group"] == "nodes":
            element["data"]["distance"] = seen[element["data"]["id"]]
    return {
        "center": node,
        "label": proj.graph.nodes[node].get("label", node),
        "depth": depth,
        "filters": filters.as_dict(),
        "release": proj.release,
        "capped": capped,
        "max_nodes": max_nodes,
        "nodes": len(seen),
        "edges": sum(1 for e in elements if e["group"] == "edges"),
        "elements": elements,
    }


def _pair_weight(graph: nx.MultiDiGraph, a: str, b: str) -> int:
    total = 0
    for u, v in ((a, b), (b, a)):
        for data in (graph.get_edge_data(u, v) or {}).values():
            total += data.get("weight", 0)
    return total


def edge(kg: KnowledgeGraph, source: str, relation: str, target: str) -> dict[str, Any]:
    """The edge ``source -relation-> target`` and the findings behind it (supporting
    and refuting), read from the store with the IRIs passed as bindings."""
    proj = projection(kg)
    graph = proj.graph
    source = require_node(graph, source)
    target = require_node(graph, target)
    relation = (relation or "").strip()
    if relation not in RELATIONS:
        raise BadGraphParameter(f"unknown relation {relation!r}", expected="one of " + ", ".join(RELATIONS))
    data = (graph.get_edge_data(source, target) or {}).get(relation)
    if data is None:
        raise NodeNotFound(f"no {relation} edge from {source} to {target}")
    result = kg.query(
        FINDINGS_QUERY,
        bindings={
            "s": URIRef(graph.nodes[source]["iri"]),
            "o": URIRef(graph.nodes[target]["iri"]),
            "rel": URIRef(BASE + relation),
        },
    )
    findings = []
    for row in result.rows:
        study_iri = str(row["study"])
        findings.append(
            {
                "finding": str(row["f"]),
                "quote": _str(row.get("quote")),
                "support": _str(row.get("support")),
                "context": _local(row.get("ctx")),
                "context_label": _str(row.get("ctxLabel")),
                "method": _str(row.get("method")),
                "confidence": _num(row.get("confidence")),
                "study": local_name(study_iri),
                "title": _str(row.get("title")),
                "level": _num(row.get("level")),
                "year": _num(row.get("year")),
            }
        )
    findings.sort(key=lambda f: (f["support"] != "SUPPORT", f["level"] or 9, -(f["year"] or 0), f["study"]))
    return {
        "source": node_element(graph, source)["data"],
        "target": node_element(graph, target)["data"],
        "edge": edge_element(source, target, data)["data"],
        "findings": findings,
    }


FINDINGS_QUERY = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?s ?rel ?o ?f ?quote ?support ?ctx ?ctxLabel ?method ?confidence ?study ?title ?level ?year WHERE {
  ?f a tkg:Finding ; tkg:subject ?s ; tkg:relation ?rel ; tkg:object ?o ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?f tkg:evidenceQuote ?quote }
  OPTIONAL { ?f tkg:support ?support }
  OPTIONAL { ?f tkg:tumorContext ?ctx . OPTIONAL { ?ctx rdfs:label ?ctxLabel } }
  OPTIONAL { ?f tkg:extractionMethod ?method }
  OPTIONAL { ?f tkg:confidence ?confidence }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""


def _str(term: Any) -> str | None:
    return None if term is None else str(term)


def _local(term: Any) -> str | None:
    return None if term is None else local_name(str(term))


def _num(term: Any) -> Any:
    if term is None:
        return None
    try:
        value = term.toPython()
    except AttributeError:
        value = term
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value))
    except ValueError:
        try:
            return float(str(value))
        except ValueError:
            return None


def paths(kg: KnowledgeGraph, source: str, target: str, *, filters: Filters | None = None, limit: int = MAX_PATHS) -> dict[str, Any]:
    """Shortest paths between two entities, ignoring edge direction and edges
    with no supporting study; up to ``limit`` paths of the same (shortest) length."""
    proj = projection(kg)
    source = require_node(proj.graph, source)
    target = require_node(proj.graph, target)
    filters = filters or Filters()
    graph = filtered(proj.graph, filters)
    undirected = nx.Graph()
    undirected.add_nodes_from(graph.nodes)
    for u, v, data in graph.edges(data=True):
        if data.get("weight"):
            undirected.add_edge(u, v)
    found: list[list[str]] = []
    if source in undirected and target in undirected:
        try:
            found = list(islice(nx.all_shortest_paths(undirected, source, target), limit))
        except nx.NetworkXNoPath:
            found = []
    nodes = [n for path in found for n in path]
    on_path = {frozenset(pair) for path in found for pair in zip(path, path[1:], strict=False)}
    roles = {source: "from", target: "to"}
    elements = [node_element(graph, n, **({"role": roles[n]} if n in roles else {})) for n in dict.fromkeys(nodes)]
    for u, v, data in graph.edges(list(dict.fromkeys(nodes)), data=True):
        if frozenset((u, v)) in on_path and data.get("weight"):
            elements.append(edge_element(u, v, data))
    steps = []
    for path in found:
        steps.append([{"id": n, "label": graph.nodes[n].get("label", n)} for n in path])
    return {
        "from": source,
        "to": target,
        "filters": filters.as_dict(),
        "connected": bool(found),
        "length": len(found[0]) - 1 if found else None,
        "paths": steps,
        "capped": len(found) >= limit,
        "elements": elements,
    }


def _descendants(graph: nx.MultiDiGraph, node: str) -> set[str]:
    """Classes (of the graph's class table) whose parent chain reaches ``node``."""
    classes = graph.graph.get("classes", {})
    out = set()
    for cid in classes:
        current = classes[cid].get("parent")
        seen = {cid}
        while current and current not in seen:
            if current == node:
                out.add(cid)
                break
            seen.add(current)
            current = classes.get(current, {}).get("parent")
    return out


def strategies(kg: KnowledgeGraph, therapy: str, *, filters: Filters | None = None) -> dict[str, Any]:
    """The therapy, the barriers it (or one of its products, rolled up by
    ``parent``) faces, and the strategies that address each barrier or one of
    its sub-barriers; sub-barriers and products are linked to their class by
    ``subClassOf`` edges."""
    proj = projection(kg)
    therapy = require_node(proj.graph, therapy)
    if proj.graph.nodes[therapy].get("category") != "Therapy":
        raise BadGraphParameter(f"{therapy} is not a therapy", expected="a therapy id such as CART")
    filters = filters or Filters()
    graph = filtered(proj.graph, filters)
    if therapy not in graph:
        graph = nx.MultiDiGraph(graph)
        graph.add_node(therapy, **proj.graph.nodes[therapy])
    sources = [therapy] + sorted(d for d in _descendants(graph, therapy) if d in graph)
    addressed_by: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for u, v, key, data in graph.edges(keys=True, data=True):
        if key == "addressesBarrier" and data.get("weight"):
            addressed_by.setdefault(v, []).append((u, data))
    roles: dict[str, str] = {therapy: "therapy"}
    edges: dict[str, dict[str, Any]] = {}
    rows = []
    for source in sources:
        for _u, barrier, key, data in sorted(graph.out_edges(source, keys=True, data=True), key=lambda e: e[1]):
            if key != "facesBarrier" or not data.get("weight"):
                continue
            roles.setdefault(source, "product")
            roles.setdefault(barrier, "barrier")
            edges[edge_id(source, key, barrier)] = edge_element(source, barrier, data)
            if source != therapy:
                edges[edge_id(source, SUBCLASS, therapy)] = _subclass_edge(source, therapy)
            found = []
            for target in [barrier, *sorted(_descendants(graph, barrier))]:
                for strategy, sdata in sorted(addressed_by.get(target, []), key=lambda x: x[0]):
                    roles.setdefault(target, "barrier")
                    roles.setdefault(strategy, "strategy")
                    edges[edge_id(strategy, "addressesBarrier", target)] = edge_element(strategy, target, sdata)
                    if target != barrier:
                        edges[edge_id(target, SUBCLASS, barrier)] = _subclass_edge(target, barrier)
                    found.append(
                        {
                            "id": strategy,
                            "label": _class(graph, strategy).get("label", strategy),
                            "via": target,
                            "studies": sdata.get("weight", 0),
                        }
                    )
            rows.append(
                {
                    "barrier": barrier,
                    "label": _class(graph, barrier).get("label", barrier),
                    "faced_by": source,
                    "studies": data.get("weight", 0),
                    "strategies": found,
                }
            )
    elements = [node_element(graph, n, role=role) for n, role in roles.items()] + list(edges.values())
    return {
        "therapy": therapy,
        "label": proj.graph.nodes[therapy].get("label", therapy),
        "filters": filters.as_dict(),
        "barriers": rows,
        "strategies": sorted({s["id"] for row in rows for s in row["strategies"]}),
        "elements": elements,
    }


def _subclass_edge(child: str, parent: str) -> dict[str, Any]:
    return {
        "group": "edges",
        "data": {
            "id": edge_id(child, SUBCLASS, parent),
            "source": child,
            "target": parent,
            "relation": SUBCLASS,
            "weight": 0,
            "studies": 0,
            "hierarchy": True,
        },
    }


def options(kg: KnowledgeGraph) -> dict[str, Any]:
    """What the filters can take: modalities, relations, tumor kinds, levels and years."""
    proj = projection(kg)
    graph = proj.graph
    years = [y for _u, _v, d in graph.edges(data=True) for y in (d.get("first_year"), d.get("last_year")) if y]
    classes = graph.graph.get("classes", {})
    return {
        "release": proj.release,
        "modalities": [{"id": m, "label": classes[m].get("label", m)} for m in modality_ids(graph)],
        "relations": list(RELATIONS),
        # labels from the ontology's rdfs:label, so the explorer's script holds none of its own
        "relation_labels": {**{r: kg.ontology.relation_labels.get(r, r) for r in RELATIONS}, SUBCLASS: SUBCLASS_LABEL},
        "tumor": list(TUMOR_KINDS),
        "levels": [1, 2, 3, 4, 5],
        "years": [min(years), max(years)] if years else [],
        "categories": list(CATEGORIES),
        "max_depth": MAX_DEPTH,
        "max_nodes": MAX_NODES,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
    }
