"""Find outlets that disagree on the answered fact, and say so in one cited sentence.

Two sentences from different outlets, about the same thing (embedding cosine at least
``SAME_FACT``), disagree when

- they give the same kind of figure with different values (``rag.answer_types.number_phrases``:
  "18 months" vs "17 months", "$2bn" vs "$1.5bn", "39%" vs "41%"), neither hedged ("about",
  "more than": then both can be true), and the support verifier (``rag.verifier``) reads one
  as refuting the other (without the verifier, the figures alone), or
- the verifier reads each as *refuting* the other.

The answer then carries a sentence naming both outlets and citing both quotes ("AP reports
18 months; Fox News reports 17 months [1][2]."), and ``Answer.conflicts`` lists them. Both
answer modes use ``disagreement`` and ``conflict_sentence``; they differ only in where the
candidate sentences come from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .answer_types import TypedSpan, number_phrases
from .terms import fold, stem

SAME_FACT = 0.6  # sentence cosine at or above which two sentences are about the same thing
CHECKS = 4  # other outlets' sentences (closest first) checked against each answer sentence
# Words that make a figure a bound or an estimate ("more than 1,300", "about 18 months"):
# English's hedges on a number, not any corpus's words. A hedged figure and another value
# can both be true, so they are not a conflict.
_HEDGE = re.compile(r"\b(?:about|around|approximately|roughly|nearly|almost|some|over|more than|less than"
                    r"|fewer than|at least|at most|up to|as many as|as much as|under|above|below|close to"
                    r"|estimated|an estimated|upwards of|or more|plus)\s*$", re.IGNORECASE)
_MULTIPLIER = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9,
               "trillion": 1e12, "tn": 1e12}
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PERCENT = re.compile(r"\s*(?:%|per\s?cent\b|percent\b|percentage points?\b)", re.IGNORECASE)
_UNIT = re.compile(r"\s*-?\s*([A-Za-z%°]+)")


@dataclass(frozen=True)
class Statement:
    """A sentence that may carry the answer, and who says it."""

    text: str
    outlet: str  # the outlet, or the article's title when it has none


@dataclass(frozen=True)
class Disagreement:
    """How two statements disagree: ``kind`` "numbers" (with the two figures) or "contradiction"."""

    kind: str
    values: tuple[str, ...] = ()


def value(span: TypedSpan) -> float | None:
    """The number a figure stands for: '$1.5bn' -> 1.5e9, 'three' -> 3.0, '1,300' -> 1300.0.

    >>> [value(s) for s in number_phrases("It cost $1.5bn, or 1,500 million dollars, over three years.")]
    [1500000000.0, 1500000000.0, 3.0]
    """
    text = span.text.lower()
    m = _NUMBER.search(text)
    if m is None:
        word = text.strip().split()[0] if text.strip() else ""
        return float(_WORD_NUMBERS[word]) if word in _WORD_NUMBERS else None
    digits = m.group(0)
    if "," in digits and re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits):
        digits = digits.replace(",", "")
    try:
        number = float(digits.replace(",", "."))
    except ValueError:
        return None
    rest = re.findall(r"[a-z]+", text[m.end():])
    return number * _MULTIPLIER.get(rest[0], 1.0) if rest else number


def _slots(text: str) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """Unhedged figures of ``text`` by slot: (kind, the counted or measured word's stem)."""
    slots: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for span in number_phrases(text):
        if _HEDGE.search(text[max(0, span.start - 20):span.start]):
            continue
        number = value(span)
        if number is None or len(span.kinds) != 1:
            continue
        (kind,) = span.kinds
        if kind in ("date", "score"):
            continue  # dates name *which* day; different days are usually different events
        unit = ""
        if kind in ("count", "duration", "measure"):
            after = _UNIT.match(text, span.end)
            word = fold(after.group(1)) if after else ""
            if word in _MULTIPLIER:  # "2 million people": the noun after the multiplier
                after = _UNIT.match(text, after.end())
                word = fold(after.group(1)) if after else ""
            unit = stem(word) or word
            if not unit:
                continue
        slots.setdefault((kind, unit), []).append((number, text[span.start:span.end]))
    return slots


def differing_figures(a: str, b: str) -> tuple[str, str] | None:
    """The first figure of the same kind and unit that ``a`` and ``b`` give different values
    for (neither hedged, no value in common), as written in each; None when they agree.

    >>> differing_figures("He was jailed for 18 months.", "A court jailed him for 17 months on Monday.")
    ('18 months', '17 months')
    >>> differing_figures("He was jailed for 18 months.", "He got 18 months and a £500 fine.") is None
    True
    >>> differing_figures("More than 1,300 died.", "1,500 people died.") is None
    True
    """
    slots_a, slots_b = _slots(a), _slots(b)
    for slot, found_a in slots_a.items():
        found_b = slots_b.get(slot)
        if not found_b:
            continue
        if {round(v, 6) for v, _ in found_a} & {round(v, 6) for v, _ in found_b}:
            continue
        return _phrase(a, found_a[0][1], slot), _phrase(b, found_b[0][1], slot)
    return None


def _phrase(text: str, figure: str, slot: tuple[str, str]) -> str:
    """The figure with its unit word, as written: '18' -> '18 months', '0.4' -> '0.4%'."""
    at = text.find(figure)
    if slot[0] == "percent" and at >= 0:
        after = _PERCENT.match(text, at + len(figure))
        return figure + after.group(0) if after else figure
    if slot[1] and at >= 0:
        after = re.match(r"\s*-?\s*(?:(?:thousand|million|billion)\s+)?[A-Za-z%°]+", text[at + len(figure):])
        if after:
            return (figure + after.group(0)).strip()
    return figure


def disagreement(a: str, b: str, verifier=None) -> Disagreement | None:
    """How ``a`` and ``b`` (already known to be about the same thing) disagree, if they do.

    Two figures of one kind can measure different things ("six months after the judge's
    appointment" vs "a warrant issued 18 months ago"): with a verifier, differing figures count
    only when it reads one sentence as refuting the other in at least one direction; without
    one (``Config.verifier="off"``), differing figures alone do. Claims without differing
    figures must refute each other both ways.
    """
    verdicts = verifier.verdicts([(a, b), (b, a)]) if verifier is not None else None
    return _decide(a, b, verdicts)


def _decide(a: str, b: str, verdicts) -> Disagreement | None:
    """``disagreement`` given the verifier's two verdicts (a->b, b->a), or None without one."""
    figures = differing_figures(a, b)
    if verdicts is None:
        return Disagreement("numbers", figures) if figures is not None else None
    refuted = sum(v.label == "refuted" for v in verdicts)
    if figures is not None and refuted >= 1:
        return Disagreement("numbers", figures)
    if refuted == 2:
        return Disagreement("contradiction")
    return None


def conflict_sentence(first: str, second: str, found: Disagreement, markers: str) -> str:
    """The answer's sentence about a disagreement, ending with the markers of both quotes.

    >>> conflict_sentence("AP", "Fox News", Disagreement("numbers", ("18 months", "17 months")), "[1][2]")
    'AP reports 18 months; Fox News reports 17 months [1][2].'
    >>> conflict_sentence("AP", "Fox News", Disagreement("contradiction"), "[1][3]")
    'AP and Fox News contradict each other on this [1][3].'
    """
    if found.kind == "numbers":
        return f"{first} reports {found.values[0]}; {second} reports {found.values[1]} {markers}."
    return f"{first} and {second} contradict each other on this {markers}."


def first_conflict(primary: Statement, others: Sequence[tuple[int, Statement, float]],
                   verifier=None) -> tuple[int, Disagreement] | None:
    """The first of ``others`` ((key, statement, cosine to primary)) from another outlet, about
    the same thing, that disagrees with ``primary``: (its key, how). The verifier reads all
    the pairs in one batch."""
    eligible = [(key, other) for key, other, cosine in others
                if other.outlet != primary.outlet and cosine >= SAME_FACT]
    if not eligible:
        return None
    verdicts = None
    if verifier is not None:
        flat = verifier.verdicts([pair for _, o in eligible for pair in ((primary.text, o.text), (o.text, primary.text))])
        verdicts = [flat[i:i + 2] for i in range(0, len(flat), 2)]
    for i, (key, other) in enumerate(eligible):
        found = _decide(primary.text, other.text, verdicts[i] if verdicts is not None else None)
        if found is not None:
            return key, found
    return None
