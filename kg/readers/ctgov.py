"""ClinicalTrials.gov API v2 JSON: one study, or a page ``{"studies": [...]}``.

Each study gives its NCT id, titles, acronym, conditions (mapped to tumor
types), interventions with their other names (mapped to therapies and
products), phases, enrolment, status and dates, sponsor, references with
PMIDs (linked to PubMed studies of the same PMID) and the adverse-events
module: each event's term, organ system, vocabulary and per-group counts,
mapped to a toxicity class where the ontology knows the term.

The registry's structured facts become findings that quote a "registry
entry" text block written from those fields, so every link stays checkable.
The retired ``<clinical_study>`` XML format is refused with a message that
says which format to download instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IngestError
from ..model import TEXT_MINED, AdverseEvent, AdverseEventGroupCount, Finding, StudyRecord, TextBlock
from ..ontology import Ontology, default_ontology
from . import read_bytes, read_head

PHASES = {"EARLY_PHASE1": "early 1", "PHASE1": "1", "PHASE2": "2", "PHASE3": "3", "PHASE4": "4"}


def _get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return default
        data = data.get(key)
    return default if data is None else data


def _phase(phases: list[str]) -> str | None:
    values = [PHASES[p] for p in phases if p in PHASES]
    if not values:
        return None
    if len(values) == 2 and values[0] in "123" and values[1] in "234":
        return f"{values[0]}/{values[1]}"
    return values[-1]


def _date(value: str | None) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        return value
    return None


def _entities(text: str, category: str, ontology: Ontology) -> list[str]:
    from ..lexicon import lexicon_for

    names = [m.entity for m in lexicon_for(ontology).find(text) if ontology.entities[m.entity].category == category]
    return list(dict.fromkeys(names))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def parse_study(study: Any, source: str, ontology: Ontology | None = None) -> StudyRecord:
    ontology = ontology or default_ontology()
    if not isinstance(study, dict) or "protocolSection" not in study:
        raise IngestError("not a ClinicalTrials.gov API v2 study (no protocolSection)", where=source,
                          expected="a study object or a page {\"studies\": [...]} from the API v2")
    protocol = study["protocolSection"]
    ident = _get(protocol, "identificationModule", default={})
    nct = ident.get("nctId") if isinstance(ident, dict) else None
    if not isinstance(nct, str) or not re.fullmatch(r"NCT\d{8}", nct):
        raise IngestError("the study has no valid nctId", where=source, expected="NCT followed by 8 digits")
    title = ident.get("officialTitle") or ident.get("briefTitle")
    if not isinstance(title, str) or not title.strip():
        raise IngestError(f"{nct} has no title", where=source)
    design = _get(protocol, "designModule", default={})
    allocation = _get(design, "designInfo", "allocation")
    study_kind = design.get("studyType") if isinstance(design, dict) else None
    conditions = [c for c in _get(protocol, "conditionsModule", "conditions", default=[]) if isinstance(c, str)]
    interventions = [i for i in _get(protocol, "armsInterventionsModule", "interventions", default=[]) if isinstance(i, dict)]
    status = _get(protocol, "statusModule", default={})
    summary = _get(protocol, "descriptionModule", "briefSummary")

    # the registry entry: one sentence per structured fact, quoted by the findings below
    lines: list[str] = []
    facts: list[tuple[str, list[str], list[str]]] = []
    for intervention in interventions:
        name = intervention.get("name") or ""
        others = [o for o in intervention.get("otherNames") or [] if isinstance(o, str)]
        label = f"{name} ({', '.join(others)})" if others else name
        line = f"Intervention: {label}; conditions: {'; '.join(conditions)}."
        lines.append(line)
        therapies = _entities(f"{name}. {'. '.join(others)}", "Therapy", ontology)
        tumors = _entities(". ".join(conditions), "TumorType", ontology)
        facts.append((line, therapies, tumors))
    texts = [TextBlock("registry entry", " ".join(lines))] if lines else []
    if isinstance(summary, str) and summary.strip():
        texts.append(TextBlock("brief summary", " ".join(summary.split())))
    findings = []
    offset = 0
    for line, therapies, tumors in facts:
        for therapy in therapies:
            for tumor in tumors:
                findings.append(Finding(therapy, "investigatedIn", tumor, quote=line, section="registry entry",
                                        start=offset, end=offset + len(line), method=TEXT_MINED, confidence=0.95))
        offset += len(line) + 1

    groups = {g.get("id"): g.get("title") or g.get("id") for g in _get(study, "resultsSection", "adverseEventsModule", "eventGroups", default=[]) if isinstance(g, dict)}
    events = []
    for serious, key in ((True, "seriousEvents"), (False, "otherEvents")):
        for event in _get(study, "resultsSection", "adverseEventsModule", key, default=[]):
            if not isinstance(event, dict) or not isinstance(event.get("term"), str):
                continue
            toxicities = _entities(event["term"], "Toxicity", ontology)
            counts = tuple(
                AdverseEventGroupCount(str(groups.get(s.get("groupId"), s.get("groupId"))), _int(s.get("numAffected")), _int(s.get("numAtRisk")))
                for s in event.get("stats") or [] if isinstance(s, dict)
            )
            events.append(AdverseEvent(event["term"], event.get("organSystem"), event.get("sourceVocabulary"), serious,
                                       toxicities[0] if len(toxicities) == 1 else None, counts))
    pmids = tuple(dict.fromkeys(str(r["pmid"]) for r in _get(protocol, "referencesModule", "references", default=[])
                                if isinstance(r, dict) and re.fullmatch(r"[1-9]\d{0,8}", str(r.get("pmid", "")))))
    stated = " ".join(x for x in (study_kind, allocation) if isinstance(x, str)) or None
    evidence = 2 if allocation == "RANDOMIZED" else 3 if study_kind in ("INTERVENTIONAL", "OBSERVATIONAL") else None
    sponsor = _get(protocol, "sponsorCollaboratorsModule", "leadSponsor", "name")
    return StudyRecord(
        id=nct.lower(),
        title=" ".join(title.split()),
        subtitle=ident.get("briefTitle") if ident.get("officialTitle") and ident.get("briefTitle") != ident.get("officialTitle") else None,
        study_type="trial registration",
        stated_study_type=stated,
        evidence_level=evidence,
        published=_date(_get(status, "startDateStruct", "date")) or _date(status.get("studyFirstSubmitDate") if isinstance(status, dict) else None),
        nct=nct,
        acronym=ident.get("acronym"),
        phase=_phase(_get(design, "phases", default=[])),
        enrollment=_int(_get(design, "enrollmentInfo", "count")),
        status=status.get("overallStatus") if isinstance(status, dict) else None,
        sponsor=sponsor if isinstance(sponsor, str) else None,
        keywords=tuple(k for k in _get(protocol, "conditionsModule", "keywords", default=[]) if isinstance(k, str)),
        references_pmids=pmids,
        source=source,
        texts=tuple(texts),
        findings=tuple(findings),
        adverse_events=tuple(events),
    )


def parse_ctgov(data: bytes, source: str) -> list[StudyRecord]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise IngestError(f"file is not valid UTF-8 (byte {exc.start})", where=source, expected="UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", where=source) from None
    except RecursionError:
        raise IngestError("JSON is nested too deeply (refused)", where=source) from None
    if isinstance(document, dict) and "studies" in document:
        studies = document["studies"]
        if not isinstance(studies, list) or not studies:
            raise IngestError("the page holds no studies", where=source)
    else:
        studies = [document]
    ontology = default_ontology()
    return [parse_study(study, source, ontology) for study in studies]


def read_ctgov(path: Path) -> Iterator[StudyRecord]:
    yield from parse_ctgov(read_bytes(path), str(path))


def refuse_legacy(path: Path) -> Iterator[StudyRecord]:
    """The retired <clinical_study> XML is refused with what to download instead."""
    head = read_head(path, 8192).decode("utf-8", "replace")
    match = re.search(r"<nct_id>\s*(NCT\d{8})\s*</nct_id>", head)
    nct = match.group(1) if match else "the study"
    raise IngestError(
        "this is the retired ClinicalTrials.gov <clinical_study> XML format, which tcell-kg does not read",
        where=str(path),
        expected=f"the API v2 JSON of {nct}: https://clinicaltrials.gov/api/v2/studies/{nct if match else '<NCT id>'}",
    )
    yield  # pragma: no cover - makes this a generator like the other readers
