"""Graph analytics over the networkx projection (:mod:`kg.projection`).

Every function here is pure: it takes a typed ``MultiDiGraph`` (and, for the
gap report, a dict of study facts) and returns plain data (dicts and lists of
str/int/float), so the CLI (``tkg analyze``), the ``/analytics`` page, the
release QC report and the tests share them. :func:`analyze` gathers all of
them for a :class:`~kg.graph.KnowledgeGraph`.

The ``report`` publish step (:func:`publish_step`, at the end) keeps the
counts the report is assembled from (:class:`Aggregates`) as running counts in
the publication's index, so that a publish reads only the changed graphs.

Roll-ups:

* a therapy counts for its **modality** (node attribute ``modality``: a
  product such as tisagenlecleucel counts for CAR-T). Therapies above the
  modalities (adoptive cell therapy, T cell therapy) have no modality and
  are left out of per-modality tables.
* a barrier counts for its **barrier category** (the nearest class on its
  ``parent`` chain, itself included, with ``is_barrier_category``); the
  rankings are given at both levels (``barrier`` and ``category``).

Hand-built graphs work too: nodes need ``category`` (and ``modality`` /
``parent`` / ``is_barrier_category`` / ``tumor_kind`` where relevant), edges a
key (the relation) and ``studies``. Classes that are not nodes (a barrier
category no finding names, a tumor context) are looked up in
``graph.graph["classes"]`` (id -> attributes) when present.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import networkx as nx

from .artifacts import COUNTS_COLUMNS, read_json

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

KINDS = ("heme", "solid")


# -- node helpers --------------------------------------------------------------
def _attrs(graph: nx.MultiDiGraph, node: str) -> dict[str, Any]:
    if node in graph:
        return graph.nodes[node]
    return graph.graph.get("classes", {}).get(node, {})


def label(graph: nx.MultiDiGraph, node: str) -> str:
    return _attrs(graph, node).get("label") or node


def modalities(graph: nx.MultiDiGraph) -> list[str]:
    """Modality ids: nodes flagged ``is_modality`` plus every ``modality`` a therapy names."""
    found = {n for n, d in graph.nodes(data=True) if d.get("is_modality")}
    found |= {d["modality"] for _, d in graph.nodes(data=True) if d.get("category") == "Therapy" and d.get("modality")}
    return sorted(found)


def barrier_category(graph: nx.MultiDiGraph, node: str) -> str:
    """The nearest barrier category on ``node``'s parent chain (itself included), else ``node``."""
    seen: set[str] = set()
    current: str | None = node
    while current and current not in seen:
        seen.add(current)
        if _attrs(graph, current).get("is_barrier_category"):
            return current
        current = _attrs(graph, current).get("parent")
    return node


def _ancestors(graph: nx.MultiDiGraph, node: str) -> list[str]:
    """``node``'s parent chain, nearest first (not including ``node``)."""
    out: list[str] = []
    current = _attrs(graph, node).get("parent")
    while current and current not in out and current != node:
        out.append(current)
        current = _attrs(graph, current).get("parent")
    return out


def _edges(graph: nx.MultiDiGraph, relation: str, *, supported: bool = True):
    for u, v, key, data in graph.edges(keys=True, data=True):
        if key == relation and (not supported or supporting(data)):
            yield u, v, data


def supporting(data: dict[str, Any]) -> int:
    """An edge's number of supporting studies: its ``studies`` list, or its
    ``weight`` in a projection without study lists (the explorer's, kg.graphview),
    on which the path questions (:func:`therapy_strategies`, :func:`shortest_path`) work too."""
    studies = data.get("studies")
    return len(studies) if studies is not None else int(data.get("weight") or 0)


def _ref(graph: nx.MultiDiGraph, node: str) -> dict[str, str]:
    return {"id": node, "label": label(graph, node)}


# -- rankings ------------------------------------------------------------------
def modality_barriers(graph: nx.MultiDiGraph, *, level: str = "barrier") -> dict[str, dict[str, set[str]]]:
    """modality -> barrier (or barrier category when ``level="category"``) -> supporting study ids."""
    if level not in ("barrier", "category"):
        raise ValueError("level is 'barrier' or 'category'")
    table: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for u, v, data in _edges(graph, "facesBarrier"):
        modality = graph.nodes[u].get("modality")
        if not modality:
            continue
        barrier = barrier_category(graph, v) if level == "category" else v
        table[modality][barrier].update(data.get("studies", ()))
    return {m: dict(b) for m, b in table.items()}


def bipartite(graph: nx.MultiDiGraph, *, level: str = "barrier") -> nx.Graph:
    """The modality-barrier bipartite graph (``bipartite`` = 0 for modalities, 1 for barriers)."""
    table = modality_barriers(graph, level=level)
    b = nx.Graph()
    for modality in sorted(table):
        b.add_node(("m", modality), bipartite=0)
        for barrier, studies in sorted(table[modality].items()):
            b.add_node(("b", barrier), bipartite=1)
            b.add_edge(("m", modality), ("b", barrier), weight=len(studies))
    return b


def barrier_ranking(graph: nx.MultiDiGraph, *, level: str = "barrier") -> list[dict[str, Any]]:
    """Barriers ranked by how many modalities face them.

    ``degree`` is bipartite degree centrality (share of the modalities with
    barrier evidence that face it), ``betweenness`` bipartite betweenness
    centrality (how much the barrier connects otherwise separate modalities).
    """
    table = modality_barriers(graph, level=level)
    return _ranking(graph, _counts(table), _totals(table), level)


def _counts(table: dict[str, dict[str, set[str]]]) -> dict[str, dict[str, int]]:
    return {m: {b: len(s) for b, s in barriers.items()} for m, barriers in table.items()}


def _totals(table: dict[str, dict[str, set[str]]]) -> dict[str, int]:
    """barrier -> distinct studies over the modalities facing it."""
    union: dict[str, set[str]] = defaultdict(set)
    for barriers in table.values():
        for barrier, studies in barriers.items():
            union[barrier] |= studies
    return {b: len(s) for b, s in union.items()}


