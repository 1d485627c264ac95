"""Worked examples for the extractive answerer (rag.extractive) through ``rag.ask``.

Invariants checked on every answer: each citation's quote is exactly
``load_document(corpus_dir / source).text[start:end]``; each sentence of the answer text
ends with ``[n]`` markers that point at existing citations (never ``[0]``, never past the
end), and every citation is used. Facts two outlets state get both citations.
"""

from __future__ import annotations

import json

import re
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import pipeline
from rag.config import Config
from rag.corpus import load_document
from rag.errors import RagError
from rag.evidence import QuestionProfile, answer_span
from rag.extractive import ExtractiveAnswerer, abstention_text, with_markers
from rag.reader import load_reader
from tests.checks import assert_quotes_verbatim

# An answer sentence: anything, then one or more [n] markers, then optional end punctuation.
ANSWER_SENTENCE = re.compile(r"(?! )(.+?)((?:\[\d+\])+)([.!?]?)(?= |$)")

ANSWERABLE = [
    "Why wasn't Putin arrested?",
    "Why does Mongolia depend on Russia?",
    "How much gas would the pipeline carry?",
    "What is Power of Siberia 2?",
    "When did Mr. Ivanov say talks would resume?",
    "Where did protesters gather?",
]


def answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Split answer text into (sentence, marker numbers); the pieces must cover all of it."""
    pieces = [(m.group(0), [int(n) for n in re.findall(r"\d+", m.group(2))])
              for m in ANSWER_SENTENCE.finditer(text)]
    assert " ".join(p for p, _ in pieces) == text, text
    return pieces


def assert_valid_answer(answer: rag.Answer, config: Config) -> None:
    assert_quotes_verbatim(answer, config.corpus_dir)
    for c in answer.citations:
        doc = load_document(Path(config.corpus_dir) / c.source)
        assert (c.title, c.outlet, c.published) == (doc.title, doc.outlet, doc.published)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    if answer.abstained:
        assert answer.citations == [] and "[" not in answer.text
        return
    used = set()
    for sentence, numbers in answer_sentences(answer.text):
        assert numbers, sentence
        assert all(1 <= n <= len(answer.citations) for n in numbers), (sentence, numbers)
        used.update(numbers)
    assert used == {c.n for c in answer.citations}
    assert len(answer.support_counts) == len(answer_sentences(answer.text))


@pytest.mark.parametrize("question", ANSWERABLE)
def test_answers_keep_the_offset_and_marker_contracts(tiny_config: Config, question: str) -> None:
    answer = rag.ask(question, config=tiny_config)
    assert not answer.abstained
    assert answer.citations
    assert answer.question == question == answer.query
    assert answer.mode == "extractive"
    assert answer.timings["total"] >= 0
    assert_valid_answer(answer, tiny_config)


@pytest.mark.parametrize("question, quote", [
    ("How much gas would the pipeline carry?",
     "The pipeline would carry 50 billion cubic meters of gas a year through Mongolia."),
    ("Where did protesters gather?", "Protesters gathered in Sukhbaatar Square on Monday."),
    ("Why does Mongolia depend on Russia?",
     "Mongolia depends on Russia for fuel and electricity because it has few power plants."),
])
def test_the_answer_quotes_the_right_sentence(tiny_config: Config, question: str, quote: str) -> None:
    answer = rag.ask(question, config=tiny_config)
    assert answer.citations[0].quote == quote
    assert answer.text.startswith(quote[:-1] + " [1]")


def test_a_fact_stated_by_two_outlets_cites_both(tiny_config: Config) -> None:
    answer = rag.ask("Why wasn't Putin arrested?", config=tiny_config)
    assert_valid_answer(answer, tiny_config)
    assert answer.text == ("The court has no enforcement mechanism, so members decide whether to "
                           "arrest suspects [1][2].")
    assert {c.source for c in answer.citations} == {"court.txt", "wire.txt"}
    assert answer.citations[0].quote == answer.citations[1].quote
    assert answer.support_counts == [2]


def test_two_stories_from_one_outlet_count_as_one_source(tiny_config: Config) -> None:
    """"Reported by k sources" counts outlets, so a second story of the same outlet
    is cited but does not make the fact look better corroborated."""
    meta = Path(tiny_config.corpus_dir) / "wire.txt.meta.json"
    court_outlet = json.loads((Path(tiny_config.corpus_dir) / "court.txt.meta.json").read_text())["outlet"]
    meta.write_text(json.dumps({"outlet": court_outlet}))  # wire.txt had no metadata
    answer = rag.ask("Why wasn't Putin arrested?", config=tiny_config)
    assert {c.source for c in answer.citations} == {"court.txt", "wire.txt"}
    assert {c.outlet for c in answer.citations} == {court_outlet}
    assert answer.support_counts == [1]


def test_junk_is_never_cited(tiny_config: Config) -> None:
    answer = rag.ask("Will your email address be published?", config=tiny_config)
    assert not any("email" in c.quote for c in answer.citations)


@pytest.mark.parametrize("question", [
    "What did the chef cook at the banquet?",
    "Who won the football match?",
])
def test_question_outside_the_corpus_abstains(tiny_config: Config, question: str) -> None:
    answer = rag.ask(question, config=tiny_config)
    assert answer.abstained
    assert answer.citations == []
    assert answer.passages  # the nearest passages are still shown
    assert answer.text == abstention_text(3)
    assert_valid_answer(answer, tiny_config)


def test_shown_passages_hold_every_cited_quote(tiny_config: Config) -> None:
    answer = rag.ask("Why wasn't Putin arrested?", config=tiny_config.replace(top_k=1))
    for c in answer.citations:
        assert any(p.source == c.source and p.start <= c.start and c.end <= p.end for p in answer.passages)
    assert [p.rank for p in answer.passages] == sorted(p.rank for p in answer.passages)


def test_streaming_tokens_rebuild_the_answer(tiny_config: Config) -> None:
    tokens: list[str] = []
    answer = rag.ask("Where did protesters gather?", config=tiny_config, on_token=tokens.append)
    assert "".join(tokens).strip() == answer.text


def test_answers_are_deterministic(tiny_config: Config) -> None:
    first = rag.ask("Why wasn't Putin arrested?", config=tiny_config)
    second = rag.ask("Why wasn't Putin arrested?", config=tiny_config)
    assert (first.text, first.citations, first.passages) == (second.text, second.citations, second.passages)


def test_max_answer_sentences_caps_the_answer(tiny_config: Config) -> None:
    answer = rag.ask("Why wasn't Putin arrested?", config=tiny_config.replace(max_answer_sentences=1))
    assert len(answer_sentences(answer.text)) == 1


def test_max_answer_sentences_caps_a_compound_question(tiny_config: Config) -> None:
    answer = rag.ask("Why does Mongolia depend on Russia and why is nobody arrested?",
                     config=tiny_config.replace(max_answer_sentences=1))
    assert_valid_answer(answer, tiny_config)
    assert len(answer_sentences(answer.text)) <= 1


def test_compound_question_keeps_the_contracts(tiny_config: Config) -> None:
    answer = rag.ask("Why does Mongolia depend on Russia and why is nobody arrested?", config=tiny_config)
    assert_valid_answer(answer, tiny_config)
    assert not answer.abstained


def test_empty_corpus_abstains_or_raises_a_rag_error(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    config = Config(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model="hash")
    try:
        answer = rag.ask("Why wasn't Putin arrested?", config=config)
    except RagError:
        return
    assert answer.abstained and answer.citations == []


@pytest.mark.parametrize("sentence, suffix, expected", [
    ("Putin arrived.", " [1]", "Putin arrived [1]."),
    ("Is it over?", " [2]", "Is it over [2]?"),
    ("What a day!", " [3]", "What a day [3]!"),
    ('He said "no."', " [2]", 'He said "no." [2]'),
    ("He said \u201cno.\u201d", " [1]", "He said \u201cno.\u201d [1]"),
    ("Wait...", " [1]", "Wait... [1]"),
    ("No final punctuation", " [1]", "No final punctuation [1]"),
    ("Wrapped\nline.", " [1]", "Wrapped line [1]."),
    ("  spaced   out.  ", " [1][2]", "spaced out [1][2]."),
    ("Putin arrived.", " (reported by 2 of 3 sources) [1][2]",
     "Putin arrived (reported by 2 of 3 sources) [1][2]."),
])
def test_with_markers(sentence: str, suffix: str, expected: str) -> None:
    assert with_markers(sentence, suffix) == expected


@pytest.mark.parametrize("text, expected", [
    ("Putin arrived [1].", [("Putin arrived [1].", [1])]),
    ("A [1][2]. B [3]?", [("A [1][2].", [1, 2]), ("B [3]?", [3])]),
    ('He said "no." [2]', [('He said "no." [2]', [2])]),
])
def test_answer_sentence_splitter(text: str, expected) -> None:
    """The helper these tests rely on, checked on its own."""
    assert answer_sentences(text) == expected


@pytest.mark.parametrize("text", ["Putin arrived.", "Putin arrived [1]. Then left."])
def test_answer_sentence_splitter_rejects_unmarked_sentences(text: str) -> None:
    with pytest.raises(AssertionError):
        answer_sentences(text)



QUOTE = "Protesters gathered in Sukhbaatar Square on Monday."


def forged(config: Config, text: str, n_citations: int = 1, shift: int = 0) -> rag.Answer:
    """An answer quoting wire.txt, optionally broken: extra citations, shifted offsets."""
    doc = load_document(Path(config.corpus_dir) / "wire.txt")
    start = doc.text.index(QUOTE) + shift
    citations = [rag.Citation(n=i, source="wire.txt", title=doc.title, quote=QUOTE, start=start,
                              end=start + len(QUOTE)) for i in range(1, n_citations + 1)]
    return rag.Answer(question="q", text=text, citations=citations, abstained=False, query="q",
                      passages=[], timings={}, support_counts=[1] * text.count("]."))


@pytest.mark.parametrize("text, n_citations, shift", [
    ("Protesters gathered [0].", 1, 0),  # [0] would silently mean the last citation in Python
    ("Protesters gathered [2].", 1, 0),  # past the end
    ("Protesters gathered [1]. Then they left.", 1, 0),  # a sentence without a marker
    ("Protesters gathered [1].", 2, 0),  # citation [2] never used
    ("Protesters gathered [1].", 1, 1),  # quote not at its offsets
], ids=["[0]", "[k+1]", "unmarked", "unused", "offsets"])
def test_the_checker_rejects_broken_answers(tiny_config: Config, text: str, n_citations: int,
                                            shift: int) -> None:
    """The invariant checker used above, on answers forged to break one rule each."""
    assert_valid_answer(forged(tiny_config, "Protesters gathered [1]."), tiny_config)  # unbroken
    with pytest.raises(AssertionError):
        assert_valid_answer(forged(tiny_config, text, n_citations, shift), tiny_config)


# --- the reader's part: abstention, the reader switched off -------------------------------

class KeywordReader:
    """A stand-in SentenceReader: probability ``hit`` (0.9) for sentences holding ``word``,
    else 0.1; under 0.5 the question is refused, under ``confident`` (0.7) the answer is
    tentative."""

    threshold = 0.5
    confident = 0.7

    def __init__(self, word: str, hit: float = 0.9) -> None:
        self.word = word
        self.hit = hit
        self.seen = []

    def score(self, question, candidates):
        self.seen.extend(candidates)
        return np.array([self.hit if self.word in c.text else 0.1 for c in candidates])


def answer_with(reader, question: str, config: Config) -> rag.Answer:
    state = pipeline.retrieve(pipeline.rewrite(pipeline.start(question, [], config)))
    answerer = ExtractiveAnswerer(state.snapshot.data, state.embedder, config, state.snapshot.stats, reader=reader)
    comp = answerer.compose(state.question, state.query, list(state.passages))
    return rag.Answer(question=question, text=comp.text, citations=comp.citations, abstained=comp.abstained,
                      query=state.query, passages=[], timings={}, support_counts=comp.support_counts,
                      confidence=comp.confidence, tentative=comp.tentative)


def test_the_reader_reads_each_candidate_with_its_neighbours_and_article(tiny_config: Config) -> None:
    reader = KeywordReader("Sukhbaatar")
    answer = answer_with(reader, "Where did protesters gather?", tiny_config)
    assert answer.citations[0].quote == "Protesters gathered in Sukhbaatar Square on Monday."
    (seen,) = [c for c in reader.seen if c.text.startswith("Protesters")]
    assert seen.previous.startswith("The court has no enforcement") and seen.following == ""
    assert "sukhbaatar" in seen.sentence_terms and "enforc" in seen.window_terms
    assert seen.article_terms >= seen.window_terms  # wire.txt: both of its sentences


def test_the_reader_vetoes_but_does_not_reorder(tiny_config: Config) -> None:
    """A reader that likes another sentence neither moves it ahead of the prior's best nor
    blocks the answer: it only decides whether *some* candidate answers."""
    baseline = answer_with(KeywordReader("no sentence has this"), "Where did protesters gather?",
                           tiny_config.replace(min_answer_prob=0.0))
    liked = answer_with(KeywordReader("pipeline"), "Where did protesters gather?", tiny_config)
    assert not liked.abstained
    assert liked.citations[0].quote == baseline.citations[0].quote


def test_no_sentence_over_the_threshold_means_abstain(tiny_config: Config) -> None:
    answer = answer_with(KeywordReader("no sentence has this"), "Where did protesters gather?", tiny_config)
    assert answer.abstained and answer.citations == []
    assert answer_with(KeywordReader("no sentence has this"), "Where did protesters gather?",
                       tiny_config.replace(min_answer_prob=0.05)).abstained is False


def test_with_the_reader_off_the_evidence_prior_answers(tiny_config: Config) -> None:
    answer = rag.ask("Where did protesters gather?", config=tiny_config.replace(reader="off"))
    assert answer.citations[0].quote == "Protesters gathered in Sukhbaatar Square on Monday."
    assert (answer.confidence, answer.tentative) == (None, False)  # no reader, no confidence


def test_a_weak_best_probability_answers_with_the_tentative_warning(tiny_config: Config) -> None:
    """Between the reader's two thresholds (refuse under 0.5, confident from 0.7) the answer
    is given, with its quotes, but marked tentative; Config.min_confident_prob moves the bar."""
    question = "Where did protesters gather?"
    sure = answer_with(KeywordReader("Sukhbaatar", hit=0.9), question, tiny_config)
    assert (sure.abstained, sure.tentative, sure.confidence) == (False, False, pytest.approx(0.9))
    weak = answer_with(KeywordReader("Sukhbaatar", hit=0.6), question, tiny_config)
    assert (weak.abstained, weak.tentative, weak.confidence) == (False, True, pytest.approx(0.6))
    assert weak.text == sure.text  # the same answer, told differently
    lowered = answer_with(KeywordReader("Sukhbaatar", hit=0.6), question, tiny_config.replace(min_confident_prob=0.55))
    assert lowered.tentative is False
    refused = answer_with(KeywordReader("Sukhbaatar", hit=0.4), question, tiny_config)
    assert refused.abstained and refused.tentative is False


def test_the_shipped_reader_is_confident_above_its_refusal_threshold() -> None:
    """Both thresholds come with the model, chosen on its calib folds (MODEL_CARD.md): refuse
    under the 5%-false-abstention one, mark tentative under the balanced one."""
    reader = load_reader()
    card = json.loads((reader.model_dir / "metrics.json").read_text(encoding="utf-8"))["metrics"]["thresholds"]
    assert reader.threshold == card["false_abstention_le_0.05"]["threshold"]
    assert reader.confident == card["balanced"]["threshold"] > reader.threshold


@pytest.mark.parametrize("question, phrase", [
    ("How much gas would the pipeline carry?", "50 billion"),
    ("Where did protesters gather?", "Sukhbaatar Square"),
])
def test_the_asked_for_phrase_is_marked_inside_the_quote(tiny_config: Config, question: str, phrase: str) -> None:
    c = rag.ask(question, config=tiny_config.replace(reader="off")).citations[0]
    assert c.start <= c.answer_start < c.answer_end <= c.end
    assert load_document(Path(tiny_config.corpus_dir) / c.source).text[c.answer_start:c.answer_end] == phrase
    assert c.quote_parts()[1] == phrase


@pytest.mark.parametrize("qtype, text, expected", [
    ("who", "The report was written by Maria Lopez of the council.", "Maria Lopez"),
    ("when", "Talks resume on Sept. 2, 2024 in the capital.", "Sept. 2, 2024"),
    ("how-many", "About 45,000 people attended.", "45,000"),
    ("where", "Police met the protesters in Sukhbaatar Square.", "Sukhbaatar Square"),  # not the first word
    ("who", '"There is no risk," Markov said.', "Markov"),  # nor the first word after a quote mark
    ("why", "Because it rained.", None),
])
def test_answer_span_by_question_type(qtype: str, text: str, expected: str | None) -> None:
    prof = QuestionProfile(qtype, ("report",), (1.0,), (), 1.0)
    span = answer_span(prof, text)
    assert (text[span[0]:span[1]] if span else None) == expected


def test_a_reader_trained_on_another_embedder_is_not_used(tiny_config: Config, caplog) -> None:
    """The shipped reader's signals come from all-MiniLM-L6-v2 vectors; over an index built
    with another embedder (here the fake hash embedder) it would read noise, so the evidence
    prior answers alone and a warning says why."""
    from rag.reader import _warn_mismatch, load_reader, reader_for

    _warn_mismatch.cache_clear()
    config = tiny_config.replace(reader="shipped")
    answer = rag.ask("When did Mr. Ivanov say talks would resume?", config=config)
    assert not answer.abstained
    assert_valid_answer(answer, tiny_config)
    assert "another embedder" in caplog.text
    shipped = load_reader()
    assert reader_for("shipped", shipped.embedder_fingerprint).model_dir == shipped.model_dir
    assert reader_for("off", shipped.embedder_fingerprint) is None


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True])
@pytest.mark.parametrize("name", ["min_answer_prob", "min_confident_prob"])
def test_reader_thresholds_are_validated(name: str, value) -> None:
    with pytest.raises(rag.ConfigError, match=name):
        Config(**{name: value})
