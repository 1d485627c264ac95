"""Verification of generated answers: every shown sentence must be supported by what it cites.

Pure functions over plain strings; the only outside help is an ``embed`` callable (texts ->
L2-normalised rows) and, optionally, a ``judge`` (the trained support verifier by default,
``verifier_judge``; or an LLM asked yes/no). The steps for one draft:

1. ``split_sentences``: sentences from rag.segment (pysbd); markers written after the full
   stop ("... 2024. [1]") are moved back onto the sentence they follow.
2. ``rag.markers.parse_citations``: ``[n]`` markers with explicit bounds: only 1..k exist.
   ``[0]`` and ``[k+1]`` are invalid (never "the last one"), and a sentence carrying one is
   dropped.
3. ``missing_terms``: every name, number and date of the sentence (read by rag.terms) must
   occur in the cited passages (case-insensitive; plural, possessive and diacritic variants
   tolerated).
4. similarity: the sentence must be close (cosine >= ``min_similarity``) to at least one
   sentence of a cited passage; that sentence is the evidence later quoted to the user.
5. A sentence without a citation gets the best passage that clears both bars, or is dropped.
6. ``judge``: the sentence quoted from each cited passage is the closest one the judge accepts
   alone (of the three closest); when none does, the closest with its neighbours must support
   the sentence, and the quote is that whole window (the verifier reads "the minister greeted Putin" against "Putin greeted the
   minister" and says refuted, which names, numbers and cosine cannot).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import segment
from ..markers import format_markers, parse_citations, strip_markers
from ..terms import folded_words, name_words, number_values, word_parts

DEFAULT_MIN_SIMILARITY = 0.5  # cosine of the sentence to its closest cited passage sentence

Embed = Callable[[Sequence[str]], np.ndarray]
# (claim, [(passage number, evidence window), ...]) -> None when supported, else the reason.
Judge = Callable[[str, Sequence[tuple[int, str]]], "str | None"]


@dataclass(frozen=True)
class Evidence:
    """The passage sentence that best supports a claim: ``passage_text[start:end]``."""

    n: int  # 1-based passage number as shown to the model
    start: int  # offsets into that passage's text (not the document)
    end: int
    similarity: float


@dataclass(frozen=True)
class SentenceCheck:
    """The verdict on one drafted sentence."""

    text: str  # the sentence with its markers removed
    cited: tuple[int, ...]  # passages (1-based) that support it; the model's own if valid
    supported: bool
    reasons: tuple[str, ...] = ()  # why it was dropped, or notes (e.g. "citation added")
    evidence: tuple[Evidence, ...] = ()  # one per number in ``cited``, same order
    abstention: bool = False  # the sentence says the passages don't contain the answer
    drafted: str = ""  # the sentence exactly as the model wrote it


# --- sentences ------------------------------------------------------------------------------

_LEADING_MARKERS = re.compile(r"^(?:\s*\[[\d\s,;\-\u2013]+\])+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, whitespace trimmed: exact offsets.

    >>> sentence_spans("Hi there.  Mr. Smith left.")
    [(0, 9), (11, 26)]
    """
    return segment.split_sentences(text)


def split_sentences(text: str) -> list[str]:
    """Sentences of a drafted answer, each keeping the markers that belong to it.

    Lines are split first (models write lists), bullets are removed, and markers that pysbd
    puts at the start of the next sentence go back to the one they follow:

    >>> split_sentences("Putin arrived. [1] He left [2].\\n- Mr. Ivanov spoke. [3]")
    ['Putin arrived. [1]', 'He left [2].', 'Mr. Ivanov spoke. [3]']
    """
    sentences: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line)
        for start, end in sentence_spans(line):
            sentence = line[start:end]
            lead = _LEADING_MARKERS.match(sentence)
            if lead and sentences:
                sentences[-1] = f"{sentences[-1]} {lead.group(0).strip()}"
                sentence = sentence[lead.end():].strip()
            if sentence:
                sentences.append(sentence)
    return sentences


# --- names and numbers ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Vocabulary:
    words: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, text: str) -> "_Vocabulary":
        return cls(folded_words(text), frozenset(number_values(text)))

    def has_word(self, word: str) -> bool:
        """Exact normalised match, or one word extending the other by at most 3 letters
        (``Mongolian`` ~ ``Mongolia``, ``Russian`` ~ ``Russia``)."""
        if word in self.words:
            return True
        if len(word) < 4:
            return False
        return any(len(w) >= 4 and abs(len(w) - len(word)) <= 3
                   and (w.startswith(word) or word.startswith(w)) for w in self.words)


