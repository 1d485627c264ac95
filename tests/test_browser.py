"""The web app in headless Chromium: cited answers, highlighted sources, uploads, XSS safety.

Starts ``app.py`` as a subprocess on a free loopback port with a temp copy of the seed corpus
(plus one article full of HTML injection attempts) and a temp index, real embedding model.
Needs Debian's chromium (``apt-get install -y chromium``); Playwright's own browser download
is never used. Screenshots go to test-artifacts/; one cited answer to docs/screenshot-answer.png.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

import rag
from rag.config import PROJECT_ROOT
from tests.app_process import running_app

pytestmark = pytest.mark.browser

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
README_SHOT = PROJECT_ROOT / "docs" / "screenshot-answer.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ANSWER_TIMEOUT = 240_000  # ms for an answer (the first one may wait for the model and index)
UI_TIMEOUT = 60_000  # ms for everything else

QUESTION = "Why wasn't Putin arrested?"
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ARTICLE = (
    "Zorblat lantern festival report\n\n"
    f"The Zorblat lantern festival in Erdenet drew 4,000 visitors {XSS_IMG} on Saturday, organisers said.\n\n"
    f"Organisers of the Zorblat lantern festival said {XSS_SCRIPT} it will return next summer.\n"
)
XSS_META = {"title": f"Zorblat festival {XSS_IMG}", "outlet": f"Erdenet Wire {XSS_SCRIPT}",
            "published": "2024-09-04"}
UPLOAD_NAME = "khuvsgul-wind-farm.txt"
UPLOAD_ARTICLE = (
    "Wind farm opens near Lake Khuvsgul\n\n"
    "A new wind farm with 14 turbines opened near Lake Khuvsgul on Friday, the energy ministry said.\n\n"
    "The Khuvsgul wind farm will supply electricity to 30,000 homes in northern Mongolia.\n"
)
SCROLL_TO_TOP_OF_ANSWER = """el => {
  for (let c = el.parentElement; c; c = c.parentElement) {
    const o = getComputedStyle(c).overflowY;
    if ((o === 'auto' || o === 'scroll') && c.scrollHeight > c.clientHeight) {
      c.scrollTop += el.getBoundingClientRect().top - c.getBoundingClientRect().top - 8;
      return;
    }
  }
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    return path


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):
    """app.py on a free port over a temp corpus (seed + XSS article); yields its URL and folders."""
    tmp = tmp_path_factory.mktemp("browser")
    corpus = tmp / "corpus"
    shutil.copytree(PROJECT_ROOT / "corpus", corpus)
    (corpus / "zorblat-festival.txt").write_text(XSS_ARTICLE, encoding="utf-8")
    (corpus / "zorblat-festival.txt.meta.json").write_text(json.dumps(XSS_META), encoding="utf-8")
    with running_app(corpus, tmp / "index", tmp / "app.log") as url:
        yield {"url": url, "corpus": corpus, "tmp": tmp, "log": tmp / "app.log"}


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client
    return Client(app["url"], verbose=False)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app, request):
    """A fresh page (its own Gradio session) that fails the test if any dialog opens."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.set_default_timeout(UI_TIMEOUT)
    pg.goto(app["url"], wait_until="domcontentloaded")
    pg.locator("#nd-question textarea").wait_for()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    assert not dialogs, f"a dialog opened (script ran): {dialogs}"


# -- helpers ---------------------------------------------------------------------------------

def bot_messages(pg):
    return pg.locator("#nd-chat [data-testid='bot']")


def ask(pg, question: str, expected_answers: int):
    """Type a question, press Enter, wait for answer number ``expected_answers`` to finish."""
    box = pg.locator("#nd-question textarea")
    box.fill(question)
    box.press("Enter")
    last = bot_messages(pg).nth(expected_answers - 1)
    last.locator(".nd-timings, .nd-error").first.wait_for(timeout=ANSWER_TIMEOUT)
    return last


def norm(text: str) -> str:
    return " ".join(text.split())


def answer_text(message) -> str:
    """The answer's text as shown in a chat message, without its "reported by" badges."""
    return norm(message.locator(".nd-answer").evaluate(
        "el => { const c = el.cloneNode(true); c.querySelectorAll('.nd-agree').forEach(b => b.remove());"
        " return c.textContent; }"))


