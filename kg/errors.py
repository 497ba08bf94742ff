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