def _ranking(graph: nx.MultiDiGraph, table: dict[str, dict[str, int]], totals: dict[str, int], level: str) -> list[dict[str, Any]]:
    """:func:`barrier_ranking` from modality -> barrier -> number of studies and barrier -> studies over the modalities."""
    b = nx.Graph()
    for modality in sorted(table):
        b.add_node(("m", modality), bipartite=0)
        for barrier, n in sorted(table[modality].items()):
            b.add_node(("b", barrier), bipartite=1)
            b.add_edge(("m", modality), ("b", barrier), weight=n)
    if b.number_of_nodes() == 0:
        return []
    top = {n for n, d in b.nodes(data=True) if d["bipartite"] == 0}
    degree = nx.bipartite.degree_centrality(b, top)
    try:
        betweenness = nx.bipartite.betweenness_centrality(b, top)
    except ZeroDivisionError:
        # networkx divides by the largest betweenness the sides' sizes allow, which is 0 when
        # each side has one node (one modality facing one barrier): then every betweenness is 0
        betweenness = dict.fromkeys(b.nodes, 0.0)
    rows = []
    for node in b.nodes:
        if node[0] != "b":
            continue
        barrier = node[1]
        mods = sorted(m for m in table if barrier in table[m])
        rows.append(
            {
                "id": barrier,
                "label": label(graph, barrier),
                "category": barrier_category(graph, barrier),
                "modalities": mods,
                "n_modalities": len(mods),
                "studies": totals[barrier],
                "degree": round(degree[node], 4),
                "betweenness": round(betweenness[node], 4),
            }
        )
    rows.sort(key=lambda r: (-r["n_modalities"], -r["betweenness"], -r["studies"], r["label"]))
    return rows


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def modality_overlap(graph: nx.MultiDiGraph, *, level: str = "barrier") -> list[dict[str, Any]]:
    """Jaccard similarity of every pair of modalities over their barrier sets."""
    return _overlap(graph, modality_barriers(graph, level=level))


