"""From source files to study records: read, then extract findings from text.

``source file -> reader -> StudyRecord -> extractor -> StudyRecord with findings``
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

from .model import StudyRecord
from .ontology import Ontology, default_ontology
from .readers import detect_format, read_file, reader


def records_from_file(path: Path, fmt: str | None = None, ontology: Ontology | None = None) -> list[StudyRecord]:
    """Read one file into complete records; raises IngestError and yields nothing on failure."""
    fmt = fmt or detect_format(path)
    records = read_file(path, fmt)
    if reader(fmt).text_mined:  # curated records carry their own findings and mine their card themselves
        extract = importlib.import_module("kg.extract").extract_record
        ontology = ontology or default_ontology()
        records = [with_mentions(extract(record, ontology), ontology) for record in records]
    return records


def with_mentions(record: StudyRecord, ontology: Ontology) -> StudyRecord:
    """The record with the ontology entities its title and texts mention (study-level
    links that assert nothing beyond "this study talks about X").

    Recognition is per document: an abbreviation or code name defined in one
    text ("immune effector cell-associated neurotoxicity syndrome (ICANS)",
    "Lete-Cel (GSK3377794)") is read the same way in all of the record's texts.
    Other treatments (comparators, conditioning and support drugs) are
    recognized but are not study mentions."""
    from .lexicon import lexicon_for

    lexicon = lexicon_for(ontology)
    texts = [t for t in (record.title, record.subtitle or "", *(b.text for b in record.texts)) if t]
    learned = lexicon.learn(texts)
    names = sorted({m.entity for text in texts for m in lexicon.find(text, learned) if ontology.entities[m.entity].category is not None})
    return replace(record, mentions=tuple(names))
