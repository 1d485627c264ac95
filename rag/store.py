"""The index on disk: FAISS + plain JSONL/NumPy files + a manifest, swapped in atomically.

Layout of ``index_dir``::

    CURRENT                  name of the live generation folder (replaced atomically)
    gen-<stamp>/manifest.json   format version, model + weight hash, chunking, doc hashes,
                                checksums (below) and its own SHA-256
    gen-<stamp>/documents-<tag>.jsonl, document_rows.npy   the articles, one per line
                                (metadata, junk spans, full text; orjson) in packs shared by
                                hard link with the generation before (rag.packs); generations
                                written before hold them all in one documents.jsonl
    gen-<stamp>/sentences.npy   int64 rows [article, start, end, retrievable] per sentence
    gen-<stamp>/chunks.npy      int64 rows [article, start, end, first_sentence, n_sentences]
                                (article = row number in the document packs; generations
                                written before hold the same rows as sentences.jsonl and
                                chunks.jsonl with the article's name, and are still read)
    gen-<stamp>/sentence-vectors-<tag>.npy, chunk-vectors-<tag>.npy, *_vector_rows.npy
                                the vectors of a sentence-searching index (``searches_sentences``)
                                with exact search, in packs shared by hard link with the
                                generation before (rag.packs); FAISS is made from them at load
    gen-<stamp>/chunks.faiss    else: FAISS inner-product index over chunk vectors, or
    gen-<stamp>/sentences.faiss ... over sentence vectors (an HNSW graph, or written before packs)
    gen-<stamp>/chunk_vectors.npy, sentence_vectors.npy   float32, L2-normalised, beside a
                                FAISS file (sentence_vectors.npy only beside chunks.faiss)
    gen-<stamp>/bm25/           bm25s sparse matrices (npy + json)
    gen-<stamp>/terms.json, terms_offsets.npy, terms_ids.npy   every sentence's tokens

Nothing is pickled: NumPy files load with ``allow_pickle=False``. Nothing is read through
a link leading out of ``index_dir``: such a generation is corrupt (and rebuilt). A new
generation is written completely, then ``CURRENT`` is replaced with ``os.replace``: a
crash at any point leaves the previous generation live.

Checksums: the manifest holds the SHA-256 of every other file of its generation and of each
document's text, and a SHA-256 of itself. ``load`` verifies them before parsing anything, so
an edited document pack (valid JSON, changed text), shifted offsets or a flipped byte in
any file raise IndexCorruptError naming the file (and the documents), and the index is
rebuilt from the corpus instead of being served or reused. Verifying costs about one read
of the files (≈75 ms for a 2,000-article, 66 MB index whose load takes 0.35–1 s).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import orjson

from . import packs
from .chunking import text_hash
from .dense import ExactStore, FaissStore, exact_or_faiss
from .errors import IndexCorruptError
from .paths import file_sha256, real_path_inside
from .types import Chunk, Document, Sentence
from .sparse import BM25Index
from .tables import ChunkTable, SentenceTable, check_tables
from .terms import TERMS_ID, TermTable, term_table

FORMAT = "newsdesk-qa-index"
FORMAT_VERSION = 2  # 2: checksums of every file and document (older indexes are rebuilt)
MANIFEST = "manifest.json"
SEALS = ("checksums", "sha256", "packs")  # manifest keys about the files on disk, not the index data
_BLANK = "0" * 64  # the manifest's own checksum while it is computed
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexData:
    """Everything needed to answer questions; immutable once built (safe across threads)."""

    manifest: dict
    documents: dict[str, Document]  # in article order: sentences.docs holds the same, in order
    sentences: SentenceTable
    retrievable: np.ndarray  # bool per sentence
    chunks: ChunkTable
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    store: ExactStore | FaissStore  # or rag.pgstore.PgVectorSearch: search(query, k), len()
    bm25: BM25Index
    terms: TermTable  # every sentence's stemmed terms (term statistics are counted from it)

    @functools.cached_property
    def chunk_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) sentence id of every chunk, as int64 arrays in chunk order (both
        ascend: chunks follow their sentences' order)."""
        return self.chunks.bounds()

    def vector_cache(self, exclude: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """text hash -> vector for every sentence and chunk (reused when re-indexing), except
        those of the articles in ``exclude`` (whose rows the new index copies as they are) and
        the non-retrievable sentences, which may never have been embedded (zeros)."""
        kept = np.array([d.source not in exclude for d in self.sentences.docs], dtype=bool)
        cache = {text_hash(" ".join(self.chunks[i].text.split())): self.chunk_vectors[i]
                 for i in np.flatnonzero(kept[self.chunks.articles]).tolist()}
        rows = np.flatnonzero(kept[self.sentences.articles] & self.retrievable).tolist()
        cache.update({text_hash(" ".join(self.sentences.text(i).split())): self.sentence_vectors[i] for i in rows})
        return cache


def searches_sentences(manifest: dict) -> bool:
    """Whether dense search ranks sentences, a chunk scoring as its best sentence, instead of
    chunk vectors: in indexes whose chunk vectors are sentence means ("sentence-mean"). A mean
    blurs the one sentence that matches; its best sentence does not. Measured (hybrid search,
    right paragraph in the top 4 / top 1): 300 training-fold NQ questions against all 17,528
    paragraphs, means 0.543 / 0.373, best sentence 0.587 / 0.393, encoded chunks 0.580 / 0.387;
    BBC eval set MRR 0.961 -> 1.000 (encoded 0.990); seed set MRR 0.879 -> 0.886 (encoded 0.918)."""
    return manifest.get("chunking", {}).get("vectors") == "sentence-mean"


def dense_file(manifest: dict) -> str:
    """The FAISS file of a generation: over sentence or chunk vectors."""
    return "sentences.faiss" if searches_sentences(manifest) else "chunks.faiss"


def make_index_data(manifest: dict, documents: dict[str, Document], sentences: SentenceTable | Sequence[Sentence],
                    retrievable: np.ndarray, chunks: ChunkTable | Sequence[Chunk], chunk_vectors: np.ndarray,
                    sentence_vectors: np.ndarray, bm25: BM25Index | None = None,
                    store: FaissStore | None = None, terms: TermTable | None = None,
                    previous: IndexData | None = None) -> IndexData:
    """Assemble IndexData, building the FAISS and BM25 indexes and the term table when not given.

    Sentences and chunks come as tables (rag.tables) or as records, which are put in tables
    over ``documents``. Sentences are tokenized once (BM25 reads each chunk's tokens from the
    term table), and a sentence whose text ``previous`` (the last build) already tokenized is
    not tokenized again."""
    dim = int(manifest["dim"])
    if not isinstance(sentences, SentenceTable):
        sentences = SentenceTable.of(tuple(documents.values()), sentences)
    if not isinstance(chunks, ChunkTable):
        chunks = ChunkTable.of(sentences, chunks)
    if tuple(d.source for d in sentences.docs) != tuple(documents) or chunks.sentences is not sentences:
        raise ValueError("the sentence and chunk tables are not over these documents, in this order")
    # asarray, not astype: no copy of vectors that are float32 already (a big article's
    # sentence vectors are hundreds of MB)
    chunk_vectors = np.asarray(chunk_vectors, dtype=np.float32).reshape(-1, dim)
    sentence_vectors = np.asarray(sentence_vectors, dtype=np.float32).reshape(-1, dim)
    if terms is None:
        reusable = previous is not None and previous.manifest.get("terms") == TERMS_ID
        terms = term_table([sentences.text(i) for i in range(len(sentences))],
                           previous=(previous.terms, [previous.sentences.text(i) for i in range(len(previous.sentences))])
                           if reusable else None)
    if bm25 is None:
        bm25 = BM25Index.from_terms(terms, np.column_stack(chunks.bounds()))
    if store is None:
        store = exact_or_faiss(sentence_vectors) if searches_sentences(manifest) else FaissStore.from_vectors(chunk_vectors)
    if searches_sentences(manifest) and isinstance(store, (FaissStore, ExactStore)) and len(store) == len(sentence_vectors):
        # One copy of the sentence vectors: the store's own (the caller's matrix can go;
        # a 10k-article index kept 71 MB of them twice, in RAM and in the mapped index file).
        sentence_vectors = store.vectors()
    return IndexData(
        manifest=manifest, documents=documents, sentences=sentences,
        retrievable=np.asarray(retrievable, dtype=bool), chunks=chunks,
        chunk_vectors=chunk_vectors, sentence_vectors=sentence_vectors,
        store=store, bm25=bm25, terms=terms,
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
    """The live manifest (checksums included), or None when there is no index."""
    gen = current_generation(index_dir)
    return None if gen is None else _read_manifest_at(gen)


def _read_manifest_at(gen: Path) -> dict:
    """The manifest of ``gen``: a known format and version, bytes exactly as written."""
    try:
        raw = (gen / MANIFEST).read_bytes()
        manifest = orjson.loads(raw)
        known = manifest.get("format") == FORMAT and manifest.get("version") == FORMAT_VERSION
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexCorruptError(f"index file {MANIFEST!r} in {str(gen)!r} is unreadable: {exc}") from None
    if not known:
        raise IndexCorruptError(
            f"index in {str(gen)!r} has format {manifest.get('format')!r} version "
            f"{manifest.get('version')!r}; this code reads {FORMAT!r} version {FORMAT_VERSION}")
    if not _is_sealed(raw, manifest):
        raise IndexCorruptError(f"index file {MANIFEST!r} in {str(gen)!r} does not match its SHA-256 "
                                "checksum: it was edited or damaged after it was written")
    return manifest


def write_manifest(gen: Path, manifest: dict, known: dict[str, str] | None = None) -> None:
    """Write ``gen/manifest.json``: ``manifest`` plus the SHA-256 of every other file in ``gen``
    (``checksums.files``) and of the manifest itself (``sha256``). ``manifest`` brings
    ``checksums.documents`` ({source: text hash}); other checksums in it are replaced.
    ``known``: files whose checksum is already known (linked, unchanged packs), not read again."""
    known = known or {}
    files = {p.relative_to(gen).as_posix(): known.get(p.relative_to(gen).as_posix()) or file_sha256(p)
             for p in sorted(gen.rglob("*")) if p.is_file() and p != gen / MANIFEST}
    checksums = {"documents": manifest["checksums"]["documents"], "files": files}
    (gen / MANIFEST).write_bytes(_sealed({**manifest, "checksums": checksums}))


def _sealed(manifest: dict) -> bytes:
    """The bytes of ``manifest`` as written: indented JSON whose top-level ``sha256`` is the
    SHA-256 of these same bytes with that value blanked (zeros).

    >>> _sealed({"a": 1}) == _sealed({"a": 1, "sha256": "stale"})
    True
    >>> raw = _sealed({"a": 1}); _is_sealed(raw, json.loads(raw)), _is_sealed(raw + b" ", json.loads(raw))
    (True, False)
    """
    blank = _top_level_lines({**manifest, "sha256": _BLANK}).encode("utf-8")
    return blank.replace(_seal_field(_BLANK), _seal_field(hashlib.sha256(blank).hexdigest()), 1)


def _top_level_lines(manifest: dict) -> str:
    """JSON with one top-level key per line (indented by one space, sorted) and each value
    compact, written by orjson (an indented dump is pure Python: 0.23 s of a re-index at
    17.5k articles; json's C encoder 0.05-0.1 s). Manifests written before (fully indented,
    or with json's spaces) still verify: the seal is checked on the bytes.

    >>> print(_top_level_lines({"b": {"x": [1, 2]}, "a": 1}))
    {
     "a": 1,
     "b": {"x":[1,2]}
    }
    """
    lines = [f" {json.dumps(key)}: {orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode('utf-8')}"
             for key, value in sorted(manifest.items())]
    return "{\n" + ",\n".join(lines) + "\n}"


def _is_sealed(raw: bytes, manifest: dict) -> bool:
    """True when ``raw`` (parsed as ``manifest``) has not changed since ``_sealed`` wrote it."""
    digest = manifest.get("sha256")
    if not isinstance(digest, str) or len(digest) != len(_BLANK):
        return False
    blank = raw.replace(_seal_field(digest), _seal_field(_BLANK), 1)
    return blank != raw and hashlib.sha256(blank).hexdigest() == digest


def _seal_field(digest: str) -> bytes:
    return f'\n "sha256": "{digest}"'.encode("ascii")  # one space: the top level of indent=1


def _verify_files(gen: Path, manifest: dict) -> None:
    """IndexCorruptError naming the first file of ``gen`` that is missing, unexpected or changed."""
    listed = manifest["checksums"]["files"]
    present = {p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file()} - {MANIFEST}
    odd = sorted(present ^ set(listed))
    if odd:
        state = "is missing" if odd[0] in listed else "is not listed in the manifest"
        raise IndexCorruptError(f"index file {odd[0]!r} in {str(gen)!r} {state}")
    for name, expected in sorted(listed.items()):
        if file_sha256(gen / name) != expected:
            edited = _edited_documents(gen, manifest) if _holds_documents(name) else ""
            raise IndexCorruptError(f"index file {name!r} in {str(gen)!r} does not match its SHA-256 "
                                    f"checksum{edited}: it was edited or damaged after it was written")


def _holds_documents(name: str) -> bool:
    return name == "documents.jsonl" or (name.startswith("documents-") and name.endswith(".jsonl"))


def _edited_documents(gen: Path, manifest: dict) -> str:
    """' (changed documents: 'a.txt')' for a damaged file of articles, when it still parses."""
    try:
        texts = {row["source"]: row["text"] for row in _document_rows(gen, manifest.get("packs"))}
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    changed = _changed_documents(texts, manifest["checksums"]["documents"])
    return f" (changed documents: {', '.join(map(repr, changed))})" if changed else ""


def _changed_documents(texts: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Sources whose text hash differs from ``expected`` (or that only one side has).

    >>> _changed_documents({"a.txt": "x", "b.txt": "y"}, {"a.txt": text_hash("x"), "c.txt": "0"})
    ['b.txt', 'c.txt']
    """
    return sorted(s for s in texts.keys() | expected.keys()
                  if s not in texts or text_hash(texts[s]) != expected.get(s))


@dataclass(frozen=True)
class Unchanged:
    """Rows of the index being saved that are rows of the previous one (``manifest``):
    sentence ``new_sentences[i]`` is its sentence ``old_sentences[i]``, same for chunks. When
    that index is the live generation, ``save`` links its packs instead of writing them."""

    manifest: dict
    new_sentences: np.ndarray
    old_sentences: np.ndarray
    new_chunks: np.ndarray
    old_chunks: np.ndarray
    new_documents: np.ndarray  # article ``new_documents[i]`` is its article ``old_documents[i]``
    old_documents: np.ndarray


def unsealed(manifest: dict) -> dict:
    """``manifest`` without what describes its files on disk (``SEALS``): the index data."""
    return {k: v for k, v in manifest.items() if k not in SEALS}


def uses_packs(data: IndexData) -> bool:
    """Whether ``data`` is saved with its vectors in packs (rag.packs): a sentence-searching
    index whose search is exact (the vectors are all FAISS keeps). An HNSW graph is written
    whole, as its own file."""
    return searches_sentences(data.manifest) and getattr(data.store, "kind", None) == "exact"


def save(data: IndexData, index_dir: Path, unchanged: Unchanged | None = None) -> Path:
    """Write ``data`` as a new generation and make it live atomically; returns its folder.
    With ``unchanged`` (its rows that are the live generation's), the vectors already on disk
    are linked, not written again."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        previous = _live_previous(index_dir, unchanged)  # (folder, manifest) of the index ``unchanged`` is about
        carried = _carried(*previous, unchanged) if previous else {}
        docs = tuple(data.documents.values())
        # article = row of the document packs: the tables' article numbers (make_index_data checks the order)
        written, linked = {}, {}
        written["document"], linked = packs.write_line_packs(
            tmp, "document", len(docs), lambda i: orjson.dumps(_doc_row(docs[i])), carried.get("document"))
        np.save(tmp / "sentences.npy", np.column_stack([data.sentences.rows, data.retrievable.astype(np.int64)]),
                allow_pickle=False)
        np.save(tmp / "chunks.npy", data.chunks.rows, allow_pickle=False)
        if uses_packs(data):  # the FAISS index is made from the sentence vectors at load
            for kind, vectors in (("sentence", data.sentence_vectors), ("chunk", data.chunk_vectors)):
                written[kind], more = packs.write_packs(tmp, kind, vectors, carried.get(kind))
                linked.update(more)
        else:
            np.save(tmp / "chunk_vectors.npy", data.chunk_vectors, allow_pickle=False)
            if not searches_sentences(data.manifest):  # else sentences.faiss holds them
                np.save(tmp / "sentence_vectors.npy", data.sentence_vectors, allow_pickle=False)
            data.store.write(tmp / dense_file(data.manifest))
        write_sparse(data, tmp)
        write_manifest(tmp, {**data.manifest, "packs": written, "checksums": {
            "documents": _document_checksums(data, previous[1] if previous else None)}}, known=linked)
        _fsync_tree(tmp, skip=linked)  # linked packs are the live generation's files, on disk already
        os.replace(tmp, index_dir / name)
        pointer_tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
        pointer_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / "CURRENT")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_generations(index_dir, keep=name)
    return index_dir / name


def _live_previous(index_dir: Path, unchanged: Unchanged | None) -> tuple[Path, dict] | None:
    """(folder, sealed manifest) of the live generation when it is the index ``unchanged``
    describes (what a save may carry over from), else None."""
    if unchanged is None:
        return None
    try:
        gen = current_generation(index_dir)
        live = _read_manifest_at(gen) if gen is not None else None
    except (IndexCorruptError, OSError):
        return None
    return (gen, live) if live is not None and unsealed(live) == unsealed(unchanged.manifest) else None


def _carried(gen: Path, live: dict, unchanged: Unchanged) -> dict[str, packs.Carried]:
    """What each kind of rows may reuse of the live generation ``gen``: {kind: Carried} for the
    kinds it keeps in packs (the others are written whole)."""
    carried = {}
    for kind, new, old in (("sentence", unchanged.new_sentences, unchanged.old_sentences),
                           ("chunk", unchanged.new_chunks, unchanged.old_chunks),
                           ("document", unchanged.new_documents, unchanged.old_documents)):
        try:
            files, listed = live["checksums"]["files"], live.get("packs", {}).get(kind)
            if listed is None or file_sha256(gen / packs.rows_file(kind)) != files.get(packs.rows_file(kind)):
                continue  # not in packs, or damaged since it was written: not carried over
            carried[kind] = packs.Carried(gen, listed, files, packs.read_rows(gen, kind, listed), new, old)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return carried


def _document_checksums(data: IndexData, live: dict | None) -> dict[str, str]:
    """{source: SHA-256 of the text} for the manifest: taken from the live manifest for an
    article whose content hash is the same there (the same bytes give the same text: the
    loader and cleaning are settings the two indexes share), computed for the others."""
    content = data.manifest.get("documents", {})
    before = live.get("documents", {}) if live else {}
    sums = live.get("checksums", {}).get("documents", {}) if live else {}
    return {source: sums[source] if source in sums and content.get(source) and content.get(source) == before.get(source)
            else text_hash(doc.text) for source, doc in data.documents.items()}


def load(index_dir: Path) -> IndexData | None:
    """Read the live generation, or None when there is none.

    IndexCorruptError when it is damaged: a file missing, unreadable or not matching its
    checksum, a document whose text is not the text indexed, or tables that disagree."""
    gen = current_generation(index_dir)
    if gen is None:
        return None
    manifest = _read_manifest_at(gen)
    try:
        _verify_files(gen, manifest)
        data = _read_tables(gen, unsealed(manifest), manifest.get("packs"))
        changed = _changed_documents({s: d.text for s, d in data.documents.items()},
                                     manifest["checksums"]["documents"])
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as exc:
        raise IndexCorruptError(f"index files in {str(gen)!r} are damaged ({type(exc).__name__}: {exc}); "
                                "rebuild with `python -m rag index --rebuild`") from None
    if changed:
        raise IndexCorruptError(f"the articles stored in {str(gen)!r} hold text that differs from "
                                f"the text indexed for {', '.join(map(repr, changed))}")
    searched = len(data.sentences) if searches_sentences(manifest) else len(data.chunks)
    if (len(data.store) != searched or len(data.chunk_vectors) != len(data.chunks)
            or len(data.bm25) != len(data.chunks) or len(data.sentence_vectors) != len(data.sentences)):
        raise IndexCorruptError(f"index files in {str(gen)!r} disagree on sizes "
                                f"({len(data.chunks)} chunks, {len(data.store)} vectors, {len(data.sentences)} "
                                f"sentences, {len(data.sentence_vectors)} sentence vectors); rebuild the index")
    return data


def _read_tables(gen: Path, manifest: dict, stored: dict | None = None) -> IndexData:
    """Parse the (verified) files of ``gen`` (``stored``: its vector packs, if it has them)."""
    documents = {row["source"]: _doc_from_row(row) for row in _document_rows(gen, stored)}
    docs = tuple(documents.values())
    if (gen / "sentences.npy").exists():
        sentence_rows = _int_table(gen / "sentences.npy", 4)
        sentences = SentenceTable(docs, sentence_rows[:, :3])
        retrievable = sentence_rows[:, 3].astype(bool)
        chunks = ChunkTable(sentences, _int_table(gen / "chunks.npy", 5))
        check_tables(sentences, chunks)
    else:  # a generation written before the tables were NumPy files
        article = {source: i for i, source in enumerate(documents)}
        rows = _read_jsonl(gen / "sentences.jsonl")
        sentences = SentenceTable(docs, [(article[a], b, c) for a, b, c, _ in rows])
        retrievable = np.array([bool(d) for *_, d in rows], dtype=bool)
        chunks = ChunkTable(sentences, [(article[a], b, c, d, e) for a, b, c, d, e in _read_jsonl(gen / "chunks.jsonl")])
    bm25, terms = read_sparse(gen, len(sentences))
    if stored is not None and "sentence" in stored:
        dim = int(manifest["dim"])
        store = exact_or_faiss(packs.read_packs(gen, "sentence", stored.get("sentence", []), dim))
        return make_index_data(manifest, documents, sentences, retrievable, chunks,
                               packs.read_packs(gen, "chunk", stored.get("chunk", []), dim), store.vectors(),
                               bm25=bm25, store=store, terms=terms)
    chunk_vectors = np.load(gen / "chunk_vectors.npy", allow_pickle=False)
    dense = gen / dense_file(manifest)
    # a "sentence-mean" generation written before sentence search has chunks.faiss only: its
    # sentence vectors are on disk, so the sentence index is made from them (make_index_data)
    # sentences.faiss is read into memory: the index's vectors are the sentence vectors
    # (make_index_data), and a mapped file puts them unaligned, which NumPy would copy for every
    # product. chunks.faiss (searched by FAISS alone) stays memory-mapped.
    store = (FaissStore.read(dense, mmap=not searches_sentences(manifest))
             if dense.exists() or not searches_sentences(manifest) else None)
    if (gen / "sentence_vectors.npy").exists():  # beside chunks.faiss, or written before
        sentence_vectors = np.load(gen / "sentence_vectors.npy", allow_pickle=False)
    elif store is not None and searches_sentences(manifest):
        sentence_vectors = store.vectors()  # sentences.faiss is where they are kept
    else:
        raise ValueError("the generation has neither sentence_vectors.npy nor sentences.faiss")
    return make_index_data(manifest, documents, sentences, retrievable, chunks,
                           chunk_vectors, sentence_vectors, bm25=bm25, store=store, terms=terms)


def write_sparse(data: IndexData, folder: Path) -> None:
    """The sparse side of a generation into ``folder``: ``bm25/`` and the term table
    (``terms.json``, ``terms_offsets.npy``, ``terms_ids.npy``). The PostgreSQL backend stores
    the same files' bytes."""
    (folder / "bm25").mkdir()
    data.bm25.save(folder / "bm25")
    (folder / "terms.json").write_text(json.dumps(data.terms.vocabulary, ensure_ascii=False), encoding="utf-8")
    np.save(folder / "terms_offsets.npy", data.terms.offsets, allow_pickle=False)
    np.save(folder / "terms_ids.npy", data.terms.ids, allow_pickle=False)


def read_sparse(folder: Path, n_sentences: int) -> tuple[BM25Index | None, TermTable | None]:
    """What ``write_sparse`` wrote; None for a part a generation does not have (it is
    rebuilt from the text by ``make_index_data``, as for generations written before it)."""
    bm25 = BM25Index.load(folder / "bm25") if (folder / "bm25" / "size.txt").exists() else None
    terms = None
    if (folder / "terms.json").exists():
        terms = TermTable(tuple(json.loads((folder / "terms.json").read_text(encoding="utf-8"))),
                          np.load(folder / "terms_offsets.npy", allow_pickle=False),
                          np.load(folder / "terms_ids.npy", allow_pickle=False))
        if len(terms.offsets) != n_sentences + 1:
            raise ValueError(f"terms_offsets.npy covers {len(terms.offsets) - 1} sentences, not {n_sentences}")
    return bm25, terms


def _int_table(path: Path, width: int) -> np.ndarray:
    table = np.load(path, allow_pickle=False)
    if table.dtype != np.int64 or table.ndim != 2 or table.shape[1] != width:
        raise ValueError(f"{path.name} holds {table.dtype} {table.shape}, not int64 rows of {width}")
    return table



def _doc_row(doc: Document) -> dict:
    return {"source": doc.source, "title": doc.title, "outlet": doc.outlet,
            "published": doc.published.isoformat() if doc.published else None, "url": doc.url,
            "author": doc.author, "content_hash": doc.content_hash, "pages": [list(p) for p in doc.pages],
            "junk": [list(j) for j in doc.junk], "text": doc.text}


def _doc_from_row(row: dict) -> Document:
    return Document(source=row["source"], text=row["text"], title=row["title"], outlet=row["outlet"],
                    published=date.fromisoformat(row["published"]) if row["published"] else None,
                    url=row["url"], author=row.get("author"), content_hash=row["content_hash"],
                    pages=tuple(tuple(p) for p in row["pages"]), junk=tuple(tuple(j) for j in row["junk"]))


def _document_rows(gen: Path, stored: dict | None) -> list[dict]:
    """The article rows of ``gen`` in article order: from its document packs, or from the
    ``documents.jsonl`` of a generation written before them."""
    if stored is not None and not isinstance(stored, dict):
        raise ValueError(f"the manifest's packs are {type(stored).__name__}, not a mapping")
    if stored is None or "document" not in stored:
        return _read_jsonl(gen / "documents.jsonl")
    return [orjson.loads(line) for line in packs.read_line_packs(gen, "document", stored["document"])]


def _read_jsonl(path: Path) -> list:
    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


def _fsync_tree(folder: Path, skip: dict | set = frozenset()) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.relative_to(folder).as_posix() not in skip:
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def tidy(index_dir: Path) -> None:
    """Remove what is not the live generation: older generations and what an interrupted
    build left (a build with nothing to write still tidies, as a save does)."""
    gen = current_generation(index_dir)
    if gen is not None:
        _remove_old_generations(Path(index_dir), keep=gen.name)


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    """Delete every generation but ``keep``, and what an interrupted build left behind
    (an unfinished ``.tmp-gen-*`` folder, a ``.CURRENT.*`` pointer), saying so."""
    for path in index_dir.iterdir():
        leftover = path.name.startswith((".tmp-gen-", ".CURRENT."))
        if not leftover and not (path.name.startswith("gen-") and path.name != keep):
            continue
        # A reader in another process may still hold the old files open; on POSIX
        # that is safe (open files survive unlinking). Links are removed, never followed.
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if leftover:
            log.warning("removed %r from the index folder %r: an interrupted build left it unfinished; "
                        "the live index was not affected", path.name, str(index_dir))
