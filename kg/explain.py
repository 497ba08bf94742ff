"""Why the extractor made (or did not make) each finding of a study file.

:func:`explain` runs :meth:`kg.extract.Extractor.extract` with a trace, the very
code path of ``tkg ingest``, and lays the recorded steps out sentence by
sentence: the mentions (surface text, the ontology entry it matched and its
category), the clauses with their subjects and negation, hedges, and each
finding made or rejected with the rule that decided (see :mod:`kg.rules`).
"""

from __future__ import annotations

from .extract import Extractor, Note
from .model import StudyRecord

_INDENT = {
    "mention": "  mention ",
    "hedge": "  hedge   ",
    "clause": "  clause  ",
    "finding": "  FINDING ",
    "reject": "  reject  ",
    "duplicate": "  again   ",
}


def trace_record(record: StudyRecord, extractor: Extractor) -> tuple[list[Note], list]:
    """The extraction trace of one record and the findings extraction made."""
    notes: list[Note] = []
    findings = extractor.extract(record, trace=notes)
    return notes, findings


def format_trace(record: StudyRecord, notes: list[Note], findings: list, only_findings: bool = False) -> str:
    lines = [f"study {record.id} ({record.study_type}): {record.title}"]
    for finding in record.findings:
        lines.append(f"  from the reader: {finding.subject} {finding.relation} {finding.object} ({finding.method})")
    number = 0
    block: list[str] = []
    keep = not only_findings

    def flush() -> None:
        if keep or any(line.startswith(("  FINDING", "  reject")) for line in block):
            lines.extend(block)
        block.clear()

    for note in notes:
        if note.kind == "study":
            lines.append(f"  {note.text}")
        elif note.kind == "sentence":
            flush()
            number += 1
            block.append(f"\n[{number}] ({note.data.get('section', '')}) {note.text}")
        else:
            detail = ""
            if note.kind == "clause":
                flags = [f"subjects: {note.data['subjects']}"]
                if note.data.get("implicit"):
                    flags.append("subject is the main therapy")
                if note.data.get("list_item"):
                    flags.append("list item: shares the cue and subjects of the clause before")
                if note.data.get("negated"):
                    flags.append("NEGATED")
                detail = "  [" + "; ".join(flags) + "]"
            elif note.data.get("rule"):
                detail = f"  <- rule {note.data['rule']}"
            block.append(f"{_INDENT.get(note.kind, '  ' + note.kind)}{note.text}{detail}")
    flush()
    lines.append(f"\n{len(findings)} finding(s) extracted")
    return "\n".join(lines)
