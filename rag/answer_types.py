"""What kind of number a question asks for, and which number phrases of a sentence are that kind.

Expected-answer typing, as in the TREC question-answering systems (Li & Roth's numeric
classes: money, count, period, age, percent, size, date): "How much did the library pay for
the codex?" asks for an amount of money, so a sentence whose only number is a year ("has
housed the codex since 1984") or a count ("80,000 works of art") does not answer it, however
many of the question's words it shares. A sentence holds an answer of the asked kind or it
does not; that is a reading of the sentence, not a score to tune.

The word lists here are English's currencies, units of time and measurement, and the verbs
and nouns of paying and costing: the general language numbers are written in, not the words
of any corpus's answers. ``python -m train.answer_types`` measures on SQuAD and Natural
Questions how often a sentence that does answer holds the kind its question asks for.

>>> asks = expected_type("How much did the library pay for the codex?")
>>> asks.kind, [s.text for s in typed_spans(asks, "It has housed the codex since 1984.")]
('money', [])
>>> [s.text for s in typed_spans(asks, "It paid £1.1m for the codex in 1984.")]
['£1.1m']
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .terms import STOPWORDS, date_spans, fold, number_spans, stem

KINDS = ("money", "count", "duration", "age", "percent", "measure", "score")

_CURRENCY_SIGN = re.compile(r"(?:[$£€¥₹]|\b(?:US|A|C|NZ|HK|S)\$|\b(?:usd|gbp|eur|rs\.?|inr))\s*$", re.IGNORECASE)
_CURRENCY_WORDS = frozenset("""
pound pounds sterling dollar dollars euro euros yen yuan renminbi rupee rupees rouble roubles ruble
rubles franc francs pence penny cent cents dinar dinars peso pesos krona kronor kroner krone shekel
shekels rand naira won ringgit baht lira lire real reais usd gbp eur
""".split())
_DURATION_WORDS = frozenset("""
second seconds minute minutes min mins hour hours hr hrs day days week weeks fortnight fortnights
month months year years yr yrs decade decades century centuries
""".split())
_MEASURE_WORDS = frozenset("""
metre metres meter meters km kms kilometre kilometres kilometer kilometers mile miles mi foot feet
ft inch inches cm mm yard yards kg kgs kilogram kilograms kilo kilos gram grams g tonne tonnes ton
tons lb lbs ounce ounces oz acre acres hectare hectares ha square sq cubic litre litres liter liters
gallon gallons barrel barrels mph kph kmh knots degree degrees mw gw kw kwh megawatt megawatts
gigawatt gigawatts storey storeys stories floors calories volts ° °c °f
""".split())
_PERCENT_AFTER = re.compile(r"\s*(?:%|per\s?cent\b|percent\b|percentage points?\b)", re.IGNORECASE)
_FRACTION = re.compile(r"\b(?:half|(?:a|one|two|three|four)[- ](?:third|quarter|fifth|tenth)s?|one in \w+)\b",
                       re.IGNORECASE)
_SCORE = re.compile(r"\b\d{1,3}\s?[-–]\s?\d{1,3}\b(?!\s?[-–]?\s?(?:year|month|day|week))")
_MONEY_SUFFIX = re.compile(r"\s?(?:m|bn|k|tn)\b")  # "£1.1m", "$2bn"
_AGE = re.compile(r"\b(?:aged|age of|ages of)\s+$", re.IGNORECASE)
_AGE_AFTER = re.compile(r"\s?-?\s?years?\s?-?\s?old\b|\s?-?\s?year-old\b", re.IGNORECASE)
_AFTER_NAME = re.compile(r"[A-Z][\w'’-]+,\s*$")  # "Jeptoo, 33, says": an age in apposition
_SINCE = re.compile(r"\b(?:since|from|between|until)\s+(?:the\s+|early\s+|late\s+|mid-?)?$", re.IGNORECASE)
_NEXT_WORD = re.compile(r"\s*-?\s*(?:of\s+)?([A-Za-z%°]+)")  # "30-minute", "thousands of years"
_YEAR = re.compile(r"1\d\d\d|20\d\d")
_YEAR_BEFORE = re.compile(r"\b(?:the|in|since|of|from|by|until|before|after|during|between|and|to)\s+$", re.IGNORECASE)

# Words after "how much ..." that make it a question about money: paying, costing, earning.
_MONEY_QUESTION = re.compile(
    r"\b(?:money|cash|pay|pays|paid|paying|cost|costs|costing|spend|spends|spent|spending|charge|charges"
    r"|charged|raise|raised|raising|earn|earns|earned|earnt|worth|sell|sells|sold|buy|buys|bought|fetch"
    r"|fetched|price|priced|owe|owes|owed|invest|invested|donate|donated|fined|budget|funding|valued"
    r"|salary|wages?|compensation|revenue|profit|fees?|bonus|ransom|bail|afford)\b")
# "How much did prices rise": a change, which may be a share ("by 2%") as well as an amount.
_CHANGE_QUESTION = re.compile(r"\b(?:increase[sd]?|rise|rose|risen|fall|fell|fallen|drop(?:ped)?|grow|grew|grown"
                              r"|cut|less|more|higher|lower)\b")
# "What is the asking price / the budget / the fee of ..." (the noun is what the question asks).
# "What price will they pay", "At what price", "For what sum" ask the same with the noun first.
_MONEY_NOUN = re.compile(
    r"^(?:what|how much)\s+(?:is|was|are|were|will be|would be)\s+(?:the|its|his|her|their)\s+(?:\w+\s+)?"
    r"(?:price|cost|budget|fee|salary|value|valuation|sum|fine|bill|fare|ransom|bail|wage)\b"
    r"|^(?:at\s+|for\s+)?what\s+(?:price|sum|fee|salary|fine|fare|ransom)\b")
_PERCENT_QUESTION = re.compile(r"\b(?:what|which)\s+(?:percentage|percent|proportion|share|fraction)\b")
_SCORE_QUESTION = re.compile(r"^what\s+(?:was|is|were)\s+the\s+(?:final\s+)?(?:score|scoreline)\b")
_HOW = re.compile(r"how\s+(many|much|long|old|tall|high|far|deep|wide|big|large|heavy|fast)\b(?:\s+(\w+))?")
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b")


@dataclass(frozen=True)
class AnswerType:
    """The kinds of number phrase that answer a question, and the noun it counts.

    ``kinds`` is a set of ``KINDS``; ``noun`` is the stem of "how many *N*" ('strokes' ->
    'stroke'), whose own number phrases ("250 strokes") answer even when N is a unit.
    """

    kinds: frozenset[str]
    noun: str = ""

    @property
    def kind(self) -> str:
        """The main kind, for messages and tests: 'money' in {'money'}, else sorted first."""
        return "money" if "money" in self.kinds else sorted(self.kinds)[0]


@dataclass(frozen=True)
class TypedSpan:
    """A number phrase in a sentence with the kinds it can be: '£1.1m' -> {'money'}."""

    start: int
    end: int
    text: str
    kinds: frozenset[str]


_ANY = frozenset({"money", "count", "duration", "measure", "percent"})  # a number, but not a year or an age


def expected_type(question: str) -> AnswerType | None:
    """The kinds of number a question asks for; None when it asks for no number.

    >>> [expected_type(q).kind for q in ("How many strokes of the cane?", "How long did the talks last?",
    ...  "What share of the vote did she win?", "What is the asking price for the station?")]
    ['count', 'duration', 'percent', 'money']
    >>> expected_type("Who met Putin?") is None
    True
    """
    q = " ".join(fold(question).split())
    first = _WH.search(q)
    if first is None or first.group(0) not in ("how", "what", "which"):
        return None  # "Who sings 'How Deep Is Your Love'?" asks for a name
    if _SCORE_QUESTION.search(q):
        return AnswerType(frozenset({"score"}))
    if _PERCENT_QUESTION.search(q):
        return AnswerType(frozenset({"percent"}))
    if _MONEY_NOUN.search(q):
        return AnswerType(frozenset({"money"}))
    m = _HOW.match(q, first.start())
    if m is None:
        return None
    word, following = m.group(1), m.group(2) or ""
    if word == "many":
        noun = stem(following) or ""
        if following in _DURATION_WORDS:
            return AnswerType(frozenset({"duration"}), noun)
        if following in _MEASURE_WORDS:
            return AnswerType(frozenset({"measure"}), noun)
        if following in _CURRENCY_WORDS:  # "how many pounds": money, or a weight
            return AnswerType(frozenset({"money", "measure"}), noun)
        if following in ("percent", "per"):
            return AnswerType(frozenset({"percent"}), noun)
        if following == "of":  # "how many of the students": a number of them, or a share
            return AnswerType(frozenset({"count", "percent"}))
        return AnswerType(frozenset({"count"}), noun)
    if word == "much":
        if following != "of" and _MONEY_QUESTION.search(q, m.end(1)):
            change = frozenset({"percent"}) if _CHANGE_QUESTION.search(q, m.end(1)) else frozenset()
            return AnswerType(frozenset({"money"}) | change)
        return AnswerType(_ANY)
    if word == "long":
        return AnswerType(frozenset({"duration", "measure"}))
    if word == "old":
        return AnswerType(frozenset({"age", "duration", "count"}))
    if word in ("big", "large", "high"):
        return AnswerType(_ANY)
    return AnswerType(frozenset({"measure"}))  # tall, far, deep, wide, heavy, fast


def typed_spans(asks: AnswerType, text: str) -> list[TypedSpan]:
    """The number phrases of ``text`` that can answer ``asks``, in order.

    >>> asks = expected_type("How many strokes of the cane were they sentenced to?")
    >>> [s.text for s in typed_spans(asks, "Von Knorre, 22, and Hinz, 21, flew in last November.")]
    []
    >>> [s.text for s in typed_spans(asks, "Each was sentenced to three strokes of the cane.")]
    ['three']
    """
    return [s for s in number_phrases(text) if s.kinds & asks.kinds or (asks.noun and _counts(text, s, asks.noun))]


@functools.lru_cache(maxsize=16384)
def number_phrases(text: str) -> tuple[TypedSpan, ...]:
    """Every number phrase of ``text`` with the kinds it can be (cached: the reader and the
    evidence prior read the same sentences, question after question).

    >>> [(s.text, sorted(s.kinds)) for s in number_phrases("In 2012 he paid $50 million, 39% of it for 30-minute slots.")]
    [('2012', ['year']), ('$50 million', ['money']), ('39', ['percent']), ('30', ['duration'])]
    """
    dated = [(a, b) for a, b in date_spans(text) if not _YEAR.fullmatch(text[a:b].strip())]
    scores = [TypedSpan(m.start(), m.end(), m.group(0), frozenset({"score"})) for m in _SCORE.finditer(text)]
    out = list(scores)
    for start, end in number_spans(text):
        if any(s.start <= start and end <= s.end for s in scores):
            continue  # "2-1" is a score, not two counts
        date = next(((a, b) for a, b in dated if a <= start and end <= b), None)
        if date is not None:  # "from 4 August 1915 until ...": a date, and the start of a period
            since = _SINCE.search(text[max(0, date[0] - 20):date[0]])
            out.append(TypedSpan(start, end, text[start:end], frozenset({"date", "duration"} if since else {"date"})))
            continue
        sign = _CURRENCY_SIGN.search(text[max(0, start - 5):start])
        if sign is not None:
            start -= len(text[max(0, start - 5):start]) - sign.start()
            end += len(m.group(0)) if (m := _MONEY_SUFFIX.match(text, end)) else 0
        out.append(TypedSpan(start, end, text[start:end], _kinds(text, start, end, sign is not None)))
    out.extend(TypedSpan(m.start(), m.end(), m.group(0), frozenset({"percent"})) for m in _FRACTION.finditer(text))
    return tuple(sorted(out, key=lambda s: s.start))


def _kinds(text: str, start: int, end: int, signed: bool) -> frozenset[str]:
    """What the number phrase ``text[start:end]`` measures, read from the words around it."""
    if signed:
        return frozenset({"money"})
    before, after = text[max(0, start - 20):start], text[end:end + 24]
    if _PERCENT_AFTER.match(after):
        return frozenset({"percent"})
    if _AGE.search(before) or _AGE_AFTER.match(after) or (_AFTER_NAME.search(before) and after.startswith(",")
                                                           and text[start:end].isdigit() and int(text[start:end]) < 120):
        return frozenset({"age"})
    nxt = _NEXT_WORD.match(after)
    word = fold(nxt.group(1)) if nxt else ""
    if word in _CURRENCY_WORDS or word in ("million", "billion", "bn") and _money_after(after):
        return frozenset({"money"}) | (frozenset({"measure"}) if word in ("pound", "pounds") else frozenset())
    if word in _DURATION_WORDS:
        return frozenset({"duration"})
    if word in _MEASURE_WORDS:
        return frozenset({"measure"})
    if word == "m":  # "50m": metres, or millions of something
        return frozenset({"measure", "count"})
    if _YEAR.fullmatch(text[start:end]) and not (word.islower() and word not in STOPWORDS
                                                 and not _YEAR_BEFORE.search(before)):
        return frozenset({"year", "duration"}) if _SINCE.search(before) else frozenset({"year"})
    return frozenset({"count"})  # a bare number, or a year-like one counting a noun ("2000 people")


def _money_after(after: str) -> bool:
    """'50 million pounds': a currency word right after 'million'/'billion'."""
    words = re.findall(r"[A-Za-z]+", after)
    return len(words) > 1 and fold(words[1]) in _CURRENCY_WORDS


def _counts(text: str, span: TypedSpan, noun: str) -> bool:
    """Whether the phrase counts ``noun``: the noun's stem within three words after it."""
    words = re.findall(r"[A-Za-z][\w'’-]*", text[span.end:span.end + 60])[:3]
    return any(stem(w.split("-")[0]) == noun or stem(w) == noun for w in words)
