"""Find the junk in news pages (disclaimers, captions, promos, bylines) as spans to skip.

Nothing here edits text: ``junk_spans`` returns ``(start, end)`` spans that retrieval must
ignore, so quotes are always cut from the article exactly as loaded.

>>> t = "Putin arrived.\\nPENCE URGES GOP TO UNITE BEHIND UKRAINE\\nYour email address will not be published."
>>> [t[s:e] for s, e in junk_spans(t)]
['PENCE URGES GOP TO UNITE BEHIND UKRAINE', 'Your email address will not be published.']
"""

from __future__ import annotations

import re

CLEANING_ID = "junk-v1"  # recorded in the index manifest; bump when the rules change

# Boilerplate that pages append to articles; matched case-insensitively anywhere in a line.
_BOILERPLATE = re.compile(
    r"(^disclaimer\b|copyright of this article|all rights reserved|reposting this article"
    r"|your email address will not be published|required fields are marked"
    r"|^(sign up|subscribe)\b|click here|^advertisement$|^read more\b|^related:"
    r"|you can follow (him|her|them|us)|follow us on|contributed to this report"
    r"|this article includes reporting from|if there is any infringement|corrections or deletions"
    r"|^thank you\.?$)",
    re.IGNORECASE,
)
# Author bios count only with their usual company: "... is a writer for X. Follow him on Twitter".
_BIO = re.compile(r"\bis an? (staff )?(writer|reporter|correspondent|editor) (for|at)\b", re.IGNORECASE)
_BIO_COMPANY = re.compile(r"twitter|follow (him|her|them)|e-?mail|@\w", re.IGNORECASE)
# Photo captions and credits.
_CAPTION = re.compile(
    r"(getty images|\(photo\b|^photo by\b|\bafp via\b|/pool/|\breuters/|\(ap photo\b|^image:|^photo:"
    r"|^file photo|\bshutterstock\b)",
    re.IGNORECASE,
)


def is_shouting(line: str) -> bool:
    """Promo headlines in capitals: 'PENCE URGES GOP TO UNITE ...'."""
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.8


def _is_title_fragment(line: str) -> bool:
    """Short Title Case lines with no sentence punctuation: stray headlines and captions."""
    words = line.split()
    if not 2 <= len(words) <= 14 or line[-1] in '.!?:;"\u201d)':
        return False
    caps = sum(1 for w in words if w[:1].isupper() or not w[:1].isalpha())
    return caps / len(words) >= 0.75


def junk_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that are not article content, in order, each a stripped line."""
    spans: list[tuple[int, int]] = []
    pos = 0
    previous = ""  # the line before, "" after a blank line
    for raw in text.split("\n"):
        start = pos + (len(raw) - len(raw.lstrip()))
        line = raw.strip()
        pos += len(raw) + 1
        continues = bool(previous) and previous[-1] not in '.!?:;"\u201d)'  # a hard-wrapped sentence
        previous = line
        if not line:
            continue
        if (_BOILERPLATE.search(line) or _CAPTION.search(line) or is_shouting(line)
                or (_BIO.search(line) and _BIO_COMPANY.search(line))
                or (not continues and _is_title_fragment(line))):
            spans.append((start, start + len(line)))
    return spans


def overlaps(span: tuple[int, int], junk: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> bool:
    """True when ``span`` intersects any junk span.

    >>> overlaps((5, 10), [(0, 6)]), overlaps((5, 10), [(10, 12)])
    (True, False)
    """
    s, e = span
    return any(js < e and s < je for js, je in junk)
