"""Build labelled (evidence, claim) pairs for the support verifier, deterministically.

Three sources, one label set (``LABELS``: supported / refuted / not enough information):

- BIG-bench ``vitaminc_fact_verification`` (54,668 Wikipedia evidence/claim pairs, True /
  False / Neither). Folds by a stable hash of the evidence's page title, so that the
  contrastive pairs VitaminC makes from one page (the same claim against two revisions of a
  sentence) never straddle folds: 80% ``train``, 10% ``calib`` (thresholds), 10% ``test``.
- Contrastive pairs derived from the reader's QA items (``train.items``; their ``train`` fold
  only, so the reserved NQ fold stays unseen): the answer sentence in its paragraph window
  supports itself; the same sentence with its answer swapped for another item's answer of the
  same shape, or with two of its names exchanged (``swap_names``: "A greeted B" -> "B greeted
  A"), is refuted; another sentence of the window is not enough information for it.
- ``swap_names`` also makes the swapped-relation *test* set from news sentences
  (``train.verifier``), which no training pair comes from.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from rag.terms import date_spans, name_spans, name_words
from rag.verifier import LABELS  # noqa: F401  (the label order; the doctests and train.verifier use it)

from .data import detokenise
from .items import QAItem, stable_bucket
from .pairs import contains_answer, positives, sentences

VITAMINC_TASK = "vitaminc_fact_verification"
SUPPORTED, REFUTED, NEI = range(3)
_VITAMINC_LABEL = {"True": SUPPORTED, "False": REFUTED, "Neither": NEI}


@dataclass(frozen=True)
class ClaimPair:
    """One verifier row: the evidence text, the claim, its label (index into ``LABELS``)."""

    evidence: str
    claim: str
    label: int
    source: str  # "vitaminc", "answer-swap", "name-swap", "answer", "neighbour"
    fold: str


def vitaminc_fold(title: str) -> str:
    """Fold of a VitaminC page: 80% train, 10% calib, 10% test by hash of its title."""
    bucket = stable_bucket("vitaminc:" + title)
    return "train" if bucket < 80 else "calib" if bucket < 90 else "test"


def vitaminc_pairs(examples: list[dict]) -> list[ClaimPair]:
    """VitaminC examples (``input`` = "Title: evidence\\nClaim: claim") as pairs, file order.

    >>> ex = {"input": "Westlife: Westlife sold 23 million records .\\nClaim: Westlife sold 9 million .",
    ...       "target_scores": {"True": 0, "False": 1, "Neither": 0}}
    >>> p = vitaminc_pairs([ex])[0]
    >>> p.evidence, p.claim, LABELS[p.label]
    ('Westlife: Westlife sold 23 million records.', 'Westlife sold 9 million.', 'refuted')
    """
    pairs = []
    for ex in examples:
        evidence, sep, claim = ex["input"].rpartition("\nClaim: ")
        if not sep:
            continue
        label = max(ex["target_scores"], key=ex["target_scores"].get)
        title = evidence.split(":", 1)[0]
        pairs.append(ClaimPair(detokenise(evidence), detokenise(claim), _VITAMINC_LABEL[label], "vitaminc",
                               vitaminc_fold(title)))
    return pairs


def swap_names(sentence: str, context: str = "") -> str | None:
    """The sentence with its first two different names exchanged, or None if it has < 2.

    Names are capitalised word runs (``rag.terms.name_spans``) whose first word is a name
    word (not a sentence starter, title or function word), that are not dates ("Wednesday",
    "18 March") or possessives ("RCOG's": swapped, the grammar breaks), and not a lone
    capitalised first word ("Human rights groups": capitalised only because it starts the
    sentence), and a one-word name must never occur in lower case in ``context`` (its
    article: "This" or "Do" after a quotation mark is capitalised but not a name). This makes
    claims that keep every name but swap the roles:

    >>> swap_names("Foreign Minister Battsetseg Batmunkh greeted Vladimir Putin in Ulaanbaatar.")
    'Vladimir Putin greeted Foreign Minister Battsetseg Batmunkh in Ulaanbaatar.'
    >>> swap_names("He arrived late.") is None, swap_names("Putin and Xi met.") is None
    (True, True)
    >>> swap_names("Also on Wednesday, 18 people died in Gwoza, officials told the AP.")
    'Also on Wednesday, 18 people died in AP, officials told the Gwoza.'
    """
    lower = set(_WORD.findall(context))
    allowed = {w for w in name_words(sentence) if w.lower() not in lower}
    dates = date_spans(sentence)
    spans = [m.span() for m in name_spans(sentence)
             if m.group(0).split()[0] in allowed and not m.group(0).endswith(("'s", "\u2019s"))
             and (" " in m.group(0) or (m.start() > 0 and m.group(0) in allowed))
             and not any(a < m.end() and m.start() < b for a, b in dates)]
    first = spans[0] if spans else None
    second = next((s for s in spans[1:] if sentence[s[0]:s[1]] != sentence[first[0]:first[1]]), None) \
        if first else None
    if second is None:
        return None
    (a, b), (c, d) = first, second
    if _SYMMETRIC.fullmatch(sentence[b:c]):
        return None  # "A and B met": exchanging them says the same thing
    return sentence[:a] + sentence[c:d] + sentence[b:c] + sentence[a:b] + sentence[d:]


_WORD = re.compile(r"\b[a-z][\w'’-]*")
_SYMMETRIC = re.compile(r"\s*(?:,|and|or|&|with|,\s*and)\s*", re.IGNORECASE)
_SHAPE_DIGIT = re.compile(r"\d")


def _shape(answer: str) -> str:
    """A coarse kind of answer: numbers with numbers, names with names, phrases with phrases."""
    if _SHAPE_DIGIT.search(answer):
        return "number"
    return "name" if answer[:1].isupper() else "phrase"


def qa_pairs(items: list[QAItem], max_items: int, seed: int) -> list[ClaimPair]:
    """Contrastive pairs from answerable QA items of the ``train`` fold (up to ``max_items``).

    Each item gives its answer sentence as a claim against its window (previous, itself,
    next): supported; the same claim with the answer swapped for another item's answer of the
    same shape, and (when it has two names) with two names exchanged: refuted; and the
    sentence against a window not containing it (its neighbours alone): not enough info.
    """
    rng = random.Random(seed)
    usable = [i for i in items if i.fold == "train" and i.answer and positives(i)]
    rng.shuffle(usable)
    usable = usable[:max_items]
    by_shape: dict[str, list[str]] = {}
    for item in usable:
        by_shape.setdefault(_shape(item.answer), []).append(item.answer)
    pairs = []
    for item in usable:
        sents = sentences(item.context)
        i = positives(item)[0]
        claim = sents[i]
        window = " ".join(sents[max(0, i - 1):i + 2])
        pairs.append(ClaimPair(window, claim, SUPPORTED, "answer", "train"))
        pool = by_shape[_shape(item.answer)]
        other = pool[rng.randrange(len(pool))]
        if other.lower() != item.answer.lower() and not contains_answer(window, other):
            swapped = re.sub(re.escape(item.answer), lambda _: other, claim, count=1, flags=re.IGNORECASE)
            if swapped != claim:
                pairs.append(ClaimPair(window, swapped, REFUTED, "answer-swap", "train"))
        exchanged = swap_names(claim, item.context)
        if exchanged and exchanged != claim:
            pairs.append(ClaimPair(window, exchanged, REFUTED, "name-swap", "train"))
        others = [s for j, s in enumerate(sents) if j != i and not contains_answer(s, item.answer)]
        if others:
            pairs.append(ClaimPair(" ".join(others[:2]), claim, NEI, "neighbour", "train"))
    return pairs


def vitaminc_swaps(pairs: list[ClaimPair], limit: int, seed: int) -> list[ClaimPair]:
    """Pairs made from VitaminC *train* evidence (one per distinct evidence, a seeded sample of
    ``limit``): the evidence against its sentence with two names exchanged (``swap_names``),
    refuted, and against the sentence as it is, supported, so that the model learns the
    exchange, not "a claim that repeats its evidence word for word is suspect"."""
    rng = random.Random(seed)
    seen, out = set(), []
    train = [p for p in pairs if p.fold == "train"]
    rng.shuffle(train)
    for p in train:
        if len(out) >= 2 * limit or p.evidence in seen:
            continue
        seen.add(p.evidence)
        title, sep, sentence = p.evidence.partition(": ")
        swapped = swap_names(sentence, p.evidence) if sep else None
        if swapped:
            out.append(ClaimPair(p.evidence, swapped, REFUTED, "vitaminc-name-swap", "train"))
            out.append(ClaimPair(p.evidence, sentence, SUPPORTED, "vitaminc-same", "train"))
    return out