def missing_terms(sentence: str, evidence: str) -> list[str]:
    """Names and numbers of ``sentence`` that do not occur in ``evidence``.

    >>> missing_terms("Putin arrived on Sept. 3 [1].", "Putin arrived on Sept. 2.")
    ['3']
    >>> missing_terms("Khurelsukh met Russia's Putin.", "Khürelsükh met the Russian leader, Putin.")
    []
    """
    vocabulary = _Vocabulary.of(evidence)
    text = strip_markers(sentence)
    missing = []
    for name in name_words(text):
        if not all(vocabulary.has_word(p) for p in word_parts(name)):
            missing.append(name)
    missing += [n for n in number_values(text) if n not in vocabulary.numbers]
    return list(dict.fromkeys(missing))


# --- lead-ins -----------------------------------------------------------------------------

_LEAD_IN = re.compile(
    r"^(?:(?:according\s+to|based\s+on|as\s+(?:stated|mentioned|reported|noted)\s+in|from)\s+"
    r"(?:the\s+)?(?:information\s+(?:provided\s+|given\s+)?in\s+(?:the\s+)?)?(?:provided\s+|given\s+)?"
    r"(?:passages?|articles?|text|context|sources?)(?:\s*\[[\d,\s]+\])*\s*,\s*"
    r"|(?:the\s+)?(?:passages?|articles?|text)(?:\s+from\s+(?:passage|article))?"
    r"(?:\s*\[[\d,\s]+\]|\s+\d+)*\s+(?:states?|says?|mentions?"
    r"|notes?|reports?|explains?|indicates?)(?:\s*:\s*|\s+that\s+|\s+))",
    re.IGNORECASE)
_QUOTED = re.compile(r'^["\u201c]\s*([^"\u201c\u201d]+?)\s*["\u201d]\.?$')


def strip_lead_in(sentence: str) -> str:
    """Remove a leading reference to the passages themselves.

    A real attribution ("According to Bloomberg, ...") is left alone; a sentence that only
    quotes a passage loses its quotation marks.

    >>> strip_lead_in("According to the passages, putin arrived on Monday.")
    'Putin arrived on Monday.'
    >>> strip_lead_in('The passage states: "Putin arrived on Monday."')
    'Putin arrived on Monday.'
    >>> strip_lead_in("According to Bloomberg, Mongolia gave assurances.")
    'According to Bloomberg, Mongolia gave assurances.'
    """
    match = _LEAD_IN.match(sentence)
    if not match or match.end() == len(sentence):
        return sentence
    rest = sentence[match.end():]
    quoted = _QUOTED.match(rest)
    if quoted:
        rest = quoted.group(1) if quoted.group(1)[-1:] in ".!?" else quoted.group(1) + "."
    return rest[:1].upper() + rest[1:]


# --- abstention -----------------------------------------------------------------------------

_SOURCE_WORDS = r"(?:passages?|articles?|context|sources?|text|documents?|information)"
_ABSTAIN = re.compile(
    "|".join([
        # "The passages do not contain/mention/say ...", "the provided text doesn't specify"
        _SOURCE_WORDS + r"\s+(?:provided\s+)?(?:do(?:es)?|did)\s*(?:not|n't)\s+(?:\w+\s+){0,2}?"
        r"(?:contain|mention|say|provide|include|state|specify|answer|address|cover|discuss"
        r"|give|tell|indicate|describe)",
        # "... is not mentioned in the passages"
        r"\bnot\s+(?:\w+\s+)?(?:mentioned|stated|specified|provided|found|available|included"
        r"|given|discussed|addressed|covered)\s+in\s+(?:the\s+|any\s+of\s+the\s+)?(?:provided\s+)?"
        + _SOURCE_WORDS,
        # "There is no information about that in the articles"
        r"\bno\s+(?:relevant\s+|specific\s+)?(?:information|mention|details?)\b[^.]*\b" + _SOURCE_WORDS,
        _SOURCE_WORDS + r"\s+(?:provided\s+)?(?:contains?|has|have|gives?|provides?)\s+no\b",
        r"\bi\s+(?:do\s+not|don't)\s+know\b",
        r"\b(?:cannot|can't|can\s+not|unable\s+to)\s+(?:be\s+)?(?:answer|determine)",
    ]),
    re.IGNORECASE)


def is_abstention(sentence: str) -> bool:
    """Does the sentence say the passages don't hold the answer?

    >>> is_abstention("The passages do not mention what Putin ate.")
    True
    >>> is_abstention("Based on the passage, Putin was not arrested on his state visit [1].")
    False
    """
    return bool(_ABSTAIN.search(strip_markers(sentence)))


# --- verification ---------------------------------------------------------------------------

