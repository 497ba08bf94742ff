"""tcell-kg: a knowledge graph of T cell-based cancer therapies and their barriers."""

from .errors import IngestError, QueryError, StoreError, TkgError, ValidationError
from .graph import KnowledgeGraph

__all__ = ["KnowledgeGraph", "TkgError", "IngestError", "QueryError", "StoreError", "ValidationError"]
__version__ = "0.1.0"
