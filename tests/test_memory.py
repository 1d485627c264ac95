"""A big article is indexed with memory near the size of what the index keeps (issue 11: a
20 MB text used to peak at 1.5 GB): vectors are written once into one matrix, never held in
a dict, stacked and converted again, and the finished index shares that matrix."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import numpy as np

from rag import indexer
from rag.config import Config
from rag.embedding import load_embedder


def big_article(path: Path, chars: int = 400_000) -> Path:
    """Made-up prose: distinct sentences of random words (no two texts alike)."""
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    paragraphs, size = [], 0
    while size < chars:
        para = " ".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 18))).capitalize() + "."
                        for _ in range(5))
        paragraphs.append(para)
        size += len(para) + 2
    path.mkdir(parents=True, exist_ok=True)
    (path / "big.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def test_embedding_a_big_article_peaks_near_the_size_of_its_vectors(tmp_path: Path, monkeypatch) -> None:
    config = Config(corpus_dir=big_article(tmp_path / "corpus"), index_dir=tmp_path / "index", model="hash")
    embedder = load_embedder("hash")
    seen: dict[str, object] = {}
    real_embed = indexer._embed

    def measured_embed(*args, **kwargs):
        tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = real_embed(*args, **kwargs)
        seen["embed_peak"] = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        seen["sentence_vectors"] = out[1]
        return out

    monkeypatch.setattr(indexer, "_embed", measured_embed)
    data, report = indexer.build_index(config, embedder)
    vectors = seen["sentence_vectors"]
    assert report.sentences > 4_000 and vectors.shape == (report.sentences, embedder.dim)
    # Before: every vector lived in a dict, then in np.stack's copy, then in astype's (3.5x).
    assert seen["embed_peak"] <= 2.0 * vectors.nbytes, (seen["embed_peak"], vectors.nbytes)
    # The finished index keeps one copy of the vectors: the FAISS index's own (the build's
    # matrix is dropped once FAISS has copied it; no float32 -> float32 copy besides).
    np.testing.assert_array_equal(data.sentence_vectors, vectors)
    assert np.shares_memory(data.sentence_vectors, data.store.vectors())
