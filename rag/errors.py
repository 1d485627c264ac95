"""Error types: every error the library raises derives from RagError and names the bad value."""

from __future__ import annotations


class RagError(Exception):
    """Base class for all errors raised by the rag package."""


class ConfigError(RagError):
    """A configuration value is invalid (wrong type, out of range, unknown mode)."""


class QuestionError(RagError):
    """The question cannot be answered as given (empty, too long, not text)."""


class CorpusError(RagError):
    """A corpus file cannot be read (missing, unsupported type, broken PDF, not UTF-8)."""


class ArticleExistsError(CorpusError):
    """An article with this file name is already in the corpus, and replacing it was not asked for."""


class IndexCorruptError(RagError):
    """The saved index is unreadable, inconsistent, or written by an unknown format version."""


class GenerationError(RagError):
    """An answer generator (LLM backend) failed or is not set up."""
