"""The types that flow through the pipeline: frozen dataclasses (documents in, answers out)
and the Protocols of the swappable parts (embedder, answer generator).

Offsets are always character offsets into ``Document.text``, the text *as loaded*; for any
span, ``document.text[start:end]`` is the exact string shown to the user.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # rag.features imports the index types: only the annotations need these
    from .features import Candidate, Question


@dataclass(frozen=True)
class Document:
    """One article as loaded from the corpus folder."""

    source: str  # file name inside the corpus folder, e.g. "fox-putin-enters-mongolia.txt"
    text: str  # full text as loaded; every quote is cut from this string
    title: str
    outlet: str | None = None
    published: date | None = None
    url: str | None = None
    author: str | None = None  # the byline, when the sidecar or the file names one
    content_hash: str = ""  # sha256 of the raw file bytes and sidecar metadata
    # (start, end, page_number) for PDFs; empty for other formats. Pages are 1-based.
    pages: tuple[tuple[int, int, int], ...] = ()
    # Spans excluded from retrieval (disclaimers, captions, promos); text is never altered.
    junk: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        """Page number holding character ``offset`` (PDF only), else None."""
        for start, end, number in self.pages:
            if start <= offset < end:
                return number
        return None


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: ``doc.text[start:end] == text``."""

    id: int  # position in the index's sentence table
    source: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """A window of whole consecutive sentences of one document."""

    id: int  # position in the index's chunk table (== FAISS row)
    source: str
    start: int  # offset of the first sentence
    end: int  # end offset of the last sentence
    sentence_ids: tuple[int, ...]
    text: str  # the sentences' text joined with single spaces (what is embedded)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores, after fusion and duplicate collapse."""

    rank: int  # 1-based
    chunk_id: int
    source: str
    title: str
    outlet: str | None
    published: date | None
    start: int
    end: int
    text: str  # document.text[start:end], verbatim
    score: float  # fused (RRF) score
    dense_score: float  # cosine similarity to the query
    sparse_score: float  # BM25 score (0 when not a BM25 candidate)
    also_in: tuple[str, ...] = ()  # other sources carrying a near-identical passage


@dataclass(frozen=True)
class Citation:
    """A numbered citation: ``quote`` is exactly ``text of source[start:end]``."""

    n: int  # the number used as [n] in Answer.text, 1-based
    source: str
    title: str
    quote: str
    start: int
    end: int
    outlet: str | None = None
    published: date | None = None
    page: int | None = None  # PDF page of the quote's start, else None
    # The exact answer phrase inside the quote (a name, date, number or place the question
    # asks for), as offsets into the article like start/end; None when not marked.
    answer_start: int | None = None
    answer_end: int | None = None

    def quote_parts(self) -> tuple[str, str, str]:
        """The quote as (before, answer phrase, after); (quote, "", "") when none is marked.

        >>> Citation(1, "a.txt", "A", "Putin met Ukhnaa.", 10, 27, answer_start=20, answer_end=26).quote_parts()
        ('Putin met ', 'Ukhnaa', '.')
        """
        if self.answer_start is None or self.answer_end is None:
            return self.quote, "", ""
        a, b = self.answer_start - self.start, self.answer_end - self.start
        return self.quote[:a], self.quote[a:b], self.quote[b:]


@dataclass(frozen=True)
class Unsupported:
    """A generated sentence that failed verification, and why (never part of an answer's text)."""

    text: str
    reason: str


@dataclass(frozen=True)
class Conflict:
    """Two retrieved sentences from different outlets that disagree on the answered fact.

    ``citations`` are the two quotes (numbers as used in ``Answer.text``, which carries one
    sentence saying so); ``kind`` is "numbers" (the same kind of figure with different
    values, e.g. 18 vs 17 months) or "contradiction" (the verifier reads one as refuting
    the other); ``values`` are the differing phrases for "numbers", else empty.
    """

    sentence: str  # the answer's sentence about it, e.g. "AP reports 18 months; Fox News reports 17 months."
    citations: tuple[int, int]
    outlets: tuple[str, str]
    kind: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """What ``rag.ask`` returns. Every sentence of ``text`` ends with [n] markers."""

    question: str
    text: str
    citations: list[Citation]
    abstained: bool
    query: str  # the standalone query actually searched (history resolved)
    passages: list[Passage]  # what was retrieved, best first, with scores
    timings: dict[str, float]  # seconds per stage, plus "total"
    mode: str = "extractive"
    # How many distinct sources back each answer sentence, in order (for "3 of 5 agree").
    support_counts: list[int] = field(default_factory=list)
    # Generative modes: sentences the model wrote that failed verification (never part of
    # ``text``; the UI shows them flagged only when Config.show_unsupported is set), and how
    # many sentences it drafted in all (0 in extractive mode).
    unsupported: list[Unsupported] = field(default_factory=list)
    drafted: int = 0
    # Outlets that disagree on the answered fact (rag.conflicts); each also has a sentence
    # in ``text`` citing both sides.
    conflicts: list[Conflict] = field(default_factory=list)
    # The reader's best probability that a quoted sentence answers the question (None: no
    # reader, or no answer). ``tentative``: answered, but under the reader's confidence
    # threshold (rag.reader), so the quotes may be about another event or detail: shown with
    # a warning (UI, CLI) instead of as the answer.
    confidence: float | None = None
    tentative: bool = False
    # "index updating: 40%" when the next index was being built as this question started:
    # the answer comes from the index before it (the corpus as it was). None normally.
    index_status: str | None = None

    def to_dict(self) -> dict:
        """The Answer as JSON-able data (dates as ISO strings): the one shape the CLI's
        ``--json`` and the web API both return."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: object) -> object:
    """Dates to ISO strings and tuples to lists, recursively."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Composition:
    """What an answer generator produces from retrieved passages (no query/timing info).

    ``rag.ask`` wraps it into an Answer. Same invariants: every sentence of ``text`` ends
    with [n] markers and every Citation's quote is verbatim source text.
    """

    text: str
    citations: list[Citation]
    abstained: bool
    support_counts: list[int] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    drafted: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # generator's own stages
    conflicts: list[Conflict] = field(default_factory=list)  # as Answer.conflicts
    confidence: float | None = None  # as Answer.confidence
    tentative: bool = False  # as Answer.tentative


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim)."""

    name: str  # stable identifier recorded in the index manifest
    fingerprint: str  # hash of the weights (or of the fake's seed); stale-index detection
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class AnswerGenerator(Protocol):
    """Writes a cited answer from retrieved passages."""

    def compose(self, question: str, query: str, passages: Sequence[Passage],
                on_token: Callable[[str], None] | None = None) -> Composition: ...


@runtime_checkable
class SentenceReader(Protocol):
    """Reads a question and candidate sentences: the probability each one answers it
    (rag.reader: the shipped perceptron head, or a cross-encoder)."""

    threshold: float  # calibrated: below this best probability, the question is unanswered
    confident: float  # calibrated: below this best probability, the answer is marked tentative

    def score(self, question: Question, candidates: Sequence[Candidate]) -> np.ndarray:
        """One probability per candidate (``rag.features.Candidate``)."""
        ...
