"""Score corpus sentences as evidence for a question: relevance, key terms, answer type.

Each candidate sentence gets a cheap ``support`` prior in [0, 1] from generic signals:
dense similarity to the query, the share of the question's key terms it contains (IDF
weighted), whether it holds the kind of thing a typed question asks for (a number for "how
many", a date for "when", a name for "who", a place for "where"), closeness to the retrieved
topic and the rank of its passage. The prior picks the few sentences the reader (a trained
cross-encoder, rag.reader) reads; with the reader off it decides alone. ``answer_span``
finds the asked-for phrase inside a chosen sentence.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from .answer_types import AnswerType, expected_type, typed_spans
from .store import IndexData
from .tables import SentenceTable
from .terms import (TermTable, contains_term, date_spans, dates, fold, key_terms, name_spans, names, number_spans,
                    numbers, question_type, stem, term_table, terms_match)

_QUESTION_SENTENCE = re.compile(r"\?\s*[\"”’']?\s*$")
_PLACE = re.compile(r"\b(in|at|near|outside|inside|to|from|across|along|through)\s+(the\s+)?[A-Z]")
_PLACE_LOWER = re.compile(r"\b(in|at|near|outside|inside|along)\s+the\s+[a-z]+", re.IGNORECASE)
_CAPITALISED = re.compile(r"[A-Z][\w\u00C0-\u024F'’-]+")
_LEADING = " \t\n\"“”‘’'(["  # what may come before a sentence's first word
_WORDS = re.compile(r"[\w\u00C0-\u024F'’-]+")


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with its evidence score and the signals behind it."""

    sentence_id: int
    support: float  # combined score in [0, 1]
    dense: float
    coverage: float  # IDF-weighted share of question key terms present
    cue: float  # 0..1: carries what the question type asks for
    rank_prior: float
    answer_prob: float | None = None  # the reader's probability (None: not read)


@dataclass(frozen=True)
class QuestionProfile:
    """What the question asks: type, key terms with IDF weights, names it mentions."""

    qtype: str
    terms: tuple[str, ...]
    weights: tuple[float, ...]
    names: tuple[str, ...]
    corpus_coverage: float  # IDF-weighted share of key terms found anywhere in the corpus
    asks: AnswerType | None = None  # the kind of number asked for ("how much did X pay": money)

    @property
    def typed(self) -> bool:
        """Whether the question asks for a name, date, place or kind of number (its answer
        sentence must hold one)."""
        return self.qtype in ("who", "when", "where", "how-many") or self.asks is not None


