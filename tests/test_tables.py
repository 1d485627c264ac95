"""The sentence and chunk tables (rag/tables.py): rows over the articles' texts, records made
when read, and a re-index that copies unchanged articles' rows instead of remaking them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rag
from rag import store
from rag.config import Config
from rag.embedding import load_embedder
from rag.indexer import build_index
from rag.tables import ChunkTable, SentenceTable, check_tables
from rag.types import Document


def test_a_record_is_cut_from_its_article_when_read() -> None:
    docs = (Document(source="a.txt", text="Yaks moved. Herders followed.", title="A"),
            Document(source="b.txt", text="Courts  decide.", title="B"))
    sentences = SentenceTable(docs, [[0, 0, 11], [0, 12, 29], [1, 0, 15]])
    chunks = ChunkTable(sentences, [[0, 0, 29, 0, 2], [1, 0, 15, 2, 1]])
    assert sentences[2].source == "b.txt" and sentences[-1].text == "Courts  decide."
    assert [s.id for s in sentences] == [0, 1, 2]
    assert chunks[1].text == "Courts decide."  # whitespace folded, as embedded
    assert chunks[0].sentence_ids == (0, 1) and chunks.bounds()[1].tolist() == [1, 2]
    assert sentences.article_rows().tolist() == [0, 2, 3]
    with pytest.raises(IndexError, match="row 3 is out of range"):
        sentences[3]
    with pytest.raises(ValueError):  # tables are read-only: a record never changes under a reader
        sentences.rows[0, 1] = 5


def test_rows_that_point_outside_their_article_are_refused() -> None:
    docs = (Document(source="a.txt", text="Short.", title="A"),)
    sentences = SentenceTable(docs, [[0, 0, 60]])
    with pytest.raises(ValueError, match="outside its article's text"):
        check_tables(sentences, ChunkTable(sentences, [[0, 0, 6, 0, 1]]))
    fine = SentenceTable(docs, [[0, 0, 6]])
    with pytest.raises(ValueError, match="outside its article's sentences"):
        check_tables(fine, ChunkTable(fine, [[0, 0, 6, 0, 2]]))


def test_editing_the_first_article_renumbers_every_later_row_as_a_fresh_build_would(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"a{i}.txt").write_text(f"Article {i} opens. It says {i} things. It ends {i}.\n", encoding="utf-8")
    config = Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", stale_check_seconds=0.0)
    embedder = load_embedder("hash")
    first, _ = build_index(config, embedder)
    (corpus / "a0.txt").write_text("Article 0 grew. It now has more. Much more. Even more. The end.\n", encoding="utf-8")
    (corpus / "a3.txt").unlink()
    updated, report = build_index(config, embedder, previous=first)
    assert report.updated == ("a0.txt",) and report.removed == ("a3.txt",) and report.embedded > 0
    fresh, _ = build_index(config.replace(index_dir=tmp_path / "fresh"), embedder)
    for data in (updated, store.load(config.index_dir)):  # in memory and as saved
        assert data.sentences == fresh.sentences and list(data.sentences) == list(fresh.sentences)
        assert data.chunks == fresh.chunks and list(data.chunks) == list(fresh.chunks)
        assert data.retrievable.tolist() == fresh.retrievable.tolist()
        assert np.allclose(data.sentence_vectors, fresh.sentence_vectors)
        assert np.allclose(data.chunk_vectors, fresh.chunk_vectors)
        assert [data.terms.span_tokens(i, i) for i in range(len(data.sentences))] == [
            fresh.terms.span_tokens(i, i) for i in range(len(fresh.sentences))]
    answer = rag.ask("What does article 5 say?", config=config)
    assert answer.citations and all(c.source != "a3.txt" for c in answer.citations)


def test_copy_rows_copies_long_runs_as_blocks_and_scattered_rows_one_by_one() -> None:
    from rag.tables import copy_rows

    source = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    rows = np.r_[0:400, 410:1000]  # one article of 10 rows gone: two runs ...
    to = np.r_[5:405, 405:995]  # ... landing after 5 new rows
    for target_rows, source_rows in ((to, rows), (np.random.default_rng(3).permutation(990), rows)):
        got, want = np.zeros((1000, 4), np.float32), np.zeros((1000, 4), np.float32)
        copy_rows(source, source_rows, got, target_rows)
        want[target_rows] = source[source_rows]
        np.testing.assert_array_equal(got, want)
