"""The words of a text: folding, BM25 tokens, key terms, question types, and the names,
numbers and dates it mentions.

The one home of these rules. Two readings of names and numbers serve two jobs:

* ``names`` / ``numbers`` / ``dates``: the phrases as written, for scoring evidence
  (rag.evidence) and resolving follow-ups (rag.rewrite).
* ``name_words`` / ``number_values``, compared through ``normalize_word`` and
  ``folded_words``: what one answer sentence claims, each word or value normalised so that
  rag.llm.verify can look it up in the cited passages.

>>> key_terms("Why wasn't Putin arrested in Mongolia?")
['putin', 'arrest', 'mongolia']
>>> question_type("How many member states does the ICC have?")
'how-many'
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import Stemmer


def _import_bm25s():
    """bm25s, imported without scipy.sparse when nothing has imported that yet.

    bm25s imports scipy.sparse (≈0.5 s, a quarter of a cold start's imports) only to offer a
    scipy CSC backend for ``BM25.index``; this project builds the matrix with NumPy
    (``rag.sparse.BM25Index.from_terms``) and bm25s falls back to its NumPy backend
    otherwise, which builds the same matrix (a property test compares them)."""
    if "bm25s" in sys.modules or "scipy.sparse" in sys.modules:
        import bm25s
        return bm25s
    sys.modules["scipy.sparse"] = None  # type: ignore[assignment]  # "import scipy.sparse" raises ImportError
    try:
        import bm25s
    finally:
        del sys.modules["scipy.sparse"]
    return bm25s


bm25s = _import_bm25s()

from .markers import strip_markers

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


TERMS_ID = "tokens-v1"  # a TermTable keeps every token in order; tables saved before kept each term once


@dataclass(frozen=True)
class TermTable:
    """Every sentence's ``tokenize`` tokens, in order and with repeats, as ids into
    ``vocabulary``: sentence i is ``vocabulary[ids[offsets[i]:offsets[i + 1]]]``. Built once per
    index and saved beside it: starting does not tokenize the archive again (5 s at 17.5k
    articles), BM25 reads a chunk's tokens from it (a chunk's text is its sentences joined by
    spaces, so its tokens are theirs, in order), and the next build re-tokenizes only
    sentences whose text is new (``term_table(..., previous=...)``)."""

    vocabulary: tuple[str, ...]
    offsets: np.ndarray  # int64, one more than the number of sentences
    ids: np.ndarray  # int32

    def terms(self, i: int) -> frozenset[str]:
        return frozenset(self.vocabulary[j] for j in self.ids[self.offsets[i]:self.offsets[i + 1]].tolist())

    def span_tokens(self, first: int, last: int) -> list[str]:
        """The tokens of sentences ``first``..``last`` (inclusive), in order: a chunk's tokens."""
        vocabulary = self.vocabulary
        return [vocabulary[j] for j in self.ids[self.offsets[first]:self.offsets[last + 1]].tolist()]


def term_table(texts: Sequence[str], previous: tuple[TermTable, Sequence[str]] | None = None) -> TermTable:
    """The TermTable of ``texts`` (sentence i = ``texts[i]``).

    ``previous`` = (the last build's table, its sentences' texts): a text found there keeps
    its tokens instead of being tokenized again (an unchanged article costs nothing).

    >>> table = term_table(["The arrests were made", "Arrest him"])
    >>> table.terms(1), table.vocabulary
    (frozenset({'arrest'}), ('arrest', 'made'))
    >>> again = term_table(["Arrest him", "Made in May"], previous=(table, ["The arrests were made", "Arrest him"]))
    >>> again.vocabulary, again.span_tokens(0, 1)
    (('arrest', 'made', 'may'), ['arrest', 'made', 'may'])
    """
    old, row = (previous[0], {t: i for i, t in enumerate(previous[1])}) if previous else (None, {})
    index: dict[str, int] = {t: i for i, t in enumerate(old.vocabulary)} if old else {}
    fresh = [i for i, t in enumerate(texts) if t not in row]
    tokens = dict(zip(fresh, tokenize([texts[i] for i in fresh])))
    pieces = []
    for i, text in enumerate(texts):
        if i in tokens:
            pieces.append(np.array([index.setdefault(t, len(index)) for t in tokens[i]], dtype=np.int32))
        else:
            j = row[text]
            pieces.append(old.ids[old.offsets[j]:old.offsets[j + 1]])
    ids = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces], dtype=np.int64)]).astype(np.int64)
    return _pruned(list(index), offsets, ids)


