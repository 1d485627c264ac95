"""Pure functions that turn Answers and Documents into safe HTML for the web app (app.py).

Every string that comes from an article, a file name or a user is passed through
``esc`` (``html.escape``) before it is placed in markup; the only tags in the output are
the ones written here. The app additionally asks Gradio to sanitise chat HTML, but these
functions do not rely on it: ``<img src=x onerror=alert(1)>`` in an article comes out as
the visible text ``<img src=x onerror=alert(1)>``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from rag.types import Answer, Citation, Document, Passage

PASSAGE_PREVIEW_CHARS = 600  # nearest passages of an abstention are cut to this length
_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")  # a run of [n][m] markers ends a sentence
_REPORTED = re.compile(r"\(reported by (\d+) of (\d+) sources\)")


def esc(text: object) -> str:
    """HTML-escape anything for use in element content or a quoted attribute.

    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> esc(None)
    ''
    """
    return "" if text is None else html.escape(str(text), quote=True)


def highlight(text: str, start: int, end: int) -> str:
    """``text`` escaped, with ``text[start:end]`` wrapped in <mark>.

    >>> highlight("a<b>c", 1, 4)
    'a<mark>&lt;b&gt;</mark>c'
    """
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"span {start}:{end} is outside the text (length {len(text)})")
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def source_line(title: str, outlet: str | None, published: date | None, source: str,
                page: int | None = None) -> str:
    """One escaped line naming an article: title, outlet, date, file (and PDF page).

    >>> source_line("A <b>", "AP", date(2024, 9, 2), "a.pdf", page=3)
    '<b>A &lt;b&gt;</b> — AP · 2024-09-02 · <code>a.pdf</code> · page 3'
    """
    parts = [f"<b>{esc(title or source)}</b>"]
    meta = [esc(outlet)] if outlet else []
    if published:
        meta.append(published.isoformat())
    meta.append(f"<code>{esc(source)}</code>")
    if page is not None:
        meta.append(f"page {int(page)}")
    return parts[0] + " — " + " · ".join(meta)


def answer_text_html(text: str, support_counts: Sequence[int] = (), n_sources: int | None = None) -> str:
    """The answer text, escaped, with [n] markers and "reported by" notes styled.

    A sentence backed by several sources gets a "reported by k of N sources" badge, unless
    its text already says so (the extractive answerer writes it into the sentence).

    >>> answer_text_html("Rain fell [1][2]. <Sun> [3].", [2, 1], n_sources=5)
    'Rain fell <span class="nd-agree">reported by 2 of 5 sources</span> \
<span class="nd-ref">[1]</span><span class="nd-ref">[2]</span>. &lt;Sun&gt; <span class="nd-ref">[3]</span>.'
    """
    out: list[str] = []
    pos = 0
    for i, match in enumerate(_MARKERS.finditer(text)):
        body = text[pos:match.start()]
        out.append(_reported_badges(esc(body)))
        count = support_counts[i] if i < len(support_counts) else 0
        if count > 1 and "reported by" not in body:
            out.append(" " + agree_badge(count, n_sources))
        out.append(_markers_html(match.group(1)))
        pos = match.end()
    out.append(_reported_badges(esc(text[pos:])))
    return "".join(out)


def agree_badge(count: int, n_sources: int | None = None) -> str:
    """'reported by 3 of 5 sources' as a styled span.

    >>> agree_badge(3, 5)
    '<span class="nd-agree">reported by 3 of 5 sources</span>'
    """
    of = f" of {int(n_sources)}" if n_sources else ""
    return f'<span class="nd-agree">reported by {int(count)}{of} sources</span>'


def _reported_badges(escaped: str) -> str:
    return _REPORTED.sub(lambda m: agree_badge(int(m.group(1)), int(m.group(2))), escaped)


def _markers_html(markers: str) -> str:
    lead = markers[: len(markers) - len(markers.lstrip())]
    refs = re.findall(r"\[(\d+)\]", markers)
    return lead + "".join(f'<span class="nd-ref">[{int(n)}]</span>' for n in refs)


def citation_html(c: Citation) -> str:
    """One cited source: its line and the verbatim quote."""
    return (f'<div class="nd-src"><span class="nd-ref">[{int(c.n)}]</span> '
            f"{source_line(c.title, c.outlet, c.published, c.source, c.page)}"
            f'<blockquote class="nd-quote">{esc(c.quote)}</blockquote></div>')


def passage_html(p: Passage, limit: int = PASSAGE_PREVIEW_CHARS) -> str:
    """A retrieved passage (used when the corpus has no answer), cut to ``limit`` chars."""
    text = p.text if len(p.text) <= limit else p.text[:limit].rstrip() + " …"
    also = f' <span class="nd-muted">(also in {len(p.also_in)} more)</span>' if p.also_in else ""
    return (f'<div class="nd-src"><span class="nd-ref">#{int(p.rank)}</span> '
            f"{source_line(p.title, p.outlet, p.published, p.source)}{also}"
            f'<blockquote class="nd-quote">{esc(text)}</blockquote></div>')


def timings_html(answer: Answer) -> str:
    """Per-stage seconds in a collapsed <details> element."""
    stages = " · ".join(f"{esc(k)} {float(v):.2f} s" for k, v in answer.timings.items() if k != "total")
    total = answer.timings.get("total")
    head = f"Timings ({float(total):.2f} s, mode {esc(answer.mode)})" if total is not None \
        else f"Timings (mode {esc(answer.mode)})"
    return f'<details class="nd-timings"><summary>{head}</summary>{stages}</details>'


def answer_html(answer: Answer, *, n_sources: int | None = None, show_unsupported: bool = False) -> str:
    """The whole chat message for a finished answer.

    Answer text with [n] markers; the searched query when it differs from the question; the
    cited sources with their quotes (or, on abstention, the nearest passages); dropped
    sentences when ``show_unsupported``; timings, collapsed.
    """
    parts = [f'<div class="nd-answer">{answer_text_html(answer.text, answer.support_counts, n_sources)}</div>']
    if answer.query.strip() and answer.query.strip() != answer.question.strip():
        parts.append(f'<div class="nd-muted nd-query">Searched as: “{esc(answer.query)}”</div>')
    if answer.abstained:
        if not answer.passages:
            parts.append('<div class="nd-muted">No passage was found at all; if outlet or date '
                         "filters are set, try widening them.</div>")
        else:
            parts.append('<div class="nd-sources"><div class="nd-h">Nearest passages '
                         '(they do not answer the question)</div>'
                         + "".join(passage_html(p) for p in answer.passages) + "</div>")
    elif answer.citations:
        parts.append('<div class="nd-sources"><div class="nd-h">Sources</div>'
                     + "".join(citation_html(c) for c in answer.citations) + "</div>")
    if answer.unsupported:
        if show_unsupported:
            items = "".join(f"<li>{esc(s)}</li>" for s in answer.unsupported)
            parts.append('<div class="nd-unsupported"><div class="nd-h">⚠ Not supported by the '
                         f"sources (dropped from the answer)</div><ul>{items}</ul></div>")
        else:
            n = len(answer.unsupported)
            what = f"{n} drafted sentences were" if n != 1 else "1 drafted sentence was"
            parts.append(f'<div class="nd-muted">{what} dropped: no source supports '
                         f'{"them" if n != 1 else "it"}.</div>')
    parts.append(timings_html(answer))
    return "".join(parts)


def streaming_html(partial: str) -> str:
    """The answer while it streams in: escaped text and a cursor.

    >>> streaming_html("Rain <b>")
    '<div class="nd-answer">Rain &lt;b&gt;▌</div>'
    """
    if not partial.strip():
        return '<div class="nd-muted">Searching the articles…</div>'
    return f'<div class="nd-answer">{esc(partial)}▌</div>'


def question_html(question: str) -> str:
    """The user's message as shown in the chat (escaped, never interpreted)."""
    return f'<div class="nd-question">{esc(question)}</div>'


