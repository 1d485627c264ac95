"""Find outlets that disagree on the answered fact, and say so in one cited sentence.

Two sentences from different outlets, about the same thing (embedding cosine at least
``SAME_FACT``), disagree when

- they give the same kind of figure with different values (``rag.answer_types.number_phrases``:
  "18 months" vs "17 months", "$2bn" vs "$1.5bn", "39%" vs "41%"), neither hedged ("about",
  "more than": then both can be true), and the figures are shown to count the same thing:
  both belong to the same verb ("jailed for 18 months" / "jailed him for 17 months", read by
  ``rag.roles``), or the support verifier (``rag.verifier``) reads one sentence as refuting
  the other, or it reads one as supporting the other once the other's figure is swapped in
  (with the verifier off: the figures alone), or
- the verifier's grammar check finds one sentence reversing the other: two participants'
  roles exchanged ("Morozova beat Nair" / "Nair beat Morozova") or a deed negated ("the
  minister resigned" / "the minister has not resigned").

The verifier's model alone never makes a contradiction: its "refuted" is right two times in
three on VitaminC's test split (precision 0.67, ``rag/models/verifier/MODEL_CARD.md``), too
weak to tell a reader that two outlets contradict each other; a reversal found in the grammar
is a reason a reader can check.

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
from .roles import figure_verb
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


Figure = tuple[float, str, int, int]  # value, as written, start and end in its sentence


def _slots(text: str) -> dict[tuple[str, str], list[Figure]]:
    """Unhedged figures of ``text`` by slot: (kind, the counted or measured word's stem)."""
    slots: dict[tuple[str, str], list[Figure]] = {}
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
        slots.setdefault((kind, unit), []).append((number, text[span.start:span.end], span.start, span.end))
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
    found = _differing(a, b)
    return None if found is None else (_phrase(a, found[0][1], found[2]), _phrase(b, found[1][1], found[2]))


def _differing(a: str, b: str) -> tuple[Figure, Figure, tuple[str, str]] | None:
    """``differing_figures`` as (figure in a, figure in b, slot)."""
    slots_a, slots_b = _slots(a), _slots(b)
    for slot, found_a in slots_a.items():
        found_b = slots_b.get(slot)
        if not found_b:
            continue
        if {round(f[0], 6) for f in found_a} & {round(f[0], 6) for f in found_b}:
            continue
        return found_a[0], found_b[0], slot
    return None


def _agree_but_for_the_figure(a: str, b: str, figures: tuple[Figure, Figure, tuple[str, str]],
                              verifier) -> bool:
    """Whether ``a`` supports ``b`` once ``b``'s figure is replaced by ``a``'s, or the reverse:
    then the two say the same thing but for the figure ("won 54% of the vote" / "results gave
    the party 49% of the vote": with 54% the second is supported), and the figure is what
    they disagree on. Two facts that only share a unit stay apart ("the warrant issued 18
    months ago" does not support "the visit comes just 18 months after the appointment")."""
    if verifier is None:
        return False
    (_, _, a0, a1), (_, _, b0, b1), _ = figures
    b_with_a = b[:b0] + a[a0:a1] + b[b1:]
    a_with_b = a[:a0] + b[b0:b1] + a[a1:]
    return any(v.is_supported for v in verifier.verdicts([(a, b_with_a), (b, a_with_b)]))


def _same_deed(a: str, b: str, figures: tuple[Figure, Figure, tuple[str, str]]) -> bool:
    """Whether the two differing figures count the same deed: the verb each belongs to is the
    same ("jailed for 18 months" / "jailed him for 17 months"; not "issued 18 months ago" /
    "occurs six months after"), read by ``rag.roles``."""
    verb_a = figure_verb(a, figures[0][2], figures[0][3])
    return verb_a is not None and verb_a == figure_verb(b, figures[1][2], figures[1][3])


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
    only when they belong to the same verb or the verifier reads one sentence as refuting the
    other in at least one direction; without one (``Config.verifier="off"``), differing figures
    alone do. Claims without differing figures need a reversal in the grammar (module docstring).
    """
    return _decide(a, b, verifier)


def _decide(a: str, b: str, verifier, verdicts=None) -> Disagreement | None:
    """``disagreement``; ``verdicts`` (a->b, b->a) when the caller has them already.

    The verifier's model is asked only about differing figures; a contradiction without them
    needs only the grammar check (``Verifier.clashes``), which is cheaper than the model.
    """
    figures = _differing(a, b)
    values = None if figures is None else (_phrase(a, figures[0][1], figures[2]), _phrase(b, figures[1][1], figures[2]))
    if verifier is None:
        return Disagreement("numbers", values) if values is not None else None
    if values is None:
        return Disagreement("contradiction") if any(verifier.clashes([(a, b), (b, a)])) else None
    verdicts = verdicts if verdicts is not None else verifier.verdicts([(a, b), (b, a)])
    if any(v.label == "refuted" for v in verdicts) or _same_deed(a, b, figures) \
            or _agree_but_for_the_figure(a, b, figures, verifier):
        return Disagreement("numbers", values)
    if any(v.clash is not None for v in verdicts):
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
    the same thing, that disagrees with ``primary``: (its key, how). The verifier's model reads
    the pairs with differing figures in one batch."""
    eligible = [(key, other) for key, other, cosine in others
                if other.outlet != primary.outlet and cosine >= SAME_FACT]
    if not eligible:
        return None
    verdicts: dict[int, list] = {}
    if verifier is not None:  # the model reads the pairs with differing figures, in one batch
        figured = [i for i, (_, o) in enumerate(eligible) if _differing(primary.text, o.text) is not None]
        flat = verifier.verdicts([pair for i in figured for pair in ((primary.text, eligible[i][1].text),
                                                                      (eligible[i][1].text, primary.text))])
        verdicts = {i: flat[2 * j:2 * j + 2] for j, i in enumerate(figured)}
    for i, (key, other) in enumerate(eligible):
        found = _decide(primary.text, other.text, verifier, verdicts.get(i))
        if found is not None:
            return key, found
    return None
