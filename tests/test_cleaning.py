"""Worked examples for rag.cleaning: the junk in the seed pages is found, real sentences are not.

``junk_spans`` only *points at* junk (disclaimers, "Your email address...", capitals promos,
photo captions, bylines); the text is never changed, so quotes stay verbatim.
"""

from __future__ import annotations

import pytest

from rag.chunking import chunk_document
from rag.cleaning import junk_spans, overlaps
from rag.config import PROJECT_ROOT
from rag.corpus import corpus_files, load_document

CORPUS = PROJECT_ROOT / "corpus"
AP = "ap-putin-arrives-in-mongolia-icc-member.txt"
FOX = "fox-putin-enters-mongolia-without-arrest.txt"
WELCOMES = "mongolia-welcomes-putin-with-ceremony-and-protests.txt"
AMNESTY = "putin-first-icc-member-visit-amnesty-warns.txt"
TO_MEET = "putin-to-meet-mongolian-president-despite-icc-warrant.txt"


def junk_lines(text: str) -> list[str]:
    return [text[s:e] for s, e in junk_spans(text)]


def seed_junk(name: str) -> list[str]:
    return junk_lines(load_document(CORPUS / name).text)


def test_docstring_example() -> None:
    t = "Putin arrived.\nPENCE URGES GOP TO UNITE BEHIND UKRAINE\nYour email address will not be published."
    assert junk_lines(t) == ["PENCE URGES GOP TO UNITE BEHIND UKRAINE",
                             "Your email address will not be published."]


@pytest.mark.parametrize("source, starts_with", [
    (AP, "Disclaimer: The copyright of this article belongs to the original author."),
    (AP, "This article includes reporting from The Associated Press"),
    (AP, "Russian President Vladimir Putin gestures during his meeting with children"),  # caption
    (WELCOMES, "Your email address will not be published. Required fields are marked *"),
    (FOX, "PENCE URGES GOP TO UNITE BEHIND UKRAINE IN BID TO COUNTER CHINA, RUSSIA"),
    (FOX, "VLADIMIR PUTIN TO MAKE FIRST ICC MEMBER STATE VISIT SINCE ARREST WARRANT"),
    (FOX, "Russian President Vladimir Putin, left, accompanied by Mongolia\u2019s Minister"),  # (Photo by
    (FOX, "Russian President Vladimir Putin speaks during Russian-Mongolian talks"),  # Getty Images
    (FOX, "People holding Ukranian national flags and a banner take part in a protest"),
    (FOX, "Fox News Digital\u2019s Peter Aitken contributed to this report."),
    (FOX, "Timothy Nerozzi is a writer for Fox News Digital."),
    (TO_MEET, "Vladimir Putin Visits Kyzyl Republic Of Tuva"),  # stray caption headline
])
def test_seed_junk_is_found(source: str, starts_with: str) -> None:
    assert any(line.startswith(starts_with) for line in seed_junk(source)), seed_junk(source)


def test_every_caption_line_in_the_seeds_is_junk() -> None:
    for path in corpus_files(CORPUS):
        text = load_document(path).text
        junk = junk_spans(text)
        pos = 0
        for line in text.split("\n"):
            if "Getty Images" in line or "(Photo by" in line:
                start = pos + len(line) - len(line.lstrip())
                assert (start, start + len(line.strip())) in junk, line
            pos += len(line) + 1


def test_ap_repeated_caption_is_never_retrievable() -> None:
    """The AP page prints its photo caption twice on one line; no sentence of it is used."""
    doc = load_document(CORPUS / AP)
    caption_line = next(line for line in doc.text.split("\n") if "gestures during his meeting" in line)
    assert caption_line.count("Russian President Vladimir Putin gestures") == 2
    records, chunks = chunk_document(doc, size=4, overlap=1)
    caption = [r for r in records if r.sentence.text in caption_line]
    assert len(caption) >= 3
    assert not any(r.retrievable for r in caption)
    assert not any("gestures" in c.text for c in chunks)


def test_amnesty_article_has_no_junk() -> None:
    assert seed_junk(AMNESTY) == []


