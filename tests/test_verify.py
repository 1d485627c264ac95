"""rag.llm.verify as worked examples: markers (rag.markers), sentences, names/numbers (rag.terms),
and the support verdict."""

from __future__ import annotations


import pysbd
import pytest

from rag.llm.verify import (
    SentenceCheck,
    is_abstention,
    missing_terms,
    sentence_spans,
    split_sentences,
    strip_lead_in,
    verifier_judge,
    verify,
)
from rag.markers import find_markers, parse_citations, strip_markers
from rag.terms import name_words, number_values
from tests.checks import BagOfWords

bag_of_words = BagOfWords().embed


PASSAGES = [
    # [1]
    "Putin arrived in Ulaanbaatar on Monday evening. He was greeted by Foreign Minister "
    "Battsetseg Batmunkh and an honor guard.",
    # [2]
    "The International Criminal Court issued an arrest warrant for Putin in March 2023. "
    "The court has no enforcement mechanism.",
    # [3]
    "Mongolia depends on Russia for 95% of its fuel. Protesters gathered in Sukhbaatar Square.",
]


def check(draft: str, **kwargs) -> list[SentenceCheck]:
    return verify(draft, PASSAGES, bag_of_words, **kwargs)


# --- markers --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, numbers", [
    ("Putin arrived [1].", [(1,)]),
    ("Putin arrived [1, 2].", [(1, 2)]),
    ("Putin arrived [1][2].", [(1,), (2,)]),
    ("Putin arrived [ 3 ].", [(3,)]),
    ("Putin arrived [2-4].", [(2, 3, 4)]),
    ("Putin arrived [1; 3].", [(1, 3)]),
    ("Putin arrived (no markers).", []),
    ("A list [a] or [1a] is not a marker.", []),
])
def test_find_markers(text, numbers):
    assert [m.numbers for m in find_markers(text)] == numbers


def test_find_markers_offsets_are_exact():
    text = "Putin arrived [1, 2] and left [3]."
    assert [text[m.start:m.end] for m in find_markers(text)] == ["[1, 2]", "[3]"]


@pytest.mark.parametrize("text, k, valid, invalid", [
    ("a [1]", 3, (1,), ()),
    ("a [3]", 3, (3,), ()),
    ("a [0]", 3, (), (0,)),  # never "the last one"
    ("a [4]", 3, (), (4,)),  # k + 1
    ("a [1][1] b [1]", 3, (1,), ()),  # repeated: listed once
    ("a [2] b [1, 2]", 3, (2, 1), ()),  # order of first appearance
    ("a [1, 0] b [7]", 3, (1,), (0, 7)),
    ("a [1]", 0, (), (1,)),  # no passages: nothing is valid
])
def test_parse_citations_bounds(text, k, valid, invalid):
    assert parse_citations(text, k) == (valid, invalid)


@pytest.mark.parametrize("text, expected", [
    ("Putin arrived [1].", "Putin arrived."),
    ("Putin arrived. [1][2]", "Putin arrived."),
    ("Putin [1] arrived [2] , then left.", "Putin arrived, then left."),
    ("No markers here.", "No markers here."),
])
def test_strip_markers(text, expected):
    assert strip_markers(text) == expected


# --- sentences ------------------------------------------------------------------------------

@pytest.mark.parametrize("draft, expected", [
    ("Putin arrived. [1] He left [2].", ["Putin arrived. [1]", "He left [2]."]),
    ("Putin arrived.[1] He left.[2][3]", ["Putin arrived.[1]", "He left. [2][3]"]),
    ("Mr. Ivanov of the U.N. spoke on Sept. 2 [1]. He left [2].",
     ["Mr. Ivanov of the U.N. spoke on Sept. 2 [1].", "He left [2]."]),
    ("- Putin arrived [1].\n- He left [2].", ["Putin arrived [1].", "He left [2]."]),
    ("1. Putin arrived [1].\n\n2. He left [2].", ["Putin arrived [1].", "He left [2]."]),
    ("[1] Putin arrived.", ["[1] Putin arrived."]),  # a leading marker with nothing before it
    ("", []),
    ("   \n ", []),
])
def test_split_sentences(draft, expected):
    assert split_sentences(draft) == expected


def test_sentence_spans_are_exact_offsets_and_agree_with_pysbd():
    text = "  Hello there.  Mr. Smith went home.\nHe  left on Sept. 2, 2024. "
    spans = sentence_spans(text)
    reference = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(text)
    assert [text[s:e] for s, e in spans] == [r.sent.strip() for r in reference]
    assert [text[s:e] for s, e in spans] == [
        "Hello there.", "Mr. Smith went home.", "He  left on Sept. 2, 2024."]


# --- names, numbers, abstention, lead-ins ----------------------------------------------------

