"""Readers turn source files into frozen :class:`kg.model.StudyRecord` objects.

One module per format; readers never touch the store. Formats are found in a
registry with lazy imports (rdflib's plugin habit): an unknown name gets an
error listing the valid ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import IngestError
from ..model import StudyRecord

#: Maximum size of one source file; larger files are refused before reading.
MAX_FILE_BYTES = 20 * 1024 * 1024

# name -> (module, function). Each function takes a Path and yields records.
_READERS: dict[str, tuple[str, str]] = {
    "yaml": ("kg.readers.curated", "read_curated"),
    "card": ("kg.readers.card", "read_card"),
    "pubmed": ("kg.readers.pubmed", "read_pubmed"),
    "ctgov": ("kg.readers.ctgov", "read_ctgov"),
    "ctgov-legacy": ("kg.readers.ctgov", "refuse_legacy"),
}

ReaderFn = Callable[[Path], Iterator[StudyRecord]]


def register(name: str, module: str, function: str) -> None:
    """Register a reader (used by format modules that ship separately)."""
    _READERS[name] = (module, function)


def formats() -> list[str]:
    return sorted(_READERS)


def get_reader(name: str) -> ReaderFn:
    try:
        module, function = _READERS[name]
    except KeyError:
        raise IngestError(f"unknown format {name!r}", expected="one of " + ", ".join(formats())) from None
    return getattr(importlib.import_module(module), function)


def detect_format(path: Path) -> str:
    """Guess a file's format from its name and first bytes."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    head = read_head(path)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix == ".json" or stripped.startswith((b"{", b"[")):
        return "ctgov"
    if suffix == ".xml" or stripped.startswith(b"<"):
        if b"<clinical_study" in head:
            return "ctgov-legacy"
        return "pubmed"
    if suffix == ".txt":
        return "card"
    raise IngestError(
        "cannot tell the format of this file",
        where=str(path),
        expected="a study card (.txt), PubMed XML (.xml), ClinicalTrials.gov JSON (.json) or a curated record (.yaml); use --format to force one",
    )


def read_head(path: Path, size: int = 4096) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror}", where=str(path)) from None


def read_bytes(path: Path) -> bytes:
    """Read a whole source file, refusing missing, empty and oversized files."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror}", where=str(path)) from None
    if not path.is_file():
        raise IngestError("not a regular file", where=str(path))
    if size == 0:
        raise IngestError("file is empty", where=str(path))
    if size > MAX_FILE_BYTES:
        raise IngestError(f"file is too large ({size} bytes)", where=str(path), expected=f"at most {MAX_FILE_BYTES} bytes")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror}", where=str(path)) from None


def read_text(path: Path) -> str:
    """Read a source file as UTF-8 text, refusing binary and wrongly encoded files."""
    data = read_bytes(path)
    if b"\x00" in data:
        raise IngestError("file is binary (contains NUL bytes)", where=str(path), expected="UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"file is not valid UTF-8 (byte {exc.start})", where=str(path), expected="UTF-8 text") from None


def read_file(path: Path, fmt: str | None = None) -> list[StudyRecord]:
    """Read one file into records (all or nothing: an error yields no record)."""
    reader = get_reader(fmt or detect_format(path))
    records = list(reader(path))
    if not records:
        raise IngestError("no study found in file", where=str(path))
    return records
