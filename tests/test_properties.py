"""Properties that hold for any text, checked with hypothesis (issue 11, "Proven by").

- segmentation (rag.segment): every span slices back to a stripped sentence, spans are in
  order and do not overlap, and every non-space character is in exactly one span;
- chunking (rag.chunking): sentence records slice back, chunks are windows of consecutive
  retrievable sentences that together cover every retrievable sentence, none twice over;
- corpus loading (rag.corpus, .txt / .md / .html): the text is kept exactly as written (or,
  for HTML, block words in order: all of them from the block reader, a subsequence from the
  main-text extractor), junk spans are stripped lines, and
  every sentence and chunk of the loaded document slices back to its text.

Runs are derandomized and small (a few seconds in all); the example database is off and
hypothesis keeps its caches in the temp folder, not in the working directory. Raise
``max_examples`` (and drop ``derandomize``) locally to search harder.
"""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from bs4 import BeautifulSoup

from rag import terms
from rag.chunking import chunk_document
from rag.cleaning import junk_spans
from rag.corpus import html_blocks, load_document
from rag.segment import MAX_SENTENCE_CHARS, split_sentences
from rag.types import Document

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "newsdesk-qa-hypothesis")
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# News-like tokens: abbreviations, initials, numbers, quotes, capitals, odd whitespace.
WORDS = ["Putin", "arrived", "in", "Mongolia", "the", "court", "said", "Mr.", "Mrs.", "U.N.", "Sept.",
         "J.", "No.", "$1.5", "3,000", "2024", "e.g.", "p.m.", "Ukhnaa", "café", "naïve", "ICC", "WARRANT",
         "PUTIN", "LANDS", "\u201cNo", "worries,\u201d", '"yes."', "(AP)", "—", "...", "it's", "U.S.",
         "a", "b", "x", "Getty", "Images", "Your", "email", "address", "will", "not", "be", "published."]
ENDS = [".", "!", "?", ":", ";", ",", "", "...", '."', ".\u201d", ")"]
GAPS = [" ", " ", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \n ", "\n \n", "\u00a0", "\u2003", "\x0c"]


@st.composite
def news_text(draw, max_sentences: int = 12) -> str:
    """Sentences of news-like words joined by spaces, line breaks and blank lines."""
    parts = []
    for _ in range(draw(st.integers(0, max_sentences))):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14))
        parts.append(" ".join(words) + draw(st.sampled_from(ENDS)))
        parts.append(draw(st.sampled_from(GAPS)))
    return draw(st.sampled_from(["", " ", "\n", "\ufeff"])) + "".join(parts)


# Any text at all, from a small alphabet that still holds every kind of character the rules see.
ANY_TEXT = st.text(alphabet=st.sampled_from(list("aB. ,!?\n\r\t\"'“”()—:;1$é\u00a0\u2028\x0cJM")), max_size=300)
TEXTS = st.one_of(news_text(), ANY_TEXT)


