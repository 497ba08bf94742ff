"""Readers turn source files into frozen :class:`kg.model.StudyRecord` objects.

One module per format; readers never touch the store. Each format is one
:class:`Reader` record in a registry (name, the function that reads it, the
suffixes a folder scan picks up, how a file is recognized, whether its texts
are mined), imported lazily (rdflib's plugin habit); an unknown name gets an
error listing the valid ones. Other packages add readers through the
``tcell_kg.readers`` entry point group (see docs/extending.md).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import IngestError
from ..model import StudyRecord

#: Maximum size of one source file; larger files are refused before reading.
MAX_FILE_BYTES = 20 * 1024 * 1024

ReaderFn = Callable[[Path], Iterator[StudyRecord]]
#: Sniff functions see the file's suffix (lower case) and its first bytes
#: (a UTF-8 BOM and leading whitespace removed).
Sniff = Callable[[str, bytes], bool]


@dataclass(frozen=True)
class Reader:
    """Everything the project knows about an input format, in one record.

    ``target`` is "module:function" (imported when first used); the function
    takes a Path and yields StudyRecords. ``claims`` tells from a file's suffix
    and first bytes whether the file is in this format: readers are asked in
    registry order and the first that claims a file reads it. ``suffixes`` are
    what ``tkg ingest DIR`` picks up in a folder. ``text_mined``: the records'
    texts go through the extractor (curated records carry their own findings).
    """

    name: str
    target: str
    suffixes: tuple[str, ...]
    claims: Sniff
    text_mined: bool
    description: str

    def load(self) -> ReaderFn:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


def _is_json(suffix: str, head: bytes) -> bool:
    return suffix == ".json" or head.startswith((b"{", b"["))


def _is_xml(suffix: str, head: bytes) -> bool:
    return suffix == ".xml" or head.startswith(b"<")


#: The readers, in the order they are asked to claim a file.
_READERS: dict[str, Reader] = {}


def register(reader: Reader, *, before: str | None = None) -> None:
    """Add a reader (a plugin's, through the ``tcell_kg.readers`` entry point
    group, or a test's); ``before`` puts it ahead of a named one in the claiming order."""
    items = [(name, r) for name, r in _READERS.items() if name != reader.name]
    index = next((i for i, (name, _) in enumerate(items) if name == before), len(items))
    items.insert(index, (reader.name, reader))
    _READERS.clear()
    _READERS.update(items)


for _reader in (
    Reader(
        "yaml", "kg.readers.curated:read_curated", (".yaml", ".yml"), lambda s, h: s in (".yaml", ".yml"), False, "a curated record (.yaml)"
    ),
    Reader("ctgov", "kg.readers.ctgov:read_ctgov", (".json",), _is_json, True, "ClinicalTrials.gov JSON (.json)"),
    Reader(
        "ctgov-legacy",
        "kg.readers.ctgov:refuse_legacy",
        (),
        lambda s, h: _is_xml(s, h) and b"<clinical_study" in h,
        False,
        "the retired ClinicalTrials.gov XML (refused with a pointer to the JSON API)",
    ),
    Reader("pubmed", "kg.readers.pubmed:read_pubmed", (".xml",), _is_xml, True, "PubMed XML (.xml)"),
    Reader("card", "kg.readers.card:read_card", (".txt",), lambda s, h: s == ".txt", True, "a study card (.txt)"),
):
    register(_reader)


@functools.cache
def _load_plugins() -> None:
    """Readers that other packages declare under the ``tcell_kg.readers`` entry
    point group (each entry point names a :class:`Reader`)."""
    for entry in entry_points(group="tcell_kg.readers"):
        reader = entry.load()
        if not isinstance(reader, Reader):
            raise IngestError(f"entry point {entry.name!r} of tcell_kg.readers is not a kg.readers.Reader")
        register(reader, before="card")


def readers() -> list[Reader]:
    _load_plugins()
    return list(_READERS.values())


def formats() -> list[str]:
    return sorted(r.name for r in readers())


def reader(name: str) -> Reader:
    _load_plugins()
    try:
        return _READERS[name]
    except KeyError:
        raise IngestError(f"unknown format {name!r}", expected="one of " + ", ".join(formats())) from None


def get_reader(name: str) -> ReaderFn:
    return reader(name).load()


def study_suffixes() -> tuple[str, ...]:
    """File suffixes that `tkg ingest DIR` reads in a folder."""
    return tuple(dict.fromkeys(suffix for r in readers() for suffix in r.suffixes))


def detect_format(path: Path) -> str:
    """The format of a file: the first reader that claims it from its suffix and first bytes."""
    suffix = path.suffix.lower()
    head = read_head(path)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for candidate in readers():
        if candidate.claims(suffix, stripped):
            return candidate.name
    kinds = ", ".join(r.description for r in readers() if r.suffixes)
    raise IngestError("cannot tell the format of this file", where=str(path), expected=f"{kinds}; use --format to force one")


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