def error_html(message: str) -> str:
    """An error shown in place of an answer.

    >>> error_html("bad <x>")
    '<div class="nd-error">⚠ bad &lt;x&gt;</div>'
    """
    return f'<div class="nd-error">⚠ {esc(message)}</div>'


# -- source viewer ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """A span of an article to show highlighted: a citation quote or a retrieved passage."""

    source: str
    start: int
    end: int
    text: str  # what the span should contain (the quote)
    page: int | None = None


def choices_for(answer: Answer | None, turn: int) -> list[tuple[str, str]]:
    """(label, value) pairs for the "open a source" picker of answer number ``turn``.

    Citations are offered for an answer, the nearest passages for an abstention. Values are
    ``"<turn>:c:<n>"`` or ``"<turn>:p:<rank>"``; ``span_for`` turns them back into spans.
    """
    if answer is None:
        return []
    if answer.abstained:
        return [(f"#{p.rank} {p.title}" + (f" — {p.outlet}" if p.outlet else ""), f"{turn}:p:{p.rank}")
                for p in answer.passages]
    return [(f"[{c.n}] {c.title}" + (f" — {c.outlet}" if c.outlet else "")
             + (f" (page {c.page})" if c.page is not None else ""), f"{turn}:c:{c.n}")
            for c in answer.citations]


