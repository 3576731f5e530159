"""Moved to `genlab.store` (the store has no UI in it); this name stays until every import has moved."""

from genlab.store import ModelStore  # noqa: F401

__all__ = ["ModelStore"]