def assert_agree_badges(message, support_counts: list[int]):
    """One "reported by k sources" badge per sentence that several outlets back."""
    badges = message.locator(".nd-answer .nd-agree").all_inner_texts()
    assert [int(re.fullmatch(r"reported by (\d+) sources", b).group(1)) for b in badges] == \
        [n for n in support_counts if n > 1], badges


def mark_text(pg) -> str:
    mark = pg.locator("#nd-viewer mark")
    mark.wait_for()
    return mark.evaluate("el => el.textContent")


def open_corpus_tab(pg):
    pg.get_by_role("tab", name="Corpus").click()
    pg.locator("#nd-documents").wait_for()
    pg.locator("#nd-documents").get_by_text("ap-putin-arrives-in-mongolia-icc-member.txt").wait_for()


def upload(pg, path: Path):
    pg.locator("#nd-upload input[type=file]").set_input_files(str(path))


def assert_no_injected_markup(pg):
    assert pg.locator("img[onerror]").count() == 0
    assert pg.locator("img[src='x']").count() == 0
    scripts = pg.evaluate("[...document.querySelectorAll('script')].map(s => s.textContent)")
    assert not any("alert(1)" in s for s in scripts)


# -- tests -----------------------------------------------------------------------------------

def test_cited_answer_with_highlighted_source_and_follow_up(page, client):
    expected = client.predict(QUESTION, "[]", 6, api_name="/ask")
    assert not expected["abstained"] and expected["citations"]

    answer = ask(page, QUESTION, 1)
    assert answer_text(answer) == norm(expected["text"])
    assert_agree_badges(answer, expected["support_counts"])
    shown = [q.evaluate("el => el.textContent") for q in answer.locator(".nd-quote").all()]
    assert [norm(q) for q in shown] == [norm(c["quote"]) for c in expected["citations"]]
    for c in expected["citations"]:
        article = client.predict(c["source"], api_name="/document")["text"]
        assert article[c["start"]:c["end"]] == c["quote"]

    # the first source opens by itself; picking another highlights exactly its quote
    first, last = expected["citations"][0], expected["citations"][-1]
    assert mark_text(page) == first["quote"]
    page.locator("#nd-picker label").filter(has_text=f"[{last['n']}]").click()
    page.wait_for_function(
        "q => { const m = document.querySelector('#nd-viewer mark'); return m && m.textContent === q; }",
        arg=last["quote"])
    assert page.locator("#nd-viewer mark").count() == 1
    assert last["title"] in page.locator("#nd-viewer .nd-article-title").inner_text()
    page.locator("#nd-picker label").filter(has_text=f"[{first['n']}]").click()
    page.wait_for_function(
        "q => { const m = document.querySelector('#nd-viewer mark'); return m && m.textContent === q; }",
        arg=first["quote"])
    answer.evaluate(SCROLL_TO_TOP_OF_ANSWER)
    ARTIFACTS.mkdir(exist_ok=True)
    README_SHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cited-answer.png"))
    page.screenshot(path=str(README_SHOT))

    # follow-up: the earlier turn is passed as history and the new answer is cited too
    follow_up = ask(page, "Who said there was no risk of his arrest?", 2)
    assert follow_up.locator(".nd-error").count() == 0
    assert follow_up.locator(".nd-sources").count() == 1
    assert page.locator("#nd-picker").get_by_text("Sources of answer 2").count() == 1
    with_history = client.predict("Who said there was no risk of his arrest?",
                                  json.dumps([[QUESTION, expected["text"]]]), 6, api_name="/ask")
    assert answer_text(follow_up) == norm(with_history["text"])
    assert_agree_badges(follow_up, with_history["support_counts"])

    # clicking the first answer brings its sources back
    bot_messages(page).nth(0).locator(".nd-answer").click()
    page.locator("#nd-picker").get_by_text("Sources of answer 1").wait_for()


