"""Shared test helpers, written once: the product's promises and a word-overlap fake embedder.

    assert_quotes_verbatim(answer, corpus_dir)  # every quote is text[start:end] of its article
    index_file(gen, "sentence-vectors")         # the pack of sentence vectors written last
    BagOfWords().embed(["Putin arrived"])       # cosine = content-word overlap
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import rag
from rag.corpus import load_document


def assert_quotes_verbatim(answer: rag.Answer, corpus_dir: str | Path) -> None:
    """Every citation's quote is the article text, as loaded, at [start:end]."""
    for c in answer.citations:
        text = load_document(Path(corpus_dir) / c.source).text
        assert text[c.start:c.end] == c.quote, c


def index_file(gen: Path, name: str) -> Path:
    """The file ``name`` of the index generation ``gen``; "sentence-vectors", "chunk-vectors" and
    "documents" name the pack (rag.packs) of those its save wrote last, whose file name carries
    a random tag."""
    if name in ("sentence-vectors", "chunk-vectors", "documents"):
        kind = "document" if name == "documents" else name.split("-")[0]
        listed = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["packs"][kind]
        return gen / listed[-1][0]
    return gen / name


_STOP = set("a an the of to in on and or is was were be by for with at as that this it he she".split())


class BagOfWords:
    """Deterministic fake Embedder: hashed lower-case content words, L2-normalised rows, so
    cosine = word overlap and tests can reason about which sentence is "close"."""

    name = "bag-of-words"
    fingerprint = "test"
    dim = 512

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word not in _STOP:
                    out[row, int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
