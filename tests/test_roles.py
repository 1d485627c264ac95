"""The grammar check (``rag.roles``): who did what to whom, read by spaCy's parser, and the
two reversals it reports: participants' roles exchanged, a deed negated. Paraphrases that keep
the relation (the passive voice, a relative clause, a shortened name) are not reversals.
All sentences were written for this test."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.roles import Clash, clash, clashes, figure_verb, read

GREETED = "Foreign Minister Battsetseg Batmunkh greeted Vladimir Putin at the airport."


@pytest.mark.parametrize("claim", [
    "Putin was greeted by Batmunkh at the airport.",  # passive: Batmunkh still does the greeting
    "Batmunkh, who greeted Putin at the airport, is the foreign minister.",  # relative clause
    "Vladimir Putin, greeted by Batmunkh, arrived at the airport.",  # participle clause
    "Batmunkh greeted Putin.",  # shorter names
    GREETED,
])
def test_the_same_relation_said_another_way_is_no_reversal(claim):
    assert clash(GREETED, claim) is None


@pytest.mark.parametrize("claim, pair", [
    ("Putin greeted Batmunkh at the airport.", {"Putin", "Batmunkh"}),
    ("Batmunkh was greeted by Putin at the airport.", {"Batmunkh", "Putin"}),
    ("Putin, who greeted Batmunkh at the airport, is the president.", {"Putin", "Batmunkh"}),
])
def test_exchanging_who_did_it_and_to_whom_is_a_reversal(claim, pair):
    found = clash(GREETED, claim)
    assert found.kind == "exchanged" and {w.split()[-1] for w in found.words} == pair


def test_a_negated_deed_is_a_reversal_both_ways():
    said, denied = "The transport minister resigned on Friday.", "The transport minister has not resigned."
    assert clash(said, denied) == Clash("negated", ("resign", "transport minister"))
    assert clash(denied, said) == Clash("negated", ("resign", "transport minister"))
    assert clash(denied, "The minister did not resign.") is None  # both negated: they agree
    # a negation elsewhere in the sentence is not about the deed
    assert clash(said, "Officials would not say why the transport minister resigned.") is None


def test_a_deed_only_named_or_supposed_is_not_negated():
    # from a generated answer on the seed corpus: one outlet says he will not face detention,
    # the other that the Kremlin dismissed speculation of him facing arrest; no contradiction
    assured = "Mongolia has assured the Kremlin that Putin will not face detention during his visit."
    dismissed = "The Kremlin has dismissed any speculation of Putin facing arrest during the trip."
    assert clash(assured, dismissed) is None and clash(dismissed, assured) is None
    assert clash("The minister resigned.", "Officials asked whether the minister had not resigned.") is None
    assert clash("Mongolia arrested Putin.", "If Mongolia does not arrest Putin, the court will act.") is None


def test_parties_joined_by_and_share_their_role():
    assert clash("Putin and Xi met in Beijing.", "Xi and Putin met in Beijing.") is None


def test_an_attribute_that_moves_to_another_noun_is_an_exchange():
    found = clash("Kremlin spokesman Dmitry Peskov thanked Mongolia.", "Mongolia spokesman Dmitry Peskov thanked the Kremlin.")
    assert found.kind == "exchanged" and {"Kremlin", "Mongolia"} <= set(found.words)


def test_words_of_one_name_are_not_two_parties():
    assert clash("Birmingham is a city in the West Midlands.", "Birmingham City is in the West Midlands.") is None


def test_a_reading_lists_each_participants_roles():
    reading = read("Smith, who met Jones in Paris, said the deal was done.")
    assert {(r.relation, r.predicate) for r in reading.roles["smith"]} == {("subj", "say"), ("subj", "meet")}
    assert {(r.relation, r.predicate) for r in reading.roles["jones"]} == {("obj", "meet")}
    assert {(r.relation, r.predicate) for r in reading.roles["paris"]} == {("prep:in", "meet")}


def test_a_figure_belongs_to_its_verb():
    text = "The court jailed him for 18 months and ordered him to pay £500."
    assert figure_verb(text, text.index("18"), text.index("18") + 9) == "jail"
    assert figure_verb(text, text.index("£"), len(text) - 1) == "pay"
    assert figure_verb(text, 0, 5) is None  # no number there


def test_many_threads_get_the_same_answers_as_one():
    pairs = [(GREETED, "Putin greeted Batmunkh."), (GREETED, "Batmunkh greeted Putin."),
             ("The minister resigned.", "The minister did not resign.")] * 20
    alone = clashes(pairs)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: clash(*p), pairs))
    assert together == alone and [c is not None for c in alone[:3]] == [True, False, True]
