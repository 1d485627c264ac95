"""LangChain faces of the pipeline: a BaseRetriever and a question -> Answer Runnable.

Both are thin adapters at the edge: they call ``rag.pipeline``, exactly as ``rag.ask``
and ``rag.retrieve`` do, so LangChain users composing them get the same behaviour:

    from rag.langchain import NewsRetriever, answer_chain
    chain = answer_chain(config)           # Runnable[dict, Answer]
    chain.invoke({"question": "Why wasn't Putin arrested?", "history": []})
    NewsRetriever(config=config).invoke("pipeline through Mongolia")   # list[Document]
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda

from . import pipeline
from .config import Config, resolve
from .types import Answer, Passage


class NewsRetriever(BaseRetriever):
    """Hybrid (dense + BM25) retriever over the news index, as a LangChain retriever."""

    config: Config | None = None  # None: the process default (environment)
    k: int | None = None  # None: config.top_k

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[LCDocument]:
        return [to_langchain_document(p) for p in pipeline.search(query, resolve(self.config), self.k)]


def to_langchain_document(passage: Passage) -> LCDocument:
    """A Passage as a LangChain Document; offsets and scores go into metadata."""
    return LCDocument(page_content=passage.text, metadata={
        "source": passage.source, "title": passage.title, "outlet": passage.outlet,
        "published": passage.published.isoformat() if passage.published else None,
        "start": passage.start, "end": passage.end, "rank": passage.rank, "score": passage.score,
        "dense_score": passage.dense_score, "sparse_score": passage.sparse_score,
        "also_in": list(passage.also_in)})


def answer_chain(config: Config | None = None) -> Runnable[dict[str, Any], Answer]:
    """Runnable: {"question", "history"?, "config"?, "on_token"?} -> Answer.

    One RunnableLambda around ``pipeline.answer`` (validate -> rewrite -> retrieve ->
    compose), so it can be traced, batched or composed like any LangChain runnable; a
    "config" key in the input overrides the chain's own.
    """
    def run(inputs: dict[str, Any]) -> Answer:
        cfg = inputs.get("config") or resolve(config)
        return pipeline.answer(inputs.get("question"), inputs.get("history"), cfg, inputs.get("on_token"))

    return RunnableLambda(run, name="newsdesk_answer")
