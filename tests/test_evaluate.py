"""Worked examples for rag.eval (questions, metrics, run, report), with a fake ask() (no
model, no index), plus checks that the shipped question sets are well-formed and their gold
answers are real article text."""

from __future__ import annotations

import argparse
import io
import json
import math
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from rag.eval import metrics as em
from rag.eval import questions as eq
from rag.eval import run as ev
from rag.eval import report
from rag.config import PROJECT_ROOT, Config
from rag.errors import ConfigError, RagError
from rag.types import Answer, Citation, Passage, Unsupported

DATA = PROJECT_ROOT / "tests" / "data"
CORPUS = PROJECT_ROOT / "corpus"

# --- a tiny corpus and hand-made answers --------------------------------------------------

ALPHA = "Putin met Ukhnaagiin Khürelsükh on Tuesday.\r\nThe talks were in Ulaanbaatar.\n"
BETA = "\ufeffThe ICC issued the warrant in March 2023.\nMongolia is a member of the ICC.\n"


def passage(source: str, rank: int = 1, text: str = "", also_in: tuple[str, ...] = ()) -> Passage:
    return Passage(rank=rank, chunk_id=rank, source=source, title=source, outlet=None,
                   published=None, start=0, end=len(text), text=text, score=1.0 / rank,
                   dense_score=0.5, sparse_score=0.0, also_in=also_in)


def cite(n: int, source: str, text: str, quote: str, shift: int = 0) -> Citation:
    """A citation of ``quote`` in ``text``; ``shift`` moves the offsets to make it wrong."""
    start = text.index(quote) + shift
    return Citation(n=n, source=source, title=source, quote=quote, start=start,
                    end=start + len(quote))


def answer(text: str, *, citations=(), passages=(), abstained=False, timings=None,
           drafted=0, unsupported=()) -> Answer:
    return Answer(question="q", text=text, citations=list(citations), abstained=abstained,
                  query="q", passages=list(passages),
                  timings=timings or {"retrieve": 0.010, "total": 0.020},
                  drafted=drafted, unsupported=list(unsupported))


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items),
                    encoding="utf-8")
    return path


def item(id: str, question: str, **fields) -> dict:
    base = {"id": id, "question": question, "history": [], "answerable": True, "answer": "",
            "alternatives": [], "patterns": [], "sources": [], "type": "fact"}
    base.update(fields)
    return base


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    # bytes, not text: keep the \r\n and the BOM exactly as the loader would see them
    (folder / "alpha.txt").write_bytes(ALPHA.encode("utf-8"))
    (folder / "beta.txt").write_bytes(BETA.encode("utf-8"))
    return folder


@pytest.fixture
def config(corpus: Path, tmp_path: Path) -> Config:
    return Config(corpus_dir=corpus, index_dir=tmp_path / "index")


ITEMS = [
    item("who-1", "Who did Putin meet?", answer="Ukhnaa Khurelsukh", patterns=["kh[uü]rels[uü]kh"],
         sources=["alpha.txt"], type="who"),
    item("when-1", "When was the warrant issued?", answer="March 2023", sources=["beta.txt"],
         type="when"),
    item("fu-1", "Where were the talks?", answer="Ulaanbaatar", sources=["alpha.txt"],
         history=[["Who did Putin meet?", "Khurelsukh [1]."]], type="follow-up"),
    item("un-1", "What did they eat?", answerable=False, type="unanswerable"),
    item("un-2", "How long did the talks last?", answerable=False, type="unanswerable"),
]


def fake_ask(question: str, history, *, config: Config) -> Answer:
    """Right on who-1 (diacritics), wrong on when-1, abstains on fu-1 and un-1, answers un-2."""
    beta = BETA.lstrip("\ufeff")
    if question == "Who did Putin meet?":
        return answer("Putin met Ukhnaagiin Khürelsükh [1].",
                      citations=[cite(1, "alpha.txt", ALPHA, "Putin met Ukhnaagiin Khürelsükh")],
                      passages=[passage("alpha.txt", 1, ALPHA), passage("beta.txt", 2, beta)],
                      timings={"retrieve": 0.010, "total": 0.030})
    if question == "When was the warrant issued?":
        return answer("Mongolia is a member of the ICC [1].",
                      citations=[cite(1, "beta.txt", beta, "Mongolia is a member", shift=1)],
                      passages=[passage("alpha.txt", 1, ALPHA), passage("beta.txt", 2, beta)],
                      timings={"retrieve": 0.020, "total": 0.050})
    if question == "Where were the talks?":
        assert history == [("Who did Putin meet?", "Khurelsukh [1].")]
        return answer("I could not find this in the articles.", abstained=True,
                      passages=[passage("beta.txt", 1, beta)])
    if question == "What did they eat?":
        return answer("I could not find this in the articles.", abstained=True)
    return answer("The talks were in Ulaanbaatar [1].",
                  citations=[cite(1, "alpha.txt", ALPHA, "The talks were in Ulaanbaatar.")],
                  passages=[passage("alpha.txt", 1, ALPHA)])


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "questions.jsonl", ITEMS)


