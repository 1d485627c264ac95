"""PostgreSQL + pgvector as the index store: one index shared by app processes on many machines.

``Config.database_url`` (``NEWSDESK_DATABASE_URL``) switches the index from files to a
database; ``Config.database_index`` names it (several indexes can share one database).

What lives where, and why:
- **In Postgres** (the shared truth): each generation's manifest, article text and metadata,
  sentence and chunk rows with their vectors in pgvector columns, and one row per index
  naming its live generation. A build saves a new generation **in one transaction** (under an
  advisory lock per index) and moves the pointer in the same transaction, so a reader on any
  machine sees the old generation or the new one, never half an article.
- **Rows are shared between generations**, as the file store's packs are: an article's rows
  carry the generation they were written in (``born``) and the one that replaced them
  (``died``), and generation G sees the rows with ``born <= G`` and ``died`` null or after G.
  A re-index after one changed article marks that article's rows dead and writes its new
  ones; the other articles' rows (and their HNSW entries) stay. When the live generation is
  not the one the build started from (another machine saved meanwhile), every row is written.
- **Dense search in Postgres**: ``PgVectorSearch`` asks the database for the nearest
  sentences or chunks (inner product, an HNSW index on the vectors) instead of an in-process
  FAISS copy; the rows' keys are mapped to the generation's sentence or chunk numbers.
- **The sparse side in each process**: BM25 (bm25s) and the term table are saved with the
  generation as the very files the file backend writes (``newsdesk_file``, bytea rows) and
  searched in the process that loads them. Postgres full-text search ranks with ``ts_rank``
  (not BM25) and its own stemming, so answers would differ from the file backend for the
  same question; keeping bm25s keeps both backends' answers the same (a test asserts it on
  the eval set). Generations saved without ``newsdesk_file`` rebuild them at load.

The generation a save replaces is kept until the next save (processes that loaded it keep
searching its vectors until they load the new one); older ones and the rows only they saw
are deleted. A generation saved by a version that copied every row per generation (tables
``newsdesk_document``/``_sentence``/``_chunk``) is not read: the index is rebuilt once.
Vectors are read with pgvector's numpy adapter; nothing is pickled.
"""

from __future__ import annotations

import json
import tempfile
import threading
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np
import orjson

from .config import safe_url
from .errors import IndexCorruptError, RagError
from .store import IndexData, Unchanged, _doc_from_row, _doc_row, make_index_data, read_sparse, searches_sentences, write_sparse
from .tables import ChunkTable, SentenceTable, check_tables

LAYOUT = "shared rows"  # the manifest's "rows": generations share their unchanged articles' rows
_LOCAL = ("saved", "rows", "database_generation")  # manifest keys about the saving, not the index data
_VISIBLE = "index_name = %(index)s AND born <= %(gen)s AND (died IS NULL OR died > %(gen)s)"

# Table names carry a prefix so that the index can share a database with anything else.
# (newsdesk_document, newsdesk_sentence and newsdesk_chunk are what versions before shared rows
# wrote; their rows go with their generations.)
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS newsdesk_generation (
    id bigserial PRIMARY KEY, index_name text NOT NULL, manifest jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS newsdesk_current (
    index_name text PRIMARY KEY, generation bigint NOT NULL REFERENCES newsdesk_generation(id));
CREATE TABLE IF NOT EXISTS newsdesk_articles (
    key bigserial PRIMARY KEY, index_name text NOT NULL, born bigint NOT NULL, died bigint,
    source text NOT NULL, outlet text, published date, row jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS newsdesk_sentences (
    key bigserial PRIMARY KEY, index_name text NOT NULL, born bigint NOT NULL, died bigint,
    source text NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
    retrievable boolean NOT NULL, embedding vector NOT NULL);
CREATE TABLE IF NOT EXISTS newsdesk_chunks (
    key bigserial PRIMARY KEY, index_name text NOT NULL, born bigint NOT NULL, died bigint,
    source text NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
    first_in_article integer NOT NULL, n_sentences integer NOT NULL, embedding vector NOT NULL);
CREATE INDEX IF NOT EXISTS newsdesk_articles_by_source ON newsdesk_articles (index_name, source);
CREATE INDEX IF NOT EXISTS newsdesk_sentences_by_source ON newsdesk_sentences (index_name, source);
CREATE INDEX IF NOT EXISTS newsdesk_chunks_by_source ON newsdesk_chunks (index_name, source);
CREATE TABLE IF NOT EXISTS newsdesk_file (
    generation bigint NOT NULL REFERENCES newsdesk_generation(id) ON DELETE CASCADE,
    name text NOT NULL, data bytea NOT NULL, PRIMARY KEY (generation, name));
-- the sparse files (NumPy arrays, ~10 MB at 17.5k articles) barely compress: stored
-- uncompressed, a save skips pglz's pass over them (0.26 -> 0.05 s). Altered once: ALTER TABLE
-- locks the table against readers, and this runs at every connection.
DO $$ BEGIN
    IF (SELECT attstorage FROM pg_attribute WHERE attrelid = 'newsdesk_file'::regclass
        AND attname = 'data') <> 'e' THEN
        ALTER TABLE newsdesk_file ALTER COLUMN data SET STORAGE EXTERNAL;
    END IF;
END $$;
"""
ROW_TABLES = ("newsdesk_articles", "newsdesk_sentences", "newsdesk_chunks")


def connect(url: str):
    """A psycopg connection with the pgvector types registered (RagError when unreachable)."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as exc:  # the optional extra
        raise RagError("the PostgreSQL backend needs psycopg and pgvector: pip install '.[postgres]' "
                       "(requirements-postgres.txt)") from exc
    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise RagError(f"cannot connect to the index database {safe_url(url)!r}: {exc}") from None
    with conn.transaction():  # two processes creating the tables at once would collide
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("schema"),))
        conn.execute(SCHEMA)
    register_vector(conn)
    return conn