def updated_term_table(previous: TermTable, size: int, new_rows: np.ndarray, old_rows: np.ndarray,
                       texts: dict[int, str]) -> TermTable:
    """The TermTable of ``size`` sentences where sentence ``new_rows[i]`` is ``previous``'s
    sentence ``old_rows[i]`` (an unchanged article's: its ids are copied as a block, no text
    read) and every other sentence ``r`` is ``texts[r]`` (tokenized here). What a re-index
    needs: ``term_table(..., previous=...)`` looks every sentence's text up (0.13 s at 17.5k
    articles), this touches only the changed ones.

    >>> table = term_table(["The arrests were made", "Arrest him"])
    >>> again = updated_term_table(table, 2, np.array([1]), np.array([0]), {0: "Made in May"})
    >>> again.vocabulary, again.span_tokens(0, 1)
    (('arrest', 'made', 'may'), ['made', 'may', 'arrest', 'made'])
    """
    from .tables import ranges

    new_rows, old_rows = np.asarray(new_rows, dtype=np.int64), np.asarray(old_rows, dtype=np.int64)
    if len(new_rows) + len(texts) != size or (texts and (min(texts) < 0 or max(texts) >= size)):
        raise ValueError(f"{len(new_rows)} copied and {len(texts)} new sentences do not make {size}")
    index: dict[str, int] = {t: i for i, t in enumerate(previous.vocabulary)}
    fresh = sorted(texts)
    pieces = [np.array([index.setdefault(t, len(index)) for t in tokens], dtype=np.int32)
              for tokens in tokenize([texts[r] for r in fresh])]
    lengths = np.zeros(size, dtype=np.int64)
    lengths[new_rows] = np.diff(previous.offsets)[old_rows]
    lengths[np.array(fresh, dtype=np.int64)] = [len(p) for p in pieces]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.empty(int(offsets[-1]), dtype=np.int32)
    ids[ranges(offsets[new_rows], offsets[new_rows + 1])] = previous.ids[
        ranges(previous.offsets[old_rows], previous.offsets[old_rows + 1])]
    for row, piece in zip(fresh, pieces):
        ids[offsets[row]:offsets[row + 1]] = piece
    return _pruned(tuple(index), offsets, ids)


def _pruned(vocabulary: Sequence[str], offsets: np.ndarray, ids: np.ndarray) -> TermTable:
    """The table without the terms no sentence uses any more (ids renumbered)."""
    used = np.flatnonzero(np.bincount(ids, minlength=len(vocabulary)))
    if len(used) < len(vocabulary):  # terms of texts that are gone: dropped, ids renumbered
        remap = np.full(len(vocabulary), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        ids, vocabulary = remap[ids], [vocabulary[u] for u in used.tolist()]
    return TermTable(tuple(vocabulary), offsets, ids)


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
    return list(_key_terms(text))


@functools.lru_cache(maxsize=8192)
def _key_terms(text: str) -> tuple[str, ...]:
    # cached: answering asks for the terms of the same questions, names and outlets again and
    # again, and bm25s's tokenizer costs ~0.4 ms a call however short the text
    return tuple(dict.fromkeys(tokenize([text])[0]))


def terms_match(a: str, b: str) -> bool:
    """Stems match exactly or by a long shared prefix ('mongolia' ~ 'mongolian').

    >>> terms_match("mongolia", "mongolian"), terms_match("arm", "army")
    (True, False)
    """
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 5 and long_.startswith(short)


def contains_term(terms: frozenset[str], term: str) -> bool:
    """Whether some term of ``terms`` matches ``term`` (``terms_match``), without comparing
    it with every one: exact lookup, then the prefixes of ``term`` (a shorter term of 5+
    letters), then the sorted neighbours of ``term`` (a longer term it starts).

    >>> contains_term(frozenset({"mongolian", "gas"}), "mongolia"), contains_term(frozenset({"army"}), "arm")
    (True, False)
    """
    if term in terms:
        return True
    if len(term) > 5 and any(term[:k] in terms for k in range(5, len(term))):
        return True
    if len(term) < 5:
        return False
    ordered = _sorted_terms(terms)
    i = bisect.bisect_right(ordered, term)
    return i < len(ordered) and ordered[i].startswith(term)


@functools.lru_cache(maxsize=4096)
def _sorted_terms(terms: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(terms))


_QUESTION_TYPES = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("why", r"\bwhy\b|\bwhat (was|is|were) the reasons?\b|\breasons?\b|\bhow come\b"),
    ("how-many", r"\bhow (many|much)\b|\bwhat number\b|\bhow (long|old|big|large)\b"),
    ("when", r"\bwhen\b|\bwhat (date|day|time|year|month)\b|\bwhich (date|day|year|month)\b"),
    ("who", r"\bwho\b|\bwhom\b|\bwhose\b|\bwhich (person|official|leader|minister|spokes\w*)\b"),
    ("where", r"\bwhere\b|\bwhich (city|country|place|square)\b"),
    ("how", r"^\s*how\b"),
    ("yes-no", r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b"),
))


