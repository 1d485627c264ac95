"""Citation markers: the ``[n]`` after an answer sentence, found, parsed, bounded, stripped.

The one home of the marker syntax; the answerers write markers with ``format_markers``,
the verifier, the eval, the follow-up rewriter and the UI read them with these functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    """One bracketed citation marker in a text: ``text[start:end]`` is e.g. ``"[1, 2]"``."""

    start: int
    end: int
    numbers: tuple[int, ...]


_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*)\s*\]")
_MAX_RANGE = 20  # "[1-3]" expands; a huge range is a typo, not 10,000 citations


def find_markers(text: str) -> list[Marker]:
    """All citation markers in order.

    Numbers are not bounds-checked here (see parse_citations); ranges are expanded.

    >>> [m.numbers for m in find_markers("Putin arrived [1][2]. He left [1, 3]. See [2-4].")]
    [(1,), (2,), (1, 3), (2, 3, 4)]
    """
    markers = []
    for match in _MARKER.finditer(text):
        numbers: list[int] = []
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[-\u2013]\s*", part)
            if len(bounds) == 2 and 0 <= int(bounds[1]) - int(bounds[0]) <= _MAX_RANGE:
                numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            else:
                numbers.extend(int(b) for b in bounds)
        markers.append(Marker(match.start(), match.end(), tuple(numbers)))
    return markers


def parse_citations(text: str, k: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(valid, invalid)`` cited numbers in order of first appearance, each listed once.

    Valid means ``1 <= n <= k``: ``[0]`` and ``[k+1]`` are invalid, never "the last one".

    >>> parse_citations("a [1][3] b [1, 0] c [4]", k=3)
    ((1, 3), (0, 4))
    """
    valid: list[int] = []
    invalid: list[int] = []
    for marker in find_markers(text):
        for n in marker.numbers:
            bucket = valid if 1 <= n <= k else invalid
            if n not in bucket:
                bucket.append(n)
    return tuple(valid), tuple(invalid)


def strip_markers(text: str) -> str:
    """The text without markers, with the spaces they leave tidied.

    >>> strip_markers("Putin arrived [1]. He left [2][3]")
    'Putin arrived. He left'
    """
    text = _MARKER.sub("", text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def format_markers(numbers: Sequence[int]) -> str:
    """Markers for ``numbers``.

    >>> format_markers([1, 3])
    '[1][3]'
    """
    return "".join(f"[{n}]" for n in numbers)


_RUN = re.compile(r"(?:\s*\[\d+\])+")


def marker_runs(text: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """Each run of plain ``[n]`` markers as (start, end, numbers): a run ends a sentence.

    >>> marker_runs("Putin came [1][2]. He left [3].")
    [(10, 17, (1, 2)), (26, 30, (3,))]
    """
    return [(m.start(), m.end(), tuple(int(n) for n in re.findall(r"\d+", m.group(0))))
            for m in _RUN.finditer(text)]
