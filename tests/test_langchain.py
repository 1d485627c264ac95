"""Worked examples for the LangChain faces of the pipeline (rag.langchain).

``NewsRetriever`` is a LangChain ``BaseRetriever`` whose Documents carry the passage's
offsets, so ``page_content`` is exactly the article slice; ``answer_chain`` is the LCEL chain
``rag.ask`` itself invokes, so both return the same Answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.runnables import Runnable

import rag
from rag.langchain import NewsRetriever, answer_chain
from rag.langchain import to_langchain_document
from rag.config import Config
from rag.corpus import load_document
from tests.checks import assert_quotes_verbatim


def test_retriever_returns_documents_that_are_article_slices(tiny_config: Config) -> None:
    docs = NewsRetriever(config=tiny_config).invoke("gas pipeline through Mongolia")
    assert docs and all(isinstance(d, LCDocument) for d in docs)
    assert docs[0].metadata["source"] == "pipeline.txt"
    for d in docs:
        text = load_document(Path(tiny_config.corpus_dir) / d.metadata["source"]).text
        assert d.page_content == text[d.metadata["start"]:d.metadata["end"]]
    assert [d.metadata["rank"] for d in docs] == list(range(1, len(docs) + 1))


def test_retriever_metadata_is_plain_json_data(tiny_config: Config) -> None:
    (first, *_) = NewsRetriever(config=tiny_config).invoke("gas pipeline through Mongolia")
    assert first.metadata["title"] == "Pipeline plans"
    assert first.metadata["outlet"] == "Energy Wire"
    assert first.metadata["published"] == "2024-09-02"
    assert isinstance(first.metadata["also_in"], list)
    assert {"score", "dense_score", "sparse_score"} <= set(first.metadata)


@pytest.mark.parametrize("k", [1, 2])
def test_retriever_k(tiny_config: Config, k: int) -> None:
    assert len(NewsRetriever(config=tiny_config, k=k).invoke("court arrest suspects")) == k


def test_retriever_matches_rag_retrieve(tiny_config: Config) -> None:
    query = "Why wasn't Putin arrested?"
    docs = NewsRetriever(config=tiny_config).invoke(query)
    passages = rag.retrieve(query, config=tiny_config)
    assert [to_langchain_document(p) for p in passages] == docs


def test_retriever_batch(tiny_config: Config) -> None:
    results = NewsRetriever(config=tiny_config).batch(["gas pipeline", "protesters in the square"])
    assert [r[0].metadata["source"] for r in results] == ["pipeline.txt", "wire.txt"]


def test_answer_chain_is_a_runnable_returning_the_same_answer_as_ask(tiny_config: Config) -> None:
    chain = answer_chain(tiny_config)
    assert isinstance(chain, Runnable)
    via_chain = chain.invoke({"question": "How much gas would the pipeline carry?"})
    via_ask = rag.ask("How much gas would the pipeline carry?", config=tiny_config)
    assert isinstance(via_chain, rag.Answer)
    assert (via_chain.text, via_chain.citations, via_chain.passages, via_chain.abstained) == (
        via_ask.text, via_ask.citations, via_ask.passages, via_ask.abstained)


def test_answer_chain_takes_history(tiny_config: Config) -> None:
    history = [("Who is Mr. Ivanov?", "Mr. Ivanov is a U.N. adviser [1].")]
    answer = answer_chain(tiny_config).invoke({"question": "When did he say talks would resume?",
                                               "history": history})
    assert "Ivanov" in answer.query
    assert answer.query == rag.ask("When did he say talks would resume?", history, config=tiny_config).query


def test_answer_chain_batch_of_two_questions(tiny_config: Config) -> None:
    questions = ["How much gas would the pipeline carry?", "Where did protesters gather?"]
    answers = answer_chain(tiny_config).batch([{"question": q} for q in questions])
    assert [a.question for a in answers] == questions
    assert [a.citations[0].source for a in answers] == ["pipeline.txt", "wire.txt"]
    for a in answers:
        assert_quotes_verbatim(a, tiny_config.corpus_dir)


def test_answer_chain_validates_like_ask(tiny_config: Config) -> None:
    with pytest.raises(rag.QuestionError, match="empty"):
        answer_chain(tiny_config).invoke({"question": "   "})


def test_config_in_the_input_overrides_the_chain_config(tiny_config: Config) -> None:
    chain = answer_chain(tiny_config)
    narrow = tiny_config.replace(top_k=1)
    answer = chain.invoke({"question": "Why wasn't Putin arrested?", "config": narrow})
    wide = chain.invoke({"question": "Why wasn't Putin arrested?"})
    assert len(answer.passages) < len(wide.passages)