class TermStats:
    """Document frequencies of stemmed terms over retrievable sentences, and the corpus vocabulary.

    The vocabulary also counts non-retrievable text (captions, bylines): a question about
    the airport in a photo caption is about something the articles do mention. Counted from
    the index's saved ``TermTable`` with numpy; a sentence's and an article's term sets are
    made when first asked for (a question reads a few dozen), not for the whole archive.
    """

    def __init__(self, data: IndexData) -> None:
        retrievable = np.asarray(data.retrievable, dtype=bool)
        self._setup(data.terms, retrievable, _RetrievableIds(data.sentences, retrievable))

    @classmethod
    def from_texts(cls, texts: list[str]) -> TermStats:
        """Statistics of a plain list of sentences (sentence id = list position); training uses it."""
        stats = cls.__new__(cls)
        stats._setup(term_table(texts), np.ones(len(texts), dtype=bool), {})
        return stats

    def _setup(self, table: TermTable, retrievable: np.ndarray, sources: dict[str, list[int]]) -> None:
        self.n = max(int(retrievable.sum()), 1)
        owner = np.repeat(np.arange(len(retrievable), dtype=np.int64), np.diff(table.offsets))
        keep = retrievable[owner]
        # a term counts once per sentence, however often it occurs: (sentence x term) pairs
        # counted by SciPy's counting sort (a comparison sort of the pairs: 0.05 s at 17.5k articles)
        pairs = scipy.sparse.csc_matrix((np.ones(int(keep.sum()), dtype=np.int32), (owner[keep], table.ids[keep])),
                                        shape=(len(retrievable), max(len(table.vocabulary), 1)))
        pairs.sum_duplicates()
        counts = np.diff(pairs.indptr)[:len(table.vocabulary)]
        self.df = {table.vocabulary[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}
        self.vocabulary = sorted(table.vocabulary)
        self._prefixes = [term for term in self.vocabulary if term in self.df]  # sorted too
        self.sentence_terms = _SentenceTerms(table, retrievable)
        self.article_terms = _ArticleTerms(self.sentence_terms, sources)

    @property
    def max_idf(self) -> float:
        """The IDF of a term no sentence contains: the scale of ``idf``."""
        return math.log(1 + self.n / 0.5)

    def idf(self, term: str) -> float:
        """Smoothed IDF; terms the corpus lacks get the maximum (they matter most)."""
        return math.log(1 + self.n / (self.doc_freq(term) + 0.5))

    def doc_freq(self, term: str) -> int:
        if term in self.df:
            return self.df[term]
        if len(term) < 5:
            return 0
        total, i = 0, bisect.bisect_left(self._prefixes, term)  # 'mongolia' counts 'mongolian'
        while i < len(self._prefixes) and self._prefixes[i].startswith(term):
            total += self.df[self._prefixes[i]]
            i += 1
        return total

    def in_corpus(self, term: str) -> bool:
        i = bisect.bisect_left(self.vocabulary, term)
        return i < len(self.vocabulary) and (self.vocabulary[i] == term
                                              or len(term) >= 5 and self.vocabulary[i].startswith(term))


class _SentenceTerms(Mapping):
    """sentence id -> its terms, for retrievable sentences; made on first use and kept."""

    def __init__(self, table: TermTable, retrievable: np.ndarray) -> None:
        self._table, self._retrievable, self._made = table, retrievable, {}
        self._ids = np.flatnonzero(retrievable)

    def __getitem__(self, sid: int) -> frozenset[str]:
        terms = self._made.get(sid)
        if terms is None:
            if not (isinstance(sid, (int, np.integer)) and 0 <= sid < len(self._retrievable)
                    and self._retrievable[sid]):
                raise KeyError(sid)
            terms = self._made[sid] = self._table.terms(int(sid))
        return terms

    def __iter__(self):
        return iter(self._ids.tolist())

    def __len__(self) -> int:
        return len(self._ids)


class _RetrievableIds(Mapping):
    """article -> the ids of its retrievable sentences, read from the sentence table when
    asked (a question reads a few articles; listing all 17,528 took 0.06 s of every swap)."""

    def __init__(self, table: SentenceTable, retrievable: np.ndarray) -> None:
        self._table, self._retrievable = table, retrievable
        self._article = {d.source: a for a, d in enumerate(table.docs)}
        self._bounds = table.article_rows()

    def __getitem__(self, source: str) -> list[int]:
        a = self._article[source]
        first, end = int(self._bounds[a]), int(self._bounds[a + 1])
        ids = np.flatnonzero(self._retrievable[first:end])
        if not len(ids):
            raise KeyError(source)
        return (ids + first).tolist()

    def __iter__(self):
        running = np.concatenate([[0], np.cumsum(self._retrievable, dtype=np.int64)])
        counts = running[self._bounds[1:]] - running[self._bounds[:-1]]
        for a in np.flatnonzero(counts).tolist():
            yield self._table.docs[a].source

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _ArticleTerms(Mapping):
    """article -> the terms of its retrievable sentences; made on first use and kept."""

    def __init__(self, sentence_terms: _SentenceTerms, sources: dict[str, list[int]]) -> None:
        self._sentence_terms, self._sources, self._made = sentence_terms, sources, {}

    def __getitem__(self, source: str) -> frozenset[str]:
        terms = self._made.get(source)
        if terms is None:
            terms = self._made[source] = frozenset().union(*(self._sentence_terms[i] for i in self._sources[source]))
        return terms

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def asked_names(question: str) -> tuple[str, ...]:
    """The names a question mentions (its capitalised first word is the question word).

    >>> asked_names("How much did Cambridge University Library pay the Bible Society?")
    ('Cambridge University Library', 'Bible Society')
    >>> asked_names("Which Mongolian president did Putin meet?")
    ('Mongolian', 'Putin')
    """
    found = names(question)
    if found and question[:1].isupper() and question.startswith(found[0]):
        # The first word is the question's ("Which", "Did", "Name"), not a name; the words
        # capitalised after it in the same run are ("Which Mongolian president", "Did Putin go").
        rest = found[0].partition(" ")[2].strip()
        rest = re.sub(r"^(?:(?:of|the)\s+)+", "", rest)
        found = ([rest] if rest else []) + found[1:]
    return tuple(found)


def name_terms(prof: QuestionProfile) -> list[str]:
    """The key terms of the question's names ("Bible Society" -> bibl, societi)."""
    return [t for t in key_terms(" ".join(prof.names)) if t in prof.terms]


def names_one_of(terms: frozenset[str], asked: Sequence[str]) -> bool:
    """Whether ``terms`` (of a sentence and its neighbours) hold one of the question's name
    terms: the scope rule for a typed phrase. A figure of the asked kind answers only where
    the text around it names what the question is about ("373,782 customers" of "Scotland's
    five resorts" does not answer "how many did CairnGorm attract"). Measured by
    ``python -m train.answer_types`` (column "kept, name in window"): it keeps 0.96 of SQuAD/NQ
    answer sentences and rejects 0.29 of the same paragraph's other phrases of the asked kind.
    True when the question names nothing."""
    return not asked or any(contains_term(terms, t) for t in asked)


def profile(question: str, stats: TermStats) -> QuestionProfile:
    terms = tuple(key_terms(question))
    weights = tuple(stats.idf(t) for t in terms)
    total = sum(weights) or 1.0
    present = sum(w for t, w in zip(terms, weights) if stats.in_corpus(t))
    return QuestionProfile(qtype=question_type(question), terms=terms, weights=weights,
                           names=asked_names(question),
                           corpus_coverage=present / total if terms else 0.0, asks=expected_type(question))


def coverage(prof: QuestionProfile, sentence_terms: frozenset[str]) -> float:
    """IDF-weighted share of the question's key terms that a sentence contains."""
    if not prof.terms:
        return 0.0
    got = sum(w for t, w in zip(prof.terms, prof.weights) if contains_term(sentence_terms, t))
    return got / (sum(prof.weights) or 1.0)


def type_cue(prof: QuestionProfile, text: str) -> float:
    """How well a sentence carries the kind of thing the question asks for (0..1)."""
    if prof.asks is not None:
        return number_near_terms(prof, text, [(s.start, s.end) for s in typed_spans(prof.asks, text)])
    if prof.qtype == "how-many":
        return number_near_terms(prof, text)
    if prof.qtype == "when":
        return 1.0 if dates(text) else 0.0
    if prof.qtype == "who":
        return name_near_terms(prof, text)
    if prof.qtype == "where":
        return 1.0 if _PLACE.search(text) else 0.5 if _PLACE_LOWER.search(text) else 0.0
    return 0.5


def number_near_terms(prof: QuestionProfile, text: str, spans: list[tuple[int, int]] | None = None,
                      window: int = 4) -> float:
    """1.0 when a number stands within ``window`` words of a key term ('124 member states'),
    0.5 for a number elsewhere in the sentence, else 0. ``spans``: only these number
    phrases count (offsets; default: every number)."""
    found = list(_WORDS.finditer(text))
    words = [m.group(0) for m in found]
    if spans is None:
        spots = [i for i, w in enumerate(words) if numbers(w)]
    else:
        spots = [i for i, m in enumerate(found) if any(a < m.end() and m.start() < b for a, b in spans)]
    if not spots:
        return 0.0
    stems = [[t] if (t := stem(w)) else [] for w in words]
    for i in spots:
        for j in range(max(0, i - window), min(len(words), i + window + 1)):
            if j != i and stems[j] and any(terms_match(stems[j][0], t) for t in prof.terms):
                return 1.0
    return 0.5


def name_near_terms(prof: QuestionProfile, text: str, before: int = 3, after: int = 6) -> float:
    """Share of key terms in the title before a new name, or in an appositive after it.

    'Mongolian president Ukhnaagiin Khürelsükh' answers "Who is the president of Mongolia?"
    (both key terms in the title: 1.0); 'Russian President Vladimir Putin' half does (0.5);
    'Sergei Markov, a political analyst close to the Kremlin' is the appositive form.
    """
    if not prof.terms:
        return 0.0
    words = [(m.group(0), m.end()) for m in _WORDS.finditer(text)]
    stems = [[t] if (t := stem(w)) else [] for w, _ in words]
    asked = {fold(n) for name in prof.names for n in name.split()}

    def terms_in(lo: int, hi: int) -> set[str]:
        return {t for j in range(max(0, lo), min(len(words), hi)) for t in prof.terms
                if stems[j] and terms_match(stems[j][0], t)}

    best = 0.0
    for i, (word, end) in enumerate(words):
        if i == 0 or not _CAPITALISED.fullmatch(word) or fold(word) in asked:
            continue
        if stems[i] and any(terms_match(stems[i][0], t) for t in prof.terms):
            continue  # a key term itself ("President"), not a new name
        near = terms_in(i - before, i)
        if text[end:end + 1] == ",":
            near |= terms_in(i + 1, i + 1 + after)
        best = max(best, len(near) / len(prof.terms))
    return best


# Signal weights: (dense, coverage, type cue, topic, passage rank). "why" answers often sit in
# sentences that share few words with the question, so closeness to the retrieved topic
# weighs more there (the type cue is a constant 0.5 for untyped questions, "why" included).
_FACTOID = (0.30, 0.25, 0.30, 0.05, 0.10)
_WEIGHTS = {"why": (0.35, 0.25, 0.10, 0.20, 0.10), "who": _FACTOID, "when": _FACTOID,
            "where": _FACTOID, "how-many": _FACTOID}
_DEFAULT_WEIGHTS = (0.40, 0.30, 0.15, 0.05, 0.10)


def score_sentences(data: IndexData, stats: TermStats, prof: QuestionProfile,
                    qvec: np.ndarray, candidates: list[tuple[int, int]],
                    topic: np.ndarray | None = None) -> list[ScoredSentence]:
    """Score ``candidates`` [(sentence_id, passage_rank)], best first.

    ``topic`` is the normalised mean vector of the top passages (what the retrieved
    material is about); None uses the query vector.
    """
    if not candidates:
        return []
    ids = np.array([sid for sid, _ in candidates], dtype=np.int64)
    dense = data.sentence_vectors[ids] @ qvec
    topical = data.sentence_vectors[ids] @ (qvec if topic is None else topic)
    w_dense, w_cov, w_cue, w_topic, w_prior = _WEIGHTS.get(prof.qtype, _DEFAULT_WEIGHTS)
    out = []
    for (sid, rank), cos, top in zip(candidates, dense.tolist(), topical.tolist()):
        sentence = data.sentences[sid]
        text = " ".join(sentence.text.split())
        cov = coverage(prof, stats.sentence_terms.get(sid, frozenset()))
        cue = type_cue(prof, text)
        prior = 1.0 / (1.0 + 0.25 * (rank - 1))
        support = (w_dense * max(cos, 0.0) + w_cov * cov + w_cue * cue + w_topic * max(top, 0.0)
                   + w_prior * prior)
        if is_question_sentence(text) or len(text.split()) < 5:
            support *= 0.6  # questions and fragments rarely answer anything
        out.append(ScoredSentence(sid, support, float(cos), cov, cue, prior))
    out.sort(key=lambda s: (-s.support, s.sentence_id))
    return out


def is_question_sentence(text: str) -> bool:
    """Whether a sentence is itself a question (it ends with "?", perhaps inside quotes)."""
    return _QUESTION_SENTENCE.search(text) is not None


def answer_span(prof: QuestionProfile, text: str) -> tuple[int, int] | None:
    """Offsets in ``text`` of the phrase a who/when/where/how-many question asks for: the
    first name, date or number (adjacent pieces joined) that the question does not
    already contain. None for other question types or when there is none.

    >>> p = QuestionProfile("how-many", ("pipelin", "carri"), (1.0, 1.0), (), 1.0)
    >>> text = "The pipeline would carry 50 billion cubic meters of gas a year."
    >>> start, end = answer_span(p, text); text[start:end]
    '50 billion'
    """
    finders = {"who": _name_spans, "where": _name_spans, "when": date_spans, "how-many": number_spans}
    finder = finders.get(prof.qtype)
    if prof.asks is not None:
        asks = prof.asks
        finder = lambda t: [(s.start, s.end) for s in typed_spans(asks, t)]  # noqa: E731
    if finder is None:
        return None
    asked = {fold(w) for name in prof.names for w in name.split()}
    for start, end in finder(text):
        words = [fold(w) for w in _WORDS.findall(text[start:end])]
        if prof.qtype in ("who", "where") and len(words) == 1 and not text[:start].strip(_LEADING):
            continue  # a sentence's capitalised first word ('"There is…') is rarely the name asked for
        if words and not all(w in asked or stem(w) in prof.terms for w in words):
            return start, end
    return None


def _name_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in name_spans(text)]
