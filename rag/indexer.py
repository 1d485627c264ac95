"""Build or incrementally update the index for a corpus folder.

Unchanged articles (same content hash) keep their sentences, chunks and vectors; changed
or new ones are re-segmented, and only texts whose hash is not already embedded are sent
to the model. Builds take a file lock, so two processes never write the index at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from . import store
from .chunking import chunk_document, text_hash
from .cleaning import CLEANING_ID
from .config import Config
from .corpus import LOADER_ID, META_SUFFIX, corpus_folder, file_hash, is_article, load_document
from .embedding import normalise
from .errors import CorpusError, IndexCorruptError, RagError
from .journal import Journal
from .types import Chunk, Document
from .segment import SEGMENTER_ID
from .store import IndexData, make_index_data
from .tables import ChunkTable, SentenceTable, copy_rows, ranges
from .terms import TERMS_ID, updated_term_table

Progress = Callable[[str, int, int], None]  # (stage, done, total)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What a build did."""

    documents: int  # articles in the index now
    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    skipped: tuple[tuple[str, str], ...]  # (file name, reason) for unreadable articles
    embedded: int  # texts sent to the model (0 when nothing changed)
    chunks: int
    sentences: int
    seconds: float
    # Why the index on disk was not reused as it was: damaged, built with another model or
    # other settings (rebuilt from the corpus), or for another corpus folder. None normally.
    repaired: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def corpus_state(corpus_dir: Path) -> dict[str, list]:
    """{file name: [size, mtime_ns]} for articles and sidecars: a cheap change detector.

    A link gets [size, mtime_ns, "link"] (of its target), so turning a file into a link,
    which the next build refuses when it leads out of the corpus, is a change too."""
    state = {}
    for entry in os.scandir(corpus_dir):
        if entry.is_file() and not entry.name.startswith("."):
            try:
                st = entry.stat()
            except FileNotFoundError:  # removed since the folder was listed: it is not there now
                continue
            state[entry.name] = [st.st_size, st.st_mtime_ns] + (["link"] if entry.is_symlink() else [])
    return state


def model_settings(embedder) -> dict:
    """The manifest fields naming the embedding model: an index built with another cannot
    answer a question embedded with this one at all."""
    return {"model": embedder.name, "model_fingerprint": embedder.fingerprint, "dim": embedder.dim}


def expected_settings(config: Config, embedder) -> dict:
    """The manifest fields that must match for an index to be reusable."""
    return {
        **model_settings(embedder),
        "chunking": {"sentences": config.chunk_sentences, "overlap": config.chunk_overlap,
                     "vectors": config.chunk_vectors,
                     "segmenter": SEGMENTER_ID, "cleaning": CLEANING_ID,
                     "loader": LOADER_ID},
    }


def incompatibility(manifest: dict, config: Config, embedder) -> str | None:
    """The first setting ``manifest`` was built with that differs from these, else None.

    >>> from rag.embedding import load_embedder
    >>> incompatibility({"model": "other"}, Config(model="hash"), load_embedder("hash"))
    "model 'other', not 'hash-256'"
    """
    for key, value in expected_settings(config, embedder).items():
        if manifest.get(key) != value:
            return f"{key} {manifest.get(key)!r}, not {value!r}"
    return None


def build_index(config: Config, embedder, *, rebuild: bool = False,
                progress: Progress | None = None, previous: IndexData | None = None,
                lock_timeout: float = 600.0) -> tuple[IndexData, IndexReport]:
    """Bring the index in ``config.index_dir`` up to date with ``config.corpus_dir``."""
    started = time.perf_counter()
    index_dir = Path(config.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(index_dir / ".build.lock"), timeout=lock_timeout):
            old, repaired = (None, None) if rebuild else _reusable(config, embedder, previous)
            if repaired:
                log.warning("%s", repaired)
            return _build(config, embedder, old, progress, started, repaired)
    except Timeout:
        raise RagError(f"another process has been building the index in {str(index_dir)!r} "
                       f"for over {lock_timeout:.0f} s; try again later") from None


def load_index(config: Config) -> IndexData | None:
    """The live index: from ``config.database_url`` when set (rag.pgstore), else the files in
    ``config.index_dir`` (rag.store). None when none was built yet."""
    if config.database_url:
        from . import pgstore

        return pgstore.load(config.database_url, config.database_index)
    return store.load(config.index_dir)