def assert_spans_partition_the_words(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are stripped, ordered, disjoint, and cover every non-space character once."""
    covered = [False] * len(text)
    previous_end = 0
    for s, e in spans:
        assert previous_end <= s < e <= len(text), (previous_end, s, e)
        assert text[s:e] == text[s:e].strip(), repr(text[s:e])
        covered[s:e] = [True] * (e - s)
        previous_end = e
    lost = [i for i, c in enumerate(text) if not c.isspace() and not covered[i]]
    assert not lost, f"characters outside every span: {[text[i] for i in lost]!r} of {text!r}"


# --- segmentation ---------------------------------------------------------------------------

@FAST
@given(TEXTS)
@example(" ?!")  # found by hypothesis: pysbd returned no sentence and the text was lost
@example("Hello. ?! World.\n\n . !")
def test_sentences_slice_back_in_order_and_lose_nothing(text: str) -> None:
    spans = split_sentences(text)
    assert_spans_partition_the_words(text, spans)
    assert all(e - s <= MAX_SENTENCE_CHARS for s, e in spans)


@FAST
@given(news_text(), st.data())
def test_sentences_of_a_range_are_offsets_into_the_whole_text(text: str, data) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    spans = split_sentences(text, start, end)
    assert all(start <= s < e <= end for s, e in spans)
    assert [text[s:e] for s, e in spans] == [text[start:end][s - start:e - start] for s, e in spans]
    assert_spans_partition_the_words(text[start:end], [(s - start, e - start) for s, e in spans])


@FAST
@given(st.lists(st.sampled_from(["word", "w", "longerword", "x."]), max_size=400))
def test_overlong_runs_are_cut_without_losing_text(words: list[str]) -> None:
    text = " ".join(words)
    spans = split_sentences(text)
    assert_spans_partition_the_words(text, spans)
    assert all(e - s <= MAX_SENTENCE_CHARS for s, e in spans)


# --- chunking -------------------------------------------------------------------------------

def assert_chunk_contract(doc: Document, size: int, overlap: int, first_sentence: int = 0,
                          first_chunk: int = 0) -> None:
    records, chunks = chunk_document(doc, size, overlap, first_sentence, first_chunk)
    sentences = [r.sentence for r in records]
    assert [s.id for s in sentences] == list(range(first_sentence, first_sentence + len(records)))
    assert_spans_partition_the_words(doc.text, [(s.start, s.end) for s in sentences])
    assert all(doc.text[s.start:s.end] == s.text and s.source == doc.source for s in sentences)
    by_id = {r.sentence.id: r for r in records}
    assert [c.id for c in chunks] == list(range(first_chunk, first_chunk + len(chunks)))
    for c in chunks:
        ids = list(c.sentence_ids)
        assert ids == list(range(ids[0], ids[0] + len(ids))) and 1 <= len(ids) <= size
        assert all(by_id[i].retrievable for i in ids)
        assert (c.start, c.end) == (by_id[ids[0]].sentence.start, by_id[ids[-1]].sentence.end)
        assert c.text == " ".join(" ".join(by_id[i].sentence.text.split()) for i in ids)
    # every retrievable sentence is in a chunk; consecutive windows share at most `overlap`
    retrievable = {r.sentence.id for r in records if r.retrievable}
    assert {i for c in chunks for i in c.sentence_ids} == retrievable
    for a, b in zip(chunks, chunks[1:]):
        assert a.sentence_ids[0] < b.sentence_ids[0] and a.sentence_ids[-1] < b.sentence_ids[-1]
        assert len(set(a.sentence_ids) & set(b.sentence_ids)) <= overlap
    # a sentence left out is junk, a repeat of an earlier one, or has no letters or digits
    seen: set[str] = set()
    for r in records:
        key = " ".join(r.sentence.text.lower().split())
        if not r.retrievable:
            assert key in seen or not any(ch.isalnum() for ch in r.sentence.text) or any(
                js < r.sentence.end and r.sentence.start < je for js, je in doc.junk)
        seen.add(key)


@FAST
@given(TEXTS, st.integers(1, 6), st.data())
def test_chunks_cover_every_retrievable_sentence_once_in_order(text: str, size: int, data) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    doc = Document(source="a.txt", text=text, title="A", junk=tuple(junk_spans(text)))
    assert_chunk_contract(doc, size, overlap, data.draw(st.integers(0, 50)), data.draw(st.integers(0, 50)))


# --- corpus loading -------------------------------------------------------------------------

ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"])


def assert_junk_is_stripped_lines(text: str, junk: tuple[tuple[int, int], ...]) -> None:
    previous_end = 0
    for s, e in junk:
        assert previous_end <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip() and "\n" not in text[s:e]
        previous_end = e


@FAST
@given(news_text().filter(lambda t: t.strip(" \ufeff\n\r\t\x0c\u00a0\u2003")), ENCODINGS,
       st.sampled_from([".txt", ".md"]))
def test_text_files_load_exactly_as_written(tmp_path_factory, text: str, encoding: str, suffix: str) -> None:
    text = text.lstrip("\ufeff")  # a byte-order mark is not text: the loader decodes by it and drops it
    folder = tmp_path_factory.mktemp("txt")
    path = folder / f"article{suffix}"
    path.write_bytes(text.encode(encoding))
    doc = load_document(path)
    assert doc.text == text
    assert_junk_is_stripped_lines(doc.text, doc.junk)
    assert_chunk_contract(doc, 4, 1)


BLOCK_TAGS = st.sampled_from(["p", "h2", "li", "blockquote", "pre", "figcaption"])
WRAPPERS = st.sampled_from(["{}", "<div>{}</div>", "<ul>{}</ul>", "<blockquote>{}</blockquote>",
                            "<section><p>{}</p></section>", "<p><span>{}</span></p>"])


@st.composite
def html_article(draw) -> tuple[str, list[str]]:
    """(page, words of its block text in order): escaped paragraphs in nested block tags."""
    body, words = [], []
    for _ in range(draw(st.integers(1, 8))):
        text = draw(news_text(max_sentences=3).filter(lambda t: t.split()))
        tag = draw(BLOCK_TAGS)
        body.append(draw(WRAPPERS).format(f"<{tag}>{html.escape(text)}</{tag}>"))
        words += text.split()
    noise = "<script>var junk = 1;</script><nav>Home | News</nav><style>p {color: red}</style>"
    title = html.escape(draw(st.sampled_from(["Putin in Mongolia", "A <b> & C", "Ünïcode"])))
    return (f"<html><head><title>{title}</title></head><body>{noise}{''.join(body)}"
            f"<footer>Copyright</footer></body></html>"), words


@FAST
@given(html_article())
def test_html_block_reader_keeps_every_block_word_once_in_order(article) -> None:
    """The reader for pages too short for trafilatura: every block, nothing else."""
    page, words = article
    assert " ".join(html_blocks(BeautifulSoup(page, "html.parser"))).split() == words


@FAST
@given(html_article())
def test_html_main_text_is_block_words_in_order_without_page_furniture(tmp_path_factory, article) -> None:
    """trafilatura may leave out a block (a trailing heading, a one-word line) but never adds,
    repeats or reorders words, and never lets scripts, navigation or footers in."""
    page, words = article
    path = tmp_path_factory.mktemp("html") / "article.html"
    path.write_text(page, encoding="utf-8")
    doc = load_document(path)
    remaining = iter(words)
    assert all(word in remaining for word in doc.text.split())  # a subsequence of the blocks' words
    assert "junk" not in doc.text and "Home" not in doc.text and "Copyright" not in doc.text
    assert_junk_is_stripped_lines(doc.text, doc.junk)
    assert_chunk_contract(doc, 4, 1)


def test_html_nested_blocks_are_read_once(tmp_path: Path) -> None:
    """A worked example of the property: a paragraph inside a list item counts once."""
    page = "<html><body><ul><li><p>Putin arrived.</p></li></ul><p>He left &amp; flew.</p></body></html>"
    (tmp_path / "a.html").write_text(page, encoding="utf-8")
    assert load_document(tmp_path / "a.html").text == "Putin arrived.\n\nHe left & flew."


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(news_text(), min_size=1, max_size=6))
def test_a_chunks_tokens_are_its_sentences_tokens_in_order(texts: list[str]) -> None:
    """BM25 reads a chunk's tokens from the sentences' term table instead of tokenizing the
    chunk again; that is only right if tokenizing the joined text gives the same tokens."""
    from rag.terms import term_table, tokenize

    table = term_table(texts)
    joined = " ".join(" ".join(t.split()) for t in texts)  # how chunking builds a chunk's text
    assert table.span_tokens(0, len(texts) - 1) == tokenize([joined])[0]


@FAST
@given(st.lists(news_text(), min_size=1, max_size=12), st.data())
def test_bm25_built_from_the_term_table_is_bm25s_own_index(texts: list[str], data) -> None:
    """``BM25Index.from_terms`` (whole arrays) builds bit for bit the matrix that bm25s's
    ``index`` builds from the same tokens, for any split of the sentences into windows."""
    import numpy as np

    from rag.sparse import BM25Index
    from rag.terms import term_table

    table = term_table(texts)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(texts) - 1), max_size=len(texts) - 1))) if len(texts) > 1 else []
    bounds = [0, *cuts, len(texts)]
    spans = [(a, b - 1) for a, b in zip(bounds, bounds[1:])]
    ours = BM25Index.from_terms(table, spans)
    if not len(table.ids):  # no word at all: bm25s's index() raises; ours finds nothing
        assert all(len(ours.search(t, 5)[1]) == 0 for t in texts)
        return
    theirs = BM25Index.from_tokens([table.span_tokens(a, b) for a, b in spans])
    assert len(ours) == len(theirs) == len(spans)
    for term in set(table.vocabulary):
        mine, reference = ours._model, theirs._model
        col, ref = mine.vocab_dict[term], reference.vocab_dict[term]
        got = dict(zip(mine.scores["indices"][mine.scores["indptr"][col]:mine.scores["indptr"][col + 1]].tolist(),
                       mine.scores["data"][mine.scores["indptr"][col]:mine.scores["indptr"][col + 1]].tolist()))
        want = dict(zip(
            reference.scores["indices"][reference.scores["indptr"][ref]:reference.scores["indptr"][ref + 1]].tolist(),
            reference.scores["data"][reference.scores["indptr"][ref]:reference.scores["indptr"][ref + 1]].tolist()))
        assert got == want, term
    for query in texts[:3]:
        assert [a.tolist() for a in ours.search(query, 5)] == [a.tolist() for a in theirs.search(query, 5)]
        assert np.array_equal(ours.search(query, 5, mask=np.arange(len(spans)) % 2 == 0)[1],
                              theirs.search(query, 5, mask=np.arange(len(spans)) % 2 == 0)[1])


# The number and date patterns as first written, without the look-ahead that makes rag.terms's
# copies fast: the fast ones must find exactly the same phrases.
_PLAIN_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh"
                r"|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|hundreds?|thousands?|millions?|billions?"
                r"|dozens?|once|twice|thrice|half")
PLAIN_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\d)|\b(?:" + _PLAIN_WORDS + r")\b", re.IGNORECASE)
PLAIN_DATE = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November"
                        r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Monday|Tuesday|Wednesday"
                        r"|Thursday|Friday|Saturday|Sunday|(?i:yesterday|today|tomorrow|last (?:week|month|year)"
                        r"|this (?:week|month|year)|next (?:week|month|year)))\b|\b(?:19|20)\d\d\b")
NUMBER_WORDS = ["1984", "3,000", "1.1m", "$2bn", "v2.5", "x12", "Twenty", "fifteen", "ONE", "tone", "often",
                "hundreds", "Sept.", "May", "may", "march", "mayor", "2024s", "last week", "Next year",
                "next  year", "1999-2000", "2-1", "half", "behalf", "Monday", "monday", "1,000.", "°", "é9", "_7",
                "twelve"]


@FAST
@given(st.lists(st.sampled_from(NUMBER_WORDS + [" ", ", ", ".", "-", "(", "\n"]), max_size=25).map("".join))
def test_fast_number_and_date_patterns_match_the_plain_ones(text: str) -> None:
    assert [m.span() for m in terms._NUMBER.finditer(text)] == [m.span() for m in PLAIN_NUMBER.finditer(text)]
    assert [m.span() for m in terms._DATE.finditer(text)] == [m.span() for m in PLAIN_DATE.finditer(text)]
