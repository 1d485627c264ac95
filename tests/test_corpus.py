"""Worked examples for rag.corpus: .txt, .md, .html and .pdf articles become Documents.

The offset contract is about the text *as loaded* (decoded, BOM removed, CRLF kept):
``doc.text[s:e]`` is what a citation shows. PDFs are built in the tests from a small
hand-written PDF byte string, so page numbers can be checked exactly.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import rag
from rag.corpus import corpus_files, file_hash, is_article, load_document
from rag.errors import CorpusError
from rag.chunking import chunk_document
from rag.segment import split_sentences


def pdf_bytes(pages: list[list[str]], title: str | None = None, **info: str) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page, one line per string; ``title``
    and ``info`` (Author="...", CreationDate="D:20240902...") fill its document information."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        shown = " ".join("(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                         + ") Tj T*" for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET".encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    if title is not None:
        info = {"Title": title, **info}
    trailer_info = ""
    if info:
        objects.append(("<< " + " ".join(f"/{k} ({v})" for k, v in info.items()) + " >>").encode())
        trailer_info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer_info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PAGE_1 = ["Putin arrived in Mongolia on Monday evening.", "The ICC issued a warrant for his arrest."]
PAGE_2 = ["Protesters gathered in Sukhbaatar Square on Tuesday."]


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def chunk_spans(doc) -> list[tuple[int, int]]:
    """(start, end) of every retrievable sentence of ``doc`` (chunks of 4, overlap 1)."""
    records, _ = chunk_document(doc, 4, 1)
    return [(r.sentence.start, r.sentence.end) for r in records if r.retrievable]


# --- plain text ----------------------------------------------------------------------------

def test_txt_title_from_first_short_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "a.txt", "Putin in Mongolia\n\nHe arrived on Monday.\n"))
    assert doc.title == "Putin in Mongolia"
    assert doc.source == "a.txt"
    assert doc.pages == () and doc.page_at(0) is None


def test_txt_without_a_headline_is_titled_by_its_first_sentence(tmp_path: Path) -> None:
    """Not by its file name: 'Abc 041' tells a reader nothing about abc-041.txt."""
    doc = load_document(write(tmp_path, "abc-041.txt", "He arrived on Monday. Talks began.\n"))
    assert doc.title == "He arrived on Monday."


def test_a_long_first_sentence_is_cut_at_a_word(tmp_path: Path) -> None:
    sentence = "Russian President Vladimir Putin " + "arrived in Mongolia again " * 10 + "today."
    doc = load_document(write(tmp_path, "abc-042.txt", sentence + "\n"))
    assert doc.title.endswith("\u2026") and len(doc.title) <= 121
    assert sentence.startswith(doc.title[:-1])


def test_txt_title_falls_back_to_the_file_name_when_nothing_else_names_it(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "putin_in-mongolia.txt", "Copyright of this article belongs to X.\n"))
    assert doc.title == "Putin in mongolia"  # the only line is boilerplate, not a title


def test_crlf_and_bom_keep_the_offset_contract_on_the_decoded_text(tmp_path: Path) -> None:
    raw = "\ufeffPutin arrived\r\nin Mongolia.\r\n\r\nMr. Lee left on Sept. 2.\r\n".encode("utf-8")
    doc = load_document(write(tmp_path, "crlf.txt", raw))
    assert not doc.text.startswith("\ufeff")  # the BOM is not text
    assert doc.text == raw.decode("utf-8-sig")  # CRLF kept as is
    found = [doc.text[s:e] for s, e in split_sentences(doc.text)]
    assert found == ["Putin arrived\r\nin Mongolia.", "Mr. Lee left on Sept. 2."]


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "cp.txt", "Putin\u2019s visit.".encode("cp1252")))
    assert doc.text == "Putin\u2019s visit."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded_by_it(tmp_path: Path, encoding: str) -> None:
    text = "Putin\u2019s plane lands in Ulaanbaatar\n\nHe met Mr. Ukhnaa.\n"
    bom = {"utf-16-be": "\ufeff"}.get(encoding, "")  # the -be codec writes no BOM of its own
    doc = load_document(write(tmp_path, "wide.txt", (bom + text).encode(encoding)))
    assert doc.text == text and doc.title == "Putin\u2019s plane lands in Ulaanbaatar"


def test_utf16_without_a_byte_order_mark_is_refused_not_indexed_as_garbage(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="'wide.txt' holds NUL characters.*save it as UTF-8"):
        load_document(write(tmp_path, "wide.txt", "Putin arrived.".encode("utf-16-le")))


def test_sidecar_metadata_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Headline in file\n\nBody text.\n")
    write(tmp_path, "a.txt.meta.json", json.dumps({
        "title": "Sidecar title", "outlet": "Steppe Times", "published": "2024-09-02",
        "url": "https://example.org/a", "author": "Ann Ray"}))
    doc = load_document(path)
    assert (doc.title, doc.outlet, doc.published, doc.url, doc.author) == (
        "Sidecar title", "Steppe Times", date(2024, 9, 2), "https://example.org/a", "Ann Ray")


def test_content_hash_covers_the_sidecar(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Body text.\n")
    before = file_hash(path)
    write(tmp_path, "a.txt.meta.json", json.dumps({"outlet": "X"}))
    assert file_hash(path) != before
    assert load_document(path).content_hash == file_hash(path)


# --- markdown and html ---------------------------------------------------------------------

def test_markdown_title_from_heading(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "a.md", "# Putin lands in Ulaanbaatar\n\nHe arrived on Monday.\n"))
    assert doc.title == "Putin lands in Ulaanbaatar"
    assert doc.text.startswith("# Putin lands")  # text as loaded; the heading is not removed


HTML = """<!doctype html><html><head><title>Putin in Mongolia</title>
<meta property="og:site_name" content="Steppe Times">
<meta property="article:published_time" content="2024-09-03T08:00:00Z">
<meta property="og:url" content="https://steppe.example/putin">
<style>p { color: red }</style><script>alert("xss")</script></head>
<body><nav>Home | World</nav><h1>Putin in Mongolia</h1>
<p>Putin arrived in <b>Ulaanbaatar</b> on Monday.</p>
<p><img src=x onerror=alert(1)>Protesters gathered in the square.</p>
<script>document.write("evil")</script><noscript>Enable JS</noscript>
<footer>Copyright footer</footer></body></html>"""


def test_html_text_and_metadata(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "a.html", HTML))
    assert doc.text == ("Putin in Mongolia\n\nPutin arrived in Ulaanbaatar on Monday.\n\n"
                        "Protesters gathered in the square.")
    assert doc.title == "Putin in Mongolia"
    assert doc.outlet == "Steppe Times"
    assert doc.published == date(2024, 9, 3)
    assert doc.url == "https://steppe.example/putin"


@pytest.mark.parametrize("fragment", [
    "<", ">", "script", "alert", "onerror", "document.write", "color: red", "Home | World",
    "Enable JS", "Copyright footer",
])
def test_html_scripts_styles_and_markup_do_not_reach_the_text(tmp_path: Path, fragment: str) -> None:
    doc = load_document(write(tmp_path, "a.htm", HTML))
    assert fragment not in doc.text


def test_html_without_block_tags_uses_the_body_lines(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "a.html", "<html><body>First line.<br>Second line.</body></html>"))
    assert doc.text.split() == ["First", "line.", "Second", "line."]


def test_a_page_saved_from_a_news_site_gives_its_headline_outlet_date_and_byline() -> None:
    """tests/data/news-page.html is laid out like a real article page: cookie banner, menu,
    newsletter promo, photo caption, related links, share buttons, 'most read', footer."""
    doc = load_document(Path(__file__).parent / "data" / "news-page.html")
    assert doc.title == "Putin visits Mongolia despite ICC arrest warrant"  # not the <title> with site name
    assert (doc.outlet, doc.published, doc.author) == ("The Daily Ledger", date(2024, 9, 3), "Jane Doe")
    assert doc.url == "https://www.dailyledger.example/world/2024/09/03/putin-mongolia"
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[1].startswith("Russian President Vladimir Putin arrived in Mongolia on Monday night")
    assert paragraphs[-1].endswith("make sure Ulaanbaatar faces consequences.")
    for furniture in ("cookies", "Home", "Sign up", "Subscribe", "Chinggis Khaan airport", "Related stories",
                      "Share on", "Most read", "All rights reserved", "Contact us"):
        assert furniture not in doc.text


def test_json_ld_news_article_metadata_is_read_when_there_are_no_meta_tags(tmp_path: Path) -> None:
    body = " ".join(["Floods closed the coastal road on Monday, and officials said repairs would take weeks."] * 4)
    page = f"""<html><head><title>Floods close coast road - Coast Courier</title>
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
"headline": "Floods close coast road", "datePublished": "2025-03-14T06:00:00Z",
"author": {{"@type": "Person", "name": "Sam Lee"}},
"publisher": {{"@type": "Organization", "name": "Coast Courier"}}}}</script></head>
<body><article><h1>Floods close coast road</h1><p>{body}</p></article></body></html>"""
    doc = load_document(write(tmp_path, "floods.html", page))
    assert (doc.title, doc.outlet, doc.published, doc.author) == (
        "Floods close coast road", "Coast Courier", date(2025, 3, 14), "Sam Lee")


def test_markdown_front_matter_gives_metadata_and_is_not_article_text(tmp_path: Path) -> None:
    text = ("---\ntitle: Putin lands in Ulaanbaatar\ndate: 2024-09-02\nauthor: [Ann Ray, Bo Chen]\n"
            "publisher: Steppe Times\nlayout: post\ntags: [mongolia]\n---\n\nHe arrived on Monday.\n")
    doc = load_document(write(tmp_path, "a.md", text))
    assert doc.text == text  # kept as written: offsets are into the file
    assert (doc.title, doc.outlet, doc.published, doc.author) == (
        "Putin lands in Ulaanbaatar", "Steppe Times", date(2024, 9, 2), "Ann Ray, Bo Chen")
    block = text.index("\n---\n") + 4
    assert {doc.text[s:e] for s, e in doc.junk if e <= block} == set(text[:block].split("\n")[:-1])
    assert not any(s < block for s, _ in chunk_spans(doc))  # the front matter is never retrieved


def test_a_sidecar_overrides_front_matter_field_by_field(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "---\ntitle: Draft title\ndate: 2024-09-02\n---\nHe arrived.\n")
    write(tmp_path, "a.md.meta.json", json.dumps({"title": "Final title"}))
    doc = load_document(path)
    assert (doc.title, doc.published) == ("Final title", date(2024, 9, 2))


def test_markdown_that_only_looks_like_front_matter_is_text(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "a.md", "---\ndate: 2024-09-02\ntitle: [unclosed\n---\nHe arrived.\n"))
    assert doc.published is None and doc.junk == ()  # not YAML, so not front matter: all of it is text


# --- pdf -------------------------------------------------------------------------------------

def test_pdf_document_information_gives_author_and_date(tmp_path: Path) -> None:
    data = pdf_bytes([PAGE_1], title="Putin in Mongolia", Author="Ann Ray", CreationDate="D:20240903081500Z")
    doc = load_document(write(tmp_path, "report.pdf", data))
    assert (doc.title, doc.author, doc.published) == ("Putin in Mongolia", "Ann Ray", date(2024, 9, 3))


@pytest.mark.parametrize("machine_title", ["Microsoft Word - draft3.docx", "untitled", "scan_0042.pdf"])
def test_a_title_the_pdf_writer_made_up_is_not_used(tmp_path: Path, machine_title: str) -> None:
    doc = load_document(write(tmp_path, "report.pdf", pdf_bytes([PAGE_2], title=machine_title)))
    assert doc.title == PAGE_2[0]


def test_a_malformed_pdf_date_is_left_out(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "report.pdf", pdf_bytes([PAGE_2], CreationDate="yesterday")))
    assert doc.published is None


def test_pdf_pages_and_offsets(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "two.pdf", pdf_bytes([PAGE_1, PAGE_2], title="Two pages")))
    assert doc.title == "Two pages"
    assert [number for _, _, number in doc.pages] == [1, 2]
    for line in PAGE_1:
        assert doc.page_at(doc.text.index(line)) == 1
    assert doc.page_at(doc.text.index(PAGE_2[0])) == 2
    assert doc.page_at(len(doc.text)) is None
    for start, end, _ in doc.pages:
        assert doc.text[start:end] == doc.text[start:end].strip()


def test_pdf_without_title_uses_its_first_sentence(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "one-page_report.pdf", pdf_bytes([PAGE_2])))
    assert doc.title == "Protesters gathered in Sukhbaatar Square on Tuesday."
    assert doc.pages == ((0, len(doc.text), 1),)


def test_pdf_blank_page_is_skipped_but_numbering_kept(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "gap.pdf", pdf_bytes([PAGE_1, [], PAGE_2])))
    assert [number for _, _, number in doc.pages] == [1, 3]
    assert doc.page_at(doc.text.index(PAGE_2[0])) == 3


def test_pdf_page_reaches_the_citation(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus, "report.pdf", pdf_bytes([PAGE_1, PAGE_2]))
    config = rag.Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash",
                        stale_check_seconds=0.0)
    answer = rag.ask("Where did protesters gather?", config=config)
    assert not answer.abstained
    cited = {c.quote: c.page for c in answer.citations}
    assert cited.get(PAGE_2[0]) == 2


# --- errors name the file ------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "broken or unreadable"),
    ("text.pdf", b"just some text pretending", "broken or unreadable"),
    ("empty.txt", b"", "contains no text"),
    ("blank.md", b"  \n\n\t\n", "contains no text"),
    ("empty.html", b"<html><body><script>x()</script></body></html>", "contains no text"),
    ("notes.docx", b"PK\x03\x04", "unsupported type '.docx'"),
    ("scan.pdf", pdf_bytes([[]]), "no extractable text"),
])
def test_unreadable_articles_raise_corpus_error_naming_the_file(tmp_path: Path, name, data, message) -> None:
    with pytest.raises(CorpusError, match=message) as info:
        load_document(write(tmp_path, name, data))
    assert name in str(info.value)


def test_missing_file_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="missing.txt"):
        load_document(tmp_path / "missing.txt")


@pytest.mark.parametrize("sidecar, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (b"\xff\xfe\x00", "not valid JSON"),
    ('{"titel": "Putin lands"}', "unknown key 'titel'; the keys are author, outlet, published, title, url"),
    ('{"outlet": ["AP", "Reuters"]}', "outlet must be text, got \\['AP', 'Reuters'\\]"),
])
def test_invalid_sidecar_raises_corpus_error_naming_it(tmp_path: Path, sidecar, message) -> None:
    path = write(tmp_path, "a.txt", "Body text.\n")
    write(tmp_path, "a.txt.meta.json", sidecar)
    with pytest.raises(CorpusError, match=message) as info:
        load_document(path)
    assert "a.txt.meta.json" in str(info.value)


def test_bad_published_date_names_the_article(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Body text.\n")
    write(tmp_path, "a.txt.meta.json", json.dumps({"published": "last Tuesday"}))
    with pytest.raises(CorpusError, match=r"'a\.txt\.meta\.json': published .*'last Tuesday'"):
        load_document(path)


# --- the corpus folder ---------------------------------------------------------------------

def test_corpus_files_lists_articles_only(tmp_path: Path) -> None:
    for name in ("b.txt", "a.PDF", "c.md", "d.html", "a.txt.meta.json", ".hidden.txt", "notes.docx"):
        write(tmp_path, name, "x")
    (tmp_path / "sub.txt").mkdir()
    assert [p.name for p in corpus_files(tmp_path)] == ["a.PDF", "b.txt", "c.md", "d.html"]


def test_missing_corpus_folder_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="nowhere"):
        corpus_files(tmp_path / "nowhere")


@pytest.mark.parametrize("name, expected", [
    ("a.txt", True), ("a.md", True), ("a.markdown", True), ("a.HTM", True), ("a.pdf", True),
    ("a.txt.meta.json", False), ("a.docx", False), ("txt", False),
])
def test_is_article(name: str, expected: bool) -> None:
    assert is_article(name) is expected

