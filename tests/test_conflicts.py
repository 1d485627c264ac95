"""Worked examples: outlets that disagree are named and both quoted (rag.conflicts).

"AP says the former mayor got 18 months, Fox News says 17": the answer quotes one of them,
adds a sentence saying the outlets disagree that cites both, and ``Answer.conflicts`` lists it.
The other outlet's sentence is *not* counted as corroborating the first ("reported by 2
sources" would be false). Outlets that agree, or give figures for different things, raise
nothing. These run with the fake embedder; the real models are measured by
``python -m rag conflicts`` (see the README).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import rag
from rag.config import Config
from rag.conflicts import Disagreement, differing_figures, disagreement
from rag.llm.answerer import GenerativeAnswerer
from rag.types import Passage
from rag.verifier import Verdict, load_verifier
from tests.checks import BagOfWords, assert_quotes_verbatim
from tests.conftest import write_corpus
from tests.test_generate import chat

AP = "A former mayor of Eastbridge was sentenced to 18 months in prison on Tuesday for fraud. He will appeal.\n"
FOX = "A former mayor of Eastbridge was sentenced to 17 months in prison on Tuesday for fraud. Prosecutors wanted more.\n"
SAME = "A former mayor of Eastbridge was sentenced to 18 months in prison on Tuesday for fraud. Prosecutors wanted more.\n"
META = {"ap.txt": {"title": "Mayor jailed", "outlet": "AP"}, "fox.txt": {"title": "Ex-mayor jailed", "outlet": "Fox News"}}


def config_for(tmp_path: Path, fox_text: str, **changes) -> Config:
    corpus = write_corpus(tmp_path / "corpus", {"ap.txt": AP, "fox.txt": fox_text}, META)
    return Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", stale_check_seconds=0.0,
                  verifier="off", **changes)


def test_two_outlets_with_different_figures_are_both_cited_and_named(tmp_path):
    config = config_for(tmp_path, FOX)
    answer = rag.ask("How long was the former mayor of Eastbridge sentenced to?", config=config)
    [conflict] = answer.conflicts
    assert conflict.kind == "numbers" and set(conflict.outlets) == {"AP", "Fox News"}
    assert set(conflict.values) == {"18 months", "17 months"}
    assert conflict.sentence in answer.text
    quotes = {answer.citations[n - 1].quote for n in conflict.citations}
    assert quotes == {AP.split(". ")[0] + ".", FOX.split(". ")[0] + "."}
    assert_quotes_verbatim(answer, config.corpus_dir)
    # the first sentence is not "reported by 2 sources": the other outlet says something else
    assert answer.support_counts[0] == 1


def test_outlets_that_agree_corroborate_instead(tmp_path):
    config = config_for(tmp_path, SAME)
    answer = rag.ask("How long was the former mayor of Eastbridge sentenced to?", config=config)
    assert answer.conflicts == [] and answer.support_counts[0] == 2


class FakeVerifier:
    """The model's part of a verifier, scripted: pairs in ``refuting`` (either order) read as
    refuted, pairs in ``supporting`` (this order) as supported, anything else as not enough
    information. It finds no reversal in the grammar (``Verdict.clash`` stays None)."""

    threshold = 0.5

    def __init__(self, *refuting: tuple[str, str], supporting: tuple[tuple[str, str], ...] = ()) -> None:
        self.refuting = {frozenset(p) for p in refuting}
        self.supporting = set(supporting)

    def verdicts(self, pairs):
        return [Verdict("refuted", 0.1, 0.8, 0.1) if frozenset(pair) in self.refuting
                else Verdict("supported", 0.9, 0.05, 0.05) if pair in self.supporting
                else Verdict("not enough info", 0.1, 0.1, 0.8) for pair in pairs]

    def clashes(self, pairs):
        return [None] * len(pairs)


def test_a_contradiction_needs_a_reversal_in_the_grammar_not_the_model_alone():
    a, b = "The court approved the merger on Wednesday.", "The court blocked the merger on Wednesday."
    assert disagreement(a, b) is None  # no figures differ: without a verifier nothing is said
    # the model alone reading each as refuting the other is not enough (its "refuted" is right
    # two times in three on VitaminC's test split): no reason a reader could check
    assert disagreement(a, b, FakeVerifier((a, b))) is None
    negated = "The court did not approve the merger on Wednesday."
    assert disagreement(a, negated, load_verifier()) == Disagreement("contradiction")
    beat, lost = "Elena Morozova beat Priya Nair in the final.", "Priya Nair beat Elena Morozova in the final."
    assert disagreement(beat, lost, load_verifier()) == Disagreement("contradiction")
    assert disagreement(beat, "In the final, Priya Nair was beaten by Elena Morozova.", load_verifier()) is None


def test_differing_figures_count_only_when_shown_to_count_the_same_thing():
    a = "The visit comes six months after the first Mongolian judge joined the court."
    b = "The court issued its warrant for Putin 18 months ago."
    assert disagreement(a, b) == Disagreement("numbers", ("six months", "18 months"))  # figures alone
    assert disagreement(a, b, FakeVerifier()) is None  # different verbs, nothing refuted or supported
    assert disagreement(a, b, FakeVerifier((a, b))) == Disagreement("numbers", ("six months", "18 months"))
    # the same verb counts the same deed
    jailed, jailed_too = "He was jailed for 18 months.", "A court jailed him for 17 months on Monday."
    assert disagreement(jailed, jailed_too, FakeVerifier()) == Disagreement("numbers", ("18 months", "17 months"))
    # different verbs, but with the first figure swapped in, the second is supported
    won, gave = "The Unity Party won 54% of the vote.", "Official results gave the Unity Party 49% of the vote."
    swapped_in = "Official results gave the Unity Party 54% of the vote."
    assert disagreement(won, gave, FakeVerifier()) is None
    assert disagreement(won, gave, FakeVerifier(supporting=((won, swapped_in),))) == \
        Disagreement("numbers", ("54%", "49%"))


def test_a_contradiction_found_by_the_verifier_reaches_the_answer(tmp_path):
    approved = "The competition court approved the merger of Altan Foods and Birch Dairy on Wednesday."
    refused = "The competition court did not approve the merger of Altan Foods and Birch Dairy on Wednesday."
    corpus = write_corpus(tmp_path / "corpus", {"ap.txt": approved + " Farmers objected.\n",
                                                 "fox.txt": refused + " The firms may appeal.\n"}, META)
    config = Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", stale_check_seconds=0.0)
    answer = rag.ask("Did the competition court approve the merger of Altan Foods and Birch Dairy?", config=config)
    [conflict] = answer.conflicts
    assert conflict.kind == "contradiction" and conflict.values == ()
    assert conflict.sentence.endswith("contradict each other on this [1][2].") and conflict.sentence in answer.text


@pytest.mark.parametrize("a, b, expected", [
    ("Prices rose 0.4% last month.", "Prices rose 0.5% last month.", ("0.4%", "0.5%")),
    ("It cost $1.2 billion.", "It cost $950 million.", ("$1.2 billion", "$950 million")),
    ("It cost $1.5bn.", "It cost $1,500 million.", None),  # the same amount, written two ways
    ("Forty people were hurt.", "40 people were hurt.", None),
    ("About 3,000 people left.", "3,400 people left.", None),  # a hedged figure is not a claim of exactness
    ("He was fined £1,000 and banned for two years.", "He was banned for two years and fined £1,000.", None),
    ("The tunnel is 57 kilometres long.", "The tunnel took 17 years to build.", None),  # different units
])
def test_which_figures_disagree(a, b, expected):
    assert differing_figures(a, b) == expected


DOCS = {"ap.txt": AP, "fox.txt": FOX}


def passage(source: str, outlet: str, rank: int) -> Passage:
    text = DOCS[source]
    return Passage(rank=rank, chunk_id=rank, source=source, title=source, outlet=outlet,
                   published=date(2024, 9, 2), start=0, end=len(text.strip()), text=text.strip(),
                   score=1.0 / rank, dense_score=0.5, sparse_score=0.0)


def test_generated_answers_name_disagreeing_outlets_too():
    draft = "The former mayor of Eastbridge was sentenced to 18 months in prison on Tuesday [1]."
    answerer = GenerativeAnswerer(Config(mode="llama-cpp"), BagOfWords(), chat(draft), documents=DOCS)
    comp = answerer.compose("Q?", "Q?", [passage("ap.txt", "AP", 1), passage("fox.txt", "Fox News", 2)])
    [conflict] = comp.conflicts
    assert conflict.sentence == "AP reports 18 months; Fox News reports 17 months [1][2]."
    assert comp.text.endswith(conflict.sentence)
    for c in comp.citations:
        assert DOCS[c.source][c.start:c.end] == c.quote
