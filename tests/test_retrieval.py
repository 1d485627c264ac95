"""Worked examples for rag.retrieval: reciprocal-rank fusion, duplicate collapse and filters.

The fusion example is built by hand (three chunks with chosen vectors and texts, a fake
embedder that always returns the same query vector) so every score can be checked on paper.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

import rag
from rag.config import Config
from rag.live_index import live_index
from rag.retrieval import chunk_mask, dense_ranking, retrieve
from rag.types import Chunk, Document, Sentence
from rag.store import make_index_data


class FixedEmbedder:
    """Every text embeds to the same vector: the dense ranking is fixed by the chunk vectors."""

    def __init__(self, vector) -> None:
        self.vector = np.asarray(vector, dtype=np.float32)
        self.dim = len(self.vector)

    def embed(self, texts):
        return np.tile(self.vector, (len(texts), 1))


def hand_made_index(rows: list[tuple[str, str, list[float]]], **doc_fields):
    """One single-sentence document and chunk per row: (source, text, chunk vector)."""
    documents, sentences, chunks = {}, [], []
    for i, (source, text, _) in enumerate(rows):
        documents[source] = Document(source=source, text=text, title=source.upper(),
                                     **doc_fields.get(source, {}))
        sentences.append(Sentence(i, source, 0, len(text), text))
        chunks.append(Chunk(i, source, 0, len(text), (i,), text))
    vectors = np.array([v for _, _, v in rows], dtype=np.float32)
    return make_index_data({"dim": vectors.shape[1]}, documents, sentences,
                           np.ones(len(rows), bool), chunks, vectors, vectors.copy())


# Dense ranking (cosine with the query [1, 0, 0]):  a (1.0) > b (0.6) > c (0.5)
# BM25 ranking for "pipeline":                      c (three hits, short) > b (one hit); a has none
ROWS = [
    ("a.txt", "Putin arrived in Ulaanbaatar on Monday evening.", [1.0, 0.0, 0.0]),
    ("b.txt", "The pipeline talks resumed after a long pause in the capital city.", [0.6, 0.8, 0.0]),
    ("c.txt", "Pipeline, pipeline: the pipeline.", [0.5, 0.0, 0.866]),
]
QUERY = FixedEmbedder([1.0, 0.0, 0.0])


def test_rrf_fusion_worked_example() -> None:
    """With rrf_k=1:  a = 1/(1+1) = 0.5;  b = 1/(1+2) + 1/(1+2) = 0.667;  c = 1/(1+3) + 1/(1+1) = 0.75."""
    data = hand_made_index(ROWS)
    passages = retrieve(data, QUERY, "pipeline", Config(model="hash", rrf_k=1, top_k=3))
    assert [p.source for p in passages] == ["c.txt", "b.txt", "a.txt"]
    assert [p.rank for p in passages] == [1, 2, 3]
    assert [round(p.score, 4) for p in passages] == [0.75, round(2 / 3, 4), 0.5]
    assert [round(p.dense_score, 3) for p in passages] == [0.5, 0.6, 1.0]
    assert passages[0].sparse_score > passages[1].sparse_score > 0 == passages[2].sparse_score


def test_rrf_with_the_default_constant_keeps_the_same_order() -> None:
    """rrf_k=60: a = 1/61 = .01639, b = 2/62 = .03226, c = 1/63 + 1/61 = .03227."""
    passages = retrieve(hand_made_index(ROWS), QUERY, "pipeline", Config(model="hash", top_k=3))
    assert [p.source for p in passages] == ["c.txt", "b.txt", "a.txt"]
    assert passages[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert passages[1].score == pytest.approx(2 / 62)


def test_without_keyword_hits_the_dense_ranking_decides() -> None:
    passages = retrieve(hand_made_index(ROWS), QUERY, "zebra", Config(model="hash", top_k=3))
    assert [p.source for p in passages] == ["a.txt", "b.txt", "c.txt"]
    assert all(p.sparse_score == 0 for p in passages)


def test_near_identical_vectors_collapse_into_also_in() -> None:
    rows = ROWS + [("d.txt", "Putin arrived in Ulaanbaatar on Monday evening.", [0.99, 0.14, 0.0])]
    passages = retrieve(hand_made_index(rows), QUERY, "zebra", Config(model="hash", top_k=4))
    assert [p.source for p in passages] == ["a.txt", "b.txt", "c.txt"]
    assert passages[0].also_in == ("d.txt",)
    assert passages[1].also_in == passages[2].also_in == ()


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_top_k_is_respected(top_k: int) -> None:
    passages = retrieve(hand_made_index(ROWS), QUERY, "pipeline", Config(model="hash", top_k=top_k))
    assert len(passages) == top_k


def test_per_call_top_k_overrides_the_config() -> None:
    data = hand_made_index(ROWS)
    assert len(retrieve(data, QUERY, "pipeline", Config(model="hash", top_k=3), top_k=1)) == 1
    assert retrieve(data, QUERY, "pipeline", Config(model="hash"), top_k=0) == []


# --- on the tiny corpus --------------------------------------------------------------------

def test_identical_passages_in_two_articles_collapse(tiny_config: Config) -> None:
    """court.txt and wire.txt share a sentence; one-sentence chunks make them identical passages."""
    config = tiny_config.replace(chunk_sentences=1, chunk_overlap=0)
    passages = rag.retrieve("Why do members decide whether to arrest suspects?", config=config)
    shared = [p for p in passages if p.text.startswith("The court has no enforcement mechanism")]
    assert len(shared) == 1
    (passage,) = shared
    other = {"court.txt": "wire.txt", "wire.txt": "court.txt"}[passage.source]
    assert passage.also_in == (other,)


def test_passage_text_is_the_article_slice(tiny_config: Config) -> None:
    for p in rag.retrieve("gas pipeline through Mongolia", config=tiny_config):
        doc = rag.get_document(p.source, tiny_config)
        assert p.text == doc.text[p.start:p.end]
        assert (p.title, p.outlet, p.published) == (doc.title, doc.outlet, doc.published)


@pytest.mark.parametrize("filters, allowed", [
    ({"outlets": ("Law Daily",)}, {"court.txt"}),
    ({"outlets": ("law daily", "ENERGY WIRE")}, {"court.txt", "pipeline.txt"}),  # case-insensitive
    ({"outlets": ("Nobody Weekly",)}, set()),
    ({"date_from": date(2024, 9, 3)}, {"court.txt"}),  # wire.txt has no date: excluded
    ({"date_to": date(2024, 9, 2)}, {"pipeline.txt"}),
    ({"date_from": "2024-09-02", "date_to": "2024-09-03"}, {"court.txt", "pipeline.txt"}),
    ({"date_from": date(2024, 9, 2), "date_to": date(2024, 9, 2), "outlets": ("Law Daily",)}, set()),
])
def test_outlet_and_date_filters(tiny_config: Config, filters: dict, allowed: set[str]) -> None:
    config = tiny_config.replace(**filters)
    for query in ("Why wasn't Putin arrested?", "gas pipeline", "protesters in the square"):
        sources = {p.source for p in rag.retrieve(query, config=config)}
        assert sources <= allowed
        assert all(set(p.also_in) <= allowed for p in rag.retrieve(query, config=config))
    if allowed:
        assert {p.source for p in rag.retrieve("court pipeline arrest gas", config=config, top_k=10)} == allowed


def test_filtered_ask_cites_only_allowed_sources(tiny_config: Config) -> None:
    config = tiny_config.replace(outlets=("Law Daily",))
    answer = rag.ask("Why wasn't Putin arrested?", config=config)
    assert {c.source for c in answer.citations} <= {"court.txt"}
    assert {p.source for p in answer.passages} <= {"court.txt"}


def test_chunk_mask_is_none_without_filters(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    data = live_index(tiny_config).snapshot().data
    assert chunk_mask(data, tiny_config) is None
    mask = chunk_mask(data, tiny_config.replace(outlets=("Law Daily",)))
    assert [c.source for c, ok in zip(data.chunks, mask) if ok] == ["court.txt"]


@pytest.mark.parametrize("query", ["", "   ", "the of and", "???", "zzzzqqqq", "Ulaanbaatar " * 500])
def test_odd_queries_do_not_crash(tiny_config: Config, query: str) -> None:
    passages = rag.retrieve(query, config=tiny_config)
    assert len(passages) <= tiny_config.top_k
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))


@pytest.mark.parametrize("top_k", [1, 2, 10])
def test_api_top_k(tiny_config: Config, top_k: int) -> None:
    passages = rag.retrieve("court arrest suspects", config=tiny_config, top_k=top_k)
    assert len(passages) == min(top_k, 3)  # three chunks in the tiny corpus


def test_filtered_retrieval_passages_stay_in_the_filter(tiny_config: Config) -> None:
    answer = rag.ask("Why wasn't Putin arrested?", config=tiny_config.replace(outlets=("Law Daily",)))
    assert {p.source for p in answer.passages} == {"court.txt"}


def test_empty_corpus_retrieves_nothing(tmp_path) -> None:
    (tmp_path / "corpus").mkdir()
    config = Config(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model="hash")
    assert rag.retrieve("anything", config=config) == []


def two_sentence_chunks(searches: str):
    """Chunk 0 = sentences 0-1 ("a.txt"), chunk 1 = sentences 1-2 (overlap), chunk 2 =
    sentences 3-4 ("b.txt"); chunk vectors are sentence means, ``searches`` names how the index
    says they were made ("sentence-mean": dense search ranks sentences)."""
    texts = ["Putin landed.", "Drums played.", "Guards stood.", "Gas flows.", "Talks went on."]
    sentence_vectors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                                 [0.8, 0.6, 0.0], [0.8, 0.0, 0.6]], dtype=np.float32)
    sources = ["a.txt"] * 3 + ["b.txt"] * 2
    documents = {s: Document(source=s, text=" ".join(t for t, src in zip(texts, sources) if src == s), title=s)
                 for s in ("a.txt", "b.txt")}
    sentences = [Sentence(i, s, 0, len(t), t) for i, (t, s) in enumerate(zip(texts, sources))]
    spans = [("a.txt", (0, 1)), ("a.txt", (1, 2)), ("b.txt", (3, 4))]
    chunks = [Chunk(i, s, 0, 1, ids, " ".join(texts[j] for j in ids)) for i, (s, ids) in enumerate(spans)]
    means = np.array([sentence_vectors[list(ids)].mean(axis=0) for _, ids in spans], dtype=np.float32)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return make_index_data({"dim": 3, "chunking": {"vectors": searches}}, documents, sentences,
                           np.array([True, True, True, True, False]), chunks, means, sentence_vectors)


def test_a_sentence_mean_index_ranks_chunks_by_their_best_sentence() -> None:
    """Query [1, 0, 0]. Chunk vectors (means): chunk 2 = (0.8, 0.3, 0.3)/|.| = 0.88 beats chunk 0
    = (0.5, 0.5, 0)/|.| = 0.71, so chunk 0's exact match "Putin landed." is blurred away. By best
    sentence: chunk 0 holds sentence 0 (1.0); chunk 2's best retrievable sentence is 3 (0.8; sentence
    4, 0.8 as well, is not retrievable); chunk 1's best is 0.0 (sentences 1 and 2)."""
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    assert dense_ranking(two_sentence_chunks("encode"), q, 3).tolist() == [2, 0, 1]
    by_sentence = two_sentence_chunks("sentence-mean")
    assert len(by_sentence.store) == 5  # the FAISS index holds sentence vectors
    assert dense_ranking(by_sentence, q, 3).tolist() == [0, 2, 1]
    assert dense_ranking(by_sentence, q, 1).tolist() == [0]
    # filtered (exact over the allowed chunks' sentences): the same order, without chunk 0
    assert dense_ranking(by_sentence, q, 3, mask=np.array([False, True, True])).tolist() == [2, 1]
