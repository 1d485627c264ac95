"""Worked examples for rag.segment: sentence spans that are exact offsets into the text.

The contract: for every span ``(s, e)`` of ``split_sentences(text)``, ``text[s:e]`` is one
sentence with no surrounding whitespace, and spans come in order without overlapping.
Abbreviations ("Mr.", "U.N.", "Sept. 2") do not end sentences, hard line breaks inside a
sentence are soft wraps, and capitals headlines stand apart from the line after them.
"""

from __future__ import annotations

import pytest

from rag.config import PROJECT_ROOT
from rag.corpus import corpus_files, load_document
from rag.segment import MAX_SENTENCE_CHARS, paragraphs, split_sentences

SEED_FILES = corpus_files(PROJECT_ROOT / "corpus")
AMNESTY = PROJECT_ROOT / "corpus" / "putin-first-icc-member-visit-amnesty-warns.txt"


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def assert_offset_contract(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are non-empty, stripped, in order and non-overlapping."""
    previous_end = 0
    for s, e in spans:
        assert 0 <= previous_end <= s < e <= len(text), (previous_end, s, e)
        assert text[s:e] == text[s:e].strip(), repr(text[s:e])
        previous_end = e


@pytest.mark.parametrize("text, expected", [
    # abbreviations with a full stop do not end the sentence
    ("Mr. Putin met the U.N. envoy on Sept. 2. It was brief.",
     ["Mr. Putin met the U.N. envoy on Sept. 2.", "It was brief."]),
    ("Mr. Putin arrived. Mrs. Smith left.", ["Mr. Putin arrived.", "Mrs. Smith left."]),
    ("The U.N. Security Council met. Then it adjourned.",
     ["The U.N. Security Council met.", "Then it adjourned."]),
    ("He arrived on Sept. 2, 2024, in Kyzyl. He left.",
     ["He arrived on Sept. 2, 2024, in Kyzyl.", "He left."]),
    ("Dr. Jones met Mr. Lee at 5 p.m. on Monday. They talked.",
     ["Dr. Jones met Mr. Lee at 5 p.m. on Monday.", "They talked."]),
    ("It cost $1.5 billion. That is a lot.", ["It cost $1.5 billion.", "That is a lot."]),
    # quotes stay with their sentence, straight or curly
    ('"There is no risk," Markov said. "We agreed in advance."',
     ['"There is no risk," Markov said.', '"We agreed in advance."']),
    ("\u201cNo worries,\u201d Peskov said. He added more.",
     ["\u201cNo worries,\u201d Peskov said.", "He added more."]),
    ('He said "no." Then he left.', ['He said "no."', "Then he left."]),
    # hard line breaks in the middle of a sentence are soft wraps (kept in the span)
    ("The court\nreiterated its call. The Kremlin\nwas unconcerned.",
     ["The court\nreiterated its call.", "The Kremlin\nwas unconcerned."]),
    ("The president, who arrived in the capital late on Monday,\nmet Khurelsukh on Tuesday.",
     ["The president, who arrived in the capital late on Monday,\nmet Khurelsukh on Tuesday."]),
    ("Line one ends here\r\nand continues here.\r\nNew para.",
     ["Line one ends here\r\nand continues here.", "New para."]),
    # one paragraph per line
    ("One paragraph per line.\nSecond paragraph here.\nThird one.",
     ["One paragraph per line.", "Second paragraph here.", "Third one."]),
    # all-caps headlines are split from the next line, whatever its case
    ("PUTIN LANDS IN MONGOLIA DESPITE WARRANT\nThe Russian leader arrived on Monday.",
     ["PUTIN LANDS IN MONGOLIA DESPITE WARRANT", "The Russian leader arrived on Monday."]),
    ("PUTIN LANDS IN MONGOLIA DESPITE WARRANT\nthe Russian leader arrived on Monday.",
     ["PUTIN LANDS IN MONGOLIA DESPITE WARRANT", "the Russian leader arrived on Monday."]),
    ("The Russian leader arrived on Monday in the capital city\nPUTIN LANDS IN MONGOLIA DESPITE WARRANT",
     ["The Russian leader arrived on Monday in the capital city",
      "PUTIN LANDS IN MONGOLIA DESPITE WARRANT"]),
    # a short title line is its own span
    ("Short headline\nNext line starts with a capital.",
     ["Short headline", "Next line starts with a capital."]),
    # odd endings and whitespace
    ("Ends without punctuation", ["Ends without punctuation"]),
    ("Wait... what happened? Nobody knows!", ["Wait... what happened?", "Nobody knows!"]),
    ("It was late.\tHe left.", ["It was late.", "He left."]),
    ("  \n\n  Padded sentence.  \n\n ", ["Padded sentence."]),
    ("", []),
    ("   \n\n\t  ", []),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert_offset_contract(text, split_sentences(text))


@pytest.mark.parametrize("text", [
    "Kremlin officials said the president would meet Mr.\nPutin on Tuesday in the capital city.",
    "The resolution was passed by the members of the U.N.\nSecurity Council after a long debate.",
    "Protests were planned in the capital on Sept.\n2 according to a group of local organisers.",
], ids=["Mr.", "U.N.", "Sept."])
def test_wrap_after_an_abbreviation_is_a_soft_wrap(text: str) -> None:
    assert sentences(text) == [text]


def test_sub_range_offsets_are_offsets_into_the_whole_text() -> None:
    text = "Ignored prefix. Putin arrived. Mr. Lee left. Ignored suffix."
    start = text.index("Putin")
    end = text.index(" Ignored suffix")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Putin arrived.", "Mr. Lee left."]
    assert spans[0][0] == start


def test_paragraphs_join_wrapped_lines_and_split_at_blank_lines() -> None:
    t = "One line that\nwraps here.\nNew paragraph.\n\nAfter a blank line."
    assert [t[s:e] for s, e in paragraphs(t)] == [
        "One line that\nwraps here.", "New paragraph.", "After a blank line."]


def test_overlong_runs_are_cut_at_spaces_without_losing_text() -> None:
    text = " ".join(["word"] * 600)  # 2,999 characters, no sentence punctuation
    spans = split_sentences(text)
    assert len(spans) > 1
    assert all(e - s <= MAX_SENTENCE_CHARS for s, e in spans)
    assert_offset_contract(text, spans)
    assert " ".join(text[s:e] for s, e in spans) == text


def test_overlong_run_without_spaces_is_cut_hard() -> None:
    text = "a" * (2 * MAX_SENTENCE_CHARS + 10)
    spans = split_sentences(text)
    assert [e - s for s, e in spans] == [MAX_SENTENCE_CHARS, MAX_SENTENCE_CHARS, 10]
    assert "".join(text[s:e] for s, e in spans) == text


# --- the real seed articles ---------------------------------------------------------------

def test_amnesty_article_wraps_lines_mid_sentence() -> None:
    """The seed file wraps at ~95 columns; wrapped sentences come back whole."""
    text = load_document(AMNESTY).text
    found = sentences(text)
    however = [s for s in found if s.startswith("However, with little enforcement power")]
    assert however == [
        "However, with little enforcement power if Mongolia does not comply, the Kremlin said it was\n"
        " unconcerned about Putin being arrested during the visit."]
    assert ("Russian state television broadcasted Putin's plane landing in the Mongolian capital,\n"
            "Ulaanbaatar.") in found
    assert any(s.startswith("The ICC issued its arrest warrant for Putin in March 2023")
               and s.endswith("unlawful deportation of Ukrainian children to Russia.") for s in found)
    # no sentence starts mid-sentence (with a lower-case word) after a wrap
    assert not [s for s in found if s[:1].islower()]


def test_fox_article_headline_is_split_from_its_neighbours() -> None:
    text = load_document(PROJECT_ROOT / "corpus" / "fox-putin-enters-mongolia-without-arrest.txt").text
    found = sentences(text)
    assert "PENCE URGES GOP TO UNITE BEHIND UKRAINE IN BID TO COUNTER CHINA, RUSSIA" in found
    assert ("VLADIMIR PUTIN TO MAKE FIRST ICC MEMBER STATE VISIT SINCE ARREST WARRANT ISSUES FOR "
            "ALLEGED CHILD ABDUCTION") in found


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_articles_keep_the_offset_contract(path) -> None:
    text = load_document(path).text
    spans = split_sentences(text)
    assert len(spans) >= 10
    assert_offset_contract(text, spans)
    # nothing but whitespace is left between consecutive sentences' texts
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(covered.split()) == "".join(text.split())


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_sentences_do_not_split_after_abbreviations(path) -> None:
    for sentence in sentences(load_document(path).text):
        assert not sentence.endswith((" Mr.", " Mrs.", " U.N.", " U.S.", " Sept.")), sentence


def test_pysbd_with_a_bigger_pattern_cache_splits_exactly_as_before(monkeypatch) -> None:
    """rag.segment gives pysbd's modules a ``re`` whose compiled-pattern cache holds the
    hundreds of abbreviation patterns pysbd formats (stdlib ``re`` keeps 512 and recompiled
    them for every text). Splitting the seed corpus with the stdlib ``re`` put back gives the
    same spans."""
    import re
    import sys

    from rag import segment

    patched = [m for name, m in sys.modules.items() if name.startswith("pysbd") and getattr(m, "re", None) is segment._PYSBD_RE]
    assert {m.__name__ for m in patched} >= {"pysbd.abbreviation_replacer", "pysbd.processor"}
    texts = [load_document(p).text for p in corpus_files(PROJECT_ROOT / "corpus")]
    cached = [split_sentences(t) for t in texts]
    for module in patched:
        monkeypatch.setattr(module, "re", re)
    assert [split_sentences(t) for t in texts] == cached
