"""ClinicalTrials.gov API v2 JSON: one study, or a page ``{"studies": [...]}``.

Each study gives its NCT id, titles, acronym, conditions (mapped to tumor
types), interventions with their other names (mapped to therapies and
products), phases, enrolment, status and dates, sponsor, references with
PMIDs (linked to PubMed studies of the same PMID) and the adverse-events
module: each event's term, organ system, vocabulary and per-group counts,
mapped to a toxicity class where the ontology knows the term.

The registry's structured facts become findings (method
``curated-from-registry``) that quote a "registry entry" text block written
from those fields, so every link stays checkable: each intervention that is
not only a comparator arm's, mapped to a therapy, is ``investigatedIn`` each
condition mapped to a tumor type.

The record's prose becomes text blocks the extractor mines, one per field:
brief summary, official and brief titles, detailed description, keywords, each
intervention's description, each arm group (label, type, description), the
primary, secondary and other outcome measures, and why the study stopped.
Field names as in the API v2 study data structure (``protocolSection``
modules ``descriptionModule``, ``conditionsModule``, ``armsInterventionsModule``,
``outcomesModule``, ``statusModule``). The API writes rich text as CommonMark,
so backslash escapes (``\\<``, ``\\[``) are undone.

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
from ..model import CURATED_FROM_REGISTRY, AdverseEvent, AdverseEventGroupCount, Finding, StudyRecord, TextBlock
from ..ontology import Ontology, default_ontology
from . import read_bytes, read_head

PHASES = {"EARLY_PHASE1": "early 1", "PHASE1": "1", "PHASE2": "2", "PHASE3": "3", "PHASE4": "4"}
#: Arm group types whose interventions are compared against, not studied.
COMPARATOR_ARMS = {"ACTIVE_COMPARATOR", "PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION"}
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return default
        data = data.get(key)
    return default if data is None else data


def _str(value: Any) -> str | None:
    """A non-empty string field, or None (the API's types are not trusted)."""
    return value.strip() or None if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _phase(phases: Any) -> str | None:
    values = [PHASES[p] for p in _list(phases) if isinstance(p, str) and p in PHASES]
    if not values:
        return None
    if len(values) == 2 and values[0] in "123" and values[1] in "234":
        return f"{values[0]}/{values[1]}"
    return values[-1]


def _prose(value: Any) -> str | None:
    """A free-text field as plain text: CommonMark backslash escapes undone, spaces
    within a line collapsed, line breaks kept (they separate headings and list items)."""
    text = _str(value)
    if text is None:
        return None
    lines = (" ".join(line.split()) for line in _MARKDOWN_ESCAPE.sub(r"\1", text).splitlines())
    return "\n".join(line for line in lines if line) or None


def _sentence(text: str) -> str:
    return text if text[-1:] in ".!?" else text + "."


def _unique(section: str, used: set[str]) -> str:
    """A section name no other block of the record has (blocks are keyed by section)."""
    name, n = section, 2
    while name in used:
        name, n = f"{section} ({n})", n + 1
    used.add(name)
    return name


def _prose_blocks(protocol: dict[str, Any], official: str | None, brief: str | None) -> list[TextBlock]:
    """The record's free text, one block per field, in the order a reader meets it."""
    brief = None if brief and official and " ".join(brief.split()) == " ".join(official.split()) else brief
    blocks: list[tuple[str, str | None]] = [("official title", _prose(official)), ("brief title", _prose(brief))]
    blocks.append(("detailed description", _prose(_get(protocol, "descriptionModule", "detailedDescription"))))
    keywords = [k for k in (_prose(k) for k in _list(_get(protocol, "conditionsModule", "keywords"))) if k]
    blocks.append(("keywords", _sentence("; ".join(keywords)) if keywords else None))
    arms = _dict(_get(protocol, "armsInterventionsModule"))
    for intervention in _list(arms.get("interventions")):
        intervention = _dict(intervention)
        name = _prose(intervention.get("name"))
        blocks.append((f"intervention: {name or 'unnamed'}", _prose(intervention.get("description"))))
    for arm in _list(arms.get("armGroups")):
        arm = _dict(arm)
        label, description = _prose(arm.get("label")), _prose(arm.get("description"))
        kind = _str(arm.get("type"))
        section = f"arm group: {label or 'unlabelled'}" + (f" ({kind.lower().replace('_', ' ')})" if kind else "")
        text = " ".join(x for x in (_sentence(label) if label else None, description) if x)
        blocks.append((section, text or None))
    for key, section in (("primaryOutcomes", "primary outcome measures"), ("secondaryOutcomes", "secondary outcome measures"),
                         ("otherOutcomes", "other outcome measures")):
        parts = []
        for outcome in _list(_get(protocol, "outcomesModule", key)):
            outcome = _dict(outcome)
            measure, description = _prose(outcome.get("measure")), _prose(outcome.get("description"))
            parts += [x for x in (_sentence(measure) if measure else None, description) if x]
        blocks.append((section, "\n".join(parts) or None))
    blocks.append(("why stopped", _prose(_get(protocol, "statusModule", "whyStopped"))))
    return [TextBlock(section, text) for section, text in blocks if text]


def _comparator_only(intervention: dict[str, Any], arms: list[Any]) -> bool:
    """The intervention is given only in comparator arms (by the arms its record names)."""
    kinds = {_str(_dict(a).get("label")): _str(_dict(a).get("type")) for a in arms}
    labels = [label for label in _list(intervention.get("armGroupLabels")) if isinstance(label, str)]
    return bool(labels) and all(kinds.get(label) in COMPARATOR_ARMS for label in labels)


def _date(value: str | None) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        return value
    return None


def _entities(text: str, category: str, ontology: Ontology) -> list[str]:
    from ..lexicon import lexicon_for

    names = [m.entity for m in lexicon_for(ontology).find(text) if ontology.entities[m.entity].category == category]
    return list(dict.fromkeys(names))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_study(study: Any, source: str, ontology: Ontology | None = None) -> StudyRecord:
    ontology = ontology or default_ontology()
    if not isinstance(study, dict) or "protocolSection" not in study:
        raise IngestError("not a ClinicalTrials.gov API v2 study (no protocolSection)", where=source,
                          expected="a study object or a page {\"studies\": [...]} from the API v2")
    protocol = study["protocolSection"]
    ident = _dict(_get(protocol, "identificationModule"))
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not re.fullmatch(r"NCT\d{8}", nct):
        raise IngestError("the study has no valid nctId", where=source, expected="NCT followed by 8 digits")
    official, brief = _str(ident.get("officialTitle")), _str(ident.get("briefTitle"))
    title = official or brief
    if title is None:
        raise IngestError(f"{nct} has no title", where=source)
    design = _dict(_get(protocol, "designModule"))
    allocation = _str(_get(design, "designInfo", "allocation"))
    study_kind = _str(design.get("studyType"))
    conditions = [c for c in _list(_get(protocol, "conditionsModule", "conditions")) if isinstance(c, str)]
    interventions = [i for i in _list(_get(protocol, "armsInterventionsModule", "interventions")) if isinstance(i, dict)]
    arms = _list(_get(protocol, "armsInterventionsModule", "armGroups"))
    status = _dict(_get(protocol, "statusModule"))
    summary = _prose(_get(protocol, "descriptionModule", "briefSummary"))

    # the registry entry: one sentence per structured fact, quoted by the findings below
    lines: list[str] = []
    facts: list[tuple[str, list[str], list[str]]] = []
    tumors = _entities(". ".join(conditions), "TumorType", ontology)
    for intervention in interventions:
        name = " ".join((_str(intervention.get("name")) or "").split())
        others = [" ".join(o.split()) for o in _list(intervention.get("otherNames")) if isinstance(o, str) and o.strip()]
        label = f"{name} ({', '.join(others)})" if others else name
        comparator = _comparator_only(intervention, arms)
        stated = f"; conditions: {'; '.join(conditions)}." if conditions else "."
        line = f"Intervention{' (comparator)' if comparator else ''}: {label}{stated}"
        lines.append(line)
        therapies = [] if comparator else _entities(f"{name}. {'. '.join(others)}", "Therapy", ontology)
        facts.append((line, therapies, tumors))
    texts = [TextBlock("registry entry", " ".join(lines))] if lines else []
    if summary:
        texts.append(TextBlock("brief summary", summary))
    used = {block.section for block in texts}
    texts += [TextBlock(_unique(block.section, used), block.text) for block in _prose_blocks(protocol, official, brief)]
    findings = []
    offset = 0
    for line, therapies, tumors in facts:
        for therapy in therapies:
            for tumor in tumors:
                findings.append(Finding(therapy, "investigatedIn", tumor, quote=line, section="registry entry",
                                        start=offset, end=offset + len(line), method=CURATED_FROM_REGISTRY, confidence=0.95))
        offset += len(line) + 1

    groups: dict[str, str] = {}
    for group in _list(_get(study, "resultsSection", "adverseEventsModule", "eventGroups")):
        group_id = _str(_dict(group).get("id"))
        if group_id:
            groups[group_id] = _str(group.get("title")) or group_id
    events = []
    for serious, key in ((True, "seriousEvents"), (False, "otherEvents")):
        for event in _list(_get(study, "resultsSection", "adverseEventsModule", key)):
            term = _str(_dict(event).get("term"))
            if term is None:
                continue
            toxicities = _entities(term, "Toxicity", ontology)
            counts = []
            for stat in _list(event.get("stats")):
                group_id = _str(_dict(stat).get("groupId"))
                if group_id:
                    affected, at_risk = _int(stat.get("numAffected")), _int(stat.get("numAtRisk"))
                    counts.append(AdverseEventGroupCount(groups.get(group_id, group_id), affected, at_risk))
            events.append(AdverseEvent(term, _str(event.get("organSystem")), _str(event.get("sourceVocabulary")), serious,
                                       toxicities[0] if len(toxicities) == 1 else None, tuple(counts)))
    pmids = tuple(dict.fromkeys(str(r["pmid"]) for r in _list(_get(protocol, "referencesModule", "references"))
                                if isinstance(r, dict) and isinstance(r.get("pmid"), (str, int)) and not isinstance(r.get("pmid"), bool)
                                and re.fullmatch(r"[1-9]\d{0,8}", str(r["pmid"]).strip())))
    stated = " ".join(x for x in (study_kind, allocation) if x) or None
    evidence = 2 if allocation == "RANDOMIZED" else 3 if study_kind in ("INTERVENTIONAL", "OBSERVATIONAL") else None
    sponsor = _get(protocol, "sponsorCollaboratorsModule", "leadSponsor", "name")
    return StudyRecord(
        id=nct.lower(),
        title=" ".join(title.split()),
        subtitle=" ".join(brief.split()) if official and brief and brief != official else None,
        study_type="trial registration",
        stated_study_type=stated,
        evidence_level=evidence,
        published=_date(_get(status, "startDateStruct", "date")) or _date(status.get("studyFirstSubmitDate")),
        nct=nct,
        acronym=_str(ident.get("acronym")),
        phase=_phase(design.get("phases")),
        enrollment=_int(_get(design, "enrollmentInfo", "count")),
        status=_str(status.get("overallStatus")),
        sponsor=_str(sponsor),
        keywords=tuple(k for k in _list(_get(protocol, "conditionsModule", "keywords")) if isinstance(k, str)),
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