def question_type(question: str) -> str:
    """Coarse answer type: why, how-many, when, who, where, how, yes-no or what.

    The type whose pattern occurs first in the folded question wins (ties: in that order), so
    a relative clause does not retype the question: "Where were the men who ... arrested?"
    asks for a place.

    >>> question_type("Where were the two men who spray-painted the train arrested?")
    'where'
    """
    q = fold(question).strip()
    found = [(m.start(), i) for i, (_, pattern) in enumerate(_QUESTION_TYPES) if (m := pattern.search(q))]
    return _QUESTION_TYPES[min(found)[1]][0] if found else "what"


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


# --- names, numbers and dates as written (evidence scoring, follow-ups) ---------------------

_NAME = re.compile(r"\b[A-Z][\w\u00C0-\u024F'’-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w\u00C0-\u024F'’-]*)*")
# Both start with a word boundary and a look-ahead for the first characters they can match, so
# that the engine tries the long alternations only there (3x faster; answering runs them on
# every candidate sentence).
_NUMBER = re.compile(r"\b(?=[\dotfsenhmbd])(?:(?<!\.)\d+(?:[.,]\d+)*(?!\d)|(?:one|two|three|four|five|six|seven"
                     r"|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh|nine)teen"
                     r"|(?:twen|thir|for|fif|six|seven|eigh|nine)ty"
                     r"|hundreds?|thousands?|millions?|billions?|dozens?|once|twice|thrice|half)\b)", re.IGNORECASE)
# Month and weekday names count only capitalised, as English writes them: "Russia may supply
# gas" and "protesters march" hold no date (lower case, they are the verbs).
_DATE = re.compile(r"\b(?=[JFMASONDTWYLjfmasondtwyl12])(?:(?:January|February|March|April|May|June|July|August"
                   r"|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Monday"
                   r"|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
                   r"|(?i:yesterday|today|tomorrow|last (?:week|month|year)"
                   r"|this (?:week|month|year)|next (?:week|month|year)))\b|(?:19|20)\d\d\b)")


def name_spans(text: str) -> list[re.Match]:
    """Matches of capitalised word sequences, with their offsets."""
    return list(_NAME.finditer(text))


def number_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of number phrases, adjacent pieces joined.

    >>> text = "The pipe carries 50 billion cubic meters, 1,000 km long."
    >>> [text[a:b] for a, b in number_spans(text)]
    ['50 billion', '1,000']
    """
    return _joined(text, [_NUMBER], _NUMBER, between=" -")


def date_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of date phrases (with their day numbers), adjacent pieces joined.

    >>> text = "Talks resume on Sept. 2, 2024, not Monday."
    >>> [text[a:b] for a, b in date_spans(text)]
    ['Sept. 2, 2024', 'Monday']
    """
    return _joined(text, [_DATE, _NUMBER], _DATE)


def _joined(text: str, patterns: list[re.Pattern], required: re.Pattern,
            between: str = " ,.") -> list[tuple[int, int]]:
    """Matches of ``patterns`` merged when only characters of ``between`` (≤ 3) separate them;
    a merged span is kept when it holds a match of ``required``."""
    pieces = sorted({m.span() for p in patterns for m in p.finditer(text)})
    merged: list[list[int]] = []
    for start, end in pieces:
        if merged and start - merged[-1][1] <= 3 and not text[merged[-1][1]:start].strip(between):
            merged[-1][1] = max(merged[-1][1], end)
        elif not merged or start >= merged[-1][1]:
            merged.append([start, end])
    return [(a, b) for a, b in merged if required.search(text, a, b)]


def names(text: str) -> list[str]:
    """Capitalised word sequences, as written (a sentence's first word included).

    >>> names("Putin met Ukhnaa Khurelsukh in Ulaanbaatar.")
    ['Putin', 'Ukhnaa Khurelsukh', 'Ulaanbaatar']
    """
    return [m.group(0) for m in name_spans(text)]


def numbers(text: str) -> list[str]:
    """Numerals and number words: '124 member states', 'four days'."""
    return [m.group(0) for m in _NUMBER.finditer(text)]


def dates(text: str) -> list[str]:
    """Dates, weekdays, months, years and relative time phrases.

    >>> dates("Russia may supply gas from May 2025, talks resume next week")
    ['May', '2025', 'next week']
    """
    return [m.group(0) for m in _DATE.finditer(text)]


# --- names and numbers a sentence claims, normalised (answer verification) --------------------