@pytest.fixture
def run(questions: Path, config: Config) -> ev.EvalRun:
    return ev.evaluate(questions, config=config, k=1, ask=fake_ask, progress=False)


# --- answer matching ---------------------------------------------------------------------

@pytest.mark.parametrize("text, gold, alternatives, patterns, expected", [
    ("He met Ukhnaagiin Khürelsükh [1].", "Khurelsukh", [], [], True),  # diacritics folded
    ("He met Khurelsukh.", "Khürelsükh", [], [], True),  # in both directions
    ("He met KHURELSUKH.", "khurelsukh", [], [], True),  # case
    ("Peskov said “no worries”.", 'said "no worries"', [], [], True),  # curly quotes
    ("In March\n  2023 [2].", "March 2023", [], [], True),  # whitespace, markers
    ("Khalkhin [1] Gol", "Khalkhin Gol", [], [], True),  # marker inside the span
    ("He met the foreign minister.", "Khurelsukh", [], [], False),
    ("He met Ukhnaa.", "Khurelsukh", ["Ukhnaa"], [], True),  # an alternative
    ("Talks with Khürelsükh.", "", [], [r"kh[uü]rels[uü]kh"], True),  # pattern on raw text
    ("Talks with Khürelsükh.", "", [], [r"khurelsukh"], True),  # pattern on folded text
    ("war criminal ... fugitive", "", [], [r"(?=.*fugitive)(?=.*war criminal)"], True),
    ("war criminal only", "", [], [r"(?=.*fugitive)(?=.*war criminal)"], False),
])
def test_matches_gold(text, gold, alternatives, patterns, expected):
    assert em.matches_gold(text, gold, alternatives, patterns) is expected


def test_normalize_worked_example():
    assert em.normalize("Ukhnaagiin  Khürelsükh’s") == "ukhnaagiin khurelsukh's"


# --- retrieval metrics -------------------------------------------------------------------

def test_source_ranks_counts_also_in_at_the_same_rank():
    passages = [passage("a"), passage("b", 2, also_in=("c",)), passage("a", 3),
                passage("a", 4, also_in=("e",)), passage("d", 5)]
    assert em.source_ranks(passages) == {"a": 1, "b": 2, "c": 2, "e": 3, "d": 4}


def test_recall_at_k():
    ranks = {"a": 1, "b": 3}
    assert em.recall_at_k(ranks, {"a", "b"}, k=2) == 0.5
    assert em.recall_at_k(ranks, {"a", "b"}, k=3) == 1.0
    assert em.recall_at_k(ranks, {"z"}, k=10) == 0.0


def test_reciprocal_rank():
    assert em.reciprocal_rank({"a": 1, "b": 3}, {"b"}) == pytest.approx(1 / 3)
    assert em.reciprocal_rank({"a": 1, "b": 3}, {"a", "b"}) == 1.0
    assert em.reciprocal_rank({"a": 1}, {"z"}) == 0.0


def test_ndcg_one_relevant_found_at_rank_two():
    assert em.ndcg_at_k({"x": 1, "a": 2}, {"a"}) == pytest.approx(1 / math.log2(3))


def test_ndcg_ideal_counts_min_of_relevant_and_cutoff():
    # two relevant found at ranks 1 and 3: DCG = 1 + 1/log2(4); ideal = 1 + 1/log2(3)
    got = em.ndcg_at_k({"a": 1, "x": 2, "b": 3}, {"a", "b"}, k=10)
    assert got == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # three relevant but cutoff 2: the ideal holds only 2 items, so ranks 1 and 2 are perfect
    assert em.ndcg_at_k({"a": 1, "b": 2}, {"a", "b", "c"}, k=2) == pytest.approx(1.0)
    # a relevant source beyond the cutoff earns nothing
    assert em.ndcg_at_k({"x": 1, "a": 11}, {"a"}, k=10) == 0.0