def verify(draft: str, passages: Sequence[str], embed: Embed, *,
           min_similarity: float = DEFAULT_MIN_SIMILARITY,
           judge: Judge | None = None) -> list[SentenceCheck]:
    """Check every sentence of ``draft`` against ``passages`` (shown to the model as [1]..[k]).

    ``embed`` must return L2-normalised rows. All sentences of the draft and of the passages
    are embedded in one call. ``judge(sentence, windows)`` runs last, only on sentences that
    passed the other checks.
    """
    if not 0.0 <= min_similarity <= 1.0:
        raise ValueError(f"min_similarity must be between 0 and 1, got {min_similarity!r}")
    drafted = split_sentences(draft)
    if not drafted:
        return []
    k = len(passages)
    spans = [sentence_spans(text) for text in passages]
    passage_sentences = [text[s:e] for text, sp in zip(passages, spans) for s, e in sp]
    claims = [strip_lead_in(strip_markers(s)) for s in drafted]
    vectors = np.asarray(embed([*claims, *passage_sentences]), dtype=np.float32)
    claim_vectors, sentence_vectors = vectors[:len(claims)], vectors[len(claims):]
    owner = np.repeat(np.arange(k), [len(sp) for sp in spans]).astype(int)
    local = [span for sp in spans for span in sp]
    context = _Context(passages, claim_vectors, sentence_vectors, owner, local, min_similarity)
    return [_check(i, sentence, claims[i], context, judge) for i, sentence in enumerate(drafted)]


@dataclass(frozen=True)
class _Context:
    passages: Sequence[str]
    claim_vectors: np.ndarray
    sentence_vectors: np.ndarray
    owner: np.ndarray  # passage index (0-based) of each passage sentence
    local: list[tuple[int, int]]  # (start, end) of each passage sentence in its passage
    min_similarity: float

    def best(self, claim: int, n: int) -> Evidence | None:
        """Closest sentence of passage ``n`` (1-based) to claim ``claim``."""
        ranked = self.ranked(claim, n)
        return ranked[0] if ranked else None

    def ranked(self, claim: int, n: int) -> list[Evidence]:
        """The sentences of passage ``n`` (1-based), closest to claim ``claim`` first."""
        rows = np.flatnonzero(self.owner == n - 1)
        scores = self.sentence_vectors[rows] @ self.claim_vectors[claim]
        return [Evidence(n, *self.local[int(rows[i])], float(scores[i])) for i in np.argsort(-scores, kind="stable")]

    def sentence(self, e: Evidence) -> str:
        return self.passages[e.n - 1][e.start:e.end]

    def window(self, e: Evidence) -> str:
        """The evidence sentence with the sentences before and after it in its passage."""
        w = self.widened(e)
        return self.passages[e.n - 1][w.start:w.end]

    def widened(self, e: Evidence) -> Evidence:
        """``e`` grown to its window: the sentences before and after it in its passage."""
        rows = np.flatnonzero(self.owner == e.n - 1)
        at = next(i for i, r in enumerate(rows) if self.local[int(r)] == (e.start, e.end))
        first, last = self.local[int(rows[max(0, at - 1)])][0], self.local[int(rows[min(len(rows) - 1, at + 1)])][1]
        return Evidence(e.n, first, last, e.similarity)


def _check(index: int, drafted: str, claim: str, ctx: _Context,
           judge: Judge | None) -> SentenceCheck:
    k = len(ctx.passages)

    def verdict(cited: tuple[int, ...] = (), supported: bool = False, *reasons: str,
                evidence: tuple[Evidence, ...] = (), abstention: bool = False) -> SentenceCheck:
        return SentenceCheck(claim, cited, supported, tuple(reasons), evidence, abstention,
                             drafted)

    if is_abstention(claim):
        return verdict((), False, "says the passages don't contain the answer", abstention=True)
    if not re.search(r"\w", claim):
        return verdict((), False, "no text besides citation markers")
    valid, invalid = parse_citations(drafted, k)
    if invalid:
        shown = ", ".join(f"[{n}]" for n in invalid)
        return verdict(valid, False, f"cites {shown}, which does not exist "
                       f"(the passages are [1]..[{k}])")
    if valid:
        result = _check_cited(index, claim, valid, ctx)
    else:
        result = _check_uncited(index, claim, ctx)
    if result.supported and judge is not None:
        evidence = tuple(_supporting(index, claim, e, ctx, judge) for e in result.evidence)
        settled = [e for e, alone in evidence if alone]
        quoted = tuple(e for e, _ in evidence)
        if not settled:  # no sentence says it alone: the closest, read with its neighbours
            reason = judge(claim, [(e.n, ctx.window(e)) for e in quoted])
            if reason:
                return verdict(result.cited, False, *result.reasons, reason, evidence=result.evidence)
            quoted = tuple(ctx.widened(e) for e in quoted)  # quote what was read: the window
        result = SentenceCheck(claim, result.cited, True, result.reasons, quoted)
    return SentenceCheck(claim, result.cited, result.supported, result.reasons,
                         result.evidence, False, drafted)


