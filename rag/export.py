"""Answers a reporter can take away: Markdown with footnotes, and a whole chat as Markdown or JSON.

Each ``[n]`` marker of an answer becomes a Markdown footnote reference ``[^n]`` and each
citation a footnote ``[^n]: Title — Outlet, 2024-09-02: "quote"``. Quotes are shown reflowed
(the source's hard line breaks inside a sentence become spaces); their offsets, and the
article they point into, are unchanged. In a chat the labels carry the turn number
(``[^2.1]``), because Markdown footnote labels are shared by the whole document.

>>> from rag.types import Answer, Citation
>>> c = Citation(1, "a.txt", "Talks", "Talks would\\nresume.", 0, 19, outlet="Wire")
>>> print(answer_markdown(Answer("When?", "Talks would resume [1].", [c], False, "When?", [], {})))
Talks would resume [^1].
<BLANKLINE>
[^1]: Talks — Wire: "Talks would resume."
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from .markers import marker_runs
from .types import Answer, Citation


# Shown with a tentative answer (Answer.tentative) by the CLI, the UI and the exports.
TENTATIVE_NOTE = ("Tentative: no passage clearly answers this question; the quotes may be about "
                  "another event or detail. Check them before relying on the answer.")


def reflow(text: str) -> str:
    """A quote (or a piece of one) for display: each run of whitespace, hard line breaks
    included, as one space. The one rule for the CLI, the UI and the exports.

    >>> reflow("The pipeline would\\ncarry  50 billion ")
    'The pipeline would carry 50 billion '
    """
    return re.sub(r"\s+", " ", text)


def footnote(c: Citation, label: str) -> str:
    """``[^label]: Title — Outlet, 2024-09-02, p. 3: "quote"`` (parts that are unknown are left out)."""
    source = ", ".join(part for part in (c.outlet, c.published.isoformat() if c.published else None,
                                         f"p. {c.page}" if c.page else None) if part)
    head = f"{c.title or c.source}" + (f" — {source}" if source else "")
    return f'[^{label}]: {head}: "{reflow(c.quote).strip()}"'


def answer_markdown(answer: Answer, prefix: str = "") -> str:
    """The answer text with ``[^n]`` footnote references, then one footnote per citation."""
    text, end, parts = answer.text, 0, []
    for start, stop, numbers in marker_runs(text):
        parts.append(text[end:start] + " " + "".join(f"[^{prefix}{n}]" for n in numbers))
        end = stop
    body = _escape_stray_brackets("".join(parts) + text[end:])
    notes = [footnote(c, f"{prefix}{c.n}") for c in answer.citations]
    if answer.tentative:
        body = f"> {TENTATIVE_NOTE}\n\n{body}"
    return body + ("\n\n" + "\n".join(notes) if notes else "")


def chat_markdown(turns: Sequence[tuple[str, Answer]]) -> str:
    """A whole chat: each question as a heading, its answer with turn-numbered footnotes."""
    blocks = [f"## {reflow(question).strip()}\n\n{answer_markdown(answer, prefix=f'{i}.')}"
              for i, (question, answer) in enumerate(turns, start=1)]
    return "# Newsdesk QA session\n\n" + "\n\n".join(blocks) + "\n"


def chat_json(turns: Sequence[tuple[str, Answer]]) -> str:
    """A whole chat as JSON: ``[{"question": …, "answer": Answer.to_dict()}, …]``."""
    return json.dumps([{"question": q, "answer": a.to_dict()} for q, a in turns], ensure_ascii=False, indent=2)


def _escape_stray_brackets(text: str) -> str:
    """``[^…`` that is not one of our references would read as a footnote: escape it."""
    return re.sub(r"\[\^(?![\d.]+\])", r"\\[^", text)