def span_for(answers: Sequence[Answer | None], value: str) -> Span | None:
    """The span behind a picker value from ``choices_for``; None if it no longer exists."""
    try:
        turn_s, kind, key_s = str(value).split(":")
        turn, key = int(turn_s), int(key_s)
        answer = answers[turn]
    except (ValueError, IndexError, TypeError):
        return None
    if answer is None:
        return None
    if kind == "c":
        for c in answer.citations:
            if c.n == key:
                return Span(c.source, c.start, c.end, c.quote, c.page)
    elif kind == "p":
        for p in answer.passages:
            if p.rank == key:
                return Span(p.source, p.start, p.end, p.text)
    return None


def article_html(doc: Document, span: Span | None = None) -> str:
    """The whole article, escaped, with ``span`` wrapped in <mark> (offsets are exact).

    If the article changed since the answer and ``text[start:end]`` is no longer the quote,
    the quote is searched for; if it is gone the article is shown without a highlight.
    """
    note = ""
    body = f"{esc(doc.text)}"
    page = None
    if span is not None:
        start, end = span.start, span.end
        if doc.text[start:end] != span.text:
            found = doc.text.find(span.text) if span.text else -1
            if found >= 0:
                start, end = found, found + len(span.text)
                note = "The article changed since this answer; the quote was found at a new place."
            else:
                start = end = -1
                note = "The article changed since this answer; the quoted passage is no longer in it."
        if start >= 0:
            body = highlight(doc.text, start, end)
            page = span.page if span.page is not None else doc.page_at(start)
    header = f'<div class="nd-article-title">{esc(doc.title or doc.source)}</div>'
    meta = [esc(doc.outlet)] if doc.outlet else []
    if doc.published:
        meta.append(doc.published.isoformat())
    meta.append(f"<code>{esc(doc.source)}</code>")
    if page is not None:
        meta.append(f"<b>quote on page {int(page)}</b>")
    note_html = f'<div class="nd-error">{esc(note)}</div>' if note else ""
    return (f'<div class="nd-article"><div class="nd-article-head">{header}'
            f'<div class="nd-muted">{" · ".join(meta)}</div>{note_html}</div>'
            f'<div class="nd-article-body" style="white-space: pre-wrap">{body}</div></div>')


def viewer_message(message: str) -> str:
    """A short notice in the source viewer (nothing selected, article removed...)."""
    return f'<div class="nd-muted nd-notice">{esc(message)}</div>'


# -- corpus panel ----------------------------------------------------------------------------

DOCUMENT_HEADERS = ["Title", "Outlet", "Published", "File"]


