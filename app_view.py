"""What the web app (app.py) shows and takes in, as pure functions without Gradio: safe HTML
and CSS, and widget values as ``rag`` input (settings -> Config, history JSON -> pairs).

Every string from an article, a file name or a user goes through ``esc`` (``html.escape``)
before it is placed in markup, so ``<img src=x onerror=alert(1)>`` in an article comes out
as visible text; Gradio's own sanitising is not relied on. ``rag`` validates the input.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rag import Answer, ArticleExistsError, Citation, Config, Document, IndexReport, Passage
from rag.export import TENTATIVE_NOTE, reflow
from rag.markers import marker_runs

PASSAGE_PREVIEW_CHARS = 600  # nearest passages of an abstention are cut to this length
EXAMPLES = [  # the example questions under the chat
    "Why wasn't Putin arrested?",
    "Why does Mongolia depend on Russia?",
    "What did Amnesty International say about the visit?",
    "Who greeted Putin when he arrived?",
    "Who won the 2022 football World Cup?",  # not in the corpus: the app says so
]

REPLACE_LABEL = "Replace articles of the same name"  # the upload panel's explicit confirmation
STATIC = Path(__file__).resolve().parent / "static"
CSS = (STATIC / "newsdesk.css").read_text(encoding="utf-8")
SCROLL_TO_MARK = (STATIC / "scroll-to-mark.js").read_text(encoding="utf-8")  # js= of the source picker


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
    page_note = f"page {int(page)}" if page is not None else None
    return f"<b>{esc(title or source)}</b> — " + _meta(outlet, published, source, page_note)


def _meta(outlet: str | None, published: date | None, source: str, extra: str | None = None) -> str:
    """'outlet · date · <code>file</code> · extra', leaving out what is missing."""
    parts = [esc(outlet) if outlet else "", published.isoformat() if published else "",
             f"<code>{esc(source)}</code>", extra or ""]
    return " · ".join(p for p in parts if p)


def answer_text_html(text: str, support_counts: Sequence[int] = ()) -> str:
    """The answer text, escaped, with [n] markers styled and "n sources agree" badges.

    Each run of markers ends a sentence; sentence i gets a "reported by k sources" badge
    when ``support_counts[i]`` (k: the outlets among the retrieved passages that state it,
    each cited) is above 1 — never a share of the whole archive. The count is taken from
    ``support_counts`` only, never read out of the text.

    >>> answer_text_html("Rain fell [1][2]. <Sun> [3].", [2, 1])
    'Rain fell <span class="nd-agree">reported by 2 sources</span> \
<span class="nd-ref">[1]</span><span class="nd-ref">[2]</span>. &lt;Sun&gt; <span class="nd-ref">[3]</span>.'
    """
    out: list[str] = []
    pos = 0
    for i, (start, end, numbers) in enumerate(marker_runs(text)):
        out.append(esc(text[pos:start]))
        count = support_counts[i] if i < len(support_counts) else 0
        if count > 1:
            out.append(" " + agree_badge(count))
        run = text[start:end]
        out.append(run[: len(run) - len(run.lstrip())])  # the space before the markers
        out.append("".join(f'<span class="nd-ref">[{int(n)}]</span>' for n in numbers))
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def agree_badge(count: int) -> str:
    """'reported by 3 sources' as a styled span.

    >>> agree_badge(3)
    '<span class="nd-agree">reported by 3 sources</span>'
    """
    return f'<span class="nd-agree">reported by {int(count)} sources</span>'


def citation_html(c: Citation) -> str:
    """One cited source: its line and the verbatim quote (reflowed: the source's hard line
    breaks shown as spaces; the viewer still marks the exact span), the answer phrase in bold."""
    before, phrase, after = (reflow(part) for part in c.quote_parts())
    quote = esc(before) + (f"<strong>{esc(phrase)}</strong>" if phrase else "") + esc(after)
    return (f'<div class="nd-src"><span class="nd-ref">[{int(c.n)}]</span> '
            f"{source_line(c.title, c.outlet, c.published, c.source, c.page)}"
            f'<blockquote class="nd-quote">{quote}</blockquote></div>')


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


def answer_html(answer: Answer, *, show_unsupported: bool = False) -> str:
    """The whole chat message for a finished answer.

    A warning first when the answer is tentative; answer text with [n] markers; where outlets
    disagree, a box saying so; the searched
    query when it differs from the question; the
    cited sources with their quotes (or, on abstention, the nearest passages); dropped
    sentences when ``show_unsupported``; timings, collapsed.
    """
    parts = [f'<div class="nd-answer">{answer_text_html(answer.text, answer.support_counts)}</div>']
    if answer.tentative:
        parts.insert(0, f'<div class="nd-tentative">⚠ {esc(TENTATIVE_NOTE)}</div>')
    if answer.conflicts:
        items = "".join(f"<li>{esc(c.sentence)}</li>" for c in answer.conflicts)
        parts.append(f'<div class="nd-conflicts"><div class="nd-h">⚠ The outlets disagree</div><ul>{items}</ul></div>')
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
            items = "".join(f'<li>{esc(u.text)} <span class="nd-muted">({esc(u.reason)})</span></li>'
                            for u in answer.unsupported)
            parts.append('<div class="nd-unsupported"><div class="nd-h">⚠ Not supported by the '
                         f"sources (dropped from the answer)</div><ul>{items}</ul></div>")
        else:
            n = len(answer.unsupported)
            what = f"{n} drafted sentences were" if n != 1 else "1 drafted sentence was"
            parts.append(f'<div class="nd-muted">{what} dropped: no source supports '
                         f'{"them" if n != 1 else "it"}.</div>')
    if answer.index_status:
        parts.append(f'<div class="nd-muted">{esc(answer.index_status)}: answered from the previous index; '
                     "articles changed since are not in it yet.</div>")
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
    meta = _meta(doc.outlet, doc.published, doc.source,
                 f"<b>quote on page {int(page)}</b>" if page is not None else None)
    note_html = f'<div class="nd-error">{esc(note)}</div>' if note else ""
    return (f'<div class="nd-article"><div class="nd-article-head">{header}'
            f'<div class="nd-muted">{meta}</div>{note_html}</div>'
            f'<div class="nd-article-body" style="white-space: pre-wrap">{body}</div></div>')


def viewer_message(message: str) -> str:
    """A short notice in the source viewer (nothing selected, article removed...)."""
    return f'<div class="nd-muted nd-notice">{esc(message)}</div>'


def index_status_html(status: str | None) -> str:
    """The app's index status line: empty while the index is current.

    >>> index_status_html("index updating: 40%")
    '<div class="nd-muted nd-notice">index updating: 40%; until it is done, answers come from the previous index</div>'
    >>> index_status_html(None)
    ''
    """
    return viewer_message(f"{status}; until it is done, answers come from the previous index") if status else ""


# -- corpus panel ----------------------------------------------------------------------------

DOCUMENT_HEADERS = ["Title", "Outlet", "Published", "File"]


def document_rows(docs: Sequence[Document]) -> list[list[str]]:
    """Table rows for the corpus panel (plain strings; the table shows them as text)."""
    return [[d.title or d.source, d.outlet or "", d.published.isoformat() if d.published else "",
             d.source + (f" ({len(d.pages)} pages)" if d.pages else "")] for d in docs]


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
    return "".join(error_html(message) if kind == "error" else f'<div class="nd-ok">✓ {esc(message)}</div>'
                   for kind, message in lines)


def upload_lines(name: str, outcome: IndexReport | Exception) -> list[tuple[str, str]]:
    """Status lines for one uploaded file: what the index did, or why the file was refused.

    >>> upload_lines("a.txt", ArticleExistsError("name taken"))
    [('error', 'Could not add a.txt: name taken. Tick "Replace articles of the same name" to replace it.')]
    """
    if isinstance(outcome, Exception):
        hint = f'. Tick "{REPLACE_LABEL}" to replace it.' if isinstance(outcome, ArticleExistsError) else ""
        return [("error", f"Could not add {name}: {outcome}{hint}")]
    changed, verb = ", ".join(outcome.added + outcome.updated), "Added" if outcome.added else "Replaced"
    return [("ok", f"{verb} {changed}: {outcome.documents} articles indexed ({outcome.seconds:.1f} s)." if changed
             else f"{name} is already indexed (same content).")] + [
        ("error", f"Skipped {skipped}: {reason}") for skipped, reason in outcome.skipped]


# -- input for rag ---------------------------------------------------------------------------

def settings_config(base: Config, top_k: float, mode: str | None, outlets: Sequence[str] | None,
                    date_from: object, date_to: object, show_unsupported: bool) -> Config:
    """The per-question Config from the settings panel's values.

    Dates come as ISO text ('2024-09-02', a time part is ignored; empty means no limit);
    ``Config`` parses them and raises ConfigError naming the field on bad input.

    >>> c = settings_config(Config(), 4, "extractive", ["AP"], "2024-09-02 00:00:00", "", False)
    >>> c.top_k, c.outlets, c.date_from, c.date_to
    (4, ('AP',), datetime.date(2024, 9, 2), None)
    """
    return base.replace(top_k=int(top_k), outlets=tuple(outlets or ()), date_from=date_from or None,
                        date_to=date_to or None, mode=mode or "extractive",
                        show_unsupported=bool(show_unsupported))


def parse_history(raw: object) -> object:
    """The API's history argument decoded: JSON text to a list, {question, answer} objects to pairs.

    Only decoding happens here: ``rag.ask`` checks the shape and raises QuestionError naming
    the bad turn. Text that is not JSON is a ValueError.

    >>> parse_history('[["Who came?", "Putin came [1]."]]')
    [['Who came?', 'Putin came [1].']]
    >>> parse_history('[{"question": "Q", "answer": "A"}]'), parse_history("")
    ([('Q', 'A')], [])
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ValueError(f"history is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"history is nested too deeply to be [question, answer] pairs: {raw[:20]!r}...") from None
    if not isinstance(data, list):
        return data  # not a list of turns: rag.ask refuses it by name
    return [(t["question"], t["answer"]) if isinstance(t, dict) and {"question", "answer"} <= t.keys() else t
            for t in data]


# -- JSON API --------------------------------------------------------------------------------

def document_json(doc: Document, *, with_text: bool = True) -> dict:
    """A JSON-able dict of a Document (``text`` only when ``with_text``); answers use
    ``Answer.to_dict()``, the shape the CLI's ``--json`` prints too."""
    data = {"source": doc.source, "title": doc.title, "outlet": doc.outlet,
            "published": doc.published.isoformat() if doc.published else None, "url": doc.url,
            "author": doc.author, "pages": len(doc.pages)}
    if with_text:
        data["text"] = doc.text
    return data