def test_sentence_several_sources_report_shows_a_badge(page, client):
    question = "Which government called on Mongolia to arrest Putin?"
    expected = client.predict(question, "[]", 6, api_name="/ask")
    assert any(n > 1 for n in expected["support_counts"]), expected["support_counts"]
    assert "reported by" not in expected["text"]  # the count is data (support_counts), not answer text
    answer = ask(page, question, 1)
    assert answer_text(answer) == norm(expected["text"])
    assert_agree_badges(answer, expected["support_counts"])
    # a count of the outlets that state it, never a share of the whole archive ("of 6")
    assert " of " not in answer.locator(".nd-agree").first.inner_text()
    answer.evaluate(SCROLL_TO_TOP_OF_ANSWER)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agree-badge.png"))


def test_export_the_chat_as_markdown_with_footnotes(page, client):
    """Two turns, then Export -> Chat (Markdown): each question is a heading, each answer
    sentence carries [^turn.n] references, and each footnote quotes its source verbatim."""
    follow = "Who said there was no risk of his arrest?"
    first = client.predict(QUESTION, "[]", 6, api_name="/ask")
    second = client.predict(follow, json.dumps([[QUESTION, first["text"]]]), 6, api_name="/ask")
    ask(page, QUESTION, 1)
    ask(page, follow, 2)
    page.locator("#nd-export").get_by_text("Export").first.click()
    page.locator("#nd-export-chat").click()
    box = page.locator("#nd-export-text textarea")
    page.wait_for_function("() => (document.querySelector('#nd-export-text textarea') || {}).value"
                           " && document.querySelector('#nd-export-text textarea').value.includes('[^')")
    markdown = box.input_value()
    assert markdown.startswith("# Newsdesk QA session")
    assert f"## {QUESTION}" in markdown and f"## {follow}" in markdown
    for turn, expected in ((1, first), (2, second)):
        for c in expected["citations"]:
            assert f"[^{turn}.{c['n']}]" in markdown.split("\n\n", 3)[-1]  # referenced in the text
            assert f'[^{turn}.{c["n"]}]: {c["title"]}' in markdown
            assert f'"{norm(c["quote"])}"' in markdown  # the quote, reflowed
    page.locator("#nd-export-file").get_by_text(".md").first.wait_for()  # offered as a download
    page.locator("#nd-export-last").click()
    page.wait_for_function("() => !document.querySelector('#nd-export-text textarea').value.startsWith('# ')")
    last = box.input_value()
    assert "## " not in last and all(f"[^{c['n']}]: " in last for c in second["citations"])


def test_example_question_and_abstention(page):
    page.locator(".nd-example").filter(has_text=QUESTION).click()
    answer = bot_messages(page).nth(0)
    answer.locator(".nd-timings").wait_for(timeout=ANSWER_TIMEOUT)
    assert answer.locator(".nd-sources .nd-quote").count() >= 1

    nothing = ask(page, "What is the recipe for Hungarian goulash soup?", 2)
    text = nothing.inner_text()
    if "do not answer" not in text:
        pytest.fail(f"expected an abstention, got: {text[:500]}")
    assert "Nearest passages" in text
    assert nothing.locator(".nd-quote").count() >= 1


def test_html_in_articles_and_questions_renders_as_text(page):
    answer = ask(page, "How many visitors did the Zorblat lantern festival draw?", 1)
    text = answer.inner_text()
    assert "zorblat-festival.txt" in text, text[:800]
    assert XSS_IMG in text  # shown literally, as text
    quotes = [q.evaluate("el => el.textContent") for q in answer.locator(".nd-quote").all()]
    assert any(XSS_IMG in q for q in quotes)
    picker = page.locator("#nd-picker label").filter(has_text="Zorblat festival")
    picker.first.click()
    page.wait_for_function("() => { const m = document.querySelector('#nd-viewer mark');"
                           " return m && m.textContent.includes('Zorblat'); }")
    viewer = page.locator("#nd-viewer").inner_text()
    assert XSS_IMG in viewer and XSS_SCRIPT in viewer
    ask(page, f"{XSS_IMG} {XSS_SCRIPT} Zorblat lantern festival?", 2)
    assert XSS_IMG in page.locator("#nd-chat [data-testid='user']").nth(1).inner_text()
    open_corpus_tab(page)
    assert XSS_IMG in page.locator("#nd-documents").inner_text()
    time.sleep(1)  # give any injected handler the chance to fire
    assert_no_injected_markup(page)