def _supporting(index: int, claim: str, first: Evidence, ctx: _Context, judge: Judge) -> tuple[Evidence, bool]:
    """The sentence of ``first``'s passage to quote for the claim, and whether the judge
    accepts it alone: the closest sentence if it does, else the next closest (of those close
    enough) that does, else the closest. The quote shown is then one that says the claim,
    not a neighbour of it ("Kyiv called on Mongolia to arrest Putin" quotes "Kyiv has called
    on Mongolian authorities to execute the ICC warrant", not the next sentence about the
    Kremlin, which is closer in cosine)."""
    tried = [first] + [e for e in ctx.ranked(index, first.n)[1:_ALTERNATIVES + 1] if e.similarity >= ctx.min_similarity]
    for e in tried:
        if judge(claim, [(e.n, ctx.sentence(e))]) is None:
            return e, True
    return first, False


_ALTERNATIVES = 2  # other sentences of a passage tried as the quote when the closest fails alone


def _check_cited(index: int, claim: str, cited: tuple[int, ...], ctx: _Context) -> SentenceCheck:
    evidence = [e for e in (ctx.best(index, n) for n in cited) if e is not None]
    reasons = []
    missing = missing_terms(claim, "\n".join(ctx.passages[n - 1] for n in cited))
    if missing:
        reasons.append(f"{', '.join(missing)} not found in {format_markers(cited)}")
    top = max((e.similarity for e in evidence), default=0.0)
    if top < ctx.min_similarity:
        reasons.append(f"no sentence of {format_markers(cited)} says this "
                       f"(best cosine {top:.2f} < {ctx.min_similarity:.2f})")
    if reasons:
        return SentenceCheck(claim, cited, False, tuple(reasons), tuple(evidence))
    # Keep only the cited passages that contribute: close enough on their own, or holding a
    # name/number the others lack. "[1][2]" where [2] is unrelated becomes "[1]".
    kept = []
    for e in evidence:
        others = [n for n in cited if n != e.n]
        needed = others and missing_terms(claim, "\n".join(ctx.passages[n - 1] for n in others))
        if e.similarity >= ctx.min_similarity or needed:
            kept.append(e)
    notes = () if len(kept) == len(cited) else (
        f"dropped unrelated citation {format_markers([n for n in cited if n not in {e.n for e in kept}])}",)
    return SentenceCheck(claim, tuple(e.n for e in kept), True, notes, tuple(kept))


def _check_uncited(index: int, claim: str, ctx: _Context) -> SentenceCheck:
    best: Evidence | None = None
    closest: Evidence | None = None
    for n in range(1, len(ctx.passages) + 1):
        e = ctx.best(index, n)
        if e is None:
            continue
        if closest is None or e.similarity > closest.similarity:
            closest = e
        if e.similarity >= ctx.min_similarity and not missing_terms(claim, ctx.passages[n - 1]):
            if best is None or e.similarity > best.similarity:
                best = e
    if best is not None:
        return SentenceCheck(claim, (best.n,), True, (f"no citation; added [{best.n}]",), (best,))
    detail = "" if closest is None else f" (closest: [{closest.n}], cosine {closest.similarity:.2f})"
    return SentenceCheck(claim, (), False, ("no citation and no passage supports it" + detail,))


def verifier_judge(verifier) -> Judge:
    """The trained support verifier (``rag.verifier.Verifier``) as ``verify``'s judge.

    A sentence passes when some cited window supports it (P(supported) at or over the
    verifier's calibrated threshold); otherwise the reason names the window that refutes it,
    or says none supports it.
    """
    def judge(claim: str, windows: Sequence[tuple[int, str]]) -> str | None:
        if not windows:
            return None
        verdicts = verifier.verdicts([(text, claim) for _, text in windows])
        if any(v.is_supported for v in verdicts):
            return None
        (n, worst) = max(zip((n for n, _ in windows), verdicts),
                         key=lambda item: (item[1].clash is not None, item[1].refuted))
        if worst.clash is not None:
            return f"[{n}] says otherwise: {worst.clash.describe()}"
        if worst.label == "refuted":
            return f"the verifier finds it contradicted by [{n}] (P(refuted) {worst.refuted:.2f})"
        best = max(v.supported for v in verdicts)
        return (f"the verifier finds no support in {format_markers([n for n, _ in windows])} "
                f"(P(supported) {best:.2f} < {verifier.threshold:.2f})")

    return judge