def save(data: IndexData, url: str, index_name: str, unchanged: Unchanged | None = None) -> int:
    """Write ``data`` as a new generation of ``index_name`` and make it live, atomically.

    With ``unchanged`` (its articles that are the previous index's), when that index is the
    live generation, those articles' rows are kept, not written again. Returns the generation
    id. Any failure rolls everything back: the live generation stays."""
    dim = int(data.manifest["dim"])
    with connect(url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(index_name),))
        live = conn.execute("SELECT g.id, g.manifest::text FROM newsdesk_current c JOIN newsdesk_generation g "
                            "ON g.id = c.generation WHERE c.index_name = %s", (index_name,)).fetchone()
        live = live and (live[0], orjson.loads(live[1]))  # orjson: 3 MB at 17.5k articles, 4x json's speed
        manifest = {**_index_data(data.manifest), "rows": LAYOUT,
                    "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (gen,) = conn.execute("INSERT INTO newsdesk_generation (index_name, manifest) VALUES (%s, %s) RETURNING id",
                              (index_name, orjson.dumps(manifest).decode("utf-8"))).fetchone()
        kept = _kept_sources(data, live, unchanged)
        gone = sorted(set(live[1].get("documents", {})) - kept) if live and kept else None  # None: all
        for table in ROW_TABLES:  # the rows of what changed or went die with this generation
            conn.execute(f"UPDATE {table} SET died = %s WHERE index_name = %s AND died IS NULL"
                         + ("" if gone is None else " AND source = ANY(%s)"),
                         (gen, index_name) + (() if gone is None else (gone,)))
        written = _write_rows(conn, data, index_name, gen, kept)
        # pgvector builds an HNSW graph far faster when it fits in memory (60k x 384: 46 s with
        # the default 64 MB); for this transaction only
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        _ensure_vector_index(conn, dim, "newsdesk_sentences" if searches_sentences(manifest) else "newsdesk_chunks")
        if written > 0.1 * len(data.sentences):  # as autovacuum would, later: without row counts the
            for table in ROW_TABLES:  # planner scans every row of the index instead of the HNSW graph
                conn.execute(f"ANALYZE {table}")
        conn.execute("INSERT INTO newsdesk_current (index_name, generation) VALUES (%s, %s) "
                     "ON CONFLICT (index_name) DO UPDATE SET generation = EXCLUDED.generation", (index_name, gen))
        # The generation just replaced stays one more round: processes that loaded it keep
        # searching its vectors until they load this one. Older ones go, with the rows that
        # neither of the two sees.
        oldest = live[0] if live else gen
        conn.execute("DELETE FROM newsdesk_generation WHERE index_name = %s AND NOT (id = ANY(%s))",
                     (index_name, [gen, oldest]))
        for table in ROW_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE index_name = %s AND died <= %s", (index_name, oldest))
    return int(gen)


def _index_data(manifest: dict) -> dict:
    """``manifest`` without what describes one saving of it (``_LOCAL``)."""
    return {k: v for k, v in manifest.items() if k not in _LOCAL}


def _kept_sources(data: IndexData, live: tuple | None, unchanged: Unchanged | None) -> set[str]:
    """The articles of ``data`` whose rows the live generation holds already: those
    ``unchanged`` names, when the live generation is the index ``unchanged`` is about (and
    was saved with shared rows); else none."""
    if unchanged is None or live is None or live[1].get("rows") != LAYOUT:
        return set()
    if _index_data(live[1]) != _index_data(unchanged.manifest):
        return set()  # another process saved since this build started: write everything
    sources = list(data.documents)
    return {sources[i] for i in unchanged.new_documents.tolist()}