@pytest.mark.parametrize("sentence, names", [
    ("Putin met Khurelsukh in Ulaanbaatar.", ["Putin", "Khurelsukh", "Ulaanbaatar"]),
    ("However, the ICC said nothing.", ["ICC"]),  # a common first word is not a name
    ("President Putin arrived.", ["Putin"]),  # titles are not checked
    ("Protesters gathered in The Hague.", ["Protesters", "Hague"]),
])
def test_name_words(sentence, names):
    assert name_words(sentence) == names


def test_number_values_dates_and_words():
    assert number_values("On Sept. 2, 2024, two of 1,500 protesters [3] left at 10:30.") == [
        "2", "2024", "1500", "10:30", "2"]


@pytest.mark.parametrize("sentence, evidence, missing", [
    ("Putin arrived on Sept. 2.", "Putin arrived on September 2.", []),  # abbreviation
    ("Putin arrived on Sept. 3.", "Putin arrived on September 2.", ["3"]),
    ("Khurelsukh's guests left.", "Khürelsükh welcomed guests.", []),  # diacritics, possessive
    ("The Mongolian leaders met.", "Mongolia's leader met them.", []),  # demonym, plural
    ("Biden met Putin.", "Putin met Xi.", ["Biden"]),
    ("Two visits took place.", "There were 2 visits.", []),  # number words
    ("Three visits took place.", "There were 2 visits.", ["3"]),
    ("The U.N. met.", "The UN met.", []),
])
def test_missing_terms(sentence, evidence, missing):
    assert missing_terms(sentence, evidence) == missing


@pytest.mark.parametrize("sentence, expected", [
    ("The passages do not contain the answer.", True),
    ("The provided text doesn't specify what he ate.", True),
    ("That is not mentioned in the articles.", True),
    ("There is no information about the banquet in the passages.", True),
    ("I don't know.", True),
    ("Mongolia did not arrest Putin [1].", False),
    ("The court does not have any enforcement mechanism [2].", False),
    ("Based on the passage, Putin was not arrested on his state visit [1].", False),
])
def test_is_abstention(sentence, expected):
    assert is_abstention(sentence) is expected


@pytest.mark.parametrize("sentence, expected", [
    ("According to the passages, putin arrived.", "Putin arrived."),
    ("Based on the information provided in the passage, Putin left.", "Putin left."),
    ("The passage from passage 3 states that Putin arrived.", "Putin arrived."),
    ("According to Bloomberg, Mongolia gave assurances.",
     "According to Bloomberg, Mongolia gave assurances."),
    ("The passages say", "The passages say"),  # nothing left after the lead-in: keep it
])
def test_strip_lead_in(sentence, expected):
    assert strip_lead_in(sentence) == expected


# --- the verdict ----------------------------------------------------------------------------

def test_supported_sentence_survives_with_its_evidence():
    [result] = check("Putin arrived in Ulaanbaatar on Monday evening [1].")
    assert result.supported and result.cited == (1,) and result.reasons == ()
    [evidence] = result.evidence
    assert PASSAGES[0][evidence.start:evidence.end] == "Putin arrived in Ulaanbaatar on Monday evening."
    assert evidence.similarity == pytest.approx(1.0)


def test_number_not_in_cited_passage_is_dropped():
    [result] = check("The court issued a warrant for Putin in March 2022 [2].")
    assert not result.supported
    assert result.reasons == ("2022 not found in [2]",)


def test_name_not_in_cited_passage_is_dropped():
    [result] = check("Putin was greeted by Foreign Minister Lavrov and an honor guard [1].")
    assert not result.supported and "Lavrov not found in [1]" in result.reasons


@pytest.mark.parametrize("marker", ["[0]", "[4]", "[1][4]"])
def test_out_of_range_citation_drops_the_sentence(marker):
    # The sentence is true of passage [3] (the last one): [0] must not silently mean it.
    [result] = check(f"Protesters gathered in Sukhbaatar Square {marker}.")
    assert not result.supported
    assert any("which does not exist (the passages are [1]..[3])" in r for r in result.reasons)


def test_sentence_citing_the_wrong_passage_is_dropped():
    [result] = check("Protesters gathered in Sukhbaatar Square [1].")
    assert not result.supported and result.cited == (1,)
    assert any("Sukhbaatar" in r for r in result.reasons)


def test_uncited_sentence_gets_the_best_supporting_passage():
    [result] = check("Protesters gathered in Sukhbaatar Square.")
    assert result.supported and result.cited == (3,)
    assert result.reasons == ("no citation; added [3]",)


def test_uncited_unsupported_sentence_is_dropped():
    [result] = check("Putin ate noodles at the banquet.")
    assert not result.supported and result.cited == ()
    assert result.reasons[0].startswith("no citation and no passage supports it")


def test_unrelated_extra_citation_is_pruned():
    [result] = check("Protesters gathered in Sukhbaatar Square [1][3].")
    assert result.supported and result.cited == (3,)
    assert result.reasons == ("dropped unrelated citation [1]",)


def test_sentence_needing_two_passages_keeps_both():
    [result] = check("Putin, wanted by the court since March 2023, arrived in Ulaanbaatar [1][2].",
                     min_similarity=0.3)
    assert result.supported and result.cited == (1, 2)


