"""PostgreSQL + pgvector as the index store: one index shared by app processes on many machines.

``Config.database_url`` (``NEWSDESK_DATABASE_URL``) switches the index from files to a
database; ``Config.database_index`` names it (several indexes can share one database).

What lives where, and why:
- **In Postgres** (the shared truth): each generation's manifest, article text and metadata,
  sentence and chunk tables with their vectors in pgvector columns, and one row per index
  naming its live generation. A build saves a whole new generation **in one transaction**
  (under an advisory lock per index) and moves the pointer in the same transaction, so a
  reader on any machine sees the old generation or the new one, never half an article.
- **Dense search in Postgres**: ``PgVectorSearch`` asks the database for the nearest chunks
  (inner product, an HNSW index on the chunk vectors) instead of an in-process FAISS copy.
- **The sparse side in each process**: BM25 (bm25s) and the term table are saved with the
  generation as the very files the file backend writes (``newsdesk_file``, bytea rows) and
  searched in the process that loads them. Postgres full-text search ranks with ``ts_rank``
  (not BM25) and its own stemming, so answers would differ from the file backend for the
  same question; keeping bm25s keeps both backends' answers the same (a test asserts it on
  the eval set). Generations saved before ``newsdesk_file`` existed rebuild them at load.

The generation a save replaces is kept until the next save (processes that loaded it keep
searching its vectors until they load the new one); older ones are deleted. Vectors are read with pgvector's numpy adapter; nothing is pickled.
"""

from __future__ import annotations

import json
import tempfile
import threading
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from .config import safe_url
from .errors import IndexCorruptError, RagError
from .store import IndexData, _doc_from_row, _doc_row, make_index_data, read_sparse, searches_sentences, write_sparse
from .tables import ChunkTable, SentenceTable, check_tables

# Table names carry a prefix so that the index can share a database with anything else.
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS newsdesk_generation (
    id bigserial PRIMARY KEY, index_name text NOT NULL, manifest jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS newsdesk_current (
    index_name text PRIMARY KEY, generation bigint NOT NULL REFERENCES newsdesk_generation(id));
CREATE TABLE IF NOT EXISTS newsdesk_document (
    generation bigint NOT NULL REFERENCES newsdesk_generation(id) ON DELETE CASCADE,
    source text NOT NULL, outlet text, published date, row jsonb NOT NULL, PRIMARY KEY (generation, source));
CREATE TABLE IF NOT EXISTS newsdesk_sentence (
    generation bigint NOT NULL REFERENCES newsdesk_generation(id) ON DELETE CASCADE,
    id integer NOT NULL, source text NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
    retrievable boolean NOT NULL, embedding vector NOT NULL, PRIMARY KEY (generation, id));
CREATE TABLE IF NOT EXISTS newsdesk_chunk (
    generation bigint NOT NULL REFERENCES newsdesk_generation(id) ON DELETE CASCADE,
    id integer NOT NULL, source text NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL,
    first_sentence integer NOT NULL, n_sentences integer NOT NULL, embedding vector NOT NULL,
    PRIMARY KEY (generation, id));
CREATE TABLE IF NOT EXISTS newsdesk_file (
    generation bigint NOT NULL REFERENCES newsdesk_generation(id) ON DELETE CASCADE,
    name text NOT NULL, data bytea NOT NULL, PRIMARY KEY (generation, name));
"""


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


def save(data: IndexData, url: str, index_name: str) -> int:
    """Write ``data`` as a new generation of ``index_name`` and make it live, atomically.

    Returns the generation id. Any failure rolls everything back: the live generation stays."""
    dim = int(data.manifest["dim"])
    with connect(url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(index_name),))
        manifest = {**data.manifest, "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (gen,) = conn.execute("INSERT INTO newsdesk_generation (index_name, manifest) VALUES (%s, %s) RETURNING id",
                              (index_name, json.dumps(manifest))).fetchone()
        with conn.cursor() as cur:
            with cur.copy("COPY newsdesk_document (generation, source, outlet, published, row) FROM STDIN") as copy:
                for doc in data.documents.values():
                    copy.write_row((gen, doc.source, doc.outlet, doc.published, json.dumps(_doc_row(doc))))
            with cur.copy("COPY newsdesk_sentence (generation, id, source, start_char, end_char, retrievable, "
                          "embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["bigint", "integer", "text", "integer", "integer", "boolean", "vector"])
                docs = data.sentences.docs
                for i, ((a, start, end), ok, vec) in enumerate(zip(data.sentences.rows.tolist(), data.retrievable.tolist(),
                                                                    data.sentence_vectors)):
                    copy.write_row((gen, i, docs[a].source, start, end, ok, vec))
            with cur.copy("COPY newsdesk_chunk (generation, id, source, start_char, end_char, first_sentence, "
                          "n_sentences, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["bigint", "integer", "text", "integer", "integer", "integer", "integer", "vector"])
                for i, ((a, start, end, first, count), vec) in enumerate(zip(data.chunks.rows.tolist(), data.chunk_vectors)):
                    copy.write_row((gen, i, docs[a].source, start, end, first, count, vec))
            with tempfile.TemporaryDirectory() as tmp, cur.copy(
                    "COPY newsdesk_file (generation, name, data) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["bigint", "text", "bytea"])
                write_sparse(data, Path(tmp))
                for path in sorted(Path(tmp).rglob("*")):
                    if path.is_file():
                        copy.write_row((gen, path.relative_to(tmp).as_posix(), path.read_bytes()))
        _ensure_vector_index(conn, dim, "newsdesk_sentence" if searches_sentences(manifest) else "newsdesk_chunk")
        before = conn.execute("SELECT generation FROM newsdesk_current WHERE index_name = %s",
                              (index_name,)).fetchone()
        conn.execute("INSERT INTO newsdesk_current (index_name, generation) VALUES (%s, %s) "
                     "ON CONFLICT (index_name) DO UPDATE SET generation = EXCLUDED.generation", (index_name, gen))
        # The generation just replaced stays one more round: processes that loaded it keep
        # searching its vectors until they load this one. Older ones go.
        keep = [gen] + ([before[0]] if before else [])
        conn.execute("DELETE FROM newsdesk_generation WHERE index_name = %s AND NOT (id = ANY(%s))",
                     (index_name, keep))
    return int(gen)


def load(url: str, index_name: str) -> IndexData | None:
    """The live generation of ``index_name`` (None when there is none), read in one snapshot."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute("SELECT g.id, g.manifest FROM newsdesk_current c JOIN newsdesk_generation g "
                           "ON g.id = c.generation WHERE c.index_name = %s", (index_name,)).fetchone()
        if row is None:
            return None
        gen, manifest = int(row[0]), row[1]
        docs = [r[0] for r in conn.execute("SELECT row FROM newsdesk_document WHERE generation = %s", (gen,))]
        files = conn.execute("SELECT name, data FROM newsdesk_file WHERE generation = %s", (gen,)).fetchall()
        binary = conn.cursor(binary=True)  # vectors as float32 bytes, not decimal text (10x faster)
        sents = binary.execute("SELECT id, source, start_char, end_char, retrievable, embedding FROM newsdesk_sentence "
                             "WHERE generation = %s ORDER BY id", (gen,)).fetchall()
        chunks = binary.execute("SELECT id, source, start_char, end_char, first_sentence, n_sentences, embedding "
                              "FROM newsdesk_chunk WHERE generation = %s ORDER BY id", (gen,)).fetchall()
    try:
        by_source = {row["source"]: _doc_from_row(row) for row in docs}
        order = list(dict.fromkeys([r[1] for r in sents] + [r[1] for r in chunks]))  # articles as the tables have them
        documents = {source: by_source[source] for source in order + sorted(by_source.keys() - set(order))}
        article = {source: i for i, source in enumerate(documents)}
        sentences = SentenceTable(tuple(documents.values()), [(article[src], a, b) for _, src, a, b, _, _ in sents])
        chunk_rows = ChunkTable(sentences, [(article[src], a, b, first, n) for _, src, a, b, first, n, _ in chunks])
        check_tables(sentences, chunk_rows)
        dim = int(manifest["dim"])
        sentence_vectors = _matrix([r[5] for r in sents], dim)
        chunk_vectors = _matrix([r[6] for r in chunks], dim)
        if [r[0] for r in sents] != list(range(len(sents))) or [r[0] for r in chunks] != list(range(len(chunks))):
            raise ValueError("sentence or chunk ids are not 0..n-1")
        bm25, terms = _read_files(files, len(sentences))
    except (KeyError, ValueError, TypeError, IndexError, OSError, EOFError) as exc:
        raise IndexCorruptError(f"generation {gen} of index {index_name!r} in the database is damaged "
                                f"({type(exc).__name__}: {exc}); rebuild with `python -m rag index --rebuild`") from None
    return make_index_data({**manifest, "database_generation": gen}, documents, sentences,
                           np.array([r[4] for r in sents], dtype=bool), chunk_rows, chunk_vectors,
                           sentence_vectors, bm25=bm25, terms=terms,
                           store=PgVectorSearch(url, gen, dim, len(sentences), "newsdesk_sentence")
                           if searches_sentences(manifest) else PgVectorSearch(url, gen, dim, len(chunk_rows)))


