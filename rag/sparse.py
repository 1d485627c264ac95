"""BM25 keyword search over chunk texts (bm25s: sparse matrices, no per-query Python loop)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse

from .terms import TermTable, bm25s, tokenize

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
        """BM25 over documents already tokenized with ``rag.terms.tokenize`` (bm25s's own
        ``index``: a Python loop per document)."""
        model = bm25s.BM25()
        if documents:
            model.index([list(d) for d in documents], show_progress=False)
        return cls(model, len(documents))

    @classmethod
    def from_terms(cls, terms: TermTable, spans: Sequence[tuple[int, int]]) -> "BM25Index":
        """BM25 over documents given as sentence spans ``(first, last)`` of a term table (a
        chunk's tokens are its sentences' tokens in order), computed with whole arrays (NumPy, SciPy).

        The same matrix as bm25s's ``index`` over the same tokens (a test compares them):
        bm25s's default Lucene variant, idf = ln(1 + (N - df + 0.5) / (df + 0.5)) and
        tf / (tf + k1 (1 - b + b dl / avgdl)), in the same float64 steps cast to float32.
        bm25s counts each document's terms in a Python loop (11.8 s of a re-index at 17.5k
        NQ paragraphs); this counts them all at once with SciPy. The model is bm25s's, so
        search, ``save`` and ``load`` are bm25s's too.
        """
        model = bm25s.BM25()
        n_docs = len(spans)
        if not n_docs:
            return cls(model, 0)
        vocab_dict = {term: i for i, term in enumerate(terms.vocabulary)}
        vocab_dict.setdefault("", len(vocab_dict))  # as bm25s's index(create_empty_token=True)
        n_vocab = len(vocab_dict)
        bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        starts, ends = terms.offsets[bounds[:, 0]], terms.offsets[bounds[:, 1] + 1]
        lengths = (ends - starts).astype(np.int64)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        position = np.arange(len(doc_of), dtype=np.int64) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        # term frequencies as a (document x term) CSC matrix: SciPy counts the pairs with a
        # counting sort (15 ms at 17.5k NQ paragraphs; a comparison sort of the pairs took 0.15 s)
        counts = scipy.sparse.csc_matrix((np.ones(len(doc_of), dtype=np.float32), (doc_of, terms.ids[position])),
                                         shape=(n_docs, n_vocab))
        counts.sum_duplicates()  # columns (terms) in order, documents ascending in each
        tf, doc = counts.data.astype(np.float32), counts.indices.astype(np.int64)
        df = np.diff(counts.indptr).astype(np.int64)
        token = np.repeat(np.arange(n_vocab, dtype=np.int64), df)
        idf = np.zeros(n_vocab, dtype=np.float32)
        seen = df > 0
        idf[seen] = np.log(1 + (n_docs - df[seen] + 0.5) / (df[seen] + 0.5))
        k1, b = model.k1, model.b
        norm = k1 * ((1 - b) + b * lengths[doc] / lengths.mean())
        scores = (idf[token].astype(np.float64) * (tf / (norm + tf))).astype(np.float32)
        index_type = np.int32 if len(scores) < 2**31 else np.int64
        indptr = np.r_[0, np.cumsum(df)].astype(index_type)
        # what bm25s.BM25.index sets (bm25s 0.3.16)
        model.scores = {"data": scores, "indices": doc.astype(index_type), "indptr": indptr,
                        "num_docs": n_docs}
        model.vocab_dict = vocab_dict
        model.nonoccurrence_array = None  # only BM25L and BM25+ use it
        model.unique_token_ids_set = set(vocab_dict.values())
        return cls(model, n_docs)

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
