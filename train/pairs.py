"""Build labelled (question, sentence-with-context) pairs from QA items, deterministically.

For an item with an answer, the sentences of its paragraph that contain the answer are
positives; other sentences of the paragraph and BM25-retrieved sentences of *other*
paragraphs of the same pool are hard negatives. Unanswerable items give only negatives.
Sentences are split with the project's own segmenter (``rag.segment``), so training sees
what run time sees; the pair text comes from ``rag.reader.pair_text``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

import bm25s

from rag.reader import pair_text
from rag.segment import split_sentences

from .items import QAItem


@dataclass(frozen=True)
class Pair:
    """One training/eval row: question, the reader's text, label 1.0 or 0.0, and its item."""

    question: str
    text: str
    label: float
    key: str


@lru_cache(maxsize=200_000)
def sentences(context: str) -> tuple[str, ...]:
    """The sentences of a paragraph, in order."""
    return tuple(context[s:e] for s, e in split_sentences(context))


def neighbours(sents: tuple[str, ...], i: int) -> tuple[str, str, str]:
    """``(sentence, previous, next)`` for sentence ``i``; missing neighbours are ''."""
    return sents[i], sents[i - 1] if i > 0 else "", sents[i + 1] if i + 1 < len(sents) else ""


def contains_answer(sentence: str, answer: str) -> bool:
    """Whether ``answer`` occurs in ``sentence`` as whole words, ignoring case and spacing.

    >>> contains_answer("It has 124 member states.", "124"), contains_answer("In 1240 AD.", "124")
    (True, False)
    """
    words = answer.split()
    if not words:
        return False
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
    return re.search(pattern, sentence, flags=re.IGNORECASE) is not None


def positives(item: QAItem) -> list[int]:
    """Indices of the sentences of the item's paragraph that contain its answer."""
    if item.answer is None:
        return []
    return [i for i, s in enumerate(sentences(item.context)) if contains_answer(s, item.answer)]


def usable(item: QAItem, max_positives: int = 2) -> bool:
    """Items whose label is clear: unanswerable, or the answer in 1..max_positives sentences."""
    if item.answer is None:
        return len(sentences(item.context)) > 0
    return 1 <= len(positives(item)) <= max_positives


def item_key(item: QAItem) -> str:
    return f"{item.source}:{item.index}"


def position_balanced(items: list[QAItem], max_first: float, seed: int) -> list[QAItem]:
    """``items`` with answers in a paragraph's *first* sentence thinned to about ``max_first``.

    In NQ ~60% of answers are the first sentence of their paragraph (SQuAD: ~31%, news
    questions: anywhere). Left as is, the reader learns "lead sentence -> answer" instead of
    reading (the shipped model ranked the first sentence top on SQuAD test; see MODEL_CARD).
    Unanswerable items and items with later answers are all kept.

    >>> from train.items import QAItem
    >>> text = "Paris is the capital of France. It has two million people."
    >>> first = [QAItem("nq", i, "q?", text, "France", "train") for i in range(10)]
    >>> later = [QAItem("nq", 10 + i, "q?", text, "two million", "train") for i in range(2)]
    >>> len(position_balanced(first + later, 0.5, 13))
    4
    """
    first: list[QAItem] = []
    rest: list[QAItem] = []
    for item in items:
        leads = positives(item) == [0] and len(sentences(item.context)) > 1
        (first if leads else rest).append(item)
    answered_later = sum(1 for i in rest if i.answer is not None)
    keep = int(max_first * answered_later / (1 - max_first)) if max_first < 1 else len(first)
    random.Random(f"{seed}:first").shuffle(first)
    return rest + first[:keep]


