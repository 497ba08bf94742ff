"""What the extractor makes of a sentence written for a test: shared by the
tests/test_extract_*.py files (the ``extractor`` fixture is in conftest.py)."""

from __future__ import annotations

from kg.extract import Extractor
from kg.model import StudyRecord, TextBlock


def record(text: str, study_type: str = "narrative review", title: str = "") -> StudyRecord:
    """One abstract, as a study of ``study_type`` titled ``title``."""
    return StudyRecord(id="t", title=title, study_type=study_type, source="test", texts=(TextBlock("abstract", text),))


def found(extractor: Extractor, text: str, study_type: str = "narrative review", title: str = "") -> dict[tuple[str, str, str, str], str]:
    """(subject, relation, object, support) -> the rule that made it."""
    return {(f.subject, f.relation, f.object, f.support): f.rule for f in extractor.extract(record(text, study_type, title))}
