"""The index on disk: FAISS + plain JSONL/NumPy files + a manifest, swapped in atomically.

Layout of ``index_dir``::

    CURRENT                  name of the live generation folder (replaced atomically)
    gen-<stamp>/manifest.json   format version, model + weight hash, chunking, doc hashes
    gen-<stamp>/documents.jsonl one article per line: metadata, junk spans, full text
    gen-<stamp>/sentences.jsonl [source, start, end, retrievable] per sentence
    gen-<stamp>/chunks.jsonl    [source, start, end, first_sentence, n_sentences] per chunk
    gen-<stamp>/chunks.faiss    FAISS inner-product index over chunk vectors
    gen-<stamp>/chunk_vectors.npy, sentence_vectors.npy   float32, L2-normalised
    gen-<stamp>/bm25/           bm25s sparse matrices (npy + json)

Nothing is pickled: NumPy files load with ``allow_pickle=False``. Nothing is read through
a link leading out of ``index_dir``: such a generation is corrupt (and rebuilt). A new
generation is written completely, then ``CURRENT`` is replaced with ``os.replace``: a
crash at any point leaves the previous generation live.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import faiss
import numpy as np

from .chunking import text_hash
from .errors import IndexCorruptError
from .paths import real_path_inside
from .types import Chunk, Document, Sentence
from .sparse import BM25Index

FORMAT = "newsdesk-qa-index"
FORMAT_VERSION = 1


class FaissStore:
    """Exact inner-product search (``IndexFlatIP``) over normalised chunk vectors."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def from_vectors(cls, vectors: np.ndarray) -> "FaissStore":
        index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._index.ntotal)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep].astype(np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def write(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def read(cls, path: Path) -> "FaissStore":
        return cls(faiss.read_index(str(path)))


@dataclass(frozen=True)
class IndexData:
    """Everything needed to answer questions; immutable once built (safe across threads)."""

    manifest: dict
    documents: dict[str, Document]
    sentences: list[Sentence]
    retrievable: np.ndarray  # bool per sentence
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    store: FaissStore
    bm25: BM25Index

    def vector_cache(self) -> dict[str, np.ndarray]:
        """text hash -> vector for every sentence and chunk (reused when re-indexing)."""
        cache = {text_hash(" ".join(c.text.split())): self.chunk_vectors[c.id] for c in self.chunks}
        cache.update({text_hash(" ".join(s.text.split())): self.sentence_vectors[s.id] for s in self.sentences})
        return cache


def make_index_data(manifest: dict, documents: dict[str, Document], sentences: list[Sentence],
                    retrievable: np.ndarray, chunks: list[Chunk], chunk_vectors: np.ndarray,
                    sentence_vectors: np.ndarray, bm25: BM25Index | None = None,
                    store: FaissStore | None = None) -> IndexData:
    """Assemble IndexData, building the FAISS and BM25 indexes when not given."""
    dim = int(manifest["dim"])
    chunk_vectors = chunk_vectors.reshape(-1, dim).astype(np.float32)
    sentence_vectors = sentence_vectors.reshape(-1, dim).astype(np.float32)
    return IndexData(
        manifest=manifest, documents=documents, sentences=sentences,
        retrievable=np.asarray(retrievable, dtype=bool), chunks=chunks,
        chunk_vectors=chunk_vectors, sentence_vectors=sentence_vectors,
        store=store or FaissStore.from_vectors(chunk_vectors),
        bm25=bm25 or BM25Index.build([c.text for c in chunks]),
    )


def current_generation(index_dir: Path) -> Path | None:
    """Folder of the live generation, or None when no index has been written yet.

    IndexCorruptError when ``CURRENT`` is not a generation name, or when it or any file of
    the generation is a link leading out of ``index_dir``."""
    pointer = Path(index_dir) / "CURRENT"
    if not pointer.exists():
        return None
    raw = real_path_inside(pointer, index_dir, IndexCorruptError, "index pointer").read_bytes()
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexCorruptError(f"index pointer {str(pointer)!r} is not UTF-8 text: {raw[:40]!r}") from None
    if not name.startswith("gen-") or "/" in name or not (Path(index_dir) / name).is_dir():
        raise IndexCorruptError(f"index pointer {str(pointer)!r} names a missing generation {name!r}")
    gen = Path(index_dir) / name
    for path in (gen, *gen.rglob("*")):
        real_path_inside(path, index_dir, IndexCorruptError, "index file")
    return gen


def read_manifest(index_dir: Path) -> dict | None:
    """The live manifest, or None when there is no index."""
    gen = current_generation(index_dir)
    if gen is None:
        return None
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"index manifest in {str(gen)!r} is unreadable: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"index in {str(gen)!r} has format {manifest.get('format')!r} version "
            f"{manifest.get('version')!r}; this code reads {FORMAT!r} version {FORMAT_VERSION}")
    return manifest


def save(data: IndexData, index_dir: Path) -> Path:
    """Write ``data`` as a new generation and make it live atomically; returns its folder."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        _write_jsonl(tmp / "documents.jsonl", (_doc_row(d) for d in data.documents.values()))
        _write_jsonl(tmp / "sentences.jsonl",
                     ([s.source, s.start, s.end, bool(r)] for s, r in zip(data.sentences, data.retrievable)))
        _write_jsonl(tmp / "chunks.jsonl",
                     ([c.source, c.start, c.end, c.sentence_ids[0], len(c.sentence_ids)] for c in data.chunks))
        np.save(tmp / "chunk_vectors.npy", data.chunk_vectors, allow_pickle=False)
        np.save(tmp / "sentence_vectors.npy", data.sentence_vectors, allow_pickle=False)
        data.store.write(tmp / "chunks.faiss")
        (tmp / "bm25").mkdir()
        data.bm25.save(tmp / "bm25")
        (tmp / "manifest.json").write_text(json.dumps(data.manifest, indent=1, sort_keys=True), encoding="utf-8")
        _fsync_tree(tmp)
        os.replace(tmp, index_dir / name)
        pointer_tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / "CURRENT")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_generations(index_dir, keep=name)
    return index_dir / name


def load(index_dir: Path) -> IndexData | None:
    """Read the live generation, or None when there is none; IndexCorruptError if damaged."""
    manifest = read_manifest(index_dir)
    if manifest is None:
        return None
    gen = current_generation(index_dir)
    assert gen is not None
    try:
        documents = {row["source"]: _doc_from_row(row) for row in _read_jsonl(gen / "documents.jsonl")}
        sentences, retrievable = [], []
        for i, (source, start, end, ok) in enumerate(_read_jsonl(gen / "sentences.jsonl")):
            sentences.append(Sentence(i, source, start, end, documents[source].text[start:end]))
            retrievable.append(ok)
        chunks = []
        for i, (source, start, end, first, count) in enumerate(_read_jsonl(gen / "chunks.jsonl")):
            ids = tuple(range(first, first + count))
            text = " ".join(" ".join(sentences[j].text.split()) for j in ids)
            chunks.append(Chunk(i, source, start, end, ids, text))
        chunk_vectors = np.load(gen / "chunk_vectors.npy", allow_pickle=False)
        sentence_vectors = np.load(gen / "sentence_vectors.npy", allow_pickle=False)
        store = FaissStore.read(gen / "chunks.faiss")
        bm25 = BM25Index.load(gen / "bm25")
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise IndexCorruptError(f"index files in {str(gen)!r} are damaged ({type(exc).__name__}: {exc}); "
                                "rebuild with `python -m rag index --rebuild`") from None
    if (len(store) != len(chunks) or len(chunk_vectors) != len(chunks) or len(bm25) != len(chunks)
            or len(sentence_vectors) != len(sentences)):
        raise IndexCorruptError(f"index files in {str(gen)!r} disagree on sizes "
                                f"({len(chunks)} chunks, {len(store)} vectors, {len(sentences)} sentences, "
                                f"{len(sentence_vectors)} sentence vectors); rebuild the index")
    return make_index_data(manifest, documents, sentences, np.array(retrievable, dtype=bool), chunks,
                           chunk_vectors, sentence_vectors, bm25=bm25, store=store)


def _doc_row(doc: Document) -> dict:
    return {"source": doc.source, "title": doc.title, "outlet": doc.outlet,
            "published": doc.published.isoformat() if doc.published else None, "url": doc.url,
            "content_hash": doc.content_hash, "pages": [list(p) for p in doc.pages],
            "junk": [list(j) for j in doc.junk], "text": doc.text}


def _doc_from_row(row: dict) -> Document:
    return Document(source=row["source"], text=row["text"], title=row["title"], outlet=row["outlet"],
                    published=date.fromisoformat(row["published"]) if row["published"] else None,
                    url=row["url"], content_hash=row["content_hash"],
                    pages=tuple(tuple(p) for p in row["pages"]), junk=tuple(tuple(j) for j in row["junk"]))


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    for path in index_dir.iterdir():
        if path.is_dir() and path.name != keep and (path.name.startswith("gen-") or path.name.startswith(".tmp-gen-")):
            # A reader in another process may still hold the old files open; on POSIX
            # that is safe (open files survive unlinking).
            shutil.rmtree(path, ignore_errors=True)