def test_upload_article_then_ask_about_it(page, app, tmp_path):
    open_corpus_tab(page)
    article = tmp_path / UPLOAD_NAME
    article.write_text(UPLOAD_ARTICLE, encoding="utf-8")
    upload(page, article)
    page.locator("#nd-status").get_by_text(f"Added {UPLOAD_NAME}").wait_for(timeout=ANSWER_TIMEOUT)
    page.locator("#nd-documents").get_by_text(UPLOAD_NAME).wait_for()
    assert (app["corpus"] / UPLOAD_NAME).read_text(encoding="utf-8") == UPLOAD_ARTICLE

    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "How many turbines does the Khuvsgul wind farm have?", 1)
    assert UPLOAD_NAME in answer.locator(".nd-sources").inner_text()
    assert "14 turbines" in answer.locator(".nd-answer").inner_text()

    open_corpus_tab(page)
    page.locator("#nd-remove input").click()
    page.get_by_role("option", name=UPLOAD_NAME).click()
    page.locator("#nd-remove-btn").click()
    page.locator("#nd-status").get_by_text(f"Removed {UPLOAD_NAME}").wait_for(timeout=ANSWER_TIMEOUT)
    assert page.locator("#nd-documents").get_by_text(UPLOAD_NAME).count() == 0
    assert not (app["corpus"] / UPLOAD_NAME).exists()


def test_broken_pdf_shows_an_error_and_keeps_the_index(page, app, tmp_path):
    open_corpus_tab(page)
    before = page.locator("#nd-documents").inner_text()
    files_before = sorted(p.name for p in app["corpus"].iterdir())
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not really a pdf\n%%EOF\n")
    upload(page, broken)
    page.locator("#nd-status .nd-error").get_by_text("Could not add broken.pdf").wait_for(timeout=ANSWER_TIMEOUT)
    assert page.locator("#nd-documents").inner_text() == before
    assert sorted(p.name for p in app["corpus"].iterdir()) == files_before
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broken-pdf.png"))

    big = tmp_path / "big.txt"  # over MAX_UPLOAD_BYTES: refused before it reaches the server
    with open(big, "wb") as f:
        f.write(b"a" * (rag.Config().max_upload_bytes + 1))
    upload(page, big)
    page.get_by_text("exceed the maximum allowed size").first.wait_for()
    assert page.locator("#nd-documents").inner_text() == before

    fake = tmp_path / "fake.txt"  # binary content behind a .txt name: refused by content
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    upload(page, fake)
    page.locator("#nd-status .nd-error").get_by_text("binary data").wait_for(timeout=ANSWER_TIMEOUT)
    assert page.locator("#nd-documents").inner_text() == before


def test_settings_filter_outlets_and_dates(page):
    page.locator("#nd-settings").get_by_text("Search settings").click()
    page.locator("#nd-outlets input").click()
    page.get_by_role("option", name="Fox News Digital").click()
    page.keyboard.press("Escape")
    answer = ask(page, QUESTION, 1)
    sources = answer.locator(".nd-src").all()
    assert sources and all("Fox News Digital" in s.inner_text() for s in sources)

    page.locator("#nd-date-from input").fill("2024-09-05")  # after every seed article
    page.locator("#nd-date-from input").press("Enter")
    # the filters left no article: said as such, not as "the articles do not answer"
    assert "No indexed article matches the outlet/date filters (0 of " in ask(page, QUESTION, 2).inner_text()

    page.locator("#nd-date-to input").fill("2024-09-01")  # before date_from: refused, no crash
    page.locator("#nd-date-to input").press("Enter")
    error = ask(page, QUESTION, 3).locator(".nd-error")
    assert "after date_to" in error.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "settings-error.png"))
