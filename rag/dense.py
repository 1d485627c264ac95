"""Dense search over chunk vectors: FAISS, exact or an HNSW graph by the index's size.

The store (``rag.store``) writes and memory-maps it with each generation; the PostgreSQL
backend (``rag.pgstore.PgVectorSearch``) offers the same ``search``/``len`` interface.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

# Below this many chunk vectors, search is exact; at or above it, an HNSW graph. Measured on
# real all-MiniLM-L6-v2 vectors (bench/results-ann.md, 2 cores): exact p50 15 ms at 100k and
# 43 ms at 300k (it grows linearly: 138 ms at 1M); HNSW M=32, efSearch=256 answers in 1.4-1.7 ms
# with recall@10 vs exact 0.979 at 100k and 0.986 at 300k, and builds in 26 s / 105 s.
EXACT_LIMIT = 200_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256


class FaissStore:
    """Inner-product search over normalised chunk vectors: exact (``IndexFlatIP``) below
    ``exact_limit`` vectors, an HNSW graph (``IndexHNSWFlat``) from there on."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index
        hnsw = getattr(index, "hnsw", None)
        if hnsw is not None:  # not every FAISS version keeps efSearch in the file
            hnsw.efSearch = HNSW_EF_SEARCH

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, exact_limit: int = EXACT_LIMIT) -> "FaissStore":
        dim = vectors.shape[1]
        if len(vectors) < exact_limit:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @property
    def kind(self) -> str:
        """"exact" or "hnsw" (what the manifest and the CLI report)."""
        return "hnsw" if hasattr(self._index, "hnsw") else "exact"

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._index.ntotal)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep].astype(np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def vectors(self) -> np.ndarray:
        """The stored vectors as a read-only float32 (n, dim) array over FAISS's own memory:
        no second copy (except of a memory-mapped file's unaligned buffer, copied once). The
        array keeps the index alive, so it stays valid after the store is dropped."""
        flat = faiss.downcast_index(self._index.storage) if hasattr(self._index, "hnsw") else self._index
        n, dim = int(flat.ntotal), int(flat.d)
        if n == 0:
            return np.zeros((0, dim), dtype=np.float32)
        raw = faiss.rev_swig_ptr(flat.get_xb(), n * dim).reshape(n, dim)
        view = np.asarray(_Owned(raw, self._index))
        # NumPy copies an unaligned array on every product (a memory-mapped FAISS file puts its
        # vectors at any offset): such an array is copied once here instead.
        return view if view.flags.aligned else np.require(view, requirements="A")

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def read(cls, path: Path, mmap: bool = True) -> "FaissStore":
        """Load a written index. With ``mmap`` its vectors are memory-mapped, not copied (the
        OS pages them in as searches touch them, and processes serving one index share them);
        without, they are read into memory, aligned, for ``vectors()`` to hand to NumPy."""
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC) if mmap else faiss.read_index(str(path)))


class ExactStore:
    """Exact inner-product search over a float32 matrix that NumPy holds, not copied: what
    ``FaissStore``'s exact index does (one matrix-vector product, then the top k), without
    FAISS's copy of the vectors. A sentence-searching index below ``EXACT_LIMIT`` uses it: its
    vectors are built (or gathered from their packs) in one matrix, and copying 92 MB into
    FAISS took 0.07 s of every re-index and load at 17.5k articles. Measured on 60,000 unit
    vectors, one thread: 4.5 ms per query, FAISS's flat index 4.4 ms."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a (n, dim) matrix, not {vectors.shape}")
        vectors = vectors if vectors.flags.c_contiguous and vectors.flags.aligned else np.ascontiguousarray(vectors)
        view = vectors.view()
        view.flags.writeable = False
        self._vectors = view

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._vectors)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores = self._vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        best = top[np.lexsort((top, -scores[top]))]  # equal scores: the lower id first (deterministic)
        return scores[best].astype(np.float32), best.astype(np.int64)

    def __len__(self) -> int:
        return len(self._vectors)

    def vectors(self) -> np.ndarray:
        """The searched vectors, read-only (the matrix itself, no copy)."""
        return self._vectors

    def write(self, path: Path) -> None:
        """As a FAISS exact index file (what ``FaissStore.read`` reads)."""
        index = faiss.IndexFlatIP(self._vectors.shape[1])
        if len(self._vectors):
            index.add(self._vectors)
        faiss.write_index(index, str(path))


def exact_or_faiss(vectors: np.ndarray, exact_limit: int = EXACT_LIMIT) -> ExactStore | FaissStore:
    """The search a sentence-searching index keeps: ``ExactStore`` below ``exact_limit``
    vectors, else ``FaissStore``'s HNSW graph."""
    return ExactStore(vectors) if len(vectors) < exact_limit else FaissStore.from_vectors(vectors, exact_limit)


class _Owned:
    """An array's memory (``__array_interface__``, read-only) plus the object that owns it:
    ``np.asarray`` of this makes an array whose ``base`` keeps ``owner`` alive."""

    def __init__(self, array: np.ndarray, owner: object) -> None:
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], True)
        self.__array_interface__ = interface
        self.owner = owner
