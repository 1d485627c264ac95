"""Newsdesk QA: cited, offline question answering over a folder of news articles.

    import rag
    answer = rag.ask("Why wasn't Putin arrested?")
    print(answer.text)
    for c in answer.citations:
        print(c.n, c.source, c.quote)
"""

from .api import add_document, ask, build_index, get_document, list_documents, remove_document, retrieve
from .chain import NewsRetriever, answer_chain
from .config import Config
from .errors import ConfigError, CorpusError, GenerationError, IndexCorruptError, QuestionError, RagError
from .indexer import IndexReport
from .schema import Answer, Citation, Document, Passage

__all__ = [
    "Answer", "Citation", "Config", "ConfigError", "CorpusError", "Document", "GenerationError",
    "IndexCorruptError", "IndexReport", "NewsRetriever", "Passage", "QuestionError", "RagError",
    "add_document", "answer_chain", "ask", "build_index", "get_document", "list_documents",
    "remove_document", "retrieve",
]
