"""LangChain faces of the pipeline: a BaseRetriever and the question->Answer LCEL chain.

``rag.ask()`` invokes exactly this chain, so LangChain users composing it get the same
behaviour:

    chain = answer_chain(config)           # Runnable[dict, Answer]
    chain.invoke({"question": "Why wasn't Putin arrested?", "history": []})
    retriever = NewsRetriever(config=config)
    retriever.invoke("pipeline through Mongolia")   # list[langchain Document]
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda

from . import engine as engine_mod
from .config import Config
from .schema import Answer, Passage


class NewsRetriever(BaseRetriever):
    """Hybrid (dense + BM25) retriever over the news index, as a LangChain retriever."""

    config: Config | None = None
    k: int | None = None  # None: config.top_k

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[LCDocument]:
        config = self.config or Config.from_env()
        eng = engine_mod.get_engine(config)
        passages = eng.retrieve(query, config, top_k=self.k)
        return [to_langchain_document(p) for p in passages]


def to_langchain_document(passage: Passage) -> LCDocument:
    """A Passage as a LangChain Document; offsets and scores go into metadata."""
    return LCDocument(page_content=passage.text, metadata={
        "source": passage.source, "title": passage.title, "outlet": passage.outlet,
        "published": passage.published.isoformat() if passage.published else None,
        "start": passage.start, "end": passage.end, "rank": passage.rank, "score": passage.score,
        "dense_score": passage.dense_score, "sparse_score": passage.sparse_score,
        "also_in": list(passage.also_in)})


def answer_chain(config: Config | None = None) -> Runnable[dict[str, Any], Answer]:
    """LCEL chain: {"question", "history"?, "on_token"?} -> Answer.

    Steps: validate -> standalone query (history) -> hybrid retrieval -> answer generator
    (extractive or an LLM, by ``config.mode``). Each step is a RunnableLambda, so the chain
    can be traced, batched or composed like any LangChain runnable.
    """
    fixed = config

    def prepare(inputs: dict[str, Any]) -> dict[str, Any]:
        cfg = inputs.get("config") or fixed or Config.from_env()
        eng = engine_mod.get_engine(cfg)
        started = time.perf_counter()
        question, history = eng.validate(inputs.get("question"), inputs.get("history"), cfg)
        query = eng.rewrite(question, history, cfg)
        return {**inputs, "config": cfg, "engine": eng, "question": question, "history": history,
                "query": query, "started": started,
                "timings": {"rewrite": time.perf_counter() - started}}

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        t = time.perf_counter()
        retrieval = state["engine"].retrieve(state["query"], state["config"], pool=True)
        return {**state, "retrieval": retrieval,
                "timings": {**state["timings"], "retrieve": time.perf_counter() - t}}

    def compose(state: dict[str, Any]) -> Answer:
        return state["engine"].compose(state)

    return (RunnableLambda(prepare, name="prepare") | RunnableLambda(retrieve, name="retrieve")
            | RunnableLambda(compose, name="compose")).with_config(run_name="newsdesk_answer")