def test_repeated_markers_count_once():
    [result] = check("Putin arrived in Ulaanbaatar on Monday evening [1][1] [1].")
    assert result.supported and result.cited == (1,) and len(result.evidence) == 1


def test_similarity_bar_drops_sentences_that_only_share_names():
    [result] = check("Putin left Ulaanbaatar angrily after a quarrel [1].")
    assert not result.supported and "best cosine" in result.reasons[0]


def test_abstention_sentence_is_flagged_not_supported():
    [result] = check("The passages do not say what Putin ate.")
    assert result.abstention and not result.supported


def test_judge_runs_last_and_can_veto():
    calls = []

    def judge(sentence: str, windows) -> str:
        calls.append((sentence, windows))
        return "the judge says no"

    good, bad = check("Putin arrived in Ulaanbaatar on Monday evening [1]. "
                      "Putin arrived on Monday in 2099 [1].", judge=judge)
    # the judge reads the closest sentence of the cited passage alone, then (when it says no
    # to every close sentence) that sentence with its neighbours
    (sentence, [(n, alone)]), (again, [(m, window)]) = calls
    assert sentence == again == "Putin arrived in Ulaanbaatar on Monday evening." and n == m == 1
    assert alone == "Putin arrived in Ulaanbaatar on Monday evening."
    assert alone in window and window in PASSAGES[0] and len(window) > len(alone)
    assert not good.supported and good.reasons[-1] == "the judge says no"
    assert not bad.supported


def test_the_quote_is_the_sentence_the_judge_accepts_not_merely_the_closest():
    passage = ("Kyiv has urged the authorities in Ulaanbaatar to execute the court's warrant. "
               "The Kremlin is unconcerned: Mongolia will not arrest Putin, whatever Kyiv called on Mongolia to do.")
    claim = "Kyiv called on Mongolia to arrest Putin [1]."

    read = []

    def judge(sentence: str, windows) -> str | None:  # accepts only the sentence that says it
        read.extend(text for _, text in windows)
        return None if [text for _, text in windows] == [said] else "no"

    said = passage[:passage.index(" The Kremlin")]
    [result] = verify(claim, [passage], bag_of_words, min_similarity=0.05, judge=judge)
    [e] = result.evidence
    assert result.supported and passage[e.start:e.end].startswith("Kyiv has urged")
    assert read[0].startswith("The Kremlin")  # the closest in cosine, tried first and refused


def test_judge_approval_keeps_sentence():
    [result] = check("Putin arrived in Ulaanbaatar on Monday evening [1].", judge=lambda s, w: None)
    assert result.supported


class FakeVerifier:
    """Says what it is told for each (evidence, claim) pair; supported by default."""

    threshold = 0.5

    def __init__(self, labels):
        self.labels = labels

    def verdicts(self, pairs):
        from rag.verifier import Verdict
        out = []
        for evidence, claim in pairs:
            label = self.labels.get(claim, "supported")
            p = {"supported": (0.9, 0.05, 0.05), "refuted": (0.1, 0.8, 0.1), "not enough info": (0.2, 0.1, 0.7)}[label]
            out.append(Verdict(label, *p))
        return out


@pytest.mark.parametrize("label, reason", [
    ("refuted", "the verifier finds it contradicted by [1] (P(refuted) 0.80)"),
    ("not enough info", "the verifier finds no support in [1] (P(supported) 0.20 < 0.50)")])
def test_the_verifier_as_judge_says_why_it_drops_a_sentence(label, reason):
    claim = "Putin arrived in Ulaanbaatar on Monday evening."
    judge = verifier_judge(FakeVerifier({claim: label}))
    [result] = check(claim[:-1] + " [1].", judge=judge)
    assert not result.supported and result.reasons[-1] == reason
    [result] = check(claim[:-1] + " [1].", judge=verifier_judge(FakeVerifier({})))
    assert result.supported


def test_empty_draft_and_bad_threshold():
    assert check("") == []
    with pytest.raises(ValueError, match="min_similarity must be between 0 and 1, got 1.5"):
        check("Putin arrived [1].", min_similarity=1.5)


def test_drafted_text_is_kept_verbatim():
    [result] = check("According to the passages, Putin arrived in Ulaanbaatar on Monday evening. [1]")
    assert result.drafted == "According to the passages, Putin arrived in Ulaanbaatar on Monday evening. [1]"
    assert result.text == "Putin arrived in Ulaanbaatar on Monday evening."


def test_when_only_the_window_says_it_the_quote_is_the_window():
    # the judge accepts no single sentence, only the closest one read with its neighbours:
    # the citation then quotes all of what was read, not one sentence of it
    def judge(sentence: str, windows) -> str | None:
        return None if all(text.count(". ") >= 1 for _, text in windows) else "no"

    [result] = check("Putin arrived in Ulaanbaatar on Monday evening [1].", judge=judge)
    [e] = result.evidence
    assert result.supported and PASSAGES[0][e.start:e.end] == PASSAGES[0]  # both sentences of [1]
