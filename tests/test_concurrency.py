"""Many threads at once: concurrent questions, and questions while an article is being added.

Each answer must still keep the offset contract: every citation's quote is exactly the
article text at its offsets (checked against the file as loaded after the threads finish;
articles are only ever added here, never edited, so that is the text every thread saw).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import rag
from rag.config import Config
from rag.corpus import load_document
from tests.checks import assert_quotes_verbatim

QUESTIONS = [
    "Why wasn't Putin arrested?",
    "How much gas would the pipeline carry?",
    "Where did protesters gather?",
    "What is Power of Siberia 2?",
    "Why does Mongolia depend on Russia?",
    "When did Mr. Ivanov say talks would resume?",
    "What did the chef cook at the banquet?",
    "Who is Mr. Ivanov?",
]


def check_answer(answer: rag.Answer, config: Config) -> None:
    assert_quotes_verbatim(answer, config.corpus_dir)
    if answer.abstained:
        assert answer.citations == []
    else:
        assert answer.citations
    for p in answer.passages:
        assert load_document(Path(config.corpus_dir) / p.source).text[p.start:p.end] == p.text


def test_eight_threads_ask_different_questions_at_once(tiny_config: Config) -> None:
    expected = {q: rag.ask(q, config=tiny_config) for q in QUESTIONS}  # sequential reference
    barrier = threading.Barrier(len(QUESTIONS))

    def ask(question: str) -> rag.Answer:
        barrier.wait(timeout=30)
        return rag.ask(question, config=tiny_config)

    with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
        answers = list(pool.map(ask, QUESTIONS))
    for question, answer in zip(QUESTIONS, answers):
        assert answer.question == question
        check_answer(answer, tiny_config)
        assert (answer.text, answer.citations) == (expected[question].text, expected[question].citations)


def test_first_use_from_many_threads_builds_the_index_once(tiny_config: Config) -> None:
    barrier = threading.Barrier(6)

    def ask(i: int) -> rag.Answer:
        barrier.wait(timeout=30)
        return rag.ask(QUESTIONS[i % len(QUESTIONS)], config=tiny_config)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, range(6)))
    for answer in answers:
        check_answer(answer, tiny_config)
    generations = [p for p in Path(tiny_config.index_dir).iterdir() if p.name.startswith("gen-")]
    assert len(generations) == 1


def test_asking_while_another_thread_adds_articles(tiny_config: Config, tmp_path: Path) -> None:
    rag.build_index(tiny_config)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    new_articles = []
    for i in range(3):
        src = uploads / f"herders-{i}.txt"
        src.write_text(f"Herders moved {1000 * (i + 1)} yaks to the northern pastures in May.\n\n"
                       f"Protesters gathered in Sukhbaatar Square again on day {i}.\n", encoding="utf-8")
        new_articles.append(src)

    stop = threading.Event()
    errors: list[BaseException] = []
    answers: list[rag.Answer] = []
    lock = threading.Lock()

    def keep_asking(offset: int) -> None:
        i = offset
        while not stop.is_set():
            try:
                answer = rag.ask(QUESTIONS[i % len(QUESTIONS)], config=tiny_config)
            except BaseException as exc:  # noqa: BLE001 - any exception fails the test
                with lock:
                    errors.append(exc)
                return
            with lock:
                answers.append(answer)
            i += 1

    askers = [threading.Thread(target=keep_asking, args=(n,)) for n in range(4)]
    for t in askers:
        t.start()
    try:
        for src in new_articles:
            rag.add_document(src, tiny_config)  # an asker may index it first: no report check
            assert src.name in [d.source for d in rag.list_documents(tiny_config)]
    finally:
        stop.set()
        for t in askers:
            t.join(timeout=60)
    assert not errors, errors
    assert answers
    for answer in answers:
        check_answer(answer, tiny_config)
    assert {d.source for d in rag.list_documents(tiny_config)} >= {p.name for p in new_articles}
    final = rag.ask("Where did herders move the yaks?", config=tiny_config)
    assert final.citations and final.citations[0].source.startswith("herders-")


def test_one_question_reads_one_index_snapshot_from_start_to_answer(tiny_config: Config) -> None:
    """An article removed (and the index swapped) between retrieval and composing must not
    change what the question composes from: it keeps the snapshot it started with."""
    from rag import pipeline

    state = pipeline.retrieve(pipeline.rewrite(pipeline.start("Where did protesters gather?", [], tiny_config)))
    before = state.snapshot
    quote = "Protesters gathered in Sukhbaatar Square on Monday."
    (Path(tiny_config.corpus_dir) / "wire.txt").unlink()  # the article holding the answer
    rag.build_index(tiny_config)  # the live index now has a new, smaller snapshot
    answer = pipeline.compose(state)
    assert state.snapshot is before
    assert answer.citations[0].quote == quote and answer.citations[0].source == "wire.txt"
    assert before.data.documents["wire.txt"].text[answer.citations[0].start:answer.citations[0].end] == quote
    assert "wire.txt" not in [d.source for d in rag.list_documents(tiny_config)]


def test_an_article_removed_while_the_folder_is_listed_is_not_an_error(tiny_config: Config,
                                                                       monkeypatch) -> None:
    """Every question checks whether the corpus changed by listing the folder and reading each
    file's size and time. An article another process removes between the listing and that read
    (a load test saw this once in CI) is simply not there: the question is answered."""
    from rag import indexer

    rag.ask("Where did protesters gather?", config=tiny_config)  # index built and current
    doomed = Path(tiny_config.corpus_dir) / "doomed.txt"
    doomed.write_text("A short article that is removed while the folder is being listed.\n")
    real_scandir = os.scandir

    def scandir_then_remove(folder):
        entries = list(real_scandir(folder))  # the listing names the file ...
        doomed.unlink(missing_ok=True)  # ... which is gone before its size is read
        return iter(entries)

    monkeypatch.setattr(indexer.os, "scandir", scandir_then_remove)
    assert "doomed.txt" not in indexer.corpus_state(Path(tiny_config.corpus_dir))
    answer = rag.ask("Where did protesters gather?", config=tiny_config)
    check_answer(answer, tiny_config)
    assert not answer.abstained
