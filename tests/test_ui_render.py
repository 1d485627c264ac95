"""app_view: escaping, exact highlights, abstentions and "n sources agree", as worked examples."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

import rag
from rag import Answer, Citation, Document, Passage
from rag.types import Conflict, Unsupported
import app_view as ui

XSS = '<img src=x onerror=alert(1)><script>alert(1)</script>'
ARTICLE = f"Intro line.\n\nThe court {XSS} has no police. Outro & more."


def doc(text: str = ARTICLE, **kw) -> Document:
    fields = {"source": "court.txt", "title": "Court <b>news</b>", "outlet": "Law & Daily",
              "published": date(2024, 9, 3)}
    fields.update(kw)
    return Document(text=text, **fields)


def cite(n: int = 1, quote: str | None = None, start: int | None = None, **kw) -> Citation:
    text = ARTICLE
    if quote is None:
        quote = "The court " + XSS + " has no police."
    start = text.index(quote) if start is None else start
    fields = {"source": "court.txt", "title": "Court <b>news</b>", "outlet": "Law & Daily",
              "published": date(2024, 9, 3)}
    fields.update(kw)
    return Citation(n=n, quote=quote, start=start, end=start + len(quote), **fields)


def passage(rank: int = 1, text: str = "Protesters <b>gathered</b> on Monday.") -> Passage:
    return Passage(rank=rank, chunk_id=rank, source="wire.txt", title="Wire <i>", outlet=None,
                   published=None, start=0, end=len(text), text=text, score=0.5,
                   dense_score=0.4, sparse_score=1.0)


def answer(**kw) -> Answer:
    fields = dict(question="Why no arrest?", text="The court has no police [1].", citations=[cite()],
                  abstained=False, query="Why no arrest?", passages=[passage()],
                  timings={"retrieve": 0.25, "total": 0.5}, support_counts=[1])
    fields.update(kw)
    return Answer(**fields)


def tags(html: str) -> set[str]:
    """Names of the elements in an HTML fragment."""
    return {t.lower() for t in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}


SAFE_TAGS = {"div", "span", "b", "code", "blockquote", "mark", "details", "summary", "ul", "li"}


# -- escaping ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, shown", [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
    ("Tom & Jerry's", "Tom &amp; Jerry&#x27;s"),
    ("", ""),
])
def test_esc(raw, shown):
    assert ui.esc(raw) == shown


@pytest.mark.parametrize("render", [
    lambda: ui.answer_html(answer(text=f"Court {XSS} [1].", question=XSS, query="q " + XSS)),
    lambda: ui.answer_html(answer(abstained=True, citations=[],
                                  passages=[passage(text=XSS), passage(2, XSS * 2)])),
    lambda: ui.answer_html(answer(unsupported=[Unsupported(XSS, XSS)]), show_unsupported=True),
    lambda: ui.answer_html(answer(conflicts=[Conflict(XSS, (1, 2), (XSS, XSS), "contradiction")])),
    lambda: ui.article_html(doc(title=XSS, outlet=XSS, source="x.txt"), ui.Span("court.txt", 0, 5, "Intro")),
    lambda: ui.streaming_html(XSS),
    lambda: ui.question_html(XSS),
    lambda: ui.error_html(XSS),
    lambda: ui.status_html([("ok", XSS), ("error", XSS)]),
    lambda: ui.citation_html(cite(title=XSS, outlet=XSS, source=XSS)),
])
def test_untrusted_text_never_becomes_markup(render):
    html = render()
    assert tags(html) <= SAFE_TAGS, tags(html)
    assert "<img" not in html and "<script" not in html
    assert "onerror=alert" in html  # still visible, as text


# -- highlighting -----------------------------------------------------------------------------

def test_highlight_wraps_exact_offsets_and_escapes_around_them():
    text = "a < b. The quote & more. c > d"
    start = text.index("The quote")
    end = start + len("The quote & more.")
    assert ui.highlight(text, start, end) == "a &lt; b. <mark>The quote &amp; more.</mark> c &gt; d"


@pytest.mark.parametrize("start, end", [(0, 0), (0, 3), (3, 3), (2, 3)])
def test_highlight_edges(start, end):
    out = ui.highlight("abc", start, end)
    assert out.replace("<mark>", "").replace("</mark>", "") == "abc"
    assert re.search(r"<mark>(.*)</mark>", out).group(1) == "abc"[start:end]


@pytest.mark.parametrize("start, end", [(-1, 2), (2, 1), (0, 4)])
def test_highlight_rejects_spans_outside_the_text(start, end):
    with pytest.raises(ValueError, match="outside the text"):
        ui.highlight("abc", start, end)


def test_article_html_marks_the_cited_quote_exactly():
    c = cite()
    html = ui.article_html(doc(), ui.span_for([answer(citations=[c])], "0:c:1"))
    marked = re.search(r"<mark>(.*?)</mark>", html, re.S).group(1)
    assert marked == ui.esc(ARTICLE[c.start:c.end]) == ui.esc(c.quote)
    assert html.count("<mark>") == 1
    assert "Court &lt;b&gt;news&lt;/b&gt;" in html and "Law &amp; Daily" in html and "2024-09-03" in html


def test_article_html_shows_the_pdf_page():
    text = "Page one text.Page two has the quote."
    d = doc(text=text, source="r.pdf", pages=((0, 14, 1), (14, len(text), 2)))
    start = text.index("the quote")
    html = ui.article_html(d, ui.Span("r.pdf", start, start + 9, "the quote"))
    assert "quote on page 2" in html
    html = ui.article_html(d, ui.Span("r.pdf", start, start + 9, "the quote", page=2))
    assert "quote on page 2" in html


def test_article_html_finds_a_moved_quote_and_reports_a_missing_one():
    moved = ui.article_html(doc(text="New first line. " + ARTICLE), ui.Span("court.txt", 0, 5, "Intro"))
    assert "<mark>Intro</mark>" in moved and "found at a new place" in moved
    gone = ui.article_html(doc(text="Entirely different."), ui.Span("court.txt", 0, 5, "Intro"))
    assert "<mark>" not in gone and "no longer in it" in gone


# -- answers ----------------------------------------------------------------------------------

def test_answer_html_lists_cited_sources_with_quotes():
    html = ui.answer_html(answer())
    assert 'The court has no police <span class="nd-ref">[1]</span>.' in html
    assert '<blockquote class="nd-quote">' + ui.esc(cite().quote) + "</blockquote>" in html
    assert "<code>court.txt</code>" in html and "Sources" in html
    assert "Searched as" not in html  # the query equals the question
    assert "<details" in html and "retrieve 0.25 s" in html and "0.50 s" in html


def test_an_answer_from_the_previous_index_says_so():
    assert "previous index" not in ui.answer_html(answer())
    html = ui.answer_html(answer(index_status="index updating: 40%"))
    assert "index updating: 40%: answered from the previous index" in html


def test_a_tentative_answer_leads_with_the_warning_and_keeps_its_quotes():
    assert "Tentative" not in ui.answer_html(answer())
    html = ui.answer_html(answer(tentative=True, confidence=0.05))
    assert html.startswith('<div class="nd-tentative">⚠ Tentative: no passage clearly answers this question')
    assert '<blockquote class="nd-quote">' + ui.esc(cite().quote) + "</blockquote>" in html


def test_answer_html_shows_the_standalone_query_of_a_follow_up():
    html = ui.answer_html(answer(question="And him?", query="Why was Putin not arrested?"))
    assert "Searched as: “Why was Putin not arrested?”" in html


def test_abstention_says_so_and_lists_the_nearest_passages():
    a = answer(abstained=True, citations=[], support_counts=[],
               text="The 3 indexed articles do not answer this question.",
               passages=[passage(1, "Protesters gathered."), passage(2, "x" * 1000)])
    html = ui.answer_html(a)
    assert "do not answer this question" in html
    assert "Nearest passages" in html and "Sources" not in html
    assert "#1" in html and "#2" in html and "Protesters gathered." in html
    assert "x" * ui.PASSAGE_PREVIEW_CHARS + " …" in html and "x" * (ui.PASSAGE_PREVIEW_CHARS + 1) not in html
    assert ui.choices_for(a, 4) == [("#1 Wire <i>", "4:p:1"), ("#2 Wire <i>", "4:p:2")]
    span = ui.span_for([None] * 4 + [a], "4:p:1")
    assert (span.source, span.start, span.end, span.text) == ("wire.txt", 0, 20, "Protesters gathered.")


@pytest.mark.parametrize("text, counts, expected_badges", [
    ("A [1]. B [2][3].", [1, 2], ["reported by 2 sources"]),
    ("A [1][2]. B [3][4][5].", [2, 3], ["reported by 2 sources", "reported by 3 sources"]),
    ("A [1].", [1], []),
    # the count comes from support_counts only (sentence by sentence), never from the text
    ("A [1][2]. B [3].", [2, 1], ["reported by 2 sources"]),
    ("A [1]. B [2].", [], []),  # no counts (e.g. an old answer): no badges
])
def test_n_sources_agree(text, counts, expected_badges):
    html = ui.answer_text_html(text, counts)
    assert re.findall(r'<span class="nd-agree">(.*?)</span>', html) == expected_badges
    assert "(reported by" not in html


def test_reported_by_in_the_text_is_only_text():
    html = ui.answer_text_html("A (reported by 9 of 9 sources) [1].", [1])
    assert "nd-agree" not in html and "A (reported by 9 of 9 sources) " in html


def test_agree_badge_without_corpus_size():
    assert ui.answer_text_html("A [1][2].", [2]) == (
        'A <span class="nd-agree">reported by 2 sources</span> '
        '<span class="nd-ref">[1]</span><span class="nd-ref">[2]</span>.')


def test_unsupported_sentences_are_flagged_only_when_asked():
    a = answer(unsupported=[Unsupported("Putin was arrested.", "the verifier finds it contradicted by [1]")], drafted=2)
    assert "Putin was arrested." not in ui.answer_html(a)
    assert "1 drafted sentence was dropped" in ui.answer_html(a)
    shown = ui.answer_html(a, show_unsupported=True)
    assert "Not supported by the sources" in shown and "<li>Putin was arrested. " in shown
    assert "(the verifier finds it contradicted by [1])" in shown


def test_outlets_that_disagree_are_shown_in_their_own_box():
    said = "AP reports 18 months; Fox News reports 17 months [1][2]."
    a = answer(text=f"He was jailed for 18 months [1]. {said}",
               conflicts=[Conflict(said, (1, 2), ("AP", "Fox News"), "numbers", ("18 months", "17 months"))])
    html = ui.answer_html(a)
    assert '<div class="nd-conflicts"><div class="nd-h">⚠ The outlets disagree</div><ul><li>AP reports 18 months;' in html
    assert "nd-conflicts" not in ui.answer_html(answer())


def test_streaming_html_before_and_during_the_answer():
    assert "Searching" in ui.streaming_html("")
    assert ui.streaming_html("The court [1") == '<div class="nd-answer">The court [1▌</div>'


# -- source picker, corpus panel, API ---------------------------------------------------------

def test_choices_round_trip_to_spans():
    c1, c2 = cite(1), cite(2, quote="Outro & more.", outlet=None, page=3)
    a = answer(citations=[c1, c2])
    choices = ui.choices_for(a, 1)
    assert choices == [("[1] Court <b>news</b> — Law & Daily", "1:c:1"), ("[2] Court <b>news</b> (page 3)", "1:c:2")]
    span = ui.span_for([None, a], "1:c:2")
    assert ARTICLE[span.start:span.end] == span.text == "Outro & more." and span.page == 3


@pytest.mark.parametrize("value", ["", "x", "9:c:1", "0:c:9", "0:q:1", "1:c:1", None])
def test_span_for_unknown_values_is_none(value):
    assert ui.span_for([answer(), None], value) is None


def test_document_rows_and_outlets():
    docs = [doc(), doc(source="r.pdf", title="Report", outlet=None, published=None, pages=((0, 5, 1), (5, 9, 2)))]
    assert ui.document_rows(docs) == [["Court <b>news</b>", "Law & Daily", "2024-09-03", "court.txt"],
                                      ["Report", "", "", "r.pdf (2 pages)"]]
    assert ui.outlet_choices(docs) == ["Law & Daily"]


def settings(date_from=None, date_to=None) -> rag.Config:
    """The Config the settings panel makes (rag.Config parses the dates)."""
    return ui.settings_config(rag.Config(model="hash"), 6, "extractive", [], date_from, date_to, False)


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("  ", None), ("2024-09-02", date(2024, 9, 2)),
    ("2024-09-02 13:00:00", date(2024, 9, 2)), (date(2024, 1, 1), date(2024, 1, 1)),
])
def test_settings_dates(value, expected):
    assert settings(date_from=value).date_from == expected
    assert settings(date_to=value).date_to == expected


def test_settings_date_error_names_the_field_and_the_bad_value():
    with pytest.raises(rag.ConfigError, match="date_from .*'yesterday'"):
        settings(date_from="yesterday")
    with pytest.raises(rag.ConfigError, match="after date_to"):
        settings(date_from="2024-09-05", date_to="2024-09-01")


@pytest.mark.parametrize("raw, message", [
    ('{"q": 1}', "history must be a list"), ('[["only one"]]', r"history\[0\]"), ("[[1, 2]]", r"history\[0\]"),
    ('[{"q": 1}]', r"history\[0\]"), ("not json", "history is not valid JSON"),
])
def test_malformed_history_is_refused_with_a_clear_message(raw, message, tmp_path):
    config = rag.Config(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model="hash")
    with pytest.raises((ValueError, rag.QuestionError), match=message):
        rag.ask("Why?", ui.parse_history(raw), config=config)  # refused before any index is built
    assert not (tmp_path / "index").exists()


def test_history_json_nested_100k_deep_is_a_clear_error_not_a_recursion_error():
    with pytest.raises(ValueError, match=re.escape("history is nested too deeply to be [question, answer] pairs")):
        ui.parse_history("[" * 100_000 + "]" * 100_000)


def test_upload_of_a_taken_name_tells_how_to_replace_it():
    refused = rag.ArticleExistsError("an article named 'court.txt' is already in the corpus")
    assert ui.upload_lines("court.txt", refused) == [("error", (
        "Could not add court.txt: an article named 'court.txt' is already in the corpus. "
        f'Tick "{ui.REPLACE_LABEL}" to replace it.'))]
    assert ui.upload_lines("x.pdf", rag.CorpusError("PDF 'x.pdf' is broken")) == [
        ("error", "Could not add x.pdf: PDF 'x.pdf' is broken")]


def test_upload_lines_say_added_or_replaced():
    report = rag.IndexReport(documents=3, added=(), updated=("court.txt",), removed=(), unchanged=2,
                             skipped=(("passwd.txt", "refused"),), embedded=2, chunks=3, sentences=6, seconds=1.5)
    assert ui.upload_lines("court.txt", report) == [
        ("ok", "Replaced court.txt: 3 articles indexed (1.5 s)."), ("error", "Skipped passwd.txt: refused")]


def test_answer_json_is_json_and_keeps_the_offset_contract():
    data = json.loads(json.dumps(answer().to_dict()))
    assert data["text"] == "The court has no police [1]." and data["abstained"] is False
    (c,) = data["citations"]
    assert ARTICLE[c["start"]:c["end"]] == c["quote"]
    assert c["published"] == "2024-09-03" and c["n"] == 1 and c["page"] is None
    assert data["query"] == "Why no arrest?" and data["passages"][0]["rank"] == 1
    assert ui.document_json(doc())["text"] == ARTICLE
    assert "text" not in ui.document_json(doc(), with_text=False)