def save_index(data: IndexData, config: Config, unchanged: store.Unchanged | None = None) -> None:
    """Make ``data`` the live index, atomically, where ``load_index`` reads it (``unchanged``:
    its rows that are the previous index's, which neither store writes again)."""
    if config.database_url:
        from . import pgstore

        pgstore.save(data, config.database_url, config.database_index, unchanged)
    else:
        store.save(data, config.index_dir, unchanged)


def _reusable(config: Config, embedder, previous: IndexData | None) -> tuple[IndexData | None, str | None]:
    """(the index to update incrementally or None, why the one on disk is not reused as it is).

    A damaged index or one built with another model or settings is rebuilt from the corpus:
    nothing of it (text, sentences, vectors) is carried over. One built for another corpus
    folder is updated, reusing only articles whose content hash matches."""
    try:
        old = previous or load_index(config)
    except IndexCorruptError as exc:
        return None, f"rebuilding the index from the corpus: {exc}"
    if old is None:
        return None, None
    problem = incompatibility(old.manifest, config, embedder)
    if problem:
        return None, (f"rebuilding the index from the corpus: the index in {str(config.index_dir)!r} "
                      f"was built with {problem}")
    corpus = str(Path(config.corpus_dir).resolve())
    if old.manifest.get("corpus_dir") != corpus:
        return old, (f"updating the index in {str(config.index_dir)!r} for the corpus {corpus!r}: it was built "
                     f"for {old.manifest.get('corpus_dir')!r}; only articles with the same content hash are reused")
    return old, None


@dataclass(frozen=True)
class _Copied:
    """Rows of the new tables that are an unchanged article's rows of the old index:
    ``new_sentences[i]`` is old sentence ``old_sentences[i]`` (same for chunks), so their
    vectors are copied row for row, without hashing or looking up their texts."""

    new_sentences: np.ndarray
    old_sentences: np.ndarray
    new_chunks: np.ndarray
    old_chunks: np.ndarray
    sources: frozenset[str]  # the unchanged articles
    new_articles: np.ndarray  # article new_articles[i] is old article old_articles[i]
    old_articles: np.ndarray


