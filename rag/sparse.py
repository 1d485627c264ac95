"""BM25 keyword search over chunk texts (bm25s: sparse matrices, no per-query Python loop)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from .terms import tokenize

logging.getLogger("bm25s").setLevel(logging.ERROR)


class BM25Index:
    """BM25 over a fixed list of texts; row i is text i."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._model = model
        self._size = size
        self._vocab = set(getattr(model, "vocab_dict", None) or ())

    @classmethod
    def build(cls, texts: Sequence[str]) -> "BM25Index":
        """BM25 over ``texts``, tokenized here."""
        return cls.from_tokens(tokenize(texts))

    @classmethod
    def from_tokens(cls, documents: Sequence[Sequence[str]]) -> "BM25Index":
        """BM25 over documents already tokenized with ``rag.terms.tokenize``."""
        model = bm25s.BM25()
        if documents:
            model.index([list(d) for d in documents], show_progress=False)
        return cls(model, len(documents))

    def save(self, folder: Path) -> None:
        if self._size:
            self._model.save(str(folder), show_progress=False)
        (Path(folder) / "size.txt").write_text(str(self._size))

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        size = int((Path(folder) / "size.txt").read_text())
        if size == 0:
            return cls(bm25s.BM25(), 0)
        model = bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False)
        return cls(model, size)

    def __len__(self) -> int:
        return self._size

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the best ``k`` texts with a positive score, best first."""
        tokens = [t for t in tokenize([query])[0] if t in self._vocab]
        k = min(k, self._size)
        if not tokens or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        weight_mask = None if mask is None else mask.astype(np.float32)
        ids, scores = self._model.retrieve([tokens], k=k, show_progress=False, n_threads=0,
                                           weight_mask=weight_mask)
        ids, scores = ids[0].astype(np.int64), scores[0].astype(np.float32)
        keep = scores > 0
        return scores[keep], ids[keep]