@pytest.mark.parametrize("sentence", [
    "Ukraine has called on Mongolia to arrest Putin and hand him over to the court in The Hague.",
    "South Africa is an ICC member.",
    "Mongolia, a sparsely populated country between Russia and China, is heavily dependent on "
    "Russia for fuel and electricity.",
    "A political analyst close to the Kremlin, Sergei Markov, echoed this sentiment.",
    "Neither Russia nor the U.S. are members of the ICC, which currently comprises 124 member states.",
    "\u201cThere are no worries, we have a great dialogue with our friends from Mongolia,\u201d Kremlin "
    "spokesman Dmitry Peskov told reporters on Friday, according to the Moscow Times.",
    "The Ukrainian Foreign Ministry has urged the Mongolian authorities to comply with the "
    "compulsory international arrest warrant and extradite Putin to the International Criminal "
    "Court in the Hague.",
    'Moscow has consistently denied the allegations and criticized the warrants as "outrageous."',
    "Russia aims to construct a new gas pipeline, Power of Siberia 2, traversing Mongolia to reach China.",
    '"President Putin is a fugitive from justice," Altantuya Batdorj, executive director of Amnesty',
    "Ulaanbaatar.",
    "Putin is wanted by the ICC for the alleged illegal deportation of Ukrainian children from areas",
    "A spokesperson for Putin said last week that the Kremlin isn't worried about the visit.",
])
def test_real_sentences_are_not_junk(sentence: str) -> None:
    assert junk_spans(sentence) == []


@pytest.mark.parametrize("text", [
    # _BOILERPLATE r"\bis an? (writer|reporter|...) (for|at)\b" is not anchored to a byline
    "Evan Gershkovich is a reporter for The Wall Street Journal who was jailed in Russia.",
    # _CAPTION r"photo by\b" matches inside an ordinary sentence
    "A photo by Reuters showed the two leaders shaking hands at the airport.",
    # _is_title_fragment sees the names-only middle line of a wrapped sentence as a headline
    "The summit was attended by leaders including\nVladimir Putin, Xi Jinping and Narendra Modi\n"
    "in Kazan last October.",
], ids=["reporter-for", "photo-by", "wrapped-names-line"])
def test_real_sentences_that_look_like_junk(text: str) -> None:
    assert junk_spans(text) == []


@pytest.mark.parametrize("line", [
    "Your email address will not be published.",
    "Required fields are marked *",
    "Subscribe to our newsletter",
    "Click here to read the full story",
    "Advertisement",
    "Read more: Putin in Mongolia",
    "Related: ICC explained",
    "Follow us on Twitter",
    "All rights reserved",
    "(Photo by Jane Doe/AFP via Getty Images)",
    "AP Photo/Alexander Zemlianichenko",
    "Image: Reuters",
    "BREAKING NEWS FROM THE STEPPE CAPITAL",
    "Putin Visits Kyzyl Republic Of Tuva",
])
def test_boilerplate_lines(line: str) -> None:
    assert junk_lines(line) == [line]


@pytest.mark.parametrize("text", [
    "Putin arrived.\nPENCE URGES GOP TO UNITE BEHIND UKRAINE\r\nYour email address will not be published.",
    "  indented caption (Photo by X/Getty Images)  \n\nBody text here.",
    "\ufeffDisclaimer: nothing here.\n",
])
def test_junk_spans_are_stripped_lines_and_never_change_the_text(text: str) -> None:
    before = str(text)
    spans = junk_spans(text)
    assert text == before
    assert spans == sorted(spans)
    for s, e in spans:
        piece = text[s:e]
        assert piece and piece == piece.strip() and "\n" not in piece


@pytest.mark.parametrize("path", corpus_files(CORPUS), ids=lambda p: p.name)
def test_loading_records_junk_without_editing_the_text(path) -> None:
    doc = load_document(path)
    assert doc.text == path.read_bytes().decode("utf-8-sig")
    assert list(doc.junk) == junk_spans(doc.text)


@pytest.mark.parametrize("span, junk, expected", [
    ((5, 10), [(0, 6)], True),
    ((5, 10), [(10, 12)], False),  # touching is not overlapping
    ((5, 10), [(0, 5)], False),
    ((5, 10), [(6, 7)], True),  # junk inside the span
    ((5, 10), [(0, 20)], True),  # span inside the junk
    ((5, 10), [], False),
])
def test_overlaps(span, junk, expected) -> None:
    assert overlaps(span, junk) is expected
