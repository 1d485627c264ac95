"""Worked examples for expected-answer typing (rag.answer_types) and the abstention it drives.

A question that asks for an amount of money is not answered by a year or a head count, and
an amount in another story is not the answer either: both make ``rag.ask`` abstain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rag
from rag import Config
from rag.answer_types import expected_type, number_phrases, typed_spans
from rag.extractive import outlet_terms
from rag.terms import question_type
from tests.conftest import write_corpus


@pytest.mark.parametrize("question, kinds", [
    ("How much did the library pay for the codex?", {"money"}),
    ("How much money did the appeal raise?", {"money"}),
    ("How much did the price of oil rise?", {"money", "percent"}),
    ("How much gas would the pipeline carry?", {"money", "count", "duration", "measure", "percent"}),
    ("How many strokes of the cane were they given?", {"count"}),
    ("How many years did he serve?", {"duration"}),
    ("How many of the students passed?", {"count", "percent"}),
    ("How long did the talks last?", {"duration", "measure"}),
    ("How old was the runner?", {"age", "duration", "count"}),
    ("How tall is the tower?", {"measure"}),
    ("What share of the vote did she win?", {"percent"}),
    ("What is the asking price for the power station?", {"money"}),
    ("At what price was the station sold?", {"money"}),
    ("What was the score of the game?", {"score"}),
])
def test_the_kind_of_number_a_question_asks_for(question: str, kinds: set[str]) -> None:
    assert expected_type(question).kinds == kinds


@pytest.mark.parametrize("question", [
    "Who sings How Deep Is Your Love?",  # a title, not the question's own "how"
    "What did the minister say about the cost of living?",
    "Why was the price cut?",
    "Where did protesters gather?",
])
def test_questions_that_ask_for_no_number(question: str) -> None:
    assert expected_type(question) is None


@pytest.mark.parametrize("text, expected", [
    ("It has housed the codex since 1984.", [("1984", {"year", "duration"})]),
    ("Jeptoo, 33, says she was prescribed it.", [("33", {"age"})]),
    ("The 33-year-old won twice.", [("33", {"age"}), ("twice", {"count"})]),
    ("It paid £1.1m, or $2bn in 2012.", [("£1.1m", {"money"}), ("$2bn", {"money"}), ("2012", {"year"})]),
    ("About 80,000 works of art went on sale.", [("80,000", {"count"})]),
    ("Turnout was 39% after a 30-minute delay.", [("39", {"percent"}), ("30", {"duration"})]),
    ("The estates cover 113.73 acres.", [("113.73", {"measure"})]),
    ("They won 2-1 on Sunday.", [("2-1", {"score"})]),
    ("Turnout at the 2012 elections was low.", [("2012", {"year"})]),
    ("It was occupied from 4 August 1915.", [("4", {"date", "duration"}), ("1915", {"date", "duration"})]),
    ("Nearly 2000 people came.", [("2000", {"count"})]),
])
def test_each_number_phrase_and_what_it_measures(text: str, expected) -> None:
    assert [(s.text, set(s.kinds)) for s in number_phrases(text)] == expected


def test_every_typed_span_slices_back_to_its_text() -> None:
    text = "The council paid £14m in 2012 for a pier that is 910 feet long, 20% more than planned."
    for span in number_phrases(text):
        assert text[span.start:span.end] == span.text


def test_how_many_counts_the_asked_noun_even_when_it_is_a_unit() -> None:
    asks = expected_type("How many acres does the estate cover?")
    assert [s.text for s in typed_spans(asks, "The estate covers 113.73 acres, bought in 1999.")] == ["113.73"]


def test_the_question_type_is_the_first_question_word() -> None:
    assert question_type("Where were the two men who painted the train arrested?") == "where"
    assert question_type("Who met the men where the train stood?") == "who"


def test_outlet_initials_name_the_outlet() -> None:
    assert {"ap", "associ", "press"} <= outlet_terms("The Associated Press")
    assert outlet_terms("") == frozenset()


STORIES = {
    "codex.txt": (
        "Cambridge University Library has bought the Codex Zacynthius from the Bible Society.\n\n"
        "The library has housed the Codex Zacynthius since 1984.\n\n"
        "About 80,000 people have seen the codex on display.\n"
    ),
    "pier.txt": (
        "Hastings Pier reopened on Saturday after a long rebuild.\n\n"
        "The council paid £14m to rebuild Hastings Pier with money raised by a lottery fund.\n"
    ),
}


@pytest.fixture
def stories(tmp_path: Path) -> Config:
    corpus = write_corpus(tmp_path / "corpus", STORIES)
    return Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", stale_check_seconds=0.0)


def test_a_money_question_is_not_answered_by_a_year_a_count_or_another_story(stories: Config) -> None:
    answer = rag.ask("How much did Cambridge University Library pay for the Codex Zacynthius?", config=stories)
    assert answer.abstained, answer.text


def test_a_money_question_is_answered_by_the_amount_in_its_story(stories: Config) -> None:
    answer = rag.ask("How much did the council pay to rebuild Hastings Pier?", config=stories)
    assert not answer.abstained
    first = answer.citations[0]
    assert first.source == "pier.txt"
    assert first.quote[first.answer_start - first.start:first.answer_end - first.start] == "£14m"


RESORTS = {
    "resorts.txt": (
        "CairnGorm Mountain opened its slopes in late November.\n\n"
        "Its funicular railway was repaired over the summer.\n\n"
        "Across Scotland, ski centres had a record season.\n\n"
        "The country's five resorts attracted 373,782 customers since November.\n"
    ),
}


VISITOR_CENTRE = {
    "codex.txt": (
        "Cambridge University Library bought the Codex Zacynthius from the Bible Society.\n\n"
        "The society, based in Swindon, will open a visitor centre that will cost £1m in North Wales.\n"
    ),
}


@pytest.mark.parametrize("story, unanswered, answered, phrase", [
    # The story names CairnGorm and has a head count, but the count's sentence and its
    # neighbours speak of all five resorts: not how many CairnGorm had (the scope rule).
    (RESORTS, "How many customers did CairnGorm Mountain attract this season?",
     "How many customers did Scotland's resorts attract this season?", "373,782"),
    # The story names the library and the codex, and its next sentence holds an amount, but no
    # word of the question stands within four words of "£1m": not the price paid (nearness).
    (VISITOR_CENTRE, "How much did Cambridge University Library pay for the Codex Zacynthius?",
     "How much will the Bible Society's visitor centre cost?", "£1m"),
])
def test_a_figure_about_something_else_in_the_story_is_not_the_answer(tmp_path: Path, story: dict,
                                                                      unanswered: str, answered: str,
                                                                      phrase: str) -> None:
    config = Config(corpus_dir=write_corpus(tmp_path / "corpus", story), index_dir=tmp_path / "index",
                    model="hash", stale_check_seconds=0.0)
    answer = rag.ask(unanswered, config=config)
    assert answer.abstained, answer.text
    answer = rag.ask(answered, config=config)
    assert not answer.abstained and phrase in answer.text


def test_the_measuring_command_counts_kept_and_rejected_sentences() -> None:
    from train.answer_types import measure, table
    from train.items import QAItem

    paragraph = "The library bought the codex in 1984. It paid £1.1m for it. About 80,000 people saw it."
    items = [
        QAItem("squad", 0, "How much did the library pay for the codex?", paragraph, "£1.1m", "test"),
        QAItem("squad", 1, "How many people saw the codex?", paragraph, "80,000", "test"),
        QAItem("squad", 2, "Who bought the codex?", paragraph, "The library", "test"),  # not a number question
        QAItem("squad", 3, "How much did it cost?", paragraph, None, "test"),  # unanswerable: not counted
    ]
    counts = measure(items)
    money, everything = counts[("squad_test", "money")], counts[("squad_test", "all")]
    assert money["answer sentence kept"] == [1, 1]
    assert money["other number sentences rejected"] == [2, 2]  # the year and the head count
    assert everything["answer sentence kept"] == [2, 2]
    assert everything["other number sentences rejected"] == [4, 4]  # a year and an amount are not a head count
    assert "| squad_test | all | 2 |" in table(counts)


def test_the_measuring_command_counts_the_scope_rule() -> None:
    from train.answer_types import measure

    paragraph = ("Glenmore Lodge opened in 1948. It trains 5,000 climbers a year. Mountain huts in "
                 "Norway trained 12,000 skiers. Many come back.")
    items = [squad_test_item("How many climbers does Glenmore Lodge train a year?", paragraph, "5,000")]
    rates = measure(items)[("squad_test", "all")]
    assert rates["kept, name in window"] == [1, 1]  # "It trains 5,000" follows "Glenmore Lodge opened"
    assert rates["same kind elsewhere: rejected"] == [1, 1]  # Norway's skiers: no Glenmore nearby
    assert rates["kept, beside a key term"] == [1, 1]  # "trains 5,000 climbers"
    assert rates["same kind, not beside: rejected"] == [0, 1]  # "12,000 skiers" is beside "trained"


def squad_test_item(question: str, paragraph: str, answer: str):
    """One SQuAD test-fold item (train.items.QAItem)."""
    from train.items import QAItem

    return QAItem("squad", 0, question, paragraph, answer, "test")
