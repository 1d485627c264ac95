"""Worked examples for rag.rewrite: follow-up questions become standalone search queries.

A follow-up (a pronoun, an "and ..."/"what about ..." opening, or three words or fewer)
gets the pronoun replaced by the main name of the previous turn and the previous topic
appended; anything else is searched as asked. ``rag.ask`` reports what it searched for in
``Answer.query``.
"""

from __future__ import annotations

import pytest

import rag
from rag.config import Config
from rag.rewrite import is_follow_up, standalone_query, with_context

PRESIDENT = ("Who is the president of Mongolia?", "Mongolian President Khurelsukh Ukhnaa [1].")


@pytest.mark.parametrize("question, history, expected", [
    # the worked example from the module docstring
    ("When did he meet Putin?", [PRESIDENT],
     "When did Khurelsukh Ukhnaa meet Putin? (president of Mongolia)"),
    # no history, or empty history: unchanged
    ("When did he meet Putin?", [], "When did he meet Putin?"),
    ("When did he meet Putin?", None, "When did he meet Putin?"),
    # not a follow-up: unchanged even with history
    ("Why wasn't Putin arrested in Mongolia?", [PRESIDENT], "Why wasn't Putin arrested in Mongolia?"),
    # a continuation without a pronoun gets the previous topic
    ("What about China?", [PRESIDENT], "What about China? (president of Mongolia)"),
    # possessive pronouns become possessive names
    ("And his party?", [PRESIDENT], "And Khurelsukh Ukhnaa's party? (president of Mongolia)"),
    # very short questions are follow-ups
    ("Where?", [PRESIDENT], "Where? (president of Mongolia)"),
    # only the latest turn supplies the name
    ("When did he meet Putin?", [("Why wasn't Putin arrested?", "The court has no police [1]."), PRESIDENT],
     "When did Khurelsukh Ukhnaa meet Putin? (president of Mongolia)"),
    # whitespace in the question is normalised
    ("  When   did he\nmeet Putin? ", [PRESIDENT],
     "When did Khurelsukh Ukhnaa meet Putin? (president of Mongolia)"),
    # turns with an empty question are ignored
    ("When did she arrive?", [("", "")], "When did she arrive?"),
])
def test_standalone_query(question: str, history, expected: str) -> None:
    assert standalone_query(question, history) == expected


def test_max_turns_zero_switches_rewriting_off() -> None:
    assert standalone_query("When did he meet Putin?", [PRESIDENT], max_turns=0) == "When did he meet Putin?"


@pytest.mark.parametrize("question, history, wrong", [
    ("What did it do?", [("Why wasn't Putin arrested?",
                          "The court has no enforcement mechanism, so members decide whether to "
                          "arrest suspects [1].")], "did The do"),
    ("When did he arrive?", [("Did Vladimir Putin visit Mongolia?", "Yes, the visit happened [1].")],
     "did Yes arrive"),
], ids=["The", "Yes"])
def test_a_sentence_initial_word_is_not_a_name(question: str, history, wrong: str) -> None:
    """'The court has...' once turned 'What did it do?' into 'What did The do?'."""
    assert wrong not in standalone_query(question, history)


def test_a_personal_pronoun_takes_the_person_from_the_previous_question() -> None:
    history = [("Did Vladimir Putin visit Mongolia?", "Yes, the visit happened [1].")]
    assert standalone_query("When did he arrive?", history).startswith("When did Vladimir Putin arrive?")


@pytest.mark.parametrize("question, expected", [
    ("When did he meet Putin?", True),
    ("What did they discuss?", True),
    ("And the pipeline?", True),
    ("What about China?", True),
    ("How about the protests?", True),
    ("Why not?", True),  # three words or fewer
    ("Why wasn't Putin arrested in Mongolia?", False),
    ("How many member states does the ICC have?", False),
    ("Theresa May visited Ulaanbaatar", False),  # 'the' inside a word is not a pronoun
])
def test_is_follow_up(question: str, expected: bool) -> None:
    assert is_follow_up(question) is expected


@pytest.mark.parametrize("question, previous, expected", [
    ("and what was it fought over?", "What was the 1939 battle called?",
     "and what was it fought over? (1939 battle called)"),
    ("Why wasn't Putin arrested in Mongolia?", "What was the 1939 battle called?",
     "Why wasn't Putin arrested in Mongolia?"),
])
def test_with_context(question: str, previous: str, expected: str) -> None:
    assert with_context(question, previous) == expected


# --- through rag.ask -------------------------------------------------------------------------

def test_ask_reports_the_rewritten_query(tiny_config: Config) -> None:
    history = [("Who is Mr. Ivanov?", "Mr. Ivanov is a U.N. adviser [1].")]
    answer = rag.ask("When did he say talks would resume?", history, config=tiny_config)
    assert answer.question == "When did he say talks would resume?"
    assert answer.query != answer.question
    assert "Ivanov" in answer.query and " he " not in answer.query
    assert answer.query == standalone_query(answer.question, history)
    assert any("Sept. 2" in c.quote for c in answer.citations)


def test_ask_without_follow_up_searches_the_question(tiny_config: Config) -> None:
    answer = rag.ask("Where did protesters gather?", [PRESIDENT], config=tiny_config)
    assert answer.query == answer.question == "Where did protesters gather?"


@pytest.mark.parametrize("history", [None, [], [["Who is Mr. Ivanov?", "A U.N. adviser [1]."]]])
def test_history_shapes_are_accepted(tiny_config: Config, history) -> None:
    answer = rag.ask("Where did protesters gather?", history, config=tiny_config)
    assert answer.query == "Where did protesters gather?"


def test_only_the_configured_number_of_turns_is_used(tiny_config: Config) -> None:
    history = [PRESIDENT, ("Where did protesters gather?", "In Sukhbaatar Square [1].")]
    one_turn = rag.ask("When did he meet Putin?", history, config=tiny_config.replace(max_history_turns=1))
    assert one_turn.query == standalone_query("When did he meet Putin?", history, max_turns=1)
    none = rag.ask("When did he meet Putin?", history, config=tiny_config.replace(max_history_turns=0))
    assert none.query == "When did he meet Putin?"