_NOTHING_COPIED = _Copied(*(np.zeros(0, dtype=np.int64) for _ in range(4)), frozenset(),
                          np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class _Read:
    """Step 1 of a build: the articles now in the corpus folder."""

    documents: list[Document]
    reused: set[str]  # unchanged since the old index: sentences, chunks and vectors reused
    skipped: list[tuple[str, str]]
    state: dict[str, list[int]]


def _build(config: Config, embedder, old: IndexData | None, progress: Progress | None,
           started: float, repaired: str | None = None) -> tuple[IndexData, IndexReport]:
    """read -> segment + chunk -> embed what is new -> save -> report."""
    report_progress = progress or (lambda stage, done, total: None)
    read = _read_articles(config, old, report_progress)
    if repaired is None and _is_live_and_current(config, old, read):
        store.tidy(config.index_dir)
        Journal(config.index_dir, embedder.fingerprint, embedder.dim).clear()
        return old, IndexReport(documents=len(read.documents), added=(), updated=(), removed=(),
                                unchanged=len(read.documents), skipped=tuple(read.skipped), embedded=0,
                                chunks=len(old.chunks), sentences=len(old.sentences),
                                seconds=time.perf_counter() - started)
    sentences, retrievable, chunks, copied = _segment_and_chunk(config, read, old, report_progress)
    chunk_vectors, sentence_vectors, embedded = _embed(config, embedder, old, chunks, sentences, report_progress,
                                                       copied, retrievable)
    manifest = {
        "format": store.FORMAT, "version": store.FORMAT_VERSION,
        **expected_settings(config, embedder),
        "documents": {d.source: d.content_hash for d in read.documents},
        "corpus_state": read.state,
        "corpus_dir": str(Path(config.corpus_dir).resolve()),
        "terms": TERMS_ID,
        "counts": {"documents": len(read.documents), "sentences": len(sentences), "chunks": len(chunks)},
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    report_progress("writing", 0, 1)
    terms = None
    if old is not None and old.manifest.get("terms") == TERMS_ID and len(copied.new_sentences):
        copied_rows = np.zeros(len(sentences), dtype=bool)
        copied_rows[copied.new_sentences] = True
        terms = updated_term_table(old.terms, len(sentences), copied.new_sentences, copied.old_sentences,
                                   {r: sentences.text(r) for r in np.flatnonzero(~copied_rows).tolist()})
    data = make_index_data(manifest, {d.source: d for d in read.documents}, sentences,
                           retrievable, chunks, chunk_vectors, sentence_vectors, terms=terms, previous=old)
    save_index(data, config, None if old is None else store.Unchanged(
        old.manifest, copied.new_sentences, copied.old_sentences, copied.new_chunks, copied.old_chunks,
        copied.new_articles, copied.old_articles))
    Journal(config.index_dir, embedder.fingerprint, embedder.dim).clear()  # saved: nothing pending
    report_progress("writing", 1, 1)
    old_hashes = dict(old.manifest.get("documents", {})) if old else {}
    new_names = {d.source for d in read.documents}
    return data, IndexReport(
        documents=len(read.documents),
        added=tuple(sorted(n for n in new_names if n not in old_hashes)),
        updated=tuple(sorted(n for n in new_names if n in old_hashes and n not in read.reused)),
        removed=tuple(sorted(n for n in old_hashes if n not in new_names)),
        unchanged=len(read.reused), skipped=tuple(read.skipped), embedded=embedded,
        chunks=len(chunks), sentences=len(sentences), seconds=time.perf_counter() - started,
        repaired=repaired,
    )


def _read_articles(config: Config, old: IndexData | None, report_progress: Progress) -> _Read:
    """Load new and changed articles; reuse unchanged ones (same size+mtime, or same hash)."""
    folder = corpus_folder(config.corpus_dir)  # CorpusError when the folder is missing
    read = _Read([], set(), [], corpus_state(config.corpus_dir))
    # the articles corpus_files lists, from the same scan (no Path made for an unchanged one)
    names = sorted(name for name in read.state if is_article(name))
    old_hashes = dict(old.manifest.get("documents", {})) if old else {}
    same_folder = old and old.manifest.get("corpus_dir") == str(Path(config.corpus_dir).resolve())
    old_state = old.manifest.get("corpus_state", {}) if same_folder else {}  # else compare hashes
    for i, name in enumerate(names):
        report_progress("reading", i, len(names))
        try:
            if old and name in old.documents and (
                    _same_stat(name, read.state, old_state)  # not even re-read
                    or old_hashes.get(name) == file_hash(folder / name)):
                read.documents.append(old.documents[name])
                read.reused.add(name)
            else:
                read.documents.append(load_document(folder / name))
        except (CorpusError, OSError) as exc:
            read.skipped.append((name, str(exc)))
    report_progress("reading", len(names), len(names))
    return read


def _segment_and_chunk(config: Config, read: _Read, old: IndexData | None,
                       report_progress: Progress = lambda stage, done, total: None
                       ) -> tuple[SentenceTable, np.ndarray, ChunkTable, _Copied]:
    """Sentence and chunk tables for all articles, in ``read.documents`` order, and which of
    their rows are unchanged articles' rows of ``old`` (copied as rows, renumbered with NumPy:
    no record is made for them); progress ("segmenting") in characters of the new and changed
    articles."""
    docs = tuple(read.documents)
    n_sent = np.zeros(len(docs), dtype=np.int64)  # rows per article in the new tables
    n_chunk = np.zeros(len(docs), dtype=np.int64)
    fresh: dict[int, tuple[list, list[Chunk]]] = {}  # article -> (sentence records, chunks), numbered from 0
    reused_from = np.full(len(docs), -1, dtype=np.int64)  # article -> its article number in old
    if old is not None and read.reused:
        old_article = {d.source: k for k, d in enumerate(old.sentences.docs)}
        old_sent, old_chunk = old.sentences.article_rows(), old.chunks.article_rows()
    total = sum(len(d.text) for d in docs if d.source not in read.reused)
    done = 0
    report_progress("segmenting", 0, total)
    for a, doc in enumerate(docs):
        if doc.source in read.reused:
            k = reused_from[a] = old_article[doc.source]
            n_sent[a], n_chunk[a] = old_sent[k + 1] - old_sent[k], old_chunk[k + 1] - old_chunk[k]
        else:
            recs, doc_chunks = chunk_document(doc, config.chunk_sentences, config.chunk_overlap, 0, 0,
                                              lambda chars, base=done: report_progress("segmenting", base + chars, total))
            fresh[a] = (recs, doc_chunks)
            n_sent[a], n_chunk[a] = len(recs), len(doc_chunks)
            done += len(doc.text)
            report_progress("segmenting", done, total)
    first_sent = np.concatenate([[0], np.cumsum(n_sent)])  # new row bounds per article
    first_chunk = np.concatenate([[0], np.cumsum(n_chunk)])
    sentence_rows = np.zeros((int(first_sent[-1]), 3), dtype=np.int64)
    chunk_rows = np.zeros((int(first_chunk[-1]), 5), dtype=np.int64)
    retrievable = np.zeros(len(sentence_rows), dtype=bool)
    copied = _NOTHING_COPIED
    kept = np.flatnonzero(reused_from >= 0)
    if len(kept):
        k = reused_from[kept]
        new_s = ranges(first_sent[kept], first_sent[kept + 1])
        old_s = ranges(old_sent[k], old_sent[k + 1])
        new_c = ranges(first_chunk[kept], first_chunk[kept + 1])
        old_c = ranges(old_chunk[k], old_chunk[k + 1])
        sentence_rows[new_s] = old.sentences.rows[old_s]
        sentence_rows[new_s, 0] = np.repeat(kept, n_sent[kept])
        retrievable[new_s] = old.retrievable[old_s]
        chunk_rows[new_c] = old.chunks.rows[old_c]
        chunk_rows[new_c, 0] = np.repeat(kept, n_chunk[kept])
        chunk_rows[new_c, 3] += np.repeat(first_sent[kept] - old_sent[k], n_chunk[kept])  # sentences moved
        copied = _Copied(new_s, old_s, new_c, old_c, frozenset(read.reused), kept, k)
    for a, (recs, doc_chunks) in fresh.items():
        s0, c0 = int(first_sent[a]), int(first_chunk[a])
        for i, rec in enumerate(recs):
            sentence_rows[s0 + i] = (a, rec.sentence.start, rec.sentence.end)
            retrievable[s0 + i] = rec.retrievable
        for i, c in enumerate(doc_chunks):
            chunk_rows[c0 + i] = (a, c.start, c.end, s0 + c.sentence_ids[0], len(c.sentence_ids))
    sentences = SentenceTable(docs, sentence_rows)
    return sentences, retrievable, ChunkTable(sentences, chunk_rows), copied


def _embed(config: Config, embedder, old: IndexData | None, chunks: ChunkTable, sentences: SentenceTable,
           report_progress: Progress, copied: _Copied = _NOTHING_COPIED,
           retrievable: list[bool] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(chunk vectors, sentence vectors, texts embedded): only texts whose hash is new.

    A sentence that is not ``retrievable`` (a caption printed twice, a byline, a promo: in no
    chunk, never a candidate, skipped by dense search) gets no vector (zeros) unless the same
    text is retrievable elsewhere: 26 of the seed corpus's 115 sentences are never embedded.

    Unchanged articles' rows (``copied``) take the old index's vectors row for row; the
    other rows are looked up by the hash of their text among the old vectors of the
    articles that changed or went (an edited article keeps its unchanged sentences' vectors)
    and the journal, and embedded when not found. So re-indexing one article hashes that
    article's texts, not the archive's.

    Each computed batch is also appended to the index folder's journal (rag.journal), so a
    build killed halfway resumes from what it had embedded.

    Memory stays near the size of the result: vectors are written into one preallocated
    matrix, batch by batch (a 20 MB article used to peak at 1.5 GB holding every vector
    three times: in a dict, stacked, and converted).
    """
    journal = Journal(config.index_dir, embedder.fingerprint, embedder.dim)
    cache = old.vector_cache(exclude=copied.sources) if old else {}
    cache.update(journal.load())  # what a killed build had already embedded
    encode_chunks = config.chunk_vectors == "encode"
    offset = len(chunks) if encode_chunks else 0  # rows: [chunks if encoded] + sentences
    matrix = np.zeros((offset + len(sentences), embedder.dim), dtype=np.float32)
    done = np.zeros(len(matrix), dtype=bool)
    if old is not None and len(copied.new_sentences):
        copy_rows(old.sentence_vectors, copied.old_sentences, matrix, offset + copied.new_sentences)
        done[offset + copied.new_sentences] = True
        if encode_chunks:
            copy_rows(old.chunk_vectors, copied.old_chunks, matrix, copied.new_chunks)
            done[copied.new_chunks] = True
    texts: dict[int, str] = {}  # row -> text, for rows still without a vector
    for row in np.flatnonzero(~done).tolist():
        texts[row] = chunks[row].text if row < offset else " ".join(sentences.text(row - offset).split())
    keys = {row: text_hash(text) for row, text in texts.items()}
    read = {key for row, key in keys.items()  # texts some search or answer reads
            if row < offset or retrievable is None or retrievable[row - offset]}
    first: dict[str, int] = {}  # text hash -> the first row holding that text
    repeats: list[tuple[int, int]] = []  # (row, first row with the same text)
    for row, key in keys.items():
        if key not in read:
            continue  # only in non-retrievable rows: left at zeros
        if key in first:
            repeats.append((row, first[key]))
        else:
            first[key] = row
    # shortest first: each model batch then holds texts of about one length, so little of it
    # is padding (sorted within each call only, a build spent ~35% of its model time on padding)
    missing = sorted(((row, key) for key, row in first.items() if key not in cache),
                     key=lambda item: (len(texts[item[0]]), item[0]))
    batch = max(config.batch_size, 1) * 4
    for start in range(0, len(missing), batch):
        report_progress("embedding", start, len(missing))
        rows = [row for row, _ in missing[start:start + batch]]
        matrix[rows] = embedder.embed([texts[row] for row in rows])
        journal.append([key for _, key in missing[start:start + batch]], matrix[rows])
    report_progress("embedding", len(missing), len(missing))
    del texts
    for key, row in first.items():
        if key in cache:
            matrix[row] = cache[key]
    for row, source_row in repeats:  # a repeated text: the vector of its first occurrence
        matrix[row] = matrix[source_row]
    if encode_chunks:
        return matrix[:len(chunks)], matrix[len(chunks):], len(missing)
    chunk_matrix = np.empty((len(chunks), embedder.dim), dtype=np.float32)
    fresh = np.ones(len(chunks), dtype=bool)
    if old is not None and len(copied.new_chunks):  # the same sentences' mean as before
        copy_rows(old.chunk_vectors, copied.old_chunks, chunk_matrix, copied.new_chunks)
        fresh[copied.new_chunks] = False
    if fresh.all():  # a first build: straight into the result
        mean_vectors(matrix, chunks.rows[:, 3], chunks.rows[:, 4], embedder.dim, out=chunk_matrix)
    else:
        rows = np.flatnonzero(fresh)
        chunk_matrix[rows] = mean_vectors(matrix, chunks.rows[rows, 3], chunks.rows[rows, 4], embedder.dim)
    return chunk_matrix, matrix, len(missing)


def _is_live_and_current(config: Config, old: IndexData | None, read: _Read) -> bool:
    """Nothing to write: ``old`` is the generation live on disk and the corpus folder is as it
    was when ``old`` was built (same files, sizes and times). A build then changes nothing, so
    it writes nothing (it used to write a whole new generation: seconds at 17.5k articles).
    The database backend always writes (its transaction is the check)."""
    if old is None or config.database_url or read.state != old.manifest.get("corpus_state"):
        return False
    if len(read.reused) != len(read.documents) or set(old.documents) != read.reused:
        return False
    try:
        live = store.read_manifest(config.index_dir)
    except IndexCorruptError:
        return False
    return live is not None and store.unsealed(live) == store.unsealed(old.manifest)




def _same_stat(name: str, state: dict, old_state: dict) -> bool:
    """Article and sidecar have the size and mtime recorded at the last build (like make/git)."""
    meta = name + META_SUFFIX
    return (name in old_state and state.get(name) == old_state.get(name)
            and state.get(meta) == old_state.get(meta))


def mean_vectors(sentence_vectors: np.ndarray, first: np.ndarray, count: np.ndarray, dim: int,
                 out: np.ndarray | None = None, block: int = 256) -> np.ndarray:
    """Each chunk's vector (chunk i: sentences ``first[i]`` .. ``first[i] + count[i] - 1``):
    the re-normalised mean of its sentences' vectors (into ``out`` when given).

    Embedding only sentences (not also the overlapping windows) halves the model's work, and
    a window never exceeds the model's 256-token limit this way. Worked ``block`` chunks at a
    time, so the temporaries stay small beside the sentence vectors.
    """
    first, count = np.asarray(first, dtype=np.int64), np.asarray(count, dtype=np.int64)
    out = np.empty((len(first), dim), dtype=np.float32) if out is None else out
    for start in range(0, len(first), block):
        part_first, part_count = first[start:start + block], count[start:start + block]
        total = np.zeros((len(part_first), dim), dtype=np.float32)
        for j in range(int(part_count.max(initial=0))):  # every window's j-th sentence at once
            longer = np.flatnonzero(part_count > j)
            total[longer] += sentence_vectors[part_first[longer] + j]
        total /= np.maximum(part_count, 1)[:, None].astype(np.float32)
        out[start:start + len(part_first)] = normalise(total)
    return out
