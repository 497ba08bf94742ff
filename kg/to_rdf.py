"""Turn a study record into the triples of its named graph.

Everything a record asserts lands in one graph, named after the study, so
that re-ingesting the study replaces exactly that graph. Findings are n-ary
nodes with their evidence and PROV-O provenance; for each supported finding
a convenience edge (subject relation object) is materialized for graph views,
explainable by the finding beside it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, PROV, RDF, RDFS, XSD
from rdflib.term import Node

from .model import CURATED_FROM_REGISTRY, STUDY_TYPES, SUPPORT, TEXT_MINED, StudyRecord
from .namespaces import BASE, FINDING, STUDY, TKG, slugify, study_graph, study_iri

#: The agent a finding is attributed to, by extraction method (curated findings: the curators).
AGENTS = {TEXT_MINED: TKG.extractor, CURATED_FROM_REGISTRY: TKG.registryReader}


def _date_literal(published: str) -> Literal:
    if len(published) == 4:
        return Literal(published, datatype=XSD.gYear)
    if len(published) == 7:
        return Literal(published, datatype=XSD.gYearMonth)
    return Literal(published, datatype=XSD.date)


def _short_hash(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:10]


def record_graph_iri(record: StudyRecord) -> URIRef:
    return study_graph(record.id)


def record_to_graph(record: StudyRecord) -> Graph:
    """All triples of one study, to be stored in its named graph."""
    g = Graph()
    for triple in record_triples(record):
        g.add(triple)
    return g


def record_triples(record: StudyRecord) -> list[tuple[Node, Node, Node]]:
    """The triples of :func:`record_to_graph` as a list, without building a
    Graph (the bulk path writes them straight to N-Quads); each triple once,
    in a stable order."""
    triples: list[tuple[Node, Node, Node]] = []
    s = study_iri(record.id)
    add = triples.append
    add((s, RDF.type, TKG.Study))
    add((s, RDF.type, TKG[STUDY_TYPES[record.study_type]]))
    add((s, DCTERMS.title, Literal(record.title)))
    add((s, RDFS.label, Literal(record.title)))
    add((s, DCTERMS.source, Literal(Path(record.source).name)))
    optional = [
        (TKG.subtitle, record.subtitle, None),
        (TKG.statedStudyType, record.stated_study_type, None),
        (TKG.evidenceLevel, record.evidence_level, XSD.integer),
        (TKG.journal, record.journal, None),
        (TKG.firstAuthor, record.first_author, None),
        (TKG.doi, record.doi, None),
        (TKG.pmid, record.pmid, None),
        (TKG.nctId, record.nct, None),
        (TKG.acronym, record.acronym, None),
        (TKG.trialPhase, record.phase, None),
        (TKG.enrollment, record.enrollment, XSD.integer),
        (TKG.overallStatus, record.status, None),
        (TKG.sponsor, record.sponsor, None),
        (TKG.curationNote, record.note, None),
    ]
    for predicate, value, datatype in optional:
        if value is not None and value != "":
            add((s, predicate, Literal(value, datatype=datatype)))
    if record.published:
        add((s, DCTERMS.issued, _date_literal(record.published)))
        add((s, TKG.publicationYear, Literal(record.year, datatype=XSD.integer)))
    if record.identifiers_unverified:
        add((s, TKG.identifiersUnverified, Literal(True)))
    for keyword in record.keywords:
        add((s, TKG.keyword, Literal(keyword)))
    for ptype in record.publication_types:
        add((s, TKG.publicationType, Literal(ptype)))
    for name in record.mentions:
        add((s, TKG.mentions, TKG[name]))
    for pmid in record.references_pmids:
        add((s, DCTERMS.references, STUDY[f"pmid-{pmid}"]))
    # a paper that names trials (PubMed's DataBank list, its abstract) references their registry records
    for nct in ([record.nct] if record.nct else []) + [value for key, value in record.extras if key == "nct"]:
        if nct.lower() != record.id:
            add((s, DCTERMS.references, STUDY[nct.lower()]))

    blocks: dict[str, URIRef] = {}
    for block in record.texts:
        node = URIRef(f"{BASE}text/{record.id}-{slugify(block.section)}")
        blocks[block.section] = node
        add((s, TKG.hasTextBlock, node))
        add((node, RDF.type, TKG.TextBlock))
        add((node, TKG.section, Literal(block.section)))
        add((node, TKG.content, Literal(block.text)))

    for conflict in record.conflicts:
        node = URIRef(f"{BASE}conflict/{record.id}-{slugify(conflict.field)}")
        add((s, TKG.hasConflict, node))
        add((node, RDF.type, TKG.MetadataConflict))
        add((node, TKG.conflictField, Literal(conflict.field)))
        add((node, TKG.metadataValue, Literal(conflict.metadata_value)))
        add((node, TKG.textValue, Literal(conflict.text_value)))
        if conflict.note:
            add((node, RDFS.comment, Literal(conflict.note)))

    activities: dict[str, URIRef] = {}
    for finding in record.findings:
        activity = activities.get(finding.method)
        if activity is None:
            activity = URIRef(f"{BASE}activity/{record.id}-{finding.method}")
            activities[finding.method] = activity
            add((activity, RDF.type, TKG.ExtractionActivity))
            add((activity, RDFS.label, Literal(f"{finding.method} extraction of {record.id}")))
            add((activity, PROV.used, s))
            add((activity, PROV.wasAssociatedWith, AGENTS.get(finding.method, TKG.curator)))
        fid = _short_hash(
            finding.subject,
            finding.relation,
            finding.object,
            finding.context,
            finding.support,
            finding.section,
            finding.start,
            finding.method,
        )
        f = FINDING[f"{record.id}-{fid}"]
        add((f, RDF.type, TKG.Finding))
        add((f, TKG.subject, TKG[finding.subject]))
        add((f, TKG.relation, TKG[finding.relation]))
        add((f, TKG.object, TKG[finding.object]))
        if finding.context:
            add((f, TKG.tumorContext, TKG[finding.context]))
        add((f, TKG.support, Literal(finding.support)))
        add((f, TKG.evidenceQuote, Literal(finding.quote)))
        add((f, TKG.quoteStart, Literal(finding.start, datatype=XSD.integer)))
        add((f, TKG.quoteEnd, Literal(finding.end, datatype=XSD.integer)))
        if finding.section in blocks:
            add((f, TKG.quoteIn, blocks[finding.section]))
        add((f, TKG.extractionMethod, Literal(finding.method)))
        add((f, TKG.confidence, Literal(round(finding.confidence, 3), datatype=XSD.decimal)))
        if finding.rule:
            add((f, TKG.extractionRule, Literal(finding.rule)))
        add((f, PROV.wasDerivedFrom, s))
        add((f, PROV.wasGeneratedBy, activity))
        add((f, PROV.wasAttributedTo, AGENTS.get(finding.method, TKG.curator)))
        if finding.support == SUPPORT:
            add((TKG[finding.subject], TKG[finding.relation], TKG[finding.object]))

    for index, event in enumerate(record.adverse_events):
        node = URIRef(f"{BASE}adverse-event/{record.id}-{index + 1}")
        add((s, TKG.hasAdverseEvent, node))
        add((node, RDF.type, TKG.AdverseEventReport))
        add((node, TKG.aeTerm, Literal(event.term)))
        add((node, TKG.serious, Literal(event.serious)))
        if event.organ_system:
            add((node, TKG.organSystem, Literal(event.organ_system)))
        if event.vocabulary:
            add((node, TKG.aeVocabulary, Literal(event.vocabulary)))
        if event.toxicity:
            add((node, TKG.mapsToToxicity, TKG[event.toxicity]))
        for gi, count in enumerate(event.counts):
            cnode = URIRef(f"{node}-g{gi + 1}")
            add((node, TKG.hasCount, cnode))
            add((cnode, RDF.type, TKG.AdverseEventCount))
            add((cnode, TKG.groupLabel, Literal(count.group)))
            if count.affected is not None:
                add((cnode, TKG.numAffected, Literal(count.affected, datatype=XSD.integer)))
            if count.at_risk is not None:
                add((cnode, TKG.numAtRisk, Literal(count.at_risk, datatype=XSD.integer)))
    return list(dict.fromkeys(triples))