def test_ndcg_ties_from_also_in_are_capped_at_one():
    assert em.ndcg_at_k({"a": 1, "b": 1}, {"a", "b"}) == 1.0


def test_metric_functions_refuse_empty_relevant_sets():
    with pytest.raises(ValueError, match="at least one source"):
        em.recall_at_k({"a": 1}, set(), k=5)


def test_percentile_and_survival_rate():
    assert em.percentile([10, 20, 30, 40], 50) == 25.0
    assert em.percentile([], 95) is None
    assert em.survival_rate([(4, 1), (2, 0), (0, 0)]) == pytest.approx(5 / 6)
    assert em.survival_rate([(0, 0)]) is None


# --- citations ---------------------------------------------------------------------------

def test_read_source_text_keeps_crlf_and_drops_bom(corpus: Path):
    assert ev.read_source_text(corpus / "alpha.txt") == ALPHA  # "\r\n" not translated
    assert ev.read_source_text(corpus / "beta.txt") == BETA.lstrip("\ufeff")


def test_citation_is_verbatim_checks_offsets():
    good = cite(1, "alpha.txt", ALPHA, "The talks were in Ulaanbaatar.")
    assert em.citation_is_verbatim(good, ALPHA)
    assert not em.citation_is_verbatim(cite(1, "alpha.txt", ALPHA, "The talks", shift=1), ALPHA)
    # offsets past the end never count, even if slicing would quietly return ""
    empty = Citation(n=1, source="alpha.txt", title="", quote="", start=500, end=500)
    assert not em.citation_is_verbatim(empty, ALPHA)


def test_citation_into_html_is_checked_against_passages():
    html_passage = passage("page.html", 1, "Putin landed late on Monday.")
    quote = Citation(n=1, source="page.html", title="", quote="landed late", start=0, end=11)
    assert em.citation_is_verbatim(quote, None, [html_passage])
    other = Citation(n=1, source="page.html", title="", quote="landed early", start=0, end=12)
    assert not em.citation_is_verbatim(other, None, [html_passage])