def _write_rows(conn, data: IndexData, index_name: str, gen: int, kept: set[str]) -> int:
    """COPY the rows of the articles not in ``kept`` (born with ``gen``), and the generation's
    sparse files; returns the number of sentence rows written."""
    docs = data.sentences.docs
    fresh = np.array([d.source not in kept for d in docs], dtype=bool)
    first = data.sentences.article_rows()  # sentence rows per article: first[a]..first[a + 1]
    with conn.cursor() as cur:
        with cur.copy("COPY newsdesk_articles (index_name, born, source, outlet, published, row) FROM STDIN") as copy:
            for doc in data.documents.values():
                if doc.source not in kept:
                    copy.write_row((index_name, gen, doc.source, doc.outlet, doc.published, json.dumps(_doc_row(doc))))
        with cur.copy("COPY newsdesk_sentences (index_name, born, source, start_char, end_char, retrievable, "
                      "embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "bigint", "text", "integer", "integer", "boolean", "vector"])
            written = np.flatnonzero(fresh[data.sentences.rows[:, 0]])
            for i in written.tolist():
                a, start, end = data.sentences.rows[i].tolist()
                copy.write_row((index_name, gen, docs[a].source, start, end, bool(data.retrievable[i]),
                                data.sentence_vectors[i]))
        with cur.copy("COPY newsdesk_chunks (index_name, born, source, start_char, end_char, first_in_article, "
                      "n_sentences, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "bigint", "text", "integer", "integer", "integer", "integer", "vector"])
            for i in np.flatnonzero(fresh[data.chunks.rows[:, 0]]).tolist():
                a, start, end, first_sentence, count = data.chunks.rows[i].tolist()
                copy.write_row((index_name, gen, docs[a].source, start, end, first_sentence - int(first[a]), count,
                                data.chunk_vectors[i]))
        with tempfile.TemporaryDirectory() as tmp, cur.copy(
                "COPY newsdesk_file (generation, name, data) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["bigint", "text", "bytea"])
            write_sparse(data, Path(tmp))
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    copy.write_row((gen, path.relative_to(tmp).as_posix(), path.read_bytes()))
    return len(written)


def load(url: str, index_name: str) -> IndexData | None:
    """The live generation of ``index_name`` (None when there is none), read in one snapshot."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute("SELECT g.id, g.manifest FROM newsdesk_current c JOIN newsdesk_generation g "
                           "ON g.id = c.generation WHERE c.index_name = %s", (index_name,)).fetchone()
        if row is None:
            return None
        gen, manifest = int(row[0]), row[1]
        if manifest.get("rows") != LAYOUT:
            raise IndexCorruptError(f"generation {gen} of index {index_name!r} in the database was saved by an "
                                    "older version (every row copied per generation); it is rebuilt once")
        where = {"index": index_name, "gen": gen}
        docs = [r[0] for r in conn.execute(f"SELECT row FROM newsdesk_articles WHERE {_VISIBLE}", where)]
        files = conn.execute("SELECT name, data FROM newsdesk_file WHERE generation = %s", (gen,)).fetchall()
        binary = conn.cursor(binary=True)  # vectors as float32 bytes, not decimal text (10x faster)
        sents = binary.execute("SELECT key, source, start_char, end_char, retrievable, embedding "
                               f"FROM newsdesk_sentences WHERE {_VISIBLE}", where).fetchall()
        chunks = binary.execute("SELECT key, source, start_char, end_char, first_in_article, n_sentences, embedding "
                                f"FROM newsdesk_chunks WHERE {_VISIBLE}", where).fetchall()
    try:
        by_source = {row["source"]: _doc_from_row(row) for row in docs}
        documents = {source: by_source[source] for source in sorted(by_source)}  # the indexer's order
        article = {source: i for i, source in enumerate(documents)}
        s_article = np.array([article[r[1]] for r in sents], dtype=np.int64)
        s_order = np.lexsort((np.array([r[3] for r in sents]), np.array([r[2] for r in sents]), s_article))
        sents = [sents[i] for i in s_order.tolist()]
        sentences = SentenceTable(tuple(documents.values()), [(article[src], a, b) for _, src, a, b, _, _ in sents])
        first = sentences.article_rows()
        c_article = np.array([article[r[1]] for r in chunks], dtype=np.int64)
        c_order = np.lexsort((np.array([r[3] for r in chunks]), np.array([r[2] for r in chunks]), c_article))
        chunks = [chunks[i] for i in c_order.tolist()]
        chunk_rows = ChunkTable(sentences, [(article[src], a, b, int(first[article[src]]) + rel, n)
                                            for _, src, a, b, rel, n, _ in chunks])
        check_tables(sentences, chunk_rows)
        dim = int(manifest["dim"])
        sentence_vectors = _matrix([r[5] for r in sents], dim)
        chunk_vectors = _matrix([r[6] for r in chunks], dim)
        bm25, terms = _read_files(files, len(sentences))
    except (KeyError, ValueError, TypeError, IndexError, OSError, EOFError) as exc:
        raise IndexCorruptError(f"generation {gen} of index {index_name!r} in the database is damaged "
                                f"({type(exc).__name__}: {exc}); rebuild with `python -m rag index --rebuild`") from None
    table, keys = (("newsdesk_sentences", [r[0] for r in sents]) if searches_sentences(manifest)
                   else ("newsdesk_chunks", [r[0] for r in chunks]))
    return make_index_data({**_index_data(manifest), "database_generation": gen}, documents, sentences,
                           np.array([r[4] for r in sents], dtype=bool), chunk_rows, chunk_vectors,
                           sentence_vectors, bm25=bm25, terms=terms,
                           store=PgVectorSearch(url, index_name, gen, dim, keys, table))


class PgVectorSearch:
    """Nearest sentences or chunks (``table``) by inner product among the rows generation
    ``generation`` of ``index_name`` sees, answered by Postgres (an HNSW index on the vectors);
    the same interface as ``dense.FaissStore``: the ids returned are the generation's sentence
    or chunk numbers (``keys[i]`` is the row key of number i). One connection per instance,
    used under a lock."""

    def __init__(self, url: str, index_name: str, generation: int, dim: int, keys, table: str = "newsdesk_chunks"
                 ) -> None:
        if table not in ("newsdesk_chunks", "newsdesk_sentences"):
            raise ValueError(f"table must be newsdesk_chunks or newsdesk_sentences, not {table!r}")
        self.url, self.index_name, self.generation, self.dim, self.table = url, index_name, generation, dim, table
        keys = np.asarray(keys, dtype=np.int64)
        self._order = np.argsort(keys, kind="stable")  # number of the i-th smallest key
        self._sorted = keys[self._order]
        self._conn = None
        self._lock = threading.Lock()

    kind = "pgvector"

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        vec = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url)
                self._conn.execute(f"SET hnsw.ef_search = {max(40, 2 * k)}")
                self._conn.execute("SET hnsw.iterative_scan = relaxed_order")  # WHERE index_name … born … died
            rows = self._conn.execute(
                f"SELECT key, -(embedding::vector({self.dim}) <#> %(q)s) FROM {self.table} WHERE {_VISIBLE} "
                f"AND vector_dims(embedding) = {self.dim} ORDER BY embedding::vector({self.dim}) <#> %(q)s LIMIT %(k)s",
                {"q": vec, "index": self.index_name, "gen": self.generation, "k": k}).fetchall()
        found = np.array([r[0] for r in rows], dtype=np.int64)
        at = np.searchsorted(self._sorted, found)
        if len(found) and (np.any(at >= len(self._sorted)) or np.any(self._sorted[np.minimum(at, len(self._sorted) - 1)] != found)):
            raise IndexCorruptError(f"generation {self.generation} of index {self.index_name!r}: the database "
                                    "returned a row this process did not load")
        ids = self._order[at]
        scores = np.array([r[1] for r in rows], dtype=np.float32)
        best = np.lexsort((ids, -scores))  # HNSW returns equal scores in any order; FAISS puts the lower id first
        return scores[best], ids[best].astype(np.int64)

    def __len__(self) -> int:
        return len(self._sorted)

    def write(self, path) -> None:  # the file backend's save() writes chunks.faiss; here the rows are the index
        raise RagError("a PostgreSQL-backed index is saved with rag.pgstore.save, not to a file")


def _ensure_vector_index(conn, dim: int, table: str = "newsdesk_chunks") -> None:
    """An HNSW index (inner product) over the vectors of this width in ``table`` (chunks, or
    sentences for a sentence-searching index), made once."""
    name = f"{table}_hnsw_{dim}"
    conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                 f"USING hnsw ((embedding::vector({dim})) vector_ip_ops) WHERE vector_dims(embedding) = {dim}")


def _read_files(files: list, n_sentences: int):
    """``store.read_sparse`` over a generation's ``newsdesk_file`` rows (BM25 and term table)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, blob in files:
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise ValueError(f"file name {name!r} leads out of its generation")
            path = Path(tmp, *relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        return read_sparse(Path(tmp), n_sentences)


def _matrix(rows: list, dim: int) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, vec in enumerate(rows):
        out[i] = vec.to_numpy() if hasattr(vec, "to_numpy") else vec  # pgvector's Vector or an array
    return out


def _lock_key(index_name: str) -> int:
    return zlib.crc32(f"newsdesk:{index_name}".encode("utf-8"))


