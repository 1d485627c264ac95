"""Protocols for the swappable parts: embedder, vector store and answer generator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .schema import Composition, Passage


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    name: str  # stable identifier recorded in the index manifest
    fingerprint: str  # hash of the weights (or of the fake's seed); stale-index detection
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class VectorStore(Protocol):
    """Inner-product search over normalised vectors; row i is chunk id i."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each of shape (k',) with k' <= k, best first."""
        ...

    def __len__(self) -> int: ...


@runtime_checkable
class AnswerGenerator(Protocol):
    """Writes a cited answer from retrieved passages."""

    def compose(self, question: str, query: str, passages: Sequence[Passage],
                on_token: Callable[[str], None] | None = None) -> Composition: ...