class PgVectorSearch:
    """Nearest chunks (or sentences: ``table``) by inner product, answered by Postgres (an HNSW
    index on the vectors); the same interface as ``dense.FaissStore``. One connection per
    instance, used under a lock."""

    def __init__(self, url: str, generation: int, dim: int, size: int, table: str = "newsdesk_chunk") -> None:
        if table not in ("newsdesk_chunk", "newsdesk_sentence"):
            raise ValueError(f"table must be newsdesk_chunk or newsdesk_sentence, not {table!r}")
        self.url, self.generation, self.dim, self._size, self.table = url, generation, dim, size, table
        self._conn = None
        self._lock = threading.Lock()

    kind = "pgvector"

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._size)
        if k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        vec = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url)
                self._conn.execute(f"SET hnsw.ef_search = {max(40, 2 * k)}")
                self._conn.execute("SET hnsw.iterative_scan = relaxed_order")  # WHERE generation = …
            rows = self._conn.execute(
                f"SELECT id, -(embedding::vector({self.dim}) <#> %s) FROM {self.table} WHERE generation = %s "
                f"AND vector_dims(embedding) = {self.dim} ORDER BY embedding::vector({self.dim}) <#> %s LIMIT %s", (vec, self.generation, vec, k)).fetchall()
        rows.sort(key=lambda r: (-r[1], r[0]))  # HNSW returns equal scores in any order; FAISS puts the lower id first
        return (np.array([r[1] for r in rows], dtype=np.float32), np.array([r[0] for r in rows], dtype=np.int64))

    def __len__(self) -> int:
        return self._size

    def write(self, path) -> None:  # the file backend's save() writes chunks.faiss; here the rows are the index
        raise RagError("a PostgreSQL-backed index is saved with rag.pgstore.save, not to a file")


def _ensure_vector_index(conn, dim: int, table: str = "newsdesk_chunk") -> None:
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