# Capitalised words that start sentences without being names; only skipped in first position.
_COMMON_STARTERS = frozenset("""
a about according additionally after afterwards again also although among an and another
any as at because before besides both but by despite during each either even following for
from further furthermore given he her here hers his however i if in including instead it
its later lastly like many meanwhile more moreover most much my neither nevertheless no nor
not notably now of on once one only or other others our overall per since so some still
such than that the their them then there therefore these they this those though thus to
today together under unlike until upon us we what when where whereas whether which while
who whom whose why with within without yes yet you your
""".split())
# Capitalised function words inside a name ("The Hague", "Court Of Appeal") are not checked.
_NAME_STOPWORDS = frozenset("a an and at by for in of on or the to".split())
# Honorifics and offices before a name ("President Putin") are not claims worth a drop.
_TITLES = frozenset("""
mr mrs ms dr sir president vice prime minister chancellor secretary general gen leader
king queen prince sen senator rep gov governor spokesman spokeswoman spokesperson
""".split())
_MONTHS = {
    "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september", "oct": "october",
    "nov": "november", "dec": "december",
}
_NUMBER_WORDS = {
    word: str(value) for value, word in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()) if word != "_"
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
     "eighty": "80", "ninety": "90"}  # "one" is left out: "one of the ..." is not a number
# A word starting with a letter; inner dots and hyphens kept ("U.N.", "Sino-Russian").
_CLAIM_WORD = re.compile(r"[^\W\d_](?:[\w'\u2019]|[.\-](?=\w))*\.?")
_DIGITS = re.compile(r"\d+(?:[.,:/]\d+)*")


def normalize_word(word: str) -> str:
    """Fold a word to the form compared across sentence and passage.

    ``fold`` (lower case, no diacritics), no dots (``U.N.`` = ``UN``), no possessive, a crude
    singular, month abbreviations spelled out.

    >>> [normalize_word(w) for w in ["Khürelsükh's", "Sept.", "countries", "U.N."]]
    ['khurelsukh', 'september', 'country', 'un']
    """
    word = fold(word).replace(".", "").replace("\u2019", "'")
    word = re.sub(r"'s?$", "", word)
    if word in _MONTHS:
        return _MONTHS[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalize_number(token: str) -> str:
    """Thousands separators and leading zeros go; decimals stay as written.

    >>> [normalize_number(t) for t in ["1,000", "09", "3.50"]]
    ['1000', '9', '3.50']
    """
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token):
        return token.replace(",", "")
    if token.isdigit():
        return token.lstrip("0") or "0"
    return token


def word_parts(word: str) -> list[str]:
    """``normalize_word`` of each hyphen-separated part of ``word``.

    >>> word_parts("Sino-Mongolian"), word_parts("U.N.")
    (['sino', 'mongolian'], ['un'])
    """
    parts = (normalize_word(p) for p in re.split(r"[-\u2013]", word) if p.strip("."))
    return [p for p in parts if p]


def folded_words(text: str) -> frozenset[str]:
    """Every word of ``text`` in its normalised form (hyphenated words by part).

    >>> sorted(folded_words("Mongolia's pro-Russian leaders"))
    ['leader', 'mongolia', 'pro', 'russian']
    """
    return frozenset(p for m in _CLAIM_WORD.finditer(text) for p in word_parts(m.group(0)))


def name_words(sentence: str) -> list[str]:
    """Capitalised words of ``sentence`` (each word of a multi-word name separately).

    Unlike ``names``: the first word is skipped when it is a common sentence starter, and
    titles, function words and number words are skipped.

    >>> name_words("Despite the ICC warrant, Mongolia's President Khurelsukh met Putin.")
    ['ICC', "Mongolia's", 'Khurelsukh', 'Putin']
    """
    found = []
    for i, match in enumerate(_CLAIM_WORD.finditer(sentence)):
        word = match.group(0).rstrip(".") if match.group(0).count(".") == 1 else match.group(0)
        if not word[:1].isupper():
            continue
        if i == 0 and word.lower() in _COMMON_STARTERS:
            continue
        if word.lower().rstrip(".") in _NAME_STOPWORDS | _TITLES or word.lower() in _NUMBER_WORDS:
            continue  # "Two" is checked as a number, not as a name
        found.append(word)
    return found


def number_values(sentence: str) -> list[str]:
    """Numbers written with digits or as words two..ninety, normalised.

    Unlike ``numbers``: values, not phrases; citation markers are not numbers of the sentence.

    >>> number_values("18 months, 1,000 troops and two visits [1]")
    ['18', '1000', '2']
    """
    text = strip_markers(sentence)
    found = [normalize_number(m.group(0)) for m in _DIGITS.finditer(text)]
    found += [_NUMBER_WORDS[w.lower()] for w in re.findall(r"[A-Za-z]+", text)
              if w.lower() in _NUMBER_WORDS]
    return found
