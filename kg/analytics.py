"""Graph analytics over the networkx projection (:mod:`kg.projection`).

Every function here is pure: it takes a typed ``MultiDiGraph`` (and, for the
gap report, a dict of study facts) and returns plain data (dicts and lists of
str/int/float), so the CLI (``tkg analyze``), the ``/analytics`` page, the
release QC report and the tests share them. :func:`analyze` gathers all of
them for a :class:`~kg.graph.KnowledgeGraph`.

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

from collections import defaultdict
from itertools import combinations
from typing import TYPE_CHECKING, Any

import networkx as nx

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
    b = bipartite(graph, level=level)
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
        studies = set().union(*(table[m][barrier] for m in mods))
        rows.append(
            {
                "id": barrier,
                "label": label(graph, barrier),
                "category": barrier_category(graph, barrier),
                "modalities": mods,
                "n_modalities": len(mods),
                "studies": len(studies),
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
    table = modality_barriers(graph, level=level)
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
    out: dict[str, dict[str, Any]] = {}
    for relation, section in (("facesBarrier", "barriers"), ("causesToxicity", "toxicities")):
        for modality, entities in _contrast_sets(graph, relation).items():
            rows = []
            for entity, cell in entities.items():
                rows.append(
                    {
                        "id": entity,
                        "label": label(graph, entity),
                        **{k: len(cell.get(k, ())) for k in (*KINDS, "unspecified", "inferred")},
                    }
                )
            rows.sort(key=lambda r: (-(r["heme"] + r["solid"]), r["label"]))
            out.setdefault(modality, {"id": modality, "label": label(graph, modality), "barriers": [], "toxicities": []})
            out[modality][section] = rows
    return dict(sorted(out.items()))


def heme_solid_categories(graph: nx.MultiDiGraph) -> dict[str, dict[str, dict[str, int]]]:
    """modality -> barrier category -> {heme, solid, unspecified, inferred}: distinct supporting studies."""
    acc = _contrast_sets(graph, "facesBarrier", group=lambda b: barrier_category(graph, b))
    return {
        modality: {cat: {k: len(cell.get(k, ())) for k in (*KINDS, "unspecified", "inferred")} for cat, cell in sorted(cats.items())}
        for modality, cats in sorted(acc.items())
    }


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
    table = modality_barriers(graph, level="category")
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
                    "studies": len(studies),
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
    table = modality_barriers(graph, level="barrier")
    mods = modalities(graph)
    return {
        "modalities": [_ref(graph, m) for m in mods],
        "rankings": {
            "barriers": barrier_ranking(graph, level="barrier"),
            "categories": barrier_ranking(graph, level="category"),
            "overlap": modality_overlap(graph, level="barrier"),
            "overlap_categories": modality_overlap(graph, level="category"),
        },
        "matrix": {m: {b: len(s) for b, s in sorted(table.get(m, {}).items())} for m in mods},
        "contrast": heme_solid(graph),
        "contrast_categories": heme_solid_categories(graph),
        "gaps": gaps(graph, study_info),
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


def publish_step(publication: Any) -> None:
    """The ``report`` publish step: the release's :func:`report`, in full (a few
    seconds, see docs/benchmarks.md), stored as ``analytics.json``. The
    projection step's rows are used only when that step completed for this
    release (its file is in the folder); else the graph is read from the store."""
    from .artifacts import write_json_atomic
    from .graphview import PROJECTION_FILE

    kg = publication.kg
    index = publication.index if (publication.folder / PROJECTION_FILE).is_file() else None
    data = {"version": REPORT_VERSION, "report": report(report_graph(kg, index), study_facts(kg))}
    write_json_atomic(publication.folder / REPORT_FILE, data)


def stored_report(kg: KnowledgeGraph) -> dict[str, Any] | None:
    """The report stored with the release ``kg`` serves (None without one)."""
    from .artifacts import cache_dir, read_json

    folder = cache_dir(kg)
    data = read_json(folder / REPORT_FILE, REPORT_VERSION) if folder is not None else None
    return None if data is None else data["report"]