def _overlap(graph: nx.MultiDiGraph, table: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for a, b in combinations(sorted(table), 2):
        sa, sb = set(table[a]), set(table[b])
        rows.append(
            {
                "a": a,
                "b": b,
                "a_label": label(graph, a),
                "b_label": label(graph, b),
                "jaccard": round(jaccard(sa, sb), 4),
                "shared": sorted(sa & sb),
                "only_a": sorted(sa - sb),
                "only_b": sorted(sb - sa),
            }
        )
    rows.sort(key=lambda r: (-r["jaccard"], r["a"], r["b"]))
    return rows


# -- heme vs solid -------------------------------------------------------------
def tumor_kind(graph: nx.MultiDiGraph, context: str) -> str | None:
    return _attrs(graph, context).get("tumor_kind") if context else None


def investigated_kinds(graph: nx.MultiDiGraph, therapy: str) -> set[str]:
    """Tumor kinds a therapy is investigated in or effective in (supported edges)."""
    kinds = set()
    for _u, v, key, data in graph.out_edges(therapy, keys=True, data=True):
        if key in ("investigatedIn", "effectiveIn") and supporting(data):
            kind = tumor_kind(graph, v)
            if kind:
                kinds.add(kind)
    return kinds


def _context_studies(data: dict[str, Any]) -> dict[str, set[str] | int]:
    if "context_studies" in data:
        return {ctx: set(studies) for ctx, studies in data["context_studies"].items()}
    return dict(data.get("contexts", {}))


def _contrast_sets(graph: nx.MultiDiGraph, relation: str, group=None) -> dict[str, dict[str, dict[str, set[str]]]]:
    """modality -> entity (or ``group(entity)``) -> kind/``inferred`` -> supporting study ids."""
    acc: dict[str, dict[str, dict[str, set[str]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    for u, v, data in _edges(graph, relation):
        modality = graph.nodes[u].get("modality")
        if not modality:
            continue
        inferred = investigated_kinds(graph, u)
        cell = acc[modality][group(v) if group else v]
        for ctx, studies in _context_studies(data).items():
            ids = studies if isinstance(studies, set) else {f"{u}|{ctx}|{i}" for i in range(int(studies))}
            kind = tumor_kind(graph, ctx)
            if kind is None and len(inferred) == 1:
                kind = next(iter(inferred))
                cell["inferred"].update(ids)
            cell[kind or "unspecified"].update(ids)
    return acc


#: The buckets of :func:`heme_solid`'s entries.
BUCKETS = (*KINDS, "unspecified", "inferred")
#: Relations contrasted by :func:`heme_solid` and their sections.
SECTIONS = (("facesBarrier", "barriers"), ("causesToxicity", "toxicities"))


def heme_solid(graph: nx.MultiDiGraph) -> dict[str, dict[str, Any]]:
    """For each modality: barriers and toxicities reported in hematologic vs
    solid contexts, side by side.

    A finding's kind is its tumor context's ``tumor_kind``; a finding without
    a context takes the kind of its subject therapy when that therapy is
    investigated (or effective) in one kind only (``inferred`` counts those),
    else it is ``unspecified``. Entries: ``{id, label, heme, solid,
    unspecified, inferred}``: numbers of distinct supporting studies over the
    modality's therapies.
    """
    return _heme_solid(graph, {relation: _bucket_counts(_contrast_sets(graph, relation)) for relation, _section in SECTIONS})


def _bucket_counts(acc: dict[str, dict[str, dict[str, set[str]]]]) -> dict[str, dict[str, dict[str, int]]]:
    return {m: {e: {k: len(cell.get(k, ())) for k in BUCKETS} for e, cell in entities.items()} for m, entities in acc.items()}


def _heme_solid(graph: nx.MultiDiGraph, contrast: dict[str, dict[str, dict[str, dict[str, int]]]]) -> dict[str, dict[str, Any]]:
    """:func:`heme_solid` from relation -> modality -> entity -> bucket -> number of
    studies (entities in the order the graph's edges name them first)."""
    out: dict[str, dict[str, Any]] = {}
    for relation, section in SECTIONS:
        for modality, entities in contrast.get(relation, {}).items():
            rows = [{"id": entity, "label": label(graph, entity), **cell} for entity, cell in entities.items()]
            rows.sort(key=lambda r: (-(r["heme"] + r["solid"]), r["label"]))
            out.setdefault(modality, {"id": modality, "label": label(graph, modality), "barriers": [], "toxicities": []})
            out[modality][section] = rows
    return dict(sorted(out.items()))


def heme_solid_categories(graph: nx.MultiDiGraph) -> dict[str, dict[str, dict[str, int]]]:
    """modality -> barrier category -> {heme, solid, unspecified, inferred}: distinct supporting studies."""
    return _sorted_categories(_bucket_counts(_contrast_sets(graph, "facesBarrier", group=lambda b: barrier_category(graph, b))))


def _sorted_categories(counts: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    return {m: {cat: {k: cell.get(k, 0) for k in BUCKETS} for cat, cell in sorted(cats.items())} for m, cats in sorted(counts.items())}


# -- gaps and contradictions -----------------------------------------------------
def _edge_row(graph: nx.MultiDiGraph, u: str, v: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": u,
        "subject_label": label(graph, u),
        "relation": key,
        "object": v,
        "object_label": label(graph, v),
        "studies": list(data.get("studies", [])),
        "refuted_by": list(data.get("refuted_by", [])),
        "best_level": data.get("best_level"),
    }


def gaps(graph: nx.MultiDiGraph, study_info: dict[str, dict[str, Any]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The gap and contradiction report.

    ``study_info`` maps study id -> ``{"review": bool, "preclinical": bool}``
    (see :func:`study_facts`); without it the review/preclinical lists are empty.

    * ``single_study``: supported edges resting on exactly one study;
    * ``reviews_only`` / ``preclinical_only``: supported edges all of whose
      supporting studies are reviews / preclinical studies;
    * ``contradictions``: edges with both SUPPORT and REFUTE evidence;
      ``refuted_only``: edges with REFUTE evidence only;
    * ``uncovered``: modality x barrier-category cells with barrier evidence
      where no strategy addresses any barrier of the category (``status``
      ``"no strategy"``), or strategies do but none is applied to a therapy of
      the modality (``"no strategy applied to the modality"``).
    """
    info = study_info or {}
    report: dict[str, list[dict[str, Any]]] = {
        "single_study": [],
        "reviews_only": [],
        "preclinical_only": [],
        "contradictions": [],
        "refuted_only": [],
        "uncovered": [],
    }
    for u, v, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: (e[2], e[0], e[1])):
        if key == "reports":
            continue
        studies = data.get("studies", [])
        refuted = data.get("refuted_by", [])
        row = _edge_row(graph, u, v, key, data)
        if studies and refuted:
            report["contradictions"].append(row)
        if refuted and not studies:
            report["refuted_only"].append(row)
        if not studies:
            continue
        if len(studies) == 1:
            report["single_study"].append(row)
        if info and all(info.get(s, {}).get("review") for s in studies):
            report["reviews_only"].append(row)
        if info and all(info.get(s, {}).get("preclinical") for s in studies):
            report["preclinical_only"].append(row)
    report["uncovered"] = uncovered_cells(graph)
    return report


def _gap_lists(graph: nx.MultiDiGraph, edges: Any) -> dict[str, list[dict[str, Any]]]:
    """The edge lists of :func:`gaps` from ``edges``: (u, v, key, data, review, preclinical)
    in :func:`gaps`' order, ``data`` with the study lists (or a callable giving them),
    ``review``/``preclinical``: whether every supporting study is one."""
    report: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("single_study", "reviews_only", "preclinical_only", "contradictions", "refuted_only")
    }
    for u, v, key, data, review, preclinical in edges:
        weight, refuted = data["weight"], data["refuted"]
        wanted = [
            name
            for name, member in (
                ("contradictions", weight and refuted),
                ("refuted_only", refuted and not weight),
                ("single_study", weight == 1),
                ("reviews_only", weight and review),
                ("preclinical_only", weight and preclinical),
            )
            if member
        ]
        if wanted:
            row = _edge_row(graph, u, v, key, data["lists"]())
            for name in wanted:
                report[name].append(row)
    return report


def strategies_for_category(graph: nx.MultiDiGraph) -> dict[str, set[str]]:
    """barrier category -> strategies addressing the category or any barrier in it."""
    out: dict[str, set[str]] = defaultdict(set)
    for u, v, _data in _edges(graph, "addressesBarrier"):
        out[barrier_category(graph, v)].add(u)
    return out


def strategy_modalities(graph: nx.MultiDiGraph) -> dict[str, set[str]]:
    """strategy -> modalities of the therapies it is applied to."""
    out: dict[str, set[str]] = defaultdict(set)
    for u, v, _data in _edges(graph, "appliedTo"):
        modality = _attrs(graph, v).get("modality")
        if modality:
            out[u].add(modality)
    return out


def uncovered_cells(graph: nx.MultiDiGraph) -> list[dict[str, Any]]:
    return _uncovered(graph, _counts(modality_barriers(graph, level="category")))


def _uncovered(graph: nx.MultiDiGraph, table: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    by_category = strategies_for_category(graph)
    applied = strategy_modalities(graph)
    rows = []
    for modality in sorted(table):
        for category, studies in sorted(table[modality].items()):
            strategies = by_category.get(category, set())
            if not strategies:
                status = "no strategy"
            elif not any(modality in applied.get(s, ()) for s in strategies):
                status = "no strategy applied to the modality"
            else:
                continue
            rows.append(
                {
                    "modality": modality,
                    "modality_label": label(graph, modality),
                    "category": category,
                    "category_label": label(graph, category),
                    "studies": studies,
                    "status": status,
                    "strategies": sorted(strategies),
                }
            )
    return rows


# -- paths ---------------------------------------------------------------------
def therapy_strategies(graph: nx.MultiDiGraph, therapy: str) -> list[dict[str, Any]]:
    """therapy -> barriers it (or a class above it) faces -> strategies addressing
    each barrier (directly, or its category / a class above the barrier)."""
    if therapy not in graph:
        raise KeyError(therapy)
    sources = [therapy] + [a for a in _ancestors(graph, therapy) if a in graph]
    addressed: dict[str, set[str]] = defaultdict(set)
    for u, v, _data in _edges(graph, "addressesBarrier"):
        addressed[v].add(u)
    rows = []
    seen: set[str] = set()
    for source in sources:
        for _u, barrier, key, data in sorted(graph.out_edges(source, keys=True, data=True), key=lambda e: e[1]):
            if key != "facesBarrier" or not supporting(data) or barrier in seen:
                continue
            seen.add(barrier)
            strategies: list[dict[str, Any]] = []
            for target in [barrier] + _ancestors(graph, barrier):
                for strategy in sorted(addressed.get(target, ())):
                    if all(s["id"] != strategy for s in strategies):  # nearest reason only
                        strategies.append({**_ref(graph, strategy), "via": target})
            rows.append(
                {
                    **_ref(graph, barrier),
                    "faced_by": source,
                    "faced_by_label": label(graph, source),
                    "studies": supporting(data),
                    "strategies": strategies,
                }
            )
    return rows


def shortest_path(graph: nx.MultiDiGraph, source: str, target: str) -> list[dict[str, Any]]:
    """A shortest path between two entities, ignoring edge direction and REFUTE-only
    edges; each step names the relation and its direction. [] if unconnected."""
    for node in (source, target):
        if node not in graph:
            raise KeyError(node)
    undirected = nx.Graph()
    undirected.add_nodes_from(graph.nodes)
    for u, v, data in graph.edges(data=True):
        if supporting(data):
            undirected.add_edge(u, v)
    try:
        nodes = nx.shortest_path(undirected, source, target)
    except nx.NetworkXNoPath:
        return []
    steps = [{**_ref(graph, nodes[0]), "relation": None, "forward": None}]
    for a, b in zip(nodes, nodes[1:], strict=False):
        forward = graph.has_edge(a, b) and any(supporting(d) for d in graph.get_edge_data(a, b).values())
        data = graph.get_edge_data(a, b) if forward else graph.get_edge_data(b, a)
        relation = sorted(k for k, d in data.items() if supporting(d))[0]
        steps.append({**_ref(graph, b), "relation": relation, "forward": forward})
    return steps


# -- study facts and the whole report ------------------------------------------------
#: Every study's types. Whether a type is a review or a preclinical study is
#: decided from the class tree in Python (:data:`_KIND_CLASSES`): with
#: ``a/rdfs:subClassOf*`` in OPTIONALs, Oxigraph evaluated each path over
#: every typed resource before joining, 17 s of the report's 22 s at 100,000 studies.
STUDY_FACTS_QUERY = """PREFIX tkg: <https://w3id.org/tcell-kg/>
SELECT ?study ?type WHERE { ?study a tkg:Study . ?study a ?type }"""
#: The classes a type must be (or be under) for a study to count as a review / preclinical.
_KIND_CLASSES = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?kind ?class WHERE { VALUES ?kind { tkg:Review tkg:PreclinicalStudy } ?class rdfs:subClassOf+ ?kind }"""


def study_facts(kg: KnowledgeGraph) -> dict[str, dict[str, Any]]:
    """study id -> ``{"types": [...], "review": bool, "preclinical": bool}``: its
    types in our namespace other than tkg:Study, and whether one of its types is
    tkg:Review / tkg:PreclinicalStudy or a class under it."""
    from .namespaces import STUDY, TKG, local_name

    kinds: dict[str, set[str]] = {"review": {str(TKG.Review)}, "preclinical": {str(TKG.PreclinicalStudy)}}
    for row in kg.query(_KIND_CLASSES).rows:
        kinds["review" if str(row["kind"]) == str(TKG.Review) else "preclinical"].add(str(row["class"]))
    out: dict[str, dict[str, Any]] = {}
    for row in kg.query(STUDY_FACTS_QUERY).rows:
        iri, kind = str(row["study"]), str(row["type"])
        study = iri[len(str(STUDY)) :] if iri.startswith(str(STUDY)) else iri
        entry = out.setdefault(study, {"types": set(), "review": False, "preclinical": False})
        if kind != str(TKG.Study) and kind.startswith(str(TKG)):
            entry["types"].add(local_name(kind))
        entry["review"] = entry["review"] or kind in kinds["review"]
        entry["preclinical"] = entry["preclinical"] or kind in kinds["preclinical"]
    return {k: {**v, "types": sorted(v["types"])} for k, v in sorted(out.items())}


def report(graph: nx.MultiDiGraph, study_info: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything ``tkg analyze`` and ``/analytics`` show, as plain data."""
    tables = {level: modality_barriers(graph, level=level) for level in ("barrier", "category")}
    aggregates = Aggregates(
        tables={level: _counts(t) for level, t in tables.items()},
        totals={level: _totals(t) for level, t in tables.items()},
        contrast={relation: _bucket_counts(_contrast_sets(graph, relation)) for relation, _section in SECTIONS},
        contrast_categories=_bucket_counts(_contrast_sets(graph, "facesBarrier", group=lambda b: barrier_category(graph, b))),
    )
    return assemble_report(graph, aggregates, gaps(graph, study_info))


@dataclass
class Aggregates:
    """What the report counts over the studies (all else it reads from the graph's
    nodes and edge weights): per level (``barrier``/``category``) modality -> barrier
    -> distinct supporting studies and barrier -> distinct studies over the
    modalities; per relation of :data:`SECTIONS` modality -> entity -> bucket ->
    studies (:func:`heme_solid`) and modality -> category -> bucket -> studies."""

    tables: dict[str, dict[str, dict[str, int]]]
    totals: dict[str, dict[str, int]]
    contrast: dict[str, dict[str, dict[str, dict[str, int]]]]
    contrast_categories: dict[str, dict[str, dict[str, int]]]


def assemble_report(graph: nx.MultiDiGraph, aggregates: Aggregates, gap_report: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """:func:`report` from its counts (the publish step keeps them as running counts);
    ``graph`` gives the nodes, labels and edges (with study lists or only weights)."""
    mods = modalities(graph)
    tables, totals = aggregates.tables, aggregates.totals
    return {
        "modalities": [_ref(graph, m) for m in mods],
        "rankings": {
            "barriers": _ranking(graph, tables["barrier"], totals["barrier"], "barrier"),
            "categories": _ranking(graph, tables["category"], totals["category"], "category"),
            "overlap": _overlap(graph, tables["barrier"]),
            "overlap_categories": _overlap(graph, tables["category"]),
        },
        "matrix": {m: dict(sorted(tables["barrier"].get(m, {}).items())) for m in mods},
        "contrast": _heme_solid(graph, aggregates.contrast),
        "contrast_categories": _sorted_categories(aggregates.contrast_categories),
        "gaps": {**gap_report, "uncovered": _uncovered(graph, tables["category"])},
        "counts": {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()},
    }


def analyze(kg: KnowledgeGraph) -> dict[str, Any]:
    from .projection import project

    return report(project(kg), study_facts(kg))


# -- kept per release ---------------------------------------------------------------------
#: The report of a release, written by the ``report`` publish step into its cache folder.
REPORT_FILE = "analytics.json"
REPORT_VERSION = 1


def report_graph(kg: KnowledgeGraph, index: Any = None) -> nx.MultiDiGraph:
    """What :meth:`KnowledgeGraph.to_networkx` gives (edges with their study
    lists). At publish (``index``: the publication's SQLite index) the edges are
    folded from the projection step's per-graph rows (``p_edges``, kept by
    :func:`kg.graphview.publish_step`, which runs before this step) instead of
    reading every finding from the store again; without them, from the store."""
    from .graphview import _EDGE_TABLE
    from .projection import assemble, fold_edges, node_vocabulary, project

    if index is not None:
        name, columns = _EDGE_TABLE
        have = [row[1] for row in index.execute(f"PRAGMA table_info({name})")]
        if have == [c.split()[0] for c in columns.split(",")] and have[0] == "g" and len(have) == 11:
            rows = index.execute(f"SELECT {', '.join(have[1:])} FROM {name}")
            return assemble(node_vocabulary(kg), fold_edges(rows))
    return project(kg)


#: The step's rows and running counts in the publication's index: each named graph's
#: distinct (subject, relation, object, context, study, refuted) rows (node ids), its
#: studies' review / preclinical flags, the single tumor kind each therapy is
#: investigated in (where one) as last counted, and the counts (:data:`_DISTINCT`).
_TABLES = {
    "r_edges": "g TEXT, s TEXT, rel TEXT, o TEXT, ctx TEXT, study TEXT, refute INTEGER",
    "r_studies": "g TEXT, study TEXT, review INTEGER, preclinical INTEGER",
    "r_inferred": "therapy TEXT PRIMARY KEY, kind TEXT",
    "r_tally": COUNTS_COLUMNS,
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS r_edges_g ON r_edges (g)",
    "CREATE INDEX IF NOT EXISTS r_edges_edge ON r_edges (s, rel, o)",
    "CREATE INDEX IF NOT EXISTS r_edges_study ON r_edges (study)",
    "CREATE INDEX IF NOT EXISTS r_studies_g ON r_studies (g)",
    "CREATE INDEX IF NOT EXISTS r_studies_study ON r_studies (study)",
    "CREATE UNIQUE INDEX IF NOT EXISTS r_tally_key ON r_tally (kind, key)",
)
#: Rows per (key, study), stored hashed -> distinct studies per key: modality x barrier
#: ("mb") and barrier over the modalities ("tb"), the same per barrier category ("mc",
#: "tc"), relation x modality x entity x bucket of :func:`heme_solid` ("x") and
#: modality x category x bucket ("xc"), edge x review / preclinical study ("er", "ep").
_DISTINCT = {"mb": "MB", "tb": "TB", "mc": "MC", "tc": "TC", "x": "X", "xc": "XC", "er": "ER", "ep": "EP"}
_CONTRAST = ("x", "xc")
_FLAGS = ("er", "ep")
#: The studies typed as a review or preclinical study (@KINDS@: those classes and the
#: classes under them) in each named graph (a study's types are expected in its own
#: graph, as kg.to_rdf writes them). Over every graph, asking for these types only
#: (not every study's types) takes 4 s instead of 19 s at 100,000 studies; for a
#: list of graphs the types are filtered instead (with both lists in VALUES Oxigraph
#: took 1.2 s for 100 graphs, 0.09 s so).
_STUDY_TYPES = {
    True: """PREFIX tkg: <https://w3id.org/tcell-kg/>
SELECT ?g ?study ?type WHERE { VALUES ?type { @KINDS@ } GRAPH ?g { ?study a ?type . ?study a tkg:Study } }""",
    False: """PREFIX tkg: <https://w3id.org/tcell-kg/>
SELECT ?g ?study ?type WHERE { @VALUES@ GRAPH ?g { ?study a tkg:Study . ?study a ?type FILTER(?type IN (@KINDS@)) } }""",
}
_S = "\x1f"


def _kind_classes(kg: KnowledgeGraph) -> dict[str, set[str]]:
    from .namespaces import TKG

    kinds: dict[str, set[str]] = {"review": {str(TKG.Review)}, "preclinical": {str(TKG.PreclinicalStudy)}}
    for row in kg.query(_KIND_CLASSES).rows:
        kinds["review" if str(row["kind"]) == str(TKG.Review) else "preclinical"].add(str(row["class"]))
    return kinds


def _study_rows(kg: KnowledgeGraph, graphs: set[str] | None) -> list[tuple[str, str, int, int]]:
    """(graph, study id, review, preclinical) of the review and preclinical studies typed in
    ``graphs`` (None: all), as :func:`study_facts` decides them (other studies have no row)."""
    from .artifacts import select
    from .namespaces import STUDY

    kinds = _kind_classes(kg)
    names = sorted(kinds["review"] | kinds["preclinical"])
    bad = [c for c in names if not re.fullmatch(r"[^\s<>\"{}|^`\\]+", c)]
    if bad:
        raise ValueError(f"the ontology names a study class that is not an IRI: {bad[0][:80]!r}")
    flags: dict[tuple[str, str], list[int]] = {}
    query = _STUDY_TYPES[graphs is None].replace("@KINDS@", (" " if graphs is None else ", ").join(f"<{c}>" for c in names))
    for row in select(kg, query, graphs):
        iri, kind = str(row["study"]), str(row["type"])
        entry = flags.setdefault((str(row["g"]), iri[len(str(STUDY)) :] if iri.startswith(str(STUDY)) else iri), [0, 0])
        entry[0] |= kind in kinds["review"]
        entry[1] |= kind in kinds["preclinical"]
    return [(g, study, review, preclinical) for (g, study), (review, preclinical) in sorted(flags.items())]


def _edge_rows(db: Any, graphs: list[str] | None) -> list[tuple]:
    """The projection step's rows (p_edges) of ``graphs`` (None: all) as the step's rows:
    (g, subject, relation, object, context, study) ids and refuted 0/1 (the same row
    may come more than once: the counts count rows, the lists are sets)."""
    from functools import cache

    from .projection import local_id

    ids = cache(local_id)  # a few thousand entities and each study, over a million rows

    @cache
    def study_id(iri: str) -> str:
        return local_id(iri)[len("study/") :]

    sql = "SELECT g, s, rel, o, ctx, study, support = 'REFUTE' FROM p_edges"
    source = db.execute(sql) if graphs is None else (r for g in graphs for r in db.execute(sql + " WHERE g = ?", (g,)))
    return [
        (g, ids(s), ids(rel), ids(o), ids(ctx) if ctx is not None else "", study_id(study), refute)
        for g, s, rel, o, ctx, study, refute in source
    ]


class _Counter:
    """Counts rows of r_edges (without the graph) into the running counts' deltas."""

    def __init__(self, graph: nx.MultiDiGraph, inferred: dict[str, str]):
        self.graph, self.inferred = graph, inferred
        self.deltas: dict[str, Counter[str]] = defaultdict(Counter)

    def count(self, rows: Any, sign: int, flags: dict[str, tuple[int, int]], kinds: tuple[str, ...] | None = None) -> None:
        graph, deltas = self.graph, self.deltas
        sections = dict(SECTIONS)
        for s, rel, o, ctx, study, refute in rows:
            if refute:
                continue
            if kinds is None or "er" in kinds:
                review, preclinical = flags.get(study, (0, 0))
                if review:
                    deltas["er"][f"{s}{_S}{rel}{_S}{o}{_S}{study}"] += sign
                if preclinical:
                    deltas["ep"][f"{s}{_S}{rel}{_S}{o}{_S}{study}"] += sign
            modality = graph.graph["classes"].get(s, {}).get("modality") if s not in graph else graph.nodes[s].get("modality")
            if not modality or rel not in sections:
                continue
            category = barrier_category(graph, o) if rel == "facesBarrier" else None
            if kinds is None or "mb" in kinds:
                if category is not None:
                    deltas["mb"][f"{modality}{_S}{o}{_S}{study}"] += sign
                    deltas["tb"][f"{o}{_S}{study}"] += sign
                    deltas["mc"][f"{modality}{_S}{category}{_S}{study}"] += sign
                    deltas["tc"][f"{category}{_S}{study}"] += sign
            if kinds is None or "x" in kinds:
                kind = tumor_kind(graph, ctx)
                inferred = self.inferred.get(s) if kind is None else None
                for bucket in (inferred, "inferred") if inferred else (kind or "unspecified",):
                    deltas["x"][f"{rel}{_S}{modality}{_S}{o}{_S}{bucket}{_S}{study}"] += sign
                    if category is not None:
                        deltas["xc"][f"{modality}{_S}{category}{_S}{bucket}{_S}{study}"] += sign

    def apply(self, db: Any, fresh: bool) -> None:
        from .artifacts import add_counts

        for kind, counts in self.deltas.items():
            moved = add_counts(db, "r_tally", kind, counts, fresh=fresh, hashed=True)
            per: Counter[str] = Counter()
            for key, d in moved.items():
                per[key.rsplit(_S, 1)[0]] += d
            add_counts(db, "r_tally", _DISTINCT[kind], per, fresh=fresh)
        self.deltas.clear()


def _inferred(graph: nx.MultiDiGraph) -> dict[str, str]:
    """therapy -> the one tumor kind it is investigated in (therapies investigated in one kind only)."""
    out = {}
    for node in graph.nodes:
        kinds = investigated_kinds(graph, node)
        if len(kinds) == 1:
            out[node] = next(iter(kinds))
    return out


def _flags(db: Any, studies: set[str]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    names = sorted(studies)
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        sql = f"SELECT study, MAX(review), MAX(preclinical) FROM r_studies WHERE study IN ({', '.join('?' * len(chunk))}) GROUP BY study"
        out.update((study, (review, preclinical)) for study, review, preclinical in db.execute(sql, chunk))
    return out


def _aggregates(db: Any) -> tuple[Aggregates, dict[str, dict[tuple[str, str, str], int]]]:
    """The report's counts from the running counts, and edge -> review / preclinical studies."""
    tables: dict[str, dict[str, dict[str, int]]] = {"barrier": defaultdict(dict), "category": defaultdict(dict)}
    totals: dict[str, dict[str, int]] = {"barrier": {}, "category": {}}
    contrast: dict[str, dict[str, dict[str, dict[str, int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    categories: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    flagged: dict[str, dict[tuple[str, str, str], int]] = {"ER": {}, "EP": {}}
    for kind, key, n in db.execute("SELECT kind, key, n FROM r_tally WHERE kind IN ('MB', 'TB', 'MC', 'TC', 'X', 'XC', 'ER', 'EP')"):
        parts = key.split(_S)
        if kind in ("MB", "MC"):
            tables["barrier" if kind == "MB" else "category"][parts[0]][parts[1]] = n
        elif kind in ("TB", "TC"):
            totals["barrier" if kind == "TB" else "category"][parts[0]] = n
        elif kind == "X":
            contrast[parts[0]][parts[1]][parts[2]][parts[3]] = n
        elif kind == "XC":
            categories[parts[0]][parts[1]][parts[2]] = n
        else:
            flagged[kind][tuple(parts)] = n
    return Aggregates({k: dict(v) for k, v in tables.items()}, totals, contrast, categories), flagged  # type: ignore[arg-type]


def _ordered_contrast(graph: nx.MultiDiGraph, counts: dict[str, dict[str, dict[str, dict[str, int]]]]) -> dict[str, Any]:
    """The counts of :func:`heme_solid` with modalities and entities in the order
    :func:`_contrast_sets` meets them in ``graph`` (ties in its sort keep that order)."""
    out: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    for relation, _section in SECTIONS:
        acc: dict[str, dict[str, dict[str, int]]] = {}
        for u, v, _data in _edges(graph, relation):
            modality = graph.nodes[u].get("modality")
            cell = counts.get(relation, {}).get(modality or "", {}).get(v)
            if modality and cell is not None:
                acc.setdefault(modality, {})[v] = {k: cell.get(k, 0) for k in BUCKETS}
        out[relation] = acc
    return out


def _lists(db: Any, edge: tuple[str, str, str]) -> dict[str, list[str]]:
    studies: dict[int, set[str]] = {0: set(), 1: set()}
    for study, refute in db.execute("SELECT study, refute FROM r_edges WHERE s = ? AND rel = ? AND o = ?", edge):
        studies[refute].add(study)
    return {"studies": sorted(studies[0]), "refuted_by": sorted(studies[1])}


def _list_changes(db: Any, old_rows: list[tuple], new_rows: list[tuple]) -> dict[tuple[str, str, str], tuple[set, set]]:
    """edge -> ((refuted, study) pairs now on it, pairs no longer on it) after the changed
    graphs' rows were replaced in r_edges: a pair of an old row is gone when no row of
    any graph names it any more (looked up by study)."""
    now = {(r[1], r[2], r[3], r[6], r[5]) for r in new_rows}
    gone = {(r[1], r[2], r[3], r[6], r[5]) for r in old_rows} - now
    left: set[tuple] = set()
    for study in sorted({key[4] for key in gone}):
        left.update(
            (s, rel, o, refute, study)
            for s, rel, o, refute in db.execute("SELECT s, rel, o, refute FROM r_edges WHERE study = ?", (study,))
        )
    out: dict[tuple[str, str, str], tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for s, rel, o, refute, study in now:
        out[(s, rel, o)][0].add((refute, study))
    for s, rel, o, refute, study in gone - left:
        out[(s, rel, o)][1].add((refute, study))
    return out


def _kept_gaps(
    db: Any,
    graph: nx.MultiDiGraph,
    flagged: dict[str, dict[tuple[str, str, str], int]],
    has_info: bool,
    previous: dict[str, Any] | None,
    changes: dict[tuple[str, str, str], tuple[set, set]],
) -> dict[str, list[dict[str, Any]]]:
    """:func:`gaps`' edge lists from the projection's weights and the review / preclinical
    counts; an edge's study lists are the previous report's, with ``changes``
    (:func:`_list_changes`) applied, where it had a row there, else read from the step's rows."""
    kept: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, rows in (previous or {}).get("gaps", {}).items():
        if name != "uncovered":
            for row in rows:
                kept.setdefault((row["subject"], row["relation"], row["object"]), row)

    def edges():
        for u, v, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: (e[2], e[0], e[1])):
            if key == "reports":
                continue
            edge = (u, key, v)
            weight = data.get("weight") or 0

            def lists(edge=edge, data=data) -> dict[str, Any]:
                old = kept.get(edge)
                if old is None:
                    found = _lists(db, edge)
                elif edge in changes:
                    added, removed = changes[edge]
                    found = {
                        name: sorted({*old[name], *(s for r, s in added if r == refute)} - {s for r, s in removed if r == refute})
                        for name, refute in (("studies", 0), ("refuted_by", 1))
                    }
                else:
                    found = {"studies": old["studies"], "refuted_by": old["refuted_by"]}
                return {**found, "best_level": data.get("best_level")}

            facts = {"weight": weight, "refuted": data.get("refuted") or 0, "lists": lists}
            review = has_info and flagged["ER"].get(edge, 0) == weight
            preclinical = has_info and flagged["EP"].get(edge, 0) == weight
            yield u, v, key, facts, review, preclinical

    return _gap_lists(graph, edges())


def publish_step(publication: Any) -> None:
    """The ``report`` publish step: the release's :func:`report`, stored as ``analytics.json``.

    The step keeps in the publication's index each named graph's edge rows (taken
    from the projection step's, which runs before it) and its studies' review /
    preclinical flags, and running counts of what the report counts over studies
    (:class:`Aggregates`, and per edge its review / preclinical studies). On an
    incremental publish the changed graphs' old rows are taken out of the counts
    and their new rows added; the nodes, edge weights, levels and refutations are
    the projection's (stored by that step for this release), and an edge's study
    lists (in the gap lists) the previous report's with the changed graphs' studies
    added or taken away. Where a therapy's inferred tumor kind (:func:`heme_solid`) changed,
    the contrast counts are counted again from the step's rows. A full publish
    (or one after an ontology change) counts every row. Both equal :func:`report`
    over the whole store (tests/test_incremental.py). Without the projection step's
    result for this release the report is computed from the store."""
    from .artifacts import ensure_tables, write_json_atomic
    from .graphview import PROJECTION_FILE, read_projection

    kg, db = publication.kg, publication.index
    projection = read_projection(publication.folder / PROJECTION_FILE) if db is not None else None
    if projection is None:
        for table in _TABLES if db is not None else ():
            db.execute(f"DROP TABLE IF EXISTS {table}")  # nothing counted: the next publish counts in full
        data = {"version": REPORT_VERSION, "report": report(report_graph(kg, None), study_facts(kg))}
        write_json_atomic(publication.folder / REPORT_FILE, data)
        return
    graph = projection[0]
    previous = read_json(publication.previous / REPORT_FILE, REPORT_VERSION) if publication.previous is not None else None
    fresh = ensure_tables(db, _TABLES, drop=not (publication.incremental and previous is not None))
    for sql in _INDEXES if not fresh else ():
        db.execute(sql)  # (for a full count: once the rows are in)
    inferred = _inferred(graph)
    counter = _Counter(graph, inferred)
    if fresh:
        rows = _edge_rows(db, None)
        db.executemany("INSERT INTO r_edges VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        studies = _study_rows(kg, None)
        db.executemany("INSERT INTO r_studies VALUES (?, ?, ?, ?)", studies)
        flags: dict[str, tuple[int, int]] = {}
        for _g, study, review, preclinical in studies:
            old = flags.get(study, (0, 0))
            flags[study] = (old[0] | review, old[1] | preclinical)
        counter.count((r[1:] for r in rows), 1, flags)
        counter.apply(db, True)
        changes: dict[tuple[str, str, str], tuple[set, set]] = {}
        del rows
        for sql in _INDEXES:
            db.execute(sql)
    else:
        changed = sorted(publication.changed or ())
        old_rows = [r for g in changed for r in db.execute("SELECT * FROM r_edges WHERE g = ?", (g,))]
        new_rows = _edge_rows(db, changed)
        old_studies = [r for g in changed for r in db.execute("SELECT * FROM r_studies WHERE g = ?", (g,))]
        new_studies = _study_rows(kg, set(changed))
        concerned = {r[5] for r in old_rows} | {r[5] for r in new_rows} | {r[1] for r in old_studies} | {r[1] for r in new_studies}
        before = _flags(db, concerned)
        db.executemany("DELETE FROM r_studies WHERE g = ?", [(g,) for g in changed])
        db.executemany("INSERT INTO r_studies VALUES (?, ?, ?, ?)", new_studies)
        after = _flags(db, concerned)
        stored = dict(db.execute("SELECT therapy, kind FROM r_inferred"))
        recount = stored != inferred  # the contrast's buckets of some therapy's findings moved: counted again below
        kinds = ("er", "mb") if recount else None
        counter.inferred = stored
        counter.count((r[1:] for r in old_rows), -1, before, kinds)
        counter.inferred = inferred
        counter.count((r[1:] for r in new_rows), 1, after, kinds)
        # a study whose flags changed, named by the rows of a graph that did not change
        others = [s for s in sorted(concerned) if before.get(s, (0, 0)) != after.get(s, (0, 0))]
        for study in others:
            rows = [r[1:] for r in db.execute("SELECT * FROM r_edges WHERE study = ?", (study,)) if r[0] not in set(changed)]
            counter.count(rows, -1, before, ("er",))
            counter.count(rows, 1, after, ("er",))
        db.executemany("DELETE FROM r_edges WHERE g = ?", [(g,) for g in changed])
        db.executemany("INSERT INTO r_edges VALUES (?, ?, ?, ?, ?, ?, ?)", new_rows)
        counter.apply(db, False)
        if recount:
            db.execute(
                f"DELETE FROM r_tally WHERE kind IN ({', '.join(repr(k) for k in (*_CONTRAST, *(_DISTINCT[k] for k in _CONTRAST)))})"
            )
            relations = tuple(r for r, _section in SECTIONS)
            rows = db.execute(f"SELECT s, rel, o, ctx, study, refute FROM r_edges WHERE refute = 0 AND rel IN {relations!r}")
            counter.count(rows, 1, {}, ("x",))
            counter.apply(db, True)
        changes = _list_changes(db, old_rows, new_rows)
    db.execute("DELETE FROM r_inferred")
    db.executemany("INSERT INTO r_inferred VALUES (?, ?)", sorted(inferred.items()))
    aggregates, flagged = _aggregates(db)
    aggregates.contrast = _ordered_contrast(graph, aggregates.contrast)
    # report() lists reviews_only / preclinical_only edges only where some study is typed; r_studies
    # holds the review and preclinical ones: without any, both lists are empty either way
    has_info = db.execute("SELECT 1 FROM r_studies LIMIT 1").fetchone() is not None
    gap_lists = _kept_gaps(db, graph, flagged, has_info, None if fresh else (previous or {}).get("report"), changes)
    data = {"version": REPORT_VERSION, "report": assemble_report(graph, aggregates, gap_lists)}
    write_json_atomic(publication.folder / REPORT_FILE, data)


def stored_report(kg: KnowledgeGraph) -> dict[str, Any] | None:
    """The report stored with the release ``kg`` serves (None without one)."""
    from .artifacts import cache_dir, read_json

    folder = cache_dir(kg)
    data = read_json(folder / REPORT_FILE, REPORT_VERSION) if folder is not None else None
    return None if data is None else data["report"]
