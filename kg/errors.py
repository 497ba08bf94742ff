"""The project's exceptions: one hierarchy, each carrying what the user must know."""

from __future__ import annotations


class TkgError(Exception):
    """Base of every error tcell-kg reports to a user (one line, no traceback)."""

    def __init__(self, message: str, *, where: str | None = None, expected: str | None = None):
        self.message = message
        self.where = where
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.message)
        if self.expected:
            parts.append(f" (expected {self.expected})")
        return "".join(parts)


class IngestError(TkgError):
    """A source file could not be read into a study record."""


class RecordError(IngestError):
    """A curated record does not match its schema."""


class QueryError(TkgError):
    """A SPARQL query is malformed, refused, or failed."""


class QueryRefused(QueryError):
    """A query uses a feature the server does not allow (SERVICE, LOAD ...)."""


class QueryTimeout(QueryError):
    """A query ran past its time limit."""


class StoreError(TkgError):
    """The store could not be opened, read or written."""


class NoReleaseError(StoreError):
    """No published graph exists yet."""


class ValidationError(TkgError):
    """The graph or ontology failed validation."""


class ConfigError(TkgError):
    """A setting has an invalid value."""


def unexpected_file_error(path: object, exc: BaseException) -> IngestError:
    """One clear message for a file whose reading failed with something other than a TkgError
    (a YAML nested 50,000 deep: RecursionError; an integer of 100,000 digits: ValueError)."""
    if isinstance(exc, RecursionError):
        what = "the file is nested too deeply to read"
    elif isinstance(exc, MemoryError):
        what = "the file needs too much memory to read"
    else:
        what = f"the file could not be read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
    return IngestError(what, where=str(path), expected="a study file the readers accept")
