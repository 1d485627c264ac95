"""Shared assertions for tests: the product's promises, written once.

    assert_quotes_verbatim(answer, corpus_dir)  # every quote is text[start:end] of its article
"""

from __future__ import annotations

from pathlib import Path

import rag
from rag.corpus import load_document


def assert_quotes_verbatim(answer: rag.Answer, corpus_dir: str | Path) -> None:
    """Every citation's quote is the article text, as loaded, at [start:end]."""
    for c in answer.citations:
        text = load_document(Path(corpus_dir) / c.source).text
        assert text[c.start:c.end] == c.quote, c
