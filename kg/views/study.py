"""A study's page: metadata, identifiers as links, flagged conflicts, its text
blocks with every finding's evidence sentence marked, and the findings.

The text is cut into segments in Python (plain text and marked spans, by the
findings' ``quoteStart``/``quoteEnd`` offsets); templates escape each segment.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rdflib import Graph

from ..namespaces import GRAPH, SPARQL_PREFIXES, local_name
from .common import NotFound, int_or_none, study_ref, value, vocabulary

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_META = SPARQL_PREFIXES + "SELECT ?s ?p ?o WHERE { ?s a tkg:Study ; ?p ?o }"
#: The conflicts, text blocks and findings of a study are read inside its own
#: named graph (``?g``, bound with ``?s``: kg.to_rdf writes a study's record
#: there). Oxigraph evaluates the right side of an OPTIONAL on its own before
#: joining it; outside the graph that read every quote (every section, every
#: conflict field) of the store, so a study page grew with the corpus (1.2 s at
#: 10,000 studies); inside it, only the study's own.
_CONFLICTS = (
    SPARQL_PREFIXES
    + """SELECT ?s ?g ?c ?field ?metadata ?text ?comment WHERE { GRAPH ?g {
  ?s tkg:hasConflict ?c .
  OPTIONAL { ?c tkg:conflictField ?field } OPTIONAL { ?c tkg:metadataValue ?metadata }
  OPTIONAL { ?c tkg:textValue ?text } OPTIONAL { ?c rdfs:comment ?comment }
} }"""
)
_TEXTS = (
    SPARQL_PREFIXES
    + """SELECT ?s ?g ?block ?section ?content WHERE { GRAPH ?g {
  ?s tkg:hasTextBlock ?block . ?block tkg:content ?content . OPTIONAL { ?block tkg:section ?section }
} }"""
)
#: (Three OPTIONALs for the quote's place, not one of three patterns: the page
#: takes the place only whole.)
_FINDINGS = (
    SPARQL_PREFIXES
    + """SELECT ?s ?g ?finding ?subject ?relation ?object ?support ?quote ?start ?end ?block ?context ?method ?confidence WHERE { GRAPH ?g {
  ?finding a tkg:Finding ; prov:wasDerivedFrom ?s ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object .
  OPTIONAL { ?finding tkg:support ?support }
  OPTIONAL { ?finding tkg:evidenceQuote ?quote }
  OPTIONAL { ?finding tkg:quoteStart ?start } OPTIONAL { ?finding tkg:quoteEnd ?end } OPTIONAL { ?finding tkg:quoteIn ?block }
  OPTIONAL { ?finding tkg:tumorContext ?context }
  OPTIONAL { ?finding tkg:extractionMethod ?method }
  OPTIONAL { ?finding tkg:confidence ?confidence }
} }"""
)
#: Papers and trial records linked both ways: a paper references the trial (the NCT ids of its
#: DataBank list or abstract), the trial's record references the paper (its PMIDs), or both
#: carry the same NCT id. ?role is "trial" when ?other is the registry record of a trial.
#: (Whether ?other is a study is a FILTER EXISTS, tested per row: as a pattern, Oxigraph
#: joined the links with every study of the store, 0.35 s a page at 10,000 studies.)
_LINKED = (
    SPARQL_PREFIXES
    + """SELECT DISTINCT ?s ?other ?title ?role WHERE {
  { ?s dcterms:references ?other } UNION { ?other dcterms:references ?s }
  UNION { ?s tkg:nctId ?nct . ?other tkg:nctId ?nct . FILTER (?other != ?s) }
  FILTER EXISTS { ?other a tkg:Study }
  BIND (EXISTS { ?other a tkg:TrialRegistration } AS ?otherIsTrial)
  BIND (EXISTS { ?s a tkg:TrialRegistration } AS ?selfIsTrial)
  FILTER (?otherIsTrial != ?selfIsTrial)
  BIND (IF(?otherIsTrial, "trial", "paper") AS ?role)
  OPTIONAL { ?other dcterms:title ?title }
}"""
)
_GRAPH = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"

#: Study properties shown as metadata: local name -> label, in display order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("firstAuthor", "first author"),
    ("journal", "journal"),
    ("issued", "published"),
    ("statedStudyType", "study type as stated"),
    ("evidenceLevel", "evidence level"),
    ("trialPhase", "trial phase"),
    ("enrollment", "enrolment"),
)

#: identifier property -> (label, URL prefix)
IDENTIFIERS: tuple[tuple[str, str, str], ...] = (
    ("doi", "DOI", "https://doi.org/"),
    ("pmid", "PubMed", "https://pubmed.ncbi.nlm.nih.gov/"),
    ("nctId", "ClinicalTrials.gov", "https://clinicaltrials.gov/study/"),
)

#: What each evidence level means (1 strongest).
EVIDENCE_LEVELS: dict[int, str] = {
    1: "systematic review or meta-analysis",
    2: "randomized controlled trial",
    3: "non-randomized trial or cohort study",
    4: "case series, case report or observational study",
    5: "preclinical study or expert opinion",
}


def segments(text: str, spans: list[tuple[int, int, list[str]]]) -> list[dict[str, Any]]:
    """Cut ``text`` into plain and marked segments.

    ``spans`` are (start, end, finding ids); overlapping spans are merged
    into one mark carrying every finding id. Spans outside the text are
    dropped. Each segment is ``{"text", "mark": bool, "findings": [...]}``."""
    valid = sorted((s, e, ids) for s, e, ids in spans if 0 <= s < e <= len(text))
    merged: list[list[Any]] = []
    for start, end, ids in valid:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = merged[-1][2] + [i for i in ids if i not in merged[-1][2]]
        else:
            merged.append([start, end, list(ids)])
    out: list[dict[str, Any]] = []
    pos = 0
    for start, end, ids in merged:
        if start > pos:
            out.append({"text": text[pos:start], "mark": False, "findings": []})
        out.append({"text": text[start:end], "mark": True, "findings": ids})
        pos = end
    if pos < len(text):
        out.append({"text": text[pos:], "mark": False, "findings": []})
    return out


def study_page(kg: KnowledgeGraph, study_id: str) -> dict[str, Any]:
    iri = study_ref(study_id)
    rows = kg.query(_META, bindings={"s": iri}).rows
    if not rows:
        raise NotFound(f"no study with id {study_id!r}", expected="a study id such as those listed on entity pages")
    vocab = vocabulary(kg)
    own = {"s": iri, "g": GRAPH[local_name(str(iri))]}  # the study and its named graph
    props: dict[str, list[Any]] = defaultdict(list)
    types: list[str] = []
    for row in rows:
        name = local_name(str(row["p"]))
        if name == "22-rdf-syntax-ns#type" or str(row["p"]).endswith("#type"):
            if not str(row["o"]).endswith("/Study"):
                types.append(vocab.label(row["o"]))
            continue
        if value(row["o"]) not in props[name]:
            props[name].append(value(row["o"]))

    def one(name: str) -> Any:
        return props[name][0] if props.get(name) else None

    metadata = [{"field": f, "label": label, "value": ", ".join(str(v) for v in props[f])} for f, label in FIELDS if props.get(f)]
    identifiers = [
        {"kind": kind, "label": label, "value": str(v), "url": prefix + str(v)}
        for kind, label, prefix in IDENTIFIERS
        for v in props.get(kind, [])
    ]
    conflicts = [
        {
            "field": value(r.get("field")),
            "metadata_value": value(r.get("metadata")),
            "text_value": value(r.get("text")),
            "comment": value(r.get("comment")),
        }
        for r in kg.query(_CONFLICTS, bindings=own).rows
    ]
    findings: dict[str, dict[str, Any]] = {}
    for r in kg.query(_FINDINGS, bindings=own).rows:
        fid = local_name(str(r["finding"]))
        if fid in findings:
            continue
        if any(r.get(k) is None for k in ("start", "end", "block")):  # a quote's place counts only whole
            r = {k: v for k, v in r.items() if k not in ("start", "end", "block")}
        findings[fid] = {
            "id": fid,
            "subject": vocab.ref(r["subject"]),
            "relation": local_name(str(r["relation"])),
            "relation_label": vocab.label(r["relation"]),
            "object": vocab.ref(r["object"]),
            "context": vocab.ref(r.get("context")),
            "support": value(r.get("support")) or "SUPPORT",
            "quote": value(r.get("quote")),
            "start": int_or_none(r.get("start")),
            "end": int_or_none(r.get("end")),
            "block": local_name(str(r["block"])) if r.get("block") is not None else None,
            "method": value(r.get("method")),
            "confidence": value(r.get("confidence")),
        }
    texts = []
    for r in sorted(kg.query(_TEXTS, bindings=own).rows, key=lambda r: str(r["block"])):
        block = local_name(str(r["block"]))
        content = str(r["content"])
        spans = [(f["start"], f["end"], [f["id"]]) for f in findings.values() if f["block"] == block and f["start"] is not None]
        texts.append({"id": block, "section": value(r.get("section")) or block, "content": content, "segments": segments(content, spans)})
    linked: dict[str, dict[str, dict[str, str]]] = {"trial": {}, "paper": {}}
    for r in kg.query(_LINKED, bindings={"s": iri}).rows:
        other = local_name(str(r["other"]))
        linked[str(r["role"])][other] = {"id": other, "title": value(r.get("title")) or other}
    ordered = sorted(findings.values(), key=lambda f: (f["block"] or "", f["start"] if f["start"] is not None else 1 << 30, f["id"]))
    level = int(one("evidenceLevel")) if one("evidenceLevel") is not None else None
    return {
        "id": study_id,
        "iri": str(iri),
        "title": one("title") or study_id,
        "subtitle": one("subtitle"),
        "types": sorted(set(types)),
        "year": one("publicationYear"),
        "evidence_level": level,
        "evidence_level_meaning": EVIDENCE_LEVELS.get(level) if level is not None else None,
        "metadata": metadata,
        "identifiers": identifiers,
        "identifiers_unverified": one("identifiersUnverified") is True,
        "curation_note": one("curationNote"),
        "keywords": sorted(props.get("keyword", []), key=str.lower),
        "conflicts": conflicts,
        "texts": texts,
        "findings": ordered,
        "reports_results_of": sorted(linked["trial"].values(), key=lambda x: x["id"]),
        "results_reported_in": sorted(linked["paper"].values(), key=lambda x: x["id"]),
    }


def study_rdf(kg: KnowledgeGraph, study_id: str) -> Graph:
    """The study's named graph (everything ingested from its record)."""
    study_page_exists(kg, study_id)
    graph = kg.query(_GRAPH, bindings={"g": GRAPH[study_id]}).to_graph()
    from ..namespaces import PREFIXES as NS

    for prefix, ns in NS.items():
        graph.bind(prefix, ns)
    return graph


def study_page_exists(kg: KnowledgeGraph, study_id: str) -> None:
    iri = study_ref(study_id)
    if not kg.query(SPARQL_PREFIXES + "ASK { ?s a tkg:Study }", bindings={"s": iri}).boolean:
        raise NotFound(f"no study with id {study_id!r}", expected="a study id such as those listed on entity pages")