def document_rows(docs: Sequence[Document]) -> list[list[str]]:
    """Table rows for the corpus panel (plain strings; the table shows them as text)."""
    rows = []
    for d in docs:
        name = d.source + (f" ({len(d.pages)} pages)" if d.pages else "")
        rows.append([d.title or d.source, d.outlet or "", d.published.isoformat() if d.published else "", name])
    return rows


def outlet_choices(docs: Sequence[Document]) -> list[str]:
    """The distinct outlets of the indexed articles, sorted.

    >>> outlet_choices([Document("a.txt", "x", "A", "AP"), Document("b.txt", "y", "B"),
    ...                 Document("c.txt", "z", "C", "AP")])
    ['AP']
    """
    return sorted({d.outlet for d in docs if d.outlet})


def status_html(lines: Sequence[tuple[str, str]]) -> str:
    """Status messages of the corpus panel; ``kind`` is "ok" or "error".

    >>> status_html([("ok", "added a.txt"), ("error", "<b> is broken")])
    '<div class="nd-ok">✓ added a.txt</div><div class="nd-error">⚠ &lt;b&gt; is broken</div>'
    """
    out = []
    for kind, message in lines:
        if kind == "error":
            out.append(f'<div class="nd-error">⚠ {esc(message)}</div>')
        else:
            out.append(f'<div class="nd-ok">✓ {esc(message)}</div>')
    return "".join(out)


def parse_date(value: object) -> date | None:
    """A date from a date picker or text box: '2024-09-02' (a time part is ignored), or None.

    >>> parse_date("2024-09-02 00:00:00"), parse_date("")
    (datetime.date(2024, 9, 2), None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date must look like 2024-09-02, got {str(value)!r}") from None


# -- JSON API --------------------------------------------------------------------------------

def parse_history(raw: object) -> list[tuple[str, str]]:
    """Earlier turns for the API: a JSON list of [question, answer] pairs (or objects).

    >>> parse_history('[["Who came?", "Putin came [1]."]]')
    [('Who came?', 'Putin came [1].')]
    >>> parse_history('[{"question": "Q", "answer": "A"}]'), parse_history("")
    ([('Q', 'A')], [])
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, list):
        raise ValueError("history must be a JSON list of [question, answer] pairs")
    turns = []
    for i, turn in enumerate(data):
        if isinstance(turn, dict):
            turn = [turn.get("question"), turn.get("answer")]
        if not isinstance(turn, (list, tuple)) or len(turn) != 2 or not all(isinstance(x, str) for x in turn):
            raise ValueError(f"history[{i}] must be a [question, answer] pair of strings")
        turns.append((turn[0], turn[1]))
    return turns


def citation_json(c: Citation) -> dict:
    return {"n": c.n, "source": c.source, "title": c.title, "quote": c.quote, "start": c.start,
            "end": c.end, "outlet": c.outlet, "published": c.published.isoformat() if c.published else None,
            "page": c.page}


def answer_json(answer: Answer) -> dict:
    """A JSON-able dict of an Answer (dates as ISO strings)."""
    return {
        "question": answer.question, "text": answer.text, "abstained": answer.abstained,
        "query": answer.query, "mode": answer.mode,
        "citations": [citation_json(c) for c in answer.citations],
        "support_counts": list(answer.support_counts),
        "passages": [{"rank": p.rank, "source": p.source, "title": p.title, "outlet": p.outlet,
                      "published": p.published.isoformat() if p.published else None,
                      "start": p.start, "end": p.end, "text": p.text, "score": p.score}
                     for p in answer.passages],
        "unsupported": list(answer.unsupported),
        "timings": {k: float(v) for k, v in answer.timings.items()},
    }


def document_json(doc: Document, *, with_text: bool = True) -> dict:
    """A JSON-able dict of a Document (``text`` only when ``with_text``)."""
    data = {"source": doc.source, "title": doc.title, "outlet": doc.outlet,
            "published": doc.published.isoformat() if doc.published else None, "url": doc.url,
            "pages": len(doc.pages)}
    if with_text:
        data["text"] = doc.text
    return data
