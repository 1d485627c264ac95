"""Shared text helpers: tokens for BM25 and key terms, question types, names and numbers.

>>> key_terms("Why wasn't Putin arrested in Mongolia?")
['putin', 'arrest', 'mongolia']
>>> question_type("How many member states does the ICC have?")
'how-many'
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import bm25s
import Stemmer

_STEMMER = Stemmer.Stemmer("english")

# Function words, question words and the stubs of contractions ("wasn't" -> "wasn", "t").
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can cannot could couldn d did didn do does doesn doing don down
during each few for from further had hadn has hasn have haven having he her here hers herself him
himself his how i if in into is isn it its itself just ll m me might mightn more most must mustn
my myself no nor not now o of off on once only or other our ours ourselves out over own re s same
shan she should shouldn so some such t than that the their theirs them themselves then there these
they this those through to too under until up ve very was wasn we were weren what when where which
while who whom why will with won would wouldn y you your yours yourself yourselves
many much tell say said says according
""".split())

_WORD = re.compile(r"(?u)\b\w\w+\b")


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Lower-case and strip diacritics: 'Khürelsükh' -> 'khurelsukh'."""
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Folded, stop-worded, stemmed tokens (the same for documents and queries).

    >>> tokenize(["The arrests were made"])
    [['arrest', 'made']]
    """
    out = bm25s.tokenize([fold(t) for t in texts], stopwords=list(STOPWORDS), stemmer=_STEMMER,
                         return_ids=False, show_progress=False)
    return [list(tokens) for tokens in out]


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str | None:
    """The key-term stem of one word, None for stopwords and one-letter words.

    >>> stem("Arrested"), stem("the")
    ('arrest', None)
    """
    tokens = _WORD.findall(fold(word))  # "Putin's" -> "putin"
    if not tokens or tokens[0] in STOPWORDS:
        return None
    return _STEMMER.stemWord(tokens[0])


def key_terms(text: str) -> list[str]:
    """Distinct stemmed content terms of ``text`` in order of appearance."""
    seen: dict[str, None] = {}
    for token in tokenize([text])[0]:
        seen.setdefault(token, None)
    return list(seen)


def terms_match(a: str, b: str) -> bool:
    """Stems match exactly or by a long shared prefix ('mongolia' ~ 'mongolian').

    >>> terms_match("mongolia", "mongolian"), terms_match("arm", "army")
    (True, False)
    """
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long_.startswith(short)


def question_type(question: str) -> str:
    """Coarse answer type: why, how-many, when, who, where, how, yes-no or what."""
    q = fold(question).strip()
    if re.search(r"\bwhy\b|\bwhat (was|is|were) the reasons?\b|\breasons?\b|\bhow come\b", q):
        return "why"
    if re.search(r"\bhow (many|much)\b|\bwhat number\b|\bhow (long|old|big|large)\b", q):
        return "how-many"
    if re.search(r"\bwhen\b|\bwhat (date|day|time|year|month)\b|\bwhich (date|day|year|month)\b", q):
        return "when"
    if re.search(r"\bwho\b|\bwhom\b|\bwhose\b|\bwhich (person|official|leader|minister|spokes\w*)\b", q):
        return "who"
    if re.search(r"\bwhere\b|\bwhich (city|country|place|square)\b", q):
        return "where"
    if re.search(r"^\s*how\b", q):
        return "how"
    if re.match(r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b", q):
        return "yes-no"
    return "what"


_SPLIT = re.compile(r",?\s+and\s+(?=(?:who|whom|what|which|when|where|why|how|is|are|was|were|did|does|do)\b)",
                    re.IGNORECASE)


def sub_questions(question: str) -> list[str]:
    """Split a compound question into its parts (each answered separately).

    >>> sub_questions("How many states belong to the ICC, and how long after the warrant did he visit one?")
    ['How many states belong to the ICC?', 'how long after the warrant did he visit one?']
    >>> sub_questions("Who met Putin?")
    ['Who met Putin?']
    """
    parts = [p.strip(" ,;") for p in _SPLIT.split(question) if p.strip(" ,;")]
    if len(parts) < 2:
        return [question]
    return [p if p.endswith("?") else p + "?" for p in parts]


_NAME = re.compile(r"\b[A-Z][\w\u00C0-\u024F'’-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w\u00C0-\u024F'’-]*)*")
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
                     r"|hundred|thousand|million|billion|dozens?|once|twice|thrice|half)\b", re.IGNORECASE)
_DATE = re.compile(r"\b(?:january|february|march|april|may|june|july|august|september|october|november"
                   r"|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday"
                   r"|thursday|friday|saturday|sunday|yesterday|today|tomorrow|last (?:week|month|year)"
                   r"|this (?:week|month|year)|next (?:week|month|year))\b|\b(?:19|20)\d\d\b", re.IGNORECASE)


def name_spans(text: str) -> list[re.Match]:
    """Matches of capitalised word sequences, with their offsets."""
    return list(_NAME.finditer(text))


def names(text: str) -> list[str]:
    """Capitalised word sequences that are not just a sentence's first word.

    >>> names("Putin met Ukhnaa Khurelsukh in Ulaanbaatar.")
    ['Putin', 'Ukhnaa Khurelsukh', 'Ulaanbaatar']
    """
    return [m.group(0) for m in _NAME.finditer(text)]


def numbers(text: str) -> list[str]:
    """Numerals and number words: '124 member states', 'four days'."""
    return [m.group(0) for m in _NUMBER.finditer(text)]


def dates(text: str) -> list[str]:
    """Dates, weekdays, months, years and relative time phrases."""
    return [m.group(0) for m in _DATE.finditer(text)]