# --- loading and validating question sets -------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("not json", r"line 2: not valid JSON"),
    ('["a list"]', r"line 2: expected a JSON object, got list"),
    ('{"id": "x", "question": "q"}', r"line 2: missing required field 'answerable'"),
    ('{"id": "x", "question": "q", "answerable": "yes", "answer": "a"}',
     r"line 2: field 'answerable' must be true or false, got 'yes'"),
    ('{"id": "", "question": "q", "answerable": true, "answer": "a"}',
     r"line 2: field 'id' must be a non-empty string"),
    ('{"id": "x", "question": "q", "answerable": true, "anwser": "a"}',
     r"line 2: unknown field\(s\) 'anwser'"),
    ('{"id": "x", "question": "q", "answerable": true}', r"line 2: .* gives no gold answer"),
    ('{"id": "x", "question": "q", "answerable": true, "patterns": ["(unclosed"]}',
     r"line 2: field 'patterns' has an invalid regex '\(unclosed'"),
    ('{"id": "x", "question": "q", "answerable": true, "answer": "a", "type": "trivia"}',
     r"line 2: field 'type' must be one of"),
    ('{"id": "x", "question": "q", "answerable": false, "answer": "a"}',
     r"line 2: field 'answer' must be empty for an unanswerable question"),
    ('{"id": "x", "question": "q", "answerable": false, "type": "fact"}',
     r"line 2: field 'type' must be 'unanswerable'"),
    ('{"id": "x", "question": "q", "answerable": true, "answer": "a", "history": ["q?"]}',
     r"line 2: field 'history' must be a list of \[question, answer\]"),
    ('{"id": "x", "question": "q", "answerable": true, "answer": "a", "sources": ["gone.txt"]}',
     r"line 2: field 'sources' names 'gone.txt', which is not a file"),
    ('{"id": "ok-1", "question": "q", "answerable": true, "answer": "a"}',
     r"line 2: field 'id' 'ok-1' repeats line 1"),
])
def test_bad_lines_are_reported_with_file_line_and_field(tmp_path, corpus, line, message):
    path = tmp_path / "set.jsonl"
    first = '{"id": "ok-1", "question": "q", "answerable": true, "answer": "a"}'
    path.write_text(first + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        eq.load_questions(path, corpus_dir=corpus)
    assert str(path) in str(info.value)


def test_history_nested_100k_deep_is_reported_not_a_recursion_error(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": "x", "history": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"set\.jsonl line 1: JSON nested too deeply"):
        eq.load_questions(path)


def test_missing_and_empty_question_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        eq.load_questions(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no questions"):
        eq.load_questions(tmp_path / "empty.jsonl")


def test_defaults_fill_optional_fields(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [
        {"id": "a", "question": "q?", "answerable": True, "answer": "x"},
        {"id": "b", "question": "and?", "answerable": True, "answer": "y",
         "history": [["q?", "x"]]},
        {"id": "c", "question": "z?", "answerable": False}])
    a, b, c = eq.load_questions(path)
    assert (a.type, b.type, c.type) == ("fact", "follow-up", "unanswerable")
    assert b.history == (("q?", "x"),)
    assert (a.line, b.line, c.line) == (1, 2, 3)


# --- a whole run with the fake ask ---------------------------------------------------------

def test_evaluate_scores_each_question(run: ev.EvalRun):
    by_id = {r.id: r for r in run.results}
    who, when, fu, un1, un2 = (by_id[i] for i in ("who-1", "when-1", "fu-1", "un-1", "un-2"))

    assert who.correct and who.failures == ()
    assert (who.recall, who.rr, who.ndcg) == (1.0, 1.0, 1.0)
    assert who.retrieved_sources == ("alpha.txt", "beta.txt")
    assert who.cited_sources == ("alpha.txt",)
    assert who.timings_ms == pytest.approx({"retrieve": 10.0, "total": 30.0})

    assert not when.correct
    assert (when.recall, when.rr) == (0.0, 0.5)  # gold source at rank 2, k=1
    start = BETA.lstrip("\ufeff").index("Mongolia is a member") + 1
    assert when.failures == ("answer does not match the gold answer",
                             f"citation [1] quote is not verbatim beta.txt[{start}:{start + 20}]",
                             "no gold source in the top 1")

    assert not fu.correct and fu.abstained
    assert fu.failures[0] == "abstained on an answerable question"

    assert un1.correct and un1.failures == () and un1.recall is None
    assert not un2.correct and un2.failures == ("answered an unanswerable question",)


def test_evaluate_aggregates_metrics(run: ev.EvalRun):
    m = run.metrics
    assert (m.n_questions, m.n_answerable, m.n_unanswerable, m.n_errors) == (5, 3, 2, 0)
    assert m.accuracy == pytest.approx(1 / 3)
    assert m.recall_at_k == pytest.approx(1 / 3)  # who 1, when 0, fu 0
    assert m.mrr == pytest.approx((1 + 0.5 + 0) / 3)
    assert m.ndcg_at_10 == pytest.approx((1 + 1 / math.log2(3) + 0) / 3)
    assert m.citation_verbatim_rate == pytest.approx(2 / 3)  # the when-1 quote is shifted
    assert m.citation_precision_strict == pytest.approx(1 / 2)  # who's quote holds the answer
    assert m.citation_precision_source == pytest.approx(2 / 2)  # when's quote is from beta
    assert m.citation_recall == pytest.approx(2 / 3)
    assert m.abstention_precision == pytest.approx(1 / 2)  # fu-1 was a false abstention
    assert m.abstention_recall == pytest.approx(1 / 2)
    assert (m.false_abstentions, m.false_abstention_rate) == (1, pytest.approx(1 / 3))
    assert (m.flagged_unanswerable, m.tentative_correct) == (pytest.approx(1 / 2), 0.0)  # nothing tentative
    assert m.survival_rate is None
    assert m.latency_ms["total"]["p50"] == pytest.approx(20.0)
    assert set(m.latency_ms) == {"retrieve", "total", "wall"}
    assert m.accuracy_by_type == {"follow-up": 0.0, "unanswerable": 0.5, "when": 0.0,
                                  "who": 1.0}


def test_a_tentative_answer_is_flagged_not_refused(questions, config):
    """un-2 answered with the tentative warning: still a wrong answer to an unanswerable
    question (abstention recall unchanged), but the reader was told (flagged); who-1 right
    and tentative is the warning's cost."""
    def ask(question, history, *, config):
        hedged = question in ("How long did the talks last?", "Who did Putin meet?")
        return replace(fake_ask(question, history, config=config), tentative=hedged)

    run = ev.evaluate(questions, config=config, k=1, ask=ask, progress=False)
    m = run.metrics
    assert (m.abstention_recall, m.flagged_unanswerable, m.tentative_correct) == (0.5, 1.0, 1.0)
    un2 = next(r for r in run.results if r.id == "un-2")
    assert (un2.correct, un2.tentative) == (False, True)
    assert un2.failures == ("answered an unanswerable question (marked tentative)",)


def test_survival_rate_over_generative_answers(questions, config):
    def drafting_ask(question, history, *, config):
        if question == "Who did Putin meet?":
            return answer("Khurelsukh [1].", drafted=4, unsupported=[Unsupported("made up", "no passage supports it")])
        return answer("I could not find this.", abstained=True, drafted=2)

    run = ev.evaluate(questions, config=config, ask=drafting_ask, progress=False)
    # who-1 kept 3 of 4 drafted sentences; the four others kept both of their 2
    assert run.metrics.survival_rate == pytest.approx((3 + 4 * 2) / (4 + 4 * 2))


def test_a_raising_ask_is_recorded_per_question(questions, config):
    def flaky_ask(question, history, *, config):
        if question == "What did they eat?":
            raise RuntimeError("model crashed")
        return fake_ask(question, history, config=config)

    run = ev.evaluate(questions, config=config, ask=flaky_ask, progress=False)
    broken = {r.id: r for r in run.results}["un-1"]
    assert broken.error == "RuntimeError: model crashed"
    assert not broken.correct and broken.failures == ("ask() failed: RuntimeError: model crashed",)
    assert run.metrics.n_errors == 1


def test_setup_errors_stop_the_run(questions, config):
    def no_index(question, history, *, config):
        raise ConfigError("index_dir /nowhere does not exist")

    with pytest.raises(ConfigError, match="/nowhere"):
        ev.evaluate(questions, config=config, ask=no_index, progress=False)


def test_evaluate_rejects_bad_k(questions, config):
    with pytest.raises(ConfigError, match="k must be a positive integer, got 0"):
        ev.evaluate(questions, config=config, k=0, ask=fake_ask, progress=False)


def test_default_ask_is_looked_up_at_call_time(questions, config, monkeypatch):
    monkeypatch.setattr(ev.api, "ask", fake_ask)
    run = ev.evaluate(questions, config=config, progress=False)
    assert run.metrics.n_errors == 0


def test_run_round_trips_through_json(run: ev.EvalRun, tmp_path: Path):
    path = run.save(tmp_path / "report.json")
    assert json.loads(path.read_text())["format"] == ev.RUN_FORMAT
    assert ev.load_run(path) == run


def test_load_run_refuses_unknown_formats(tmp_path: Path):
    path = tmp_path / "old.json"
    path.write_text('{"format": "newsdesk-eval-run/0"}')
    with pytest.raises(RagError, match="format 'newsdesk-eval-run/0'"):
        ev.load_run(path)


# --- thresholds ---------------------------------------------------------------------------

def test_parse_threshold():
    assert ev.parse_threshold("accuracy=0.8", "under") == ev.Threshold("accuracy", 0.8, "under")
    assert ev.parse_threshold("p95_total_ms=500", "over").value == 500.0


@pytest.mark.parametrize("text, message", [
    ("accuracy", r"--fail-under expects METRIC=VALUE, got 'accuracy'"),
    ("acuracy=0.8", r"unknown metric 'acuracy'; valid metrics are .*accuracy.*mrr"),
    ("accuracy=high", r"threshold must be a number, got 'high'"),
    ("accuracy=nan", r"must be finite"),
])
def test_parse_threshold_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        ev.parse_threshold(text, "under")


def test_check_thresholds(run: ev.EvalRun):
    gates = [ev.parse_threshold("accuracy=0.8", "under"),
             ev.parse_threshold("abstention_recall=0.5", "under"),
             ev.parse_threshold("p95_total_ms=10", "over"),
             ev.parse_threshold("survival_rate=0.9", "under")]
    assert ev.check_thresholds(run.metrics, gates) == [
        "accuracy = 0.3333 is under the threshold 0.8",
        "p95_total_ms = 46 is over the threshold 10",  # totals 30,50,20,20,20: 30 + 0.8*20
        "survival_rate has no value in this run (no data), so it cannot meet --fail-under 0.9",
    ]
    with pytest.raises(ConfigError, match=r"no 'p95_rerank_ms'.*p95_total_ms"):
        ev.check_thresholds(run.metrics, [ev.parse_threshold("p95_rerank_ms=5", "over")])


# --- the CLI glue --------------------------------------------------------------------------

def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rag eval")
    ev.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def cli_env(monkeypatch, corpus, questions, tmp_path):
    monkeypatch.setattr(ev.api, "ask", fake_ask)
    for var in ("NEWSDESK_CORPUS_DIR", "NEWSDESK_INDEX_DIR", "NEWSDESK_MODE"):
        monkeypatch.delenv(var, raising=False)
    base = [str(questions), "--corpus", str(corpus), "--index", str(tmp_path / "index"),
            "--out", str(tmp_path / "out"), "--no-progress"]
    return base


def test_cli_defaults():
    args = cli([])
    assert args.questions is None and args.k == 5 and args.out == Path("eval-results")
    assert args.fail_under == [] and args.fail_over == []
    args = cli(["q.jsonl", "--fail-under", "accuracy=0.8", "mrr=0.5",
                "--fail-under", "recall_at_k=0.9", "--fail-over", "p95_total_ms=500"])
    assert args.fail_under == ["accuracy=0.8", "mrr=0.5", "recall_at_k=0.9"]


def test_cli_passes_and_writes_reports(cli_env, tmp_path, capsys):
    assert ev.run(cli(cli_env + ["--fail-under", "accuracy=0.3"])) == 0
    assert (tmp_path / "out" / "report.json").is_file()
    assert "wrote" in capsys.readouterr().out


def test_cli_fail_under_exits_1_naming_metric_value_and_threshold(cli_env, capsys):
    assert ev.run(cli(cli_env + ["--fail-under", "accuracy=0.8"])) == 1
    assert "accuracy = 0.3333 is under the threshold 0.8" in capsys.readouterr().err


def test_cli_fail_over_latency(cli_env, capsys):
    assert ev.run(cli(cli_env + ["--fail-over", "p95_total_ms=10"])) == 1
    assert "p95_total_ms = 46 is over the threshold 10" in capsys.readouterr().err


def test_cli_unknown_metric_exits_2_listing_valid_ones(cli_env, capsys):
    assert ev.run(cli(cli_env + ["--fail-under", "acc=0.8"])) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'acc'" in err and "citation_verbatim_rate" in err


def test_cli_bad_question_file_exits_2(cli_env, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert ev.run(cli([str(bad)] + cli_env[1:])) == 2
    assert "line 1: missing required field 'question'" in capsys.readouterr().err


def test_cli_compares_with_the_report_already_in_out(cli_env, monkeypatch, tmp_path, capsys):
    assert ev.run(cli(cli_env)) == 0

    def better_ask(question, history, *, config):
        if question == "When was the warrant issued?":
            return answer("In March 2023 [1].")
        return fake_ask(question, history, config=config)

    monkeypatch.setattr(ev.api, "ask", better_ask)
    assert ev.run(cli(cli_env)) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "- fixed: when-1" in md and "- broke: none" in md


def test_cli_every_question_failing_exits_1(cli_env, monkeypatch, capsys):
    def stub(question, history=None, *, config=None, on_token=None):
        raise NotImplementedError("being written")

    monkeypatch.setattr(ev.api, "ask", stub)
    assert ev.run(cli(cli_env)) == 1
    assert "every question failed; first error: NotImplementedError" in capsys.readouterr().err


# --- comparison and report files --------------------------------------------------------------

def test_compare_lists_fixed_and_broke(run: ev.EvalRun):
    flipped = tuple(replace(r, correct=not r.correct) if r.id in ("who-1", "when-1") else r
                    for r in run.results)
    later = replace(run, created="later", results=flipped,
                    metrics=em.compute_metrics(flipped, k=1))
    c = report.compare(run, later)
    assert c.fixed == ("when-1",) and c.broke == ("who-1",)
    assert c.same_questions and c.added == () and c.removed == ()
    deltas = {d.metric: d for d in c.deltas}
    assert deltas["accuracy"].delta == pytest.approx(0.0)
    assert deltas["accuracy"].improved is None


def test_compare_direction_of_improvement(run: ev.EvalRun):
    faster = replace(run, metrics=replace(run.metrics, false_abstentions=0, accuracy=0.9,
                                          latency_ms={"total": {"p50": 1.0, "p95": 2.0}}))
    deltas = {d.metric: d for d in report.compare(run, faster).deltas}
    assert deltas["accuracy"].improved is True
    assert deltas["false_abstentions"].improved is True  # fewer is better
    assert deltas["p95_total_ms"].improved is True  # faster is better
    assert "p95_retrieve_ms" not in deltas  # only metrics of the current run


def test_write_report_files(run: ev.EvalRun, tmp_path: Path):
    files = report.write_report(run, tmp_path / "out", comparison=report.compare(run, run))
    assert ev.load_run(files.json) == run
    for png in files.plots:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = files.markdown.read_text()
    assert "| accuracy | 0.333 | 0.333 | +0.000 |" in md
    assert "when-1" in md and "answer does not match the gold answer" in md
    assert "![latency](latency.png)" in md


def test_render_terminal_shows_metrics_and_failures(run: ev.EvalRun):
    buffer = io.StringIO()
    report.render_terminal(run, console=Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "citation_verbatim_rate" in text and "p95_total_ms" in text
    assert "Failed questions (3)" in text and "answered an unanswerable question" in text


# --- the shipped question sets ----------------------------------------------------------------

def _load(name: str) -> tuple[eq.Question, ...]:
    return eq.load_questions(DATA / name, corpus_dir=CORPUS)


def _source_text(name: str) -> str:
    return ev.read_source_text(CORPUS / name)


def _found_in(q: eq.Question, text: str) -> bool:
    """Gold answer, an alternative or a pattern occurs in ``text`` (normalised like answers)."""
    return em.matches_gold(text, q.answer, q.alternatives, q.patterns)


@pytest.mark.parametrize("name", ["questions.jsonl", "calibration.jsonl"])
def test_shipped_sets_load(name):
    assert _load(name)


def test_eval_set_meets_minimum_counts():
    qs = _load("questions.jsonl")
    single = [q for q in qs if q.answerable and not q.history]
    counts = Counter(q.type for q in qs)
    assert len(single) >= 44
    assert sum(1 for q in qs if not q.answerable) >= 10
    assert sum(1 for q in qs if q.history) >= 6
    assert counts["why"] >= 5 and counts["multi-source"] >= 5
    for kind in ("fact", "who", "when", "where", "how-many"):
        assert counts[kind] >= 5, kind


def test_calibration_set_is_separate_and_balanced():
    cal, evalset = _load("calibration.jsonl"), _load("questions.jsonl")
    assert sum(q.answerable for q in cal) >= 10 and sum(not q.answerable for q in cal) >= 10
    assert not {q.id for q in cal} & {q.id for q in evalset}
    assert not {em.normalize(q.question) for q in cal} & {em.normalize(q.question) for q in evalset}


@pytest.mark.parametrize("name", ["questions.jsonl", "calibration.jsonl"])
def test_gold_answers_are_real_article_text(name):
    wrong = []
    for q in _load(name):
        if not q.answerable:
            continue
        texts = [_source_text(s) for s in q.sources]
        assert q.sources, f"{q.id} has no sources"
        if q.type == "multi-source":
            # spread over articles: found in the sources together, in none alone
            if not _found_in(q, "\n".join(texts)) or any(_found_in(q, t) for t in texts):
                wrong.append(q.id)
        elif not any(_found_in(q, t) for t in texts):
            wrong.append(q.id)
    assert wrong == []


@pytest.mark.parametrize("name", ["questions.jsonl", "calibration.jsonl"])
def test_every_listed_source_states_part_of_the_answer(name):
    """No padding: each gold source matches a pattern/answer, or (multi-source) a part."""
    for q in _load(name):
        for source in q.sources:
            text = em.normalize(_source_text(source))
            parts = [p for pattern in q.patterns for p in re.findall(r"\(\?=\.\*(.+?)\)(?=\(|$)", pattern)]
            hit = _found_in(q, text) or any(re.search(p, text, re.I | re.S) for p in parts)
            assert hit, f"{q.id}: {source} does not state the answer"


@pytest.mark.parametrize("name", ["questions.jsonl", "calibration.jsonl"])
def test_questions_do_not_copy_article_sentences(name):
    articles = " ".join(em.normalize(_source_text(p.name)) for p in sorted(CORPUS.glob("*.txt")))
    for q in _load(name):
        words = re.findall(r"[\w']+", em.normalize(q.question))
        for i in range(len(words) - 7):
            window = " ".join(words[i:i + 8])
            assert window not in articles, f"{q.id} copies {window!r}"
