"""Newsdesk QA: cited, offline question answering over a folder of news articles.

    import rag
    answer = rag.ask("Why wasn't Putin arrested?")
    print(answer.text)
    for c in answer.citations:
        print(c.n, c.source, c.quote)

LangChain adapters live in ``rag.langchain`` (NewsRetriever, answer_chain).
"""

from .api import (add_document, ask, build_index, get_document, index_status, list_documents, remove_document,
                  retrieve)
from .config import Config
from .errors import (ArticleExistsError, ConfigError, CorpusError, GenerationError, IndexCorruptError,
                     QuestionError, RagError)
from .eval.run import evaluate
from .indexer import IndexReport
from .types import Answer, Citation, Document, Passage

__all__ = [
    "ask", "retrieve", "build_index", "add_document", "remove_document", "list_documents", "get_document",
    "index_status", "evaluate", "Answer", "Citation", "Passage", "Document", "IndexReport", "Config",
    "RagError", "ConfigError", "QuestionError", "CorpusError", "ArticleExistsError", "IndexCorruptError",
    "GenerationError",
]