def select_items(items: list[QAItem], max_pairs: int, per_item: int, seed: int,
                 max_first: float = 1.0) -> list[QAItem]:
    """Usable items, shuffled with ``seed``, alternating sources, until ~``max_pairs`` pairs;
    per source, answers in a paragraph's first sentence kept to about ``max_first``."""
    by_source: dict[str, list[QAItem]] = {}
    for item in items:
        if usable(item):
            by_source.setdefault(item.source, []).append(item)
    by_source = {k: position_balanced(v, max_first, seed) for k, v in by_source.items()}
    queues = []
    for name in sorted(by_source):
        pool = by_source[name]
        random.Random(f"{seed}:{name}").shuffle(pool)
        queues.append(pool)
    chosen: list[QAItem] = []
    budget = max_pairs
    while budget > 0 and any(queues):
        for queue in queues:
            if queue and budget > 0:
                chosen.append(queue.pop())
                budget -= per_item
    return chosen


class SentencePool:
    """BM25 over every sentence of a list of paragraphs (hard negatives from other paragraphs)."""

    def __init__(self, contexts: list[str]) -> None:
        self.contexts = sorted(set(contexts))
        self.rows = [(c, i) for c, ctx in enumerate(self.contexts) for i in range(len(sentences(ctx)))]
        corpus = [sentences(self.contexts[c])[i] for c, i in self.rows]
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def search(self, questions: list[str], k: int) -> list[list[tuple[str, int]]]:
        """For each question, the top-``k`` sentences as (paragraph, sentence index)."""
        k = min(k, len(self.rows))
        if not questions or k == 0:
            return [[] for _ in questions]
        tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False)
        ids, _ = self._bm25.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return [[(self.contexts[self.rows[j][0]], self.rows[j][1]) for j in row] for row in ids]


def reader_text(sents: tuple[str, ...], i: int, context: bool) -> str:
    """The reader's input for sentence ``i``: with its neighbours, or alone.

    Alone is the default: in NQ most answers are the first sentence of their paragraph, so a
    model that sees "(before: ...)" learns *position* ("no previous sentence -> answer")
    instead of reading; that model abstained on most news questions (see MODEL_CARD.md).
    """
    return pair_text(*neighbours(sents, i)) if context else pair_text(sents[i])


def item_pairs(item: QAItem, para_negatives: int, seed: int, context: bool = False) -> list[Pair]:
    """Positives and up to ``para_negatives`` sampled same-paragraph negatives of one item."""
    sents = sentences(item.context)
    pos = positives(item)
    neg = [i for i in range(len(sents)) if i not in pos]
    neg = random.Random(f"{seed}:{item_key(item)}").sample(neg, min(para_negatives, len(neg)))
    key = item_key(item)
    return ([Pair(item.question, reader_text(sents, i, context), 1.0, key) for i in pos]
            + [Pair(item.question, reader_text(sents, i, context), 0.0, key) for i in sorted(neg)])


def bm25_pairs(chosen: list[QAItem], pool: SentencePool, k: int, depth: int = 20,
               context: bool = False) -> list[Pair]:
    """Up to ``k`` top-BM25 sentences per item from other paragraphs, not containing the answer."""
    if k <= 0:
        return []
    out = []
    for item, hits in zip(chosen, pool.search([it.question for it in chosen], depth)):
        taken = 0
        for paragraph, i in hits:
            sents = sentences(paragraph)
            if taken == k or paragraph == item.context:
                continue
            if item.answer is not None and contains_answer(sents[i], item.answer):
                continue
            out.append(Pair(item.question, reader_text(sents, i, context), 0.0, item_key(item)))
            taken += 1
    return out


def build_pairs(items: list[QAItem], max_pairs: int, para_negatives: int = 3,
                bm25_negatives: int = 1, seed: int = 13, context: bool = False,
                max_first: float = 1.0) -> list[Pair]:
    """Training pairs from ``items`` (all from allowed folds), about ``max_pairs`` of them, shuffled."""
    chosen = select_items(items, max_pairs, 1 + para_negatives + bm25_negatives, seed, max_first)
    pairs = [p for item in chosen for p in item_pairs(item, para_negatives, seed, context)]
    pool = SentencePool([item.context for item in items])
    pairs += bm25_pairs(chosen, pool, bm25_negatives, context=context)
    random.Random(seed).shuffle(pairs)
    return pairs[:max_pairs]
