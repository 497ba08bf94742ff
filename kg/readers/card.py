"""Study cards: plain-text study summaries scraped from a clinical-evidence site.

The layout, with its real quirks (see ``../shared/examples/``)::

    Mode / Text Size / Log in / Sign up          navigation lines (dropped)
    <title><Subtitle>                            glued on one line
    AI-generated summary of the cited source...  disclaimer (dropped)
    Key Takeaway / <paragraph>
    <clinician summary paragraph>
    <lay summary paragraph>
    What this means for you: / <paragraph>
    Study Details
    Study typeRandomized controlled trial        labels glued to values
    EvidenceLevel 2
    PublishedNov 2023
    View Original Abstract ↓ / <abstract>
    Free Newsletter ...                          boilerplate (dropped)

A card whose own text contradicts its metadata (a "narrative review" whose
study type says "Systematic review") keeps both and records the conflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import IngestError
from ..model import Conflict, StudyRecord, TextBlock
from ..namespaces import slugify
from . import read_text

NAVIGATION = {"mode", "text size", "log in / sign up", "log in", "sign up"}
DROP_PREFIXES = ("ai-generated summary", "photo by ", "how we work")
BOILERPLATE_START = ("free newsletter",)
BOILERPLATE_LINES = ("clinical research that matters", "join thousands of clinicians")

MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}

#: Study type as the card states it -> key of kg.model.STUDY_TYPES.
CARD_STUDY_TYPES = {
    "systematic review": "systematic review",
    "meta-analysis": "meta-analysis",
    "systematic review and meta-analysis": "meta-analysis",
    "narrative review": "narrative review",
    "review": "review",
    "randomized controlled trial": "randomized controlled trial",
    "randomised controlled trial": "randomized controlled trial",
    "non-randomized trial": "non-randomized trial",
    "non-randomised trial": "non-randomized trial",
    "single-arm trial": "non-randomized trial",
    "clinical trial": "clinical trial",
    "cohort study": "observational study",
    "observational study": "observational study",
    "case report": "case report",
    "case series": "case report",
    "preclinical study": "preclinical study",
    "animal study": "preclinical study",
    "laboratory study": "preclinical study",
    "guideline": "consensus statement",
    "consensus statement": "consensus statement",
}

#: Phrases in a card's own text that name a study design, for conflict detection.
_TEXT_DESIGNS = [
    (re.compile(r"\bnarrative review\b", re.I), "narrative review"),
    (re.compile(r"\bsystematic review\b", re.I), "systematic review"),
    (re.compile(r"\bmeta-analys[ie]s\b", re.I), "meta-analysis"),
    (re.compile(r"\b(?:single-arm|non-randomi[sz]ed)\b", re.I), "non-randomized trial"),
    (re.compile(r"\bcase report\b", re.I), "case report"),
]
_REVIEWS = {"narrative review", "systematic review", "meta-analysis", "review"}

_GLUED = re.compile(r"^(study type|evidence ?level|published)\s*:?\s*(.*)$", re.I)


def split_title(line: str) -> tuple[str, str | None]:
    """Split a glued "TitleSubtitle" line at the first lowercase-to-uppercase
    boundary that ends a real word (three or more lowercase letters), so that
    "BiTE", "mRNA" or "McDonald" are not split."""
    for match in re.finditer(r"(?<=[a-z0-9)\]])(?=[A-Z])", line):
        left = line[: match.start()]
        word = re.split(r"[\s\-/(]", left)[-1]
        if (
            len(word) >= 3
            and word.isalpha()
            and word.islower()
            or (len(word) >= 3 and word[-1].isdigit() and word[:-1].isalpha() and word[:-1].islower())
        ):
            subtitle = line[match.start() :].strip()
            if len(subtitle) >= 8 and " " in subtitle:
                return left.strip(), subtitle
    return line.strip(), None


def _published(value: str, where: str) -> str:
    text = value.strip()
    match = re.match(r"^([A-Za-z]{3})[a-z]*\.?\s+(\d{4})$", text)
    if match and match.group(1).lower() in MONTHS:
        return f"{match.group(2)}-{MONTHS[match.group(1).lower()]:02d}"
    if re.match(r"^\d{4}$", text):
        return text
    match = re.match(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$", text)
    if match:
        return text
    raise IngestError(f"cannot read the publication date {value!r}", where=where, expected="a month and year such as 'Nov 2023'")


def _paragraphs(lines: list[str]) -> list[str]:
    paras: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paras.append(" ".join(current))
            current = []
    if current:
        paras.append(" ".join(current))
    return paras


def _design_conflicts(stated_key: str | None, stated: str, texts: list[TextBlock]) -> list[Conflict]:
    if stated_key is None:
        return []
    own = " ".join(block.text for block in texts)
    for pattern, design in _TEXT_DESIGNS:
        if pattern.search(own) and design != stated_key:
            if design in _REVIEWS and stated_key in _REVIEWS or design not in _REVIEWS and stated_key not in _REVIEWS:
                return [Conflict("studyType", stated, design, "the card's own text describes a different study design than its metadata")]
    return []


def parse_card(text: str, source: str) -> StudyRecord:
    """Parse one study card; raises IngestError naming the source on a malformed card."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lower = [line.strip().lower() for line in lines]
    if "study details" not in lower:
        raise IngestError(
            "the card has no 'Study Details' block",
            where=source,
            expected="a study card with Study type, EvidenceLevel and Published lines",
        )

    # the title: first line that is not navigation
    index = 0
    while index < len(lines) and (not lines[index].strip() or lower[index] in NAVIGATION):
        index += 1
    if index >= len(lines) or lower[index] in ("key takeaway", "study details"):
        raise IngestError("the card has no title line", where=source)
    title, subtitle = split_title(lines[index].strip())
    body = lines[index + 1 :]

    def keep(line: str) -> bool:
        low = line.strip().lower()
        return not low.startswith(DROP_PREFIXES) and low != title.lower() and (subtitle is None or low != subtitle.lower())

    body = [line for line in body if keep(line)]
    low_body = [line.strip().lower() for line in body]
    details_at = low_body.index("study details")
    before, after = body[:details_at], body[details_at + 1 :]

    # Study Details, then the abstract, then boilerplate
    metadata: dict[str, str] = {}
    abstract_lines: list[str] = []
    in_abstract = False
    for line in after:
        low = line.strip().lower()
        if low.startswith(BOILERPLATE_START) or low.startswith(BOILERPLATE_LINES):
            break
        if low.startswith("view original abstract"):
            in_abstract = True
            continue
        if in_abstract:
            abstract_lines.append(line)
            continue
        match = _GLUED.match(line.strip())
        if match:
            metadata[match.group(1).lower().replace(" ", "")] = match.group(2).strip()
    for field, label in (("studytype", "Study type"), ("evidencelevel", "EvidenceLevel"), ("published", "Published")):
        if not metadata.get(field):
            raise IngestError(f"the Study Details block has no {label} line", where=source, expected=f"a line such as '{label}...' ")
    try:
        level = int(metadata["evidencelevel"])
    except ValueError:
        raise IngestError(
            f"evidence level {metadata['evidencelevel']!r} is not a number", where=source, expected="an integer from 1 to 5"
        ) from None
    if not 1 <= level <= 5:
        raise IngestError(f"evidence level {level} is out of range", where=source, expected="an integer from 1 to 5")
    stated = metadata["studytype"]
    stated_key = CARD_STUDY_TYPES.get(stated.lower())

    # sections before Study Details
    texts: list[TextBlock] = []
    low_before = [line.strip().lower() for line in before]
    what_at = next((i for i, low in enumerate(low_before) if low.startswith("what this means for you")), None)
    summary_part = before if what_at is None else before[:what_at]
    if what_at is not None:
        inline = before[what_at].split(":", 1)[1].strip() if ":" in before[what_at] else ""
        what = " ".join(p for p in [inline, *_paragraphs(before[what_at + 1 :])] if p)
    else:
        what = ""
    paras = _paragraphs(summary_part)
    if paras and paras[0].strip().lower() == "key takeaway":
        paras = paras[1:]
        if paras:
            texts.append(TextBlock("key takeaway", paras.pop(0)))
    elif any(low == "key takeaway" for low in low_before):
        # "Key Takeaway" on its own line directly followed by its paragraph
        paras = [p[len("Key Takeaway") :].strip() if p.lower().startswith("key takeaway ") else p for p in paras]
        texts.append(TextBlock("key takeaway", paras.pop(0)))
    if paras:
        texts.append(TextBlock("clinician summary", paras[0]))
    if len(paras) > 1:
        texts.append(TextBlock("lay summary", " ".join(paras[1:])))
    if what:
        texts.append(TextBlock("what this means for you", what))
    abstract = " ".join(p for p in _paragraphs(abstract_lines))
    if abstract:
        texts.append(TextBlock("abstract", abstract))
    if not texts:
        raise IngestError("the card has no summary or abstract text", where=source)

    conflicts = _design_conflicts(stated_key, stated, texts)
    study_type = stated_key or "study"
    if conflicts and conflicts[0].text_value in _REVIEWS and study_type in _REVIEWS:
        study_type = "review"  # keep only what both agree on; the conflict says the rest
    return StudyRecord(
        id=slugify(title)[:80].rstrip("-"),
        title=title,
        subtitle=subtitle,
        study_type=study_type,
        stated_study_type=stated,
        evidence_level=level,
        published=_published(metadata["published"], source),
        source=source,
        texts=tuple(texts),
        conflicts=tuple(conflicts),
    )


def read_card(path: Path) -> Iterator[StudyRecord]:
    yield parse_card(read_text(path), str(path))
