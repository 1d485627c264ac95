"""Sentence segmentation with exact character offsets (pysbd), robust to hard line breaks.

News text arrives with sentences wrapped mid-line ("...since it issued an arrest\\nwarrant")
and with one paragraph per line. A newline is treated as a soft wrap when the line before it
does not end a sentence; soft wraps are blanked to spaces *in a scratch copy of the same
length*, so every offset found in the copy is valid in the original text.

>>> text = "Mr. Putin met the U.N. envoy on Sept. 2.\\nIt was\\nbrief."
>>> [text[s:e] for s, e in split_sentences(text)]
['Mr. Putin met the U.N. envoy on Sept. 2.', 'It was\\nbrief.']
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable

import pysbd

from .cleaning import is_shouting

SEGMENTER_ID = "pysbd-0.3.4/v2"  # recorded in the index manifest; bump when rules change
MAX_SENTENCE_CHARS = 800  # longer runs (tables, PDFs without punctuation) are cut at spaces

_TERMINAL = set('.!?:;"\u201d\u2019\')]')
# A line ending in one of these (or in an initial like "J." / "U.N.") does not end a sentence.
_ABBREVIATIONS = frozenset("""mr mrs ms dr prof st sen rep gov gen col lt sgt capt cmdr adm pres jr sr
inc co corp ltd no vs etc jan feb mar apr jun jul aug sep sept oct nov dec mt ft rev fig approx""".split())
_INITIALS = re.compile(r"(?:\b[A-Za-z]\.)+$")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_local = threading.local()


class _CachedRe:
    """The ``re`` functions pysbd calls, with a compiled-pattern cache big enough for pysbd.

    pysbd formats a new pattern for each abbreviation it finds in a text (its English list has
    hundreds), more than the 512 that ``re`` keeps compiled, so every text compiled them all
    again: 74,599 compilations while indexing 4,000 NQ paragraphs, a fifth of the build's time
    under cProfile. Same patterns, same results (a test compares the spans); each module of
    pysbd sees this object as its ``re``.
    """

    def __init__(self, size: int = 8192) -> None:
        self._compiled = functools.lru_cache(maxsize=size)(re.compile)

    def __getattr__(self, name: str):
        return getattr(re, name)  # flags, escape, Pattern, ...

    def compile(self, pattern, flags=0):
        return pattern if isinstance(pattern, re.Pattern) and not flags else self._compiled(pattern, flags)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).sub(repl, string, count)

    def subn(self, pattern, repl, string, count=0, flags=0):
        return self.compile(pattern, flags).subn(repl, string, count)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self.compile(pattern, flags).split(string, maxsplit)

    def findall(self, pattern, string, flags=0):
        return self.compile(pattern, flags).findall(string)

    def finditer(self, pattern, string, flags=0):
        return self.compile(pattern, flags).finditer(string)

    def search(self, pattern, string, flags=0):
        return self.compile(pattern, flags).search(string)

    def match(self, pattern, string, flags=0):
        return self.compile(pattern, flags).match(string)

    def fullmatch(self, pattern, string, flags=0):
        return self.compile(pattern, flags).fullmatch(string)


_PYSBD_RE = _CachedRe()
for _name, _module in list(sys.modules.items()):
    if _name.startswith("pysbd") and getattr(_module, "re", None) is re:
        _module.re = _PYSBD_RE


def _segmenter() -> pysbd.Segmenter:
    seg = getattr(_local, "segmenter", None)
    if seg is None:
        seg = _local.segmenter = pysbd.Segmenter(language="en", clean=False)
    return seg


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into paragraph spans at blank lines and at hard line breaks.

    >>> t = "One line that\\nwraps here.\\nNew paragraph."
    >>> [t[s:e] for s, e in paragraphs(t)]
    ['One line that\\nwraps here.', 'New paragraph.']
    """
    spans: list[tuple[int, int]] = []
    block_start = 0
    blocks = [(m.start(), m.end()) for m in _BLANK_LINE.finditer(text)] + [(len(text), len(text))]
    for gap_start, gap_end in blocks:
        _split_block(text, block_start, gap_start, spans)
        block_start = gap_end
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _split_block(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    para_start = start
    line_start = start
    while True:
        nl = text.find("\n", line_start, end)
        if nl < 0:
            out.append((para_start, end))
            return
        line = text[line_start:nl].rstrip()
        next_nl = text.find("\n", nl + 1, end)
        following = text[nl + 1:next_nl if next_nl >= 0 else end]
        hard = (not line or (line[-1] in _TERMINAL and not _ends_with_abbreviation(line)) or is_shouting(line)
                or is_shouting(following) or len(line.strip()) < 40 and not following[:1].islower())
        if hard:
            out.append((para_start, nl))
            para_start = nl + 1
        line_start = nl + 1


def _ends_with_abbreviation(line: str) -> bool:
    """'…would meet Mr.' or '…the U.N.' ends mid-sentence.

    >>> _ends_with_abbreviation("would meet Mr."), _ends_with_abbreviation("met the U.N."), _ends_with_abbreviation("It ended.")
    (True, True, False)
    """
    if not line.endswith("."):
        return False
    last = line.rsplit(None, 1)[-1]
    return last[:-1].lower().lstrip("(\"'") in _ABBREVIATIONS or bool(_INITIALS.search(last))


def split_sentences(text: str, start: int = 0, end: int | None = None,
                    on_progress: Callable[[int], None] | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(s, e)`` of ``text[start:end]``, stripped of surrounding whitespace.

    ``on_progress(chars_done)`` is called after each paragraph (a 20 MB article takes minutes).
    """
    end = len(text) if end is None else end
    sub = text[start:end]
    spans: list[tuple[int, int]] = []
    for p_start, p_end in paragraphs(sub):
        scratch = sub[p_start:p_end].replace("\n", " ").replace("\r", " ")
        for s, e in _pieces(scratch):
            for cs, ce in _cut_long(scratch, *_strip(scratch, s, e)):
                spans.append((start + p_start + cs, start + p_start + ce))
        if on_progress is not None:
            on_progress(p_end)
    return [(s, e) for s, e in spans if e > s]


def _pieces(scratch: str) -> list[tuple[int, int]]:
    """pysbd's sentences of one paragraph as spans that cover all of it: text pysbd skips
    joins the next sentence, and from a piece it changed on, the rest is one span.

    >>> _pieces(" ?!")  # pysbd itself returns no sentence at all here
    [(0, 3)]
    """
    spans, cursor = [], 0
    for piece in _segmenter().segment(scratch):
        found = scratch.find(piece, cursor) if piece else -1
        if found < 0:
            break
        spans.append((cursor, found + len(piece)))
        cursor = found + len(piece)
    if cursor < len(scratch):
        spans.append((cursor, len(scratch)))
    return spans


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _cut_long(text: str, s: int, e: int) -> list[tuple[int, int]]:
    out = []
    while e - s > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", s, s + MAX_SENTENCE_CHARS)
        cut = cut if cut > s else s + MAX_SENTENCE_CHARS
        out.append(_strip(text, s, cut))
        s, _ = _strip(text, cut, e)
    out.append((s, e))
    return [(a, b) for a, b in out if b > a]
