"""Turn a question and its candidate sentences into the reader's generic signals.

One row of numbers per candidate: how close its embedding is to the question's, how much of
the question's key terms (IDF weighted) the sentence, its neighbours and its whole article
contain, whether the article lacks the question's names, numbers or rarest term, whether the
sentence carries the kind of thing the question asks for, and the question type. Nothing here
names a word of any corpus: the signals are the same for news, SQuAD or NQ, which is why a
model trained on SQuAD/NQ (``python -m train.head``) can use them on a newsroom archive.

Training (``train.head``) and run time (``rag.extractive``) both call ``feature_rows``: one
definition, so the model sees the same numbers in both places.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .evidence import QuestionProfile, answer_span, coverage, is_question_sentence, type_cue
from .terms import contains_term, key_terms, numbers

QUESTION_TYPES = ("why", "how", "what", "yes-no", "who", "when", "where", "how-many")

FEATURE_NAMES = (
    "dense", "dense_gap", "cov_sentence", "cov_window", "cov_article", "cov_gap",
    "missing_idf_article", "missing_idf_window", "names_in_article", "names_in_window",
    "number_missing", "type_cue", "has_answer_span", "words", "is_question", "n_terms",
) + tuple(f"type_{t}" for t in QUESTION_TYPES)

# A cross-encoder's reading of the pair (rag.reader.Reader), added when a head is stacked on
# one (``python -m train.head --cross-encoder ...``): its logit, and the gap to the best
# candidate's logit for the same question.
READER_SIGNALS = ("reader_logit", "reader_gap")

# Which way each signal may push the probability when the reader is fitted (train.headfit):
# +1 more of it can only raise it, -1 only lower it, 0 free. Set by what the signal means
# (more of the question's terms or names present = closer to an answer), not by any corpus;
# without them a model fitted to SQuAD/NQ learned that covering the question's terms makes
# a sentence *less* likely to answer (its distractors are chosen for their overlap).
DIRECTION = {"dense": 1, "dense_gap": 1, "cov_sentence": 1, "cov_window": 1, "cov_article": 1,
             "cov_gap": 1, "missing_idf_article": -1, "missing_idf_window": -1, "names_in_article": 1,
             "names_in_window": 1, "number_missing": -1, "type_cue": 1, "has_answer_span": 1,
             "is_question": -1, "reader_logit": 1, "reader_gap": 1}


@dataclass(frozen=True)
class Question:
    """What the reader knows of the question: its text, embedding, profile and IDF scale.

    ``max_idf`` is the corpus's largest possible IDF (``TermStats.max_idf``): IDF weights are
    divided by it so that a small archive and a large training pool give comparable numbers.
    """

    text: str
    vector: np.ndarray  # unit-length embedding of the question (or its rewritten query)
    profile: QuestionProfile
    max_idf: float


@dataclass(frozen=True)
class Candidate:
    """A sentence the reader reads: its text, neighbours, embedding and its article's terms."""

    text: str
    previous: str
    following: str
    vector: np.ndarray  # unit-length sentence embedding (the index's own)
    sentence_terms: frozenset[str]  # stemmed terms (rag.terms.tokenize) of the sentence
    window_terms: frozenset[str]  # ... of the sentence and its two neighbours
    article_terms: frozenset[str]  # ... of the whole article


def _missing_idf(prof: QuestionProfile, terms: frozenset[str], max_idf: float) -> float:
    """IDF (scaled to 0..1) of the rarest key term the text lacks: 0 when none is missing."""
    missing = [w for t, w in zip(prof.terms, prof.weights) if not contains_term(terms, t)]
    return max(missing, default=0.0) / max_idf


def _name_share(name_terms: list[str], terms: frozenset[str]) -> float:
    """Share of the question's name terms present (1.0 when the question names nobody)."""
    if not name_terms:
        return 1.0
    return sum(contains_term(terms, t) for t in name_terms) / len(name_terms)


def feature_rows(question: Question, candidates: Sequence[Candidate]) -> np.ndarray:
    """A ``(len(candidates), len(FEATURE_NAMES))`` float32 matrix of the signals."""
    out = np.zeros((len(candidates), len(FEATURE_NAMES)), dtype=np.float32)
    if not candidates:
        return out
    prof, max_idf = question.profile, question.max_idf
    dense = np.array([float(c.vector @ question.vector) for c in candidates])
    cov = np.array([coverage(prof, c.sentence_terms) for c in candidates])
    name_terms = [t for t in key_terms(" ".join(prof.names)) if t in prof.terms]
    asked_numbers = set(numbers(question.text))
    qtype = [float(prof.qtype == t) for t in QUESTION_TYPES]
    n_terms = math.log1p(len(prof.terms)) / 3
    for row, (c, d, cv) in enumerate(zip(candidates, dense, cov)):
        text = " ".join(c.text.split())
        window_numbers = set(numbers(" ".join((c.previous, c.text, c.following))))
        out[row] = [
            d, d - dense.max(), cv, coverage(prof, c.window_terms), coverage(prof, c.article_terms),
            cv - cov.max(),
            _missing_idf(prof, c.article_terms, max_idf), _missing_idf(prof, c.window_terms, max_idf),
            _name_share(name_terms, c.article_terms), _name_share(name_terms, c.window_terms),
            float(bool(asked_numbers - window_numbers)),
            type_cue(prof, text), float(answer_span(prof, text) is not None),
            math.log1p(len(text.split())) / 4, float(is_question_sentence(text)), n_terms,
            *qtype,
        ]
    return out


def with_reader(rows: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``rows`` with the ``READER_SIGNALS`` columns of a cross-encoder's logits appended."""
    logits = np.asarray(logits, dtype=np.float32).reshape(-1, 1)
    gap = logits - logits.max() if len(logits) else logits
    return np.hstack([rows, logits, gap]).astype(np.float32)
